//! Numbering: from a dialed string to a destination, its risk and its price.
//!
//! This file is the crate's public contract (types used by `engine`, `guard` and the CLI). Names and meanings of
//! the public items are shared with other crates and change only together with them.
//!
//! Pipeline: [`normalise`] (URI, separators, percent-encoding, symbols, outside line, caller-ID, carrier code,
//! international/trunk prefix; most dangerous plausible reading) → country and class (`class`, cached by
//! leading digits) → risk tier (`risk`) → tariff (`tariff`).

mod class;
mod config;
mod countries;
mod error;
mod normalise;
mod prefix;
mod risk;
mod tariff;
mod types;

pub use config::{DialPlanConfig, NumberingConfig, RiskConfig, TariffConfig};
pub use countries::{calling_code, country_by_code, country_of};
pub use error::NumberingError;
pub use normalise::{UNIVERSAL_EMERGENCY, default_feature_codes, plan_for_country};
pub use risk::{HOT_SPOTS, RiskBook, UserRule, parse_user_list};
pub use tariff::{RateTable, parse_price};
pub use types::*;

use class::PrefixCache;
use normalise::{Digits, Read, Reading, SiteRules};
use prefix::DigitKey;

/// Everything the crate needs to turn a dialed string into a priced, risk-rated destination:
/// the site's dial plan, risk lists and tariffs. Cheap to share between threads (`Send + Sync`).
#[derive(Debug)]
pub struct Numbering {
    rules: SiteRules,
    site: Option<Country>,
    risk: RiskBook,
    user_tariffs: Option<RateTable>,
    default_tariffs: RateTable,
    cache: Option<PrefixCache>,
}

impl Numbering {
    /// Japanese site with the embedded defaults (dial plan JP, default risk list, default JPY tariffs).
    pub fn japan_defaults() -> Self {
        Self::with_plan(DialPlan::japan())
    }

    /// A site with the given dial plan and the embedded defaults for risk and tariffs.
    pub fn with_plan(plan: DialPlan) -> Self {
        let site = country_by_code(plan.calling_code);
        Self {
            rules: SiteRules::new(plan, default_feature_codes()),
            site,
            risk: RiskBook::defaults(),
            user_tariffs: None,
            default_tariffs: RateTable::default_jpy(),
            cache: Some(PrefixCache::new()),
        }
    }

    /// Builds from configuration, reading the risk lists and the rate table it names.
    pub fn from_config(cfg: &NumberingConfig) -> Result<Self, NumberingError> {
        let dp = &cfg.dial_plan;
        let mut plan = plan_for_country(&dp.country).ok_or_else(|| {
            NumberingError::DialPlan(format!(
                "country '{}' is not an ISO 3166 code we know (e.g. JP, US)",
                dp.country
            ))
        })?;
        let digits_only = |what: &str, s: &str| -> Result<String, NumberingError> {
            if s.bytes().all(|b| b.is_ascii_digit()) && s.len() <= 6 {
                Ok(s.to_string())
            } else {
                Err(NumberingError::DialPlan(format!(
                    "{what} '{s}' must be at most 6 digits"
                )))
            }
        };
        if let Some(p) = &dp.international_prefix {
            plan.international_prefix = digits_only("international_prefix", p)?;
            if plan.international_prefix.is_empty() {
                return Err(NumberingError::DialPlan(
                    "international_prefix must not be empty".into(),
                ));
            }
        }
        if let Some(p) = &dp.trunk_prefix {
            plan.trunk_prefix = digits_only("trunk_prefix", p)?;
        }
        if let Some(p) = &dp.outside_line {
            plan.outside_line = Some(digits_only("outside_line", p)?).filter(|s| !s.is_empty());
        }
        if let Some(list) = &dp.carrier_codes {
            plan.carrier_codes = list
                .iter()
                .map(|c| digits_only("carrier code", c))
                .collect::<Result<_, _>>()?;
        }
        if let Some(list) = &dp.caller_id_prefixes {
            plan.caller_id_prefixes = list
                .iter()
                .map(|c| digits_only("caller-ID prefix", c))
                .collect::<Result<_, _>>()?;
        }
        if let Some([lo, hi]) = dp.extension_lengths {
            if lo == 0 || lo > hi || hi > 8 {
                return Err(NumberingError::DialPlan(format!(
                    "extension_lengths [{lo}, {hi}] must be 1 <= min <= max <= 8"
                )));
            }
            plan.extension_lengths = lo..=hi;
        }
        let feature_codes = dp
            .feature_codes
            .clone()
            .unwrap_or_else(default_feature_codes);
        let mut n = Self::with_plan(plan);
        n.rules.feature_codes = feature_codes;
        if !cfg.risk.default_list {
            n.risk = RiskBook::default();
        }
        for path in &cfg.risk.lists {
            let name = path.display().to_string();
            let text = std::fs::read_to_string(path).map_err(|source| NumberingError::Read {
                file: name.clone(),
                source,
            })?;
            n.risk.add_user_rules(&parse_user_list(&text, &name)?);
        }
        if let Some(path) = &cfg.tariffs.file {
            let name = path.display().to_string();
            let text = std::fs::read_to_string(path).map_err(|source| NumberingError::Read {
                file: name.clone(),
                source,
            })?;
            n.user_tariffs = Some(RateTable::from_csv(&text, &name)?);
        }
        if cfg.tariffs.replace_defaults {
            n.default_tariffs = RateTable::default();
        }
        if !cfg.prefix_cache {
            n.cache = None;
        }
        Ok(n)
    }

    /// Turns the prefix cache on or off (off: every number goes through libphonenumber; exact but ~µs).
    pub fn with_prefix_cache(mut self, on: bool) -> Self {
        self.cache = on.then(PrefixCache::new);
        self
    }

    /// Adds user risk rules (e.g. parsed with [`parse_user_list`]).
    pub fn add_risk_rules(&mut self, rules: &[UserRule]) {
        self.risk.add_user_rules(rules);
    }

    /// Installs the user's rate table; it is consulted before the embedded estimates.
    pub fn set_user_tariffs(&mut self, table: RateTable) {
        self.user_tariffs = Some(table);
    }

    /// The site's dial plan.
    pub fn plan(&self) -> &DialPlan {
        &self.rules.plan
    }

    /// Classifies what was dialed (a bare dial string, a `tel:` URI, or the user part of a `sip:` URI with
    /// `user=phone`). Never fails: what cannot be understood is `NumberClass::Unknown` with flags saying why.
    pub fn classify(&self, dialed: &str) -> Destination {
        normalise::normalise_then(&self.rules, dialed, |n| self.destination(n))
    }

    /// The destination of a reading: class and country, E.164 form, risk.
    #[inline]
    fn destination(&self, n: Read<'_>) -> Destination {
        let (scope, class, country) = match n.reading {
            Reading::Emergency => (Scope::Emergency, NumberClass::Emergency, self.site),
            Reading::Service => (Scope::Domestic, NumberClass::Service, self.site),
            Reading::Internal => (Scope::Internal, NumberClass::Internal, None),
            Reading::Local => (Scope::Domestic, NumberClass::Unknown, self.site),
            Reading::National => return self.public_destination(Scope::Domestic, n),
            Reading::International => return self.public_destination(Scope::International, n),
            Reading::Unknown => (Scope::Unknown, NumberClass::Unknown, None),
        };
        self.assessed(scope, class, country, None, None, n.flags)
    }

    /// [`Numbering::destination`] of a national or international reading.
    #[inline]
    fn public_destination(&self, scope: Scope, n: Read<'_>) -> Destination {
        // 1 to 15 digits: an E.164 number, built straight from the reading's parts, and its key for the
        // class, the risk lists and the cache, made once.
        let e164 = E164::from_parts(n.head, n.tail);
        let key = e164.as_ref().map(DigitKey::of_e164);
        let (class, country) = match (&e164, &self.cache) {
            (Some(e), Some(cache)) => cache.classify_keyed(e.digit_bytes(), key.as_ref()),
            (Some(e), None) => class::classify_uncached(e.digits()),
            // No E.164 number (and nothing for the risk lists to look up); the class of the digits as read
            // all the same.
            (None, cache) => {
                let digits = Digits::from_parts(n.head, n.tail);
                match cache {
                    Some(cache) => cache.classify_keyed(digits.as_bytes(), None),
                    None => class::classify_uncached(digits.as_str()),
                }
            }
        };
        self.assessed(scope, class, country, e164, key.as_ref(), n.flags)
    }

    /// The destination with its risk assessed (from the E.164 digits and their key, when there is a number).
    #[inline]
    fn assessed(
        &self,
        scope: Scope,
        class: NumberClass,
        country: Option<Country>,
        e164: Option<E164>,
        key: Option<&DigitKey>,
        flags: DialFlags,
    ) -> Destination {
        let digits = e164.as_ref().map(E164::digit_bytes);
        let (risk, risk_reason) = self.risk.assess_keyed(scope, class, digits, key, flags);
        Destination {
            e164,
            country,
            scope,
            class,
            risk,
            risk_reason,
            flags,
        }
    }

    /// The tariff that applies to a destination (longest-prefix match over the active rate table): the user's
    /// table first, then the embedded estimates. Emergency and internal calls have none.
    pub fn tariff(&self, dest: &Destination) -> Option<&Tariff> {
        if dest.is_emergency() || dest.scope == Scope::Internal {
            return None;
        }
        let e = dest.e164.as_ref()?;
        let intl = dest.scope == Scope::International;
        let key = DigitKey::of_e164(e);
        if let Some(t) = self
            .user_tariffs
            .as_ref()
            .and_then(|u| u.lookup_e164(Some(&key), intl))
        {
            return Some(t);
        }
        self.default_tariffs.lookup_e164(Some(&key), intl)
    }

    /// What a call of `seconds` to this destination would cost, if a tariff applies.
    pub fn cost(&self, dest: &Destination, seconds: u32) -> Option<Money> {
        self.tariff(dest).map(|t| t.cost(seconds))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbering_is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Numbering>();
    }
}
