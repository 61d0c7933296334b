//! The network side: UDP sockets and TCP/TLS listeners and connections on tokio. Every message received (a
//! datagram, or one message framed out of a stream by `sip::StreamFramer`) becomes an [`Inbound`] sent to the
//! core; the core answers with [`Outgoing`] messages, which [`Transports::send`] hands over without waiting:
//! a datagram goes out at once (or into its socket's bounded queue when the kernel's buffer is full), a
//! stream message goes into the bounded queue of its connection, which is an existing one from/to that
//! address or one opened by a task of its own. So one next hop that never answers costs only its own
//! messages, never the calls of others. The limits of connections (per source, in total, idle time) are
//! enforced here too, from [`TransportLimits`].

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde::Serialize;
use sip::{Frame, StreamFramer};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};
use tokio_rustls::TlsAcceptor;

use crate::admission::{Admission, Load, ShedStats, Verdict};
use crate::config::{Listener, TransportKind};

mod udp;
pub use udp::{Deliver, Inline};

/// One message received.
#[derive(Debug, Clone)]
pub struct Inbound {
    pub data: Vec<u8>,
    pub source: SocketAddr,
    /// Index of the listener (in the configuration) it arrived on; for outbound TCP connections, the
    /// listener whose address the guard advertised.
    pub listener: usize,
    pub transport: TransportKind,
    /// The TCP connection it came on.
    pub conn: Option<u64>,
    /// When it was read off the socket (the decision latency of a call is measured from here).
    pub received: std::time::Instant,
}

impl Inbound {
    /// Where answers to this message go back.
    pub fn hop(&self) -> Hop {
        Hop {
            dest: self.source,
            listener: self.listener,
            transport: self.transport,
            conn: self.conn,
        }
    }
}

/// Where to send a message: the address, the socket (listener) to send from, and the connection for TCP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Hop {
    pub dest: SocketAddr,
    pub listener: usize,
    pub transport: TransportKind,
    pub conn: Option<u64>,
}

/// One message to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    pub data: Vec<u8>,
    pub hop: Hop,
}

/// Limits of the connections and send queues (the `[transport]` section of the configuration).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransportLimits {
    /// How long an outbound TCP connect may take before the destination counts as unreachable.
    pub connect_timeout: Duration,
    /// Accepted TCP/TLS connections open at once (TLS handshakes in progress included). Outbound
    /// connections have a cap of the same size of their own, so that connections from the internet cannot
    /// keep the guard from reaching the PBX or the carrier.
    pub max_connections: usize,
    /// Accepted connections open at once from one source: an IPv4 address, or an IPv6 /64.
    pub max_connections_per_source: usize,
    /// A connection with no traffic in either direction for this long is closed.
    pub idle: Duration,
    /// Messages waiting to be sent, per connection and per UDP socket.
    pub send_queue: usize,
    /// Stream messages (TCP, TLS) waiting for their shard, per shard (UDP datagrams are run to completion by
    /// their reader once the guard runs); beyond half of it the least important are shed
    /// ([`crate::admission`]).
    pub inbound_queue: usize,
    /// Kernel buffers of each UDP socket (SO_RCVBUF, SO_SNDBUF), in bytes: a burst waits there while the
    /// reader is busy. Linux caps them at net.core.rmem_max / wmem_max (and doubles them).
    pub recv_buffer: usize,
    pub send_buffer: usize,
    /// Threads of `tollguard serve`'s runtime: TCP/TLS connections, the operator API, the control loop.
    pub receive_threads: usize,
    /// Sockets per UDP listener, bound to the same address with SO_REUSEPORT, each read by a thread of its
    /// own: the kernel spreads peers (by address and port) over them, so the datagrams of one peer stay in
    /// order on one reader.
    pub udp_readers: usize,
    /// How long a datagram may wait in its socket before what matters least is shed: OPTIONS from half of
    /// it, REGISTERs from 3/4, new calls from 7/8 ([`crate::admission`]).
    pub max_wait: Duration,
    /// SIP shards: threads that each own the transactions and dialogs of the Call-IDs that hash to them
    /// and share one decision layer. Default: the cores available, at most [`MAX_DEFAULT_SHARDS`].
    pub shards: usize,
}

/// Most shards by default (more cores than this are left to the receive threads and the rest).
pub const MAX_DEFAULT_SHARDS: usize = 16;

/// The default number of shards: one per core available, at most [`MAX_DEFAULT_SHARDS`].
pub fn default_shards() -> usize {
    std::thread::available_parallelism()
        .map_or(1, std::num::NonZero::get)
        .min(MAX_DEFAULT_SHARDS)
}

impl Default for TransportLimits {
    fn default() -> Self {
        TransportLimits {
            connect_timeout: Duration::from_secs(3),
            max_connections: 4096,
            max_connections_per_source: 32,
            // SIP phones on TCP send CRLF keep-alives every 30-120 s.
            idle: Duration::from_secs(300),
            send_queue: 1024,
            inbound_queue: 16_384,
            // Each datagram costs about 2.3 KiB of buffer (its data and the kernel's bookkeeping): 8 MiB hold
            // some 3,500, a 90 ms stall at 40,000 datagrams a second; the default 208 KiB holds 90 (2 ms).
            recv_buffer: 8 << 20,
            send_buffer: 4 << 20,
            receive_threads: 1,
            udp_readers: 1,
            max_wait: crate::admission::MAX_WAIT,
            shards: default_shards(),
        }
    }
}

/// Bytes a connection's queue may hold besides its message count (a peer that does not read must not make
/// the guard hold up to `send_queue` maximal messages for it).
const QUEUE_BYTES: usize = 1 << 20;

/// Failed connects to a destination are retried after 1 s, then 2, 4 … up to 30 s; messages for it are
/// dropped in between (they would be stale by the time a later connect succeeds).
const BACKOFF_FIRST: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(30);

/// Refused connections and full queues are logged at most this often (per source, per connection).
const LOG_EVERY: Duration = Duration::from_secs(1);

/// Whether a line logged at most once per [`LOG_EVERY`] is due now; if so, notes it as logged at `last`.
fn log_due(last: &mut Option<Instant>) -> bool {
    let now = Instant::now();
    if last.is_some_and(|l| now.duration_since(l) < LOG_EVERY) {
        return false;
    }
    *last = Some(now);
    true
}

/// What the transports have done so far (counters since start; `queued` and `connections` are current).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct TransportStats {
    /// Messages waiting in send queues now (UDP sockets whose kernel buffer was full, TCP/TLS connections).
    pub queued: u64,
    /// Messages not sent: queue full, destination unreachable or backing off, no TLS connection to the
    /// address, no socket to send from, or a send error.
    pub dropped: u64,
    /// Outbound TCP connects that failed or timed out.
    pub connect_failures: u64,
    /// TCP/TLS connections open now: accepted (handshakes in progress included) and outbound (connecting
    /// included).
    pub connections: u64,
    /// Accepted connections closed at once because a cap (per source or in total) was reached.
    pub connections_refused: u64,
    /// Connections closed because nothing went either way for `idle_secs`.
    pub idle_closed: u64,
}

/// The counters behind [`TransportStats`], shared with the sending tasks.
#[derive(Debug, Default)]
struct Counters {
    queued: AtomicU64,
    dropped: AtomicU64,
    connect_failures: AtomicU64,
    connections_refused: AtomicU64,
    idle_closed: AtomicU64,
}

/// A UDP socket and its queue for the datagrams the kernel would not take at once.
struct UdpOut {
    /// Where datagrams are sent from.
    socket: Arc<std::net::UdpSocket>,
    /// Every socket of the listener (`socket` first), each with its reader.
    readers: Vec<Arc<std::net::UdpSocket>>,
    backlog: udp::BacklogTx,
    /// Datagrams in `backlog` or being sent from it: while there are any, new ones queue behind them so that
    /// the order of a socket's datagrams is kept.
    waiting: Arc<AtomicUsize>,
}

/// What a connection's tasks and its table entry share.
#[derive(Debug)]
struct ConnState {
    /// Bytes in the send queue.
    queued_bytes: AtomicUsize,
    /// Milliseconds since `Shared::epoch` of the last byte read or written.
    activity: AtomicU64,
}

/// A connection in the table: where it goes and its send queue.
struct Conn {
    peer: SocketAddr,
    queue: mpsc::Sender<Vec<u8>>,
    state: Arc<ConnState>,
    /// When a full queue was last logged.
    full_logged: Option<Instant>,
}

impl Conn {
    /// Puts a message in the queue; false when the queue is full (messages or bytes) or closed.
    fn enqueue(&self, data: Vec<u8>, counters: &Counters) -> bool {
        let len = data.len();
        // Counted before the message is in the queue, so that the writer never takes away more than this.
        let before = self.state.queued_bytes.fetch_add(len, Ordering::Relaxed);
        counters.queued.fetch_add(1, Ordering::Relaxed);
        if before.saturating_add(len) > QUEUE_BYTES || self.queue.try_send(data).is_err() {
            self.state.queued_bytes.fetch_sub(len, Ordering::Relaxed);
            counters.queued.fetch_sub(1, Ordering::Relaxed);
            return false;
        }
        true
    }
}

/// Accepted connections open from one source.
#[derive(Debug, Default)]
struct SourceSlots {
    open: usize,
    refused_logged: Option<Instant>,
}

/// A destination whose connect failed, and until when messages for it are dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Backoff {
    until: Instant,
    delay: Duration,
}

impl Backoff {
    /// The backoff after a failed connect at `now`: twice the last one (up to the maximum) when the failure
    /// comes soon after it, else the first.
    fn after_failure(prev: Option<Backoff>, now: Instant) -> Backoff {
        let delay = match prev {
            Some(b) if now <= b.until + BACKOFF_MAX => (b.delay * 2).min(BACKOFF_MAX),
            _ => BACKOFF_FIRST,
        };
        Backoff {
            until: now + delay,
            delay,
        }
    }
}

/// The TCP/TLS connections: open ones by id and by peer address, and what the caps count.
#[derive(Default)]
struct ConnTable {
    by_id: HashMap<u64, Conn>,
    /// The connection with that peer address, and how many open connections have it (rarely more than one).
    by_addr: HashMap<SocketAddr, (u64, usize)>,
    sources: HashMap<IpAddr, SourceSlots>,
    accepted: usize,
    outbound: usize,
    backoff: HashMap<SocketAddr, Backoff>,
    /// When a refusal for the total cap (of accepted or outbound connections) was last logged.
    total_logged: Option<Instant>,
}

impl ConnTable {
    fn insert(&mut self, id: u64, peer: SocketAddr, queue: usize, epoch: Instant) -> ConnLink {
        let (tx, rx) = mpsc::channel(queue.max(1));
        let state = Arc::new(ConnState {
            queued_bytes: AtomicUsize::new(0),
            activity: AtomicU64::new(millis_since(epoch)),
        });
        self.by_id.insert(
            id,
            Conn {
                peer,
                queue: tx,
                state: state.clone(),
                full_logged: None,
            },
        );
        let e = self.by_addr.entry(peer).or_insert((id, 0));
        *e = (id, e.1 + 1);
        ConnLink { rx, state }
    }

    fn remove(&mut self, id: u64) {
        let Some(c) = self.by_id.remove(&id) else {
            return;
        };
        let Some(&(at, n)) = self.by_addr.get(&c.peer) else {
            return;
        };
        if n <= 1 {
            self.by_addr.remove(&c.peer);
        } else if at == id {
            let other = self
                .by_id
                .iter()
                .find(|(_, x)| x.peer == c.peer)
                .map(|(i, _)| *i);
            match other {
                Some(o) => {
                    self.by_addr.insert(c.peer, (o, n - 1));
                }
                None => {
                    self.by_addr.remove(&c.peer);
                }
            }
        } else {
            self.by_addr.insert(c.peer, (at, n - 1));
        }
    }

    /// The connection for a hop: by id first, then by address.
    fn for_hop(&mut self, hop: &Hop) -> Option<&mut Conn> {
        let id = hop
            .conn
            .filter(|c| self.by_id.contains_key(c))
            .or_else(|| self.by_addr.get(&hop.dest).map(|x| x.0))?;
        self.by_id.get_mut(&id)
    }
}

/// The receiving end of a connection's queue, handed to its tasks.
struct ConnLink {
    rx: mpsc::Receiver<Vec<u8>>,
    state: Arc<ConnState>,
}

/// Which cap a connection counts towards.
#[derive(Debug, Clone, Copy)]
enum Slot {
    Accepted(IpAddr),
    Outbound,
}

/// A connection's place in the table and in the caps, given back when dropped (by the connection's reading
/// task, or by the handshake or connect that failed).
struct ConnGuard {
    shared: Arc<Shared>,
    id: u64,
    slot: Slot,
}

impl Drop for ConnGuard {
    fn drop(&mut self) {
        let mut t = self.shared.table();
        t.remove(self.id);
        match self.slot {
            Slot::Outbound => t.outbound = t.outbound.saturating_sub(1),
            Slot::Accepted(key) => {
                t.accepted = t.accepted.saturating_sub(1);
                if let Some(s) = t.sources.get_mut(&key) {
                    s.open = s.open.saturating_sub(1);
                    if s.open == 0 {
                        t.sources.remove(&key);
                    }
                }
            }
        }
    }
}

/// The queues of the SIP shards, and how a message finds its own: by its Call-ID, so that every message of
/// a call (responses, CANCEL, ACK, BYE) reaches the shard that holds its transactions and dialog.
pub struct Inboxes {
    queues: Vec<mpsc::Sender<Inbound>>,
    shards: Option<Arc<crate::proxy::Shared>>,
}

impl Inboxes {
    /// One queue for everything.
    pub fn one(queue: mpsc::Sender<Inbound>) -> Inboxes {
        Inboxes {
            queues: vec![queue],
            shards: None,
        }
    }

    /// A queue per shard of `shards` (as many queues as shards; the first takes what has no Call-ID).
    pub fn sharded(
        queues: Vec<mpsc::Sender<Inbound>>,
        shards: Arc<crate::proxy::Shared>,
    ) -> Inboxes {
        assert!(!queues.is_empty(), "at least one queue");
        Inboxes {
            queues,
            shards: Some(shards),
        }
    }

    /// The queue of the shard that owns this message's Call-ID.
    fn pick(&self, data: &[u8]) -> &mpsc::Sender<Inbound> {
        let i = match &self.shards {
            Some(s) if self.queues.len() > 1 => s.shard_of_message(data),
            _ => 0,
        };
        // `queues` is never empty (constructors).
        self.queues.get(i).unwrap_or(&self.queues[0])
    }
}

struct Shared {
    udp: HashMap<usize, UdpOut>,
    table: Mutex<ConnTable>,
    next_conn: AtomicU64,
    inbound: Inboxes,
    listeners: Vec<Listener>,
    limits: TransportLimits,
    counters: Arc<Counters>,
    /// What goes into the core's queue and what is shed under overload.
    admission: Arc<Admission>,
    /// Base of the connections' activity times.
    epoch: Instant,
    /// How the guard reaches the UDP readers ([`Transports::run_inline`]).
    handovers: udp::Handovers,
}

impl Shared {
    fn table(&self) -> MutexGuard<'_, ConnTable> {
        // Nothing panics while holding the lock; if something did, the table is still consistent enough to
        // go on (counts only).
        self.table
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn millis_since(epoch: Instant) -> u64 {
    u64::try_from(epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// The key a source's connections are counted under: the IPv4 address (also when it comes as
/// `::ffff:a.b.c.d`), or the /64 of an IPv6 address (one subscriber usually has a whole /64).
fn source_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(a) => match a.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(Ipv6Addr::from(u128::from(a) & !(u128::MAX >> 64))),
        },
    }
}

/// The sockets of a running guard.
#[derive(Clone)]
pub struct Transports {
    shared: Arc<Shared>,
}

impl Transports {
    /// Binds every listener and starts receiving. Messages go to `inbound` (no INVITE is recognised as an
    /// emergency call when shedding: [`Transports::bind_with`] does that).
    pub async fn bind(
        listeners: &[Listener],
        limits: TransportLimits,
        inbound: mpsc::Sender<Inbound>,
    ) -> std::io::Result<Transports> {
        Transports::bind_with(listeners, limits, inbound, None).await
    }

    /// Binds every listener and starts receiving. Messages go to `inbound` or are shed when it fills up;
    /// `numbering` tells emergency calls, which are never shed.
    pub async fn bind_with(
        listeners: &[Listener],
        limits: TransportLimits,
        inbound: mpsc::Sender<Inbound>,
        numbering: Option<Arc<numbering::Numbering>>,
    ) -> std::io::Result<Transports> {
        Transports::bind_sharded(listeners, limits, Inboxes::one(inbound), numbering).await
    }

    /// Binds every listener and starts receiving. Each message goes to the queue of its shard
    /// ([`Inboxes`]) or is shed when that queue fills up; `numbering` tells emergency calls, which are
    /// never shed.
    pub async fn bind_sharded(
        listeners: &[Listener],
        limits: TransportLimits,
        inbound: Inboxes,
        numbering: Option<Arc<numbering::Numbering>>,
    ) -> std::io::Result<Transports> {
        let admission = Arc::new(Admission::new(numbering).with_max_wait(limits.max_wait));
        let counters = Arc::new(Counters::default());
        let mut udp = HashMap::new();
        let mut tcp = Vec::new();
        let mut tls = Vec::new();
        for (i, l) in listeners.iter().enumerate() {
            match l.transport {
                TransportKind::Tls => {
                    let (cert, key) = l.tls.clone().ok_or_else(|| {
                        std::io::Error::other(format!(
                            "TLS listener {} has no certificate",
                            l.address
                        ))
                    })?;
                    let cfg = tls_server_config(&cert, &key).map_err(std::io::Error::other)?;
                    let s = TcpListener::bind(l.address).await.map_err(|e| {
                        std::io::Error::new(e.kind(), format!("binding TLS {}: {e}", l.address))
                    })?;
                    tls.push((i, s, TlsAcceptor::from(Arc::new(cfg))));
                }
                TransportKind::Udp => {
                    let sockets = udp::bind_group(l.address, &limits).map_err(|e| {
                        std::io::Error::new(e.kind(), format!("binding UDP {}: {e}", l.address))
                    })?;
                    let socket = sockets[0].clone();
                    let (backlog, rx) = std::sync::mpsc::sync_channel(limits.send_queue.max(1));
                    let waiting = Arc::new(AtomicUsize::new(0));
                    udp::spawn_backlog(socket.clone(), rx, waiting.clone(), counters.clone())?;
                    udp.insert(
                        i,
                        UdpOut {
                            socket,
                            readers: sockets,
                            backlog,
                            waiting,
                        },
                    );
                }
                TransportKind::Tcp => {
                    let s = TcpListener::bind(l.address).await.map_err(|e| {
                        std::io::Error::new(e.kind(), format!("binding TCP {}: {e}", l.address))
                    })?;
                    tcp.push((i, s));
                }
            }
        }
        let t = Transports {
            shared: Arc::new(Shared {
                udp,
                table: Mutex::new(ConnTable::default()),
                next_conn: AtomicU64::new(1),
                inbound,
                listeners: listeners.to_vec(),
                limits,
                counters,
                admission,
                epoch: Instant::now(),
                handovers: udp::Handovers::default(),
            }),
        };
        let rt = tokio::runtime::Handle::current();
        for (i, u) in &t.shared.udp {
            for socket in &u.readers {
                let weak = Arc::downgrade(&t.shared);
                let handover = udp::spawn_reader(*i, socket.clone(), weak, rt.clone())?;
                t.shared
                    .handovers
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .push(handover);
            }
        }
        for (i, l) in tcp {
            let t2 = t.clone();
            tokio::spawn(async move { t2.accept_loop(i, l, None).await });
        }
        for (i, l, acceptor) in tls {
            let t2 = t.clone();
            tokio::spawn(async move { t2.accept_loop(i, l, Some(acceptor)).await });
        }
        Ok(t)
    }

    /// The local address of a UDP listener (tests bind port 0).
    pub fn local_udp(&self, listener: usize) -> Option<SocketAddr> {
        self.shared
            .udp
            .get(&listener)
            .and_then(|u| u.socket.local_addr().ok())
    }

    /// From now on every UDP reader runs each datagram to completion on its own thread through
    /// `inline.deliver` (after admission), instead of putting it into the shards' queues; the readers stop
    /// when `inline.stop` turns true.
    pub fn run_inline(&self, inline: &Inline) {
        let handovers = self
            .shared
            .handovers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for h in handovers.iter() {
            // A reader that is gone has nothing to run.
            let _ = h.send(inline.clone());
        }
    }

    /// What the transports have done so far.
    pub fn stats(&self) -> TransportStats {
        let c = &self.shared.counters;
        let connections = {
            let t = self.shared.table();
            t.accepted + t.outbound
        };
        TransportStats {
            queued: c.queued.load(Ordering::Relaxed),
            dropped: c.dropped.load(Ordering::Relaxed),
            connect_failures: c.connect_failures.load(Ordering::Relaxed),
            connections: u64::try_from(connections).unwrap_or(u64::MAX),
            connections_refused: c.connections_refused.load(Ordering::Relaxed),
            idle_closed: c.idle_closed.load(Ordering::Relaxed),
        }
    }

    /// What was shed under overload so far.
    pub fn shed_stats(&self) -> ShedStats {
        self.shared.admission.stats()
    }

    fn next_id(&self) -> u64 {
        self.shared.next_conn.fetch_add(1, Ordering::Relaxed)
    }

    async fn accept_loop(self, listener: usize, l: TcpListener, tls: Option<TlsAcceptor>) {
        loop {
            match l.accept().await {
                Ok((stream, peer)) => {
                    // Over a cap, the stream is dropped here: closed at once.
                    let Some(guard) = self.admit(peer) else {
                        continue;
                    };
                    let _ = stream.set_nodelay(true);
                    match &tls {
                        None => {
                            let link = self.register(guard.id, peer);
                            self.spawn_conn(
                                stream,
                                guard,
                                link,
                                peer,
                                listener,
                                TransportKind::Tcp,
                            );
                        }
                        Some(acceptor) => {
                            // The handshake runs in its own task so that a slow client cannot stall accepts;
                            // it holds its place in the caps meanwhile.
                            let (acceptor, me) = (acceptor.clone(), self.clone());
                            tokio::spawn(async move {
                                let hs = tokio::time::timeout(
                                    Duration::from_secs(10),
                                    acceptor.accept(stream),
                                )
                                .await;
                                match hs {
                                    Ok(Ok(s)) => {
                                        let link = me.register(guard.id, peer);
                                        me.spawn_conn(
                                            s,
                                            guard,
                                            link,
                                            peer,
                                            listener,
                                            TransportKind::Tls,
                                        );
                                    }
                                    Ok(Err(e)) => {
                                        tracing::info!(peer = %peer, error = %e, "TLS handshake failed")
                                    }
                                    Err(_) => {
                                        tracing::info!(peer = %peer, "TLS handshake timed out")
                                    }
                                }
                            });
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "TCP accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }

    /// A place for a connection just accepted from `peer`, or `None` when a cap is reached (counted, and
    /// logged at most once a second per source).
    fn admit(&self, peer: SocketAddr) -> Option<ConnGuard> {
        let key = source_key(peer.ip());
        let limits = &self.shared.limits;
        let mut t = self.shared.table();
        let refused = if t.accepted >= limits.max_connections {
            if log_due(&mut t.total_logged) {
                tracing::warn!(
                    peer = %peer,
                    max_connections = limits.max_connections,
                    "connection refused: the guard has max_connections open ([transport] max_connections)"
                );
            }
            true
        } else if let Some(s) = t
            .sources
            .get_mut(&key)
            .filter(|s| s.open >= limits.max_connections_per_source)
        {
            if log_due(&mut s.refused_logged) {
                tracing::warn!(
                    peer = %peer,
                    source = %key,
                    open = s.open,
                    "connection refused: this source has max_connections_per_source open ([transport] max_connections_per_source)"
                );
            }
            true
        } else {
            false
        };
        if refused {
            self.shared
                .counters
                .connections_refused
                .fetch_add(1, Ordering::Relaxed);
            return None;
        }
        t.sources.entry(key).or_default().open += 1;
        t.accepted += 1;
        drop(t);
        Some(ConnGuard {
            shared: self.shared.clone(),
            id: self.next_id(),
            slot: Slot::Accepted(key),
        })
    }

    /// Puts an accepted connection in the table, where sends find it.
    fn register(&self, id: u64, peer: SocketAddr) -> ConnLink {
        let (queue, epoch) = (self.shared.limits.send_queue, self.shared.epoch);
        self.shared.table().insert(id, peer, queue, epoch)
    }

    /// Runs a connection: a task reads and frames what comes in (and closes the connection when it ends or
    /// the connection is idle), another writes its queue.
    fn spawn_conn<S>(
        &self,
        stream: S,
        guard: ConnGuard,
        link: ConnLink,
        peer: SocketAddr,
        listener: usize,
        transport: TransportKind,
    ) where
        S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    {
        let writer = self.start_conn(stream, guard, link, peer, listener, transport);
        tokio::spawn(writer);
    }

    /// Starts the reading task of a connection and returns its writing work, for the caller to run.
    fn start_conn<S>(
        &self,
        stream: S,
        guard: ConnGuard,
        link: ConnLink,
        peer: SocketAddr,
        listener: usize,
        transport: TransportKind,
    ) -> impl Future<Output = ()> + Send + 'static
    where
        S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    {
        let (rd, wr) = tokio::io::split(stream);
        // Each side ends when the other has ended: dropping a oneshot sender wakes its receiver.
        let (reader_alive, reader_gone) = oneshot::channel::<()>();
        let (writer_alive, writer_gone) = oneshot::channel::<()>();
        let read = ConnReader {
            shared: self.shared.clone(),
            state: link.state.clone(),
            peer,
            listener,
            transport,
            id: guard.id,
        };
        tokio::spawn(async move {
            read.run(rd, writer_gone).await;
            drop(reader_alive);
            drop(guard);
        });
        let counters = self.shared.counters.clone();
        let epoch = self.shared.epoch;
        async move {
            write_conn(wr, link, reader_gone, &counters, epoch).await;
            drop(writer_alive);
        }
    }

    /// Sends a message without waiting: a datagram goes out now or into its socket's queue; a stream
    /// message goes into its connection's queue (a connection is opened by a task of its own when there is
    /// none). Messages that cannot be sent are dropped and counted ([`Transports::stats`]): the peers
    /// retransmit or time out.
    pub fn send(&self, out: Outgoing) {
        match out.hop.transport {
            TransportKind::Udp => self.send_udp(out),
            TransportKind::Tcp | TransportKind::Tls => self.send_stream(out),
        }
    }

    fn dropped(&self) {
        self.shared.counters.dropped.fetch_add(1, Ordering::Relaxed);
    }

    fn send_udp(&self, out: Outgoing) {
        let hop = out.hop;
        let udp = &self.shared.udp;
        let listeners = &self.shared.listeners;
        let sock = udp.get(&hop.listener).or_else(|| {
            udp.iter()
                .find(|(i, _)| {
                    listeners
                        .get(**i)
                        .is_some_and(|l| l.address.is_ipv4() == hop.dest.is_ipv4())
                })
                .map(|(_, s)| s)
        });
        let Some(u) = sock else {
            tracing::warn!(dest = %hop.dest, "no UDP listener to send from");
            self.dropped();
            return;
        };
        if u.waiting.load(Ordering::Acquire) == 0 {
            match udp::send_now(&u.socket, &out.data, hop.dest) {
                Ok(_) => return,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => {
                    tracing::debug!(dest = %hop.dest, error = %e, "UDP send failed");
                    self.dropped();
                    return;
                }
            }
        }
        // The kernel's buffer is full (or datagrams wait already): the socket's task sends it when it can.
        u.waiting.fetch_add(1, Ordering::AcqRel);
        self.shared.counters.queued.fetch_add(1, Ordering::Relaxed);
        if u.backlog.try_send((hop.dest, out.data)).is_err() {
            u.waiting.fetch_sub(1, Ordering::AcqRel);
            self.shared.counters.queued.fetch_sub(1, Ordering::Relaxed);
            tracing::debug!(dest = %hop.dest, "UDP send queue full; message dropped");
            self.dropped();
        }
    }

    fn send_stream(&self, out: Outgoing) {
        let hop = out.hop;
        let limits = self.shared.limits;
        let mut t = self.shared.table();
        let counters = &self.shared.counters;
        if let Some(c) = t.for_hop(&hop) {
            if !c.enqueue(out.data, counters) {
                if log_due(&mut c.full_logged) {
                    tracing::info!(dest = %hop.dest, "connection's send queue full or closed; message dropped");
                }
                self.dropped();
            }
            return;
        }
        if hop.transport == TransportKind::Tls {
            drop(t);
            // The guard does not open TLS connections (phones keep theirs open).
            tracing::info!(dest = %hop.dest, "no TLS connection to this address; message dropped");
            self.dropped();
            return;
        }
        if let Some(b) = t.backoff.get(&hop.dest)
            && Instant::now() < b.until
        {
            drop(t);
            tracing::debug!(dest = %hop.dest, "TCP destination unreachable (backing off); message dropped");
            self.dropped();
            return;
        }
        if t.outbound >= limits.max_connections {
            if log_due(&mut t.total_logged) {
                tracing::warn!(dest = %hop.dest, "no new outbound connection: max_connections are open or connecting; message dropped");
            }
            drop(t);
            self.dropped();
            return;
        }
        let id = self.next_id();
        t.outbound += 1;
        let link = t.insert(id, hop.dest, limits.send_queue, self.shared.epoch);
        let queued = t
            .by_id
            .get(&id)
            .is_some_and(|c| c.enqueue(out.data, counters));
        drop(t);
        if !queued {
            self.dropped();
        }
        let guard = ConnGuard {
            shared: self.shared.clone(),
            id,
            slot: Slot::Outbound,
        };
        tokio::spawn(self.clone().connect(hop, guard, link));
    }

    /// Opens a TCP connection for messages queued to `hop.dest`, then writes them. On failure or timeout the
    /// destination backs off and what was queued for it is dropped.
    async fn connect(self, hop: Hop, guard: ConnGuard, mut link: ConnLink) {
        let limits = self.shared.limits;
        let r = tokio::time::timeout(limits.connect_timeout, TcpStream::connect(hop.dest)).await;
        let why = match r {
            Ok(Ok(stream)) => {
                self.shared.table().backoff.remove(&hop.dest);
                let _ = stream.set_nodelay(true);
                let write = self.start_conn(
                    stream,
                    guard,
                    link,
                    hop.dest,
                    hop.listener,
                    TransportKind::Tcp,
                );
                write.await;
                return;
            }
            Ok(Err(e)) => e.to_string(),
            Err(_) => format!("no answer within {} ms", limits.connect_timeout.as_millis()),
        };
        self.shared
            .counters
            .connect_failures
            .fetch_add(1, Ordering::Relaxed);
        let backoff = {
            let mut t = self.shared.table();
            let now = Instant::now();
            if t.backoff.len() >= 1024 {
                t.backoff.retain(|_, b| now <= b.until + BACKOFF_MAX);
            }
            let b = Backoff::after_failure(t.backoff.get(&hop.dest).copied(), now);
            t.backoff.insert(hop.dest, b);
            b
        };
        // Out of the table first, so that nothing is queued behind the messages dropped here.
        drop(guard);
        let dropped = discard_queue(&mut link, &self.shared.counters);
        tracing::warn!(
            dest = %hop.dest,
            error = %why,
            dropped,
            retry_in_ms = u64::try_from(backoff.delay.as_millis()).unwrap_or(u64::MAX),
            "TCP connect failed; messages to this destination are dropped until the retry"
        );
    }
}

/// Closes a connection's queue and drops what is left in it (counted); returns how many.
fn discard_queue(link: &mut ConnLink, counters: &Counters) -> u64 {
    link.rx.close();
    let mut n = 0;
    while let Ok(m) = link.rx.try_recv() {
        link.state
            .queued_bytes
            .fetch_sub(m.len(), Ordering::Relaxed);
        n += 1;
    }
    counters.queued.fetch_sub(n, Ordering::Relaxed);
    counters.dropped.fetch_add(n, Ordering::Relaxed);
    n
}

/// Writes a connection's queue until the connection fails or its reading side ends.
async fn write_conn<W: AsyncWrite + Unpin>(
    mut wr: W,
    mut link: ConnLink,
    mut reader_gone: oneshot::Receiver<()>,
    counters: &Counters,
    epoch: Instant,
) {
    loop {
        let m = tokio::select! {
            biased;
            _ = &mut reader_gone => break,
            m = link.rx.recv() => m,
        };
        let Some(m) = m else { break };
        link.state
            .queued_bytes
            .fetch_sub(m.len(), Ordering::Relaxed);
        counters.queued.fetch_sub(1, Ordering::Relaxed);
        let r = tokio::select! {
            biased;
            _ = &mut reader_gone => break,
            r = async {
                wr.write_all(&m).await?;
                wr.flush().await
            } => r,
        };
        if r.is_err() {
            break;
        }
        link.state
            .activity
            .store(millis_since(epoch), Ordering::Relaxed);
    }
    discard_queue(&mut link, counters);
}

/// The reading side of a connection.
struct ConnReader {
    shared: Arc<Shared>,
    state: Arc<ConnState>,
    peer: SocketAddr,
    listener: usize,
    transport: TransportKind,
    id: u64,
}

impl ConnReader {
    /// Reads and frames messages until the peer closes, the stream cannot be framed (a message larger than
    /// the framer's maximum, e.g. an endless header, included), the writing side ended, or nothing went
    /// either way for the idle time.
    async fn run<R: AsyncRead + Unpin>(self, mut rd: R, mut writer_gone: oneshot::Receiver<()>) {
        let (peer, epoch) = (self.peer, self.shared.epoch);
        let idle = self.shared.limits.idle;
        let idle_ms = u64::try_from(idle.as_millis()).unwrap_or(u64::MAX);
        // Never more than the framer's maximum message plus one read: the framer refuses more.
        let mut buf: Vec<u8> = Vec::with_capacity(8192);
        let mut framer = StreamFramer::default();
        let hep = self
            .shared
            .listeners
            .get(self.listener)
            .is_some_and(|l| l.role == crate::config::Role::Hep);
        let mut chunk = vec![0u8; 16384];
        let timer = tokio::time::sleep(idle);
        tokio::pin!(timer);
        'read: loop {
            let n = tokio::select! {
                biased;
                _ = &mut writer_gone => break 'read,
                r = rd.read(&mut chunk) => match r {
                    Ok(0) | Err(_) => break 'read,
                    Ok(n) => n,
                },
                () = &mut timer => {
                    let last = self.state.activity.load(Ordering::Relaxed);
                    let quiet = millis_since(epoch).saturating_sub(last);
                    if quiet >= idle_ms {
                        self.shared.counters.idle_closed.fetch_add(1, Ordering::Relaxed);
                        tracing::info!(peer = %peer, idle_secs = idle.as_secs(), "closing an idle connection");
                        break 'read;
                    }
                    let left = Duration::from_millis(idle_ms.saturating_sub(quiet));
                    timer.as_mut().reset(tokio::time::Instant::now() + left);
                    continue 'read;
                }
            };
            self.state
                .activity
                .store(millis_since(epoch), Ordering::Relaxed);
            buf.extend_from_slice(chunk.get(..n).unwrap_or(&[]));
            loop {
                let framed = if hep {
                    frame_hep(&buf)
                } else {
                    match framer.next_frame(&buf) {
                        Ok(Frame::Message { message, len }) => {
                            Ok(Some((Some(message.as_bytes().to_vec()), len)))
                        }
                        Ok(Frame::KeepAlive { len }) => Ok(Some((None, len))),
                        Ok(Frame::Incomplete) => Ok(None),
                        Err(e) => Err(e.to_string()),
                    }
                };
                let (msg, len) = match framed {
                    Ok(Some(f)) => f,
                    Ok(None) => break,
                    Err(e) => {
                        tracing::info!(peer = %peer, error = %e, "closing a TCP connection whose stream cannot be framed");
                        break 'read;
                    }
                };
                buf.drain(..len.min(buf.len()));
                if let Some(data) = msg {
                    let q = self.shared.inbound.pick(&data);
                    let (size, used) = (q.max_capacity(), q.max_capacity() - q.capacity());
                    if let Verdict::Shed(answer) =
                        self.shared
                            .admission
                            .admit(&data, Load::Queue { used, size }, hep)
                    {
                        if let Some(a) = answer {
                            Transports {
                                shared: self.shared.clone(),
                            }
                            .send(Outgoing {
                                data: a,
                                hop: Hop {
                                    dest: peer,
                                    listener: self.listener,
                                    transport: self.transport,
                                    conn: Some(self.id),
                                },
                            });
                        }
                        continue;
                    }
                    // A stream waits for room (TCP's own flow control slows the peer down); what is never
                    // shed still gets in, as the others are shed.
                    let m = Inbound {
                        data,
                        source: peer,
                        listener: self.listener,
                        transport: self.transport,
                        conn: Some(self.id),
                        received: Instant::now(),
                    };
                    if q.send(m).await.is_err() {
                        break 'read;
                    }
                }
            }
        }
    }
}

/// What framing found at the front of a stream buffer: the message (None for a keep-alive) and how many bytes
/// it took; None when the buffer holds no whole one yet.
type Framed = Option<(Option<Vec<u8>>, usize)>;

/// The HEPv3 packet at the front of a stream buffer.
fn frame_hep(buf: &[u8]) -> Result<Framed, String> {
    match hep::stream_frame(buf, hep::MAX_V3_PACKET) {
        Ok(hep::StreamFrame::Packet { len }) => Ok(Some((buf.get(..len).map(<[u8]>::to_vec), len))),
        Ok(hep::StreamFrame::NeedMore { .. }) => Ok(None),
        Err(e) => Err(e.to_string()),
    }
}

pub use decide::tls::server_config as tls_server_config;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_are_counted_by_ipv4_address_and_ipv6_slash_64() {
        let k = |s: &str| source_key(s.parse().unwrap());
        assert_eq!(k("192.0.2.7"), k("::ffff:192.0.2.7"));
        assert_ne!(k("192.0.2.7"), k("192.0.2.8"));
        assert_eq!(
            k("2001:db8:1:2:aaaa::1"),
            k("2001:db8:1:2:bbbb:cccc:dddd:eeee")
        );
        assert_eq!(
            k("2001:db8:1:2::1"),
            "2001:db8:1:2::".parse::<IpAddr>().unwrap()
        );
        assert_ne!(k("2001:db8:1:2::1"), k("2001:db8:1:3::1"));
    }

    #[test]
    fn failed_connects_back_off_doubling_up_to_the_maximum_and_start_over_later() {
        let t0 = Instant::now();
        let b1 = Backoff::after_failure(None, t0);
        assert_eq!(b1.delay, BACKOFF_FIRST);
        assert_eq!(b1.until, t0 + BACKOFF_FIRST);
        // The retry after the first backoff fails again: twice as long.
        let t1 = b1.until + Duration::from_secs(3);
        let b2 = Backoff::after_failure(Some(b1), t1);
        assert_eq!(b2.delay, BACKOFF_FIRST * 2);
        let mut b = b2;
        for _ in 0..10 {
            b = Backoff::after_failure(Some(b), b.until);
        }
        assert_eq!(b.delay, BACKOFF_MAX);
        // A failure long after the last one starts from the first delay again.
        let later = b.until + BACKOFF_MAX + Duration::from_secs(1);
        assert_eq!(Backoff::after_failure(Some(b), later).delay, BACKOFF_FIRST);
    }

    #[test]
    fn the_table_finds_connections_by_id_then_by_address_and_forgets_them() {
        let epoch = Instant::now();
        let mut t = ConnTable::default();
        let a: SocketAddr = "192.0.2.1:5060".parse().unwrap();
        let _l1 = t.insert(1, a, 4, epoch);
        let _l2 = t.insert(2, a, 4, epoch);
        let hop = |conn| Hop {
            dest: a,
            listener: 0,
            transport: TransportKind::Tcp,
            conn,
        };
        assert_eq!(t.for_hop(&hop(Some(1))).map(|c| c.peer), Some(a));
        // The newest connection to the address is the one reused; when it closes, the other one is.
        t.remove(2);
        assert_eq!(t.by_addr.get(&a), Some(&(1, 1)));
        assert!(
            t.for_hop(&hop(Some(2))).is_some(),
            "falls back to the address"
        );
        t.remove(1);
        assert!(t.for_hop(&hop(None)).is_none());
        assert!(t.by_addr.is_empty() && t.by_id.is_empty());
    }
}
