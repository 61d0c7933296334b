//! Requests counted per source between two flushes to the engine, and the flood detector: a source that sends
//! a burst of requests faster than any phone or office does is seen after its first [`FLOOD_BURST`] requests,
//! not after the minute's count of `request_rate_source` (1,000 by default) has been reached.
//!
//! The detector: a burst starts at a source's request, and [`FLOOD_BURST`] requests within [`FLOOD_WINDOW_MS`]
//! of its start are a flood (a request later than that starts the next burst). A flood of 1,000 or 10,000
//! requests a second is seen at its 10th request; a phone, or an office of phones behind one address, does not
//! send 10 requests within 100 ms before one of them has logged in (and sources that logged in are not banned
//! on this).
//! Bounded: at most [`MAX_COUNTED_SOURCES`] sources between two flushes; beyond, new sources are not counted
//! until the next flush (a spoofed flood of a million addresses cannot grow it).

use std::collections::HashMap;
use std::net::IpAddr;

use engine::Millis;

/// Most sources counted between two request-rate flushes.
pub const MAX_COUNTED_SOURCES: usize = 100_000;
/// Requests in a burst that make a flood.
pub const FLOOD_BURST: u32 = 10;
/// The time within which [`FLOOD_BURST`] requests are a flood.
pub const FLOOD_WINDOW_MS: Millis = 100;
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
    /// A flood: `requests` came within `within_ms` (less than [`FLOOD_WINDOW_MS`]).
    Flood { requests: u32, within_ms: Millis },
}

/// Requests per source key since the last flush.
#[derive(Debug, Default)]
pub struct SourceCounts(HashMap<IpAddr, Count>);

impl SourceCounts {
    /// Counts a request of `key` at `at` (engine time).
    pub fn count(&mut self, key: IpAddr, at: Millis) -> Counted {
        if self.0.len() >= MAX_COUNTED_SOURCES && !self.0.contains_key(&key) {
            return Counted::Quiet;
        }
        let c = self.0.entry(key).or_default();
        if c.burst == 0 || at.saturating_sub(c.burst_from) >= FLOOD_WINDOW_MS {
            c.burst_from = at;
            c.burst = 0;
        }
        c.burst += 1;
        c.requests += 1;
        if c.burst >= FLOOD_BURST {
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

    /// The counts since the last flush, for the engine; the buckets start over.
    pub fn drain(&mut self) -> Vec<(IpAddr, u32)> {
        self.0
            .drain()
            .filter(|(_, c)| c.requests > 0)
            .map(|(k, c)| (k, c.requests))
            .collect()
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
pub fn flood_words(requests: u32, within_ms: Millis) -> String {
    format!(
        "a flood of requests: {requests} within {within_ms} ms (the limit is {FLOOD_BURST} within \
         {FLOOD_WINDOW_MS} ms) from an address that has not logged in"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(n: u32) -> IpAddr {
        IpAddr::from(std::net::Ipv4Addr::from(0xcb00_7100 + n))
    }

    #[test]
    fn a_fast_burst_is_a_flood_at_its_tenth_request() {
        let mut c = SourceCounts::default();
        for n in 1..FLOOD_BURST {
            assert_eq!(c.count(ip(1), 1_000), Counted::Quiet, "request {n}");
        }
        assert_eq!(
            c.count(ip(1), 1_000),
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
        let gap = FLOOD_WINDOW_MS / i64::from(FLOOD_BURST - 1) + 1;
        for n in 0..10_000 {
            let got = c.count(ip(1), n * gap);
            assert!(!matches!(got, Counted::Flood { .. }), "request {n}");
        }
        let mut flooded = None;
        for n in 0..100 {
            if let Counted::Flood { requests, .. } = c.count(ip(2), n * (gap - 2)) {
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
            if let Counted::Report(r) = c.count(ip(1), i64::from(n) * 20) {
                reported += r;
            }
        }
        assert_eq!(reported, EARLY_REPORT);
        assert_eq!(c.drain(), vec![(ip(1), 5)]);
        assert!(c.is_empty());
    }

    #[test]
    fn the_table_is_bounded() {
        let mut c = SourceCounts::default();
        for n in 0..u32::try_from(MAX_COUNTED_SOURCES).unwrap() + 10 {
            c.count(ip(n), 0);
        }
        assert_eq!(c.len(), MAX_COUNTED_SOURCES);
    }
}
