//! tollguard's CDR replay: call detail records through the fraud engine in the order the calls happened, with
//! a site's numbering (dial plan, risk lists, tariffs), policy, tenants and protected sources, the same settings
//! the guard runs with. What the engine made of each call goes to a [`Sink`]: the CLI's report
//! (`tollguard analyze` / `backtest`), the [`Totals`] of this crate, or a caller's own.
//!
//! No I/O: records come from crate `cdr`'s readers (or are built in memory), results go to the sink.
//!
//! ```
//! use replay::{Replay, Site, Totals};
//! let start = chrono::DateTime::from_timestamp(1_426_242_600, 0).unwrap_or_default();
//! let mut call = cdr::CallRecord::empty(1, start);
//! call.account = "205".into();
//! call.dialed = "0312345678".into();
//! let mut totals = Totals::default();
//! let done = replay::replay_records(Site::defaults(), [&call], 4 * 3600, &mut totals);
//! assert_eq!((totals.calls, totals.blocked, done.late_records), (1, 0, 0));
//! ```

#![forbid(unsafe_code)]

pub mod learn;
mod replay;
mod site;
mod totals;

pub use replay::{Call, Label, LaterDecisions, Outcome, Replay, Sink};
pub use site::{Network, Site, Tenant};
pub use totals::Totals;

/// What a whole replay saw besides its outcomes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finished {
    /// Records that came later than the reorder window allows (their calls were replayed late).
    pub late_records: u64,
    /// Most calls held in memory at once.
    pub peak_held: usize,
    /// The engine's state afterwards.
    pub engine: engine::StateSizes,
}

/// Replays records given in file order (end-time order, as a PBX writes them) through a new engine with the
/// site's settings, hands each outcome to `sink`, and says what the replay saw.
pub fn replay_records<'r, S: AsRef<str> + 'r>(
    site: Site,
    records: impl IntoIterator<Item = &'r cdr::CallRecord<S>>,
    reorder_window_secs: u32,
    sink: &mut dyn Sink,
) -> Finished {
    let mut replay = Replay::new(site, reorder_window_secs);
    let mut peak_held = 0;
    for r in records {
        replay.push(0, &r.as_borrowed(), sink);
        peak_held = peak_held.max(replay.held());
    }
    replay.finish(sink);
    Finished {
        late_records: replay.late_records,
        peak_held,
        engine: replay.engine().sizes(),
    }
}
