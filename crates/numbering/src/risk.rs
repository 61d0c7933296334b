//! Risk tiers of destinations: the embedded default list (curated IRSF hot spots with their sources, the tfps
//! global blacklist and tfps country risk, see data/ and scripts/gen_irsf_tables.py) and the user's own allow
//! and deny lists (CSV of prefixes or exact numbers) loaded at run time.

use std::sync::{Arc, OnceLock};

use crate::error::NumberingError;
use crate::prefix::{DigitKey, PrefixTable};
use crate::types::{DialFlags, NumberClass, RiskTier, Scope};

const TFPS_COUNTRIES: &str = include_str!("../data/irsf_country_risk.csv");
const TFPS_BLACKLIST: &str = include_str!("../data/irsf_blacklist.txt");

const SRC_2015: &str = "2015 Japan PBX fraud wave (public incident reports)";
const SRC_HISTORIC: &str = "historic IRSF favourite (public industry fraud reports)";
const SRC_NETWORK: &str = "international network billed at several USD/min (ITU E.164 assignment)";
const SRC_WANGIRI: &str = "Caribbean NANP code used in wangiri/callback scams (public reports)";

/// Curated default entries: (E.164 prefix, tier, what, source).
pub const HOT_SPOTS: &[(&str, RiskTier, &str, &str)] = &[
    ("232", RiskTier::Critical, "Sierra Leone", SRC_2015),
    ("224", RiskTier::Critical, "Guinea", SRC_2015),
    ("252", RiskTier::Critical, "Somalia", SRC_2015),
    ("386", RiskTier::Critical, "Slovenia", SRC_2015),
    ("371", RiskTier::Critical, "Latvia", SRC_2015),
    (
        "37190",
        RiskTier::Critical,
        "Latvia premium rate",
        SRC_HISTORIC,
    ),
    ("53", RiskTier::Critical, "Cuba", SRC_HISTORIC),
    (
        "37090",
        RiskTier::Critical,
        "Lithuania premium rate",
        SRC_HISTORIC,
    ),
    (
        "37091",
        RiskTier::Critical,
        "Lithuania premium rate",
        SRC_HISTORIC,
    ),
    ("216", RiskTier::Critical, "Tunisia", SRC_HISTORIC),
    ("870", RiskTier::Critical, "Inmarsat satellite", SRC_NETWORK),
    (
        "881",
        RiskTier::Critical,
        "GMSS satellite (Iridium, Globalstar)",
        SRC_NETWORK,
    ),
    (
        "882",
        RiskTier::Critical,
        "International Networks",
        SRC_NETWORK,
    ),
    (
        "883",
        RiskTier::Critical,
        "International Networks",
        SRC_NETWORK,
    ),
    (
        "979",
        RiskTier::Critical,
        "International Premium Rate Service",
        SRC_NETWORK,
    ),
    ("888", RiskTier::High, "UN OCHA network", SRC_NETWORK),
    ("991", RiskTier::High, "ITPCS trial network", SRC_NETWORK),
    (
        "878",
        RiskTier::High,
        "Universal Personal Telecommunications",
        SRC_NETWORK,
    ),
    ("245", RiskTier::High, "Guinea-Bissau", SRC_HISTORIC),
    ("231", RiskTier::High, "Liberia", SRC_HISTORIC),
    ("220", RiskTier::High, "Gambia", SRC_HISTORIC),
    ("239", RiskTier::High, "São Tomé and Príncipe", SRC_HISTORIC),
    ("269", RiskTier::High, "Comoros", SRC_HISTORIC),
    ("291", RiskTier::High, "Eritrea", SRC_HISTORIC),
    ("247", RiskTier::High, "Ascension Island", SRC_HISTORIC),
    ("290", RiskTier::High, "Saint Helena", SRC_HISTORIC),
    ("246", RiskTier::High, "Diego Garcia", SRC_HISTORIC),
    ("674", RiskTier::High, "Nauru", SRC_HISTORIC),
    ("682", RiskTier::High, "Cook Islands", SRC_HISTORIC),
    ("683", RiskTier::High, "Niue", SRC_HISTORIC),
    ("688", RiskTier::High, "Tuvalu", SRC_HISTORIC),
    ("690", RiskTier::High, "Tokelau", SRC_HISTORIC),
    ("686", RiskTier::High, "Kiribati", SRC_HISTORIC),
    ("677", RiskTier::High, "Solomon Islands", SRC_HISTORIC),
    ("678", RiskTier::High, "Vanuatu", SRC_HISTORIC),
    ("675", RiskTier::High, "Papua New Guinea", SRC_HISTORIC),
    ("500", RiskTier::High, "Falkland Islands", SRC_HISTORIC),
    ("1268", RiskTier::High, "Antigua and Barbuda", SRC_WANGIRI),
    (
        "1284",
        RiskTier::High,
        "British Virgin Islands",
        SRC_WANGIRI,
    ),
    ("1473", RiskTier::High, "Grenada", SRC_WANGIRI),
    ("1649", RiskTier::High, "Turks and Caicos", SRC_WANGIRI),
    ("1664", RiskTier::High, "Montserrat", SRC_WANGIRI),
    ("1767", RiskTier::High, "Dominica", SRC_WANGIRI),
    ("1809", RiskTier::High, "Dominican Republic", SRC_WANGIRI),
    ("1876", RiskTier::High, "Jamaica", SRC_WANGIRI),
];

/// One entry of a user's list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRule {
    pub allow: bool,
    pub exact: bool,
    /// E.164 digits without '+'.
    pub number: String,
    pub note: String,
    /// "file:line" where it was read.
    pub origin: String,
}

/// Parses a user risk list. Format, one rule a line (header and `#` comments allowed):
/// `action,match,number[,note]` with action `allow`|`deny`, match `prefix`|`exact`, number as E.164 digits
/// (a leading `+` is fine). Any bad line is an error naming file and line: a list half-loaded is a list that lies.
pub fn parse_user_list(text: &str, source: &str) -> Result<Vec<UserRule>, NumberingError> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line_no = i as u64 + 1;
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = t.splitn(4, ',').map(str::trim).collect();
        if i == 0
            && fields
                .first()
                .is_some_and(|f| f.eq_ignore_ascii_case("action"))
        {
            continue;
        }
        let bad = |why: String| NumberingError::Table {
            file: source.to_string(),
            line: line_no,
            why,
        };
        let (Some(action), Some(kind), Some(number)) =
            (fields.first(), fields.get(1), fields.get(2))
        else {
            return Err(bad(
                "expected action,match,number[,note] (e.g. deny,prefix,+232)".into(),
            ));
        };
        let allow = match action.to_ascii_lowercase().as_str() {
            "allow" => true,
            "deny" => false,
            other => return Err(bad(format!("action '{other}' is neither allow nor deny"))),
        };
        let exact = match kind.to_ascii_lowercase().as_str() {
            "exact" => true,
            "prefix" => false,
            other => return Err(bad(format!("match '{other}' is neither prefix nor exact"))),
        };
        let digits = number.strip_prefix('+').unwrap_or(number);
        if digits.is_empty() || digits.len() > 15 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad(format!(
                "'{number}' is not an E.164 number or prefix (1-15 digits, optional +)"
            )));
        }
        out.push(UserRule {
            allow,
            exact,
            number: digits.to_string(),
            note: fields.get(3).map(|s| s.to_string()).unwrap_or_default(),
            origin: format!("{source}:{line_no}"),
        });
    }
    Ok(out)
}

/// Why a tier was given, written once when the lists are loaded and shared by every destination that gets it
/// (`Arc<str>`: a classification clones a pointer, it does not format or allocate). `raised` is the same words
/// with the note that an obfuscated dial string raised the tier to high; `foreign` and `hidden` the same with
/// the note that the number was dialed with another country's international prefix, or hidden after the
/// site's own country code: `[0]` for a tier already high or above, `[1]` raising it to high.
#[derive(Debug, Clone)]
struct Reason {
    text: Arc<str>,
    raised: Arc<str>,
    foreign: [Arc<str>; 2],
    hidden: [Arc<str>; 2],
}

const FOREIGN_WORDS: &str = "dialed with another country's international prefix (00, 011, 810, 0011...), not this site's: the way prefix-filter probes are written";
const HIDDEN_WORDS: &str = "an international call hidden after the site's own country code (+81 10...): dialed as it stands, it leaves the country";

impl Reason {
    fn new(text: String) -> Self {
        let noted = |words: &str| -> [Arc<str>; 2] {
            [
                format!("{text}; {words}").into(),
                format!("{text}; raised to high: {words}").into(),
            ]
        };
        Self {
            raised: format!("{text}; raised to high: the dial string was obfuscated").into(),
            foreign: noted(FOREIGN_WORDS),
            hidden: noted(HIDDEN_WORDS),
            text: text.into(),
        }
    }

    /// For tiers at or above high, which nothing raises.
    fn critical(text: String) -> Self {
        let noted = |words: &str| -> [Arc<str>; 2] {
            let t: Arc<str> = format!("{text}; {words}").into();
            [t.clone(), t]
        };
        let foreign = noted(FOREIGN_WORDS);
        let hidden = noted(HIDDEN_WORDS);
        let text: Arc<str> = text.into();
        Self {
            raised: text.clone(),
            text,
            foreign,
            hidden,
        }
    }
}

#[derive(Debug, Clone)]
struct Entry {
    tier: RiskTier,
    reason: Reason,
}

/// A curated hot spot, with the reasons used when the number there is also premium rate or satellite.
#[derive(Debug, Clone)]
struct HotSpot {
    entry: Entry,
    premium_abroad: Reason,
    satellite: Reason,
}

/// The reasons that name no list entry.
#[derive(Debug, Clone)]
struct FixedReasons {
    emergency: Reason,
    internal: Reason,
    domestic_short: Reason,
    not_understood: Reason,
    premium_abroad: Reason,
    satellite: Reason,
    domestic_premium: Reason,
    domestic_shared_cost: Reason,
    domestic_unknown: Reason,
    domestic: Reason,
    international_unlisted: Reason,
}

const PREMIUM_ABROAD: &str = "a premium-rate number abroad";
const SATELLITE: &str = "a satellite number";

fn class_target(what: &str, extra: Option<&Reason>) -> Reason {
    let extra = extra.map(|e| format!("; {}", e.text)).unwrap_or_default();
    Reason::critical(format!(
        "{what}: the classic revenue-share fraud target{extra}"
    ))
}

impl Default for FixedReasons {
    fn default() -> Self {
        Self {
            emergency: Reason::new("emergency number: never blocked".into()),
            internal: Reason::new("internal extension or PBX feature code".into()),
            domestic_short: Reason::new("domestic short or local number".into()),
            not_understood: Reason::new("not understood as a phone number".into()),
            premium_abroad: class_target(PREMIUM_ABROAD, None),
            satellite: class_target(SATELLITE, None),
            domestic_premium: Reason::new("domestic premium-rate number".into()),
            domestic_shared_cost: Reason::new("domestic shared-cost or information service".into()),
            domestic_unknown: Reason::new("domestic number of unknown range".into()),
            domestic: Reason::new("domestic number".into()),
            international_unlisted: Reason::new("international destination not on any list".into()),
        }
    }
}

/// The active risk lists.
#[derive(Debug, Clone, Default)]
pub struct RiskBook {
    user_exact: PrefixTable<Entry>,
    user_prefix: PrefixTable<Entry>,
    /// The reason of a blacklist entry is written the first time a number matches it (18,033 entries, few hit).
    blacklist: PrefixTable<OnceLock<Reason>>,
    hot_spots: PrefixTable<HotSpot>,
    countries: PrefixTable<Entry>,
    fixed: FixedReasons,
}

impl RiskBook {
    /// The embedded defaults (curated hot spots, tfps blacklist and country risk).
    pub fn defaults() -> Self {
        let mut book = Self::default();
        for (prefix, tier, what, source) in HOT_SPOTS {
            let reason = Reason::new(format!(
                "{what} (+{prefix}) is on the default high-risk list: {source}"
            ));
            book.hot_spots.insert(
                prefix,
                HotSpot {
                    premium_abroad: class_target(PREMIUM_ABROAD, Some(&reason)),
                    satellite: class_target(SATELLITE, Some(&reason)),
                    entry: Entry {
                        tier: *tier,
                        reason,
                    },
                },
            );
        }
        for line in TFPS_BLACKLIST.lines().filter(|l| !l.starts_with('#')) {
            book.blacklist.insert(line.trim(), OnceLock::new());
        }
        for line in TFPS_COUNTRIES.lines().filter(|l| !l.starts_with('#')) {
            let mut f = line.split(',');
            let (Some(prefix), Some(_iso2), Some(risk), name) =
                (f.next(), f.next(), f.next(), f.next())
            else {
                continue;
            };
            let (tier, words) = match risk {
                "3" => (RiskTier::High, "high"),
                "2" => (RiskTier::Medium, "medium"),
                _ => (
                    RiskTier::Medium,
                    "low (international calls stay at least medium)",
                ),
            };
            book.countries.insert(
                prefix,
                Entry {
                    tier,
                    reason: Reason::new(format!(
                        "{} (+{prefix}): tfps country risk {risk} = {words} (default list, tfps 2021, MIT)",
                        name.unwrap_or("?")
                    )),
                },
            );
        }
        book
    }

    /// Adds user rules (later rules for the same number replace earlier ones).
    pub fn add_user_rules(&mut self, rules: &[UserRule]) {
        for r in rules {
            let verb = if r.allow { "allowed" } else { "denied" };
            let what = if r.exact { "number" } else { "prefix" };
            let note = if r.note.is_empty() {
                String::new()
            } else {
                format!(" ({})", r.note)
            };
            let entry = Entry {
                tier: if r.allow {
                    RiskTier::Low
                } else {
                    RiskTier::Critical
                },
                reason: Reason::new(format!(
                    "{verb} by user list {}: {what} +{}{note}",
                    r.origin, r.number
                )),
            };
            if r.exact {
                self.user_exact.insert(&r.number, entry);
            } else {
                self.user_prefix.insert(&r.number, entry);
            }
        }
    }

    pub fn without_defaults(mut self) -> Self {
        self.blacklist = PrefixTable::default();
        self.hot_spots = PrefixTable::default();
        self.countries = PrefixTable::default();
        self
    }

    /// Number of default blacklist entries (for reports).
    pub fn blacklist_len(&self) -> usize {
        self.blacklist.len()
    }

    /// Tier and reason for a classified destination. The reason is shared text (cloning it clones a pointer).
    pub fn assess(
        &self,
        scope: Scope,
        class: NumberClass,
        e164: Option<&str>,
        flags: DialFlags,
    ) -> (RiskTier, Arc<str>) {
        self.assess_digits(scope, class, e164.map(str::as_bytes), flags)
    }

    /// [`RiskBook::assess`] of E.164 digits given as bytes (what the classifier holds).
    pub(crate) fn assess_digits(
        &self,
        scope: Scope,
        class: NumberClass,
        e164: Option<&[u8]>,
        flags: DialFlags,
    ) -> (RiskTier, Arc<str>) {
        let key = e164.and_then(DigitKey::new);
        let (tier, reason, _) = self.assess_keyed(scope, class, e164, key.as_ref(), flags);
        (tier, reason)
    }

    /// [`RiskBook::assess`] with the number's [`DigitKey`] already made (it must be that of `e164`), and whether
    /// the tier is the destination country's own ([`DialFlags::COUNTRY_RISK`]).
    #[inline]
    pub(crate) fn assess_keyed(
        &self,
        scope: Scope,
        class: NumberClass,
        e164: Option<&[u8]>,
        key: Option<&DigitKey<'_>>,
        flags: DialFlags,
    ) -> (RiskTier, Arc<str>, bool) {
        let (tier, reason, of_country) = self.assess_destination(scope, class, e164, key);
        const RAISING: u16 = DialFlags::OBFUSCATED.0
            | DialFlags::FOREIGN_PREFIX.0
            | DialFlags::HIDDEN_INTERNATIONAL.0;
        if flags.0 & RAISING != 0 && scope != Scope::Emergency {
            // Raised for how it was dialed: no longer the country's own tier.
            let (tier, reason) = Self::raised(tier, reason, flags);
            return (tier, reason, false);
        }
        (tier, reason.text.clone(), of_country)
    }

    /// Tier and words of a dial string written suspiciously: a prefix that leads abroad where the plan expects
    /// none is at least high, and said in words whatever the tier; an obfuscated one is at least high.
    #[cold]
    fn raised(tier: RiskTier, reason: &Reason, flags: DialFlags) -> (RiskTier, Arc<str>) {
        if flags.has_suspicious_prefix() {
            let words = if flags.contains(DialFlags::HIDDEN_INTERNATIONAL) {
                &reason.hidden
            } else {
                &reason.foreign
            };
            let raised = usize::from(tier < RiskTier::High);
            let words = words.get(raised).unwrap_or(&reason.text);
            return (tier.max(RiskTier::High), words.clone());
        }
        if tier < RiskTier::High {
            return (RiskTier::High, reason.raised.clone());
        }
        (tier, reason.text.clone())
    }

    /// Tier, reason, and whether the tier is the country's (the country table, or an international number on no
    /// list) rather than a number range's or a class's.
    fn assess_destination(
        &self,
        scope: Scope,
        class: NumberClass,
        e164: Option<&[u8]>,
        key: Option<&DigitKey<'_>>,
    ) -> (RiskTier, &Reason, bool) {
        let fixed = &self.fixed;
        match scope {
            Scope::Emergency => return (RiskTier::Low, &fixed.emergency, false),
            Scope::Internal => return (RiskTier::Low, &fixed.internal, false),
            _ => {}
        }
        let Some(n) = e164 else {
            return match scope {
                Scope::Domestic => (RiskTier::Low, &fixed.domestic_short, false),
                _ => (RiskTier::Medium, &fixed.not_understood, false),
            };
        };
        if let Some(e) = self.user_exact.get_exact(n) {
            return (e.tier, &e.reason, false);
        }
        if let Some((e, _)) = key.and_then(|k| self.user_prefix.longest_key(k)) {
            return (e.tier, &e.reason, false);
        }
        if let Some((cell, len)) = key.and_then(|k| self.blacklist.longest_key(k)) {
            let reason = cell.get_or_init(|| {
                Reason::critical(format!(
                    "+{} is a range reported as an IRSF fraud destination (default list: tfps globalblacklist 2021-08-20, MIT)",
                    String::from_utf8_lossy(n.get(..len).unwrap_or(n))
                ))
            });
            return (RiskTier::Critical, reason, false);
        }
        let hot = key
            .and_then(|k| self.hot_spots.longest_key(k))
            .map(|(e, _)| e);
        if scope == Scope::International {
            match class {
                NumberClass::PremiumRate => {
                    let r = hot.map_or(&fixed.premium_abroad, |h| &h.premium_abroad);
                    return (RiskTier::Critical, r, false);
                }
                NumberClass::Satellite => {
                    let r = hot.map_or(&fixed.satellite, |h| &h.satellite);
                    return (RiskTier::Critical, r, false);
                }
                _ => {}
            }
        }
        if let Some(h) = hot {
            return (h.entry.tier, &h.entry.reason, false);
        }
        match scope {
            Scope::Domestic => match class {
                NumberClass::PremiumRate => (RiskTier::High, &fixed.domestic_premium, false),
                NumberClass::SharedCost | NumberClass::Uan | NumberClass::Service => {
                    (RiskTier::Medium, &fixed.domestic_shared_cost, false)
                }
                NumberClass::Unknown => (RiskTier::Medium, &fixed.domestic_unknown, false),
                _ => (RiskTier::Low, &fixed.domestic, false),
            },
            _ => match key.and_then(|k| self.countries.longest_key(k)) {
                Some((e, _)) => (e.tier, &e.reason, true),
                None => (RiskTier::Medium, &fixed.international_unlisted, true),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_list_parses_and_reports_bad_lines() {
        let rules = parse_user_list(
            "action,match,number,note\n# c\ndeny,prefix,+232\nallow,exact,23276000000,office\n",
            "l.csv",
        );
        let rules = rules.unwrap_or_default();
        assert_eq!(rules.len(), 2);
        assert_eq!(rules[1].origin, "l.csv:4");
        let err = parse_user_list("deny,prefix,+23x\n", "l.csv")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("l.csv:1"), "{err}");
        assert!(parse_user_list("block,prefix,232\n", "x").is_err());
    }

    #[test]
    fn precedence_user_exact_then_prefix_then_defaults() {
        let mut book = RiskBook::defaults();
        assert!(book.blacklist_len() > 18_000);
        let rules = parse_user_list("allow,exact,23276000000\ndeny,prefix,1212\n", "u.csv")
            .unwrap_or_default();
        book.add_user_rules(&rules);
        let intl = |n| {
            book.assess(
                Scope::International,
                NumberClass::Fixed,
                Some(n),
                DialFlags::default(),
            )
        };
        assert_eq!(intl("23276000000").0, RiskTier::Low);
        assert_eq!(intl("23276000001").0, RiskTier::Critical);
        assert_eq!(intl("12125550123").0, RiskTier::Critical);
        assert!(intl("12125550123").1.contains("u.csv:2"));
        assert_eq!(intl("4930123456").0, RiskTier::Medium);
    }
}
