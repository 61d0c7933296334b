//! Tenant rules of a call attempt: the tenant's attempts per minute, hour and day, and its calls at once (its
//! money rules are in [`super::money`]).

use super::{Counted, Hit, ROW, check};
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
        check(
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
