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

mod decide;
mod kill;
mod request;
mod response;

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
