//! Numbering: from a dialed string to a destination, its risk and its price.
//!
//! This file is the crate's public contract (types used by `engine`, `guard` and the CLI). Names and meanings of
//! the public items are shared with other crates and change only together with them.
//!
//! Pipeline: [`normalise`] (URI, separators, percent-encoding, symbols, outside line, caller-ID, carrier code,
//! international/trunk prefix; most dangerous plausible reading) → country and class (`class`, cached by
//! leading digits) → risk tier (`risk`) → tariff (`tariff`).

#![forbid(unsafe_code)]

mod class;
mod config;
mod countries;
mod error;
mod grouping;
mod normalise;
mod prefix;
mod risk;
mod tariff;
mod types;

pub use class::prepare_all_countries;
pub use config::{DialPlanConfig, NumberingConfig, RiskConfig, TariffConfig, line_col};
pub use countries::{calling_code, country_by_code, country_of};
pub use error::NumberingError;
pub use grouping::group_thousands;
pub use normalise::{
    FOREIGN_INTERNATIONAL_PREFIXES, UNIVERSAL_EMERGENCY, default_feature_codes,
    default_foreign_prefixes, plan_for_country,
};
pub use risk::{HOT_SPOTS, RiskBook, UserRule, parse_user_list};
pub use tariff::{RateTable, parse_price};
pub use types::*;

use class::PrefixCache;
use normalise::{Digits, Read, Reading, Rivals, SiteRules};
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
        if let Some(list) = &dp.international_prefixes {
            let list = list
                .iter()
                .map(|p| match digits_only("international prefix", p)? {
                    p if p.is_empty() => Err(NumberingError::DialPlan(
                        "international_prefixes must not hold an empty prefix".into(),
                    )),
                    p => Ok(p),
                })
                .collect::<Result<Vec<_>, _>>()?;
            let Some((main, others)) = list.split_first() else {
                return Err(NumberingError::DialPlan(
                    "international_prefixes must name at least one prefix (e.g. [\"010\", \"00\"])"
                        .into(),
                ));
            };
            if let Some(p) = &dp.international_prefix
                && p != main
            {
                return Err(NumberingError::DialPlan(format!(
                    "international_prefix '{p}' and international_prefixes (first '{main}') disagree: give one of them"
                )));
            }
            plan.international_prefix = main.clone();
            plan.other_international_prefixes = others.to_vec();
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
        // Another country's prefix is what the plan does not read itself: the defaults follow the prefixes and
        // carrier codes set above.
        plan.foreign_prefixes = match &dp.foreign_prefixes {
            Some(list) => list
                .iter()
                .map(|p| {
                    let ok = !p.is_empty()
                        && p.len() <= 6
                        && p.bytes().all(|b| b.is_ascii_digit() || b == b'x')
                        && p.bytes().next().is_some_and(|b| b.is_ascii_digit());
                    if ok {
                        Ok(p.clone())
                    } else {
                        Err(NumberingError::DialPlan(format!(
                            "foreign prefix '{p}' must be 1 to 6 digits, 'x' for any digit after the first (e.g. \"00xx\")"
                        )))
                    }
                })
                .collect::<Result<_, _>>()?,
            None => default_foreign_prefixes(&plan),
        };
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

    /// Classifies what was dialed (a bare dial string, a `tel:` URI with its `phone-context`, or the user part
    /// of a `sip:` URI with `user=phone`). Never fails: what cannot be understood is `NumberClass::Unknown`
    /// with flags saying why.
    ///
    /// When the digits can be read in more than one way that leads abroad, **the most dangerous reading
    /// wins**. Besides the plan's own reading (outside line, caller-ID prefix, carrier code, international or
    /// trunk prefix; the most dangerous of those), the rivals are: the digits after a further international
    /// prefix of the site (`other_international_prefixes`), after another country's international prefix
    /// (`foreign_prefixes`, flagged [`DialFlags::FOREIGN_PREFIX`]), and the call abroad hidden after the site's
    /// own country code (`+81 10…`, flagged [`DialFlags::HIDDEN_INTERNATIONAL`]). The rule:
    /// 1. An emergency reading of the site stands (emergency numbers are never blocked).
    /// 2. Another country's prefix never beats a real national number of the site (a class other than
    ///    unknown: `011 234 5678` is a Sapporo number, not +234 5678; unless the plan only guessed it from a
    ///    country code straight after a carrier code), and needs a possible number abroad (an assigned calling
    ///    code, 7 to 15 digits); where the plan reads the digits abroad itself it must be a number
    ///    libphonenumber recognises.
    /// 3. A rival that leads abroad beats a reading that does not (local, unknown, or a national number that
    ///    is no real one).
    /// 4. Between readings abroad: the higher risk tier (before any raise for how it was dialed), then the
    ///    more specific match: a sure number (one libphonenumber recognises, or one dialed through the site's
    ///    own international prefix), then the longer prefix before the country code (a country code straight
    ///    after a carrier code counts as none: it is the plan's guess); on a full tie the plan's own reading.
    ///    `0011972592123456` is both +1 972 592… (KDDI's `001` and the country code, no NANP number, medium)
    ///    and +972 59 212 3456 (Australia's `0011`, Israel, high): Israel wins.
    /// 5. Digits that began with another country's prefix but hold no number abroad are flagged
    ///    `FOREIGN_PREFIX` all the same (unless they are a real national number).
    ///
    /// A reading through another country's prefix or hidden after the site's code is at least
    /// [`RiskTier::High`], and its `risk_reason` says why.
    pub fn classify(&self, dialed: &str) -> Destination {
        normalise::normalise_then(&self.rules, dialed, |n| self.destination(n))
    }

    /// [`Numbering::classify`] of a dial string in the given `phone-context` (as it appears in a URI: "+1",
    /// "+1-212", "+44 20", or a domain name), which replaces any context the string carries (`None`: the
    /// string's own, if any). Another country's context makes the digits that country's number, read by
    /// its plan (international prefix, trunk prefix, else local after the context's digits) and flagged
    /// [`DialFlags::FOREIGN_CONTEXT`]: `110` in context "+1" is a US string, never Japan's police. A domain
    /// name or the site's own country code keeps the site's plan (`119` in "+81" is emergency). Where a PBX
    /// ignoring the context would dial abroad by the site's plan, that reading competes by risk.
    pub fn classify_in_context(&self, dialed: &str, phone_context: Option<&str>) -> Destination {
        normalise::normalise_in_context_then(&self.rules, dialed, phone_context, |n| {
            self.destination(n)
        })
    }

    /// The destination of a reading, weighed against its rivals when there are some (slow path only).
    #[inline]
    fn destination(&self, n: Read<'_>) -> Destination {
        if let Some(rivals) = n.rivals {
            return self.most_dangerous(n, rivals);
        }
        self.reading_destination(n)
    }

    /// The most dangerous of the plan's reading `main` and its rivals, by the rule of [`Numbering::classify`].
    #[cold]
    #[inline(never)]
    fn most_dangerous(&self, main: Read<'_>, rivals: &Rivals<'_>) -> Destination {
        let main_d = self.reading_destination(main);
        if main.reading == Reading::Emergency {
            return main_d;
        }
        let foreign = |flags: DialFlags| flags.contains(DialFlags::FOREIGN_PREFIX);
        let real_national = main.reading == Reading::National
            && main_d.class != NumberClass::Unknown
            && !rivals.main_guess;
        // The plan reads the digits abroad itself (its main reading, or a further prefix of the site): another
        // country's prefix then has to make a number libphonenumber knows.
        let plan_abroad = main.reading == Reading::International
            || rivals
                .iter()
                .any(|r| !foreign(r.flags) && r.reading == Reading::International);
        // Abroad first, then the tier, then a sure number (one libphonenumber knows, or one dialed through the
        // site's own international prefix), then the longer prefix before the country code; the plan's own
        // reading on a full tie.
        let key = |reading: Reading, d: &Destination, prefix: u8, plan: bool| {
            (
                reading == Reading::International,
                self.tier_of(d),
                d.class != NumberClass::Unknown || (plan && prefix > 0),
                prefix,
            )
        };
        let mut best_key = key(main.reading, &main_d, rivals.main_prefix, true);
        let mut best: Option<Destination> = None;
        let mut foreign_won = false;
        for r in rivals.iter() {
            let f = foreign(r.flags);
            if (f && real_national) || r.reading.danger() < main.reading.danger() {
                continue;
            }
            let d = self.reading_destination(r.read(rivals.outer));
            if f && plan_abroad && d.class == NumberClass::Unknown {
                continue;
            }
            let k = key(r.reading, &d, r.prefix_len, !f);
            if k > best_key {
                best_key = k;
                best = Some(d);
                foreign_won = f;
            }
        }
        if let Some(d) = best {
            debug_assert!(!foreign_won || d.flags.has_suspicious_prefix());
            return d;
        }
        if rivals.foreign_seen && !real_national && !plan_abroad {
            let mut flagged = main;
            flagged.flags.insert(DialFlags::FOREIGN_PREFIX);
            return self.reading_destination(flagged);
        }
        main_d
    }

    /// The risk tier of a destination by what it is, before any raise for how it was dialed.
    fn tier_of(&self, d: &Destination) -> RiskTier {
        let digits = d.e164.as_ref().map(E164::digit_bytes);
        self.risk
            .assess_digits(d.scope, d.class, digits, DialFlags::default())
            .0
    }

    /// The destination of one reading: class and country, E.164 form, risk.
    #[inline]
    fn reading_destination(&self, n: Read<'_>) -> Destination {
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
        let (risk, risk_reason, of_country) =
            self.risk.assess_keyed(scope, class, digits, key, flags);
        let mut flags = flags;
        if of_country {
            flags.insert(DialFlags::COUNTRY_RISK);
        }
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

    impl Numbering {
        /// [`Numbering::classify`] of bare digits with every reading tried (no quick national reading, no
        /// `read_plain`): what the shortcuts must agree with.
        fn classify_every_way(&self, digits: &str) -> Destination {
            normalise::normalise_every_way_then(&self.rules, digits, |n| self.destination(n))
        }
    }

    /// Where the quick national reading or `read_plain` answers, trying every reading and weighing the rivals
    /// (another country's prefix in a Sapporo number, `011…`) gives the same destination: every three-digit
    /// start at every length from 3 to 16, filled to meet the prefixes that matter.
    #[test]
    fn shortcuts_agree_with_every_reading_weighed() {
        let sites = [
            Numbering::japan_defaults(),
            Numbering::with_plan(plan_for_country("US").unwrap_or_else(DialPlan::japan)),
        ];
        let fills = [
            "0", "5", "9", "00", "011", "810", "0011", "4420", "232", "972",
        ];
        let mut compared = 0;
        for n in &sites {
            for start in 0..1000 {
                for fill in fills {
                    for len in 3..=16 {
                        let mut d = format!("{start:03}{fill}");
                        while d.len() < len {
                            d.push_str(fill);
                        }
                        d.truncate(len);
                        let fast = n.classify(&d);
                        // Only where a shortcut answered (the slow path is the same code otherwise).
                        let rules = &n.rules;
                        let shortcut = normalise::normalise_then(rules, &d, |r| r.rivals.is_none());
                        if !shortcut {
                            continue;
                        }
                        compared += 1;
                        let slow = n.classify_every_way(&d);
                        assert_eq!(fast, slow, "{} {d}", n.plan().country);
                    }
                }
            }
        }
        assert!(compared > 100_000, "{compared}");
    }

    #[test]
    fn numbering_is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Numbering>();
    }
}
