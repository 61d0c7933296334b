//! Local wall-clock times in CDRs → UTC instants, fast.
//!
//! PBXs write `YYYY-MM-DD HH:MM:SS` in the site's local time with no zone. Converting through chrono-tz for each
//! of the three times of every line would dominate the reader, so the offset of a local hour is cached: lines
//! come roughly in time order, so nearly every lookup hits. An hour is cached only when its offset is the same at
//! both ends (no DST change inside it); ambiguous local times (the repeated hour when DST ends) take the earlier
//! instant, and non-existent ones (the skipped hour) are read with the offset in force just before the gap.

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Offset, TimeZone, Utc};
use chrono_tz::Tz;

/// Converts the site's local times to UTC, with a small offset cache. One per reader (not shared).
#[derive(Clone, Debug)]
pub struct SiteClock {
    tz: Tz,
    /// (local hour number since the epoch, UTC offset in seconds) of the last hours looked up.
    cache: [(i64, i32); 2],
    next_slot: usize,
    /// The last valid `YYYY-MM-DD` parsed and its day number.
    last_date: Option<([u8; 10], i64)>,
    /// The last UTC day built (days since the epoch) and its chrono date: spares chrono's day-number-to-date
    /// conversion (`NaiveDate::from_num_days_from_ce_opt`) for the many times of the same day.
    last_utc_day: Option<(i64, NaiveDate)>,
    /// The last local hour read whose UTC offset holds for the whole hour (see [`HourMemo`]).
    hour: Option<HourMemo>,
}

/// A local hour `YYYY-MM-DD HH` already read, so that another time of it costs only its `:MM:SS`: the key is
/// its first 13 bytes as two overlapping words (bytes 0..8 and 5..13), the answer the UTC date and second of
/// the day at which the local hour starts. Only hours whose offset the hour cache keeps (no DST change inside)
/// are remembered, so a hit answers what the slow path answers.
#[derive(Clone, Copy, Debug)]
struct HourMemo {
    key: (u64, u64),
    date: NaiveDate,
    /// UTC second of `date` at which the local hour starts.
    second: u32,
}

/// The two words of the `YYYY-MM-DD HH` of a 19-byte time (bytes 0..8 and 5..13).
#[inline(always)]
fn hour_key(t: &[u8; 19]) -> (u64, u64) {
    let word = |i: usize| {
        t.get(i..i + 8)
            .and_then(|w| <[u8; 8]>::try_from(w).ok())
            .map_or(0, u64::from_le_bytes)
    };
    (word(0), word(5))
}

/// `:MM:SS` (bytes 13..19 of a 19-byte time) as seconds into the hour, `None` unless two digits each with
/// MM ≤ 59 and SS ≤ 60 (a leap second reads as the next second, as in [`parse_time_of_day`]).
#[inline(always)]
fn minute_second(t: &[u8; 19]) -> Option<u32> {
    let [.., c1, m1, m2, c2, s1, s2] = *t;
    let d = |b: u8| {
        let v = b.wrapping_sub(b'0');
        (v <= 9).then_some(u32::from(v))
    };
    if c1 != b':' || c2 != b':' {
        return None;
    }
    let minute = d(m1)? * 10 + d(m2)?;
    let second = d(s1)? * 10 + d(s2)?;
    if minute > 59 || second > 60 {
        return None;
    }
    Some(minute * 60 + second)
}

impl SiteClock {
    /// A clock for the site's IANA time zone (use `chrono_tz::UTC` for `usegmtime=yes` Asterisk files).
    pub fn new(tz: Tz) -> SiteClock {
        SiteClock {
            tz,
            cache: [(i64::MIN, 0); 2],
            next_slot: 0,
            last_date: None,
            last_utc_day: None,
            hour: None,
        }
    }

    /// The site time zone.
    pub fn tz(&self) -> Tz {
        self.tz
    }

    /// UTC instant of a local time given as seconds since 1970-01-01 00:00:00 *local*.
    pub fn local_seconds_to_utc(&mut self, local: i64) -> Option<i64> {
        let hour = local.div_euclid(3600);
        for &(h, off) in &self.cache {
            if h == hour {
                return Some(local - i64::from(off));
            }
        }
        let (offset, cacheable) = self.offset_of_local(local, hour)?;
        if cacheable {
            self.cache[self.next_slot] = (hour, offset);
            self.next_slot = (self.next_slot + 1) % self.cache.len();
        }
        Some(local - i64::from(offset))
    }

    fn offset_of_local(&self, local: i64, hour: i64) -> Option<(i32, bool)> {
        let naive = naive_from_seconds(local)?;
        let offset = match self.tz.offset_from_local_datetime(&naive) {
            chrono::LocalResult::Single(o) => o.fix().local_minus_utc(),
            chrono::LocalResult::Ambiguous(earliest, _) => {
                return Some((earliest.fix().local_minus_utc(), false));
            }
            chrono::LocalResult::None => {
                // In the gap of a spring-forward: the offset before the gap makes the clock jump as the PBX's did.
                let before = naive_from_seconds(local - 3 * 3600)?;
                let off = self
                    .tz
                    .offset_from_local_datetime(&before)
                    .earliest()?
                    .fix()
                    .local_minus_utc();
                return Some((off, false));
            }
        };
        let start = naive_from_seconds(hour * 3600)?;
        let end = naive_from_seconds(hour * 3600 + 3599)?;
        let same = |n: &NaiveDateTime| match self.tz.offset_from_local_datetime(n) {
            chrono::LocalResult::Single(o) => o.fix().local_minus_utc() == offset,
            _ => false,
        };
        Some((offset, same(&start) && same(&end)))
    }

    /// Parses a local `YYYY-MM-DD HH:MM:SS` (also `T` instead of the space, and an ignored `.fraction`) to UTC.
    /// Returns `None` when the text is not such a time.
    #[inline(always)]
    pub fn parse_local(&mut self, text: &[u8]) -> Option<DateTime<Utc>> {
        // The common case: a plain 19-byte time of the hour read last ([`HourMemo`]).
        if let Ok(t) = <&[u8; 19]>::try_from(text)
            && let Some(memo) = &self.hour
            && hour_key(t) == memo.key
            && let Some(into_hour) = minute_second(t)
            && into_hour < 3600
            && let Some(time) =
                NaiveTime::from_num_seconds_from_midnight_opt(memo.second + into_hour, 0)
        {
            return Some(memo.date.and_time(time).and_utc());
        }
        self.parse_local_miss(text)
    }

    /// [`SiteClock::parse_local`] when the hour memo does not answer: the slow path, then the memo updated.
    #[inline(never)]
    fn parse_local_miss(&mut self, text: &[u8]) -> Option<DateTime<Utc>> {
        let exact = <&[u8; 19]>::try_from(text).ok();
        let (utc, local) = self.parse_local_slow(text)?;
        if let Some(t) = exact
            && minute_second(t).is_some_and(|s| s < 3600)
        {
            self.remember_hour(t, local);
        }
        Some(utc)
    }

    /// After the slow path read the 19-byte time `t` (not `59:60`) at `local` seconds: remembers its hour when
    /// the hour cache holds it, i.e. its offset is the same through the whole hour.
    fn remember_hour(&mut self, t: &[u8; 19], local: i64) {
        let hour = local.div_euclid(3600);
        let Some(&(_, offset)) = self.cache.iter().find(|(h, _)| *h == hour) else {
            return;
        };
        let start = hour * 3600 - i64::from(offset);
        let day = start.div_euclid(86_400);
        let second = u32::try_from(start - day * 86_400).ok();
        let date = day
            .checked_mul(86_400)
            .and_then(|s| DateTime::from_timestamp(s, 0));
        if let (Some(second), Some(date)) = (second, date) {
            self.hour = Some(HourMemo {
                key: hour_key(t),
                date: date.date_naive(),
                second,
            });
        }
    }

    /// [`SiteClock::parse_local`] without the hour memo; also gives the local seconds read.
    fn parse_local_slow(&mut self, text: &[u8]) -> Option<(DateTime<Utc>, i64)> {
        // The three times of a line, and the lines around it, nearly always share their date: its check and
        // day number are remembered (only a valid date is).
        let days = match (text.get(..10), &self.last_date) {
            (Some(date), Some((last, days))) if date == last.as_slice() => *days,
            _ => {
                let days = parse_date(text)?;
                if let Some(date) = text.get(..10).and_then(|d| <[u8; 10]>::try_from(d).ok()) {
                    self.last_date = Some((date, days));
                }
                days
            }
        };
        let (secs, nanos) = parse_time_of_day(text)?;
        let local = days * 86_400 + secs;
        let utc = self.local_seconds_to_utc(local)?;
        Some((self.utc_instant(utc, nanos)?, local))
    }

    /// `DateTime::from_timestamp(secs, nanos)` with the date of the last day remembered.
    fn utc_instant(&mut self, secs: i64, nanos: u32) -> Option<DateTime<Utc>> {
        let day = secs.div_euclid(86_400);
        let date = match self.last_utc_day {
            Some((d, date)) if d == day => date,
            _ => {
                let date = DateTime::from_timestamp(day.checked_mul(86_400)?, 0)?.date_naive();
                self.last_utc_day = Some((day, date));
                date
            }
        };
        let time = NaiveTime::from_num_seconds_from_midnight_opt(
            u32::try_from(secs.rem_euclid(86_400)).ok()?,
            nanos,
        )?;
        Some(date.and_time(time).and_utc())
    }

    /// The local wall-clock time of a UTC instant (for writers and the scenario generator).
    pub fn to_local(&self, t: DateTime<Utc>) -> NaiveDateTime {
        t.with_timezone(&self.tz).naive_local()
    }
}

fn naive_from_seconds(local: i64) -> Option<NaiveDateTime> {
    DateTime::from_timestamp(local, 0).map(|d| d.naive_utc())
}

/// `YYYY-MM-DD HH:MM:SS[.fff]` → (seconds since the epoch as if the time were UTC, nanoseconds). Hand-written
/// because it runs three times per CDR line.
pub(crate) fn parse_datetime_fields(text: &[u8]) -> Option<(i64, u32)> {
    let days = parse_date(text)?;
    let (secs, nanos) = parse_time_of_day(text)?;
    // A leap second (:60) is folded into the next second, as the PBX's own clock would have done.
    Some((days * 86_400 + secs, nanos))
}

fn digit(t: &[u8], i: usize) -> Option<u32> {
    let b = *t.get(i)?;
    if b.is_ascii_digit() {
        Some(u32::from(b - b'0'))
    } else {
        None
    }
}

/// The `YYYY-MM-DD` at the start of `t` as days since 1970-01-01 (a real calendar date, else `None`).
fn parse_date(t: &[u8]) -> Option<i64> {
    if t.get(4) != Some(&b'-') || t.get(7) != Some(&b'-') {
        return None;
    }
    let d = |i: usize| digit(t, i);
    let year = d(0)? * 1000 + d(1)? * 100 + d(2)? * 10 + d(3)?;
    let month = d(5)? * 10 + d(6)?;
    let day = d(8)? * 10 + d(9)?;
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    Some(days_from_civil(i64::from(year), month, day))
}

/// The ` HH:MM:SS[.fff]` (or `T…`) from byte 10 to the end of `t`: seconds into the day and nanoseconds.
fn parse_time_of_day(t: &[u8]) -> Option<(i64, u32)> {
    if t.len() < 19
        || !matches!(t.get(10), Some(b' ' | b'T'))
        || t.get(13) != Some(&b':')
        || t.get(16) != Some(&b':')
    {
        return None;
    }
    let d = |i: usize| digit(t, i);
    let hour = d(11)? * 10 + d(12)?;
    let minute = d(14)? * 10 + d(15)?;
    let second = d(17)? * 10 + d(18)?;
    let mut nanos = 0u32;
    let rest = t.get(19..)?;
    if !rest.is_empty() {
        let frac = rest.strip_prefix(b".")?;
        if frac.is_empty() || frac.len() > 9 || !frac.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let mut n = 0u32;
        for &b in frac {
            n = n * 10 + u32::from(b - b'0');
        }
        for _ in frac.len()..9 {
            n *= 10;
        }
        nanos = n;
    }
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    Some((i64::from(hour * 3600 + minute * 60 + second), nanos))
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400) => {
            29
        }
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
pub(crate) fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Parses a Unix time in seconds, possibly fractional (`1717390800`, `1717390800.123456`), or in microseconds /
/// milliseconds when the integer is too large to be seconds (FreeSWITCH `*_uepoch`, exports in ms).
pub(crate) fn parse_epoch(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    let (int_part, frac_part) = match text.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (text, None),
    };
    if int_part.is_empty() || !int_part.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let value: i64 = int_part.parse().ok()?;
    let mut nanos = 0u32;
    if let Some(f) = frac_part {
        if f.is_empty() || f.len() > 9 || !f.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let n: u32 = f.parse().ok()?;
        nanos = n * 10u32.pow(9 - f.len() as u32);
    }
    // Seconds up to year ~5138; beyond that it must be ms (13 digits) or µs (16 digits).
    if value < 100_000_000_000 {
        DateTime::from_timestamp(value, nanos)
    } else if value < 100_000_000_000_000 {
        DateTime::from_timestamp_millis(value)
    } else {
        DateTime::from_timestamp_micros(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn date(y: i32, m: u32, d: u32) -> Option<NaiveDate> {
        NaiveDate::from_ymd_opt(y, m, d)
    }

    #[test]
    fn tokyo_local_time_is_utc_plus_nine() {
        let mut clock = SiteClock::new(chrono_tz::Asia::Tokyo);
        let t = clock.parse_local(b"2025-06-06 19:30:00");
        assert_eq!(
            t,
            Some(Utc.with_ymd_and_hms(2025, 6, 6, 10, 30, 0).unwrap())
        );
        // Cached hour, different minute.
        let t = clock.parse_local(b"2025-06-06 19:59:59");
        assert_eq!(
            t,
            Some(Utc.with_ymd_and_hms(2025, 6, 6, 10, 59, 59).unwrap())
        );
        // Day rollover in UTC.
        let t = clock.parse_local(b"2025-06-07 08:00:00");
        assert_eq!(t, Some(Utc.with_ymd_and_hms(2025, 6, 6, 23, 0, 0).unwrap()));
    }

    #[test]
    fn fractions_and_t_separator() {
        let mut clock = SiteClock::new(chrono_tz::UTC);
        let t = clock.parse_local(b"2025-01-02T03:04:05.250").unwrap();
        assert_eq!(t.timestamp_subsec_millis(), 250);
        assert_eq!(
            t,
            Utc.with_ymd_and_hms(2025, 1, 2, 3, 4, 5).unwrap()
                + chrono::Duration::milliseconds(250)
        );
    }

    #[test]
    fn invalid_times_are_rejected() {
        let mut clock = SiteClock::new(chrono_tz::UTC);
        for bad in [
            &b"2025-02-30 00:00:00"[..],
            b"2025-13-01 00:00:00",
            b"2025-01-01 24:00:00",
            b"2025-01-01 00:00",
            b"2025/01/01 00:00:00",
            b"2025-01-01 00:00:00x",
            b"",
            b"2025-01-01 00:00:00.",
        ] {
            assert_eq!(
                clock.parse_local(bad),
                None,
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        assert!(clock.parse_local(b"2024-02-29 00:00:00").is_some());
    }

    #[test]
    fn the_remembered_date_never_changes_an_answer() {
        // parse_local remembers the last valid date; every answer must equal a fresh clock's.
        let lines: [&[u8]; 9] = [
            b"2025-06-06 19:30:00",
            b"2025-06-06 25:30:00",
            b"2025-06-06 19:31:00",
            b"2025-06-07 00:00:01",
            b"2025-02-30 00:00:00",
            b"2025-06-07 00:00:02",
            b"2025-06-07",
            b"2025-06-06T23:59:59.5",
            b"2024-02-29 12:00:00",
        ];
        let mut memo = SiteClock::new(chrono_tz::Asia::Tokyo);
        for line in lines {
            let fresh = SiteClock::new(chrono_tz::Asia::Tokyo).parse_local(line);
            assert_eq!(
                memo.parse_local(line),
                fresh,
                "{}",
                String::from_utf8_lossy(line)
            );
        }
        assert_eq!(
            memo.parse_local(b"2025-06-07 00:00:02"),
            Some(Utc.with_ymd_and_hms(2025, 6, 6, 15, 0, 2).unwrap())
        );
        assert_eq!(memo.parse_local(b"2025-06-06 25:30:00"), None);
    }

    proptest::proptest! {
        /// The hour memo (and the date memo, and the hour cache) never change an answer: any sequence of times,
        /// around DST changes and leap seconds, in zones with whole and half-hour offsets, reads as with a fresh
        /// clock for each time.
        #[test]
        fn the_remembered_hour_never_changes_an_answer(
            zone in 0usize..3,
            times in proptest::collection::vec(
                (0usize..12, proptest::prop_oneof![0u32..60, proptest::strategy::Just(59)], proptest::prop_oneof![0u32..61, proptest::strategy::Just(60)]),
                1..40,
            ),
        ) {
            let tz = [chrono_tz::America::New_York, chrono_tz::Asia::Kolkata, chrono_tz::Asia::Tokyo][zone];
            let hours = [
                "2025-03-09 01", "2025-03-09 02", "2025-03-09 03", "2025-11-02 01", "2025-11-02 00",
                "2025-06-02 09", "2025-06-02 23", "2025-06-03 00", "2025-06-02T09", "2025-02-29 10",
                "2025-06-02 24", "2024-12-31 23",
            ];
            let mut memo = SiteClock::new(tz);
            for (h, m, s) in times {
                let mut text = format!("{}:{m:02}:{s:02}", hours[h]);
                if m == 7 {
                    text.push_str(".5");
                }
                if m == 8 {
                    text.replace_range(13..14, "-");
                }
                let fresh = SiteClock::new(tz).parse_local(text.as_bytes());
                proptest::prop_assert_eq!(memo.parse_local(text.as_bytes()), fresh, "{}", text);
            }
        }

        /// `utc_instant` remembers the last UTC day: whatever the order of calls, it must build exactly what
        /// `DateTime::from_timestamp` builds, out-of-range seconds (None) included.
        #[test]
        fn the_remembered_utc_day_never_changes_an_instant(
            secs in proptest::collection::vec(-10_000_000_000_000i64..10_000_000_000_000, 1..12),
            nanos in 0u32..1_000_000_000,
        ) {
            let mut clock = SiteClock::new(chrono_tz::UTC);
            for s in secs {
                for t in [s, s + 1, s - 1, s + 86_399, s.div_euclid(86_400) * 86_400] {
                    proptest::prop_assert_eq!(clock.utc_instant(t, nanos), DateTime::from_timestamp(t, nanos));
                }
            }
        }
    }

    #[test]
    fn dst_transitions_in_new_york() {
        let mut clock = SiteClock::new(chrono_tz::America::New_York);
        // Before and after spring-forward on 2025-03-09 02:00 local.
        assert_eq!(
            clock.parse_local(b"2025-03-09 01:59:59"),
            Some(Utc.with_ymd_and_hms(2025, 3, 9, 6, 59, 59).unwrap())
        );
        assert_eq!(
            clock.parse_local(b"2025-03-09 03:00:00"),
            Some(Utc.with_ymd_and_hms(2025, 3, 9, 7, 0, 0).unwrap())
        );
        // Inside the gap: read with the pre-gap offset (EST, -5).
        assert_eq!(
            clock.parse_local(b"2025-03-09 02:30:00"),
            Some(Utc.with_ymd_and_hms(2025, 3, 9, 7, 30, 0).unwrap())
        );
        // Fall back 2025-11-02: 01:30 happens twice; the earlier (EDT, -4) is taken.
        assert_eq!(
            clock.parse_local(b"2025-11-02 01:30:00"),
            Some(Utc.with_ymd_and_hms(2025, 11, 2, 5, 30, 0).unwrap())
        );
        assert_eq!(
            clock.parse_local(b"2025-11-02 03:00:00"),
            Some(Utc.with_ymd_and_hms(2025, 11, 2, 8, 0, 0).unwrap())
        );
    }

    #[test]
    fn epochs_in_seconds_millis_micros() {
        let want = Utc.with_ymd_and_hms(2025, 6, 6, 10, 30, 0).unwrap();
        assert_eq!(parse_epoch("1749205800"), Some(want));
        assert_eq!(parse_epoch("1749205800000"), Some(want));
        assert_eq!(parse_epoch("1749205800000000"), Some(want));
        assert_eq!(
            parse_epoch("1749205800.5").map(|t| t.timestamp_subsec_millis()),
            Some(500)
        );
        assert_eq!(parse_epoch("abc"), None);
        assert_eq!(parse_epoch("-5"), None);
    }

    #[test]
    fn civil_days_match_chrono() {
        for (y, m, d) in [
            (1970, 1, 1),
            (2000, 2, 29),
            (2025, 12, 31),
            (1969, 12, 31),
            (2100, 3, 1),
        ] {
            let chrono_days = date(y, m, d)
                .unwrap()
                .signed_duration_since(date(1970, 1, 1).unwrap())
                .num_days();
            assert_eq!(days_from_civil(i64::from(y), m, d), chrono_days);
        }
    }
}
