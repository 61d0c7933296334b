//! What the decision layer hands back to a front end: the clock it reads, the records to persist, the live
//! events to publish and the calls to end. The layer never calls a front end; the front end carries these out
//! (docs/architecture.md, "Effects, not callbacks").

use engine::{Ban, Decision, KillSwitch, Millis};
use serde::Serialize;

/// Clock readings: wall time for protocol timers, engine time for the rules (the engine's clock may run
/// faster in tests and demos).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Now {
    pub wall: Millis,
    pub engine: Millis,
}

/// Something that must survive a restart.
#[derive(Debug, Clone, PartialEq)]
pub enum Persist {
    Ban(Ban),
    KillSwitch(KillSwitch),
    Alerts {
        tenant: String,
        decisions: Vec<Decision>,
    },
    /// Calls in progress changed since the last batch (Call-ID, tenant, the dialog as JSON) and the
    /// Call-IDs that ended: written once a tick, so a crash loses at most a tick of dialog changes.
    Dialogs {
        upserts: Vec<(String, String, String)>,
        ended: Vec<String>,
    },
}

/// A call in progress the layer wants ended (a kill switch, an operator), and why, in words for the parties'
/// Reason header and the admin's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndCall {
    pub call_id: String,
    pub why: String,
}

/// The effects of one or more calls into the layer, accumulated until the front end drains them. Reused
/// between calls, so that a call that decides nothing allocates nothing.
#[derive(Debug, Default)]
pub struct Effects {
    pub persist: Vec<Persist>,
    /// For the live stream; filled only while somebody listens ([`crate::Decider::set_live`]).
    pub events: Vec<LiveEvent>,
    pub end_calls: Vec<EndCall>,
    /// Bans set (the front end updates its drop filter and counts them).
    pub bans: Vec<Ban>,
}

impl Effects {
    pub fn is_empty(&self) -> bool {
        self.persist.is_empty()
            && self.events.is_empty()
            && self.end_calls.is_empty()
            && self.bans.is_empty()
    }
}

/// What the guard publishes as it works. Receivers that lag lose the oldest events (the stream is for
/// watching; the store keeps the record).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum LiveEvent {
    /// A decision of the engine (what the store records as an alert). `tenant` is empty for decisions that
    /// concern only a source address (a scanner).
    Decision { tenant: String, decision: Decision },
    /// An outbound call attempt and its verdict.
    Call {
        at: Millis,
        tenant: String,
        account: String,
        call_id: String,
        dialed: String,
        e164: Option<String>,
        country: Option<String>,
        class: String,
        /// "allowed", "blocked" or "emergency" (emergency calls always pass).
        verdict: String,
        /// The SIP status sent back when blocked (0 when the call went on).
        sip_status: u16,
        reason: Option<String>,
    },
    CallAnswered {
        at: Millis,
        tenant: String,
        call_id: String,
    },
    CallEnded {
        at: Millis,
        tenant: String,
        call_id: String,
        billable_secs: u32,
        /// Ended by tollguard (a kill switch or an operator), not by the caller or callee.
        by_guard: bool,
    },
}

impl LiveEvent {
    /// The tenant the event belongs to (empty: none, e.g. a scanner's source).
    pub fn tenant(&self) -> &str {
        match self {
            LiveEvent::Decision { tenant, .. }
            | LiveEvent::Call { tenant, .. }
            | LiveEvent::CallAnswered { tenant, .. }
            | LiveEvent::CallEnded { tenant, .. } => tenant,
        }
    }
}
