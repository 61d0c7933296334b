//! Tenant rules of a call attempt: the tenant's attempts per minute, hour and day, its calls at once, and its
//! watched calls at night at hours the site does not call abroad (its money rules are in [`super::money`];
//! pumping spread over its accounts is counted as calls end, in the engine).

use super::{Counted, Hit, ROW, check, check_volume};
use crate::calendar::LocalMoment;
use crate::decision::Unit;
use crate::event::Millis;
use crate::policy::Rules;
use crate::rule_id::RuleId;
use crate::state::{AccountState, TenantState};
use crate::window::{Buckets, Span};

/// Counts the attempt in the tenant's windows; its attempts in the minute, hour and day.
#[inline(always)]
pub(crate) fn count_attempt(ten: &mut TenantState, bk: &Buckets, at: Millis, seq: u64) -> [i64; 3] {
    ten.last_seen = ten.last_seen.max(at);
    ten.attempts_seen = ten.attempts_seen.saturating_add(1);
    let minute = ten.attempts_min.add_total_in(bk.minute, 1);
    let hour = ten.attempts_hour.add_total_in(bk.hour, 1);
    let day = ten.attempts_day.add_total_in(bk.day, 1);
    ten.recent.push(at, seq);
    [minute, hour, day]
}

/// Velocity and concurrency of the tenant (quiet warnings are the calling account's).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub(crate) fn velocity(
    hits: &mut Vec<Hit>,
    tfl: &[i64; ROW],
    trules: &Rules,
    ten: &TenantState,
    [minute, hour, day]: [i64; 3],
    acct: &AccountState,
    off: bool,
    at: Millis,
    quiet: &mut bool,
    warns: bool,
) {
    for (rule, r, total, span) in [
        (
            RuleId::VelocityTenantMinute,
            &trules.velocity_tenant_minute,
            minute,
            Span::Minute,
        ),
        (
            RuleId::VelocityTenantHour,
            &trules.velocity_tenant_hour,
            hour,
            Span::Hour,
        ),
        (
            RuleId::VelocityTenantDay,
            &trules.velocity_tenant_day,
            day,
            Span::Day,
        ),
    ] {
        check_volume(
            hits,
            tfl,
            rule,
            r,
            total,
            off,
            Unit::Calls,
            span.secs(),
            Counted::Tenant,
            Some((acct, at, &mut *quiet)),
            warns,
        );
    }
    check(
        hits,
        tfl,
        RuleId::ConcurrentTenant,
        &trules.concurrent_tenant,
        i64::from(ten.calls.count) + 1,
        off,
        Unit::ConcurrentCalls,
        0,
        Counted::Tenant,
        Some((acct, at, quiet)),
    );
}

/// `novelty_hours_tenant`: a watched call outside business hours at an hour the site does not call abroad is
/// counted in the tenant's hour; a run of them, whichever extensions place them, is what a hijacked PBX does at
/// night (quiet warnings are the calling account's).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub(crate) fn night_novelty(
    hits: &mut Vec<Hit>,
    tfl: &[i64; ROW],
    trules: &Rules,
    ten: &mut TenantState,
    bk: &Buckets,
    m: &LocalMoment,
    acct: &AccountState,
    at: Millis,
    quiet: &mut bool,
) {
    if !m.off_hours
        || !trules.novelty_hours_tenant.enabled
        || ten.watched_hours.known(m.hour)
        || !ten.mature(at)
    {
        return;
    }
    let n = ten.novel_hour_attempts.add_total_in(bk.hour, 1);
    check(
        hits,
        tfl,
        RuleId::NoveltyHoursTenant,
        &trules.novelty_hours_tenant,
        n,
        m.off_hours,
        Unit::Calls,
        Span::Hour.secs(),
        Counted::Tenant,
        Some((acct, at, quiet)),
    );
}
