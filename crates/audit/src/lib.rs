//! `audit`: find the weak spots of a PBX you own before attackers do — the 2015 Japanese PBX hijackings
//! started with vendor default passwords reachable from the internet. Four checks:
//!
//! - [`credentials`]: vendor defaults, extension-derived and common passwords tried over SIP digest (REGISTER
//!   without Contact, paced, stopping at lockouts and at the first success);
//! - [`exposure`]: what a scanner learns (OPTIONS banners, 404-vs-401 enumeration, guest INVITEs, web pages
//!   taking a default login);
//! - [`pbxconf`]: risky settings and dial plans in Asterisk, FreeSWITCH and Kamailio configuration files;
//! - [`weak_login`]: the passive form, testing a digest response seen on the wire against the same lists.
//!
//! Every active check refuses a target that is not the user's ([`target::Permission`]).
#![forbid(unsafe_code)]

pub mod candidates;
pub mod cost;
pub mod credentials;
pub mod digest;
pub mod exposure;
pub mod finding;
pub mod pacer;
pub mod passive;
pub mod pbxconf;
pub mod request;
pub mod target;
pub mod transport;
pub mod web;

use std::net::{IpAddr, SocketAddr};

pub use candidates::{Candidate, CandidateLists, Origin};
pub use credentials::{AccountResult, CredentialAudit, Outcome, parse_extensions};
pub use finding::{Finding, Severity};
pub use passive::{Match, weak_login};
pub use target::{Permission, Target, Transport};
pub use transport::TlsTrust;

/// Why an audit could not run.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error(
        "refusing to audit {target}: it is not the PBX of your guard configuration ({}); audit only a PBX you \
         own, and confirm it with --i-own-this",
        configured_list(configured)
    )]
    NotYours {
        target: SocketAddr,
        configured: Vec<IpAddr>,
    },
    #[error("cannot read target {0:?}: write HOST or HOST:PORT (IPv6 in brackets)")]
    BadTarget(String),
    #[error("cannot read extensions {0:?}: write e.g. 200-299 or 201,205,300-310")]
    BadExtensions(String),
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("no answer from {0} in time")]
    Timeout(SocketAddr),
    #[error("{0} closed the connection")]
    Closed(SocketAddr),
    #[error(
        "TLS handshake with {target} failed: {detail} (give the PBX's CA with --ca FILE, or --insecure)"
    )]
    Tls { target: SocketAddr, detail: String },
    #[error("TLS set-up: {0}")]
    TlsSetup(String),
    #[error(
        "{0}: unknown kind of file: name it pjsip*.conf, sip*.conf, extensions*.conf, *.xml (FreeSWITCH) or \
         *.csv/*.tsv (Kamailio subscriber export)"
    )]
    UnknownFile(String),
}

fn configured_list(c: &[IpAddr]) -> String {
    if c.is_empty() {
        "none given: --config guard.toml".into()
    } else {
        c.iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    }
}
