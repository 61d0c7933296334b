//! The engine's output: what to do with a call or a source, and why, in words a PBX admin understands.
//! Also the destination classes that policies and kill switches speak about.

use std::fmt;
use std::net::IpAddr;

use numbering::{Currency, Destination, Money, NumberClass, Scope};
use serde::{Deserialize, Serialize};

use crate::CallIds;
use crate::event::Millis;
use crate::rule_id::RuleId;

/// Classes of destinations as policies and kill switches name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DestClass {
    /// Extensions and feature codes of the PBX.
    Internal,
    /// Fixed-line and other ordinary numbers of the site's country.
    Domestic,
    /// Mobile numbers of the site's country.
    Mobile,
    TollFree,
    /// Shared-cost, personal, UAN and similar non-geographic numbers.
    SharedCost,
    /// Short service numbers (directory, time, weather).
    Service,
    /// Any ordinary number in another country.
    International,
    /// Premium-rate numbers, at home or abroad.
    Premium,
    /// Satellite and international networks.
    Satellite,
    /// A dial string numbering could not understand.
    Unknown,
}

impl DestClass {
    pub const ALL: [DestClass; 10] = [
        DestClass::Internal,
        DestClass::Domestic,
        DestClass::Mobile,
        DestClass::TollFree,
        DestClass::SharedCost,
        DestClass::Service,
        DestClass::International,
        DestClass::Premium,
        DestClass::Satellite,
        DestClass::Unknown,
    ];

    /// The class of a classified destination (emergency numbers never reach the rules).
    pub fn of(d: &Destination) -> DestClass {
        match (d.scope, d.class) {
            (_, NumberClass::PremiumRate) => DestClass::Premium,
            (_, NumberClass::Satellite) => DestClass::Satellite,
            (Scope::Internal, _) | (_, NumberClass::Internal) => DestClass::Internal,
            (Scope::International, _) => DestClass::International,
            (Scope::Unknown, _) | (_, NumberClass::Unknown) => DestClass::Unknown,
            (_, NumberClass::Mobile) => DestClass::Mobile,
            (_, NumberClass::TollFree) => DestClass::TollFree,
            (_, NumberClass::SharedCost | NumberClass::Personal | NumberClass::Uan) => {
                DestClass::SharedCost
            }
            (_, NumberClass::Service | NumberClass::Emergency) => DestClass::Service,
            _ => DestClass::Domestic,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            DestClass::Internal => "internal",
            DestClass::Domestic => "domestic",
            DestClass::Mobile => "mobile",
            DestClass::TollFree => "toll-free",
            DestClass::SharedCost => "shared-cost",
            DestClass::Service => "service",
            DestClass::International => "international",
            DestClass::Premium => "premium-rate",
            DestClass::Satellite => "satellite",
            DestClass::Unknown => "unrecognised",
        }
    }

    /// The class's name as the API and policy files spell it (its serde name): "international", "toll_free"…
    pub fn name(self) -> &'static str {
        match self {
            DestClass::Internal => "internal",
            DestClass::Domestic => "domestic",
            DestClass::Mobile => "mobile",
            DestClass::TollFree => "toll_free",
            DestClass::SharedCost => "shared_cost",
            DestClass::Service => "service",
            DestClass::International => "international",
            DestClass::Premium => "premium",
            DestClass::Satellite => "satellite",
            DestClass::Unknown => "unknown",
        }
    }

    const fn bit(self) -> u16 {
        1 << self as u16
    }
}

/// A set of destination classes (bit set).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ClassSet(u16);

impl ClassSet {
    pub const EMPTY: ClassSet = ClassSet(0);
    /// International, premium-rate and satellite: what an escalation bars.
    pub const INTERNATIONAL: ClassSet = ClassSet(
        DestClass::International.bit() | DestClass::Premium.bit() | DestClass::Satellite.bit(),
    );
    /// Every class that costs money (everything but internal).
    pub const ALL_EXTERNAL: ClassSet = ClassSet(
        DestClass::Domestic.bit()
            | DestClass::Mobile.bit()
            | DestClass::TollFree.bit()
            | DestClass::SharedCost.bit()
            | DestClass::Service.bit()
            | DestClass::International.bit()
            | DestClass::Premium.bit()
            | DestClass::Satellite.bit()
            | DestClass::Unknown.bit(),
    );

    pub fn of(classes: &[DestClass]) -> ClassSet {
        ClassSet(classes.iter().fold(0, |a, c| a | c.bit()))
    }
    pub const fn contains(self, c: DestClass) -> bool {
        self.0 & c.bit() != 0
    }
    pub const fn union(self, o: ClassSet) -> ClassSet {
        ClassSet(self.0 | o.0)
    }
    pub fn classes(self) -> Vec<DestClass> {
        DestClass::ALL
            .into_iter()
            .filter(|c| self.contains(*c))
            .collect()
    }
}

impl fmt::Debug for ClassSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.classes()).finish()
    }
}

impl fmt::Display for ClassSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.classes().iter().map(|c| c.as_str()).collect();
        f.write_str(&names.join(", "))
    }
}

impl Serialize for ClassSet {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.classes().serialize(s)
    }
}

impl<'de> Deserialize<'de> for ClassSet {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Vec::<DestClass>::deserialize(d)?;
        Ok(ClassSet::of(&v))
    }
}

/// Who a kill switch or an "end calls" applies to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "scope", rename_all = "snake_case")]
pub enum BarScope {
    All,
    Tenant { tenant: String },
    Account { tenant: String, account: String },
}

impl BarScope {
    pub fn covers(&self, tenant: &str, account: &str) -> bool {
        match self {
            BarScope::All => true,
            BarScope::Tenant { tenant: t } => t == tenant,
            BarScope::Account {
                tenant: t,
                account: a,
            } => t == tenant && a == account,
        }
    }
}

impl fmt::Display for BarScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BarScope::All => f.write_str("every account"),
            BarScope::Tenant { tenant } => write!(f, "tenant {tenant}"),
            BarScope::Account { tenant, account } => f.write_str(&account_words(tenant, account)),
        }
    }
}

/// "ext 205" or "ext 205 of acme"; for the shared account of unlisted callers ([`crate::UNKNOWN_ACCOUNT`]),
/// "calls from accounts not in the configured list (of acme)".
pub fn account_words(tenant: &str, account: &str) -> String {
    if account == crate::event::UNKNOWN_ACCOUNT {
        if tenant.is_empty() {
            "calls from accounts not in the configured list".to_owned()
        } else {
            format!("calls from accounts not in the configured list of {tenant}")
        }
    } else if tenant.is_empty() {
        format!("ext {account}")
    } else {
        format!("ext {account} of {tenant}")
    }
}

/// Severity, after OpenSIPS fraud_detection: a warning alerts, a critical acts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    Warning,
    Critical,
}

/// What the engine asks the adapters to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Action {
    /// Let the call through and raise an alert.
    Warn,
    /// Reject the call with this SIP status (403 Forbidden, 484 Address Incomplete, 503…).
    Block { sip_status: u16 },
    /// Refuse everything from this address until `until`.
    Ban { source: IpAddr, until: Millis },
    /// Kill switch: bar the scope from these destination classes until an operator lifts it.
    Bar { scope: BarScope, classes: ClassSet },
    /// End these calls in progress of the scope now.
    EndCalls {
        scope: BarScope,
        call_ids: Vec<String>,
    },
}

/// The fate of the event's call, returned by [`crate::Engine::on_event`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum Verdict {
    Allow,
    /// Allowed, with at least one warning (or a shadow-mode critical).
    Warn,
    /// Rejected: send this SIP status.
    Block {
        sip_status: u16,
    },
}

impl Verdict {
    pub fn is_block(&self) -> bool {
        matches!(self, Verdict::Block { .. })
    }
}

/// What a measured value counts, for sentences and machines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    Calls,
    ConcurrentCalls,
    FailedCalls,
    DeniedCalls,
    DistinctNumbers,
    DistinctPrefixes,
    SimilarCalls,
    /// Money in whole units of the site currency.
    Money,
    Failures,
    DistinctUsernames,
    Requests,
    /// A yes/no rule (destination not allowed, obfuscated…): measured 1, threshold 0.
    Flag,
    /// Spend as a percentage of the account's usual daily spend.
    Percent,
}

/// An amount of money in a serialisable form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Amount {
    pub millis: i64,
    pub currency: String3,
}

/// A three-letter currency code that serialises as a string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct String3(pub [u8; 3]);

impl Serialize for String3 {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(std::str::from_utf8(&self.0).unwrap_or("???"))
    }
}

impl<'de> Deserialize<'de> for String3 {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        let b = s.as_bytes();
        match b {
            [a, b, c] => Ok(String3([*a, *b, *c])),
            _ => Err(serde::de::Error::custom("a currency is three letters")),
        }
    }
}

impl Amount {
    pub fn new(millis: i64, currency: Currency) -> Self {
        Self {
            millis,
            currency: String3(currency.0),
        }
    }
    pub fn money(&self) -> Money {
        Money {
            millis: self.millis,
            currency: Currency(self.currency.0),
        }
    }
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.money().fmt(f)
    }
}

/// What a rule measured: the account, tenant, source, number or range whose counter crossed the limit, the
/// destination a flag rule judged, or the kill switch that refused a call.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Subject {
    /// Every account of every tenant (an operator's kill switch over everything).
    All,
    /// A tenant's calls together; the empty tenant is the site of a single-site installation.
    Tenant { tenant: String },
    /// One account (extension) of a tenant.
    Account { tenant: String, account: String },
    /// The source key of requests: an IPv4 address, or the network of `ipv6_prefix` bits of an IPv6 one.
    Source { source: IpAddr, ipv6_prefix: u8 },
    /// One number, in E.164 with its "+".
    Number { number: String },
    /// A number range: every number that starts with `prefix` (E.164 digits without "+") and has three more
    /// digits.
    Range { prefix: String },
    /// The destination of a call, judged by itself (deny lists, allowed classes and countries, risk tiers):
    /// `number` is "+E.164", or the dial string as dialed when numbering could not read it.
    Destination { number: String, class: DestClass },
    /// The kill switch that refused the call.
    KillSwitch { id: u64 },
}

impl Subject {
    /// The subject of a [`BarScope`]: every account, a tenant or an account.
    pub fn of_scope(scope: &BarScope) -> Subject {
        match scope {
            BarScope::All => Subject::All,
            BarScope::Tenant { tenant } => Subject::Tenant {
                tenant: tenant.clone(),
            },
            BarScope::Account { tenant, account } => Subject::Account {
                tenant: tenant.clone(),
                account: account.clone(),
            },
        }
    }

    /// The best reading of a key written before decisions had a subject ("account acme/205", "source
    /// 203.0.113.9", "kill switch 7"…), for alerts stored by an older version.
    fn from_legacy_key(key: &str) -> Subject {
        let tenant_account = |ta: &str| match ta.split_once('/') {
            Some((t, a)) => Subject::Account {
                tenant: t.to_owned(),
                account: a.to_owned(),
            },
            None => Subject::Account {
                tenant: String::new(),
                account: ta.to_owned(),
            },
        };
        if let Some(a) = key.strip_prefix("account ") {
            tenant_account(a)
        } else if let Some(t) = key.strip_prefix("tenant ") {
            Subject::Tenant {
                tenant: t.to_owned(),
            }
        } else if key == "the site" {
            Subject::Tenant {
                tenant: String::new(),
            }
        } else if key == "every account" {
            Subject::All
        } else if let Some(src) = key.strip_prefix("source ") {
            let (ip, bits) = src.split_once('/').unwrap_or((src, "128"));
            match (ip.parse(), bits.parse()) {
                (Ok(source), Ok(ipv6_prefix)) => Subject::Source {
                    source,
                    ipv6_prefix,
                },
                _ => Subject::Destination {
                    number: key.to_owned(),
                    class: DestClass::Unknown,
                },
            }
        } else if let Some(n) = key.strip_prefix("number ") {
            Subject::Number {
                number: n.to_owned(),
            }
        } else if let Some(r) = key.strip_prefix("range +") {
            Subject::Range {
                prefix: r.trim_end_matches('x').to_owned(),
            }
        } else if let Some(id) = key
            .strip_prefix("kill switch ")
            .and_then(|i| i.parse().ok())
        {
            Subject::KillSwitch { id }
        } else {
            Subject::Destination {
                number: key.trim_start_matches("destination ").to_owned(),
                class: DestClass::Unknown,
            }
        }
    }
}

/// The key in words, as decisions have always shown it: "account acme/205", "source 203.0.113.9", "range
/// +23276123xxx", "tenant acme", "the site", "kill switch 7"…
impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Subject::All => f.write_str("every account"),
            Subject::Tenant { tenant } if tenant.is_empty() => f.write_str("the site"),
            Subject::Tenant { tenant } => write!(f, "tenant {tenant}"),
            Subject::Account { tenant, account } if tenant.is_empty() => {
                write!(f, "account {account}")
            }
            Subject::Account { tenant, account } => write!(f, "account {tenant}/{account}"),
            Subject::Source {
                source: IpAddr::V6(v6),
                ipv6_prefix,
            } if *ipv6_prefix < 128 => write!(f, "source {v6}/{ipv6_prefix}"),
            Subject::Source { source, .. } => write!(f, "source {source}"),
            Subject::Number { number } => write!(f, "number {number}"),
            Subject::Range { prefix } => write!(f, "range +{prefix}xxx"),
            Subject::Destination { number, class } => {
                let mut s = String::with_capacity(48);
                crate::explain::push_number_words(&mut s, number, *class);
                write!(f, "destination {s}")
            }
            Subject::KillSwitch { id } => write!(f, "kill switch {id}"),
        }
    }
}

/// The call behind a decision: who made it and what it dialed, so that a notification can be worded from data
/// in any language.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallFacts {
    pub tenant: String,
    /// The account the call was counted under ([`crate::UNKNOWN_ACCOUNT`] for unlisted callers).
    pub account: String,
    /// "+E.164" of the number called, or the dial string as dialed when numbering could not read it; None when
    /// the decision came at the call's end (pumping, money spent), where only the destination's country is kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class: Option<DestClass>,
    /// Pumping: the usual length of the similar answered calls and its spread, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub length: Option<CallLength>,
}

/// "30±2 s": the length of similar calls and how far they stray from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallLength {
    pub secs: u32,
    pub jitter_secs: u32,
}

/// One alert or action, fully explained: the rule, what it measured on, the numbers against the limit, and one
/// English sentence. Everything but the sentence is data, so other languages are written from the fields.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(from = "DecisionWire")]
pub struct Decision {
    pub at: Millis,
    /// The rule; serialised as its name in the policy file ("velocity_account_minute", "pumping"…).
    pub rule: RuleId,
    pub level: Level,
    pub action: Action,
    /// Report-only: the rule is in shadow mode, nothing was enforced.
    pub shadow: bool,
    /// What was measured: an account, a tenant, a source, a number, a range, a destination, a kill switch.
    pub subject: Subject,
    /// ISO 3166 code of the country the rule is about: the destination's (a call's rules, pumping), or the
    /// login's (`auth_new_country`).
    pub country: Option<String>,
    /// The call that triggered the decision, for rules about calls (None for logins, requests, bans).
    pub call: Option<CallFacts>,
    pub measured: i64,
    pub threshold: i64,
    pub unit: Unit,
    /// Length of the window in seconds (0 for rules without a window).
    pub window_secs: u32,
    /// The call of the event that triggered this, if any.
    pub call_id: Option<String>,
    /// Calls that contributed (the most recent few).
    pub calls: CallIds,
    /// Estimated money at stake: spent in the window plus what the blocked call would have cost.
    pub at_stake: Option<Amount>,
    /// One sentence for the PBX admin, in English.
    pub reason: String,
}

impl Decision {
    /// What was measured, in words ("account acme/205", "source 203.0.113.9", "range +23276123xxx"): the
    /// subject's display, kept in the JSON form as `key` for consumers that read it.
    pub fn key(&self) -> String {
        self.subject.to_string()
    }

    /// The account behind the decision: the subject when it is an account, else the caller of the call that
    /// triggered it (the last caller of a number, a range or a tenant).
    pub fn account(&self) -> Option<(&str, &str)> {
        match &self.subject {
            Subject::Account { tenant, account } => Some((tenant, account)),
            _ => self
                .call
                .as_ref()
                .map(|c| (c.tenant.as_str(), c.account.as_str())),
        }
    }
}

impl Serialize for Decision {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("Decision", 18)?;
        st.serialize_field("at", &self.at)?;
        st.serialize_field("rule", &self.rule)?;
        st.serialize_field("kind", &self.rule.kind())?;
        st.serialize_field("level", &self.level)?;
        st.serialize_field("action", &self.action)?;
        st.serialize_field("shadow", &self.shadow)?;
        st.serialize_field("key", &self.key())?;
        st.serialize_field("subject", &self.subject)?;
        st.serialize_field("country", &self.country)?;
        st.serialize_field("call", &self.call)?;
        st.serialize_field("measured", &self.measured)?;
        st.serialize_field("threshold", &self.threshold)?;
        st.serialize_field("unit", &self.unit)?;
        st.serialize_field("window_secs", &self.window_secs)?;
        st.serialize_field("call_id", &self.call_id)?;
        st.serialize_field("calls", &self.calls)?;
        st.serialize_field("at_stake", &self.at_stake)?;
        st.serialize_field("reason", &self.reason)?;
        st.end()
    }
}

/// The JSON form read back: today's, or one stored before decisions had a subject (only its `key` then).
#[derive(Deserialize)]
struct DecisionWire {
    at: Millis,
    rule: RuleId,
    level: Level,
    action: Action,
    shadow: bool,
    #[serde(default)]
    key: Option<String>,
    #[serde(default)]
    subject: Option<Subject>,
    #[serde(default)]
    country: Option<String>,
    #[serde(default)]
    call: Option<CallFacts>,
    measured: i64,
    threshold: i64,
    unit: Unit,
    window_secs: u32,
    call_id: Option<String>,
    calls: CallIds,
    at_stake: Option<Amount>,
    reason: String,
}

impl From<DecisionWire> for Decision {
    fn from(w: DecisionWire) -> Decision {
        let subject = w
            .subject
            .unwrap_or_else(|| Subject::from_legacy_key(w.key.as_deref().unwrap_or_default()));
        Decision {
            at: w.at,
            rule: w.rule,
            level: w.level,
            action: w.action,
            shadow: w.shadow,
            subject,
            country: w.country,
            call: w.call,
            measured: w.measured,
            threshold: w.threshold,
            unit: w.unit,
            window_secs: w.window_secs,
            call_id: w.call_id,
            calls: w.calls,
            at_stake: w.at_stake,
            reason: w.reason,
        }
    }
}
