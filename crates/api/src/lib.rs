//! Operator control of tollguard: the HTTP API served by `tollguard serve` (tokens with roles and tenant
//! scope, alerts, bans, kill switches, calls in progress, policy, live event stream, OpenAPI, Prometheus
//! metrics) and the notifications that bring alerts to people (webhooks, e-mail, syslog).
//!
//! Layout: [`config`] (the `[api]` table), [`auth`] (tokens, roles, scopes, failed-login limit), `routes`
//! (handlers), `dto` (JSON shapes), [`metrics`], `openapi`, `server` (binding, TLS, first admin token),
//! [`notify`]. See README.md and docs/api.md.

#![forbid(unsafe_code)]

pub mod auth;
pub mod client;
pub mod config;
pub mod decide;
pub mod dto;
mod error;
pub mod metrics;
pub mod notify;
mod openapi;
mod routes;
mod server;
mod state;

pub use config::{ApiConfig, ApiConfigError};
pub use error::{ApiError, ErrorBody, ServeError};
pub use openapi::openapi_json;
pub use server::{BoundApi, bind, bootstrap_admin, restrict_store_files, serve};
pub use state::PeerAddr;
