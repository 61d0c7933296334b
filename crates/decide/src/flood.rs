//! Requests counted per source between two flushes to the engine, and the flood detector: a source that sends
//! a burst of requests faster than any phone or office does is seen after its first `flood_burst` requests,
//! not after the minute's count of `request_rate_source` (1,000 by default) has been reached.
//!
//! The detector: a burst starts at a source's request, and `[sources] flood_burst` requests (10 by default)
//! within `flood_window_ms` (100) of its start are a flood (a request later than that starts the next burst).
//! A flood of 1,000 or 10,000 requests a second is seen at its 10th request; a phone, or an office of phones
//! behind one address, does not send 10 requests within 100 ms before one of them has logged in (and sources
//! that logged in are not banned on this).
//! Bounded: at most `[sources] max_counted_sources` (100,000) sources between two flushes; beyond, new sources
//! are not counted until the next flush (a spoofed flood of a million addresses cannot grow it).
//! The limits are read from the policy at each request, so a reloaded policy applies at once.

use std::collections::HashMap;
use std::net::IpAddr;

use engine::{Millis, Sources};

/// Requests from one source within a flush window after which its count goes to the engine at once.
pub const EARLY_REPORT: u32 = 200;

/// One source's count since the last flush, and its current burst.
#[derive(Debug, Clone, Copy, Default)]
struct Count {
    requests: u32,
    /// When the current burst started (engine time), and its requests so far (0: none yet).
    burst_from: Millis,
    burst: u32,
}

/// What a request made of its source's count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counted {
    /// Nothing to report yet (or the table is full and the source is not counted).
    Quiet,
    /// Report this many requests to the engine now (the early report of a busy source).
    Report(u32),
    /// A flood: `requests` came within `within_ms` (less than `flood_window_ms`).
    Flood { requests: u32, within_ms: Millis },
}

/// Requests per source key since the last flush.
#[derive(Debug, Default)]
pub struct SourceCounts(HashMap<IpAddr, Count>);

impl SourceCounts {
    /// Counts a request of `key` at `at` (engine time), against the policy's `[sources]` limits.
    pub fn count(&mut self, key: IpAddr, at: Millis, limits: &Sources) -> Counted {
        if self.0.len() >= limits.max_counted_sources && !self.0.contains_key(&key) {
            return Counted::Quiet;
        }
        let c = self.0.entry(key).or_default();
        if c.burst == 0 || at.saturating_sub(c.burst_from) >= Millis::from(limits.flood_window_ms) {
            c.burst_from = at;
            c.burst = 0;
        }
        c.burst += 1;
        c.requests += 1;
        if c.burst >= limits.flood_burst {
            // Started over, so that a source not banned on it (it logged in) is not reported on every request.
            let burst = std::mem::take(&mut c.burst);
            return Counted::Flood {
                requests: burst,
                within_ms: at.saturating_sub(c.burst_from),
            };
        }
        if c.requests >= EARLY_REPORT {
            return Counted::Report(std::mem::take(&mut c.requests));
        }
        Counted::Quiet
    }

    /// The counts since the last flush, for the engine; the counts start over. A burst still open at `now`
    /// is kept (with its count at zero): a flush in the middle of a flood must not start its burst over, or a
    /// flood straddling every flush would be seen late.
    pub fn drain(&mut self, now: Millis, limits: &Sources) -> Vec<(IpAddr, u32)> {
        let window = Millis::from(limits.flood_window_ms);
        let mut out = Vec::with_capacity(self.0.len());
        self.0.retain(|k, c| {
            if c.requests > 0 {
                out.push((*k, std::mem::take(&mut c.requests)));
            }
            c.burst > 0 && now.saturating_sub(c.burst_from) < window
        });
        out
    }

    /// Sources counted now.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Why a flood bans its source, in an admin's words with the numbers.
pub fn flood_words(requests: u32, within_ms: Millis, limits: &Sources) -> String {
    format!(
        "a flood of requests: {requests} within {within_ms} ms (the limit is {} within {} ms) from an \
         address that has not logged in",
        limits.flood_burst, limits.flood_window_ms
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const L: Sources = Sources {
        ipv6_prefix: 64,
        max_bans: 100_000,
        flood_burst: 10,
        flood_window_ms: 100,
        max_counted_sources: 100_000,
    };

    fn ip(n: u32) -> IpAddr {
        IpAddr::from(std::net::Ipv4Addr::from(0xcb00_7100 + n))
    }

    #[test]
    fn a_fast_burst_is_a_flood_at_its_tenth_request() {
        let mut c = SourceCounts::default();
        for n in 1..L.flood_burst {
            assert_eq!(c.count(ip(1), 1_000, &L), Counted::Quiet, "request {n}");
        }
        assert_eq!(
            c.count(ip(1), 1_000, &L),
            Counted::Flood {
                requests: 10,
                within_ms: 0
            }
        );
    }

    /// A source sending steadily below the rate never floods, however long; one faster than it does.
    #[test]
    fn a_steady_source_below_the_rate_is_no_flood() {
        let mut c = SourceCounts::default();
        let gap = i64::from(L.flood_window_ms / (L.flood_burst - 1)) + 1;
        for n in 0..10_000 {
            let got = c.count(ip(1), n * gap, &L);
            assert!(!matches!(got, Counted::Flood { .. }), "request {n}");
        }
        let mut flooded = None;
        for n in 0..100 {
            if let Counted::Flood { requests, .. } = c.count(ip(2), n * (gap - 2), &L) {
                flooded = Some(requests);
                break;
            }
        }
        assert!(flooded.is_some(), "twice the rate floods");
    }

    #[test]
    fn a_busy_source_is_reported_early_and_drained_at_the_flush() {
        let mut c = SourceCounts::default();
        let mut reported = 0;
        for n in 0..EARLY_REPORT + 5 {
            if let Counted::Report(r) = c.count(ip(1), i64::from(n) * 20, &L) {
                reported += r;
            }
        }
        assert_eq!(reported, EARLY_REPORT);
        assert_eq!(c.drain(10_000, &L), vec![(ip(1), 5)]);
        assert!(c.is_empty());
    }

    /// A flush (every `request_window_secs`) in the middle of a burst leaves the burst as it was.
    #[test]
    fn a_flush_within_a_burst_does_not_start_it_over() {
        let mut c = SourceCounts::default();
        for _ in 0..5 {
            assert_eq!(c.count(ip(1), 1_000, &L), Counted::Quiet);
        }
        assert_eq!(c.drain(1_001, &L), vec![(ip(1), 5)]);
        for _ in 0..4 {
            assert_eq!(c.count(ip(1), 1_002, &L), Counted::Quiet);
        }
        assert!(matches!(
            c.count(ip(1), 1_002, &L),
            Counted::Flood { requests: 10, .. }
        ));
        // A burst that is over is forgotten at the flush (the table does not keep every source seen).
        c.count(ip(2), 1_000, &L);
        c.drain(5_000, &L);
        assert!(c.is_empty());
    }

    #[test]
    fn the_table_is_bounded() {
        let mut c = SourceCounts::default();
        for n in 0..u32::try_from(L.max_counted_sources).unwrap() + 10 {
            c.count(ip(n), 0, &L);
        }
        assert_eq!(c.len(), L.max_counted_sources);
        let small = Sources {
            max_counted_sources: 3,
            ..L
        };
        let mut c = SourceCounts::default();
        for n in 0..10 {
            c.count(ip(n), 0, &small);
        }
        assert_eq!(c.len(), 3, "the cap is the policy's");
    }

    /// Another burst and window take effect: 25 within 250 ms floods at the 25th request, not the 10th, and
    /// a source at 9 requests per 100 ms (no flood by default) is no flood either.
    #[test]
    fn the_policy_sets_the_burst_and_the_window() {
        let wide = Sources {
            flood_burst: 25,
            flood_window_ms: 250,
            ..L
        };
        let mut c = SourceCounts::default();
        for n in 1..25 {
            assert_eq!(c.count(ip(1), 1_000, &wide), Counted::Quiet, "request {n}");
        }
        assert_eq!(
            c.count(ip(1), 1_000, &wide),
            Counted::Flood {
                requests: 25,
                within_ms: 0
            }
        );
        assert!(flood_words(25, 0, &wide).contains("the limit is 25 within 250 ms"));
    }
}
