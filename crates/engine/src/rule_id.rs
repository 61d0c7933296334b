//! Names of the rules as they appear in decisions, and the map from a rule to its settings in a profile.

use crate::policy::{Rule, Rules};

macro_rules! rule_ids {
    ($( $variant:ident => $name:literal $(, $field:ident)? ;)*) => {
        /// Every rule that can produce a decision.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[repr(u8)]
        pub enum RuleId { $( $variant, )* }

        impl RuleId {
            /// The rule's name, as in the policy file.
            pub const fn as_str(self) -> &'static str {
                match self { $( RuleId::$variant => $name, )* }
            }
            /// The rule's thresholds in a profile (None for rules driven by `[destinations]` or the operator).
            pub fn settings(self, rules: &Rules) -> Option<&Rule> {
                match self { $( RuleId::$variant => rule_ids!(@field rules $($field)?), )* }
            }
            pub const ALL: &'static [RuleId] = &[ $( RuleId::$variant, )* ];
            /// The rule of this name, as [`RuleId::as_str`] writes it.
            pub fn from_name(name: &str) -> Option<RuleId> {
                match name { $( $name => Some(RuleId::$variant), )* _ => None }
            }
        }
    };
    (@field $rules:ident $field:ident) => { Some(&$rules.$field) };
    (@field $rules:ident) => { None };
}

rule_ids! {
    Ban => "ban";
    KillSwitch => "kill_switch";
    DestinationClass => "destination_class";
    DestinationCountry => "destination_country";
    DenyPrefix => "deny_prefix";
    RiskTier => "risk_tier";
    OffHoursInternational => "off_hours_international";
    VelocityAccountMinute => "velocity_account_minute", velocity_account_minute;
    VelocityAccountHour => "velocity_account_hour", velocity_account_hour;
    VelocityAccountDay => "velocity_account_day", velocity_account_day;
    VelocityTenantMinute => "velocity_tenant_minute", velocity_tenant_minute;
    VelocityTenantHour => "velocity_tenant_hour", velocity_tenant_hour;
    VelocityTenantDay => "velocity_tenant_day", velocity_tenant_day;
    ConcurrentAccount => "concurrent_account", concurrent_account;
    ConcurrentTenant => "concurrent_tenant", concurrent_tenant;
    FailedAccountHour => "failed_account_hour", failed_account_hour;
    DeniedAccountHour => "denied_account_hour", denied_account_hour;
    RepeatNumberHour => "repeat_number_hour", repeat_number_hour;
    RangeWalkHour => "range_walk_hour", range_walk_hour;
    Pumping => "pumping", pumping;
    MoneyAccountHour => "money_account_hour", money_account_hour;
    MoneyAccountDay => "money_account_day", money_account_day;
    MoneyAccountMonth => "money_account_month", money_account_month;
    MoneyTenantHour => "money_tenant_hour", money_tenant_hour;
    MoneyTenantDay => "money_tenant_day", money_tenant_day;
    MoneyTenantMonth => "money_tenant_month", money_tenant_month;
    NoveltyCountry => "novelty_country", novelty_country;
    NoveltyRisk => "novelty_risk", novelty_risk;
    NoveltyFirstInternational => "novelty_first_international", novelty_first_international;
    NoveltyHours => "novelty_hours", novelty_hours;
    NoveltySpend => "novelty_spend", novelty_spend;
    Obfuscated => "obfuscated", obfuscated;
    PrefixProbe => "prefix_probe", prefix_probe;
    AuthSourceMinute => "auth_source_minute", auth_source_minute;
    AuthSourceHour => "auth_source_hour", auth_source_hour;
    AuthAccountHour => "auth_account_hour", auth_account_hour;
    AuthUsernamesSource => "auth_usernames_source", auth_usernames_source;
    AuthSuccessAfterFailures => "auth_success_after_failures", auth_success_after_failures;
    AuthNewNetwork => "auth_new_network", auth_new_network;
    ScannerUserAgent => "scanner_user_agent", scanner_user_agent;
    ScannerFingerprint => "scanner_fingerprint";
    RequestRateSource => "request_rate_source", request_rate_source;
    CallerIdForeign => "caller_id_foreign", caller_id_foreign;
    AuthAccountSources => "auth_account_sources", auth_account_sources;
    AuthNewCountry => "auth_new_country", auth_new_country;
    WeakPassword => "weak_password";
    PumpingTenant => "pumping_tenant", pumping_tenant;
    NoveltyHoursTenant => "novelty_hours_tenant", novelty_hours_tenant;
    ForwardedInternational => "forwarded_international", forwarded_international;
}

/// What a finding says about the site: an attack or compromise, or only that the call is outside the
/// configured policy. An owner's verdict ("were we hit?") is about the first kind; the second tells the
/// admin which lines of the policy a routine call would trip.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    /// Behaviour of fraud or of an intruder: pumping, velocity, money spikes, range walks, probing,
    /// risk tiers, authentication attacks, scanners, novelty bursts, obfuscated dial strings.
    Fraud,
    /// The call breaks the site's own rules (destination class or country, denied prefix, calling
    /// hours) or an operator's block (kill switch): nothing in it says the call is an attack.
    Policy,
}

impl FindingKind {
    pub const fn as_str(self) -> &'static str {
        match self {
            FindingKind::Fraud => "fraud",
            FindingKind::Policy => "policy",
        }
    }
}

impl RuleId {
    /// The kind of finding this rule produces. A rule that only compares the call with lists the admin
    /// wrote is `Policy`; every rule that measures behaviour, risk or an attack is `Fraud`.
    pub const fn kind(self) -> FindingKind {
        match self {
            RuleId::DestinationClass
            | RuleId::DestinationCountry
            | RuleId::DenyPrefix
            | RuleId::OffHoursInternational
            | RuleId::KillSwitch => FindingKind::Policy,
            _ => FindingKind::Fraud,
        }
    }
}

impl std::fmt::Display for RuleId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A rule compares equal to its name ("pumping"), for tests and filters that hold names.
impl PartialEq<str> for RuleId {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for RuleId {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl serde::Serialize for RuleId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for RuleId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = std::borrow::Cow::<'de, str>::deserialize(d)?;
        RuleId::from_name(&name)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown rule \"{name}\"")))
    }
}

impl std::str::FromStr for RuleId {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RuleId::from_name(s).ok_or_else(|| format!("unknown rule \"{s}\""))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_configurable_rule_has_an_id_with_the_same_name() {
        let rules = Rules::default();
        let with_settings: Vec<&str> = RuleId::ALL
            .iter()
            .filter(|r| r.settings(&rules).is_some())
            .map(|r| r.as_str())
            .collect();
        assert_eq!(with_settings, Rules::NAMES);
    }

    #[test]
    fn only_the_admins_own_lists_make_policy_findings() {
        let policy: Vec<&str> = RuleId::ALL
            .iter()
            .filter(|r| r.kind() == FindingKind::Policy)
            .map(|r| r.as_str())
            .collect();
        assert_eq!(
            policy,
            [
                "kill_switch",
                "destination_class",
                "destination_country",
                "deny_prefix",
                "off_hours_international"
            ]
        );
        assert_eq!(RuleId::RiskTier.kind(), FindingKind::Fraud);
        assert_eq!(RuleId::Obfuscated.kind(), FindingKind::Fraud);
    }

    #[test]
    fn names_round_trip_through_serde() {
        for r in RuleId::ALL {
            let json = serde_json::to_string(r).expect("json");
            assert_eq!(json, format!("\"{}\"", r.as_str()));
            assert_eq!(serde_json::from_str::<RuleId>(&json).expect("back"), *r);
        }
        assert!(serde_json::from_str::<RuleId>("\"no_such_rule\"").is_err());
    }
}
