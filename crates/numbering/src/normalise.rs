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
    fn danger(self) -> u8 {
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
#[derive(Clone, Copy)]
pub(crate) struct Normalised {
    pub reading: Reading,
    pub digits: Digits,
    pub flags: DialFlags,
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
}

/// Per three leading digits `xyz` (index `100x + 10y + z`), the least length from which every digit string
/// starting so is read by [`read_plain`] as the national number after the trunk prefix, without trying the
/// other readings; 0 where the first three digits do not decide it. The conditions are those `read_plain`
/// tests, each one decided by `xyz` alone or not used (see [`QuickNational::new`]);
/// `quick_national_reading_is_the_plain_reading` checks every start at every length against `read_plain`.
#[derive(Clone, PartialEq, Eq)]
struct QuickNational([u8; 1000]);

impl std::fmt::Debug for QuickNational {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let starts = self.0.iter().filter(|l| **l != 0).count();
        write!(f, "QuickNational({starts} starts)")
    }
}

/// `p` could be a prefix of a string that starts with `known` (they agree wherever both have a digit).
fn could_prefix(p: &[u8], known: &[u8]) -> bool {
    p.iter().zip(known).all(|(a, b)| a == b)
}

impl QuickNational {
    fn new(plan: &DialPlan, emergency_max: usize, outside_line_configured: bool) -> Self {
        let mut t = [0u8; 1000];
        let trunk = plan.trunk_prefix.as_bytes();
        let intl = plan.international_prefix.as_bytes();
        // `read_plain` declines when an outside line is configured; a trunk prefix longer than two digits
        // would leave no digit of the national number among the three.
        if outside_line_configured || trunk.is_empty() || trunk.len() > 2 {
            return Self(t);
        }
        for (i, slot) in t.iter_mut().enumerate() {
            let xyz = [
                b'0' + (i / 100) as u8,
                b'0' + (i / 10 % 10) as u8,
                b'0' + (i % 10) as u8,
            ];
            // No caller-ID prefix and no carrier code starts the string (else `read_plain` declines).
            if plan
                .caller_id_prefixes
                .iter()
                .chain(&plan.carrier_codes)
                .any(|p| could_prefix(p.as_bytes(), &xyz))
            {
                continue;
            }
            // After an implicit outside-line digit, nothing that leads abroad: no international prefix, carrier
            // code or caller-ID prefix can start the rest (its first two digits are known), and the rest is
            // longer than `could_escalate`'s limit (below).
            let implicit = xyz[0] == b'0' || xyz[0] == b'9';
            if implicit
                && std::iter::once(&plan.international_prefix)
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
            *slot = u8::try_from(least).unwrap_or(0);
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
            [a @ b'0'..=b'9'] => {
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

/// Default dial plan for a country: international and trunk prefixes as dialed there.
pub fn plan_for_country(iso2: &str) -> Option<DialPlan> {
    let iso2 = iso2.trim().to_ascii_uppercase();
    if iso2 == "JP" {
        return Some(DialPlan::japan());
    }
    let calling_code = countries::code_of_iso2(&iso2)?;
    let (intl, trunk): (&str, &str) = match calling_code {
        1 => ("011", "1"),
        7 => ("810", "8"),
        61 => ("0011", "0"),
        _ => match iso2.as_str() {
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
    };
    Some(DialPlan {
        country: iso2,
        calling_code,
        international_prefix: intl.into(),
        trunk_prefix: trunk.into(),
        outside_line: None,
        carrier_codes: Vec::new(),
        caller_id_prefixes: Vec::new(),
        extension_lengths: 2..=4,
    })
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
                .chain(&plan.carrier_codes)
                .chain(&plan.caller_id_prefixes),
        );
        let plain_pairs = pair_mask(plan.carrier_codes.iter().chain(&plan.caller_id_prefixes));
        let outside_line_configured = plan.outside_line.as_deref().is_some_and(|s| !s.is_empty());
        Self {
            quick: QuickNational::new(&plan, emergency_max, outside_line_configured),
            cc: plan.calling_code.to_string(),
            escalate_pairs,
            plain_pairs,
            outside_line_configured,
            plan,
            feature_codes,
            emergency,
            service: service_numbers(&iso2),
            emergency_max,
        }
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

/// The dial string with URI syntax removed: the number part and an optional `phone-context` calling code.
struct Unwrapped<'a> {
    number: &'a str,
    context_cc: Option<u16>,
    uri: bool,
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
            context_cc: None,
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
    let mut context_cc = None;
    for p in params.split(';') {
        let Some((name, value)) = p.split_once('=') else {
            continue;
        };
        if name.trim().eq_ignore_ascii_case("phone-context") {
            let value = value.trim();
            if let Some(digits) = value.strip_prefix('+') {
                let digits: String = digits.chars().filter(char::is_ascii_digit).collect();
                context_cc = countries::calling_code(&digits).map(|(c, _)| c);
            }
        }
    }
    Unwrapped {
        number,
        context_cc,
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

/// Applies the site's dial plan to bare digits, returning the most dangerous plausible reading.
fn read_site<'a>(rules: &'a SiteRules, d: &'a [u8]) -> Candidate<'a> {
    read_plain(rules, d).unwrap_or_else(|| read_every_way(rules, d))
}

/// The answer of [`read_every_way`] for the common case, found without trying every reading: no outside-line
/// digit is configured, the digits start with no caller-ID prefix and no carrier code, and neither implicit
/// outside-line digit (0, 9) could lead to an international or emergency reading. Then every reading but the
/// plain one is impossible or loses, so the plain one is the answer. `None`: not that case, try every way.
/// (`fast_path_agrees_with_every_way` checks this against the full enumeration.) The commonest answer, the
/// national number after the trunk prefix, is decided by the first three digits and the length first.
#[inline]
fn read_plain<'a>(rules: &'a SiteRules, d: &'a [u8]) -> Option<Candidate<'a>> {
    quick_national(rules, d).or_else(|| read_plain_checked(rules, d))
}

/// The national reading of `d` when [`QuickNational`] decides it.
#[inline]
fn quick_national<'a>(rules: &'a SiteRules, d: &'a [u8]) -> Option<Candidate<'a>> {
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
    let least = *rules
        .quick
        .0
        .get(usize::from(x) * 100 + usize::from(y) * 10 + usize::from(z))?;
    if least == 0 || d.len() < usize::from(least) {
        return None;
    }
    Some(Candidate {
        reading: Reading::National,
        head: rules.cc.as_bytes(),
        tail: d.get(rules.plan.trunk_prefix.len()..)?,
        flags: DialFlags::default(),
        strips: 0,
        implicit_outside_line: false,
    })
}

/// [`read_plain`] by its tests one after the other.
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
/// keeps the most dangerous; an emergency reading after harmless prefixes wins at once.
fn read_every_way<'a>(rules: &'a SiteRules, d: &'a [u8]) -> Candidate<'a> {
    let plan = &rules.plan;
    let cc = rules.cc.as_bytes();
    let mut best = Candidate {
        reading: Reading::Unknown,
        head: &[],
        tail: d,
        flags: DialFlags::default(),
        strips: 0,
        implicit_outside_line: false,
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
        // An implicit outside-line digit only matters when what follows could lead abroad or to an emergency.
        if *implicit
            && let Some(o) = ol
            && let Some(after) = strip(d, o.as_bytes())
            && !could_escalate(rules, after)
        {
            continue;
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
                    return Candidate {
                        reading: Reading::Emergency,
                        head: &[],
                        tail: rest2,
                        flags: flags2,
                        strips: strips2,
                        implicit_outside_line: *implicit,
                    };
                }
                let mut consider = |c: Candidate<'a>| {
                    if c.better_than(&best) {
                        best = c;
                    }
                };
                // Without a carrier code.
                if let Some(c) = terminal(rules, cc, rest2, false, flags2, strips2, *implicit) {
                    consider(c);
                }
                // Carrier codes start with 00 in Japan; skip the list unless the first digit can match.
                let first = rest2.first().copied();
                for code in &plan.carrier_codes {
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
                }
            }
        }
    }
    best
}

/// True when `t` starts with something that can precede an international or emergency number.
fn could_escalate(rules: &SiteRules, t: &[u8]) -> bool {
    let plan = &rules.plan;
    if t.len() <= rules.emergency_max + 3 {
        return true;
    }
    might_start(rules.escalate_pairs, t)
        && (starts(t, plan.international_prefix.as_bytes())
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
        return Some(international(rules, t, flags, strips, implicit));
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
    if t.len() >= 5 && !starts(t, trunk) {
        return Some(mk(Reading::Local, &[], t));
    }
    Some(mk(Reading::Unknown, &[], t))
}

/// E.164 digits after an international prefix or `+`. The site's own country is domestic; a trunk prefix
/// written after the site's calling code ("+81 (0)3 …") is dropped.
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
    }
}

/// A reading of a dial string: its digits as two borrowed parts (a calling code and the rest, joined they are
/// what [`Normalised::digits`] holds, which cuts them at `MAX_DIGITS`), and the flags saying how it was written.
#[derive(Clone, Copy)]
pub(crate) struct Read<'a> {
    pub reading: Reading,
    pub head: &'a [u8],
    pub tail: &'a [u8],
    pub flags: DialFlags,
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
        let c = if plus {
            international(rules, body, DialFlags::default(), 0, false)
        } else if let Some(c) = quick_national(rules, body) {
            c
        } else {
            read_site(rules, body)
        };
        return f(c.read(c.flags));
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

/// Turns a dial string into a reading of its digits plus the flags saying how it was written.
#[cfg(test)]
pub(crate) fn normalise(rules: &SiteRules, dialed: &str) -> Normalised {
    normalise_then(rules, dialed, |r| Normalised::from(r))
}

#[cfg(test)]
impl From<Read<'_>> for Normalised {
    fn from(r: Read<'_>) -> Self {
        Self {
            reading: r.reading,
            digits: Digits::from_parts(r.head, r.tail),
            flags: r.flags,
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
    let un = unwrap_uri(dialed);
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
        un.context_cc,
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
    context_cc: Option<u16>,
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
        });
    }

    let in_context: Digits;
    let candidate = if scanned.plus {
        Some(international(rules, d, DialFlags::default(), 0, false))
    } else if let Some(ctx) = context_cc.filter(|c| *c != rules.plan.calling_code) {
        // A local number in another country's context: drop its trunk '0' and prefix the country code.
        let national = d.strip_prefix(b"0").unwrap_or(d);
        let mut code = [0u8; 3];
        let code = code_digits(ctx, &mut code);
        in_context = Digits::from_parts(code, national);
        Some(international(
            rules,
            in_context.as_bytes(),
            DialFlags::default(),
            0,
            false,
        ))
    } else {
        None
    };
    let candidate = candidate.unwrap_or_else(|| read_site(rules, d));

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
        });
    }
    flags.insert(candidate.flags);
    if obfuscated {
        flags.insert(DialFlags::OBFUSCATED);
    }
    f(candidate.read(flags))
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

    fn sites() -> Vec<SiteRules> {
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
            for rules in &sites() {
                if let Some(fast) = read_plain(rules, d.as_bytes()) {
                    let full = read_every_way(rules, d.as_bytes());
                    prop_assert!(
                        same_candidate(&fast, &full),
                        "{} {d}: fast {:?} {} vs full {:?} {}",
                        rules.plan.country,
                        fast.reading,
                        fast.digits().as_str(),
                        full.reading,
                        full.digits().as_str()
                    );
                }
            }
        }
    }

    fn same_normalised(a: &Normalised, b: &Normalised) -> bool {
        a.reading == b.reading && a.digits.as_bytes() == b.digits.as_bytes() && a.flags == b.flags
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
            for rules in &sites() {
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
        for rules in &sites() {
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
                        let full = read_every_way(rules, d.as_bytes());
                        assert!(
                            checked.is_some_and(|c| same_candidate(&quick, &c)),
                            "{} {d}",
                            rules.plan.country
                        );
                        assert!(same_candidate(&quick, &full), "{} {d}", rules.plan.country);
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
