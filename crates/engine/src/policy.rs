//! Policy: what is allowed and the thresholds of every rule, loaded from TOML. Defaults are safe for a small
//! Japanese office (international calling barred outside an allow-list, premium and satellite barred, money caps),
//! so an empty file would have stopped the 2015 incident. Layers: built-in defaults ← `[defaults]` ←
//! `[tenants.<t>]` ← `[tenants.<t>.accounts.<a>]`; each layer only overrides what it names.

use std::collections::{BTreeMap, HashMap};

use chrono::{NaiveDate, Weekday};
use chrono_tz::Tz;
use numbering::{Currency, RiskTier};
use serde::{Deserialize, Deserializer};

use crate::calendar::{Holidays, SiteCalendar};
use crate::decision::{ClassSet, DestClass};

/// A policy file could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error("policy line {line}, column {column}: {message}")]
    Syntax {
        line: usize,
        column: usize,
        message: String,
    },
    #[error("policy: {0}")]
    Invalid(String),
}

/// Enforce, or only report what would have been done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    #[default]
    Enforce,
    Shadow,
}

/// What to do with an international call outside business hours (when it is allowed at all).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OffHoursAction {
    Allow,
    Warn,
    Block,
}

/// A threshold in a file: a number, or "off".
fn limit<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<i64>>, D::Error> {
    struct V;
    impl serde::de::Visitor<'_> for V {
        type Value = Option<i64>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a non-negative number or \"off\"")
        }
        fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Self::Value, E> {
            if v < 0 {
                return Err(E::custom(
                    "a threshold cannot be negative (use \"off\" to disable a level)",
                ));
            }
            Ok(Some(v))
        }
        fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Self::Value, E> {
            i64::try_from(v)
                .map(Some)
                .map_err(|_| E::custom("threshold too large"))
        }
        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
            if v == "off" {
                Ok(None)
            } else {
                Err(E::custom(format!(
                    "expected a number or \"off\", found \"{v}\""
                )))
            }
        }
    }
    d.deserialize_any(V).map(Some)
}

/// One rule's settings in a file layer (every field optional: unset means inherited).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleLayer {
    enabled: Option<bool>,
    shadow: Option<bool>,
    #[serde(default, deserialize_with = "limit")]
    warning: Option<Option<i64>>,
    #[serde(default, deserialize_with = "limit")]
    critical: Option<Option<i64>>,
    #[serde(default, deserialize_with = "limit")]
    off_hours_warning: Option<Option<i64>>,
    #[serde(default, deserialize_with = "limit")]
    off_hours_critical: Option<Option<i64>>,
    escalate: Option<bool>,
    ban_secs: Option<u32>,
    /// Pumping only: durations within ± this many seconds count as similar.
    jitter_secs: Option<u32>,
    /// Pumping only: answered calls shorter than this are ignored.
    min_secs: Option<u32>,
    /// `pumping_tenant` only: answered calls longer than this are not short (not counted).
    max_secs: Option<u32>,
    /// `novelty_spend` only: below this 24 h spend (whole units of the site currency) it stays quiet.
    floor: Option<i64>,
}

/// One rule, resolved. A level fires when the measured value is strictly above its threshold
/// ("critical = 10" lets 10 calls per window through and blocks the 11th).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    pub enabled: bool,
    pub shadow: bool,
    pub warning: Option<i64>,
    pub critical: Option<i64>,
    pub off_hours_warning: Option<i64>,
    pub off_hours_critical: Option<i64>,
    /// A critical on an account also bars the account's international calling.
    pub escalate: bool,
    /// For rules that ban a source: for how long.
    pub ban_secs: u32,
    pub jitter_secs: u32,
    pub min_secs: u32,
    /// `pumping_tenant` only: the longest answered call that counts as short (0: none).
    pub max_secs: u32,
    /// `novelty_spend` only: the 24 h spend (whole units of the site currency) below which the rule stays quiet,
    /// however many times the account's usual spend it is; None: the site's `spend_floor`.
    pub floor: Option<i64>,
}

impl Rule {
    const fn new(
        w: Option<i64>,
        c: Option<i64>,
        ow: Option<i64>,
        oc: Option<i64>,
        escalate: bool,
    ) -> Self {
        Self {
            enabled: true,
            shadow: false,
            warning: w,
            critical: c,
            off_hours_warning: ow,
            off_hours_critical: oc,
            escalate,
            ban_secs: 0,
            jitter_secs: 0,
            min_secs: 0,
            max_secs: 0,
            floor: None,
        }
    }
    const fn ban(mut self, secs: u32) -> Self {
        self.ban_secs = secs;
        self
    }
    /// A yes/no rule: fires at the given level whenever its condition holds.
    const fn flag(critical: bool, escalate: bool) -> Self {
        if critical {
            Self::new(None, Some(0), None, Some(0), escalate)
        } else {
            Self::new(Some(0), None, Some(0), None, escalate)
        }
    }

    /// The level reached by `measured` and its threshold. Off hours, the off-hours thresholds apply where set.
    pub fn level(&self, measured: i64, off_hours: bool) -> Option<(crate::Level, i64)> {
        if !self.enabled {
            return None;
        }
        let (w, c) = if off_hours {
            (
                self.off_hours_warning.or(self.warning),
                self.off_hours_critical.or(self.critical),
            )
        } else {
            (self.warning, self.critical)
        };
        match (c, w) {
            (Some(c), _) if measured > c => Some((crate::Level::Critical, c)),
            (_, Some(w)) if measured > w => Some((crate::Level::Warning, w)),
            _ => None,
        }
    }

    /// The lowest threshold in force: below it nothing can fire (a cheap early exit).
    pub fn floor(&self, off_hours: bool) -> i64 {
        let (w, c) = if off_hours {
            (
                self.off_hours_warning.or(self.warning),
                self.off_hours_critical.or(self.critical),
            )
        } else {
            (self.warning, self.critical)
        };
        match (w, c) {
            (Some(a), Some(b)) => a.min(b),
            (Some(a), None) | (None, Some(a)) => a,
            (None, None) => i64::MAX,
        }
    }

    fn apply(&mut self, l: &RuleLayer) {
        if let Some(v) = l.enabled {
            self.enabled = v;
        }
        if let Some(v) = l.shadow {
            self.shadow = v;
        }
        if let Some(v) = l.warning {
            self.warning = v;
        }
        if let Some(v) = l.critical {
            self.critical = v;
        }
        if let Some(v) = l.off_hours_warning {
            self.off_hours_warning = v;
        }
        if let Some(v) = l.off_hours_critical {
            self.off_hours_critical = v;
        }
        if let Some(v) = l.escalate {
            self.escalate = v;
        }
        if let Some(v) = l.ban_secs {
            self.ban_secs = v;
        }
        if let Some(v) = l.jitter_secs {
            self.jitter_secs = v;
        }
        if let Some(v) = l.min_secs {
            self.min_secs = v;
        }
        if let Some(v) = l.max_secs {
            self.max_secs = v;
        }
        if let Some(v) = l.floor {
            self.floor = Some(v);
        }
    }
}

macro_rules! rules {
    ($( $(#[$doc:meta])* $name:ident = $default:expr ;)*) => {
        /// The `[rules]` table of a layer.
        #[derive(Debug, Clone, Default, Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct RulesLayer {
            $( $name: Option<RuleLayer>, )*
        }

        /// Every rule, resolved. Field names are the rule names used in the policy file and in decisions.
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct Rules {
            $( $(#[$doc])* pub $name: Rule, )*
        }

        impl Default for Rules {
            fn default() -> Self {
                Self { $( $name: $default, )* }
            }
        }

        impl Rules {
            fn apply(&mut self, l: &RulesLayer) {
                $( if let Some(r) = &l.$name { self.$name.apply(r); } )*
            }
            fn validate(&self) -> Result<(), String> {
                $(
                    let r = &self.$name;
                    let pumping = matches!(stringify!($name), "pumping" | "pumping_tenant");
                    if r.jitter_secs != 0 && stringify!($name) != "pumping" {
                        return Err(format!("rules.{}: jitter_secs only applies to rules.pumping", stringify!($name)));
                    }
                    if r.min_secs != 0 && !pumping {
                        return Err(format!("rules.{}: min_secs only applies to rules.pumping and rules.pumping_tenant", stringify!($name)));
                    }
                    if r.max_secs != 0 && stringify!($name) != "pumping_tenant" {
                        return Err(format!("rules.{}: max_secs only applies to rules.pumping_tenant", stringify!($name)));
                    }
                    if r.floor.is_some() && stringify!($name) != "novelty_spend" {
                        return Err(format!("rules.{}: floor only applies to rules.novelty_spend", stringify!($name)));
                    }
                    if r.floor.is_some_and(|f| f < 0) {
                        return Err(format!("rules.{}: floor must not be negative", stringify!($name)));
                    }
                )*
                Ok(())
            }
            /// Names of all rules, as in the policy file.
            pub const NAMES: &'static [&'static str] = &[ $( stringify!($name), )* ];
            /// Puts every rule in shadow mode (report only).
            pub fn set_all_shadow(&mut self) {
                $( self.$name.shadow = true; )*
            }
        }
    };
}

const fn n(v: i64) -> Option<i64> {
    Some(v)
}
const OFF: Option<i64> = None;

rules! {
    /// Call attempts per account per minute (failed attempts count: attackers probe).
    velocity_account_minute = Rule::new(n(5), n(10), n(3), n(6), true);
    /// Call attempts per account per hour.
    velocity_account_hour = Rule::new(n(60), n(120), n(10), n(30), true);
    /// Call attempts per account per 24 h.
    velocity_account_day = Rule::new(n(300), n(600), OFF, OFF, true);
    /// Call attempts per tenant per minute.
    velocity_tenant_minute = Rule::new(n(60), n(150), n(20), n(50), false);
    /// Call attempts per tenant per hour.
    velocity_tenant_hour = Rule::new(n(1500), n(3000), n(100), n(300), false);
    /// Call attempts per tenant per 24 h.
    velocity_tenant_day = Rule::new(n(8000), n(20000), OFF, OFF, false);
    /// Answered calls in progress per account (checked on each new attempt) to watched destinations
    /// (international by default). Off hours a person holds one such call at a time: two at once warn, a third
    /// is refused (a pump runs several channels).
    concurrent_account = Rule::new(n(3), n(6), n(1), n(3), true);
    /// Answered calls in progress per tenant.
    concurrent_tenant = Rule::new(n(30), n(100), n(10), n(30), false);
    /// Calls that ended unanswered per account per hour.
    failed_account_hour = Rule::new(n(30), n(80), n(15), n(40), true);
    /// Attempts refused by destination policy per account per hour (someone is trying what is barred).
    denied_account_hour = Rule::new(n(2), n(5), n(1), n(3), true);
    /// Attempts to the same number per hour (watched classes).
    repeat_number_hour = Rule::new(n(10), n(20), n(5), n(10), true);
    /// Distinct numbers dialed under one range (the number less its last 3 digits) per hour (watched classes).
    range_walk_hour = Rule::new(n(5), n(10), n(3), n(6), true);
    /// Answered calls of near-identical duration per account and country in the last hour (watched classes).
    pumping = Rule { jitter_secs: 2, min_secs: 5, ..Rule::new(n(2), n(4), n(2), n(3), true) };
    /// Cost per account in the last hour, in currency units (answered calls plus calls in progress).
    money_account_hour = Rule::new(n(3000), n(10000), n(1000), n(3000), true);
    /// Cost per account in the last 24 h.
    money_account_day = Rule::new(n(10000), n(30000), OFF, OFF, true);
    /// Cost per account in the calendar month.
    money_account_month = Rule::new(n(50000), n(150000), OFF, OFF, true);
    /// Cost per tenant in the last hour.
    money_tenant_hour = Rule::new(n(10000), n(30000), n(3000), n(10000), true);
    /// Cost per tenant in the last 24 h.
    money_tenant_day = Rule::new(n(30000), n(100000), OFF, OFF, true);
    /// Cost per tenant in the calendar month.
    money_tenant_month = Rule::new(n(300000), n(1000000), OFF, OFF, true);
    /// First call of an established account to a country it never called.
    novelty_country = Rule::flag(false, false);
    /// First call of an established account to a risk tier (high or critical) above any it called before.
    novelty_risk = Rule::flag(false, false);
    /// First international call ever of an established account.
    novelty_first_international = Rule::flag(false, false);
    /// Off-hours call at an hour of the day the account never called at.
    novelty_hours = Rule::flag(false, false);
    /// Spend in the last 24 h as a percentage of the account's usual daily spend.
    novelty_spend = Rule::new(n(300), n(1000), OFF, OFF, true);
    /// Obfuscated dial string (leading symbols, junk digits, percent-encoding).
    obfuscated = Rule::flag(true, false);
    /// Distinct international prefixes tried for the same national number within a minute.
    prefix_probe = Rule::new(n(1), n(2), n(1), n(2), true);
    /// Failed guesses (wrong password or unknown user) per source per minute: a burst bans for an hour. By
    /// default `auth_source_hour` bans at the same count for longer; this one stops bursts where that is loosened.
    auth_source_minute = Rule::new(OFF, n(2), OFF, OFF, false).ban(3600);
    /// Failed guesses per source per hour: the second warns, the third bans for 24 h, so no source gets a fourth
    /// guess at any account.
    auth_source_hour = Rule::new(n(1), n(2), OFF, OFF, false).ban(86_400);
    /// Authentication failures per account per hour (the sources get banned at critical).
    auth_account_hour = Rule::new(n(5), n(15), OFF, OFF, false).ban(3600);
    /// Distinct user names tried per source address per hour (extension enumeration).
    auth_usernames_source = Rule::new(n(3), n(5), OFF, OFF, false).ban(86_400);
    /// Failures of an account in the last hour before a successful authentication (a guessed password).
    auth_success_after_failures = Rule::new(n(3), n(5), OFF, OFF, true);
    /// Registration of an account from a network it never registered from.
    auth_new_network = Rule::flag(false, false);
    /// A known scanner's User-Agent (friendly-scanner, sipvicious, sipcli…).
    scanner_user_agent = Rule::flag(true, false).ban(86_400);
    /// Requests per source address per minute.
    request_rate_source = Rule::new(n(300), n(1000), OFF, OFF, false).ban(600);
    /// An outbound call presents a caller ID (From/P-Asserted-Identity) that is not one of the tenant's own
    /// numbers (the guard says so): a sign of a hijacked account. A warning; `critical = 0` blocks such calls.
    caller_id_foreign = Rule::flag(false, false);
    /// Distinct sources (per `[sources]` key) that failed to log in to one account per hour: from the critical
    /// level on, every source that fails on the account is banned at its failure (never one the account logged in
    /// from before).
    auth_account_sources = Rule::new(n(1), n(2), OFF, OFF, false).ban(86_400);
    /// Successful login of an account from a country it never logged in from, when it logged in from another
    /// country before (the guard's GeoIP lookup). A warning; at critical (with `escalate`) it bars the account's
    /// international calling.
    auth_new_country = Rule::flag(false, true);
    /// Short answered calls (`min_secs`–`max_secs` s) to the same country per tenant in the last hour, from any
    /// of its accounts (watched classes): pumping spread over many extensions, each of whose own counters stays
    /// low. Counted as calls end; a critical bars the tenant's international calling.
    pumping_tenant = Rule { min_secs: 5, max_secs: 60, ..Rule::new(n(30), n(60), n(3), n(6), true) };
    /// Watched calls of a tenant in the last hour, outside business hours, at an hour of the day at which the
    /// site does not call abroad (no such call on two different days before; the tenant needs 3 days and 20
    /// calls of history). One such call is a night owl; a run of them from anywhere in the site is an attack.
    novelty_hours_tenant = Rule::new(OFF, OFF, n(1), n(4), true);
    /// A call that leaves because another came in (forwarded, transferred, hairpinned) to an international,
    /// premium or satellite destination: an outside caller reaching abroad through the PBX. Refused by
    /// default; a site that forwards abroad on purpose sets `critical = "off"` and keeps the warning.
    forwarded_international = Rule::new(n(0), n(0), n(0), n(0), false);
}

/// The `[destinations]` table of a layer.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DestLayer {
    allow_classes: Option<Vec<DestClass>>,
    #[serde(default, deserialize_with = "countries")]
    allow_countries: Option<Vec<String>>,
    #[serde(default, deserialize_with = "countries")]
    deny_countries: Option<Vec<String>>,
    #[serde(default, deserialize_with = "prefixes")]
    deny_prefixes: Option<Vec<String>>,
    #[serde(default, deserialize_with = "risk")]
    block_risk_at: Option<Option<RiskTier>>,
    #[serde(default, deserialize_with = "risk")]
    warn_risk_at: Option<Option<RiskTier>>,
    #[serde(default, deserialize_with = "countries")]
    risk_exempt_countries: Option<Vec<String>>,
    watch_classes: Option<Vec<DestClass>>,
    off_hours_international: Option<OffHoursAction>,
    #[serde(default, deserialize_with = "dial_patterns")]
    allow_patterns: Option<Vec<String>>,
    shadow: Option<bool>,
}

/// Longest dial-string pattern accepted (dial strings longer than this are not dialed by people).
const MAX_PATTERN: usize = 64;

fn dial_patterns<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    let v = Vec::<String>::deserialize(d)?;
    for p in &v {
        if p.is_empty() || p.len() > MAX_PATTERN || !p.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(serde::de::Error::custom(format!(
                "\"{p}\" is not a dial-string pattern: write the characters dialed (1 to {MAX_PATTERN}, no spaces), \
                 x for any digit and a trailing * for anything after, e.g. \"*9x#\" or \"8xxx*\""
            )));
        }
    }
    Ok(Some(v))
}

/// Whether a dial string matches a pattern of `allow_patterns`: character by character, `x`/`X` for any digit, a
/// trailing `*` for anything after (a prefix match); any other character (a leading `*` too) stands for itself.
pub(crate) fn dial_pattern_matches(pattern: &str, dialed: &str) -> bool {
    let p = pattern.as_bytes();
    let (p, prefix) = match p.split_last() {
        Some((b'*', head)) => (head, true),
        _ => (p, false),
    };
    let d = dialed.as_bytes();
    if d.len() < p.len() || (!prefix && d.len() != p.len()) {
        return false;
    }
    p.iter().zip(d).all(|(&pc, &dc)| match pc {
        b'x' | b'X' => dc.is_ascii_digit(),
        _ => pc == dc,
    })
}

fn countries<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    let v = Vec::<String>::deserialize(d)?;
    let mut out = Vec::with_capacity(v.len());
    for c in v {
        let up = c.trim().to_ascii_uppercase();
        if up == "*" || (up.len() == 2 && up.bytes().all(|b| b.is_ascii_uppercase())) {
            out.push(up);
        } else {
            return Err(serde::de::Error::custom(format!(
                "\"{c}\" is not a country: use ISO 3166 two-letter codes such as \"US\" or \"*\" for all"
            )));
        }
    }
    Ok(Some(out))
}

fn prefixes<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    let v = Vec::<String>::deserialize(d)?;
    let mut out = Vec::with_capacity(v.len());
    for p in v {
        let digits = p.trim().trim_start_matches('+');
        if digits.is_empty() || digits.len() > 15 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(serde::de::Error::custom(format!(
                "\"{p}\" is not an E.164 prefix: write digits with the country code, e.g. \"+23276\""
            )));
        }
        out.push(digits.to_owned());
    }
    Ok(Some(out))
}

fn risk<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<RiskTier>>, D::Error> {
    let s = String::deserialize(d)?;
    let tier = match s.as_str() {
        "low" => Some(RiskTier::Low),
        "medium" => Some(RiskTier::Medium),
        "high" => Some(RiskTier::High),
        "critical" => Some(RiskTier::Critical),
        "never" => None,
        _ => {
            return Err(serde::de::Error::custom(format!(
                "\"{s}\" is not a risk tier: use low, medium, high, critical or never"
            )));
        }
    };
    Ok(Some(tier))
}

/// Destination policy, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DestPolicy {
    /// Classes allowed. International is allowed only to `allow_countries` even when listed here.
    pub allow_classes: ClassSet,
    /// ISO codes of countries that may be called; "*" allows every country.
    pub allow_countries: Vec<String>,
    pub deny_countries: Vec<String>,
    /// E.164 digit prefixes that are always refused.
    pub deny_prefixes: Vec<String>,
    /// Destinations at or above this risk tier are refused (unless their country is exempt).
    pub block_risk_at: Option<RiskTier>,
    /// Destinations at or above this risk tier raise a warning.
    pub warn_risk_at: Option<RiskTier>,
    pub risk_exempt_countries: Vec<String>,
    /// Classes the pattern rules (repeat, range walk, pumping, novelty) watch.
    pub watch_classes: ClassSet,
    pub off_hours_international: OffHoursAction,
    /// Dial strings the numbering cannot read (class unknown) that the site allows anyway (compared character by
    /// character, `x` any digit, `*` at the end any rest). They allow nothing of another class.
    pub allow_patterns: Vec<String>,
    pub shadow: bool,
}

impl Default for DestPolicy {
    fn default() -> Self {
        Self {
            allow_classes: ClassSet::of(&[
                DestClass::Internal,
                DestClass::Domestic,
                DestClass::Mobile,
                DestClass::TollFree,
                DestClass::SharedCost,
                DestClass::Service,
                DestClass::International,
            ]),
            allow_countries: Vec::new(),
            deny_countries: Vec::new(),
            deny_prefixes: Vec::new(),
            block_risk_at: Some(RiskTier::Critical),
            warn_risk_at: Some(RiskTier::High),
            risk_exempt_countries: Vec::new(),
            watch_classes: ClassSet::of(&[
                DestClass::International,
                DestClass::Premium,
                DestClass::Satellite,
                DestClass::Unknown,
            ]),
            off_hours_international: OffHoursAction::Allow,
            allow_patterns: Vec::new(),
            shadow: false,
        }
    }
}

impl DestPolicy {
    fn apply(&mut self, l: &DestLayer) {
        if let Some(v) = &l.allow_classes {
            self.allow_classes = ClassSet::of(v);
        }
        if let Some(v) = &l.allow_countries {
            self.allow_countries = v.clone();
        }
        if let Some(v) = &l.deny_countries {
            self.deny_countries = v.clone();
        }
        if let Some(v) = &l.deny_prefixes {
            self.deny_prefixes = v.clone();
        }
        if let Some(v) = l.block_risk_at {
            self.block_risk_at = v;
        }
        if let Some(v) = l.warn_risk_at {
            self.warn_risk_at = v;
        }
        if let Some(v) = &l.risk_exempt_countries {
            self.risk_exempt_countries = v.clone();
        }
        if let Some(v) = &l.watch_classes {
            self.watch_classes = ClassSet::of(v);
        }
        if let Some(v) = l.off_hours_international {
            self.off_hours_international = v;
        }
        if let Some(v) = &l.allow_patterns {
            self.allow_patterns = v.clone();
        }
        if let Some(v) = l.shadow {
            self.shadow = v;
        }
    }

    pub fn country_allowed(&self, iso2: &str) -> bool {
        self.allow_countries.iter().any(|c| c == "*" || c == iso2)
    }

    /// Whether an unreadable dial string is allowed by `allow_patterns`.
    pub fn pattern_allowed(&self, dialed: &str) -> bool {
        self.allow_patterns
            .iter()
            .any(|p| dial_pattern_matches(p, dialed))
    }
}

/// The policy that applies to one tenant or account.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Profile {
    pub dest: DestPolicy,
    pub rules: Rules,
}

/// Fallback per-minute estimates when no tariff is known for a destination, in currency units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FallbackRates {
    pub domestic: i64,
    pub mobile: i64,
    pub international: i64,
    pub premium: i64,
    pub satellite: i64,
    pub unknown: i64,
}

impl Default for FallbackRates {
    fn default() -> Self {
        Self {
            domestic: 10,
            mobile: 20,
            international: 100,
            premium: 200,
            satellite: 500,
            unknown: 100,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SiteFile {
    timezone: Option<String>,
    holidays: Option<String>,
    closed_days: Option<Vec<String>>,
    business_hours: Option<String>,
    business_days: Option<Vec<String>>,
    currency: Option<String>,
    fallback_rates: Option<FallbackRates>,
    spend_floor: Option<i64>,
}

/// The default floor of `novelty_spend`, in whole units of `currency`: 5,000 JPY; 50,000 KRW; otherwise 50
/// units (5,000 minor units of the two-decimal currencies: 50.00 USD, EUR, GBP…). A small account whose usual day
/// is 95 JPY is not barred for 1,119 JPY ("11× its usual"), while a pump's first hour (tens of thousands of yen)
/// is far above it.
pub fn default_spend_floor(currency: Currency) -> i64 {
    match &currency.0 {
        b"JPY" => 5_000,
        b"KRW" => 50_000,
        _ => 50,
    }
}

/// Site-wide settings.
#[derive(Debug, Clone)]
pub struct Site {
    pub calendar: SiteCalendar,
    pub currency: Currency,
    pub fallback_rates: FallbackRates,
    /// Below this 24 h spend (whole currency units) the spend-novelty rule stays quiet, unless a profile's
    /// `rules.novelty_spend.floor` says otherwise. Default: [`default_spend_floor`] of the currency.
    pub spend_floor: i64,
}

/// Hard caps on memory and idle expiry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    pub max_accounts: usize,
    pub max_tenants: usize,
    pub max_sources: usize,
    pub max_numbers: usize,
    pub max_ranges: usize,
    pub max_countries: usize,
    pub max_calls_in_progress: usize,
    /// Accounts keep their learned baseline this long without a call.
    pub account_idle_days: u32,
    /// Other keys (sources, numbers, ranges) are forgotten after this long without activity.
    pub idle_hours: u32,
    /// A call still "in progress" after this long is assumed lost and forgotten.
    pub max_call_hours: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_accounts: 100_000,
            max_tenants: 10_000,
            max_sources: 200_000,
            max_numbers: 200_000,
            max_ranges: 100_000,
            max_countries: 20_000,
            max_calls_in_progress: 100_000,
            account_idle_days: 35,
            idle_hours: 25,
            max_call_hours: 4,
        }
    }
}

/// How sources (the addresses requests come from) are counted and banned: the `[sources]` table. Each key is
/// checked as it is read, so that a wrong value is reported with its line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Sources {
    /// IPv6 sources are counted and banned per network of this many bits (32..=128; 64 by default: one
    /// subscriber's network, which an attacker can fill with addresses). IPv4 addresses, and IPv4-mapped IPv6
    /// ones (`::ffff:a.b.c.d`), count as themselves.
    #[serde(deserialize_with = "ipv6_prefix")]
    pub ipv6_prefix: u8,
    /// Most bans held at once; beyond it the ban that ends soonest is dropped (counted in `Stats::bans_evicted`).
    #[serde(deserialize_with = "max_bans")]
    pub max_bans: usize,
    /// Requests from one source within `flood_window_ms` that make a flood (the source is banned under
    /// `request_rate_source` unless it logged in). 2..=1000.
    #[serde(deserialize_with = "flood_burst")]
    pub flood_burst: u32,
    /// The time within which `flood_burst` requests are a flood, in milliseconds. 1..=60000.
    #[serde(deserialize_with = "flood_window_ms")]
    pub flood_window_ms: u32,
    /// Most sources whose requests are counted between two flushes to the engine (`[enforce]
    /// request_window_secs`); beyond it, new sources wait for the next window. 1..=10,000,000.
    #[serde(deserialize_with = "max_counted_sources")]
    pub max_counted_sources: usize,
}

impl Default for Sources {
    fn default() -> Self {
        Self {
            ipv6_prefix: 64,
            max_bans: 100_000,
            flood_burst: 10,
            flood_window_ms: 100,
            max_counted_sources: 100_000,
        }
    }
}

/// A whole number of `[sources]` read and checked against its range; `advice` says what is usual.
fn sources_number<'de, D: Deserializer<'de>>(
    d: D,
    key: &str,
    range: std::ops::RangeInclusive<u64>,
    advice: &str,
) -> Result<u64, D::Error> {
    let v = i64::deserialize(d)?;
    match u64::try_from(v) {
        Ok(v) if range.contains(&v) => Ok(v),
        _ => Err(serde::de::Error::custom(format!(
            "sources.{key} = {v} is out of range: use {} to {} ({advice})",
            range.start(),
            range.end()
        ))),
    }
}

fn ipv6_prefix<'de, D: Deserializer<'de>>(d: D) -> Result<u8, D::Error> {
    let v = sources_number(
        d,
        "ipv6_prefix",
        32..=128,
        "64, one subscriber's network, is usual",
    )?;
    Ok(u8::try_from(v).unwrap_or(64))
}

fn max_bans<'de, D: Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
    let advice = "0 would keep no ban; 100000 by default, about 100 bytes each";
    let v = sources_number(d, "max_bans", 1..=10_000_000, advice)?;
    Ok(usize::try_from(v).unwrap_or(100_000))
}

fn flood_burst<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    let advice = "10 by default; 1 would ban every source at its first request";
    let v = sources_number(d, "flood_burst", 2..=1000, advice)?;
    Ok(u32::try_from(v).unwrap_or(10))
}

fn flood_window_ms<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    let advice = "milliseconds, 100 by default";
    let v = sources_number(d, "flood_window_ms", 1..=60_000, advice)?;
    Ok(u32::try_from(v).unwrap_or(100))
}

fn max_counted_sources<'de, D: Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
    let advice = "100000 by default, about 40 bytes each";
    let v = sources_number(d, "max_counted_sources", 1..=10_000_000, advice)?;
    Ok(usize::try_from(v).unwrap_or(100_000))
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Layer {
    mode: Option<Mode>,
    destinations: Option<DestLayer>,
    rules: Option<RulesLayer>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct TenantFile {
    mode: Option<Mode>,
    destinations: Option<DestLayer>,
    rules: Option<RulesLayer>,
    #[serde(default)]
    accounts: BTreeMap<String, Layer>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    site: Option<SiteFile>,
    limits: Option<Limits>,
    sources: Option<Sources>,
    defaults: Option<Layer>,
    #[serde(default)]
    tenants: BTreeMap<String, TenantFile>,
}

/// A complete, validated policy.
#[derive(Debug, Clone)]
pub struct Policy {
    pub site: Site,
    pub limits: Limits,
    pub sources: Sources,
    profiles: Vec<Profile>,
    /// tenant → (its profile, account → profile).
    tenants: HashMap<String, (usize, HashMap<String, usize>)>,
}

impl Default for Policy {
    fn default() -> Self {
        // The empty file is valid by construction.
        Self::from_file(PolicyFile::default())
            .unwrap_or_else(|_| unreachable!("empty policy is valid"))
    }
}

fn apply_layer(
    base: &Profile,
    mode: Option<Mode>,
    d: Option<&DestLayer>,
    r: Option<&RulesLayer>,
) -> Profile {
    let mut p = base.clone();
    if let Some(d) = d {
        p.dest.apply(d);
    }
    if let Some(r) = r {
        p.rules.apply(r);
    }
    if mode == Some(Mode::Shadow) {
        p.rules.set_all_shadow();
        p.dest.shadow = true;
    }
    p
}

fn parse_hhmm(s: &str) -> Option<u16> {
    let (h, m) = s.trim().split_once(':')?;
    let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
    (h <= 24 && m < 60 && h * 60 + m <= 24 * 60).then_some(h * 60 + m)
}

fn weekday(s: &str) -> Option<Weekday> {
    match s.trim().to_ascii_lowercase().get(..3)? {
        "mon" => Some(Weekday::Mon),
        "tue" => Some(Weekday::Tue),
        "wed" => Some(Weekday::Wed),
        "thu" => Some(Weekday::Thu),
        "fri" => Some(Weekday::Fri),
        "sat" => Some(Weekday::Sat),
        "sun" => Some(Weekday::Sun),
        _ => None,
    }
}

impl Policy {
    /// Parses and validates a policy file. Syntax and type errors carry the line and column.
    pub fn from_toml_str(text: &str) -> Result<Policy, PolicyError> {
        let file: PolicyFile = toml::from_str(text).map_err(|e| {
            let (line, column) = e
                .span()
                .map(|s| numbering::line_col(text, s.start))
                .unwrap_or((0, 0));
            PolicyError::Syntax {
                line,
                column,
                message: e.message().to_owned(),
            }
        })?;
        Self::from_file(file)
    }

    fn from_file(file: PolicyFile) -> Result<Policy, PolicyError> {
        let site_file = file.site.unwrap_or_default();
        let mut calendar = SiteCalendar::japan();
        if let Some(tz) = &site_file.timezone {
            calendar.tz = tz.parse::<Tz>().map_err(|_| {
                PolicyError::Invalid(format!(
                    "site.timezone: \"{tz}\" is not an IANA time zone (e.g. \"Asia/Tokyo\")"
                ))
            })?;
        }
        if let Some(h) = &site_file.holidays {
            calendar.holidays = match h.as_str() {
                "jp" | "JP" => Holidays::Japan,
                "none" => Holidays::None,
                _ => {
                    return Err(PolicyError::Invalid(format!(
                        "site.holidays: \"{h}\" is not known: use \"jp\" or \"none\""
                    )));
                }
            };
        }
        if let Some(days) = &site_file.closed_days {
            for d in days {
                let date = NaiveDate::parse_from_str(d.trim(), "%Y-%m-%d").map_err(|_| {
                    PolicyError::Invalid(format!(
                        "site.closed_days: \"{d}\" is not a date like \"2025-12-29\""
                    ))
                })?;
                calendar.extra_closed.push(date);
            }
        }
        if let Some(hours) = &site_file.business_hours {
            let (a, b) = hours
                .split_once('-')
                .and_then(|(a, b)| Some((parse_hhmm(a)?, parse_hhmm(b)?)))
                .filter(|(a, b)| a < b)
                .ok_or_else(|| {
                    PolicyError::Invalid(format!(
                        "site.business_hours: \"{hours}\" should look like \"09:00-18:00\""
                    ))
                })?;
            calendar.open_minute = a;
            calendar.close_minute = b;
        }
        if let Some(days) = &site_file.business_days {
            let mut open = [false; 7];
            for d in days {
                let w = weekday(d).ok_or_else(|| {
                    PolicyError::Invalid(format!(
                        "site.business_days: \"{d}\" is not a day (mon, tue, … sun)"
                    ))
                })?;
                if let Some(slot) = open.get_mut(w.num_days_from_monday() as usize) {
                    *slot = true;
                }
            }
            calendar.open_days = open;
        }
        let currency = match &site_file.currency {
            None => Currency::JPY,
            Some(c) => match c.as_bytes() {
                [a, b, d] if c.bytes().all(|x| x.is_ascii_uppercase()) => Currency([*a, *b, *d]),
                _ => {
                    return Err(PolicyError::Invalid(format!(
                        "site.currency: \"{c}\" is not an ISO 4217 code such as \"JPY\""
                    )));
                }
            },
        };
        let site = Site {
            calendar,
            currency,
            fallback_rates: site_file.fallback_rates.unwrap_or_default(),
            spend_floor: site_file
                .spend_floor
                .unwrap_or_else(|| default_spend_floor(currency)),
        };

        let defaults = file.defaults.unwrap_or_default();
        let base = apply_layer(
            &Profile::default(),
            defaults.mode,
            defaults.destinations.as_ref(),
            defaults.rules.as_ref(),
        );
        base.rules.validate().map_err(PolicyError::Invalid)?;
        let mut profiles = vec![base];
        let mut tenants = HashMap::new();
        for (tname, t) in &file.tenants {
            let Some(parent) = profiles.first().cloned() else {
                break;
            };
            let tp = apply_layer(&parent, t.mode, t.destinations.as_ref(), t.rules.as_ref());
            tp.rules
                .validate()
                .map_err(|e| PolicyError::Invalid(format!("tenants.{tname}.{e}")))?;
            let tidx = profiles.len();
            profiles.push(tp.clone());
            let mut accounts = HashMap::new();
            for (aname, a) in &t.accounts {
                let ap = apply_layer(&tp, a.mode, a.destinations.as_ref(), a.rules.as_ref());
                ap.rules.validate().map_err(|e| {
                    PolicyError::Invalid(format!("tenants.{tname}.accounts.{aname}.{e}"))
                })?;
                accounts.insert(aname.clone(), profiles.len());
                profiles.push(ap);
            }
            tenants.insert(tname.clone(), (tidx, accounts));
        }
        let sources = file.sources.unwrap_or_default();
        Ok(Policy {
            site,
            limits: file.limits.unwrap_or_default(),
            sources,
            profiles,
            tenants,
        })
    }

    /// The key a source address is counted and banned under ([`crate::source_key`] with `sources.ipv6_prefix`).
    pub fn source_key(&self, ip: std::net::IpAddr) -> std::net::IpAddr {
        crate::source::source_key(ip, self.sources.ipv6_prefix)
    }

    /// Index of the profile of a tenant.
    pub fn tenant_profile(&self, tenant: &str) -> usize {
        self.tenants.get(tenant).map(|t| t.0).unwrap_or(0)
    }

    /// Index of the profile of an account (its own overrides, else its tenant's, else the defaults).
    pub fn account_profile(&self, tenant: &str, account: &str) -> usize {
        match self.tenants.get(tenant) {
            Some((t, accounts)) => accounts.get(account).copied().unwrap_or(*t),
            None => 0,
        }
    }

    /// A profile to edit in tests (thresholds a policy file cannot set, such as negative ones).
    #[cfg(test)]
    pub(crate) fn profile_mut(&mut self, idx: usize) -> Option<&mut Profile> {
        self.profiles.get_mut(idx)
    }

    /// Changes every profile (the defaults, each tenant's, each account's) in place: for tools that judge calls
    /// with a variant of a site's policy, such as `tollguard learn`, which replays a history with the
    /// destination lists opened and every rule in shadow mode so that the behaviour rules see every call.
    pub fn map_profiles(&mut self, mut f: impl FnMut(&mut Profile)) {
        self.profiles.iter_mut().for_each(&mut f);
    }

    /// Number of profiles (the defaults, each tenant's and each account's with overrides).
    pub fn profile_count(&self) -> usize {
        self.profiles.len()
    }

    /// The profile at an index (the defaults for an index out of range).
    pub fn profile(&self, idx: usize) -> &Profile {
        static DEFAULT: std::sync::OnceLock<Profile> = std::sync::OnceLock::new();
        self.profiles
            .get(idx)
            .or_else(|| self.profiles.first())
            .unwrap_or_else(|| DEFAULT.get_or_init(Profile::default))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_gives_safe_defaults() {
        let p = Policy::from_toml_str("").unwrap();
        let d = &p.profile(0).dest;
        assert!(
            d.allow_countries.is_empty(),
            "international barred outside an allow-list"
        );
        assert!(!d.allow_classes.contains(DestClass::Premium));
        assert!(!d.allow_classes.contains(DestClass::Satellite));
        assert_eq!(d.block_risk_at, Some(RiskTier::Critical));
        assert_eq!(p.profile(0).rules.money_account_hour.critical, Some(10000));
        assert_eq!(p.site.calendar.tz, chrono_tz::Asia::Tokyo);
    }

    #[test]
    fn layers_override_only_what_they_name() {
        let p = Policy::from_toml_str(
            r#"
[defaults.destinations]
allow_countries = ["us", "KR"]
[defaults.rules.velocity_account_minute]
critical = 20
[tenants.acme.rules.velocity_account_minute]
warning = "off"
[tenants.acme.accounts."205"]
mode = "shadow"
[tenants.acme.accounts."205".destinations]
allow_countries = ["*"]
"#,
        )
        .unwrap();
        let base = p.profile(p.account_profile("other", "1"));
        assert_eq!(base.dest.allow_countries, vec!["US", "KR"]);
        assert_eq!(base.rules.velocity_account_minute.critical, Some(20));
        assert_eq!(base.rules.velocity_account_minute.warning, Some(5));
        let t = p.profile(p.account_profile("acme", "206"));
        assert_eq!(t.rules.velocity_account_minute.warning, None);
        assert_eq!(t.rules.velocity_account_minute.critical, Some(20));
        assert!(!t.rules.velocity_account_minute.shadow);
        let a = p.profile(p.account_profile("acme", "205"));
        assert!(a.dest.country_allowed("SL"));
        assert!(a.rules.pumping.shadow);
        assert_eq!(a.rules.velocity_account_minute.warning, None);
    }

    #[test]
    fn unknown_field_is_reported_with_line_and_column() {
        let e = Policy::from_toml_str("[defaults.rules.pumping]\njitter_secs = 3\ncritcal = 5\n")
            .unwrap_err();
        match e {
            PolicyError::Syntax {
                line,
                column,
                message,
            } => {
                assert_eq!((line, column), (3, 1), "{message}");
                assert!(message.contains("critcal"), "{message}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn bad_values_are_explained() {
        let e = Policy::from_toml_str("[defaults.destinations]\nallow_countries = [\"USA\"]\n")
            .unwrap_err();
        assert!(matches!(e, PolicyError::Syntax { line: 2, .. }), "{e}");
        assert!(e.to_string().contains("USA"));
        let e = Policy::from_toml_str("[defaults.rules.pumping]\nwarning = -3\n").unwrap_err();
        assert!(e.to_string().contains("negative"), "{e}");
        let e = Policy::from_toml_str("[site]\ntimezone = \"Mars/Olympus\"\n").unwrap_err();
        assert!(e.to_string().contains("Mars/Olympus"));
        let e = Policy::from_toml_str("[site]\nbusiness_hours = \"18:00-09:00\"\n").unwrap_err();
        assert!(e.to_string().contains("09:00-18:00"));
        let e = Policy::from_toml_str("[defaults.rules.velocity_account_hour]\njitter_secs = 1\n")
            .unwrap_err();
        assert!(
            e.to_string().contains("only applies to rules.pumping"),
            "{e}"
        );
        let e = Policy::from_toml_str("[defaults.rules.pumping]\nmax_secs = 60\n").unwrap_err();
        assert!(
            e.to_string()
                .contains("only applies to rules.pumping_tenant"),
            "{e}"
        );
        let p = Policy::from_toml_str(
            "[defaults.rules.pumping_tenant]\nmin_secs = 15\nmax_secs = 45\n",
        )
        .expect("pumping_tenant takes min_secs and max_secs");
        assert_eq!(
            (
                p.profile(0).rules.pumping_tenant.min_secs,
                p.profile(0).rules.pumping_tenant.max_secs
            ),
            (15, 45)
        );
        let e = Policy::from_toml_str("[defaults.destinations]\nallow_classes = [\"moon\"]\n")
            .unwrap_err();
        assert!(e.to_string().contains("moon"), "{e}");
    }

    #[test]
    fn site_settings_parse() {
        let p = Policy::from_toml_str(
            "[site]\ntimezone=\"Asia/Tokyo\"\nholidays=\"none\"\nbusiness_hours=\"08:30-17:15\"\nbusiness_days=[\"mon\",\"sat\"]\nclosed_days=[\"2025-12-29\"]\ncurrency=\"USD\"\n",
        )
        .unwrap();
        assert_eq!(p.site.calendar.open_minute, 510);
        assert_eq!(p.site.calendar.close_minute, 1035);
        assert_eq!(
            p.site.calendar.open_days,
            [true, false, false, false, false, true, false]
        );
        assert_eq!(p.site.currency.as_str(), "USD");
        assert_eq!(p.site.calendar.extra_closed.len(), 1);
    }

    #[test]
    fn unreadable_dial_strings_are_refused_unless_a_pattern_allows_them() {
        let p = Policy::from_toml_str("").unwrap();
        let d = &p.profile(0).dest;
        assert!(!d.allow_classes.contains(DestClass::Unknown));
        assert!(!d.pattern_allowed("*99#"));
        let p = Policy::from_toml_str(
            "[defaults.destinations]\nallow_patterns = [\"*9x#\", \"8XX*\"]\n",
        )
        .unwrap();
        let d = &p.profile(0).dest;
        assert!(d.pattern_allowed("*99#") && d.pattern_allowed("*90#"));
        assert!(!d.pattern_allowed("*9a#") && !d.pattern_allowed("*99#1"));
        assert!(d.pattern_allowed("812") && d.pattern_allowed("8123456#"));
        assert!(!d.pattern_allowed("81") && !d.pattern_allowed("712"));
        let e = Policy::from_toml_str("[defaults.destinations]\nallow_patterns = [\"\"]\n")
            .unwrap_err();
        assert!(e.to_string().contains("dial-string pattern"), "{e}");
    }

    #[test]
    fn dial_patterns_match_whole_strings_digit_wildcards_and_a_trailing_star() {
        for (pattern, dialed, matches) in [
            ("*99#", "*99#", true),
            ("*99#", "*99", false),
            ("*99#", "*99##", false),
            ("*9x#", "*95#", true),
            ("*9X#", "*95#", true),
            ("*9x#", "*9##", false),
            ("9x*", "9", false),
            ("9x*", "91", true),
            ("9x*", "91abc", true),
            ("*", "", true),
            ("*", "anything", true),
            ("**", "*", true),
            ("**", "", false),
            ("x", "", false),
            ("abc", "ABC", false),
        ] {
            assert_eq!(
                dial_pattern_matches(pattern, dialed),
                matches,
                "{pattern} vs {dialed}"
            );
        }
    }

    #[test]
    fn sources_have_safe_defaults_and_are_validated() {
        let p = Policy::from_toml_str("").unwrap();
        assert_eq!(p.sources.ipv6_prefix, 64);
        assert_eq!(p.sources.max_bans, 100_000);
        let p = Policy::from_toml_str("[sources]\nipv6_prefix = 56\nmax_bans = 10\n").unwrap();
        assert_eq!((p.sources.ipv6_prefix, p.sources.max_bans), (56, 10));
        for bad in [
            "[sources]\nipv6_prefix = 31\n",
            "[sources]\nipv6_prefix = 129\n",
            "[sources]\nmax_bans = 0\n",
        ] {
            assert!(Policy::from_toml_str(bad).is_err(), "{bad}");
        }
    }

    /// The flood detector's limits are keys of `[sources]` with today's values as defaults; a value out of
    /// range is refused with its line and the key's name, never clamped silently.
    #[test]
    fn flood_limits_are_keys_with_safe_defaults_and_ranges() {
        let d = Policy::from_toml_str("").unwrap().sources;
        assert_eq!(
            (d.flood_burst, d.flood_window_ms, d.max_counted_sources),
            (10, 100, 100_000)
        );
        let p = Policy::from_toml_str(
            "[sources]\nflood_burst = 25\nflood_window_ms = 250\nmax_counted_sources = 5000\n",
        )
        .unwrap();
        assert_eq!(
            (
                p.sources.flood_burst,
                p.sources.flood_window_ms,
                p.sources.max_counted_sources
            ),
            (25, 250, 5000)
        );
        for (bad, key) in [
            ("flood_burst = 1", "sources.flood_burst"),
            ("flood_burst = 0", "sources.flood_burst"),
            ("flood_burst = -3", "sources.flood_burst"),
            ("flood_burst = 1001", "sources.flood_burst"),
            ("flood_window_ms = 0", "sources.flood_window_ms"),
            ("flood_window_ms = 60001", "sources.flood_window_ms"),
            ("max_counted_sources = 0", "sources.max_counted_sources"),
            (
                "max_counted_sources = 99999999999",
                "sources.max_counted_sources",
            ),
        ] {
            let text = format!("[site]\ncurrency = \"JPY\"\n[sources]\n{bad}\n");
            match Policy::from_toml_str(&text) {
                Err(PolicyError::Syntax { line, message, .. }) => {
                    assert_eq!(line, 4, "{bad}: {message}");
                    assert!(
                        message.contains(key) && message.contains("use "),
                        "{message}"
                    );
                }
                other => panic!("{bad}: {other:?}"),
            }
        }
        let e = Policy::from_toml_str("[sources]\nflood_burst = \"ten\"\n").unwrap_err();
        assert!(matches!(e, PolicyError::Syntax { line: 2, .. }), "{e}");
    }

    #[test]
    fn a_source_gets_two_failed_guesses_per_hour_by_default() {
        let r = Rules::default();
        for rule in [r.auth_source_minute, r.auth_source_hour] {
            assert_eq!(
                rule.level(2, false).map(|l| l.0),
                rule.warning.map(|_| crate::Level::Warning)
            );
            assert_eq!(
                rule.level(3, false).map(|l| l.0),
                Some(crate::Level::Critical)
            );
            assert!(rule.ban_secs > 0);
        }
        assert_eq!(
            r.auth_account_sources.level(3, false).map(|l| l.0),
            Some(crate::Level::Critical)
        );
        assert_eq!(
            r.caller_id_foreign.level(1, false).map(|l| l.0),
            Some(crate::Level::Warning)
        );
        assert_eq!(
            r.auth_new_country.level(1, false).map(|l| l.0),
            Some(crate::Level::Warning)
        );
    }

    #[test]
    fn rule_levels_use_off_hours_thresholds() {
        let r = Rule::new(Some(5), Some(10), Some(2), None, true);
        assert_eq!(r.level(5, false), None);
        assert_eq!(r.level(6, false), Some((crate::Level::Warning, 5)));
        assert_eq!(r.level(11, false), Some((crate::Level::Critical, 10)));
        assert_eq!(r.level(3, true), Some((crate::Level::Warning, 2)));
        assert_eq!(r.level(11, true), Some((crate::Level::Critical, 10)));
    }
}
