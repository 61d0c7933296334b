//! Novelty rules of a call attempt, against the account's own history (once its baseline is mature): its first
//! international call, its first call to a country, its first call to a riskier destination than ever, a call
//! off hours at an hour it never calls. The first two are said once: once per account for the first
//! international call, once per account and country for the first call to it (see [`said_once`]).

use numbering::{Destination, RiskTier};

use super::{Counted, Hit, is_international, push_level, risk_rank};
use crate::calendar::LocalMoment;
use crate::decision::{DestClass, Unit};
use crate::policy::Rules;
use crate::rule_id::RuleId;
use crate::state::Baseline;

/// The novelty rules that are said once (per account, or per account and country) rather than again after
/// their window: they are not quiet for a window, and saying them is remembered by [`told`].
pub(crate) fn said_once(rule: RuleId) -> bool {
    matches!(
        rule,
        RuleId::NoveltyFirstInternational | RuleId::NoveltyCountry
    )
}

/// Remembers that `rule` was said about a call to `d`: the first international call is also the first to its
/// country.
pub(crate) fn told(b: &mut Baseline, rule: RuleId, d: &Destination) {
    let cc = d.country.map(|c| c.calling_code);
    match rule {
        RuleId::NoveltyFirstInternational => {
            b.told_international = true;
            if let Some(cc) = cc {
                b.tell_country(cc);
            }
        }
        RuleId::NoveltyCountry => {
            if let Some(cc) = cc {
                b.tell_country(cc);
            }
        }
        _ => {}
    }
}

#[inline(always)]
pub(crate) fn check(
    hits: &mut Vec<Hit>,
    rules: &Rules,
    b: &Baseline,
    d: &Destination,
    class: DestClass,
    m: &LocalMoment,
) {
    let off = m.off_hours;
    let intl = is_international(class);
    if intl && !b.ever_international && !b.told_international {
        push_level(
            hits,
            RuleId::NoveltyFirstInternational,
            &rules.novelty_first_international,
            1,
            off,
            Unit::Flag,
            0,
            Counted::Account,
            false,
        );
    } else if intl
        && let Some(c) = d.country
        && !b.knows_country(c.calling_code)
        && !b.told_country(c.calling_code)
    {
        push_level(
            hits,
            RuleId::NoveltyCountry,
            &rules.novelty_country,
            1,
            off,
            Unit::Flag,
            0,
            Counted::Account,
            false,
        );
    }
    if d.risk >= RiskTier::High && risk_rank(d.risk) > b.max_risk {
        push_level(
            hits,
            RuleId::NoveltyRisk,
            &rules.novelty_risk,
            1,
            off,
            Unit::Flag,
            0,
            Counted::Account,
            false,
        );
    }
    if off && b.hours & (1u32 << (m.hour % 24)) == 0 {
        push_level(
            hits,
            RuleId::NoveltyHours,
            &rules.novelty_hours,
            1,
            off,
            Unit::Flag,
            0,
            Counted::Account,
            false,
        );
    }
}
