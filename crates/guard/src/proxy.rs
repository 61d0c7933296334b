//! The proxy core: RFC 3261 section 16 forwarding and the enforcement of the engine's decisions. Pure and
//! synchronous — a message and the time go in, messages to send and records to persist come out — so that
//! every path is unit-tested without sockets, and the async shell (`service`) stays thin.
//!
//! Choices:
//! - Retransmissions are forwarded, not absorbed: the branch towards the next hop is derived from the incoming
//!   branch (RFC 3261 section 16.11), so a retransmitted request, its CANCEL and the ACK of a non-2xx answer
//!   carry the same branch and the next hop's transaction layer matches them. The guard keeps a transaction
//!   entry per branch to route responses, to count the PBX's 401/403/404 answers per source and account, and
//!   to feed answers and failures of calls to the engine.
//! - Requests the guard answers itself (blocked calls, 482/483) are remembered, so that a retransmission gets
//!   the same answer and is not decided twice, and their ACK is absorbed.
//! - The source of a request is its transport address, never a header.

use std::collections::{HashMap, VecDeque};
use std::hash::BuildHasher;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use engine::{
    Action, AuthAttempt, AuthKind, AuthOutcome, Ban, CallAnswered, CallAttempt, CallEnded,
    Decision, EndCause, Engine, Event, KillSwitch, Level, Millis, RequestCount, Unit, Verdict,
};
use numbering::Numbering;
use sip::{Forward, HeaderName, Message, Method, ResponseBuilder, Uri};

use crate::config::{AccountFrom, BannedAction, Role, Settings, TransportKind};
use crate::control::{CallInfo, LiveEvent};
use crate::dialog::{Dialog, Dialogs};
use crate::fingerprint::scanner_mark;
use crate::latency::DecisionLatency;
use crate::transport::{Hop, Inbound, Outgoing};

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
}

/// What handling one message produced.
#[derive(Debug, Default)]
pub struct Output {
    pub sends: Vec<Outgoing>,
    pub persist: Vec<Persist>,
    /// For the live stream; filled only while somebody listens ([`Core::set_live`]).
    pub events: Vec<LiveEvent>,
}

/// Counters of the guard (logged, and for the operator API later).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct GuardStats {
    pub requests: u64,
    pub responses: u64,
    pub malformed: u64,
    pub dropped_banned: u64,
    pub scanners_banned: u64,
    pub calls_decided: u64,
    pub calls_blocked: u64,
    pub calls_ended_by_guard: u64,
    pub unroutable: u64,
}

/// How long a transaction entry lives (64 × T1 for non-INVITE; INVITE waits for a slow answer).
const TX_LIFE_MS: Millis = 32_000;
const INVITE_TX_LIFE_MS: Millis = 200_000;
/// Most transaction entries kept; beyond, the oldest are forgotten (their responses go by Via).
const MAX_TX: usize = 200_000;
/// Requests from one source within a window after which its count goes to the engine at once.
const EARLY_REPORT: u32 = 200;
/// Most sources counted between two request-rate flushes.
const MAX_COUNTED_SOURCES: usize = 100_000;
/// Ended dialogs linger a little so that retransmitted BYEs find them.
const DIALOG_LINGER_MS: Millis = 32_000;
/// RFC 3261 T1: first retransmission interval of an INVITE over UDP; doubled each time, given up after
/// 64 × T1.
const T1_MS: Millis = 500;

#[derive(Debug, Clone)]
struct AuthProbe {
    tenant: String,
    username: String,
    credentials: bool,
    user_agent: String,
    kind: AuthKind,
    source: IpAddr,
}

#[derive(Debug, Clone)]
struct Tx {
    back: Hop,
    created: Millis,
    /// Sent by the guard itself (BYE/CANCEL of a kill switch): responses are absorbed.
    local: bool,
    /// The Call-ID of a tracked dialog (outbound INVITE).
    call: Option<String>,
    auth: Option<AuthProbe>,
    auth_done: bool,
    /// The last response sent upstream: a retransmitted request gets it again (the server transaction
    /// absorbs retransmissions once it has answered, RFC 3261 section 17.2).
    last_response: Option<Vec<u8>>,
    /// An INVITE forwarded over UDP is retransmitted by the guard until a response comes (Timer A).
    pending: Option<Pending>,
}

#[derive(Debug, Clone)]
struct Pending {
    data: Vec<u8>,
    hop: Hop,
    next_at: Millis,
    interval: Millis,
}

#[derive(Debug, Clone)]
struct Answered {
    response: Vec<u8>,
    created: Millis,
}

/// The proxy's state: engine, transactions, dialogs, bans.
pub struct Core {
    settings: Arc<Settings>,
    engine: Engine,
    numbering: Arc<Numbering>,
    hasher: std::hash::RandomState,
    /// Our own addresses (listen and advertise), for Route and Via recognition.
    ours: Vec<SocketAddr>,
    bans: HashMap<IpAddr, Millis>,
    txs: HashMap<(String, String), Tx>,
    tx_order: VecDeque<(Millis, (String, String))>,
    invite_order: VecDeque<(Millis, (String, String))>,
    pending_invites: Vec<(String, String)>,
    answered: HashMap<String, Answered>,
    answered_order: VecDeque<(Millis, String)>,
    dialogs: Dialogs,
    requests: HashMap<IpAddr, u32>,
    decisions: Vec<Decision>,
    local_seq: u64,
    /// Somebody listens to the live stream: build its events (else nothing is allocated for it).
    live: bool,
    /// Time from an outbound INVITE read off the socket to its verdict (read by the operator API).
    latency: Arc<DecisionLatency>,
    pub stats: GuardStats,
}

fn uri_addr(u: &Uri<'_>) -> Option<(SocketAddr, TransportKind)> {
    let s = u.as_sip()?;
    let ip = s.host().ip()?;
    let t = match s.transport() {
        Some(t) if t.eq_ignore_ascii_case("tcp") => TransportKind::Tcp,
        Some(t) if t.eq_ignore_ascii_case("tls") => TransportKind::Tls,
        _ if s.is_secure() => TransportKind::Tls,
        _ => TransportKind::Udp,
    };
    Some((SocketAddr::new(ip, s.port().unwrap_or(5060)), t))
}

fn user_of(value: &str) -> Option<String> {
    let v = value.trim();
    match sip::NameAddr::parse(v) {
        Ok(na) => na.uri().user().map(str::to_owned),
        Err(_) => (!v.is_empty()).then(|| v.to_owned()),
    }
}

/// The top Via with `received` and `rport` filled in from the transport source (RFC 3261 18.2.1, RFC 3581).
fn stamped_via(via: &sip::Via<'_>, source: SocketAddr) -> String {
    let text = via.as_str().trim();
    let mut out = String::with_capacity(text.len() + 40);
    let mut parts = text.split(';');
    out.push_str(parts.next().unwrap_or("").trim_end());
    let rport = via.rport().is_some();
    for p in parts {
        let name = p.split('=').next().unwrap_or("").trim();
        if name.eq_ignore_ascii_case("received") || name.eq_ignore_ascii_case("rport") {
            continue;
        }
        out.push(';');
        out.push_str(p.trim());
    }
    let host_differs = via.host().ip() != Some(source.ip());
    if host_differs || rport {
        out.push_str(";received=");
        out.push_str(&source.ip().to_string());
    }
    if rport {
        out.push_str(";rport=");
        out.push_str(&source.port().to_string());
    }
    out
}

impl Core {
    pub fn new(settings: Arc<Settings>, engine: Engine, numbering: Arc<Numbering>) -> Core {
        let mut ours: Vec<SocketAddr> = Vec::new();
        for l in &settings.listeners {
            ours.push(l.address);
            if let Ok(a) = l.advertise.parse() {
                ours.push(a);
            }
        }
        Core {
            dialogs: Dialogs::new(settings.max_dialogs),
            settings,
            engine,
            numbering,
            hasher: std::hash::RandomState::new(),
            ours,
            bans: HashMap::new(),
            txs: HashMap::new(),
            tx_order: VecDeque::new(),
            invite_order: VecDeque::new(),
            pending_invites: Vec::new(),
            answered: HashMap::new(),
            answered_order: VecDeque::new(),
            requests: HashMap::new(),
            decisions: Vec::new(),
            local_seq: 0,
            live: false,
            latency: Arc::default(),
            stats: GuardStats::default(),
        }
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    pub fn engine_mut(&mut self) -> &mut Engine {
        &mut self.engine
    }

    /// The decision latency counters (shared: they keep counting while the reader holds them).
    pub fn decision_latency(&self) -> Arc<DecisionLatency> {
        self.latency.clone()
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Replaces the settings' policy (SIGHUP): the engine keeps its state, and calls keep flowing.
    pub fn set_engine(&mut self, engine: Engine) {
        self.engine = engine;
    }

    /// Bans restored from the store at start.
    pub fn restore_ban(&mut self, ban: &Ban) {
        if self.settings.is_trusted(ban.source) {
            return;
        }
        self.bans.insert(ban.source, ban.until);
        self.engine
            .ban(ban.source, ban.since, ban.until, &ban.by, &ban.why);
    }

    /// Lifts a ban (an operator removed it from the store).
    pub fn lift_ban(&mut self, ip: IpAddr) {
        self.bans.remove(&ip);
        self.engine.lift_ban(ip);
        tracing::warn!(source = %ip, "ban lifted by an operator");
    }

    /// Sets a kill switch an operator wrote to the store: the scope is barred at once and its calls in
    /// progress to the barred classes are ended (BYE to both sides).
    pub fn operator_kill_switch(
        &mut self,
        ks: &KillSwitch,
        now: Now,
        out: &mut Output,
    ) -> Vec<String> {
        let (set, ids) =
            self.engine
                .set_kill_switch(ks.scope.clone(), ks.classes, now.engine, &ks.by, &ks.why);
        tracing::warn!(scope = %set.scope, classes = %set.classes, by = %set.by, why = %set.why, calls = ids.len(), "kill switch set by an operator");
        let why = format!("kill switch by {}: {}", set.by, set.why);
        ids.into_iter()
            .filter(|id| self.end_call(id, &why, now, out))
            .collect()
    }

    /// Lifts the engine's kill switch of this scope and classes (an operator lifted it in the store).
    /// Returns whether a switch was in force.
    pub fn lift_kill_switch(
        &mut self,
        scope: &engine::BarScope,
        classes: engine::ClassSet,
    ) -> bool {
        let ids: Vec<u64> = self
            .engine
            .kill_switches()
            .iter()
            .filter(|k| &k.scope == scope && k.classes == classes)
            .map(|k| k.id)
            .collect();
        let lifted = !ids.is_empty();
        for id in ids {
            self.engine.lift_kill_switch(id);
            tracing::warn!(scope = %scope, "kill switch lifted by an operator");
        }
        lifted
    }

    pub fn is_banned(&self, ip: IpAddr, now: Millis) -> bool {
        self.bans.get(&ip).is_some_and(|u| *u > now)
    }

    pub fn dialogs_in_progress(&self) -> usize {
        self.dialogs.in_progress().count()
    }

    /// Whether to publish [`LiveEvent`]s in [`Output::events`].
    pub fn set_live(&mut self, on: bool) {
        self.live = on;
    }

    /// Calls in progress (of one tenant, or all), oldest first.
    pub fn calls(&self, tenant: Option<&str>) -> Vec<CallInfo> {
        let mut v: Vec<CallInfo> = self
            .dialogs
            .in_progress()
            .filter(|d| tenant.is_none_or(|t| t == d.tenant))
            .map(|d| CallInfo {
                call_id: d.call_id.clone(),
                tenant: d.tenant.clone(),
                account: d.account.clone(),
                dialed: d.dialed.clone(),
                started: d.started,
                answered: d.answered,
            })
            .collect();
        v.sort_by(|a, b| (a.started, &a.call_id).cmp(&(b.started, &b.call_id)));
        v
    }

    /// Active bans (for the status page).
    pub fn bans_active(&self, now: Millis) -> usize {
        self.bans.values().filter(|u| **u > now).count()
    }

    fn is_ours(&self, a: SocketAddr) -> bool {
        self.ours.contains(&a)
    }

    fn branch_for(&self, parts: &[&str]) -> String {
        let h = self.hasher.hash_one(parts);
        format!("z9hG4bKtg{h:016x}")
    }

    fn to_tag(&self, call_id: &str) -> String {
        let h = self.hasher.hash_one(("tag", call_id));
        format!("tg{:012x}", h & 0xffff_ffff_ffff)
    }

    /// The listener to send from towards `dest` over `transport`: the one the request came in on when it
    /// fits, else the first of that transport and address family.
    fn out_listener(&self, transport: TransportKind, dest: SocketAddr, inbound: usize) -> usize {
        let ls = &self.settings.listeners;
        let fits = |i: usize| {
            ls.get(i)
                .is_some_and(|l| l.transport == transport && l.address.is_ipv4() == dest.is_ipv4())
        };
        if fits(inbound) {
            return inbound;
        }
        (0..ls.len()).find(|i| fits(*i)).unwrap_or(inbound)
    }

    fn advertise(&self, listener: usize) -> &str {
        self.settings
            .listeners
            .get(listener)
            .map(|l| l.advertise.as_str())
            .unwrap_or("127.0.0.1:5060")
    }

    /// Handles one received message.
    pub fn on_inbound(&mut self, inb: &Inbound, now: Now, out: &mut Output) {
        if sip::is_keepalive(&inb.data) {
            return;
        }
        // Banned sources cost one lookup: nothing of theirs is parsed when they are dropped silently.
        if self.settings.banned == BannedAction::Drop
            && !self.bans.is_empty()
            && self.is_banned(inb.source.ip(), now.engine)
            && !self.settings.is_trusted(inb.source.ip())
        {
            self.stats.dropped_banned += 1;
            return;
        }
        let msg = match Message::parse(&inb.data) {
            Ok(m) => m,
            Err(e) => {
                self.stats.malformed += 1;
                tracing::debug!(source = %inb.source, error = %e, "malformed SIP message dropped");
                return;
            }
        };
        if msg.is_request() {
            self.stats.requests += 1;
            self.on_request(&msg, inb, now, out);
        } else {
            self.stats.responses += 1;
            self.on_response(&msg, inb, now, out);
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn respond(
        &mut self,
        msg: &Message<'_>,
        back: Hop,
        code: u16,
        why: Option<&str>,
        remember: bool,
        wall: Millis,
        out: &mut Output,
    ) {
        let tag = self.to_tag(msg.call_id().unwrap_or(""));
        let mut b = ResponseBuilder::new(msg, code).to_tag(&tag);
        let words;
        if let Some(w) = why {
            words = w.replace(['\r', '\n'], " ");
            b = b.reason(&words).warning("tollguard", &words);
        }
        let mut data = Vec::with_capacity(512);
        if b.write_to(&mut data).is_err() {
            return;
        }
        if remember && let Some(v) = msg.top_via() {
            let key = format!("{}|{}", v.branch().unwrap_or(""), v.sent_by());
            self.answered.insert(
                key.clone(),
                Answered {
                    response: data.clone(),
                    created: wall,
                },
            );
            self.answered_order.push_back((wall, key));
        }
        out.sends.push(Outgoing { data, hop: back });
    }

    fn on_request(&mut self, msg: &Message<'_>, inb: &Inbound, now: Now, out: &mut Output) {
        let Some(method) = msg.method() else { return };
        let ip = inb.source.ip();
        let Some(listener) = self.settings.listeners.get(inb.listener).cloned() else {
            return;
        };
        let trusted = self.settings.is_trusted(ip);
        let back = inb.hop();

        if !trusted {
            if self.is_banned(ip, now.engine) {
                self.stats.dropped_banned += 1;
                if self.settings.banned == BannedAction::Reject && method != Method::Ack {
                    self.respond(
                        msg,
                        back,
                        403,
                        Some("your address is banned by tollguard"),
                        false,
                        now.wall,
                        out,
                    );
                }
                return;
            }
            if self.requests.len() < MAX_COUNTED_SOURCES || self.requests.contains_key(&ip) {
                let n = self.requests.entry(ip).or_default();
                *n += 1;
                // A flooding source is reported at once rather than at the end of the window, so that its
                // ban comes after a few hundred requests, not after seconds of flood.
                if *n >= EARLY_REPORT {
                    let requests = std::mem::take(n);
                    let mut ds = Vec::new();
                    self.engine.on_event(
                        &Event::Requests(RequestCount {
                            at: now.engine,
                            source: ip,
                            requests,
                        }),
                        &mut ds,
                    );
                    self.apply_decisions("", ds, now, out);
                    if self.is_banned(ip, now.engine) {
                        return;
                    }
                }
            }
            if let Some(mark) = scanner_mark(msg, self.settings.scanner_fingerprints) {
                self.ban_scanner(ip, mark.rule, &mark.reason, now, out);
                if self.settings.banned == BannedAction::Reject && method != Method::Ack {
                    self.respond(msg, back, 403, Some(&mark.reason), false, now.wall, out);
                }
                return;
            }
        }

        // A retransmission of a request the guard answered itself, its ACK, or a CANCEL of it.
        if let Some(v) = msg.top_via() {
            let key = format!("{}|{}", v.branch().unwrap_or(""), v.sent_by());
            if let Some(a) = self.answered.get(&key) {
                match method {
                    Method::Ack => {}
                    Method::Cancel => self.respond(msg, back, 200, None, false, now.wall, out),
                    _ => out.sends.push(Outgoing {
                        data: a.response.clone(),
                        hop: back,
                    }),
                }
                return;
            }
        }
        if method == Method::Ack
            && msg
                .to_tag()
                .is_some_and(|t| t == self.to_tag(msg.call_id().unwrap_or("")))
        {
            return;
        }

        if msg.max_forwards() == Some(0) {
            if method != Method::Ack {
                self.respond(
                    msg,
                    back,
                    483,
                    Some("Max-Forwards reached zero"),
                    true,
                    now.wall,
                    out,
                );
            }
            return;
        }

        // Route: drop the Route entries that name us (one, or two after double Record-Route).
        let routes: Vec<sip::NameAddr<'_>> = msg.routes().collect();
        let n_ours = routes
            .iter()
            .take_while(|r| uri_addr(&r.uri()).is_some_and(|(a, _)| self.is_ours(a)))
            .count();
        let remaining = routes.get(n_ours..).unwrap_or(&[]);

        // Loop: our own address in Via while the request was not routed back to us on purpose.
        if n_ours == 0
            && msg.via().skip(1).any(|v| {
                v.host()
                    .ip()
                    .is_some_and(|ip| self.is_ours(SocketAddr::new(ip, v.port().unwrap_or(5060))))
                    && v.branch().is_some_and(|b| b.starts_with("z9hG4bKtg"))
            })
        {
            if method != Method::Ack {
                self.respond(
                    msg,
                    back,
                    482,
                    Some("the request came back to tollguard"),
                    true,
                    now.wall,
                    out,
                );
            }
            return;
        }

        let in_dialog = msg.to_tag().is_some();
        // The carrier may send its inbound calls to the same listener the PBX uses for its trunk.
        let from_carrier = self.settings.trunk.is_some_and(|t| t.address.ip() == ip);
        let by_role = match listener.role {
            Role::Pbx if !from_carrier => self.settings.trunk.map(|t| (t.address, t.transport)),
            _ => Some((self.settings.pbx.address, self.settings.pbx.transport)),
        };
        let target = if let Some(r) = remaining.first() {
            uri_addr(&r.uri())
        } else if in_dialog || n_ours > 0 {
            msg.request_uri().and_then(|u| uri_addr(&u))
        } else {
            by_role
        }
        // A host name where an address is needed (no DNS here): the side's default next hop.
        .or(by_role);
        let Some((dest, transport)) = target else {
            self.stats.unroutable += 1;
            if method != Method::Ack {
                self.respond(
                    msg,
                    back,
                    404,
                    Some("tollguard has no route for this request"),
                    false,
                    now.wall,
                    out,
                );
            }
            return;
        };
        if self.is_ours(dest) {
            self.stats.unroutable += 1;
            if method != Method::Ack {
                self.respond(
                    msg,
                    back,
                    482,
                    Some("the next hop is tollguard itself"),
                    true,
                    now.wall,
                    out,
                );
            }
            return;
        }

        let top = msg.top_via();
        let in_branch = top.and_then(|v| v.branch()).unwrap_or("");
        let sent_by = top.map(|v| v.sent_by()).unwrap_or("");
        let call_id = msg.call_id().unwrap_or("");
        let cseq_num = msg.cseq().map(|c| c.seq).unwrap_or(0).to_string();
        let branch = if top.is_some_and(|v| v.has_rfc3261_branch()) {
            let src = inb.source.to_string();
            // ACK of a 2xx has its own branch from the UAC, so it gets its own here too.
            self.branch_for(&[in_branch, sent_by, &src])
        } else {
            self.branch_for(&[call_id, &cseq_num, msg.from_tag().unwrap_or(""), sent_by])
        };
        let tx_method = match method {
            Method::Ack => None,
            m => Some(m.as_str().to_owned()),
        };
        let tx_key = tx_method.clone().map(|m| (branch.clone(), m));
        let retransmission = tx_key.as_ref().is_some_and(|k| self.txs.contains_key(k));
        if retransmission
            && let Some(k) = &tx_key
            && let Some(t) = self.txs.get(k)
        {
            // Answered already (at least 100 Trying): absorb and repeat the answer. Otherwise (a non-INVITE
            // not answered yet) forward it: the sender's timer then drives the retransmission downstream.
            if let Some(r) = &t.last_response {
                out.sends.push(Outgoing {
                    data: r.clone(),
                    hop: back,
                });
                return;
            }
        }

        // Outbound calls are decided before they leave.
        let mut tracked_call = None;
        if method == Method::Invite
            && !in_dialog
            && listener.role == Role::Pbx
            && !from_carrier
            && !retransmission
        {
            match self.decide_call(msg, inb, now, out) {
                CallFate::Block { status, reason } => {
                    self.respond(msg, back, status, Some(&reason), true, now.wall, out);
                    return;
                }
                CallFate::Pass {
                    tenant,
                    account,
                    dialed,
                } => {
                    tracked_call = Some((tenant, account, dialed));
                }
            }
        }

        // In-dialog BYE of a tracked call: the call ends now.
        if method == Method::Bye
            && let Some(d) = self.dialogs.get_mut(call_id)
            && !d.ended
        {
            d.ended = true;
            let (started, answered) = (d.started, d.answered);
            let cause = if answered.is_some() {
                EndCause::Normal
            } else {
                EndCause::Cancelled
            };
            self.feed_end(call_id, started, answered, cause, now, out);
        }

        let out_l = self.out_listener(transport, dest, inb.listener);
        let adv = self.advertise(out_l).to_owned();
        let our_via = match top {
            Some(v) => format!(
                "SIP/2.0/{} {adv};branch={branch}, {}",
                transport.as_str(),
                stamped_via(v, inb.source)
            ),
            None => return,
        };
        let rr = if matches!(method, Method::Invite | Method::Subscribe) && !in_dialog {
            let in_adv = self.advertise(inb.listener).to_owned();
            if out_l == inb.listener {
                Some(format!("<sip:{adv};transport={};lr>", transport.param()))
            } else {
                Some(format!(
                    "<sip:{adv};transport={};lr>, <sip:{in_adv};transport={};lr>",
                    transport.param(),
                    listener.transport.param()
                ))
            }
        } else {
            None
        };
        let route_rest: String = remaining
            .iter()
            .map(|r| r.as_str().trim())
            .collect::<Vec<_>>()
            .join(", ");
        let mut f = Forward::new(msg)
            .pop_via()
            .push_via(&our_via)
            .decrement_max_forwards();
        if let Some(rr) = &rr {
            f = f.record_route(rr);
        }
        let path =
            (method == Method::Register && listener.role == Role::Access && self.settings.pbx.path)
                .then(|| format!("<sip:{adv};transport={};lr>", transport.param()));
        if let Some(p) = &path {
            f = f.add_header("Path", p);
        }
        if n_ours > 0 {
            f = if route_rest.is_empty() {
                f.remove_header("Route")
            } else {
                f.replace_header("Route", &route_rest)
            };
        }
        if transport != TransportKind::Udp || listener.transport != TransportKind::Udp {
            f = f.fix_content_length();
        }
        let mut data = Vec::with_capacity(msg.as_bytes().len() + 200);
        if let Err(e) = f.write_to(&mut data) {
            tracing::info!(source = %inb.source, error = %e, "request could not be forwarded");
            if method != Method::Ack {
                self.respond(
                    msg,
                    back,
                    400,
                    Some("tollguard could not forward this request"),
                    false,
                    now.wall,
                    out,
                );
            }
            return;
        }
        let hop = Hop {
            dest,
            listener: out_l,
            transport,
            conn: None,
        };

        if let Some((tenant, account, dialed)) = tracked_call {
            let d = Dialog {
                call_id: call_id.to_owned(),
                tenant,
                account,
                dialed,
                started: now.engine,
                answered: None,
                started_wall: now.wall,
                caller: back,
                callee: hop,
                caller_contact: msg
                    .contacts()
                    .next()
                    .and_then(|c| c.addr().map(|a| a.uri().as_str().to_owned()))
                    .unwrap_or_default(),
                from: msg.header(HeaderName::From).unwrap_or("").to_owned(),
                to: msg.header(HeaderName::To).unwrap_or("").to_owned(),
                callee_contact: None,
                callee_to: None,
                invite_cseq: msg.cseq().map(|c| c.seq).unwrap_or(1),
                branch: branch.clone(),
                request_uri: msg
                    .request_uri()
                    .map(|u| u.as_str().to_owned())
                    .unwrap_or_default(),
                ended: false,
            };
            self.dialogs.insert(d);
        }

        if let Some(key) = tx_key
            && !retransmission
        {
            let auth = (listener.role == Role::Access && !trusted)
                .then(|| self.auth_probe(msg, method, ip))
                .flatten();
            let call = (method == Method::Invite && self.dialogs.get(call_id).is_some())
                .then(|| call_id.to_owned());
            let mut last_response = None;
            let mut pending = None;
            if method == Method::Invite {
                // 100 Trying at once stops the caller's retransmissions (RFC 3261 section 16.2).
                let mut trying = Vec::with_capacity(400);
                if ResponseBuilder::new(msg, 100).write_to(&mut trying).is_ok() {
                    out.sends.push(Outgoing {
                        data: trying.clone(),
                        hop: back,
                    });
                    last_response = Some(trying);
                }
                if transport == TransportKind::Udp {
                    pending = Some(Pending {
                        data: data.clone(),
                        hop,
                        next_at: now.wall + T1_MS,
                        interval: T1_MS,
                    });
                    self.pending_invites.push(key.clone());
                }
            }
            self.add_tx(
                key,
                Tx {
                    back,
                    created: now.wall,
                    local: false,
                    call,
                    auth,
                    auth_done: false,
                    last_response,
                    pending,
                },
                now.wall,
            );
        }
        out.sends.push(Outgoing { data, hop });
    }

    fn add_tx(&mut self, key: (String, String), tx: Tx, wall: Millis) {
        while self.txs.len() >= MAX_TX {
            let oldest = match (self.tx_order.front(), self.invite_order.front()) {
                (Some(a), Some(b)) if b.0 < a.0 => self.invite_order.pop_front(),
                (Some(_), _) => self.tx_order.pop_front(),
                (None, _) => self.invite_order.pop_front(),
            };
            match oldest {
                Some((_, k)) => {
                    self.txs.remove(&k);
                }
                None => break,
            }
        }
        if key.1 == "INVITE" {
            self.invite_order.push_back((wall, key.clone()));
        } else {
            self.tx_order.push_back((wall, key.clone()));
        }
        self.txs.insert(key, tx);
    }

    fn auth_probe(
        &self,
        msg: &Message<'_>,
        method: Method<'_>,
        source: IpAddr,
    ) -> Option<AuthProbe> {
        let kind = match method {
            Method::Register => AuthKind::Register,
            Method::Invite => AuthKind::Call,
            Method::Options | Method::Subscribe | Method::Message | Method::Refer => {
                AuthKind::Other
            }
            _ => return None,
        };
        let creds = msg
            .authorization()
            .or_else(|| msg.proxy_authorization())
            .and_then(Result::ok);
        let username = creds
            .and_then(|a| a.username().map(|u| u.trim_matches('"').to_owned()))
            .or_else(|| {
                let na = if method == Method::Register {
                    msg.to()
                } else {
                    msg.from()
                };
                na.and_then(|n| n.uri().user().map(str::to_owned))
            })
            .unwrap_or_default();
        Some(AuthProbe {
            tenant: self
                .settings
                .tenants
                .first()
                .map(|t| t.name.clone())
                .unwrap_or_default(),
            username,
            credentials: creds.is_some(),
            user_agent: msg.user_agent().unwrap_or("").to_owned(),
            kind,
            source,
        })
    }

    fn decide_call(
        &mut self,
        msg: &Message<'_>,
        inb: &Inbound,
        now: Now,
        out: &mut Output,
    ) -> CallFate {
        let ip = inb.source.ip();
        let tenant = self
            .settings
            .tenants
            .iter()
            .find(|t| t.pbx_sources.iter().any(|n| n.contains(ip)))
            .or_else(|| self.settings.tenants.first())
            .cloned();
        let (tenant_name, account_from, header, known) = match &tenant {
            Some(t) => (
                t.name.clone(),
                t.account_from,
                t.account_header.clone(),
                t.accounts.clone(),
            ),
            None => (String::new(), AccountFrom::FromUser, None, Vec::new()),
        };
        let from_user = msg
            .from()
            .and_then(|f| f.uri().user().map(str::to_owned))
            .unwrap_or_default();
        let account = match account_from {
            AccountFrom::FromUser => None,
            AccountFrom::PAssertedIdentity => msg
                .p_asserted_identity()
                .filter_map(Result::ok)
                .find_map(|n| n.uri().user().map(str::to_owned)),
            AccountFrom::Header => header
                .as_deref()
                .and_then(|h| msg.headers_named(h).next())
                .and_then(user_of),
        }
        .unwrap_or(from_user);
        let dialed = msg
            .request_uri()
            .and_then(|u| u.user().map(dialed_as_dialed))
            .unwrap_or_default();
        let destination = self.numbering.classify(&dialed);
        let call_id = msg.call_id().unwrap_or("");
        let authenticated = known.is_empty() || known.contains(&account);
        let attempt = CallAttempt {
            at: now.engine,
            call_id,
            tenant: &tenant_name,
            account: &account,
            source: Some(inb.source),
            user_agent: msg.user_agent().unwrap_or(""),
            authenticated,
            dialed: &dialed,
            destination: &destination,
            route: "trunk",
        };
        self.decisions.clear();
        let verdict = self
            .engine
            .on_event(&Event::CallAttempt(attempt), &mut self.decisions);
        self.stats.calls_decided += 1;
        let decisions = std::mem::take(&mut self.decisions);
        let reason = decisions
            .iter()
            .find(|d| d.level == Level::Critical && !d.shadow)
            .or_else(|| decisions.first())
            .map(|d| d.reason.clone());
        tracing::info!(
            call_id,
            tenant = %tenant_name,
            account = %account,
            dialed = %dialed,
            emergency = destination.is_emergency(),
            verdict = ?verdict,
            "outbound call decided"
        );
        if self.live {
            let (verdict_word, sip_status) = match verdict {
                Verdict::Block { sip_status } => {
                    ("blocked", self.settings.block_status.unwrap_or(sip_status))
                }
                _ if destination.is_emergency() => ("emergency", 0),
                _ => ("allowed", 0),
            };
            out.events.push(LiveEvent::Call {
                at: now.engine,
                tenant: tenant_name.clone(),
                account: account.clone(),
                call_id: call_id.to_owned(),
                dialed: dialed.clone(),
                e164: destination.e164.map(|e| e.to_string()),
                country: destination.country.map(|c| c.name.to_owned()),
                class: engine::DestClass::of(&destination).as_str().to_owned(),
                verdict: verdict_word.to_owned(),
                sip_status,
                reason: if sip_status != 0 {
                    reason.clone()
                } else {
                    None
                },
            });
        }
        self.apply_decisions(&tenant_name, decisions, now, out);
        self.latency.record(inb.received.elapsed());
        match verdict {
            Verdict::Block { sip_status } => {
                self.stats.calls_blocked += 1;
                CallFate::Block {
                    status: self.settings.block_status.unwrap_or(sip_status),
                    reason: reason.unwrap_or_else(|| {
                        format!("call from ext {account} to {dialed} blocked by tollguard policy")
                    }),
                }
            }
            Verdict::Allow | Verdict::Warn => CallFate::Pass {
                tenant: tenant_name,
                account,
                dialed,
            },
        }
    }

    fn ban_scanner(&mut self, ip: IpAddr, rule_name: &str, why: &str, now: Now, out: &mut Output) {
        let rule = self.engine.policy().profile(0).rules.scanner_user_agent;
        if !rule.enabled {
            return;
        }
        let until = now.engine + i64::from(rule.ban_secs) * 1000;
        let reason = format!("source {ip} banned for {} min: {why}", rule.ban_secs / 60);
        let d = Decision {
            at: now.engine,
            rule: rule_name.to_owned(),
            level: Level::Critical,
            action: Action::Ban { source: ip, until },
            shadow: rule.shadow,
            key: format!("source {ip}"),
            measured: 1,
            threshold: 0,
            unit: Unit::Flag,
            window_secs: 0,
            call_id: None,
            calls: Vec::new(),
            at_stake: None,
            reason,
        };
        if !rule.shadow {
            self.engine
                .ban(ip, now.engine, until, "tollguard", &d.reason);
        }
        self.apply_decisions("", vec![d], now, out);
    }

    /// Logs, persists and enforces decisions.
    fn apply_decisions(
        &mut self,
        tenant: &str,
        decisions: Vec<Decision>,
        now: Now,
        out: &mut Output,
    ) {
        if decisions.is_empty() {
            return;
        }
        if self.live {
            out.events
                .extend(decisions.iter().map(|d| LiveEvent::Decision {
                    tenant: tenant.to_owned(),
                    decision: d.clone(),
                }));
        }
        for d in &decisions {
            tracing::warn!(
                rule = %d.rule,
                level = ?d.level,
                shadow = d.shadow,
                key = %d.key,
                measured = d.measured,
                threshold = d.threshold,
                action = ?d.action,
                reason = %d.reason,
                "decision"
            );
            if d.shadow {
                continue;
            }
            match &d.action {
                Action::Ban { source, until } => {
                    if self.settings.is_trusted(*source) {
                        // Trusted networks are never banned, whatever a rule says.
                        self.engine.lift_ban(*source);
                        tracing::warn!(source = %source, "trusted source not banned");
                        continue;
                    }
                    if !self.bans.contains_key(source) {
                        self.stats.scanners_banned += 1;
                    }
                    self.bans.insert(*source, *until);
                    // The engine's own record names the rule that triggered the ban.
                    let ban = self
                        .engine
                        .bans(d.at)
                        .into_iter()
                        .find(|b| b.source == *source && b.rule != "operator")
                        .unwrap_or_else(|| Ban {
                            source: *source,
                            since: d.at,
                            until: *until,
                            rule: d.rule.clone(),
                            by: "tollguard".into(),
                            why: d.reason.clone(),
                        });
                    out.persist.push(Persist::Ban(ban));
                }
                Action::Bar { scope, classes } => {
                    if let Some(ks) = self
                        .engine
                        .kill_switches()
                        .iter()
                        .rev()
                        .find(|k| &k.scope == scope && k.classes == *classes)
                    {
                        out.persist.push(Persist::KillSwitch(ks.clone()));
                    }
                }
                Action::EndCalls { call_ids, .. } => {
                    for id in call_ids {
                        self.end_call(id, &d.reason, now, out);
                    }
                }
                Action::Warn | Action::Block { .. } => {}
            }
        }
        out.persist.push(Persist::Alerts {
            tenant: tenant.to_owned(),
            decisions,
        });
    }

    fn feed_end(
        &mut self,
        call_id: &str,
        started: Millis,
        answered: Option<Millis>,
        cause: EndCause,
        now: Now,
        out: &mut Output,
    ) {
        let secs = |from: Millis| {
            u32::try_from(now.engine.saturating_sub(from).max(0) / 1000).unwrap_or(u32::MAX)
        };
        let ev = CallEnded {
            at: now.engine,
            call_id,
            duration_secs: secs(started),
            billable_secs: answered.map(secs).unwrap_or(0),
            cause,
        };
        let mut ds = Vec::new();
        self.engine.on_event(&Event::CallEnded(ev), &mut ds);
        let tenant = self
            .dialogs
            .get(call_id)
            .map(|d| d.tenant.clone())
            .unwrap_or_default();
        if self.live {
            out.events.push(LiveEvent::CallEnded {
                at: now.engine,
                tenant: tenant.clone(),
                call_id: call_id.to_owned(),
                billable_secs: answered.map(secs).unwrap_or(0),
                by_guard: cause == EndCause::Terminated,
            });
        }
        self.apply_decisions(&tenant, ds, now, out);
    }

    /// Ends a call in progress from the middle: BYE to both sides once answered, CANCEL towards the callee
    /// before (the callee's 487 then reaches the caller).
    /// Returns whether the call was in progress (and is now being ended).
    pub fn end_call(&mut self, call_id: &str, why: &str, now: Now, out: &mut Output) -> bool {
        let Some(d) = self.dialogs.get(call_id).cloned() else {
            tracing::info!(
                call_id,
                "kill switch: call not (or no longer) in progress here"
            );
            return false;
        };
        if d.ended {
            return false;
        }
        if let Some(x) = self.dialogs.get_mut(call_id) {
            x.ended = true;
        }
        self.stats.calls_ended_by_guard += 1;
        let words = why.replace(['\r', '\n', '"'], " ");
        match (&d.callee_to, &d.callee_contact) {
            (Some(callee_to), Some(callee_contact)) => {
                // To the callee: as if from the caller.
                self.local_request(
                    "BYE",
                    callee_contact,
                    &d.from,
                    callee_to,
                    &d.call_id,
                    d.invite_cseq.saturating_add(1),
                    None,
                    &words,
                    d.callee,
                    now,
                    out,
                );
                // To the caller: as if from the callee.
                self.local_request(
                    "BYE",
                    &d.caller_contact,
                    callee_to,
                    &d.from,
                    &d.call_id,
                    d.invite_cseq.saturating_add(1000),
                    None,
                    &words,
                    d.caller,
                    now,
                    out,
                );
            }
            _ => {
                self.local_request(
                    "CANCEL",
                    &d.request_uri,
                    &d.from,
                    &d.to,
                    &d.call_id,
                    d.invite_cseq,
                    Some(&d.branch),
                    &words,
                    d.callee,
                    now,
                    out,
                );
            }
        }
        tracing::warn!(call_id, account = %d.account, dialed = %d.dialed, reason = %why, "call ended by tollguard");
        self.feed_end(
            &d.call_id,
            d.started,
            d.answered,
            EndCause::Terminated,
            now,
            out,
        );
        true
    }

    #[allow(clippy::too_many_arguments)]
    fn local_request(
        &mut self,
        method: &str,
        ruri: &str,
        from: &str,
        to: &str,
        call_id: &str,
        cseq: u32,
        branch: Option<&str>,
        why: &str,
        hop: Hop,
        now: Now,
        out: &mut Output,
    ) {
        self.local_seq += 1;
        let branch = match branch {
            Some(b) => b.to_owned(),
            None => self.branch_for(&[call_id, method, &self.local_seq.to_string()]),
        };
        let adv = self.advertise(hop.listener).to_owned();
        let data = format!(
            "{method} {ruri} SIP/2.0\r\nVia: SIP/2.0/{} {adv};branch={branch}\r\nMax-Forwards: 70\r\n\
From: {from}\r\nTo: {to}\r\nCall-ID: {call_id}\r\nCSeq: {cseq} {method}\r\n\
Reason: SIP;cause=603;text=\"{why}\"\r\nUser-Agent: tollguard\r\nContent-Length: 0\r\n\r\n",
            hop.transport.as_str()
        )
        .into_bytes();
        self.add_tx(
            (branch, method.to_owned()),
            Tx {
                back: hop,
                created: now.wall,
                local: true,
                call: None,
                auth: None,
                auth_done: true,
                last_response: None,
                pending: None,
            },
            now.wall,
        );
        out.sends.push(Outgoing {
            data,
            hop: Hop { conn: None, ..hop },
        });
    }

    fn on_response(&mut self, msg: &Message<'_>, inb: &Inbound, now: Now, out: &mut Output) {
        let Some(top) = msg.top_via() else { return };
        let ours = top
            .host()
            .ip()
            .is_some_and(|ip| self.is_ours(SocketAddr::new(ip, top.port().unwrap_or(5060))));
        if !ours {
            tracing::debug!(source = %inb.source, "response whose top Via is not ours dropped");
            return;
        }
        let Some(status) = msg.status() else { return };
        let branch = top.branch().unwrap_or("").to_owned();
        let method = msg
            .cseq()
            .map(|c| c.method.as_str().to_owned())
            .unwrap_or_default();
        let key = (branch, method);
        let tx = self.txs.get(&key).cloned();
        if tx.as_ref().is_some_and(|t| t.local) {
            return;
        }
        if let Some(t) = &tx {
            if status >= 200
                && !t.auth_done
                && let Some(p) = &t.auth
            {
                self.count_auth(p, status, now, out);
                if let Some(x) = self.txs.get_mut(&key) {
                    x.auth_done = true;
                }
            }
            if let Some(call_id) = &t.call {
                self.call_progress(call_id, msg, status, inb, now, out);
            }
        }
        let back = match tx {
            Some(t) => t.back,
            None => {
                // No transaction (expired or another node's): the next Via says where.
                let Some(v) = msg.via().nth(1) else { return };
                let host = v
                    .received()
                    .and_then(|r| r.parse::<IpAddr>().ok())
                    .or_else(|| v.host().ip());
                let Some(ip) = host else { return };
                let port = v.rport().flatten().or(v.port()).unwrap_or(5060);
                let dest = SocketAddr::new(ip, port);
                let transport = if matches!(v.transport(), sip::Transport::Tls) {
                    TransportKind::Tls
                } else if v.transport().is_stream() {
                    TransportKind::Tcp
                } else {
                    TransportKind::Udp
                };
                Hop {
                    dest,
                    listener: self.out_listener(transport, dest, inb.listener),
                    transport,
                    conn: None,
                }
            }
        };
        let mut f = Forward::new(msg).pop_via();
        if back.transport != TransportKind::Udp || inb.transport != TransportKind::Udp {
            f = f.fix_content_length();
        }
        let mut data = Vec::with_capacity(msg.as_bytes().len());
        if f.write_to(&mut data).is_ok() {
            if let Some(t) = self.txs.get_mut(&key) {
                t.pending = None;
                t.last_response = Some(data.clone());
            }
            out.sends.push(Outgoing { data, hop: back });
        }
    }

    fn call_progress(
        &mut self,
        call_id: &str,
        msg: &Message<'_>,
        status: u16,
        inb: &Inbound,
        now: Now,
        out: &mut Output,
    ) {
        let Some(d) = self.dialogs.get_mut(call_id) else {
            return;
        };
        if d.ended {
            return;
        }
        if (200..300).contains(&status) {
            if d.answered.is_none() {
                d.answered = Some(now.engine);
                d.callee_to = msg.header(HeaderName::To).map(str::to_owned);
                d.callee_contact = msg
                    .contacts()
                    .next()
                    .and_then(|c| c.addr().map(|a| a.uri().as_str().to_owned()));
                // In-dialog requests to the callee go where its answer came from.
                d.callee = Hop {
                    conn: inb.conn,
                    ..d.callee
                };
                let ev = CallAnswered {
                    at: now.engine,
                    call_id,
                };
                let mut ds = Vec::new();
                self.engine.on_event(&Event::CallAnswered(ev), &mut ds);
                let tenant = d.tenant.clone();
                if self.live {
                    out.events.push(LiveEvent::CallAnswered {
                        at: now.engine,
                        tenant: tenant.clone(),
                        call_id: call_id.to_owned(),
                    });
                }
                self.apply_decisions(&tenant, ds, now, out);
            }
        } else if status >= 300 {
            d.ended = true;
            let (started, answered) = (d.started, d.answered);
            let cause = match status {
                487 => EndCause::Cancelled,
                486 | 600 => EndCause::Busy,
                408 | 480 => EndCause::NoAnswer,
                _ => EndCause::Failed,
            };
            self.feed_end(call_id, started, answered, cause, now, out);
        }
    }

    fn count_auth(&mut self, p: &AuthProbe, status: u16, now: Now, out: &mut Output) {
        let outcome = match status {
            401 | 407 if p.credentials => AuthOutcome::Failure,
            401 | 407 => AuthOutcome::Challenge,
            403 => AuthOutcome::Failure,
            404 => AuthOutcome::UnknownUser,
            200..=299 if p.credentials || p.kind == AuthKind::Register => AuthOutcome::Success,
            _ => return,
        };
        let ev = AuthAttempt {
            at: now.engine,
            tenant: &p.tenant,
            username: &p.username,
            source: p.source,
            user_agent: &p.user_agent,
            kind: p.kind,
            outcome,
        };
        let mut ds = Vec::new();
        self.engine.on_event(&Event::Auth(ev), &mut ds);
        tracing::debug!(source = %p.source, username = %p.username, ?outcome, status, "authentication outcome counted");
        let tenant = p.tenant.clone();
        self.apply_decisions(&tenant, ds, now, out);
    }

    /// Request counts per source since the last call, to the engine (every `request_window_secs`).
    pub fn tick(&mut self, now: Now, out: &mut Output) {
        let counts: Vec<(IpAddr, u32)> = self.requests.drain().collect();
        for (source, requests) in counts {
            let mut ds = Vec::new();
            self.engine.on_event(
                &Event::Requests(RequestCount {
                    at: now.engine,
                    source,
                    requests,
                }),
                &mut ds,
            );
            self.apply_decisions("", ds, now, out);
        }
    }

    /// Expiry of transactions, remembered answers, dialogs and bans, and retransmission of INVITEs sent over
    /// UDP that got no answer yet (every few hundred milliseconds).
    pub fn expire(&mut self, now: Now, out: &mut Output) {
        let mut keep = Vec::with_capacity(self.pending_invites.len());
        for key in std::mem::take(&mut self.pending_invites) {
            let Some(t) = self.txs.get_mut(&key) else {
                continue;
            };
            let Some(p) = t.pending.as_mut() else {
                continue;
            };
            if now.wall >= p.next_at {
                if p.interval >= 32 * T1_MS {
                    // Timer B: the next hop never answered.
                    t.pending = None;
                    continue;
                }
                out.sends.push(Outgoing {
                    data: p.data.clone(),
                    hop: p.hop,
                });
                p.interval *= 2;
                p.next_at = now.wall + p.interval;
            }
            keep.push(key);
        }
        self.pending_invites = keep;
        for (queue, life) in [
            (&mut self.tx_order, TX_LIFE_MS),
            (&mut self.invite_order, INVITE_TX_LIFE_MS),
        ] {
            while let Some((at, key)) = queue.front().cloned() {
                if now.wall.saturating_sub(at) < life {
                    break;
                }
                queue.pop_front();
                if self.txs.get(&key).is_some_and(|t| t.created == at) {
                    self.txs.remove(&key);
                }
            }
        }
        while let Some((at, key)) = self.answered_order.front().cloned() {
            if now.wall.saturating_sub(at) < TX_LIFE_MS {
                break;
            }
            self.answered_order.pop_front();
            if self.answered.get(&key).is_some_and(|a| a.created == at) {
                self.answered.remove(&key);
            }
        }
        let max_age = i64::from(self.settings.max_call_secs) * 1000;
        for d in self.dialogs.expire(now.wall, DIALOG_LINGER_MS, max_age) {
            tracing::info!(call_id = %d.call_id, "dialog expired without an end");
            self.feed_end(
                &d.call_id,
                d.started,
                d.answered,
                EndCause::Failed,
                now,
                out,
            );
        }
        self.bans.retain(|_, until| *until > now.engine);
    }
}

enum CallFate {
    Block {
        status: u16,
        reason: String,
    },
    Pass {
        tenant: String,
        account: String,
        dialed: String,
    },
}

/// The dialed string as the user pressed it, for reasons, logs and the call list: a PBX escapes `#` and `*` in
/// the Request-URI (`%23010232…`, RFC 3261 section 25.1), an admin reads `#010232…`. Escapes that would decode
/// to control characters or invalid UTF-8 are kept as received, so nothing odd reaches a log line.
fn dialed_as_dialed(user: &str) -> String {
    match sip::percent_decode(user) {
        std::borrow::Cow::Borrowed(_) => user.to_owned(),
        std::borrow::Cow::Owned(bytes) => match String::from_utf8(bytes) {
            Ok(s) if !s.chars().any(char::is_control) => s,
            _ => user.to_owned(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::dialed_as_dialed;

    #[test]
    fn escaped_hash_and_star_read_as_dialed_but_control_characters_stay_escaped() {
        assert_eq!(dialed_as_dialed("%23010232761234"), "#010232761234");
        assert_eq!(dialed_as_dialed("%2A99%23"), "*99#");
        assert_eq!(dialed_as_dialed("0312345678"), "0312345678");
        assert_eq!(dialed_as_dialed("123%0A456"), "123%0A456");
        assert_eq!(dialed_as_dialed("%FF%FE"), "%FF%FE");
        assert_eq!(dialed_as_dialed("100%"), "100%");
    }
}
