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
//! - Trust model (docs/security.md): the source address says whether a request may use a listener, the
//!   listener's role says where it may go. Nothing an outsider writes (Route, Request-URI host, To-tag, Via)
//!   opens another path: in-dialog requests follow a tracked dialog from one of its parties, responses follow
//!   a transaction of the guard, and nothing reaches the trunk without the engine's decision.

mod challenge;
mod forward;
mod ids;
mod kill;
mod mirror;
mod phases;
mod redirect;
mod request;
mod response;
mod shared;
mod trust;
mod txkey;
mod weak;

use ids::{BranchText, TagText};
pub use shared::{Shared, sip_call_id};
pub use trust::Side;
use txkey::{BranchHash, TxKey};

use std::collections::{HashMap, VecDeque};
use std::hash::BuildHasher;

use parking_lot::{MappedMutexGuard, MutexGuard};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use engine::{AuthKind, Ban, EndCause, Engine, KillSwitch, Millis};
use numbering::Numbering;
use sip::{Forward, HeaderName, Message, Method, ResponseBuilder, Uri};

use crate::config::{BannedAction, Role, Settings, TransportKind};
use crate::dialog::{Dialog, Dialogs, Party};
use crate::fingerprint::scanner_mark;
use crate::transport::{Hop, Inbound, Outgoing};
use decide::LiveEvent;
use decide::control::CallInfo;
use decide::facts::dialed_as_dialed;
use decide::latency::DecisionLatency;
use decide::{Decider, Effects};

pub use decide::{Now, Persist};

/// What handling one message produced.
#[derive(Debug, Default)]
pub struct Output {
    pub sends: Vec<Outgoing>,
    pub persist: Vec<Persist>,
    /// For the live stream; filled only while somebody listens ([`Core::set_live`]).
    pub events: Vec<LiveEvent>,
    /// Calls to end that another system carries (redirect, HTTP, mirror): for the end-call adapters, with
    /// their tenant.
    pub end_elsewhere: Vec<(decide::EndCall, String)>,
    /// Calls to end that another shard carries (a kill switch decided here): for that shard, by index.
    pub end_on: Vec<(usize, decide::EndCall)>,
}

pub use decide::control::GuardStats;

/// How long a transaction entry lives (64 × T1 for non-INVITE; INVITE waits for a slow answer).
const TX_LIFE_MS: Millis = 32_000;
const INVITE_TX_LIFE_MS: Millis = 200_000;
/// Most transaction entries kept; beyond, the oldest are forgotten (their responses go by Via).
const MAX_TX: usize = 200_000;
/// Most of the guard's own answers remembered for retransmissions (about 1 KB each): spoofed sources sending
/// requests the guard refuses itself would otherwise grow the table at their rate for [`TX_LIFE_MS`]. Beyond,
/// the oldest is forgotten (its retransmission is decided again and gets the same answer).
pub const MAX_ANSWERED: usize = 50_000;
/// Ended dialogs linger a little so that retransmitted BYEs find them.
const DIALOG_LINGER_MS: Millis = 32_000;
/// RFC 3261 T1: first retransmission interval of an INVITE over UDP; doubled each time, given up after
/// 64 × T1.
const T1_MS: Millis = 500;

type AuthProbe = decide::AuthFacts;

#[derive(Debug, Clone)]
struct Tx {
    back: Hop,
    created: Millis,
    /// Sent by the guard itself (BYE/CANCEL of a kill switch): responses are absorbed.
    local: bool,
    /// Where the request went (CANCEL and the ACK of a non-2xx follow it).
    fwd: Hop,
    /// The Call-ID of the dialog an initial INVITE created, and whether the engine decided it.
    call: Option<(String, bool)>,
    /// The guard's own REGISTER that learns the PBX's challenge.
    probe: bool,
    /// A REGISTER from a phone: its contacts become reachable through the guard once the PBX says 2xx.
    contacts: Option<Vec<String>>,
    auth: Option<AuthProbe>,
    /// The login's digest fields, kept only when its account is due a weak-password check.
    digest: Option<Box<weak::SeenDigest>>,
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
    /// The request's top Via branch and sent-by: the entry is keyed by their hash, and answers only them.
    branch: Box<str>,
    sent_by: Box<str>,
    response: Vec<u8>,
    created: Millis,
}

/// The proxy's state for the Call-IDs of one shard: transactions, remembered answers and dialogs; the
/// decision layer and the state every shard shares are in [`Shared`].
pub struct Core {
    settings: Arc<Settings>,
    /// The decision owner (engine, bans, tenants, kill switches) and the state not keyed by Call-ID, shared
    /// with the other shards.
    shared: Arc<Shared>,
    /// This shard's index; the Call-IDs that hash to it are its own. `shards()` for the control core, which
    /// owns no call.
    shard: usize,
    /// Effects of the layer not yet carried out.
    fx: Effects,
    numbering: Arc<Numbering>,
    /// Our own addresses (listen and advertise), for Route and Via recognition.
    ours: Vec<SocketAddr>,
    /// When the last challenge probe went to the PBX (one every 10 s until it answers).
    primed_at: Option<Millis>,
    /// Boxed, and sized for [`MAX_TX`] (this shard's part of it) at start: the table never grows while calls
    /// wait (a growing map moves every entry at once), and a slot costs a pointer until it is used.
    txs: HashMap<TxKey, Box<Tx>, BranchHash>,
    max_tx: usize,
    tx_order: VecDeque<(Millis, TxKey)>,
    invite_order: VecDeque<(Millis, TxKey)>,
    pending_invites: Vec<TxKey>,
    /// The guard's own final answers, by the hash of the request's top Via branch and sent-by
    /// ([`Core::answered_key`]; an entry answers only its own branch and sent-by).
    answered: HashMap<u64, Answered>,
    answered_order: VecDeque<(Millis, u64)>,
    dialogs: Dialogs,
    local_seq: u64,
    /// Somebody listens to the live stream: build its events (else nothing is allocated for it).
    live: bool,
    pub stats: GuardStats,
}

/// A shard's part of a table's cap: an even share and 1/16 more (Call-IDs hash evenly, not exactly).
fn share_of(cap: usize, shards: usize) -> usize {
    if shards <= 1 {
        return cap;
    }
    let even = cap.div_ceil(shards);
    even + even / 16
}

impl Core {
    /// A guard of one shard with a decision layer of its own (tests, examples, `shards = 1`).
    pub fn new(settings: Arc<Settings>, engine: Engine, numbering: Arc<Numbering>) -> Core {
        let shared = Shared::new(&settings, engine, numbering.clone(), 1);
        Core::shard(settings, shared, numbering, 0)
    }

    /// Shard `index` of `shared.shards()`: the transactions and dialogs of the Call-IDs that hash to it.
    /// `index == shared.shards()` is the control core, which owns no call (operator commands, timers of the
    /// decision layer): every call it ends goes to its shard through [`Output::end_on`].
    pub fn shard(
        settings: Arc<Settings>,
        shared: Arc<Shared>,
        numbering: Arc<Numbering>,
        index: usize,
    ) -> Core {
        let mut ours: Vec<SocketAddr> = Vec::new();
        for l in &settings.listeners {
            ours.push(l.address);
            if let Ok(a) = l.advertise.parse() {
                ours.push(a);
            }
        }
        let n = shared.shards();
        let (max_tx, max_dialogs) = if index >= n {
            (1, 1)
        } else {
            (share_of(MAX_TX, n), share_of(settings.max_dialogs, n))
        };
        Core {
            dialogs: Dialogs::new(max_dialogs, settings.store_path.is_some()),
            shared,
            shard: index,
            fx: Effects::default(),
            settings,
            numbering,
            ours,
            primed_at: None,
            txs: HashMap::with_capacity_and_hasher(max_tx, BranchHash),
            max_tx,
            tx_order: VecDeque::new(),
            invite_order: VecDeque::new(),
            pending_invites: Vec::new(),
            answered: HashMap::new(),
            answered_order: VecDeque::new(),
            local_seq: 0,
            live: false,
            stats: GuardStats::default(),
        }
    }

    /// This shard's index.
    pub fn index(&self) -> usize {
        self.shard
    }

    /// What this core shares with the other shards.
    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Whether this shard owns the calls of this Call-ID.
    fn owns(&self, call_id: &str) -> bool {
        self.shared.shard_of(call_id.as_bytes()) == self.shard
    }

    /// The engine, locked (release it before calling the core again).
    pub fn engine(&self) -> MappedMutexGuard<'_, Engine> {
        MutexGuard::map(self.shared.decider.lock(), |d| d.engine_mut())
    }

    pub fn engine_mut(&mut self) -> MappedMutexGuard<'_, Engine> {
        self.engine()
    }

    /// The decision layer, locked (release it before calling the core again).
    pub fn decider(&self) -> MutexGuard<'_, Decider> {
        self.shared.decider.lock()
    }

    /// The decision latency counters (shared: they keep counting while the reader holds them).
    pub fn decision_latency(&self) -> Arc<DecisionLatency> {
        self.shared.decider.lock().decision_latency()
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Replaces the settings' policy (SIGHUP): the engine keeps its state, and calls keep flowing.
    pub fn set_engine(&mut self, engine: Engine) {
        self.shared.decider.lock().set_engine(engine);
    }

    /// Bans restored from the store at start.
    pub fn restore_ban(&mut self, ban: &Ban) {
        self.shared.decider.lock().restore_ban(ban);
    }

    /// Lifts a ban (an operator removed it from the store).
    pub fn lift_ban(&mut self, ip: IpAddr) {
        self.shared.decider.lock().lift_ban(ip);
    }

    /// Sets a kill switch an operator wrote to the store: the scope is barred at once and its calls in
    /// progress to the barred classes are ended (BYE to both sides). Returns the calls ended.
    pub fn operator_kill_switch(
        &mut self,
        ks: &KillSwitch,
        now: Now,
        out: &mut Output,
    ) -> Vec<String> {
        let ids = self
            .shared
            .decider
            .lock()
            .operator_kill_switch(ks, now, &mut self.fx);
        let ended = self.carry_out(now, out);
        ids.into_iter().filter(|id| ended.contains(id)).collect()
    }

    /// Lifts the engine's kill switch of this scope and classes (an operator lifted it in the store).
    /// Returns whether a switch was in force.
    pub fn lift_kill_switch(
        &mut self,
        scope: &engine::BarScope,
        classes: engine::ClassSet,
    ) -> bool {
        self.shared.decider.lock().lift_kill_switch(scope, classes)
    }

    /// Carries out the decision layer's effects: records and live events into the output, calls ended
    /// (which may bring more effects, carried out in turn). Returns the Call-IDs of the calls ended.
    fn carry_out(&mut self, now: Now, out: &mut Output) -> Vec<String> {
        let mut ended = Vec::new();
        loop {
            out.persist.append(&mut self.fx.persist);
            out.events.append(&mut self.fx.events);
            self.stats.scanners_banned += self.fx.bans.len() as u64;
            self.fx.bans.clear();
            let calls = std::mem::take(&mut self.fx.end_calls);
            if calls.is_empty() {
                return ended;
            }
            for c in calls {
                if self.owns(&c.call_id) && self.end_call(&c.call_id, &c.why, now, out) {
                    ended.push(c.call_id);
                } else if let Some(tenant) =
                    self.shared.decider.lock().tenant_of_queried(&c.call_id)
                {
                    ended.push(c.call_id.clone());
                    out.end_elsewhere.push((c, tenant));
                } else if !self.owns(&c.call_id) {
                    // Another shard carries it: ended there (its BYEs go out from that shard).
                    let shard = self.shared.shard_of(c.call_id.as_bytes());
                    out.end_on.push((shard, c));
                }
            }
        }
    }

    /// Calls in progress loaded from the store at start: a kill switch can still end them (their
    /// transactions are gone). Returns how many were restored.
    pub fn restore_dialogs(&mut self, rows: &[(String, String, String)]) -> usize {
        let n = rows
            .iter()
            .filter(|(id, _, json)| self.owns(id) && self.dialogs.restore(json))
            .count();
        if n > 0 {
            tracing::warn!(
                calls = n,
                "calls in progress before the restart restored: a kill switch can still end them"
            );
        }
        n
    }

    /// Dialog changes to persist (one batch).
    fn flush_dialogs(&mut self, out: &mut Output) {
        let (upserts, ended) = self.dialogs.take_changes();
        if !upserts.is_empty() || !ended.is_empty() {
            out.persist.push(Persist::Dialogs { upserts, ended });
        }
    }

    /// Learns the PBX's challenge before an outsider asks (so that the first unknown user probed already
    /// gets it): a REGISTER without credentials for a configured account, sent until the PBX has answered.
    pub fn prime(&mut self, now: Now, out: &mut Output) {
        if self.shared.challenges.lock().knows_register()
            || self
                .primed_at
                .is_some_and(|t| now.wall.saturating_sub(t) < 10_000)
        {
            return;
        }
        self.primed_at = Some(now.wall);
        let Some(account) = self
            .tenant_of_pbx()
            .and_then(|t| t.accounts.first().cloned())
        else {
            return;
        };
        let pbx = self.settings.pbx;
        let hop = Hop {
            dest: pbx.address,
            listener: self.out_listener(pbx.transport, pbx.address, 0),
            transport: pbx.transport,
            conn: None,
        };
        let host = pbx.address.to_string();
        let aor = format!("<sip:{account}@{host}>");
        // A Call-ID of this shard: the PBX's answer comes back here.
        let call_id = loop {
            self.local_seq += 1;
            let id = format!("tg-probe-{}", self.local_seq);
            if self.owns(&id) {
                break id;
            }
        };
        let from = format!("{aor};tag={}", self.to_tag(&call_id).as_str());
        self.local_request(
            "REGISTER",
            &format!("sip:{host}"),
            &from,
            &aor,
            &call_id,
            1,
            None,
            "tollguard learns the PBX's challenge",
            hop,
            now,
            out,
        );
        if let Some(t) = self
            .txs
            .values_mut()
            .find(|t| t.local && t.back == hop && !t.probe)
        {
            t.probe = true;
        }
    }

    pub fn dialogs_in_progress(&self) -> usize {
        self.dialogs.in_progress().count()
    }

    /// The guard's own answers remembered for retransmissions now (at most [`MAX_ANSWERED`]).
    pub fn remembered_answers(&self) -> usize {
        self.answered.len()
    }

    /// Whether to publish [`LiveEvent`]s in [`Output::events`].
    /// Cheap when nothing changed (called on every wake of a shard): the decider's lock is taken only when
    /// this shard's view changes.
    pub fn set_live(&mut self, on: bool) {
        if on == self.live {
            return;
        }
        self.live = on;
        self.shared.decider.lock().set_live(on);
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

    fn is_ours(&self, a: SocketAddr) -> bool {
        self.ours.contains(&a)
    }

    /// The number of a branch of the guard ([`BranchText`] writes it): a keyed hash of what identifies the
    /// request, so that nobody outside can predict or collide it.
    fn branch_for<T: std::hash::Hash>(&self, parts: T) -> u64 {
        self.shared.hasher.hash_one(parts)
    }

    fn to_tag(&self, call_id: &str) -> TagText {
        TagText::new(self.shared.hasher.hash_one(("tag", call_id)))
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
        if self
            .settings
            .listeners
            .get(inb.listener)
            .is_some_and(|l| l.role == Role::Hep)
        {
            self.on_hep(inb, now, out);
            return;
        }
        // Banned sources cost one lookup: nothing of theirs is parsed when they are dropped silently, but for
        // the requests of a call, which may be an emergency call (never blocked by a ban).
        if self.settings.banned == BannedAction::Drop
            && self.is_banned(inb.source.ip(), now.engine)
            && !may_be_a_call(&inb.data)
            && !self.is_protected(inb.source.ip())
        {
            self.stats.dropped_banned += 1;
            return;
        }
        // Borrowed where it was built: the parsed message (~1.8 KB) is not moved out of its Result.
        let parsed = Message::parse(&inb.data);
        let msg = match &parsed {
            Ok(m) => m,
            Err(e) => {
                self.stats.malformed += 1;
                tracing::debug!(source = %inb.source, error = %e, "malformed SIP message dropped");
                return;
            }
        };
        if msg.is_request() {
            self.stats.requests += 1;
            self.on_request(msg, inb, now, out);
        } else {
            self.stats.responses += 1;
            self.on_response(msg, inb, now, out);
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
        let mut b = ResponseBuilder::new(msg, code).to_tag(tag.as_str());
        let words;
        if let Some(w) = why {
            words = w.replace(['\r', '\n'], " ");
            b = b.reason(&words).warning("tollguard", &words);
        }
        let mut data = Vec::with_capacity(512);
        if b.write_to(&mut data).is_err() {
            return;
        }
        if remember {
            self.remember_answer(msg, &data, wall);
        }
        out.sends.push(Outgoing { data, hop: back });
    }

    /// Remembers the guard's own final answer to a request, so that a retransmission gets it again.
    fn remember_answer(&mut self, msg: &Message<'_>, data: &[u8], wall: Millis) {
        if let Some(v) = msg.top_via() {
            // The order may hold keys answered again since: it is capped too.
            while self.answered.len() >= MAX_ANSWERED
                || self.answered_order.len() >= 2 * MAX_ANSWERED
            {
                let Some((at, old)) = self.answered_order.pop_front() else {
                    break;
                };
                if self.answered.get(&old).is_some_and(|a| a.created == at) {
                    self.answered.remove(&old);
                }
            }
            let (branch, sent_by) = (v.branch().unwrap_or(""), v.sent_by());
            let key = self.answered_key(branch, sent_by);
            self.answered.insert(
                key,
                Answered {
                    branch: branch.into(),
                    sent_by: sent_by.into(),
                    response: data.to_vec(),
                    created: wall,
                },
            );
            self.answered_order.push_back((wall, key));
        }
    }

    fn answered_key(&self, branch: &str, sent_by: &str) -> u64 {
        self.shared.hasher.hash_one((branch, sent_by))
    }

    /// The guard's own answer to the request with this top Via branch and sent-by, if it gave one.
    fn answered(&self, branch: &str, sent_by: &str) -> Option<&Answered> {
        if self.answered.is_empty() {
            return None;
        }
        self.answered
            .get(&self.answered_key(branch, sent_by))
            .filter(|a| *a.branch == *branch && *a.sent_by == *sent_by)
    }

    fn add_tx(&mut self, key: TxKey, tx: Tx, wall: Millis) {
        while self.txs.len() >= self.max_tx {
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
        if key.is_invite() {
            self.invite_order.push_back((wall, key.clone()));
        } else {
            self.tx_order.push_back((wall, key.clone()));
        }
        self.txs.insert(key, Box::new(tx));
    }

    /// Request counts per source since the last call, to the engine (every `request_window_secs`).
    pub fn tick(&mut self, now: Now, out: &mut Output) {
        self.shared.decider.lock().tick(now, &mut self.fx);
        self.carry_out(now, out);
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
        if self.shard == 0 {
            // Once for the whole guard (bans that ran out).
            self.shared.decider.lock().expire(now);
        }
        self.flush_dialogs(out);
    }
}

/// Requests of a call (an emergency call of a banned source must still pass): INVITE and what follows it.
fn may_be_a_call(data: &[u8]) -> bool {
    [
        &b"INVITE "[..],
        b"ACK ",
        b"BYE ",
        b"CANCEL ",
        b"PRACK ",
        b"UPDATE ",
    ]
    .iter()
    .any(|m| data.starts_with(m))
}
