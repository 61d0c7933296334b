//! The engine's input: what happened on the telephony side, in one small model shared by every adapter
//! (SIP proxy, CDR reader, HEP mirror). Time is a field of each event, never read from a clock, so a replay
//! decides exactly what live traffic would have. Events borrow their strings so adapters need not allocate.

use std::net::{IpAddr, SocketAddr};

use chrono::{DateTime, Utc};
use numbering::Destination;
use serde::{Deserialize, Serialize};

/// The account name under which a tenant's calls from accounts not in its configured list are counted together
/// (a [`CallAttempt`] with `authenticated == false`). A policy may give it its own thresholds:
/// `[tenants.<t>.accounts."(unknown account)".rules.…]`.
pub const UNKNOWN_ACCOUNT: &str = "(unknown account)";

/// Milliseconds since the Unix epoch (UTC).
pub type Millis = i64;

/// Converts a UTC time to [`Millis`].
pub fn millis(t: DateTime<Utc>) -> Millis {
    t.timestamp_millis()
}

/// One thing that happened.
#[derive(Debug, Clone, Copy)]
pub enum Event<'a> {
    CallAttempt(CallAttempt<'a>),
    CallAnswered(CallAnswered<'a>),
    CallEnded(CallEnded<'a>),
    Auth(AuthAttempt<'a>),
    Requests(RequestCount),
    ScannerMark(ScannerMark<'a>),
}

impl Event<'_> {
    pub fn at(&self) -> Millis {
        match self {
            Event::CallAttempt(e) => e.at,
            Event::CallAnswered(e) => e.at,
            Event::CallEnded(e) => e.at,
            Event::Auth(e) => e.at,
            Event::Requests(e) => e.at,
            Event::ScannerMark(e) => e.at,
        }
    }
}

/// An outgoing call attempt (an INVITE, or the start of a CDR).
#[derive(Debug, Clone, Copy)]
pub struct CallAttempt<'a> {
    pub at: Millis,
    /// The call's own id (SIP Call-ID, Asterisk uniqueid, FreeSWITCH uuid): answers and ends refer to it.
    pub call_id: &'a str,
    /// Tenant or site ("acme"); "" for a single-site installation.
    pub tenant: &'a str,
    /// Account or extension that placed the call ("205").
    pub account: &'a str,
    /// Where the request came from, when known (CDRs often do not say).
    pub source: Option<SocketAddr>,
    /// User-Agent header, "" when unknown.
    pub user_agent: &'a str,
    /// True when the caller proved its identity (digest auth, trusted trunk) and is one of the tenant's
    /// configured accounts. Calls with `false` are counted together, under [`crate::UNKNOWN_ACCOUNT`] of the
    /// tenant, so that a caller who changes its From user on each call resets no counter.
    pub authenticated: bool,
    /// True when the caller ID the call presents (From / P-Asserted-Identity number) is not one of the tenant's
    /// own numbers: a sign of a hijacked account (rule `caller_id_foreign`). False when unknown.
    pub caller_id_foreign: bool,
    /// The dial string exactly as received.
    pub dialed: &'a str,
    /// What `numbering` made of the dial string.
    pub destination: &'a Destination,
    /// Trunk or route the call takes, "" when unknown.
    pub route: &'a str,
    /// Whether the call leaves because another came in (forwarding, transfer, DISA, hairpin): rule
    /// `forwarded_international`.
    pub leg: Leg,
    /// The outside party whose call this one continues (the original caller of a forwarded call, the
    /// referrer of a transfer), when the front end knows it.
    pub forwarded_from: Option<&'a str>,
}

/// How an outbound call came about: placed by the account itself, or the continuation of a call that came in.
/// An outside caller reaching abroad through the PBX (a forwarding to abroad, a DISA or voicemail
/// fall-through, a transfer an outsider asked for) is the other classic hijack besides a stolen password.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Leg {
    /// Dialed by the account (the usual case, and the answer when nothing says otherwise).
    #[default]
    Direct,
    /// Forwarded or retargeted (SIP `Diversion`, `History-Info` with a mapped or `cause` entry; a CDR of a
    /// call that came in from outside and left through a Dial).
    Forwarded,
    /// Transferred (an INVITE with `Referred-By`, after a REFER).
    Transferred,
    /// The PBX bridged an incoming trunk call straight out to the trunk (a CDR whose channel and destination
    /// channel are both trunks).
    Hairpin,
}

impl Leg {
    pub const fn as_str(self) -> &'static str {
        match self {
            Leg::Direct => "direct",
            Leg::Forwarded => "forwarded",
            Leg::Transferred => "transferred",
            Leg::Hairpin => "hairpin",
        }
    }
}

/// The callee answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallAnswered<'a> {
    pub at: Millis,
    pub call_id: &'a str,
}

/// How a call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum EndCause {
    /// Answered and hung up normally.
    Normal,
    NoAnswer,
    Busy,
    /// Rejected or failed (network, congestion, 4xx/5xx/6xx).
    Failed,
    /// The caller gave up before an answer.
    Cancelled,
    /// Ended by tollguard itself (kill switch).
    Terminated,
}

/// The call ended (a BYE, or the end of a CDR).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallEnded<'a> {
    pub at: Millis,
    pub call_id: &'a str,
    /// Whole call in seconds, from attempt to end.
    pub duration_secs: u32,
    /// Seconds from answer to end (0 when not answered).
    pub billable_secs: u32,
    pub cause: EndCause,
}

/// What was being authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AuthKind {
    Register,
    Call,
    Other,
}

/// The outcome of one authentication or registration attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AuthOutcome {
    Success,
    /// A challenge was sent (401/407 without credentials): normal first step, counted but not a failure.
    Challenge,
    /// Wrong password.
    Failure,
    /// No such user.
    UnknownUser,
}

/// One authentication or registration attempt.
#[derive(Debug, Clone, Copy)]
pub struct AuthAttempt<'a> {
    pub at: Millis,
    pub tenant: &'a str,
    /// The user name tried (an extension or account).
    pub username: &'a str,
    pub source: IpAddr,
    pub user_agent: &'a str,
    pub kind: AuthKind,
    pub outcome: AuthOutcome,
    /// Country of the source (ISO 3166 alpha-2, e.g. "JP"), from the guard's GeoIP lookup; None when unknown.
    pub country: Option<&'a str>,
}

/// A request that carried a SIP scanner's mark beyond its User-Agent (a front end's fingerprint: hex From-tags,
/// `z9hG4bK-<digits>` branches, `sip:100@1.1.1.1` probes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScannerMark<'a> {
    pub at: Millis,
    pub source: IpAddr,
    /// The fingerprint's rule (`RuleId::ScannerFromTag` …).
    pub rule: crate::RuleId,
    /// What was seen, in words.
    pub why: &'a str,
}

/// Raw request count from one source over a short interval (scanner detection).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestCount {
    pub at: Millis,
    pub source: IpAddr,
    pub requests: u32,
}
