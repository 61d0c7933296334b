//! tollguard's fraud engine: a pure, deterministic core that sees call attempts, answers, ends and
//! authentication events, keeps per-key state over sliding windows with bounded memory, and decides — with
//! reasons, in money. Time is a field of each event; there is no clock, I/O or async inside.
//!
//! ```
//! use std::sync::Arc;
//! use engine::{Engine, Event, CallAttempt, Policy, RuleId, Verdict};
//! let numbering = Arc::new(numbering::Numbering::japan_defaults());
//! let mut engine = Engine::new(Policy::default(), numbering.clone());
//! let mut out = Vec::new();
//! let mut call = |call_id, dialed: &str, out: &mut Vec<_>| {
//!     let dest = numbering.classify(dialed);
//!     engine.on_event(&Event::CallAttempt(CallAttempt {
//!         at: 1_700_000_000_000, call_id, tenant: "", account: "205", source: None, user_agent: "",
//!         authenticated: true, caller_id_foreign: false, dialed, destination: &dest, route: "",
//!         leg: engine::Leg::Direct, forwarded_from: None,
//!     }), out)
//! };
//! // Emergency numbers pass before any rule, silently.
//! assert_eq!(call("c1", "110", &mut out), Verdict::Allow);
//! assert!(out.is_empty());
//! // The default policy refuses Sierra Leone, and says why in data and in words.
//! assert_eq!(call("c2", "01023276123456", &mut out), Verdict::Block { sip_status: 403 });
//! assert_eq!(out[0].rule, RuleId::DestinationCountry);
//! assert_eq!(out[0].country.as_deref(), Some("SL"));
//! assert!(out[0].reason.contains("Sierra Leone"), "{}", out[0].reason);
//! ```

#![forbid(unsafe_code)]

pub(crate) mod calendar;
mod call_ids;
pub mod cost;
pub mod decision;
mod engine;
pub mod event;
mod explain;
pub(crate) mod keys;
pub mod policy;
mod rule_id;
mod rules;
mod site;
mod site_rules;
mod source;
pub(crate) mod state;
mod summary;
pub(crate) mod window;

pub use calendar::{Holidays, SiteCalendar};
pub use call_ids::CallIds;
pub use cost::{Rate, RateTable};
pub use decision::{
    Action, Amount, BarScope, CallFacts, CallLength, ClassSet, Decision, DestClass, Level, Subject,
    Unit, Verdict,
};
pub use engine::{DEFAULT_SEED, Engine, Snapshot, StateSizes, Stats, scanner_in};
pub use event::{
    AuthAttempt, AuthKind, AuthOutcome, CallAnswered, CallAttempt, CallEnded, EndCause, Event, Leg,
    Millis, RequestCount, ScannerMark, UNKNOWN_ACCOUNT, millis,
};
pub use policy::{Mode, Policy, PolicyError, Profile, Rule, Rules, Sources};
pub use rule_id::{FindingKind, RuleId};
pub use site::{Network, Site};
pub use source::source_key;
pub use state::{Ban, KillSwitch};
pub use summary::AccountSummary;
