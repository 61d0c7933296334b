//! `decide`: tollguard's decision layer, between the front ends (inline SIP proxy, SIP redirect server, HTTP
//! decision API, HEP mirror) and the fraud engine. Facts of a call attempt, a login, an answer or an end go in;
//! the verdict and its effects (bans set, calls to end, records to persist, live events) come out. It owns the
//! engine, the one ban table and the tenant resolver, holds no socket and never calls a front end: see
//! docs/architecture.md.
//!
//! Layout: [`decider`] (the phases), [`facts`] (what front ends give, and how it is read off SIP), [`flood`] (request counts per source, floods),
//! [`tenant`] (tenants and their resolver), [`bans`] (the ban table, sources that logged in), [`control`] (commands and live events for the operator API), [`queried`] (calls a querier carries), [`geo`] (countries
//! and login limits), [`effects`] (what comes back), [`latency`] (decision latency histogram), [`tls`] (certificates for the front ends that terminate TLS), [`weak`] (logins with
//! vendor-default or weak passwords).

#![forbid(unsafe_code)]

pub mod bans;
pub mod control;
pub mod decider;
pub mod effects;
pub mod facts;
pub mod flood;
pub mod geo;
pub mod latency;
pub mod queried;
pub mod tally;
pub mod tenant;
pub mod tls;
pub mod weak;

pub use decider::{CallVerdict, DecideConfig, DecideStats, Decider, ScannerOutcome};
pub use effects::{Effects, EndCall, LiveEvent, Now, Persist};
pub use facts::{AuthFacts, CallQuery, SipCall};
pub use tenant::{AccountFrom, Network, Tenant, Tenants};
pub use weak::{WeakLogin, WeakPasswordPolicy};
