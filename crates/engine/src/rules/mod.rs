//! The rules of a call attempt, one module per family, each adding its hits: [`destination`] (the destination
//! judged by itself, obfuscation, foreign caller IDs, prefix probing), [`account`] (velocity, concurrency,
//! unanswered and refused calls), [`money`] (account and tenant spend), [`novelty`] (against the account's
//! history), [`tenant`] (velocity and concurrency), [`number`] (repeat number, range walk); [`combine`] turns
//! the hits into decisions. Here: the hit itself, the threshold floors of each profile and the checks every
//! family uses.

use numbering::RiskTier;

use crate::decision::{ClassSet, DestClass, Level, Unit};
use crate::event::Millis;
use crate::policy::{Policy, Rule};
use crate::rule_id::RuleId;
use crate::state::AccountState;

pub(crate) use crate::explain::Counted;

pub(crate) mod account;
pub(crate) mod combine;
pub(crate) mod destination;
pub(crate) mod money;
pub(crate) mod novelty;
pub(crate) mod number;
pub(crate) mod tenant;

/// A rule that fired, before it is turned into a [`Decision`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Hit {
    pub rule: RuleId,
    pub level: Level,
    pub shadow: bool,
    pub escalate: bool,
    pub measured: i64,
    pub threshold: i64,
    pub unit: Unit,
    pub window_secs: u32,
    pub subject: Counted,
    /// Whether the hit is a refusal by destination policy (feeds `denied_account_hour`).
    pub denial: bool,
}

pub(crate) fn risk_rank(r: RiskTier) -> u8 {
    match r {
        RiskTier::Low => 1,
        RiskTier::Medium => 2,
        RiskTier::High => 3,
        RiskTier::Critical => 4,
    }
}

pub(crate) fn is_international(c: DestClass) -> bool {
    ClassSet::INTERNATIONAL.contains(c)
}

/// Number of rules (the length of a [`Floors`] row).
const RULES: usize = RuleId::ALL.len();

/// The lowest threshold of each rule of each profile, by time of day (`[business hours, off hours]`), worked out
/// once from the policy so that the ~15 threshold checks of a call each cost one comparison: below its floor a
/// rule cannot fire. A disabled rule's floor is `i64::MAX` (it never fires). The last entry of a row says
/// whether a money rule can fire on a measure of 0 (see [`money_fires_at_zero`]).
#[derive(Debug, Clone)]
pub(crate) struct Floors(Vec<[[i64; ROW]; 2]>);

/// Length of a [`Floors`] row: a floor per rule, then the money flag.
pub(crate) const ROW: usize = RULES + 1;

/// The money rules: a call that costs nothing measures 0 on each.
pub(crate) const MONEY_RULES: [RuleId; 6] = [
    RuleId::MoneyAccountHour,
    RuleId::MoneyAccountDay,
    RuleId::MoneyAccountMonth,
    RuleId::MoneyTenantHour,
    RuleId::MoneyTenantDay,
    RuleId::MoneyTenantMonth,
];

/// Whether a money rule of a row can fire on a measure of 0 (a floor below 0; never with floors from a policy
/// file, whose thresholds are not negative). When not, an unpaid call skips the money checks.
#[inline]
pub(crate) fn money_fires_at_zero(row: &[i64; ROW]) -> bool {
    row.get(RULES).is_none_or(|&f| f != 0)
}

impl Floors {
    pub(crate) fn of(policy: &Policy) -> Floors {
        let n = policy.profile_count().max(1);
        Floors(
            (0..n)
                .map(|idx| {
                    let rules = &policy.profile(idx).rules;
                    [false, true].map(|off| {
                        let mut row = [i64::MAX; ROW];
                        for (slot, id) in row.iter_mut().zip(RuleId::ALL) {
                            if let Some(r) = id.settings(rules).filter(|r| r.enabled) {
                                *slot = r.floor(off);
                            }
                        }
                        let zero = MONEY_RULES
                            .iter()
                            .any(|id| row.get(*id as usize).is_none_or(|&f| f < 0));
                        if let Some(flag) = row.get_mut(RULES) {
                            *flag = i64::from(zero);
                        }
                        row
                    })
                })
                .collect(),
        )
    }

    #[cfg(test)]
    pub(crate) fn money_fires_at_zero(&self, idx: usize, off: bool) -> bool {
        money_fires_at_zero(self.row(idx, off))
    }

    /// The row of profile `idx` (like [`Policy::profile`], the first profile's for an index out of range).
    pub(crate) fn row(&self, idx: usize, off: bool) -> &[i64; ROW] {
        const NONE: [i64; ROW] = [i64::MIN; ROW];
        self.0
            .get(idx)
            .or_else(|| self.0.first())
            .and_then(|p| p.get(usize::from(off)))
            .unwrap_or(&NONE)
    }
}

/// Records the hit of `rule` when `measured` passes its warning or critical level (and the precomputed floor).
///
/// `quiet`, for a call attempt: the account, the attempt's time and the attempt's quiet flag. A warning that would
/// be the first hit and was already raised for the account within its window is then not pushed, only noted in
/// the flag. The loop over the hits would have taken it first and skipped it without changing anything
/// (`should_warn` says no and leaves the quiet list alone), so only the verdict (`Warn`, not `Allow`) remembers
/// it.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub(crate) fn check(
    hits: &mut Vec<Hit>,
    floors: &[i64; ROW],
    rule: RuleId,
    r: &Rule,
    measured: i64,
    off: bool,
    unit: Unit,
    window_secs: u32,
    subject: Counted,
    quiet: Option<(&AccountState, Millis, &mut bool)>,
) {
    if floors.get(rule as usize).is_some_and(|&f| measured <= f) {
        return;
    }
    if let Some((level, threshold)) = r.level(measured, off) {
        if let Some((acct, at, noted)) = quiet
            && level == Level::Warning
            && hits.is_empty()
            && acct.is_quiet(rule as u8, at)
        {
            *noted = true;
            return;
        }
        push_hit(
            hits,
            rule,
            r,
            (level, threshold),
            measured,
            unit,
            window_secs,
            subject,
            false,
        );
    }
}

/// [`check`] for a volume rule (attempts, unanswered calls): when `warns` is false only its critical level
/// speaks. The engine passes false for a call in business hours to a destination the site does not watch
/// (domestic, by default): such calls cost little, and a busy call centre's ordinary day is no warning; the
/// critical limits still hold.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub(crate) fn check_volume(
    hits: &mut Vec<Hit>,
    floors: &[i64; ROW],
    rule: RuleId,
    r: &Rule,
    measured: i64,
    off: bool,
    unit: Unit,
    window_secs: u32,
    subject: Counted,
    quiet: Option<(&AccountState, Millis, &mut bool)>,
    warns: bool,
) {
    if !warns
        && r.level(measured, off)
            .is_none_or(|(level, _)| level == Level::Warning)
    {
        return;
    }
    check(
        hits,
        floors,
        rule,
        r,
        measured,
        off,
        unit,
        window_secs,
        subject,
        quiet,
    );
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn push_level(
    hits: &mut Vec<Hit>,
    rule: RuleId,
    r: &Rule,
    measured: i64,
    off: bool,
    unit: Unit,
    window_secs: u32,
    subject: Counted,
    denial: bool,
) {
    if let Some(level) = r.level(measured, off) {
        push_hit(
            hits,
            rule,
            r,
            level,
            measured,
            unit,
            window_secs,
            subject,
            denial,
        );
    }
}

/// The hit of `rule` at `level` (and its threshold), as `check`, `check_attempt` and `push_level` record it.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn push_hit(
    hits: &mut Vec<Hit>,
    rule: RuleId,
    r: &Rule,
    (level, threshold): (Level, i64),
    measured: i64,
    unit: Unit,
    window_secs: u32,
    subject: Counted,
    denial: bool,
) {
    hits.push(Hit {
        rule,
        level,
        shadow: r.shadow,
        escalate: r.escalate,
        measured,
        threshold,
        unit,
        window_secs,
        subject,
        denial,
    });
}

pub(crate) fn flag_hit(rule: RuleId, level: Level, shadow: bool) -> Hit {
    Hit {
        rule,
        level,
        shadow,
        escalate: false,
        measured: 1,
        threshold: 0,
        unit: Unit::Flag,
        window_secs: 0,
        subject: Counted::Destination,
        denial: level == Level::Critical,
    }
}
