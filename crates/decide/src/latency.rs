//! How long the guard takes to decide an outbound call: from the INVITE being read off its socket (queueing
//! towards the core included) to the verdict (engine decision and policy applied), counted in fixed
//! exponential buckets of atomic counters. Recording is a clock read and two relaxed atomic additions — no
//! allocation, no lock — on the core's task; the operator API reads a [`LatencySnapshot`] at each scrape.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Buckets with a finite upper bound: 1 µs × 2^i for i in 0..21, i.e. 1 µs to about 1.05 s. One more
/// counter holds the decisions slower than that (+Inf).
pub const BOUNDED_BUCKETS: usize = 21;
const SLOTS: usize = BOUNDED_BUCKETS + 1;

/// The counters, shared (`Arc`) between the core that records and the handles that read.
#[derive(Debug, Default)]
pub struct DecisionLatency {
    /// Decisions per bucket (not cumulative); the last slot is above the largest bound.
    counts: [AtomicU64; SLOTS],
    sum_nanos: AtomicU64,
}

impl DecisionLatency {
    /// Counts one decision that took `took`.
    pub fn record(&self, took: Duration) {
        let nanos = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
        if let Some(c) = self.counts.get(slot_of(nanos)) {
            c.fetch_add(1, Ordering::Relaxed);
        }
        self.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    /// The counters now. Each bucket is read once, so the count is the sum of the buckets; the sum of the
    /// durations may include a decision recorded while reading.
    pub fn snapshot(&self) -> LatencySnapshot {
        let mut counts = [0u64; SLOTS];
        for (out, c) in counts.iter_mut().zip(&self.counts) {
            *out = c.load(Ordering::Relaxed);
        }
        #[allow(clippy::cast_precision_loss)]
        let sum_seconds = self.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9;
        LatencySnapshot {
            counts,
            sum_seconds,
        }
    }
}

/// The slot of a duration in nanoseconds: the smallest i with `nanos <= 1000 × 2^i`, or the +Inf slot.
fn slot_of(nanos: u64) -> usize {
    let micros = nanos.div_ceil(1000);
    if micros <= 1 {
        return 0;
    }
    let i = (u64::BITS - (micros - 1).leading_zeros()) as usize;
    i.min(BOUNDED_BUCKETS)
}

/// Upper bound of slot `i` in seconds (+Inf for the last).
pub fn upper_bound_seconds(i: usize) -> f64 {
    if i >= BOUNDED_BUCKETS {
        return f64::INFINITY;
    }
    // i < 21: exact in f64.
    f64::from(1u32 << i) * 1e-6
}

/// A reading of [`DecisionLatency`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LatencySnapshot {
    /// Decisions per bucket, not cumulative, in the order of [`upper_bound_seconds`].
    pub counts: [u64; SLOTS],
    pub sum_seconds: f64,
}

impl LatencySnapshot {
    /// Decisions counted.
    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// (upper bound in seconds, decisions that took at most that long), ascending, ending with +Inf whose
    /// count is [`LatencySnapshot::count`]: the buckets of a Prometheus histogram.
    pub fn cumulative(&self) -> Vec<(f64, u64)> {
        let mut total = 0;
        self.counts
            .iter()
            .enumerate()
            .map(|(i, n)| {
                total += n;
                (upper_bound_seconds(i), total)
            })
            .collect()
    }

    /// (upper bound in seconds, decisions in that bucket alone), ascending.
    pub fn per_bucket(&self) -> Vec<(f64, u64)> {
        self.counts
            .iter()
            .enumerate()
            .map(|(i, n)| (upper_bound_seconds(i), *n))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_duration_lands_in_the_first_bucket_whose_bound_is_not_below_it() {
        assert_eq!(slot_of(0), 0);
        assert_eq!(slot_of(1000), 0);
        assert_eq!(slot_of(1001), 1);
        assert_eq!(slot_of(2000), 1);
        assert_eq!(slot_of(2001), 2);
        assert_eq!(slot_of(4000), 2);
        assert_eq!(slot_of(1_000 << 20), 20);
        assert_eq!(slot_of((1_000 << 20) + 1), 21);
        assert_eq!(slot_of(u64::MAX), 21);
        for i in 0..BOUNDED_BUCKETS {
            let bound = 1000u64 << i;
            assert_eq!(slot_of(bound), i, "bound of bucket {i}");
            assert_eq!(slot_of(bound + 1), i + 1, "just above bucket {i}");
        }
    }

    #[test]
    fn a_snapshot_counts_every_record_once_and_its_buckets_are_cumulative() {
        let l = DecisionLatency::default();
        for us in [0, 1, 3, 3, 50, 900, 2_000_000] {
            l.record(Duration::from_micros(us));
        }
        let s = l.snapshot();
        assert_eq!(s.count(), 7);
        let c = s.cumulative();
        assert_eq!(c.len(), BOUNDED_BUCKETS + 1);
        assert!(c.windows(2).all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1));
        assert_eq!(c.last().copied(), Some((f64::INFINITY, 7)));
        // ≤ 1 µs: 0 and 1; ≤ 4 µs: and the two 3s; ≤ 64 µs: and 50; ≤ 1.024 ms: and 900.
        assert_eq!(c[0], (1e-6, 2));
        assert_eq!(c[2].1, 4);
        assert_eq!(c[6].1, 5);
        assert_eq!(c[10].1, 6);
        assert_eq!(c[BOUNDED_BUCKETS - 1].1, 6);
        assert!((s.sum_seconds - 2.000_957).abs() < 1e-9);
    }
}
