//! The site's calendar: local time in the site's time zone, business hours and days, and public holidays.
//! Japanese holidays are computed from the law (fixed days, "Happy Monday" days, equinoxes by formula,
//! substitute holidays and citizens' holidays), not listed per year.

use chrono::{Datelike, Duration, LocalResult, NaiveDate, TimeZone, Weekday};
use chrono_tz::Tz;

use crate::event::Millis;

/// Which public holidays close the office.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Holidays {
    Japan,
    None,
}

impl Holidays {
    pub fn is_holiday(self, d: NaiveDate) -> bool {
        match self {
            Holidays::Japan => is_japanese_holiday(d),
            Holidays::None => false,
        }
    }
}

fn nth_weekday(y: i32, m: u32, wd: Weekday, n: u8) -> Option<NaiveDate> {
    NaiveDate::from_weekday_of_month_opt(y, m, wd, n)
}

fn equinox_day(y: i32, base: f64) -> u32 {
    // The formula used by the National Astronomical Observatory of Japan's tables, valid 1980–2099.
    let dy = f64::from(y - 1980);
    (base + 0.242194 * dy - ((y - 1980) / 4) as f64).floor() as u32
}

/// Vernal equinox day (春分の日) of a year.
pub fn vernal_equinox(y: i32) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(y, 3, equinox_day(y, 20.8431))
}

/// Autumnal equinox day (秋分の日) of a year.
pub fn autumnal_equinox(y: i32) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(y, 9, equinox_day(y, 23.2488))
}

/// A "national holiday" proper (国民の祝日), without substitute and citizens' holidays.
pub fn is_national_holiday(d: NaiveDate) -> bool {
    let (y, m, day) = (d.year(), d.month(), d.day());
    let is = |o: Option<NaiveDate>| o == Some(d);
    match m {
        1 => {
            day == 1
                || if y >= 2000 {
                    is(nth_weekday(y, 1, Weekday::Mon, 2))
                } else {
                    day == 15
                }
        }
        2 => day == 11 || (y >= 2020 && day == 23) || (y == 1989 && day == 24),
        3 => is(vernal_equinox(y)),
        4 => day == 29,
        5 => day == 3 || day == 5 || (y >= 2007 && day == 4) || (y == 2019 && day == 1),
        6 => y == 1993 && day == 9,
        7 => match y {
            2020 => day == 23 || day == 24,
            2021 => day == 22 || day == 23,
            1996..=2002 => day == 20,
            y if y >= 2003 => is(nth_weekday(y, 7, Weekday::Mon, 3)),
            _ => false,
        },
        8 => match y {
            2020 => day == 10,
            2021 => day == 8,
            y if y >= 2016 => day == 11,
            _ => false,
        },
        9 => {
            is(autumnal_equinox(y))
                || if y >= 2003 {
                    is(nth_weekday(y, 9, Weekday::Mon, 3))
                } else {
                    day == 15
                }
        }
        10 => match y {
            2020 | 2021 => false,
            2019 if day == 22 => true,
            y if y >= 2000 => is(nth_weekday(y, 10, Weekday::Mon, 2)),
            _ => day == 10,
        },
        11 => day == 3 || day == 23 || (y == 1990 && day == 12),
        12 => (1989..=2018).contains(&y) && day == 23,
        _ => false,
    }
}

/// True on Japanese public holidays, including substitute holidays (振替休日: a holiday on a Sunday moves to
/// the next day that is not a holiday) and citizens' holidays (国民の休日: a day between two holidays).
pub fn is_japanese_holiday(d: NaiveDate) -> bool {
    if is_national_holiday(d) {
        return true;
    }
    // Substitute holiday (rule since 2007; from 1973 it was only the Monday after, which this also covers).
    let mut prev = d - Duration::days(1);
    let mut steps = 0;
    while is_national_holiday(prev) && steps < 7 {
        if prev.weekday() == Weekday::Sun {
            return d.year() >= 2007 || steps == 0;
        }
        prev -= Duration::days(1);
        steps += 1;
    }
    // Citizens' holiday (since 1986): sandwiched between two national holidays.
    d.year() >= 1986
        && d.weekday() != Weekday::Sun
        && is_national_holiday(d - Duration::days(1))
        && is_national_holiday(d + Duration::days(1))
}

/// The site's local time, business hours and holidays.
#[derive(Debug, Clone)]
pub struct SiteCalendar {
    pub tz: Tz,
    pub holidays: Holidays,
    /// Extra closed days (company holidays: New Year, Obon).
    pub extra_closed: Vec<NaiveDate>,
    /// Business hours as minutes of the local day, [start, end).
    pub open_minute: u16,
    pub close_minute: u16,
    /// Business days, indexed by `Weekday::num_days_from_monday`.
    pub open_days: [bool; 7],
}

/// What the rules need to know about a moment, in site time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalMoment {
    /// Local hour 0–23.
    pub hour: u8,
    /// Days since 1970-01-01 in local time (changes at local midnight).
    pub day: i32,
    /// year * 12 + month - 1 in local time.
    pub month: i32,
    /// Outside business hours, on a weekend, or on a holiday.
    pub off_hours: bool,
}

/// The last local day looked up, so that most events need no time-zone arithmetic, and the last moment worked
/// out with the stretch of time `[lo, hi)` around it that has the same moment (the rest of its local hour, cut at
/// the opening and closing minute), so that most events need no arithmetic at all.
#[derive(Debug, Clone, Copy, Default)]
pub struct DayCache {
    start: Millis,
    end: Millis,
    day: i32,
    month: i32,
    open_day: bool,
    valid: bool,
    lo: Millis,
    hi: Millis,
    last: Option<LocalMoment>,
}

impl SiteCalendar {
    /// Tokyo, Japanese holidays, Monday to Friday 09:00–18:00.
    pub fn japan() -> Self {
        Self {
            tz: chrono_tz::Asia::Tokyo,
            holidays: Holidays::Japan,
            extra_closed: Vec::new(),
            open_minute: 9 * 60,
            close_minute: 18 * 60,
            open_days: [true, true, true, true, true, false, false],
        }
    }

    /// True when the office is open that whole day (a business day and not a holiday).
    pub fn is_open_day(&self, d: NaiveDate) -> bool {
        self.open_days
            .get(d.weekday().num_days_from_monday() as usize)
            .copied()
            .unwrap_or(false)
            && !self.holidays.is_holiday(d)
            && !self.extra_closed.contains(&d)
    }

    fn local_midnight(&self, d: NaiveDate) -> Option<Millis> {
        let naive = d.and_hms_opt(0, 0, 0)?;
        match self.tz.from_local_datetime(&naive) {
            LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => Some(t.timestamp_millis()),
            // Midnight skipped by a DST change: the day starts an hour later.
            LocalResult::None => {
                let later = d.and_hms_opt(1, 0, 0)?;
                self.tz
                    .from_local_datetime(&later)
                    .earliest()
                    .map(|t| t.timestamp_millis())
            }
        }
    }

    /// The local moment of `at`, using and refreshing `cache`.
    #[inline]
    pub fn moment(&self, at: Millis, cache: &mut DayCache) -> LocalMoment {
        if let Some(m) = cache.last
            && at >= cache.lo
            && at < cache.hi
        {
            return m;
        }
        self.moment_of_new_stretch(at, cache)
    }

    /// [`SiteCalendar::moment`] outside the remembered stretch: works the moment out and remembers the stretch
    /// of the day around `at` that has the same moment.
    #[inline(never)]
    fn moment_of_new_stretch(&self, at: Millis, cache: &mut DayCache) -> LocalMoment {
        if !(cache.valid && at >= cache.start && at < cache.end) {
            self.fill(at, cache);
        }
        let mins = ((at - cache.start).max(0) / 60_000) as u16;
        // DST days have 23 or 25 hours: the hour is then approximate, clamped into the day.
        let hour = (mins / 60).min(23) as u8;
        let open = cache.open_day && mins >= self.open_minute && mins < self.close_minute;
        let m = LocalMoment {
            hour,
            day: cache.day,
            month: cache.month,
            off_hours: !open,
        };
        // The same moment holds from the start of `at`'s minute (or of the day) until the next hour, opening or
        // closing minute, or the end of the day, whichever comes first: every minute in between has the same
        // hour (hour 23 runs to the end of the day) and the same side of the business hours.
        let minute_ms = |k: u16| cache.start.saturating_add(i64::from(k) * 60_000);
        let mut next = if hour < 23 {
            (u16::from(hour) + 1) * 60
        } else {
            u16::MAX
        };
        for edge in [self.open_minute, self.close_minute] {
            if edge > mins {
                next = next.min(edge);
            }
        }
        cache.lo = minute_ms(mins);
        cache.hi = if next == u16::MAX {
            cache.end
        } else {
            minute_ms(next).min(cache.end)
        };
        cache.last = Some(m);
        m
    }

    fn fill(&self, at: Millis, cache: &mut DayCache) {
        let utc = chrono::DateTime::from_timestamp_millis(at).unwrap_or_default();
        let local = utc.with_timezone(&self.tz);
        let d = local.date_naive();
        let start = self
            .local_midnight(d)
            .unwrap_or(at - at.rem_euclid(86_400_000));
        let end = d
            .succ_opt()
            .and_then(|n| self.local_midnight(n))
            .unwrap_or(start + 86_400_000);
        let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default();
        *cache = DayCache {
            start,
            end: end.max(start + 1),
            day: (d - epoch).num_days() as i32,
            month: d.year() * 12 + d.month0() as i32,
            open_day: self.is_open_day(d),
            valid: true,
            lo: 0,
            hi: 0,
            last: None,
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    fn holidays_of(y: i32) -> Vec<(u32, u32)> {
        let mut out = Vec::new();
        let mut x = d(y, 1, 1);
        while x.year() == y {
            if is_japanese_holiday(x) {
                out.push((x.month(), x.day()));
            }
            x = x.succ_opt().unwrap();
        }
        out
    }

    #[test]
    fn holidays_2024_match_the_cabinet_office_list() {
        assert_eq!(
            holidays_of(2024),
            vec![
                (1, 1),
                (1, 8),
                (2, 11),
                (2, 12),
                (2, 23),
                (3, 20),
                (4, 29),
                (5, 3),
                (5, 4),
                (5, 5),
                (5, 6),
                (7, 15),
                (8, 11),
                (8, 12),
                (9, 16),
                (9, 22),
                (9, 23),
                (10, 14),
                (11, 3),
                (11, 4),
                (11, 23)
            ]
        );
    }

    #[test]
    fn holidays_2025_match_the_cabinet_office_list() {
        assert_eq!(
            holidays_of(2025),
            vec![
                (1, 1),
                (1, 13),
                (2, 11),
                (2, 23),
                (2, 24),
                (3, 20),
                (4, 29),
                (5, 3),
                (5, 4),
                (5, 5),
                (5, 6),
                (7, 21),
                (8, 11),
                (9, 15),
                (9, 23),
                (10, 13),
                (11, 3),
                (11, 23),
                (11, 24)
            ]
        );
    }

    #[test]
    fn citizens_holiday_between_respect_for_aged_and_equinox_2026() {
        assert!(is_japanese_holiday(d(2026, 9, 21)));
        assert!(is_japanese_holiday(d(2026, 9, 22)));
        assert!(!is_national_holiday(d(2026, 9, 22)));
        assert!(is_japanese_holiday(d(2026, 9, 23)));
        assert!(is_japanese_holiday(d(2015, 9, 22)));
    }

    #[test]
    fn golden_week_2019_enthronement() {
        for day in 27..=30 {
            assert!(is_japanese_holiday(d(2019, 4, day)) || day <= 28, "4/{day}");
        }
        for day in 1..=6 {
            assert!(is_japanese_holiday(d(2019, 5, day)), "5/{day}");
        }
        assert!(is_japanese_holiday(d(2019, 10, 22)));
        assert!(!is_japanese_holiday(d(2019, 12, 23)));
    }

    #[test]
    fn moved_olympic_holidays_2020_2021() {
        assert!(is_japanese_holiday(d(2020, 7, 24)));
        assert!(!is_japanese_holiday(d(2020, 10, 12)));
        assert!(is_japanese_holiday(d(2021, 8, 9))); // Mountain Day on Sunday 8/8 → substitute
    }

    #[test]
    fn equinoxes_by_formula() {
        assert_eq!(vernal_equinox(2023), Some(d(2023, 3, 21)));
        assert_eq!(autumnal_equinox(2012), Some(d(2012, 9, 22)));
        assert_eq!(vernal_equinox(2030), Some(d(2030, 3, 20)));
        assert_eq!(autumnal_equinox(2030), Some(d(2030, 9, 23)));
    }

    #[test]
    fn ordinary_days_are_not_holidays() {
        assert!(!is_japanese_holiday(d(2025, 5, 7)));
        assert!(!is_japanese_holiday(d(2025, 12, 24)));
        assert!(!is_japanese_holiday(d(2025, 8, 12)));
    }

    #[test]
    fn moments_in_tokyo() {
        let cal = SiteCalendar::japan();
        let mut c = DayCache::default();
        // 2025-06-02 (Mon) 00:30 UTC = 09:30 JST: open.
        let t = chrono::Utc
            .with_ymd_and_hms(2025, 6, 2, 0, 30, 0)
            .unwrap()
            .timestamp_millis();
        let m = cal.moment(t, &mut c);
        assert_eq!(m.hour, 9);
        assert!(!m.off_hours);
        // 08:59:59 JST is off hours, 09:00 open, 18:00 closed again.
        let nine = chrono::Utc
            .with_ymd_and_hms(2025, 6, 2, 0, 0, 0)
            .unwrap()
            .timestamp_millis();
        assert!(cal.moment(nine - 1000, &mut c).off_hours);
        assert!(!cal.moment(nine, &mut c).off_hours);
        assert!(!cal.moment(nine + 9 * 3_600_000 - 1, &mut c).off_hours);
        assert!(cal.moment(nine + 9 * 3_600_000, &mut c).off_hours);
        // A holiday Monday (2025-07-21 Marine Day) is off hours all day.
        let h = chrono::Utc
            .with_ymd_and_hms(2025, 7, 21, 2, 0, 0)
            .unwrap()
            .timestamp_millis();
        assert!(cal.moment(h, &mut c).off_hours);
        // Saturday.
        let s = chrono::Utc
            .with_ymd_and_hms(2025, 6, 7, 2, 0, 0)
            .unwrap()
            .timestamp_millis();
        assert!(cal.moment(s, &mut c).off_hours);
        // Local midnight changes the day index: 2025-06-02 23:59 JST vs 2025-06-03 00:00 JST.
        let midnight = chrono::Utc
            .with_ymd_and_hms(2025, 6, 2, 15, 0, 0)
            .unwrap()
            .timestamp_millis();
        assert_eq!(
            cal.moment(midnight, &mut c).day,
            cal.moment(midnight - 1, &mut c).day + 1
        );
        assert_eq!(cal.moment(midnight, &mut c).hour, 0);
    }

    #[test]
    fn dst_zone_days_are_handled() {
        let mut cal = SiteCalendar::japan();
        cal.tz = chrono_tz::Europe::Berlin;
        let mut c = DayCache::default();
        // 2025-03-30 is 23 h long in Berlin; 12:00 UTC is 14:00 local.
        let t = chrono::Utc
            .with_ymd_and_hms(2025, 3, 30, 12, 0, 0)
            .unwrap()
            .timestamp_millis();
        let m = cal.moment(t, &mut c);
        assert!((13..=14).contains(&m.hour));
    }

    /// The moment worked out afresh (a new cache each time, as before moments were remembered).
    fn fresh(cal: &SiteCalendar, at: Millis) -> LocalMoment {
        let mut c = DayCache::default();
        cal.fill(at, &mut c);
        let mins = ((at - c.start).max(0) / 60_000) as u16;
        let hour = (mins / 60).min(23) as u8;
        let open = c.open_day && mins >= cal.open_minute && mins < cal.close_minute;
        LocalMoment {
            hour,
            day: c.day,
            month: c.month,
            off_hours: !open,
        }
    }

    /// The remembered stretch never changes a moment: times in order with small and large steps, late times,
    /// every minute around the opening and closing minutes and the hours, in Tokyo and across New York's DST
    /// changes (23- and 25-hour days), with business hours on odd minutes.
    #[test]
    fn remembered_moments_are_the_moments() {
        let mut cals = vec![SiteCalendar::japan()];
        let mut ny = SiteCalendar::japan();
        ny.tz = chrono_tz::America::New_York;
        ny.holidays = Holidays::None;
        ny.open_minute = 8 * 60 + 30;
        ny.close_minute = 20 * 60 + 31;
        cals.push(ny);
        let mut all_day = SiteCalendar::japan();
        all_day.open_minute = 0;
        all_day.close_minute = 24 * 60;
        cals.push(all_day);
        // 2025-03-08 00:00 UTC: New York's spring change is on the 9th, Tokyo's New Year weeks away.
        let base: Millis = 1_741_392_000_000;
        for cal in &cals {
            let mut cache = DayCache::default();
            let mut t = base;
            let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
            for _ in 0..40_000 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let step = match x % 10 {
                    0 => 3_600_000,
                    1 => 60_000,
                    2 => 1,
                    3 => 59_999,
                    _ => (x >> 20) as i64 % 120_000,
                };
                t += step;
                let at = if x.is_multiple_of(13) {
                    t - (x >> 30) as i64 % 7_200_000
                } else {
                    t
                };
                assert_eq!(cal.moment(at, &mut cache), fresh(cal, at), "at {at}");
            }
            // Far back and forward again (other days, months and years), and every minute edge of one day.
            for at in [base - 86_400_000 * 400, base, base + 86_400_000 * 250, base] {
                assert_eq!(cal.moment(at, &mut cache), fresh(cal, at), "at {at}");
            }
            let day = base + 86_400_000 * 240;
            for m in 0..(26 * 60) {
                for off in [-1, 0, 1, 59_999] {
                    let at = day + m * 60_000 + off;
                    assert_eq!(cal.moment(at, &mut cache), fresh(cal, at), "at {at}");
                }
            }
        }
    }
}
