//! `tollguard learn`: a policy fitted to a site's own call history. The history is first replayed through the
//! engine to find the calls that look like an attack (they and the burst around them are never learned as
//! normal), then the rest is measured: the countries and classes each tenant and account calls routinely, the
//! hours the site works, and the busiest minute, hour, day and month of calls and money, from which thresholds
//! are set at a high quantile with headroom and never below a floor. Every number keeps where it came from, so
//! that the policy file can say it in a comment.
//!
//! No I/O: records come in memory, the policy goes out as text ([`render`]). [`holdout`] backtests a learned
//! policy on calls it was not learned from.

mod fit;
mod holdout;
mod observe;
mod render;

pub use fit::{Basis, Fitted, LayerFit, Learned, RuleFit, SiteHours};
pub use holdout::{AttackStop, HoldoutReport, holdout};
pub use observe::{Exclusion, Observed};
pub use render::{Lang, render_json, render_toml, summary};

use crate::Site;

/// How the numbers are chosen. The defaults are those `tollguard learn` documents (docs/learn.md).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LearnOptions {
    /// Quantile of the busiest windows of each day that a threshold starts from (0.999: p99.9).
    pub quantile: f64,
    /// Critical threshold = quantile × this (never below the rule's floor).
    pub headroom: f64,
    /// Warning threshold = quantile × this.
    pub warn_headroom: f64,
    /// A country or class is routine for an account called on at least this many distinct days.
    pub routine_days: u32,
    /// … and for a whole tenant when, besides those days, at least this many of its accounts called it.
    pub routine_accounts: u32,
    /// Calls of an account this close (seconds, either side) to an attack-looking call are excluded with it.
    pub burst_secs: i64,
    /// Minutes added before the first and after the last usual call of the day (business hours).
    pub hours_margin_min: u16,
    /// Exclude attack-looking calls (off only to show, in tests, what a poisoned history would teach).
    pub exclude_attacks: bool,
}

impl Default for LearnOptions {
    fn default() -> Self {
        LearnOptions {
            quantile: 0.999,
            headroom: 1.5,
            warn_headroom: 1.2,
            routine_days: 3,
            routine_accounts: 2,
            burst_secs: 3600,
            hours_margin_min: 60,
            exclude_attacks: true,
        }
    }
}

/// Learns a policy from `records` (any order) with the site's numbering, tenants and base policy: the base
/// policy's safety settings (risk tiers, deny lists, obfuscation, authentication, pumping…) are kept, its
/// destinations, hours, velocity and money thresholds are fitted.
pub fn learn<'r, S: AsRef<str> + 'r>(
    site: &Site,
    records: impl IntoIterator<Item = &'r cdr::CallRecord<S>>,
    opts: &LearnOptions,
) -> Learned {
    let mut seen = observe::observe(site, records);
    let excluded = if opts.exclude_attacks {
        observe::exclude(&mut seen.calls, &seen.flags, opts.burst_secs)
    } else {
        Vec::new()
    };
    fit::fit(site, &seen, excluded, opts)
}

/// Splits records at `holdout_secs` before the latest call's start: the calls before are learned from, the rest
/// backtested. Records keep their order.
pub fn split_holdout<S: Clone>(
    records: &[cdr::CallRecord<S>],
    holdout_secs: i64,
) -> (Vec<cdr::CallRecord<S>>, Vec<cdr::CallRecord<S>>) {
    let latest = records.iter().map(|r| r.start).max();
    let Some(latest) = latest else {
        return (Vec::new(), Vec::new());
    };
    let cutoff = latest - chrono::Duration::seconds(holdout_secs);
    records.iter().cloned().partition(|r| r.start < cutoff)
}
