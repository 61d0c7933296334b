//! Number and range rules of a call attempt (watched classes only): the same number called again and again in
//! the hour, and distinct numbers dialed under one range (the number less its last three digits) in the hour.

use numbering::E164;

use super::{Counted, Hit, ROW, check};
use crate::decision::Unit;
use crate::event::Millis;
use crate::keys::{BoundedMap, KeyHasher, KeyKind};
use crate::policy::Rules;
use crate::rule_id::RuleId;
use crate::state::{AccountState, NumberState, RangeState};
use crate::window::{Buckets, Span};

/// Counts the attempt under its number and range and checks their rules; the keys of the number and of the
/// range (0 for a number too short to have a range).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub(crate) fn check_number(
    hits: &mut Vec<Hit>,
    afl: &[i64; ROW],
    rules: &Rules,
    numbers: &mut BoundedMap<NumberState>,
    ranges: &mut BoundedMap<RangeState>,
    hasher: &KeyHasher,
    e: E164,
    bk: &Buckets,
    seq: u64,
    acct: &AccountState,
    off: bool,
    at: Millis,
    quiet: &mut bool,
) -> (u64, u64) {
    let digits = e.digits().as_bytes();
    let number_key = hasher.bytes(KeyKind::Number, digits, 0);
    let mut range_key = 0u64;
    let num = numbers.entry(number_key, NumberState::default);
    num.last_seen = num.last_seen.max(at);
    let num_hour = num.attempts_hour.add_total_in(bk.hour, 1);
    num.recent.push(at, seq);
    check(
        hits,
        afl,
        RuleId::RepeatNumberHour,
        &rules.repeat_number_hour,
        num_hour,
        off,
        Unit::Calls,
        Span::Hour.secs(),
        Counted::Number,
        Some((acct, at, &mut *quiet)),
    );
    if digits.len() >= 8 {
        let range = digits.get(..digits.len() - 3).unwrap_or(digits);
        range_key = hasher.bytes(KeyKind::Range, range, 0);
        let r = ranges.entry(range_key, || RangeState::new(at));
        r.last_seen = r.last_seen.max(at);
        r.recent.push(at, seq);
        let distinct = r.dial(number_key as u32, at, at - 3_600_000);
        check(
            hits,
            afl,
            RuleId::RangeWalkHour,
            &rules.range_walk_hour,
            distinct,
            off,
            Unit::DistinctNumbers,
            Span::Hour.secs(),
            Counted::Range,
            Some((acct, at, quiet)),
        );
    }
    (number_key, range_key)
}
