//! Account rules of a call attempt: attempts per minute, hour and day, calls at once, unanswered calls in the
//! hour, and refusals by destination policy in the hour ("someone is trying what is barred").

use super::{Counted, Hit, ROW, check, check_volume};
use crate::decision::{ClassSet, DestClass, Level, Unit};
use crate::event::Millis;
use crate::policy::Rules;
use crate::rule_id::RuleId;
use crate::state::AccountState;
use crate::window::{Buckets, Span};

/// Counts the attempt in the account's windows; its attempts in the minute, hour and day.
#[inline(always)]
pub(crate) fn count_attempt(
    acct: &mut AccountState,
    bk: &Buckets,
    class: DestClass,
    at: Millis,
    seq: u64,
) -> [i64; 3] {
    let minute = acct.attempts_min.add_total_in(bk.minute, 1);
    let hour = acct.attempts_hour.add_total_in(bk.hour, 1);
    let day = acct.attempts_day.add_total_in(bk.day, 1);
    if ClassSet::INTERNATIONAL.contains(class) {
        acct.international_day.add_total_in(bk.day, 1);
    }
    acct.recent.push(at, seq);
    [minute, hour, day]
}

/// Velocity and concurrency of the account, and its unanswered calls in the hour.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub(crate) fn velocity(
    hits: &mut Vec<Hit>,
    afl: &[i64; ROW],
    rules: &Rules,
    acct: &AccountState,
    [minute, hour, day]: [i64; 3],
    bk: &Buckets,
    off: bool,
    at: Millis,
    quiet: &mut bool,
    warns: bool,
) {
    for (rule, r, total, span) in [
        (
            RuleId::VelocityAccountMinute,
            &rules.velocity_account_minute,
            minute,
            Span::Minute,
        ),
        (
            RuleId::VelocityAccountHour,
            &rules.velocity_account_hour,
            hour,
            Span::Hour,
        ),
        (
            RuleId::VelocityAccountDay,
            &rules.velocity_account_day,
            day,
            Span::Day,
        ),
    ] {
        check_volume(
            hits,
            afl,
            rule,
            r,
            total,
            off,
            Unit::Calls,
            span.secs(),
            Counted::Account,
            Some((acct, at, &mut *quiet)),
            warns,
        );
    }
    check(
        hits,
        afl,
        RuleId::ConcurrentAccount,
        &rules.concurrent_account,
        i64::from(acct.calls.count) + 1,
        off,
        Unit::ConcurrentCalls,
        0,
        Counted::Account,
        Some((acct, at, &mut *quiet)),
    );
    check_volume(
        hits,
        afl,
        RuleId::FailedAccountHour,
        &rules.failed_account_hour,
        acct.failed_hour.total_in(bk.hour),
        off,
        Unit::FailedCalls,
        Span::Hour.secs(),
        Counted::Account,
        Some((acct, at, &mut *quiet)),
        warns,
    );
}

/// Refusals by destination policy count towards "someone is trying what is barred".
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub(crate) fn denied(
    hits: &mut Vec<Hit>,
    afl: &[i64; ROW],
    rules: &Rules,
    acct: &mut AccountState,
    bk: &Buckets,
    off: bool,
    at: Millis,
    quiet: &mut bool,
) {
    let denied = hits
        .iter()
        .any(|h| h.denial && h.level == Level::Critical && !h.shadow);
    if denied {
        let denied_hour = acct.denied_hour.add_total_in(bk.hour, 1);
        check(
            hits,
            afl,
            RuleId::DeniedAccountHour,
            &rules.denied_account_hour,
            denied_hour,
            off,
            Unit::DeniedCalls,
            Span::Hour.secs(),
            Counted::Account,
            Some((acct, at, quiet)),
        );
    }
}
