//! Sliding windows with bounded memory: rings of per-bucket sums (counts or money), small rings of recent
//! calls, and calendar-month sums. Every update is O(1) amortised and nothing here allocates.

use serde::{Deserialize, Serialize};

use crate::event::Millis;

/// Buckets per ring: a window is measured with a resolution of 1/12 of its length.
pub const BUCKETS: usize = 12;

/// The length and resolution of a sliding window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Span {
    /// 60 s in 5 s buckets.
    Minute,
    /// 10 min in 50 s buckets.
    TenMinutes,
    /// 1 h in 5 min buckets.
    Hour,
    /// 24 h in 2 h buckets.
    Day,
}

impl Span {
    pub const fn bucket_ms(self) -> i64 {
        match self {
            Span::Minute => 5_000,
            Span::TenMinutes => 50_000,
            Span::Hour => 300_000,
            Span::Day => 7_200_000,
        }
    }
    pub const fn secs(self) -> u32 {
        (self.bucket_ms() * BUCKETS as i64 / 1000) as u32
    }
}

/// The bucket of one moment in each of the minute, hour and day rings, worked out once for all the rings an
/// event touches (the hour's bucket is 60 minute buckets, the day's 24 hour buckets, so each comes from the
/// previous one by a small division).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Buckets {
    pub minute: i64,
    pub hour: i64,
    pub day: i64,
}

const _: () = assert!(
    Span::Hour.bucket_ms() == 60 * Span::Minute.bucket_ms()
        && Span::Day.bucket_ms() == 24 * Span::Hour.bucket_ms()
);

impl Buckets {
    #[inline]
    pub fn of(at: Millis) -> Buckets {
        let minute = Ring::bucket(at, Span::Minute.bucket_ms());
        // Floor divisions by positive numbers compose: ⌊⌊t/a⌋/b⌋ = ⌊t/(ab)⌋.
        let (hour, day) = if minute >= 0 {
            let h = minute as u64 / 60;
            (h as i64, (h / 24) as i64)
        } else {
            let h = minute.div_euclid(60);
            (h, h.div_euclid(24))
        };
        Buckets { minute, hour, day }
    }
}

/// A sliding sum over `BUCKETS` buckets. An amount added at time `t` is counted at time `now` while
/// `bucket(t) > bucket(now) - BUCKETS`, i.e. for between 11/12 and 12/12 of the window length.
/// Amounts that arrive slightly out of order (CDRs are written at call end) land in their own bucket as long as it
/// is still inside the window; older ones are ignored.
/// The head's slot is kept next to it (not stored: snapshots hold `head`, `sums` and `total` as always), so
/// that the common add, to the head's bucket, takes no remainder.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "RingWire", into = "RingWire")]
pub struct Ring {
    head: i64,
    sums: [i64; BUCKETS],
    total: i64,
    /// `slot(head)`, always.
    head_slot: u8,
}

/// A [`Ring`] as snapshots store it.
#[derive(Serialize, Deserialize)]
struct RingWire {
    head: i64,
    sums: [i64; BUCKETS],
    total: i64,
}

impl From<RingWire> for Ring {
    fn from(w: RingWire) -> Self {
        Ring {
            head: w.head,
            sums: w.sums,
            total: w.total,
            head_slot: Ring::slot(w.head) as u8,
        }
    }
}

impl From<Ring> for RingWire {
    fn from(r: Ring) -> Self {
        RingWire {
            head: r.head,
            sums: r.sums,
            total: r.total,
        }
    }
}

impl Ring {
    /// The bucket of time `at` for buckets of `ms` milliseconds (floor division). Times after 1970 (all real
    /// ones) take an unsigned division, which compiles to a multiplication for the constant bucket lengths;
    /// earlier ones the signed Euclidean division, with the same result.
    #[inline(always)]
    fn bucket(at: Millis, ms: i64) -> i64 {
        if at >= 0 && ms > 0 {
            (at as u64 / ms as u64) as i64
        } else {
            at.div_euclid(ms)
        }
    }

    #[inline(always)]
    fn slot(bucket: i64) -> usize {
        if bucket >= 0 {
            (bucket as u64 % BUCKETS as u64) as usize
        } else {
            bucket.rem_euclid(BUCKETS as i64) as usize
        }
    }

    // Inlined so that the span's bucket length is a constant at each call site: the division by it then compiles
    // to a multiplication.
    #[inline]
    fn advance(&mut self, bucket: i64) {
        if bucket <= self.head {
            return;
        }
        let steps = bucket - self.head;
        if steps >= BUCKETS as i64 {
            self.sums = [0; BUCKETS];
            self.total = 0;
            self.head_slot = Self::slot(bucket) as u8;
        } else {
            // The buckets after the head, in ring order (a wrap-around step each); the last is the new head's.
            let mut i = usize::from(self.head_slot);
            for _ in 0..steps {
                i = if i + 1 >= BUCKETS { 0 } else { i + 1 };
                if let Some(sum) = self.sums.get_mut(i) {
                    self.total -= *sum;
                    *sum = 0;
                }
            }
            self.head_slot = i as u8;
        }
        self.head = bucket;
    }

    /// Adds `amount` in bucket `b` (already computed for this ring's span).
    #[inline(always)]
    fn add_bucket(&mut self, b: i64, amount: i64) {
        let i = if b == self.head {
            usize::from(self.head_slot)
        } else if b > self.head {
            self.advance(b);
            usize::from(self.head_slot)
        } else if b <= self.head - BUCKETS as i64 {
            return;
        } else {
            Self::slot(b)
        };
        if let Some(sum) = self.sums.get_mut(i) {
            *sum += amount;
        }
        self.total += amount;
    }

    /// `add_total` for a bucket of [`Buckets`] (of this ring's span).
    #[inline]
    pub fn add_total_in(&mut self, bucket: i64, amount: i64) -> i64 {
        self.add_bucket(bucket, amount);
        self.total
    }

    /// `total` for a bucket of [`Buckets`] (of this ring's span).
    #[inline]
    pub fn total_in(&self, bucket: i64) -> i64 {
        if bucket <= self.head {
            return self.total;
        }
        self.total_after(bucket)
    }

    /// Adds `amount` at time `at`.
    #[inline]
    pub fn add(&mut self, span: Span, at: Millis, amount: i64) {
        self.add_bucket(Self::bucket(at, span.bucket_ms()), amount);
    }

    /// Adds `amount` at time `at` and returns the sum inside the window ending at `at`: the same as `add`
    /// followed by `total(span, at)` (after adding, the ring's head is at or past `at`'s bucket, so that total is
    /// the running one), without dividing twice.
    #[inline]
    pub fn add_total(&mut self, span: Span, at: Millis, amount: i64) -> i64 {
        self.add(span, at, amount);
        self.total
    }

    /// The sum inside the window ending at `now` (without modifying the ring).
    #[inline]
    pub fn total(&self, span: Span, now: Millis) -> i64 {
        self.total_in(Self::bucket(now, span.bucket_ms()))
    }

    /// The total once the head has moved on to bucket `b` (after it).
    fn total_after(&self, b: i64) -> i64 {
        let steps = b - self.head;
        if steps >= BUCKETS as i64 {
            return 0;
        }
        // The buckets that left the window are the `steps` after the head, as in `advance`.
        let mut t = self.total;
        let mut i = usize::from(self.head_slot);
        for _ in 0..steps {
            i = if i + 1 >= BUCKETS { 0 } else { i + 1 };
            t -= self.sums.get(i).copied().unwrap_or(0);
        }
        t
    }
}

/// A sum per calendar month of the site (the month index is computed by the caller from the site's time zone).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MonthSum {
    month: i32,
    sum: i64,
}

impl MonthSum {
    pub fn add(&mut self, month: i32, amount: i64) {
        if month > self.month {
            self.month = month;
            self.sum = 0;
        }
        if month == self.month {
            self.sum += amount;
        }
    }
    pub fn total(&self, month: i32) -> i64 {
        if month == self.month { self.sum } else { 0 }
    }
}

/// Capacity of [`Recent`].
pub const RECENT: usize = 8;

/// The last few calls of a key (time and sequence number in the [`crate::keys::CallLog`]), to name the calls
/// that contributed to an alert.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recent {
    at: [Millis; RECENT],
    seq: [u64; RECENT],
    next: u8,
    len: u8,
}

impl Recent {
    pub fn push(&mut self, at: Millis, seq: u64) {
        let i = self.next as usize % RECENT;
        self.at[i] = at;
        self.seq[i] = seq;
        self.next = ((i + 1) % RECENT) as u8;
        if (self.len as usize) < RECENT {
            self.len += 1;
        }
    }

    /// Sequence numbers of the calls at or after `since`, oldest first.
    pub fn since(&self, since: Millis) -> impl Iterator<Item = u64> + '_ {
        let len = self.len as usize;
        let start = (self.next as usize + RECENT - len) % RECENT;
        (0..len)
            .map(move |k| (start + k) % RECENT)
            .filter(move |&i| self.at[i] >= since)
            .map(move |i| self.seq[i])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ring_counts_inside_the_window_and_forgets_after() {
        let mut r = Ring::default();
        let s = Span::Minute;
        r.add(s, 0, 1);
        r.add(s, 4_999, 1);
        r.add(s, 5_000, 1);
        assert_eq!(r.total(s, 5_000), 3);
        // Bucket 0 (0..5 s) is still counted until bucket 12 starts at 60 s.
        assert_eq!(r.total(s, 59_999), 3);
        assert_eq!(r.total(s, 60_000), 1);
        assert_eq!(r.total(s, 64_999), 1);
        assert_eq!(r.total(s, 65_000), 0);
        // Advancing by adding gives the same figures as reading ahead.
        r.add(s, 60_000, 1);
        assert_eq!(r.total(s, 60_000), 2);
    }

    #[test]
    fn ring_accepts_late_amounts_inside_the_window_only() {
        let mut r = Ring::default();
        let s = Span::Hour;
        r.add(s, 3_600_000, 10);
        r.add(s, 3_600_000 - 600_000, 5); // 10 min late: still inside
        assert_eq!(r.total(s, 3_600_000), 15);
        r.add(s, 0, 7); // a whole hour late: ignored
        assert_eq!(r.total(s, 3_600_000), 15);
    }

    #[test]
    fn add_total_is_add_then_total() {
        // In order, late, very late, and after gaps of every length, for each span.
        for span in [Span::Minute, Span::TenMinutes, Span::Hour, Span::Day] {
            let b = span.bucket_ms();
            let times = [
                0,
                1,
                b - 1,
                b,
                3 * b + 7,
                2 * b,
                -b,
                14 * b,
                13 * b,
                26 * b + 1,
                27 * b,
                12 * b,
                40 * b,
                29 * b,
            ];
            let (mut a, mut r) = (Ring::default(), Ring::default());
            for (k, &t) in times.iter().enumerate() {
                let amount = k as i64 + 1;
                a.add(span, t, amount);
                let expected = a.total(span, t);
                assert_eq!(r.add_total(span, t, amount), expected, "{span:?} at {t}");
                assert_eq!(a, r);
            }
        }
    }

    /// The ring against a plain list of (time, amount): every read after every add, for gaps of 0 to 30
    /// buckets, late amounts and negative times.
    #[test]
    fn ring_matches_a_list_of_amounts() {
        for span in [Span::Minute, Span::Hour, Span::Day] {
            let b = span.bucket_ms();
            let mut ring = Ring::default();
            let mut kept: Vec<(i64, i64)> = Vec::new();
            let mut head = 0i64; // a new ring's head
            let mut t = -40 * b;
            let mut x: u64 = 0x2545_f491_4f6c_dd1d;
            for n in 0..3_000i64 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let step = (x % 31) as i64 * b / 2 + (x >> 8) as i64 % b;
                let late = if x.is_multiple_of(7) {
                    -((x >> 16) as i64 % (14 * b))
                } else {
                    0
                };
                if late == 0 {
                    t += step;
                }
                let at = t + late;
                ring.add(span, at, n % 5 + 1);
                let bucket = at.div_euclid(b);
                head = head.max(bucket);
                if bucket > head - BUCKETS as i64 {
                    kept.push((bucket, n % 5 + 1));
                }
                for now in [at, t, t + b, t + 5 * b, t + 11 * b, t + 12 * b] {
                    let nb = now.div_euclid(b).max(head);
                    let expected: i64 = kept
                        .iter()
                        .filter(|(k, _)| *k > nb - BUCKETS as i64)
                        .map(|(_, a)| a)
                        .sum();
                    assert_eq!(ring.total(span, now), expected, "{span:?} n {n} now {now}");
                }
            }
        }
    }

    #[test]
    fn ring_long_gap_clears() {
        let mut r = Ring::default();
        let s = Span::Day;
        r.add(s, 1_000, 3);
        r.add(s, 10 * 86_400_000, 1);
        assert_eq!(r.total(s, 10 * 86_400_000), 1);
    }

    #[test]
    fn ring_negative_times_work() {
        let mut r = Ring::default();
        r.add(Span::Minute, -3_000, 2);
        assert_eq!(r.total(Span::Minute, -1), 2);
    }

    #[test]
    fn month_sum_resets_on_new_month() {
        let mut m = MonthSum::default();
        m.add(100, 5);
        m.add(100, 5);
        assert_eq!(m.total(100), 10);
        m.add(101, 1);
        assert_eq!(m.total(101), 1);
        assert_eq!(m.total(100), 0);
        m.add(100, 9); // late amount of a closed month: ignored
        assert_eq!(m.total(101), 1);
    }

    #[test]
    fn recent_keeps_last_eight_in_order() {
        let mut r = Recent::default();
        for i in 0..10u64 {
            r.push(i as i64 * 1000, i);
        }
        let v: Vec<u64> = r.since(0).collect();
        assert_eq!(v, vec![2, 3, 4, 5, 6, 7, 8, 9]);
        let v: Vec<u64> = r.since(8_000).collect();
        assert_eq!(v, vec![8, 9]);
    }

    /// Snapshots hold `head`, `sums` and `total` only, as before the head's slot was kept; a ring read back has
    /// the same slot and goes on counting alike, also from a snapshot written before the slot was kept.
    #[test]
    fn ring_reads_back_from_its_snapshot() {
        let span = Span::Minute;
        let mut r = Ring::default();
        for (k, t) in [0i64, 7_000, 13_000, 70_000, 64_000, 200_000, 207_000]
            .into_iter()
            .enumerate()
        {
            r.add(span, t, k as i64 + 1);
            let json = serde_json::to_value(r).unwrap();
            let keys: Vec<&str> = json
                .as_object()
                .unwrap()
                .keys()
                .map(|k| k.as_str())
                .collect();
            assert_eq!(keys, ["head", "sums", "total"]);
            let mut back: Ring = serde_json::from_value(json).unwrap();
            assert_eq!(back, r);
            let mut same = r;
            for later in [t, t + 5_000, t + 12_000, t + 61_000] {
                assert_eq!(
                    back.add_total(span, later, 1),
                    same.add_total(span, later, 1)
                );
                assert_eq!(back, same);
            }
        }
        let old: Ring =
            serde_json::from_str(r#"{"head":41,"sums":[0,0,0,0,0,2,0,0,0,0,0,3],"total":5}"#)
                .unwrap();
        assert_eq!(old.total(span, 41 * 5_000), 5);
        let mut old = old;
        // Bucket 42 is slot 6: the bucket of 41 (slot 5) stays, nothing else leaves.
        assert_eq!(old.add_total(span, 42 * 5_000, 1), 6);
        // Bucket 52 (slot 4) pushes out bucket 35 (slot 11)'s 3; 53 (slot 5) pushes out 41's 2.
        assert_eq!(old.add_total(span, 52 * 5_000, 1), 4);
        assert_eq!(old.add_total(span, 53 * 5_000, 1), 3);
    }

    /// Each bucket of [`Buckets`] is the one its span's ring would work out from the time, for times before and
    /// after 1970 and on every bucket edge.
    #[test]
    fn buckets_are_each_spans_buckets() {
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let mut times = vec![
            0i64,
            -1,
            1,
            4_999,
            5_000,
            -5_000,
            -5_001,
            i64::MAX,
            i64::MIN,
        ];
        for k in -30i64..30 {
            for span in [Span::Minute, Span::Hour, Span::Day] {
                let b = span.bucket_ms();
                times.extend([k * b - 1, k * b, k * b + 1]);
            }
        }
        for _ in 0..10_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            times.push(x as i64 >> (x % 40));
        }
        for at in times {
            let b = Buckets::of(at);
            assert_eq!(b.minute, at.div_euclid(Span::Minute.bucket_ms()), "{at}");
            assert_eq!(b.hour, at.div_euclid(Span::Hour.bucket_ms()), "{at}");
            assert_eq!(b.day, at.div_euclid(Span::Day.bucket_ms()), "{at}");
            let mut r = Ring::default();
            r.add(Span::Hour, 1_000, 3);
            let mut q = r;
            assert_eq!(
                r.add_total(Span::Hour, at, 2),
                q.add_total_in(b.hour, 2),
                "{at}"
            );
            assert_eq!(r, q);
            assert_eq!(r.total(Span::Hour, at), q.total_in(b.hour), "{at}");
        }
    }
}
