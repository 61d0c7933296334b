//! What the configuration readers extract, whatever the PBX: accounts with their secrets, endpoints with the
//! dial-plan context their calls land in, the dial plan itself, and findings a reader can tell on its own.

use std::fmt;

use super::dialplan::Dialplan;
use crate::finding::Finding;

/// `file:line`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Loc {
    pub file: String,
    pub line: usize,
}

impl fmt::Display for Loc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

/// A password stored in the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Secret {
    pub user: String,
    pub password: String,
    pub loc: Loc,
    /// The PBX's own login at a carrier (outbound registration / auth), not a phone's.
    pub trunk: bool,
}

/// Who sends calls into a context.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caller {
    /// A phone that authenticates.
    Phone,
    /// Anyone, without authentication (guest, anonymous endpoint, FreeSWITCH public).
    Guest,
    /// A carrier or another trusted host matched by address (inbound calls from outside).
    Inbound,
}

/// Where an endpoint's calls go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub name: String,
    pub context: String,
    pub caller: Caller,
    pub loc: Loc,
}

/// Everything read from all the files of one PBX.
#[derive(Debug, Default)]
pub struct Model {
    pub secrets: Vec<Secret>,
    pub endpoints: Vec<Endpoint>,
    pub dialplan: Dialplan,
    pub findings: Vec<Finding>,
    /// A dial plan limits concurrent calls (GROUP_COUNT, FreeSWITCH limit).
    pub limits_calls: bool,
    /// Whether a dial-plan file was given at all (else dial-plan checks are skipped).
    pub has_dialplan: bool,
}
