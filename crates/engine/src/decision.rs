//! The engine's output: what to do with a call or a source, and why, in words a PBX admin understands.
//! Also the destination classes that policies and kill switches speak about.

use std::fmt;
use std::net::IpAddr;

use numbering::{Currency, Destination, Money, NumberClass, Scope};
use serde::{Deserialize, Serialize};

use crate::event::Millis;

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

/// One alert or action, fully explained.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    pub at: Millis,
    /// Rule name as in the policy file ("velocity_account_minute", "pumping", "kill_switch"…).
    pub rule: String,
    pub level: Level,
    pub action: Action,
    /// Report-only: the rule is in shadow mode, nothing was enforced.
    pub shadow: bool,
    /// What was measured ("account acme/205", "source 203.0.113.9", "range +23276123xxx").
    pub key: String,
    pub measured: i64,
    pub threshold: i64,
    pub unit: Unit,
    /// Length of the window in seconds (0 for rules without a window).
    pub window_secs: u32,
    /// The call of the event that triggered this, if any.
    pub call_id: Option<String>,
    /// Calls that contributed (the most recent few).
    pub calls: Vec<String>,
    /// Estimated money at stake: spent in the window plus what the blocked call would have cost.
    pub at_stake: Option<Amount>,
    /// One sentence for the PBX admin.
    pub reason: String,
}
