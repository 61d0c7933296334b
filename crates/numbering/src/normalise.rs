//! Normalisation of what PBXs and phones really send: URIs, separators, percent-encoding, symbols, outside-line
//! digits, caller-ID prefixes, carrier selection codes, international and trunk prefixes. The reading chosen
//! is the most dangerous plausible one (international over domestic over internal): a filter that can be
//! talked into seeing a domestic call where the PBX will dial abroad is a filter that can be tricked.

use crate::countries;
use crate::types::{DialFlags, DialPlan};

/// Most digits kept from a dial string; anything longer is junk (and flagged).
const MAX_DIGITS: usize = 48;

/// A small inline digit string (no allocation on the hot path).
#[derive(Clone, Copy)]
pub(crate) struct Digits {
    len: u8,
    buf: [u8; MAX_DIGITS],
}

impl Digits {
    pub const fn new() -> Self {
        Self {
            len: 0,
            buf: [0; MAX_DIGITS],
        }
    }
    fn push(&mut self, b: u8) -> bool {
        match self.buf.get_mut(usize::from(self.len)) {
            Some(slot) => {
                *slot = b;
                self.len += 1;
                true
            }
            None => false,
        }
    }
    pub fn as_bytes(&self) -> &[u8] {
        self.buf.get(..usize::from(self.len)).unwrap_or(&[])
    }
    pub fn as_str(&self) -> &str {
        // Only ASCII digits, '*' and '#' are ever pushed.
        std::str::from_utf8(self.as_bytes()).unwrap_or("")
    }
    /// `a` then `b`, cut at `MAX_DIGITS`.
    pub(crate) fn from_parts(a: &[u8], b: &[u8]) -> Self {
        let mut d = Self::new();
        let a = a.get(..a.len().min(MAX_DIGITS)).unwrap_or(&[]);
        let b = b.get(..b.len().min(MAX_DIGITS - a.len())).unwrap_or(&[]);
        if let Some(dst) = d.buf.get_mut(..a.len()) {
            dst.copy_from_slice(a);
        }
        if let Some(dst) = d.buf.get_mut(a.len()..a.len() + b.len()) {
            dst.copy_from_slice(b);
        }
        d.len = (a.len() + b.len()) as u8;
        d
    }
}

/// `a` starts with `b`: a byte loop, because these slices are a few bytes long and a `memcmp` call costs more.
#[inline]
fn starts(a: &[u8], b: &[u8]) -> bool {
    a.len() >= b.len() && a.iter().zip(b).all(|(x, y)| x == y)
}

#[inline]
fn strip<'a>(a: &'a [u8], b: &[u8]) -> Option<&'a [u8]> {
    if starts(a, b) { a.get(b.len()..) } else { None }
}

#[inline]
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && starts(a, b)
}

/// `a` starts with the pattern `p`, in which `x` stands for any digit (foreign prefixes such as "00xx").
#[inline]
fn starts_pattern(a: &[u8], p: &[u8]) -> bool {
    a.len() >= p.len()
        && a.iter()
            .zip(p)
            .all(|(x, y)| x == y || (*y == b'x' && x.is_ascii_digit()))
}

#[inline]
fn strip_pattern<'a>(a: &'a [u8], p: &[u8]) -> Option<&'a [u8]> {
    if starts_pattern(a, p) {
        a.get(p.len()..)
    } else {
        None
    }
}

/// Fewest E.164 digits of a number abroad (calling code and at least four national digits, e.g. Niue
/// +683 1234): after another country's international prefix, fewer is no call abroad.
const MIN_ABROAD: usize = 7;

/// Most digits of a local number dialed without its area code; longer strings without the trunk prefix
/// are no local number (and never a domestic one of low risk).
const MAX_LOCAL: usize = 8;

/// E.164 digits that could be a number abroad: 7 to 15 digits, an assigned calling code and at least four
/// digits after it.
fn possible_abroad(e: &[u8]) -> bool {
    (MIN_ABROAD..=15).contains(&e.len())
        && countries::calling_code_bytes(e).is_some_and(|(_, cl)| e.len() - cl >= 4)
}

/// What the digits are, once the decoration is gone.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Reading {
    /// E.164 digits (calling code first), country possibly unassigned.
    International,
    /// E.164 digits of a number in the site's country.
    National,
    /// A local number dialed without area code: domestic, but no E.164 form can be derived.
    Local,
    /// An emergency or protected service number (digits are the short number).
    Emergency,
    /// A short number of the site's country such as directory enquiries (digits are the short number).
    Service,
    /// An extension or a PBX feature code.
    Internal,
    Unknown,
}

impl Reading {
    /// Higher is more dangerous to under-estimate.
    pub(crate) fn danger(self) -> u8 {
        match self {
            Reading::International => 5,
            Reading::National => 4,
            Reading::Local => 3,
            Reading::Service => 2,
            Reading::Internal => 1,
            Reading::Emergency | Reading::Unknown => 0,
        }
    }
}

#[cfg(test)]
#[derive(Clone)]
pub(crate) struct Normalised {
    pub reading: Reading,
    pub digits: Digits,
    pub flags: DialFlags,
    /// The rivals' readings, digits and flags (outer flags included).
    pub rivals: Vec<(Reading, String, DialFlags)>,
}

/// Site-specific dial rules beyond the shared `DialPlan` contract.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SiteRules {
    pub plan: DialPlan,
    /// PBX/GSM feature codes that may precede a number (call forwarding "*72", "*21*", caller-ID "*67").
    pub feature_codes: Vec<String>,
    pub emergency: &'static [&'static str],
    pub service: &'static [&'static str],
    /// The site's calling code as digits ("81").
    pub cc: String,
    /// Longest emergency number: longer strings skip the emergency comparisons.
    emergency_max: usize,
    /// First-two-digit masks (see [`pair_mask`]) of the prefixes that can lead abroad after an outside-line
    /// digit (international, carrier, caller-ID) and of those that rule out the plain reading (carrier,
    /// caller-ID). Computed from `plan` in `new`; `plan` is not changed afterwards.
    escalate_pairs: u128,
    plain_pairs: u128,
    /// `plan.outside_line` is set and not empty (the fast path does not apply).
    outside_line_configured: bool,
    /// The trunk-prefix reading decided by the first three digits, see [`QuickNational`].
    quick: QuickNational,
    /// `plan.foreign_prefixes` less the site's own international prefixes and carrier codes (which the plan
    /// reads itself) and empty entries.
    foreign: Vec<String>,
    /// First-two-digit mask of `foreign` and `plan.other_international_prefixes`.
    rival_pairs: u128,
    /// Per three leading digits, the least length from which a rival reading (a further international prefix
    /// of the site, or another country's followed by a number abroad) can begin the digits, directly or after
    /// an outside-line digit; 0: never. A cheap "certainly not" for the common path.
    rival_start: RivalStart,
    /// Prefixes that can hide behind the site's calling code (`+81 10…`): every international, carrier and
    /// foreign prefix that begins with the trunk prefix, the trunk prefix removed, with its kind.
    hidden: Vec<(String, Kind)>,
    /// First-two-digit mask of `hidden`.
    hidden_pairs: u128,
    /// `plan.carrier_codes`, longest first (ties in the plan's order).
    carriers_longest_first: Vec<String>,
    /// Per-start table of `hidden`.
    hidden_start: HiddenStart,
}

/// What a prefix is to the site.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// An international prefix of the site's plan.
    Site,
    /// A carrier selection code of the site's plan.
    Carrier,
    /// Another country's international prefix.
    Foreign,
}

/// See [`SiteRules::rival_start`].
#[derive(Clone, PartialEq, Eq)]
struct RivalStart([u8; 1000]);

impl std::fmt::Debug for RivalStart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let starts = self.0.iter().filter(|l| **l != 0).count();
        write!(f, "RivalStart({starts} starts)")
    }
}

/// The index of three leading digits in a per-start table, `None` unless the first three bytes are digits.
#[inline]
fn start_index(d: &[u8]) -> Option<usize> {
    let [x, y, z, ..] = d else {
        return None;
    };
    let (x, y, z) = (
        x.wrapping_sub(b'0'),
        y.wrapping_sub(b'0'),
        z.wrapping_sub(b'0'),
    );
    if x > 9 || y > 9 || z > 9 {
        return None;
    }
    Some(usize::from(x) * 100 + usize::from(y) * 10 + usize::from(z))
}

/// `p` (a pattern, `x` any digit) could be a prefix of a string that starts with `known`.
fn could_prefix_pattern(p: &[u8], known: &[u8]) -> bool {
    p.iter().zip(known).all(|(a, b)| a == b || *a == b'x')
}

impl RivalStart {
    fn new(plan: &DialPlan, foreign: &[String]) -> Self {
        let mut t = [0u8; 1000];
        let leads: Vec<&[u8]> = [b"".as_slice(), b"0", b"9"]
            .into_iter()
            .chain(plan.outside_line.as_deref().map(str::as_bytes))
            .collect();
        let prefixes = foreign
            .iter()
            .map(|p| (p, MIN_ABROAD))
            .chain(plan.other_international_prefixes.iter().map(|p| (p, 1)));
        for (p, after) in prefixes {
            for lead in &leads {
                let mut s = lead.to_vec();
                s.extend_from_slice(p.as_bytes());
                let least = u8::try_from(s.len() + after).unwrap_or(u8::MAX);
                let mut keep = |i: usize| {
                    if let Some(slot) = t.get_mut(i)
                        && (*slot == 0 || least < *slot)
                    {
                        *slot = least;
                    }
                };
                match start_index(&s) {
                    // Three digits known: one start.
                    Some(i) => keep(i),
                    None => {
                        for i in 0..1000 {
                            let xyz = [
                                b'0' + (i / 100) as u8,
                                b'0' + (i / 10 % 10) as u8,
                                b'0' + (i % 10) as u8,
                            ];
                            if could_prefix_pattern(&s, &xyz) {
                                keep(i);
                            }
                        }
                    }
                }
            }
        }
        Self(t)
    }

    /// False only when no rival reading can begin `d` (see [`SiteRules::rival_start`]).
    #[inline]
    fn may_begin(&self, d: &[u8]) -> bool {
        match start_index(d) {
            Some(i) => {
                let least = self.0.get(i).copied().unwrap_or(0);
                least != 0 && d.len() >= usize::from(least)
            }
            // Fewer than three digits (a site prefix of one digit could still begin a rival): ask.
            None => true,
        }
    }
}

/// Per three leading digits `xyz` (index `100x + 10y + z`), the least and the most length between which every
/// digit string starting so is read by [`read_plain`] as the national number after the trunk prefix, without
/// trying the other readings, and no rival reading can win; least 0 where the first three digits do not
/// decide it. The conditions are those `read_plain` tests, each one decided by `xyz` alone or not used (see
/// [`QuickNational::new`]); `quick_national_reading_is_the_plain_reading` checks every start at every length
/// against `read_plain` and against trying every reading.
#[derive(Clone, PartialEq, Eq)]
struct QuickNational([[u8; 2]; 1000]);

impl std::fmt::Debug for QuickNational {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let starts = self.0.iter().filter(|l| l[0] != 0).count();
        write!(f, "QuickNational({starts} starts)")
    }
}

/// `p` could be a prefix of a string that starts with `known` (they agree wherever both have a digit).
fn could_prefix(p: &[u8], known: &[u8]) -> bool {
    p.iter().zip(known).all(|(a, b)| a == b)
}

/// Every national number of the site whose dial form starts with `xyz` and is `len` digits long is a real
/// one (a class other than unknown), so that another country's prefix read into it never wins. Known for
/// Japan only (its classes are rules of the first three national digits and the length, see `class.rs`);
/// elsewhere it would take libphonenumber, so the answer is "not known".
fn national_certain(plan: &DialPlan, xyz: &[u8; 3], len: usize) -> bool {
    let trunk = plan.trunk_prefix.len();
    if plan.calling_code != 81 || len <= trunk || trunk > 2 {
        return false;
    }
    let known = xyz.get(trunk..).unwrap_or(&[]);
    let national_len = len - trunk;
    // The national number's first three digits: those of `xyz` after the trunk, then every choice of the rest.
    let free = 3 - known.len();
    (0..10usize.pow(free as u32)).all(|k| {
        let mut n: Vec<u8> = known.to_vec();
        let mut k = k;
        for _ in 0..free {
            n.push(b'0' + (k % 10) as u8);
            k /= 10;
        }
        n.resize(national_len.max(n.len()), b'5');
        n.truncate(national_len);
        std::str::from_utf8(&n)
            .is_ok_and(|n| crate::class::japan_class(n) != crate::types::NumberClass::Unknown)
    })
}

impl QuickNational {
    fn new(
        plan: &DialPlan,
        emergency_max: usize,
        outside_line_configured: bool,
        rivals: &RivalStart,
    ) -> Self {
        let mut t = [[0u8; 2]; 1000];
        let trunk = plan.trunk_prefix.as_bytes();
        let intl = plan.international_prefix.as_bytes();
        // `read_plain` declines when an outside line is configured; a trunk prefix longer than two digits
        // would leave no digit of the national number among the three.
        if outside_line_configured || trunk.is_empty() || trunk.len() > 2 {
            return Self(t);
        }
        let site_intl = || {
            std::iter::once(&plan.international_prefix).chain(&plan.other_international_prefixes)
        };
        for (i, slot) in t.iter_mut().enumerate() {
            let xyz = [
                b'0' + (i / 100) as u8,
                b'0' + (i / 10 % 10) as u8,
                b'0' + (i % 10) as u8,
            ];
            // No caller-ID prefix, carrier code or further international prefix starts the string (else
            // `read_plain` declines).
            if plan
                .caller_id_prefixes
                .iter()
                .chain(&plan.carrier_codes)
                .chain(&plan.other_international_prefixes)
                .any(|p| could_prefix(p.as_bytes(), &xyz))
            {
                continue;
            }
            // After an implicit outside-line digit, nothing that leads abroad: no international prefix, carrier
            // code or caller-ID prefix can start the rest (its first two digits are known), and the rest is
            // longer than `could_escalate`'s limit (below).
            let implicit = xyz[0] == b'0' || xyz[0] == b'9';
            if implicit
                && site_intl()
                    .chain(&plan.carrier_codes)
                    .chain(&plan.caller_id_prefixes)
                    .any(|p| could_prefix(p.as_bytes(), &xyz[1..]))
            {
                continue;
            }
            // `terminal`: not the international prefix, then the trunk prefix followed by a digit other than 0.
            if intl.is_empty() || could_prefix(intl, &xyz) {
                continue;
            }
            if !xyz.starts_with(trunk) || xyz.get(trunk.len()) == Some(&b'0') {
                continue;
            }
            // Lengths: a national number of six digits or more, no emergency number (none is longer than
            // `emergency_max`), and after an implicit outside-line digit more than `emergency_max + 3` digits.
            let mut least = (trunk.len() + 6).max(emergency_max + 1).max(3);
            if implicit {
                least = least.max(emergency_max + 5);
            }
            // Another country's prefix may begin the string from some length on (`RivalStart`): up to there,
            // and on while every national number of the length is a real one (which a foreign reading never
            // beats), the national reading stands.
            let mut most = usize::from(u8::MAX);
            let rival = usize::from(rivals.0.get(i).copied().unwrap_or(0));
            if rival != 0 {
                most = rival - 1;
                while most < usize::from(u8::MAX) && national_certain(plan, &xyz, most + 1) {
                    most += 1;
                }
            }
            if least > most {
                continue;
            }
            *slot = [
                u8::try_from(least).unwrap_or(0),
                u8::try_from(most).unwrap_or(u8::MAX),
            ];
        }
        Self(t)
    }
}

/// Bit `10 * a + b` set when some prefix could start with the digits `a b`: a cheap "certainly not" before
/// comparing a dozen prefixes. Prefixes shorter than two digits (or not digits) set every bit they could.
fn pair_mask<'a>(prefixes: impl IntoIterator<Item = &'a String>) -> u128 {
    let mut mask = 0u128;
    for p in prefixes {
        match p.as_bytes() {
            [a @ b'0'..=b'9', b @ b'0'..=b'9', ..] => {
                mask |= 1 << (u32::from(a - b'0') * 10 + u32::from(b - b'0'));
            }
            // One digit known (a one-digit prefix, or a pattern's `x` second): every second digit.
            [a @ b'0'..=b'9'] | [a @ b'0'..=b'9', b'x', ..] => {
                mask |= ((1u128 << 10) - 1) << (u32::from(a - b'0') * 10);
            }
            _ => mask = u128::MAX,
        }
    }
    mask
}

/// False only when no prefix counted in `mask` can start `t`.
#[inline]
fn might_start(mask: u128, t: &[u8]) -> bool {
    match t {
        [a @ b'0'..=b'9', b @ b'0'..=b'9', ..] => {
            mask & (1 << (u32::from(a - b'0') * 10 + u32::from(b - b'0'))) != 0
        }
        _ => true,
    }
}

/// Numbers answered everywhere by mobile phones and many PBXs: always treated as emergency.
pub const UNIVERSAL_EMERGENCY: &[&str] = &["112", "911"];

/// Emergency and protected numbers per country (never blocked). Universal ones are added to every country.
pub(crate) fn emergency_numbers(iso2: &str) -> &'static [&'static str] {
    match iso2 {
        // Police, coast guard, fire/ambulance, disaster message dial, weather, child-abuse hotline.
        "JP" => &["110", "118", "119", "171", "177", "189"],
        "US" | "CA" => &["911", "988", "933"],
        "GB" => &["999", "112", "111"],
        "AU" => &["000", "106", "112"],
        "NZ" => &["111"],
        "DE" | "AT" | "CH" => &["110", "112", "116117", "144", "117", "118", "133", "122"],
        "FR" => &["15", "17", "18", "112", "114", "115", "119", "116000"],
        "IT" => &["112", "113", "115", "118", "1530"],
        "ES" => &["112", "091", "092", "061", "080", "085", "062"],
        "KR" => &["112", "119", "122"],
        "CN" => &["110", "119", "120", "122"],
        "TW" => &["110", "119"],
        "HK" => &["999"],
        "SG" => &["999", "995"],
        "IN" => &["100", "101", "102", "108", "112"],
        "BR" => &["190", "192", "193"],
        "MX" => &["911", "065", "066"],
        "RU" | "KZ" => &["01", "02", "03", "101", "102", "103", "104"],
        "ZA" => &["10111", "10177", "112"],
        _ => &[],
    }
}

/// Short service numbers (directory, time, repair) per country: domestic `Service`, never extensions.
pub(crate) fn service_numbers(iso2: &str) -> &'static [&'static str] {
    match iso2 {
        "JP" => &["104", "113", "115", "116", "117", "151", "188"],
        "US" | "CA" => &["211", "311", "411", "511", "611", "711", "811"],
        "GB" => &["118500", "100", "123", "150", "151", "155"],
        _ => &[],
    }
}

/// International prefixes of other countries, as attackers cycle through them when probing a PBX's
/// international block (each after an optional outside-line digit: `9011`, `900`, `0011`…), with where they
/// are dialed. A site's default [`DialPlan::foreign_prefixes`] is this list less its own international
/// prefixes and carrier codes (and `810` in the NANP, where it is an area code).
pub const FOREIGN_INTERNATIONAL_PREFIXES: &[(&str, &str)] = &[
    (
        "00",
        "ITU standard: most of Europe, Africa, Asia and Latin America",
    ),
    ("000", "Kenya, Tanzania, Uganda, Singapore"),
    (
        "001",
        "South Korea (KT), Hong Kong, Singapore, Thailand, Indonesia, Mongolia, Cambodia",
    ),
    ("002", "South Korea (LG U+), Taiwan, Mongolia, Singapore"),
    ("005", "South Korea (SK Broadband), Colombia, Taiwan"),
    ("006", "South Korea (SK Telink), Taiwan"),
    ("007", "Colombia, Taiwan, Thailand, Indonesia, Cambodia"),
    ("008", "South Korea, Indonesia, Thailand, Singapore"),
    ("009", "Colombia, Nigeria, Taiwan, Thailand, Indonesia"),
    ("0011", "Australia"),
    ("0014", "Australia and Brazil (carrier 14)"),
    ("0015", "Australia and Brazil (carrier 15)"),
    ("0018", "Australia (carrier override)"),
    ("0019", "Australia (carrier override)"),
    ("0012", "Brazil (carrier 12)"),
    ("0021", "Brazil (carrier 21)"),
    ("0023", "Brazil (carrier 23)"),
    ("0025", "Brazil (carrier 25)"),
    ("0031", "Brazil (carrier 31)"),
    ("0041", "Brazil (carrier 41)"),
    ("0043", "Brazil (carrier 43)"),
    (
        "011",
        "North American Numbering Plan (US, Canada, Caribbean)",
    ),
    ("810", "Russia and the CIS (8, dial tone, 10)"),
];

/// The default [`DialPlan::foreign_prefixes`] of a plan: [`FOREIGN_INTERNATIONAL_PREFIXES`] less what the plan
/// reads itself (its international prefixes and carrier codes) and `810` in the NANP (an area code there).
pub fn default_foreign_prefixes(plan: &DialPlan) -> Vec<String> {
    FOREIGN_INTERNATIONAL_PREFIXES
        .iter()
        .map(|(p, _)| *p)
        .filter(|p| {
            let own = *p == plan.international_prefix
                || plan.other_international_prefixes.iter().any(|o| o == p)
                || plan.carrier_codes.iter().any(|c| c == p);
            let nanp_area_code = plan.calling_code == 1 && *p == "810";
            !own && !nanp_area_code
        })
        .map(str::to_string)
        .collect()
}

/// International and trunk prefixes as dialed in a country (ISO 3166-1 alpha-2, upper case) with that calling
/// code.
fn national_prefixes(iso2: &str, calling_code: u16) -> (&'static str, &'static str) {
    if iso2 == "JP" {
        return ("010", "0");
    }
    match calling_code {
        1 => ("011", "1"),
        7 => ("810", "8"),
        61 => ("0011", "0"),
        _ => match iso2 {
            "ES" | "IT" | "PT" | "DK" | "NO" | "GR" | "LU" | "MT" | "CY" | "IS" | "EE" | "LV"
            | "SM" | "VA" | "MC" | "SG" | "HK" | "MO" | "QA" | "BH" | "KW" | "OM" | "UY" | "GT"
            | "SV" | "HN" | "NI" | "CR" | "PA" => ("00", ""),
            "KR" => ("001", "0"),
            "BR" => ("0021", "0"),
            "CO" => ("009", "0"),
            "CL" | "HU" => ("00", if iso2 == "HU" { "06" } else { "" }),
            "TW" => ("002", "0"),
            "TH" => ("001", "0"),
            "ID" => ("001", "0"),
            "MN" => ("001", "0"),
            "KE" | "UG" | "TZ" => ("000", "0"),
            "NG" => ("009", "0"),
            _ => ("00", "0"),
        },
    }
}

/// Default dial plan for a country: international and trunk prefixes as dialed there.
pub fn plan_for_country(iso2: &str) -> Option<DialPlan> {
    let iso2 = iso2.trim().to_ascii_uppercase();
    if iso2 == "JP" {
        return Some(DialPlan::japan());
    }
    let calling_code = countries::code_of_iso2(&iso2)?;
    let (intl, trunk) = national_prefixes(&iso2, calling_code);
    let mut plan = DialPlan {
        country: iso2,
        calling_code,
        international_prefix: intl.into(),
        other_international_prefixes: Vec::new(),
        foreign_prefixes: Vec::new(),
        trunk_prefix: trunk.into(),
        outside_line: None,
        carrier_codes: Vec::new(),
        caller_id_prefixes: Vec::new(),
        extension_lengths: 2..=4,
    };
    plan.foreign_prefixes = default_foreign_prefixes(&plan);
    Some(plan)
}

/// Feature codes recognised by default: GSM call forwarding, NANP call forwarding and caller-ID blocking.
pub fn default_feature_codes() -> Vec<String> {
    [
        "**21*", "*21*", "**61*", "*61*", "**62*", "*62*", "**67*", "*67*", "*72", "*67", "*82",
        "#31#", "*31#",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

impl SiteRules {
    pub fn new(plan: DialPlan, feature_codes: Vec<String>) -> Self {
        let iso2 = plan.country.clone();
        let emergency = emergency_numbers(&iso2);
        let emergency_max = emergency
            .iter()
            .chain(UNIVERSAL_EMERGENCY)
            .map(|e| e.len())
            .max()
            .unwrap_or(0);
        let escalate_pairs = pair_mask(
            std::iter::once(&plan.international_prefix)
                .chain(&plan.other_international_prefixes)
                .chain(&plan.carrier_codes)
                .chain(&plan.caller_id_prefixes),
        );
        let plain_pairs = pair_mask(plan.carrier_codes.iter().chain(&plan.caller_id_prefixes));
        let outside_line_configured = plan.outside_line.as_deref().is_some_and(|s| !s.is_empty());
        let site_intl = || {
            std::iter::once(&plan.international_prefix).chain(&plan.other_international_prefixes)
        };
        let foreign: Vec<String> = plan
            .foreign_prefixes
            .iter()
            .filter(|p| {
                !p.is_empty()
                    && !site_intl().any(|s| s == *p)
                    && !plan.carrier_codes.iter().any(|c| c == *p)
            })
            .cloned()
            .collect();
        let rival_pairs = pair_mask(foreign.iter().chain(&plan.other_international_prefixes));
        let rival_start = RivalStart::new(&plan, &foreign);
        let trunk = plan.trunk_prefix.as_str();
        let mut hidden: Vec<(String, Kind)> = Vec::new();
        let kinds = site_intl()
            .map(|p| (p, Kind::Site))
            .chain(plan.carrier_codes.iter().map(|p| (p, Kind::Carrier)))
            .chain(foreign.iter().map(|p| (p, Kind::Foreign)));
        for (p, kind) in kinds {
            if let Some(rest) = p.strip_prefix(trunk)
                && !rest.is_empty()
            {
                hidden.push((rest.to_string(), kind));
            }
        }
        let hidden_pairs = pair_mask(hidden.iter().map(|(p, _)| p));
        Self {
            quick: QuickNational::new(&plan, emergency_max, outside_line_configured, &rival_start),
            cc: plan.calling_code.to_string(),
            escalate_pairs,
            plain_pairs,
            outside_line_configured,
            foreign,
            rival_pairs,
            rival_start,
            hidden_start: HiddenStart::new(&hidden),
            carriers_longest_first: {
                let mut c = plan.carrier_codes.clone();
                c.sort_by_key(|c| std::cmp::Reverse(c.len()));
                c
            },
            hidden,
            hidden_pairs,
            plan,
            feature_codes,
            emergency,
            service: service_numbers(&iso2),
            emergency_max,
        }
    }

    /// The site's international prefixes: the main one, then the others.
    fn international_prefixes(&self) -> impl Iterator<Item = &String> {
        std::iter::once(&self.plan.international_prefix)
            .chain(&self.plan.other_international_prefixes)
    }

    /// `t` starts with a further international prefix of the site followed by a digit, or with another
    /// country's followed by enough digits for a number abroad: a rival reading begins there.
    fn rival_lead(&self, t: &[u8]) -> bool {
        might_start(self.rival_pairs, t)
            && (self
                .plan
                .other_international_prefixes
                .iter()
                .any(|p| !p.is_empty() && t.len() > p.len() && starts(t, p.as_bytes()))
                || self
                    .foreign
                    .iter()
                    .any(|p| t.len() >= p.len() + MIN_ABROAD && starts_pattern(t, p.as_bytes())))
    }

    fn is_emergency(&self, d: &[u8]) -> bool {
        if d.len() > self.emergency_max {
            return false;
        }
        self.emergency
            .iter()
            .chain(UNIVERSAL_EMERGENCY)
            .any(|e| same(e.as_bytes(), d))
    }

    fn is_service(&self, d: &[u8]) -> bool {
        if d.len() > 6 {
            return false;
        }
        self.service.iter().any(|e| same(e.as_bytes(), d))
    }
}

/// Decodes `%XX` escapes (repeatedly: double encoding is a known trick) into `out`.
fn percent_decode(input: &str, out: &mut Vec<u8>) -> bool {
    out.clear();
    out.extend_from_slice(input.as_bytes());
    let mut decoded_any = false;
    for _ in 0..3 {
        if !out.contains(&b'%') {
            break;
        }
        let mut next = Vec::with_capacity(out.len());
        let mut i = 0;
        let mut changed = false;
        while i < out.len() {
            let b = out[i];
            if b == b'%'
                && let (Some(h), Some(l)) = (
                    out.get(i + 1).and_then(|c| (*c as char).to_digit(16)),
                    out.get(i + 2).and_then(|c| (*c as char).to_digit(16)),
                )
            {
                next.push((h * 16 + l) as u8);
                i += 3;
                changed = true;
                continue;
            }
            next.push(b);
            i += 1;
        }
        *out = next;
        if !changed {
            break;
        }
        decoded_any = true;
    }
    decoded_any
}

/// The dial string with URI syntax removed: the number part and its `phone-context` as written, if any.
struct Unwrapped<'a> {
    number: &'a str,
    context: Option<&'a str>,
    uri: bool,
}

/// A `phone-context` that names a country (RFC 3966 global number digits, "+1", "+1-212", "+44 20"): all
/// its digits (calling code and any area code) and the calling code. A domain name, or digits that start with
/// no assigned calling code, name none: the site's plan applies.
#[derive(Clone, Copy)]
pub(crate) struct PhoneContext {
    digits: Digits,
    code: u16,
}

impl PhoneContext {
    pub(crate) fn parse(value: &str) -> Option<Self> {
        let global = value.trim().strip_prefix('+')?;
        let mut digits = Digits::new();
        for b in global.bytes().filter(u8::is_ascii_digit) {
            if usize::from(digits.len) >= 15 || !digits.push(b) {
                break;
            }
        }
        let (code, _) = countries::calling_code_bytes(digits.as_bytes())?;
        Some(Self { digits, code })
    }
}

/// The E.164 digits of `d` dialed in another country's context: after that country's international prefix
/// the number abroad, after its trunk prefix a national number there, else a local number after the context's
/// digits (its calling code and any area code).
fn in_foreign_context(d: &[u8], ctx: &PhoneContext) -> Digits {
    let iso2 = countries::country_by_code(ctx.code).map_or("", |c| c.iso2);
    let (intl, trunk) = national_prefixes(iso2, ctx.code);
    if !intl.is_empty()
        && let Some(rest) = strip(d, intl.as_bytes())
        && !rest.is_empty()
    {
        return Digits::from_parts(rest, &[]);
    }
    if !trunk.is_empty()
        && let Some(rest) = strip(d, trunk.as_bytes())
        && rest.len() >= 6
    {
        let mut code = [0u8; 3];
        return Digits::from_parts(code_digits(ctx.code, &mut code), rest);
    }
    Digits::from_parts(ctx.digits.as_bytes(), d)
}

fn strip_scheme<'a>(s: &'a str, scheme: &str) -> Option<&'a str> {
    let head = s.get(..scheme.len())?;
    head.eq_ignore_ascii_case(scheme)
        .then(|| s.get(scheme.len()..))
        .flatten()
}

fn unwrap_uri(raw: &str) -> Unwrapped<'_> {
    let mut s = raw.trim();
    if !s.bytes().any(|b| matches!(b, b'<' | b':' | b';')) {
        return Unwrapped {
            number: s,
            context: None,
            uri: false,
        };
    }
    // "Display" <sip:...>: keep what is between the angle brackets.
    if let (Some(open), Some(close)) = (s.find('<'), s.rfind('>'))
        && open < close
    {
        s = s.get(open + 1..close).unwrap_or(s).trim();
    }
    let mut uri = false;
    let mut part = s;
    if let Some(rest) = strip_scheme(s, "tel:") {
        uri = true;
        part = rest;
    } else if let Some(rest) = strip_scheme(s, "sips:").or_else(|| strip_scheme(s, "sip:")) {
        uri = true;
        // The user part ends at '@'; without '@' there is no user and so no number.
        part = match rest.find('@') {
            Some(at) => rest.get(..at).unwrap_or(""),
            None => "",
        };
    }
    let (number, params) = match part.find(';') {
        Some(i) => (part.get(..i).unwrap_or(""), part.get(i + 1..).unwrap_or("")),
        None => (part, ""),
    };
    let mut context = None;
    for p in params.split(';') {
        let Some((name, value)) = p.split_once('=') else {
            continue;
        };
        if name.trim().eq_ignore_ascii_case("phone-context") {
            context = Some(value.trim());
        }
    }
    Unwrapped {
        number,
        context,
        uri,
    }
}

/// Symbols and digits as dialed, separators and junk removed, with what was seen.
struct Scanned {
    keyed: Digits,
    plus: bool,
    flags: DialFlags,
    obfuscated: bool,
    /// A '*' or '#' is among `keyed`.
    symbols: bool,
}

fn scan(bytes: &[u8]) -> Scanned {
    let mut keyed = Digits::new();
    let mut flags = DialFlags::default();
    let mut plus = false;
    let mut obfuscated = false;
    let mut seen_digit = false;
    let mut overflow = false;
    if bytes.is_ascii() {
        // What PBXs send: plain ASCII, read byte by byte (the same rules as below, minus the non-ASCII cases).
        for &b in bytes {
            match b {
                b'0'..=b'9' | b'*' | b'#' => {
                    overflow |= !keyed.push(b);
                    seen_digit |= b.is_ascii_digit();
                }
                b'+' if !seen_digit => plus = true,
                b' ' | b'-' | b'.' | b'(' | b')' | b'/' | b'\t' => {
                    flags.insert(DialFlags::SEPARATORS)
                }
                _ => {
                    flags.insert(DialFlags::JUNK_CHARACTERS);
                    obfuscated = true;
                }
            }
        }
        if overflow {
            flags.insert(DialFlags::JUNK_CHARACTERS);
            obfuscated = true;
        }
        return Scanned {
            symbols: keyed.as_bytes().iter().any(|b| !b.is_ascii_digit()),
            keyed,
            plus,
            flags,
            obfuscated,
        };
    }
    let text = String::from_utf8_lossy(bytes);
    for c in text.chars() {
        match c {
            '0'..='9' | '*' | '#' => {
                overflow |= !keyed.push(c as u8);
                seen_digit |= c.is_ascii_digit();
            }
            // Full-width digits (copy-pasted from Japanese text) slip past ASCII prefix filters.
            '０'..='９' => {
                let d = b'0' + (u32::from(c) - u32::from('０')) as u8;
                overflow |= !keyed.push(d);
                seen_digit = true;
                flags.insert(DialFlags::JUNK_CHARACTERS);
                obfuscated = true;
            }
            '+' if !seen_digit => plus = true,
            ' ' | '-' | '.' | '(' | ')' | '/' | '\t' | '\u{a0}' | '‐' | '‑' | '–' | '－' | '　' => {
                flags.insert(DialFlags::SEPARATORS)
            }
            _ => {
                flags.insert(DialFlags::JUNK_CHARACTERS);
                obfuscated = true;
            }
        }
    }
    if overflow {
        flags.insert(DialFlags::JUNK_CHARACTERS);
        obfuscated = true;
    }
    Scanned {
        symbols: keyed.as_bytes().iter().any(|b| !b.is_ascii_digit()),
        keyed,
        plus,
        flags,
        obfuscated,
    }
}

/// Flags for the symbols around the digits of `body`: leading symbols are obfuscation; one trailing '#'
/// is a phone's "send" key (junk, not obfuscation); any other symbol among the digits is obfuscation.
fn symbol_flags(body: &[u8], flags: &mut DialFlags) -> bool {
    let Some(first_digit) = body.iter().position(u8::is_ascii_digit) else {
        return false;
    };
    let mut obfuscated = false;
    if first_digit > 0 {
        flags.insert(DialFlags::LEADING_SYMBOL);
        obfuscated = true;
    }
    let after = body.get(first_digit..).unwrap_or(&[]);
    let symbols = after.iter().filter(|b| !b.is_ascii_digit()).count();
    if symbols > 0 {
        flags.insert(DialFlags::JUNK_CHARACTERS);
        let send_key = symbols == 1 && after.last() == Some(&b'#');
        obfuscated |= !send_key;
    }
    obfuscated
}

fn only_digits(keyed: &[u8]) -> Digits {
    if keyed.iter().all(u8::is_ascii_digit) {
        return Digits::from_parts(keyed, &[]);
    }
    let mut d = Digits::new();
    for &b in keyed {
        if b.is_ascii_digit() {
            d.push(b);
        }
    }
    d
}

/// One way of reading the digits, with what was stripped to get there. The digits are kept as two borrowed
/// parts (a calling code and the rest) and only copied out for the reading that wins: most readings tried lose.
#[derive(Clone, Copy)]
struct Candidate<'a> {
    reading: Reading,
    head: &'a [u8],
    tail: &'a [u8],
    flags: DialFlags,
    strips: u8,
    implicit_outside_line: bool,
    /// Where the digits came from: a national reading of E.164 digits of the site's own calling code may
    /// hide a call abroad (`+81 10…`).
    origin: Origin,
}

/// How a candidate's digits were read.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Origin {
    /// As dialed in the site's plan (trunk prefix, short number, extension).
    Plan,
    /// E.164 digits after `+` or an international prefix.
    E164,
    /// E.164 digits straight after a carrier code (`001 1 212…`): the plan's guess, as KDDI takes it, not a
    /// prefix that says "abroad". It never stands against another country's prefix as a real national number.
    CarrierGuess,
}

impl<'a> Candidate<'a> {
    #[cfg(test)]
    fn digits(&self) -> Digits {
        Digits::from_parts(self.head, self.tail)
    }

    /// The reading handed on, with `flags` (the candidate's own and those of the scan).
    fn read(&self, flags: DialFlags) -> Read<'a> {
        Read {
            reading: self.reading,
            head: self.head,
            tail: self.tail,
            flags,
            rivals: None,
        }
    }

    fn better_than(&self, other: &Candidate<'_>) -> bool {
        let (a, b) = (self.reading.danger(), other.reading.danger());
        if a != b {
            return a > b;
        }
        (self.implicit_outside_line, self.strips) < (other.implicit_outside_line, other.strips)
    }
}

/// `a` then `b` is the same digit string as `c` then `d`.
fn same_digits(a: &[u8], b: &[u8], c: &[u8], d: &[u8]) -> bool {
    a.len() + b.len() == c.len() + d.len() && a.iter().chain(b).eq(c.iter().chain(d))
}

/// Most rival readings kept; more distinct ones would take a dial string of several prefixes in a row.
const MAX_RIVALS: usize = 12;

/// A reading that competes with the plan's own by risk (see [`Rivals`]).
#[derive(Clone, Copy)]
pub(crate) struct Rival<'a> {
    pub reading: Reading,
    pub head: &'a [u8],
    pub tail: &'a [u8],
    /// The reading's own flags (`FOREIGN_PREFIX` for another country's prefix, `HIDDEN_INTERNATIONAL`, the
    /// outside line or carrier code it read); the scan's flags are in [`Rivals::outer`].
    pub flags: DialFlags,
    /// Digits dialed before the calling code: the longer, the more specific the match (ties of risk).
    pub prefix_len: u8,
}

impl<'a> Rival<'a> {
    fn of(c: &Candidate<'a>, prefix_len: usize) -> Self {
        Self {
            reading: c.reading,
            head: c.head,
            tail: c.tail,
            flags: c.flags,
            prefix_len: u8::try_from(prefix_len).unwrap_or(u8::MAX),
        }
    }

    /// The rival as a reading of its own, with the scan's flags.
    pub fn read(&self, outer: DialFlags) -> Read<'a> {
        Read {
            reading: self.reading,
            head: self.head,
            tail: self.tail,
            flags: self.flags.union(outer),
            rivals: None,
        }
    }
}

/// Readings of the digits that compete with the plan's own by risk, which `Numbering` weighs: through a further
/// international prefix of the site (`other_international_prefixes`), through another country's
/// international prefix (flagged `FOREIGN_PREFIX`), and calls abroad hidden after the site's own calling code
/// (flagged `HIDDEN_INTERNATIONAL`). Made on the slow path only (never for what the quick national reading or
/// `read_plain` answers); the common path hands on no rivals at all.
#[derive(Clone, Copy)]
pub(crate) struct Rivals<'a> {
    items: [Rival<'a>; MAX_RIVALS],
    len: u8,
    /// Digits dialed before the calling code in the plan's own reading (0 unless it is international
    /// through one of the site's international prefixes).
    pub main_prefix: u8,
    /// The plan's own reading is a guess: the country code straight after a carrier code, or a reading after
    /// an outside-line digit nobody configured. Another country's prefix may beat it even where it makes a
    /// real national number (`0033 810 49…`, `184 0 0 82…`): an unconfigured digit never makes a reading safer.
    pub main_guess: bool,
    /// Another country's prefix began the digits, followed by enough digits, but no number abroad (unassigned
    /// code, too long): the plan's reading is flagged unless it is a real national number.
    pub foreign_seen: bool,
    /// The flags of the scan and the URI (separators, obfuscation…), which every reading shares.
    pub outer: DialFlags,
}

impl<'a> Rivals<'a> {
    fn new() -> Self {
        const NONE: Rival<'static> = Rival {
            reading: Reading::Unknown,
            head: &[],
            tail: &[],
            flags: DialFlags(0),
            prefix_len: 0,
        };
        Self {
            items: [NONE; MAX_RIVALS],
            len: 0,
            main_prefix: 0,
            main_guess: false,
            foreign_seen: false,
            outer: DialFlags(0),
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = &Rival<'a>> {
        self.items.iter().take(usize::from(self.len))
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0 && !self.foreign_seen
    }

    /// Keeps `r` unless a rival of the same digits is kept already (the first found is the simplest reading:
    /// fewest prefixes stripped).
    fn push(&mut self, r: Rival<'a>) {
        if self
            .iter()
            .any(|k| same_digits(k.head, k.tail, r.head, r.tail))
        {
            return;
        }
        if let Some(slot) = self.items.get_mut(usize::from(self.len)) {
            *slot = r;
            self.len += 1;
        }
    }

    fn clear(&mut self) {
        self.len = 0;
        self.foreign_seen = false;
    }

    /// Once the plan's reading `main` is known: rivals of its very digits add nothing.
    fn settle(&mut self, main: &Candidate<'_>, main_prefix: usize) {
        let mut kept = 0;
        for i in 0..usize::from(self.len) {
            let Some(r) = self.items.get(i).copied() else {
                break;
            };
            if !same_digits(r.head, r.tail, main.head, main.tail)
                && let Some(slot) = self.items.get_mut(kept)
            {
                *slot = r;
                kept += 1;
            }
        }
        self.len = kept as u8;
        self.main_prefix = u8::try_from(main_prefix).unwrap_or(u8::MAX);
        self.main_guess = main.origin == Origin::CarrierGuess || main.implicit_outside_line;
    }
}

/// Applies the site's dial plan to bare digits for which [`quick_national`] had no answer, returning the most
/// dangerous plausible reading (the rivals, on the slow path, into `slot`).
fn read_site<'a>(
    rules: &'a SiteRules,
    d: &'a [u8],
    slot: &mut Option<Rivals<'a>>,
) -> Candidate<'a> {
    // The caller tried the quick national reading (`read_plain`'s first test) already.
    match read_plain_checked(rules, d) {
        Some(c) if !might_hide(rules, &c, d) => c,
        plain => read_site_every_way(rules, d, plain, slot),
    }
}

/// [`read_site`] where `read_plain` had no answer, or one that may hide a call abroad: every reading, and the
/// rivals.
#[cold]
#[inline(never)]
fn read_site_every_way<'a>(
    rules: &'a SiteRules,
    d: &'a [u8],
    plain: Option<Candidate<'a>>,
    slot: &mut Option<Rivals<'a>>,
) -> Candidate<'a> {
    let rivals = slot.insert(Rivals::new());
    let c = match plain {
        Some(c) => c,
        None => read_every_way(rules, d, rivals),
    };
    hidden_rivals(rules, &c, d, rivals);
    rivals.settle(&c, prefix_before(&c, d));
    c
}

/// Digits dialed before the calling code of an international reading of `d` (a suffix of it) through one of
/// the site's international prefixes, for ties of risk (the longer, the more specific the match). 0 for other
/// readings, and for a country code straight after a carrier code (the plan's guess).
fn prefix_before(c: &Candidate<'_>, d: &[u8]) -> usize {
    if c.reading != Reading::International || !c.head.is_empty() || c.origin != Origin::E164 {
        return 0;
    }
    d.len().saturating_sub(c.tail.len())
}

/// E.164 digits after a `+`, with the call abroad they may hide (`+81 10…`) as a rival, into `slot`.
fn read_plus<'a>(
    rules: &'a SiteRules,
    d: &'a [u8],
    slot: &mut Option<Rivals<'a>>,
) -> Candidate<'a> {
    let c = international(rules, d, DialFlags::default(), 0, false);
    if might_hide(rules, &c, d) {
        let rivals = slot.insert(Rivals::new());
        hidden_rivals(rules, &c, d, rivals);
        rivals.settle(&c, 0);
    }
    c
}

/// The answer of [`read_every_way`] for the common case, found without trying every reading: no outside-line
/// digit is configured, the digits start with no caller-ID prefix and no carrier code, neither implicit
/// outside-line digit (0, 9) could lead to an international or emergency reading, and no rival reading (another
/// country's prefix, a further one of the site's) can begin the digits. Then every reading but the plain one is
/// impossible or loses, so the plain one is the answer. `None`: not that case, try every way.
/// (`fast_path_agrees_with_every_way` checks this against the full enumeration.) The commonest answer, the
/// national number after the trunk prefix, is decided by the first three digits and the length first.
#[inline]
fn read_plain<'a>(rules: &'a SiteRules, d: &'a [u8]) -> Option<Candidate<'a>> {
    quick_national(rules, d).or_else(|| read_plain_checked(rules, d))
}

/// The national reading of `d` when [`QuickNational`] decides it.
#[inline]
fn quick_national<'a>(rules: &'a SiteRules, d: &'a [u8]) -> Option<Candidate<'a>> {
    let [least, most] = *rules.quick.0.get(start_index(d)?)?;
    if least == 0 || d.len() < usize::from(least) || d.len() > usize::from(most) {
        return None;
    }
    Some(Candidate {
        reading: Reading::National,
        head: rules.cc.as_bytes(),
        tail: d.get(rules.plan.trunk_prefix.len()..)?,
        flags: DialFlags::default(),
        strips: 0,
        implicit_outside_line: false,
        origin: Origin::Plan,
    })
}

/// [`read_plain`] by its tests one after the other.
#[inline(always)]
fn read_plain_checked<'a>(rules: &'a SiteRules, d: &'a [u8]) -> Option<Candidate<'a>> {
    let plan = &rules.plan;
    if d.is_empty() || rules.outside_line_configured {
        return None;
    }
    if might_start(rules.plain_pairs, d)
        && (plan
            .caller_id_prefixes
            .iter()
            .any(|p| starts(d, p.as_bytes()))
            || plan.carrier_codes.iter().any(|c| starts(d, c.as_bytes())))
    {
        return None;
    }
    // A rival reading may begin the digits (directly or after an outside-line digit): weigh them all.
    if rules.rival_start.may_begin(d) {
        return None;
    }
    for implicit in [b"0", b"9"] {
        if let Some(after) = strip(d, implicit)
            && could_escalate(rules, after)
        {
            return None;
        }
    }
    if rules.is_emergency(d) {
        return Some(Candidate {
            reading: Reading::Emergency,
            head: &[],
            tail: d,
            flags: DialFlags::default(),
            strips: 0,
            implicit_outside_line: false,
            origin: Origin::Plan,
        });
    }
    // `terminal` only declines empty digits or readings after a carrier or an implicit outside line.
    terminal(
        rules,
        rules.cc.as_bytes(),
        d,
        false,
        DialFlags::default(),
        0,
        false,
    )
}

/// Tries every plausible reading (outside line, caller-ID prefix in either order, carrier code, prefixes) and
/// keeps the most dangerous; an emergency reading after harmless prefixes wins at once. Readings through a
/// further international prefix of the site or another country's go to `rivals`, to be weighed by risk.
fn read_every_way<'a>(rules: &'a SiteRules, d: &'a [u8], rivals: &mut Rivals<'a>) -> Candidate<'a> {
    let plan = &rules.plan;
    let cc = rules.cc.as_bytes();
    let mut best = Candidate {
        reading: Reading::Unknown,
        head: &[],
        tail: d,
        flags: DialFlags::default(),
        strips: 0,
        implicit_outside_line: false,
        origin: Origin::Plan,
    };
    // Outside-line choices: none, the configured one, and the usual 0 and 9 (only ever used to escalate).
    let configured = plan.outside_line.as_deref().filter(|s| !s.is_empty());
    let outside: [(Option<&str>, bool); 4] = [
        (None, false),
        (configured, false),
        (Some("0"), true),
        (Some("9"), true),
    ];
    for (i, (ol, implicit)) in outside.iter().enumerate() {
        if i > 0 && ol.is_none() {
            continue;
        }
        if *implicit && configured == *ol {
            continue;
        }
        // An implicit outside-line digit only matters when what follows could lead abroad or to an emergency
        // by the plan, or begins a rival reading (then only the rivals are read after it: it is no way to a
        // national number).
        let mut rivals_only = false;
        if *implicit
            && let Some(o) = ol
            && let Some(after) = strip(d, o.as_bytes())
            && !could_escalate(rules, after)
        {
            if !rules.rival_lead(after) {
                continue;
            }
            rivals_only = true;
        }
        for order in 0..2u8 {
            // order 0: outside line then caller-ID prefix; order 1: the reverse.
            if order == 1 && ol.is_none() {
                continue;
            }
            let mut rest = d;
            let mut flags = DialFlags::default();
            let mut strips = 0u8;
            let mut ok = true;
            let strip_ol = |rest: &mut &[u8], flags: &mut DialFlags, strips: &mut u8| -> bool {
                match ol {
                    Some(o) => match strip(rest, o.as_bytes()) {
                        Some(r) => {
                            *rest = r;
                            flags.insert(DialFlags::OUTSIDE_LINE);
                            *strips += 1;
                            true
                        }
                        None => false,
                    },
                    None => true,
                }
            };
            if order == 0 {
                ok &= strip_ol(&mut rest, &mut flags, &mut strips);
            }
            if !ok {
                continue;
            }
            let mut cid_opts: [Option<&[u8]>; 3] = [None, None, None];
            let mut n = 1;
            for p in plan.caller_id_prefixes.iter().filter(|_| rest.len() > 3) {
                if n < 3 && !p.is_empty() && starts(rest, p.as_bytes()) && rest.len() > p.len() {
                    cid_opts[n] = Some(p.as_bytes());
                    n += 1;
                }
            }
            for cid in cid_opts.iter().take(n) {
                let mut rest2 = rest;
                let mut flags2 = flags;
                let mut strips2 = strips;
                if let Some(p) = cid {
                    rest2 = rest2.get(p.len()..).unwrap_or(&[]);
                    flags2.insert(DialFlags::CALLER_ID_PREFIX);
                    strips2 += 1;
                }
                if order == 1 && !strip_ol(&mut rest2, &mut flags2, &mut strips2) {
                    continue;
                }
                if order == 1 && cid.is_none() {
                    continue;
                }
                // Emergency and protected numbers: exact match after the harmless prefixes.
                if rules.is_emergency(rest2) {
                    rivals.clear();
                    return Candidate {
                        reading: Reading::Emergency,
                        head: &[],
                        tail: rest2,
                        flags: flags2,
                        strips: strips2,
                        implicit_outside_line: *implicit,
                        origin: Origin::Plan,
                    };
                }
                let mut consider = |c: Candidate<'a>| {
                    if c.better_than(&best) {
                        best = c;
                    }
                };
                rival_readings(rules, d.len(), rest2, flags2, strips2, *implicit, rivals);
                if rivals_only {
                    continue;
                }
                // Without a carrier code.
                if let Some(c) = terminal(rules, cc, rest2, false, flags2, strips2, *implicit) {
                    consider(c);
                }
                // Carrier codes start with 00 in Japan; skip the list unless the first digit can match. Longest
                // first: of two codes that both begin the digits (0091, 009130), the longer one is meant.
                let first = rest2.first().copied();
                for code in &rules.carriers_longest_first {
                    if code.as_bytes().first().copied() != first || !starts(rest2, code.as_bytes())
                    {
                        continue;
                    }
                    let rest3 = rest2.get(code.len()..).unwrap_or(&[]);
                    let mut f = flags2;
                    f.insert(DialFlags::CARRIER_CODE);
                    if let Some(c) = terminal(rules, cc, rest3, true, f, strips2 + 1, *implicit) {
                        consider(c);
                    }
                    rival_readings(rules, d.len(), rest3, f, strips2 + 1, *implicit, rivals);
                }
            }
        }
    }
    best
}

/// The rival readings of `t` (what is left of a dial string of `whole` digits once outside line, caller-ID
/// prefix and carrier code are read): through a further international prefix of the site (any digits after
/// it, as the plan's own prefix), or through another country's (a possible number abroad after it, flagged
/// `FOREIGN_PREFIX`; enough digits but none is remembered in `rivals.foreign_seen`).
fn rival_readings<'a>(
    rules: &'a SiteRules,
    whole: usize,
    t: &'a [u8],
    flags: DialFlags,
    strips: u8,
    implicit: bool,
    rivals: &mut Rivals<'a>,
) {
    if !might_start(rules.rival_pairs, t) {
        return;
    }
    for p in &rules.plan.other_international_prefixes {
        if let Some(rest) = strip(t, p.as_bytes())
            && !p.is_empty()
            && !rest.is_empty()
        {
            let c = international(rules, rest, flags, strips + 1, implicit);
            rivals.push(Rival::of(&c, whole - rest.len()));
        }
    }
    for p in &rules.foreign {
        if let Some(rest) = strip_pattern(t, p.as_bytes())
            && rest.len() >= MIN_ABROAD
        {
            if possible_abroad(rest) {
                let f = flags.union(DialFlags::FOREIGN_PREFIX);
                let c = international(rules, rest, f, strips + 1, implicit);
                rivals.push(Rival::of(&c, whole - rest.len()));
            } else {
                rivals.foreign_seen = true;
            }
        }
    }
}

/// A national reading of E.164 digits of the site's own calling code whose national number starts with what
/// one of its prefixes becomes without the trunk prefix (`+81 10…` is `010…` once `+81` is dialed as `0`).
/// Another country's prefix counts only where it could win: before enough digits for a number abroad, and
/// in a national number that is no real one (`+81 11…` is Sapporo).
#[inline(always)]
fn might_hide(rules: &SiteRules, c: &Candidate<'_>, d: &[u8]) -> bool {
    // Cheap tests first: the national number's first two digits, or a trunk digit written before it.
    c.origin != Origin::Plan
        && c.reading == Reading::National
        && (might_start(rules.hidden_pairs, c.tail)
            || d.len()
                .checked_sub(c.tail.len() + 1)
                .is_some_and(|i| d.get(i) == rules.plan.trunk_prefix.as_bytes().last()))
        && might_hide_national(rules, c, d)
}

/// [`might_hide`] of a national reading of E.164 digits.
#[inline(never)]
fn might_hide_national(rules: &SiteRules, c: &Candidate<'_>, d: &[u8]) -> bool {
    national_forms(rules, c, d)
        .into_iter()
        .flatten()
        .any(|n| might_start(rules.hidden_pairs, n) && might_hide_checked(rules, n))
}

/// The national number of `c` (digits that end `d`) as read, and where [`international`] dropped a trunk
/// prefix after the calling code, as written: `+81 033…` is `0033…` once `+81` is dialed as `0`.
#[inline]
fn national_forms<'a>(rules: &SiteRules, c: &Candidate<'a>, d: &'a [u8]) -> [Option<&'a [u8]>; 2] {
    let trunk = rules.plan.trunk_prefix.as_bytes();
    let written = d
        .len()
        .checked_sub(c.tail.len() + trunk.len())
        .filter(|_| !trunk.is_empty())
        .and_then(|start| {
            let before = d.get(..start)?;
            let written = d.get(start..)?;
            (starts(written, trunk) && before.ends_with(rules.cc.as_bytes())).then_some(written)
        });
    [Some(c.tail), written]
}

/// [`might_hide`] of a national number that passed the first-two-digit mask: the per-start table first.
fn might_hide_checked(rules: &SiteRules, national: &[u8]) -> bool {
    if let Some(i) = start_index(national) {
        let entry = rules.hidden_start.0.get(i).copied().unwrap_or(0);
        let site_or_carrier = entry & HIDDEN_PLAN != 0;
        let foreign = entry & !HIDDEN_PLAN;
        let foreign_may = foreign != 0
            && national.len() >= usize::from(foreign)
            && !real_national(rules, national);
        if !site_or_carrier && !foreign_may {
            return false;
        }
    }
    rules.hidden.iter().any(|(p, kind)| {
        starts_pattern(national, p.as_bytes())
            && (*kind != Kind::Foreign
                || (national.len() >= p.len() + MIN_ABROAD && !real_national(rules, national)))
    })
}

/// Bit of a [`HiddenStart`] entry: a prefix of the plan (international or carrier) can begin the start.
const HIDDEN_PLAN: u8 = 0x80;

/// Per three leading digits of a national number, whether a hidden prefix can begin it: [`HIDDEN_PLAN`] for
/// a prefix of the plan, and in the low bits the least length from which another country's can (0: none).
#[derive(Clone, PartialEq, Eq)]
struct HiddenStart([u8; 1000]);

impl std::fmt::Debug for HiddenStart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let starts = self.0.iter().filter(|l| **l != 0).count();
        write!(f, "HiddenStart({starts} starts)")
    }
}

impl HiddenStart {
    fn new(hidden: &[(String, Kind)]) -> Self {
        let mut t = [0u8; 1000];
        for (i, slot) in t.iter_mut().enumerate() {
            let xyz = [
                b'0' + (i / 100) as u8,
                b'0' + (i / 10 % 10) as u8,
                b'0' + (i % 10) as u8,
            ];
            for (p, kind) in hidden {
                if !could_prefix_pattern(p.as_bytes(), &xyz) {
                    continue;
                }
                if *kind == Kind::Foreign {
                    let least = u8::try_from(p.len() + MIN_ABROAD).unwrap_or(0x7F).min(0x7F);
                    let now = *slot & !HIDDEN_PLAN;
                    if now == 0 || least < now {
                        *slot = (*slot & HIDDEN_PLAN) | least;
                    }
                } else {
                    *slot |= HIDDEN_PLAN;
                }
            }
        }
        Self(t)
    }
}

/// The national number is a real one of the site (a class other than unknown), which another country's
/// prefix read into it never beats (`Numbering::classify`'s rule 2). Known without libphonenumber for Japan
/// only (its classes are rules, `class.rs`); elsewhere "not known".
fn real_national(rules: &SiteRules, national: &[u8]) -> bool {
    rules.plan.calling_code == 81
        && crate::class::japan_class_fast(national) != crate::types::NumberClass::Unknown
}

/// The calls abroad hidden in the national number of `c` (see [`might_hide`]), as rivals flagged
/// `HIDDEN_INTERNATIONAL`: after the site's international prefix, after a carrier code (then the international
/// prefix, or the country code directly), or after another country's prefix (then also `FOREIGN_PREFIX`).
fn hidden_rivals<'a>(
    rules: &'a SiteRules,
    c: &Candidate<'a>,
    d: &'a [u8],
    rivals: &mut Rivals<'a>,
) {
    if !might_hide(rules, c, d) {
        return;
    }
    let trunk = rules.plan.trunk_prefix.as_bytes();
    let flags = c.flags.union(DialFlags::HIDDEN_INTERNATIONAL);
    let whole = d.len();
    let push = |rest: &'a [u8], flags: DialFlags, rivals: &mut Rivals<'a>| {
        let r = international(rules, rest, flags, c.strips + 1, c.implicit_outside_line);
        rivals.push(Rival::of(&r, whole - rest.len()));
    };
    let forms = national_forms(rules, c, d);
    let matches = rules.hidden.iter().flat_map(|(p, kind)| {
        forms
            .into_iter()
            .flatten()
            .filter_map(move |n| strip_pattern(n, p.as_bytes()).map(|rest| (rest, *kind)))
    });
    for (rest, kind) in matches {
        match kind {
            Kind::Site => {
                if !rest.is_empty() {
                    push(rest, flags, rivals);
                }
            }
            Kind::Carrier => {
                let f = flags.union(DialFlags::CARRIER_CODE);
                let after_intl = rules.international_prefixes().find_map(|q| {
                    strip(rest, q.as_bytes()).filter(|r| !q.is_empty() && !r.is_empty())
                });
                match after_intl {
                    Some(r) => push(r, f, rivals),
                    None if !rest.is_empty() && !starts(rest, trunk) => push(rest, f, rivals),
                    None => {}
                }
            }
            Kind::Foreign => {
                if rest.len() >= MIN_ABROAD {
                    if possible_abroad(rest) {
                        push(rest, flags.union(DialFlags::FOREIGN_PREFIX), rivals);
                    } else {
                        rivals.foreign_seen = true;
                    }
                }
            }
        }
    }
}

/// True when `t` starts with something that can precede an international or emergency number.
fn could_escalate(rules: &SiteRules, t: &[u8]) -> bool {
    let plan = &rules.plan;
    if t.len() <= rules.emergency_max + 3 {
        return true;
    }
    might_start(rules.escalate_pairs, t)
        && (rules
            .international_prefixes()
            .any(|p| starts(t, p.as_bytes()))
            || plan.carrier_codes.iter().any(|c| starts(t, c.as_bytes()))
            || plan
                .caller_id_prefixes
                .iter()
                .any(|c| starts(t, c.as_bytes())))
}

fn terminal<'a>(
    rules: &'a SiteRules,
    cc: &'a [u8],
    t: &'a [u8],
    after_carrier: bool,
    flags: DialFlags,
    strips: u8,
    implicit: bool,
) -> Option<Candidate<'a>> {
    let plan = &rules.plan;
    let intl = plan.international_prefix.as_bytes();
    let trunk = plan.trunk_prefix.as_bytes();
    let mk = |reading, head, tail| Candidate {
        reading,
        head,
        tail,
        flags,
        strips,
        implicit_outside_line: implicit,
        origin: Origin::Plan,
    };
    if t.is_empty() {
        return None;
    }
    if !intl.is_empty()
        && let Some(rest) = strip(t, intl)
        && !rest.is_empty()
    {
        return Some(international(rules, rest, flags, strips, implicit));
    }
    // Japanese international carriers also take the country code right after their code (001-1-212…).
    if after_carrier && !starts(t, trunk) {
        let mut c = international(rules, t, flags, strips, implicit);
        c.origin = Origin::CarrierGuess;
        return Some(c);
    }
    if !trunk.is_empty()
        && let Some(rest) = strip(t, trunk)
        && rest.len() >= 6
        // A national significant number never starts with 0 (that would be a carrier or international code).
        && rest.first() != Some(&b'0')
    {
        return Some(mk(Reading::National, cc, rest));
    }
    if implicit || after_carrier {
        // Implicit outside-line digits only escalate to international readings.
        return None;
    }
    if strips == 0 && rules.is_service(t) {
        return Some(mk(Reading::Service, &[], t));
    }
    let nanp_like = plan.calling_code == 1 && t.len() == 10;
    if (trunk.is_empty() && t.len() >= 6) || nanp_like {
        return Some(mk(Reading::National, cc, t));
    }
    let len = t.len() as u8;
    if strips == 0 && plan.extension_lengths.contains(&len) {
        return Some(mk(Reading::Internal, &[], t));
    }
    // A local number (no area code) has at most `MAX_LOCAL` digits: a longer string is not understood, never
    // a domestic number of low risk.
    if (5..=MAX_LOCAL).contains(&t.len()) && !starts(t, trunk) {
        return Some(mk(Reading::Local, &[], t));
    }
    Some(mk(Reading::Unknown, &[], t))
}

/// E.164 digits after an international prefix or `+`. The site's own country is domestic; a trunk prefix
/// written after the site's calling code ("+81 (0)3 …") is dropped.
#[inline]
fn international<'a>(
    rules: &'a SiteRules,
    e164: &'a [u8],
    flags: DialFlags,
    strips: u8,
    implicit: bool,
) -> Candidate<'a> {
    let cc = rules.cc.as_bytes();
    let mut reading = Reading::International;
    let (mut head, mut tail): (&[u8], &[u8]) = (&[], e164);
    if let Some(national) = strip(e164, cc)
        && countries::calling_code_bytes(e164).map(|c| c.0) == Some(rules.plan.calling_code)
    {
        reading = Reading::National;
        let trunk = rules.plan.trunk_prefix.as_bytes();
        let national = if !trunk.is_empty() && starts(national, trunk) {
            national.get(trunk.len()..).unwrap_or(national)
        } else {
            national
        };
        (head, tail) = (cc, national);
    }
    Candidate {
        reading,
        head,
        tail,
        flags,
        strips,
        implicit_outside_line: implicit,
        origin: Origin::E164,
    }
}

/// A reading of a dial string: its digits as two borrowed parts (a calling code and the rest, joined they are
/// what [`Normalised::digits`] holds, which cuts them at `MAX_DIGITS`), the flags saying how it was written,
/// and on the slow path the readings that compete with it by risk.
#[derive(Clone, Copy)]
pub(crate) struct Read<'a> {
    pub reading: Reading,
    pub head: &'a [u8],
    pub tail: &'a [u8],
    pub flags: DialFlags,
    pub rivals: Option<&'a Rivals<'a>>,
}

/// Reads a dial string and hands the reading to `f`, digits borrowed (from the dial string or the site's
/// calling code for what trunks send), so that nothing is copied that the caller does not need.
pub(crate) fn normalise_then<R>(
    rules: &SiteRules,
    dialed: &str,
    f: impl FnOnce(Read<'_>) -> R,
) -> R {
    // What trunks send almost always: bare ASCII digits, perhaps after a '+'. Read in place; this is what
    // `read_scanned` does with the scan of such a string (no symbols, no flags, nothing obfuscated).
    let raw = trim_ascii_white(dialed.as_bytes());
    let (plus, body) = match raw {
        [b'+', rest @ ..] => (true, rest),
        _ => (false, raw),
    };
    if !body.is_empty() && body.len() <= MAX_DIGITS && all_digits(body) {
        if !plus && let Some(c) = quick_national(rules, body) {
            return f(c.read(c.flags));
        }
        // Rivals are made on the slow path only.
        let mut slot = None;
        let c = if plus {
            let c = international(rules, body, DialFlags::default(), 0, false);
            if !might_hide(rules, &c, body) {
                return f(c.read(c.flags));
            }
            read_plus(rules, body, &mut slot)
        } else {
            read_site(rules, body, &mut slot)
        };
        let mut read = c.read(c.flags);
        read.rivals = slot.as_ref().filter(|r| !r.is_empty());
        return f(read);
    }
    // What PBXs send otherwise: ASCII digits, maybe a '+', separators or symbols, and nothing a URI or
    // percent-encoding needs. One pass over the bytes reads it; anything else takes the general path, which
    // gives the same answer for these strings (`plain_scan_agrees_with_the_general_path`).
    match scan_plain(dialed.as_bytes()) {
        Some((raw, scanned)) => {
            read_scanned(rules, raw, &scanned, None, DialFlags::default(), false, f)
        }
        None => normalise_general_then(rules, dialed, f),
    }
}

/// [`normalise_then`] of bare digits the slow way: every reading tried and the rivals made, whatever the
/// quick national reading and `read_plain` would answer (for tests that the shortcuts change nothing).
#[cfg(test)]
pub(crate) fn normalise_every_way_then<R>(
    rules: &SiteRules,
    digits: &str,
    f: impl FnOnce(Read<'_>) -> R,
) -> R {
    let d = digits.as_bytes();
    let mut slot = None;
    let c = read_site_every_way(rules, d, None, &mut slot);
    let mut read = c.read(c.flags);
    read.rivals = slot.as_ref().filter(|r| !r.is_empty());
    f(read)
}

/// Turns a dial string into a reading of its digits plus the flags saying how it was written.
#[cfg(test)]
pub(crate) fn normalise(rules: &SiteRules, dialed: &str) -> Normalised {
    normalise_then(rules, dialed, |r| Normalised::from(r))
}

#[cfg(test)]
impl From<Read<'_>> for Normalised {
    fn from(r: Read<'_>) -> Self {
        let rivals = r
            .rivals
            .map(|rs| {
                rs.iter()
                    .map(|x| {
                        let d = Digits::from_parts(x.head, x.tail);
                        (x.reading, d.as_str().to_string(), x.flags.union(rs.outer))
                    })
                    .collect()
            })
            .unwrap_or_default();
        Self {
            reading: r.reading,
            digits: Digits::from_parts(r.head, r.tail),
            flags: r.flags,
            rivals,
        }
    }
}

/// Every byte of `b` is an ASCII digit: eight bytes at a time (then the last eight), as dial strings are ten
/// to twenty bytes long. In a word: a byte of 0x80 or more sets its own high bit, one above '9' sets it in
/// `x + 0x46`, one below '0' in `x - 0x30` (the borrow it passes on only spoils bytes after one already found
/// wrong; no carry happens while no byte is 0x80 or more).
#[inline]
fn all_digits(b: &[u8]) -> bool {
    const ONES: u64 = u64::MAX / 0xFF;
    let word = |c: &[u8; 8]| {
        let x = u64::from_le_bytes(*c);
        (x | x.wrapping_add(ONES * 0x46) | x.wrapping_sub(ONES * 0x30)) & (ONES * 0x80) == 0
    };
    match b.last_chunk::<8>() {
        Some(last) => {
            b.chunks_exact(8)
                .all(|c| c.first_chunk::<8>().is_some_and(word))
                && word(last)
        }
        None => b.iter().all(u8::is_ascii_digit),
    }
}

/// Byte classes of [`scan_plain`], one table lookup per byte.
const B_JUNK: u8 = 0;
const B_DIGIT: u8 = 1;
const B_SYMBOL: u8 = 2;
const B_PLUS: u8 = 3;
const B_SEPARATOR: u8 = 4;
/// URI syntax, percent-encoding, non-ASCII: only the general path reads these.
const B_GENERAL: u8 = 5;

const BYTE_CLASS: [u8; 256] = {
    let mut t = [B_JUNK; 256];
    let mut b = 0usize;
    while b < 256 {
        t[b] = match b as u8 {
            b'0'..=b'9' => B_DIGIT,
            b'*' | b'#' => B_SYMBOL,
            b'+' => B_PLUS,
            b' ' | b'-' | b'.' | b'(' | b')' | b'/' | b'\t' => B_SEPARATOR,
            b'<' | b':' | b';' | b'%' | 0x80..=0xFF => B_GENERAL,
            _ => B_JUNK,
        };
        b += 1;
    }
    t
};

/// `str::trim` of an ASCII string: the ASCII `White_Space` characters (incl. vertical tab, which
/// `trim_ascii` keeps).
fn trim_ascii_white(mut b: &[u8]) -> &[u8] {
    let white = |c: &u8| matches!(c, b'\t'..=b'\r' | b' ');
    while let [first, rest @ ..] = b
        && white(first)
    {
        b = rest;
    }
    while let [rest @ .., last] = b
        && white(last)
    {
        b = rest;
    }
    b
}

/// The single-pass reading of a plain ASCII dial string (no URI, no `%`): what [`unwrap_uri`] and [`scan`]
/// give for it, computed in one pass. `None` when the general path is needed.
fn scan_plain(bytes: &[u8]) -> Option<(&[u8], Scanned)> {
    let raw = trim_ascii_white(bytes);
    let mut keyed = Digits::new();
    // Most trunks send bare digits, perhaps after a '+': checked without a branch per byte, copied at once.
    let (plus, body) = match raw {
        [b'+', rest @ ..] => (true, rest),
        _ => (false, raw),
    };
    if body.len() <= MAX_DIGITS
        && body.iter().fold(true, |all, b| all & b.is_ascii_digit())
        && let Some(dst) = keyed.buf.get_mut(..body.len())
    {
        dst.copy_from_slice(body);
        keyed.len = body.len() as u8;
        return Some((
            raw,
            Scanned {
                keyed,
                plus,
                flags: DialFlags::default(),
                obfuscated: false,
                symbols: false,
            },
        ));
    }
    let mut len = 0usize;
    let mut seen = [false; 6];
    let mut plus = false;
    let mut junk_plus = false;
    for &b in raw {
        let class = BYTE_CLASS[usize::from(b)];
        seen[usize::from(class)] = true;
        match class {
            B_DIGIT | B_SYMBOL => {
                if let Some(slot) = keyed.buf.get_mut(len) {
                    *slot = b;
                }
                len += 1;
            }
            B_PLUS => {
                // A '+' before any digit marks E.164; after one it is junk.
                if seen[usize::from(B_DIGIT)] {
                    junk_plus = true;
                } else {
                    plus = true;
                }
            }
            _ => {}
        }
    }
    if seen[usize::from(B_GENERAL)] {
        return None;
    }
    let overflow = len > MAX_DIGITS;
    keyed.len = len.min(MAX_DIGITS) as u8;
    let mut flags = DialFlags::default();
    if seen[usize::from(B_SEPARATOR)] {
        flags.insert(DialFlags::SEPARATORS);
    }
    let obfuscated = seen[usize::from(B_JUNK)] || junk_plus || overflow;
    if obfuscated {
        flags.insert(DialFlags::JUNK_CHARACTERS);
    }
    Some((
        raw,
        Scanned {
            keyed,
            plus,
            flags,
            obfuscated,
            symbols: seen[usize::from(B_SYMBOL)],
        },
    ))
}

/// The general path: URIs, percent-encoding, non-ASCII text.
#[cfg(test)]
fn normalise_general(rules: &SiteRules, dialed: &str) -> Normalised {
    normalise_general_then(rules, dialed, |r| Normalised::from(r))
}

/// [`normalise_general`], handing the reading to `f`.
fn normalise_general_then<R>(rules: &SiteRules, dialed: &str, f: impl FnOnce(Read<'_>) -> R) -> R {
    normalise_context_then(rules, dialed, None, f)
}

/// Reads a dial string in the `phone-context` given (as it appears in a URI: "+1", "+44-20", a domain name),
/// which replaces any the string carries; `None`: the string's own, if any. Another country's context makes
/// the digits that country's number (flagged `FOREIGN_CONTEXT`); the site's own, or a domain name, keeps the
/// site's plan.
pub(crate) fn normalise_in_context_then<R>(
    rules: &SiteRules,
    dialed: &str,
    phone_context: Option<&str>,
    f: impl FnOnce(Read<'_>) -> R,
) -> R {
    match phone_context {
        None => normalise_then(rules, dialed, f),
        Some(ctx) => normalise_context_then(rules, dialed, Some(ctx), f),
    }
}

/// [`normalise_general_then`], the `phone-context` replaced by `context` when given.
fn normalise_context_then<R>(
    rules: &SiteRules,
    dialed: &str,
    context: Option<&str>,
    f: impl FnOnce(Read<'_>) -> R,
) -> R {
    let un = unwrap_uri(dialed);
    let context = context
        .or(un.context)
        .and_then(PhoneContext::parse)
        .filter(|c| c.code != rules.plan.calling_code);
    let mut flags = DialFlags::default();
    if un.uri {
        flags.insert(DialFlags::URI_FORM);
    }
    let mut decoded = Vec::new();
    let percent = un.number.contains('%') && percent_decode(un.number, &mut decoded);
    let scanned = if percent {
        flags.insert(DialFlags::PERCENT_ENCODED);
        scan(&decoded)
    } else {
        scan(un.number.as_bytes())
    };
    let raw: &[u8] = if percent {
        &decoded
    } else {
        un.number.as_bytes()
    };
    read_scanned(
        rules,
        raw.trim_ascii_start(),
        &scanned,
        context.as_ref(),
        flags,
        percent,
        f,
    )
}

/// Everything after the scan: feature codes, symbols, the dial plan. `raw` is the dial string as written
/// (after URI syntax and percent-encoding), for the feature-code check.
fn read_scanned<R>(
    rules: &SiteRules,
    raw: &[u8],
    scanned: &Scanned,
    foreign_context: Option<&PhoneContext>,
    mut flags: DialFlags,
    percent: bool,
    f: impl FnOnce(Read<'_>) -> R,
) -> R {
    flags.insert(scanned.flags);
    let mut obfuscated = scanned.obfuscated || percent;
    let keyed = scanned.keyed.as_bytes();

    let only: Digits;
    let d: &[u8] = if scanned.symbols {
        // Feature codes: "*72" + number forwards calls there (a classic fraud path): classify the number.
        // The code must stand as written: "*+82…" is a symbol before +82, not "*82" before a number.
        let mut body: &[u8] = keyed;
        let symbol_first = matches!(keyed.first(), Some(b'*' | b'#'));
        for code in rules.feature_codes.iter().filter(|_| symbol_first) {
            if let Some(rest) = strip(keyed, code.as_bytes())
                && raw.starts_with(code.as_bytes())
                && rest.iter().any(u8::is_ascii_digit)
            {
                flags.insert(DialFlags::FEATURE_CODE);
                body = rest;
                break;
            }
        }
        only = only_digits(body);
        obfuscated |= symbol_flags(body, &mut flags);
        only.as_bytes()
    } else {
        keyed
    };
    let led_by_symbol = flags.contains(DialFlags::LEADING_SYMBOL);

    if d.is_empty() {
        if obfuscated {
            flags.insert(DialFlags::OBFUSCATED);
        }
        return f(Read {
            reading: Reading::Unknown,
            head: &[],
            tail: &[],
            flags,
            rivals: None,
        });
    }

    let in_context: Digits;
    // Rivals are made on the slow path only; `None` costs nothing here.
    let mut slot = None;
    let candidate = if scanned.plus {
        read_plus(rules, d, &mut slot)
    } else if let Some(ctx) = foreign_context {
        // Another country's number, never the site's (nor the site's emergency number).
        in_context = in_foreign_context(d, ctx);
        let main = international(
            rules,
            in_context.as_bytes(),
            DialFlags::FOREIGN_CONTEXT,
            0,
            false,
        );
        // A PBX that ignores the context dials the digits by the site's plan: where that leads abroad, it
        // competes (with its own rivals) by risk.
        let rivals = slot.insert(Rivals::new());
        let site = match read_plain(rules, d) {
            Some(c) => c,
            None => read_every_way(rules, d, rivals),
        };
        hidden_rivals(rules, &site, d, rivals);
        if site.reading == Reading::International {
            rivals.push(Rival::of(&site, prefix_before(&site, d)));
        }
        rivals.settle(&main, 0);
        main
    } else if let Some(c) = quick_national(rules, d) {
        c
    } else {
        read_site(rules, d, &mut slot)
    };

    // A symbol-led short code is a PBX feature code, not an obfuscated number (unless it is an emergency).
    if led_by_symbol
        && matches!(candidate.reading, Reading::Internal | Reading::Unknown)
        && d.len() <= 4
    {
        flags.insert(DialFlags::FEATURE_CODE);
        return f(Read {
            reading: Reading::Internal,
            head: keyed,
            tail: &[],
            flags,
            rivals: None,
        });
    }
    let mut outer = flags;
    if obfuscated {
        outer.insert(DialFlags::OBFUSCATED);
    }
    flags.insert(candidate.flags);
    flags.insert(outer);
    let mut read = candidate.read(flags);
    if let Some(rivals) = slot.as_mut() {
        rivals.outer = outer;
    }
    read.rivals = slot.as_ref().filter(|r| !r.is_empty());
    f(read)
}

/// The decimal digits of a calling code (1 to 3 digits) in `buf`, without allocating.
fn code_digits(code: u16, buf: &mut [u8; 3]) -> &[u8] {
    let (h, t, u) = (code / 100 % 10, code / 10 % 10, code % 10);
    *buf = [b'0' + h as u8, b'0' + t as u8, b'0' + u as u8];
    let skip = if h > 0 {
        0
    } else if t > 0 {
        1
    } else {
        2
    };
    buf.get(skip..).unwrap_or(&[])
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn same_candidate(a: &Candidate<'_>, b: &Candidate<'_>) -> bool {
        a.reading == b.reading
            && a.digits().as_bytes() == b.digits().as_bytes()
            && a.flags == b.flags
            && a.strips == b.strips
            && a.implicit_outside_line == b.implicit_outside_line
    }

    /// The test sites, built once (the proptests ask for them in every case).
    fn sites() -> &'static [SiteRules] {
        static SITES: std::sync::OnceLock<Vec<SiteRules>> = std::sync::OnceLock::new();
        SITES.get_or_init(build_sites)
    }

    fn build_sites() -> Vec<SiteRules> {
        let mut v: Vec<SiteRules> = ["JP", "US", "GB", "DE", "AU", "FR", "RU", "KR", "BR", "IT"]
            .iter()
            .filter_map(|c| plan_for_country(c))
            .map(|p| SiteRules::new(p, default_feature_codes()))
            .collect();
        let mut with_outside = DialPlan::japan();
        with_outside.outside_line = Some("9".into());
        v.push(SiteRules::new(with_outside, default_feature_codes()));
        let mut odd = DialPlan::japan();
        odd.carrier_codes.push(String::new());
        odd.caller_id_prefixes.push("9".into());
        v.push(SiteRules::new(odd, default_feature_codes()));
        v
    }

    fn dialed() -> impl Strategy<Value = String> {
        let head = prop::sample::select(vec![
            "", "0", "00", "010", "0010", "001", "0033", "0033010", "184", "186", "1840", "0184",
            "9", "90", "9010", "011", "1", "8", "810", "0011", "000", "0110", "0119", "0911",
            "112", "9112", "81", "0081", "01081", "0120", "090", "03", "04", "06", "07", "020",
        ]);
        (head, "[0-9]{0,14}").prop_map(|(h, t)| format!("{h}{t}"))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]
        #[test]
        fn fast_path_agrees_with_every_way(d in dialed()) {
            for rules in sites() {
                if let Some(fast) = read_plain(rules, d.as_bytes()) {
                    let mut rivals = Rivals::new();
                    let full = read_every_way(rules, d.as_bytes(), &mut rivals);
                    prop_assert!(
                        same_candidate(&fast, &full),
                        "{} {d}: fast {:?} {} vs full {:?} {}",
                        rules.plan.country,
                        fast.reading,
                        fast.digits().as_str(),
                        full.reading,
                        full.digits().as_str()
                    );
                    prop_assert!(
                        rivals_never_win(rules, &fast, &rivals),
                        "{} {d}: the fast answer has rivals that may win",
                        rules.plan.country
                    );
                }
            }
        }
    }

    /// The rivals of a reading the fast path gave cannot beat it: there are none, or they are all another
    /// country's prefix against a real national number of the site (Japan's classes; `Numbering` ignores
    /// such rivals).
    fn rivals_never_win(rules: &SiteRules, fast: &Candidate<'_>, rivals: &Rivals<'_>) -> bool {
        rivals.is_empty()
            || (fast.reading == Reading::National
                && rules.plan.calling_code == 81
                && rivals
                    .iter()
                    .all(|r| r.flags.contains(DialFlags::FOREIGN_PREFIX))
                && std::str::from_utf8(fast.tail).is_ok_and(|t| {
                    crate::class::japan_class(t) != crate::types::NumberClass::Unknown
                }))
    }

    fn same_normalised(a: &Normalised, b: &Normalised) -> bool {
        a.reading == b.reading
            && a.digits.as_bytes() == b.digits.as_bytes()
            && a.flags == b.flags
            && a.rivals == b.rivals
    }

    /// Dial strings made of what the one-pass scan reads (and a few bytes that send it to the general path).
    fn plain_dialed() -> impl Strategy<Value = String> {
        let piece = prop::sample::select(vec![
            "0", "1", "2", "3", "4", "5", "7", "8", "9", "00", "010", "0033", "184", "232", "81",
            "110", "119", "*", "#", "+", " ", "-", ".", "(", ")", "/", "\t", "\n", "\u{b}", "\r",
            "a", "x", "=", "*72", "*21*", "**21*", "#31#", "*67", "%", ";", ":", "<", "\u{a0}",
            "１",
        ]);
        prop::collection::vec(piece, 0..24).prop_map(|v| v.concat())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]
        #[test]
        fn plain_scan_agrees_with_the_general_path(d in plain_dialed()) {
            for rules in sites() {
                let fast = normalise(rules, &d);
                let general = normalise_general(rules, &d);
                prop_assert!(
                    same_normalised(&fast, &general),
                    "{} {d:?}: fast {:?} {} {:?} vs general {:?} {} {:?}",
                    rules.plan.country,
                    fast.reading,
                    fast.digits.as_str(),
                    fast.flags,
                    general.reading,
                    general.digits.as_str(),
                    general.flags
                );
            }
        }
    }

    #[test]
    fn word_digit_check_agrees_with_a_byte_loop() {
        let mut x = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for len in 0..=49usize {
            for b in 0..=255u8 {
                for _ in 0..6 {
                    let mut s: Vec<u8> = (0..len).map(|_| b'0' + (next() % 10) as u8).collect();
                    let r = next();
                    if len > 0 {
                        s[r as usize % len] = b;
                        if r.is_multiple_of(3) {
                            s[(r >> 8) as usize % len] = (r >> 16) as u8;
                        }
                    }
                    assert_eq!(all_digits(&s), s.iter().all(u8::is_ascii_digit), "{s:?}");
                }
            }
        }
    }

    /// Every three-digit start at every length from 3 to 20, followed by digits chosen to meet each prefix the
    /// plans know: wherever the quick reading answers, it is what the tests of `read_plain` one by one give,
    /// and what trying every reading gives.
    #[test]
    fn quick_national_reading_is_the_plain_reading() {
        let fills = [
            "0", "1", "9", "00", "010", "0033", "0036", "001", "0091", "184", "186", "011", "0011",
            "000", "112", "911", "110", "7", "810", "8",
        ];
        let mut answered = 0;
        for rules in sites() {
            for start in 0..1000 {
                for fill in fills {
                    for len in 3..=20 {
                        let mut d = format!("{start:03}{fill}");
                        while d.len() < len {
                            d.push_str(fill);
                        }
                        d.truncate(len);
                        let Some(quick) = quick_national(rules, d.as_bytes()) else {
                            continue;
                        };
                        answered += 1;
                        let checked = read_plain_checked(rules, d.as_bytes());
                        let mut rivals = Rivals::new();
                        let full = read_every_way(rules, d.as_bytes(), &mut rivals);
                        // Where another country's prefix may begin the digits, `read_plain_checked` leaves
                        // them to the full enumeration; the quick answer stands because no rival can win.
                        assert!(
                            checked.is_some_and(|c| same_candidate(&quick, &c))
                                || (checked.is_none() && rules.rival_start.may_begin(d.as_bytes())),
                            "{} {d}",
                            rules.plan.country
                        );
                        assert!(same_candidate(&quick, &full), "{} {d}", rules.plan.country);
                        assert!(
                            rivals_never_win(rules, &quick, &rivals),
                            "{} {d}: rivals may win",
                            rules.plan.country
                        );
                    }
                }
            }
        }
        assert!(answered > 100_000, "{answered}");
        let jp = SiteRules::new(DialPlan::japan(), default_feature_codes());
        for d in ["0312345678", "09012345678", "0120123456", "05012345678"] {
            assert!(quick_national(&jp, d.as_bytes()).is_some(), "{d}");
        }
        for d in [
            "0102327612345",
            "0033012345678",
            "0184312345678",
            "0312",
            "110",
        ] {
            assert!(quick_national(&jp, d.as_bytes()).is_none(), "{d}");
        }
    }

    #[test]
    fn plain_scan_reads_the_trunk_forms_and_declines_the_rest() {
        for d in [
            "0312345678",
            "+1 212 555 0123",
            "#0102327612345",
            " 03-1234-5678\u{b}",
            "*72 0312",
        ] {
            assert!(scan_plain(d.as_bytes()).is_some(), "{d:?}");
        }
        for d in [
            "tel:+232",
            "%23010",
            "sip:1@x",
            "０３",
            "03\u{a0}1234",
            "<0312>",
            "03;x",
        ] {
            assert!(scan_plain(d.as_bytes()).is_none(), "{d:?}");
        }
    }

    #[test]
    fn calling_code_digits() {
        let mut b = [0u8; 3];
        assert_eq!(code_digits(1, &mut b), b"1");
        assert_eq!(code_digits(44, &mut b), b"44");
        assert_eq!(code_digits(232, &mut b), b"232");
    }

    #[test]
    fn fast_path_takes_the_common_forms() {
        let jp = SiteRules::new(DialPlan::japan(), default_feature_codes());
        for d in [
            "0312345678",
            "09012345678",
            "0120123456",
            "010442079460000",
            "0102327612345",
        ] {
            assert!(read_plain(&jp, d.as_bytes()).is_some(), "{d}");
        }
        // Forms that need every reading tried.
        for d in [
            "0033010232761234",
            "184010232761234",
            "0110",
            "9010442079460000",
        ] {
            assert!(read_plain(&jp, d.as_bytes()).is_none(), "{d}");
        }
    }
}
