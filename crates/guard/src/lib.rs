//! `guard`: tollguard's inline SIP proxy. It stands between the internet and the PBX (access side) and
//! between the PBX and its carrier (trunk side), forwards SIP as an RFC 3261 proxy, feeds every outbound call,
//! authentication outcome and request count to the fraud engine, and enforces the engine's decisions: blocked
//! calls are answered with the decision's status and reason, banned sources are dropped, kill switches end
//! calls in progress. See README.md and docs/inline-proxy.md.
//!
//! Layout: [`admission`] (what the sockets read goes into the core's queue or is shed), [`config`] (the TOML
//! file), [`proxy`] (the pure core: message + time in, messages + records out), [`dialog`], [`fingerprint`], [`transport`] (tokio sockets), `shard` (a SIP shard's
//! thread: the calls of the Call-IDs that hash to it), [`service`] (the running guard: sockets, shards, the
//! control loop, store, SIGHUP).

#![forbid(unsafe_code)]

pub mod admission;
pub mod config;
pub mod dialog;
pub mod end_call;
pub mod fingerprint;
pub mod geo;
pub mod proxy;
pub mod service;
mod shard;
pub mod transport;

pub use config::{ConfigError, ConfigErrors, Settings};
pub use decide::LiveEvent;
pub use decide::control::{
    CallInfo, ControlError, DecideRequest, GuardHandle, GuardStatus, Progress, SyncReport,
};
pub use decide::latency::{self, DecisionLatency, LatencySnapshot};
pub use proxy::{Core, Now, Output, Persist, Shared};
pub use service::{Guard, GuardError};
