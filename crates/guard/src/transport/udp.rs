//! UDP sockets: each is read by a thread of its own that runs every datagram to completion — parsed,
//! matched, decided and forwarded on that thread, under the lock of its Call-ID's shard — once the guard
//! hands it the shards ([`super::Transports::run_inline`]); until then (and in tests that read the core's
//! queue) datagrams go into the shards' queues. Kamailio's and OpenSIPS's UDP workers work the same way: no
//! hand-off between threads, so no wake-up of a second thread per datagram.
//!
//! Overload is told by how long each datagram waited in the socket: the kernel stamps it on arrival
//! (SO_TIMESTAMPNS), the reader compares the stamp with the clock when it reads it, and
//! [`crate::admission`] sheds what matters least first as that wait grows — CoDel's sojourn time. A flood of
//! what is shed cheaply (OPTIONS) does not make a call behind it wait, so it is not shed for the flood.
//! Sends never wait: a datagram the kernel would not take at once goes into the socket's bounded queue,
//! sent by a thread of its own.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, Sender, SyncSender};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use rustix::net::SendFlags;

use super::{Counters, Inbound, Shared, TransportKind, TransportLimits};
use crate::admission::{Load, Verdict};
use crate::config::Role;

/// How a reader hands a datagram to the shards on its own thread: parse, decide, forward, then return.
pub type Deliver = Arc<dyn Fn(&Inbound) + Send + Sync>;

/// What the guard gives every reader to run datagrams to completion, and the flag that stops them.
#[derive(Clone)]
pub struct Inline {
    pub deliver: Deliver,
    pub stop: Arc<AtomicBool>,
}

/// A reader blocks this long at most before it looks whether it should stop.
const READ_TIMEOUT: Duration = Duration::from_millis(200);

/// The sockets of a UDP listener: [`TransportLimits::udp_readers`] of them on one address and port (the
/// port the first one got when the listener asks for port 0), grouped with SO_REUSEPORT when more than one.
pub(super) fn bind_group(
    addr: SocketAddr,
    limits: &TransportLimits,
) -> std::io::Result<Vec<Arc<std::net::UdpSocket>>> {
    let n = limits.udp_readers.max(1);
    let first = bind(addr, limits, n > 1)?;
    let addr = first.local_addr()?;
    let mut group = vec![Arc::new(first)];
    for _ in 1..n {
        group.push(Arc::new(bind(addr, limits, true)?));
    }
    Ok(group)
}

/// A UDP socket with its kernel buffers sized for bursts ([`TransportLimits::recv_buffer`]); a size the
/// kernel refuses is logged, not fatal. Blocking: its reader waits in the kernel, sends never do.
fn bind(
    addr: SocketAddr,
    limits: &TransportLimits,
    reuse_port: bool,
) -> std::io::Result<std::net::UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let s = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if addr.is_ipv6() {
        // Like std's bind: an IPv6 listener is dual-stack only where the system says so.
        let _ = s.set_only_v6(false);
    }
    for (what, want, set) in [
        (
            "SO_RCVBUF",
            limits.recv_buffer,
            Socket::set_recv_buffer_size as fn(&Socket, usize) -> _,
        ),
        (
            "SO_SNDBUF",
            limits.send_buffer,
            Socket::set_send_buffer_size,
        ),
    ] {
        if let Err(e) = set(&s, want) {
            tracing::warn!(address = %addr, error = %e, bytes = want, "{what} not set: the kernel's default buffer is used");
        }
    }
    let got = s.recv_buffer_size().unwrap_or(0);
    if got < limits.recv_buffer {
        tracing::warn!(
            address = %addr,
            wanted = limits.recv_buffer,
            got,
            "UDP receive buffer smaller than [transport] recv_buffer: raise net.core.rmem_max (sysctl) so that bursts are not dropped"
        );
    }
    if reuse_port {
        // Linux only groups sockets of the same user: another user cannot take a share of the traffic.
        s.set_reuse_port(true)?;
    }
    s.bind(&addr.into())?;
    s.set_read_timeout(Some(READ_TIMEOUT))?;
    // Each datagram's arrival time, for the wait it had in the socket (admission under overload).
    nix::sys::socket::setsockopt(&s, nix::sys::socket::sockopt::ReceiveTimestampns, &true)
        .map_err(std::io::Error::from)?;
    Ok(s.into())
}

/// Sends a datagram without waiting; `WouldBlock` when the kernel's buffer is full.
pub(super) fn send_now(
    socket: &std::net::UdpSocket,
    data: &[u8],
    dest: SocketAddr,
) -> std::io::Result<()> {
    send(socket, data, dest, SendFlags::DONTWAIT)
}

/// Sends, waiting for room in the kernel's buffer with empty `flags` (the socket is blocking; the kernel
/// drains its send buffer onto the wire whatever the peer does).
fn send(
    socket: &std::net::UdpSocket,
    data: &[u8],
    dest: SocketAddr,
    flags: SendFlags,
) -> std::io::Result<()> {
    rustix::net::sendto(socket, data, flags, &dest)
        .map(|_| ())
        .map_err(std::io::Error::from)
}

/// Starts the thread that sends what the kernel would not take at once, in order, waiting as it must. It
/// ends when the socket's sender side is dropped.
pub(super) fn spawn_backlog(
    socket: Arc<std::net::UdpSocket>,
    rx: Receiver<(SocketAddr, Vec<u8>)>,
    waiting: Arc<AtomicUsize>,
    counters: Arc<Counters>,
) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("tollguard-udp-out".into())
        .spawn(move || {
            for (dest, data) in rx {
                if let Err(e) = send(&socket, &data, dest, SendFlags::empty()) {
                    tracing::debug!(dest = %dest, error = %e, "UDP send failed");
                    counters.dropped.fetch_add(1, Ordering::Relaxed);
                }
                counters.queued.fetch_sub(1, Ordering::Relaxed);
                waiting.fetch_sub(1, Ordering::AcqRel);
            }
        })?;
    Ok(())
}

/// One reader: its socket, where it is (listener), and how it learns to run datagrams to completion.
pub(super) struct Reader {
    pub listener: usize,
    pub socket: Arc<std::net::UdpSocket>,
    pub shared: Weak<Shared>,
    pub inline: Receiver<Inline>,
}

/// Starts a reader; returns the sender through which the guard hands it the shards.
pub(super) fn spawn_reader(
    listener: usize,
    socket: Arc<std::net::UdpSocket>,
    shared: Weak<Shared>,
    rt: tokio::runtime::Handle,
) -> std::io::Result<Sender<Inline>> {
    let (tx, inline) = std::sync::mpsc::channel();
    let reader = Reader {
        listener,
        socket,
        shared,
        inline,
    };
    std::thread::Builder::new()
        .name("tollguard-udp".into())
        .spawn(move || {
            // What a message sets off may open a connection (a task of the guard's runtime).
            let _rt = rt.enter();
            reader.run();
        })?;
    Ok(tx)
}

impl Reader {
    fn run(self) {
        // A HEP listener's packets are not SIP to answer: admission keeps them.
        let Some(mirrored) = self.shared.upgrade().map(|s| {
            s.listeners
                .get(self.listener)
                .is_some_and(|l| l.role == Role::Hep)
        }) else {
            return;
        };
        let mut buf = vec![0u8; 65_536];
        let mut cmsg = nix::cmsg_space!(nix::sys::time::TimeSpec);
        let mut inline: Option<Inline> = None;
        // Reused for every datagram run to completion (its buffer grows once to the largest datagram).
        let mut m = Inbound {
            data: Vec::new(),
            source: SocketAddr::from(([0, 0, 0, 0], 0)),
            listener: self.listener,
            transport: TransportKind::Udp,
            conn: None,
            received: Instant::now(),
        };
        loop {
            if inline.is_none() {
                inline = self.inline.try_recv().ok();
            }
            if inline
                .as_ref()
                .is_some_and(|h| h.stop.load(Ordering::Relaxed))
            {
                return;
            }
            let Some((n, source, waited)) = self.receive(&mut buf, &mut cmsg) else {
                if self.shared.strong_count() == 0 {
                    return;
                }
                continue;
            };
            let Some(shared) = self.shared.upgrade() else {
                return;
            };
            let data = buf.get(..n).unwrap_or(&[]);
            let received = Instant::now();
            match &inline {
                Some(h) => {
                    if !self.admit(&shared, data, source, Load::Waited(waited), mirrored) {
                        continue;
                    }
                    m.data.clear();
                    m.data.extend_from_slice(data);
                    m.source = source;
                    m.received = received;
                    (h.deliver)(&m);
                }
                None => self.enqueue(&shared, data, source, received, mirrored),
            }
        }
    }

    /// The next datagram, waiting for it (at most [`READ_TIMEOUT`]): its length, source and how long it
    /// waited in the socket.
    fn receive(&self, buf: &mut [u8], cmsg: &mut [u8]) -> Option<(usize, SocketAddr, Duration)> {
        use nix::sys::socket::{ControlMessageOwned, MsgFlags, SockaddrStorage, recvmsg};
        use std::os::fd::AsRawFd;
        let mut iov = [std::io::IoSliceMut::new(buf)];
        let fd = self.socket.as_raw_fd();
        let msg = match recvmsg::<SockaddrStorage>(fd, &mut iov, Some(cmsg), MsgFlags::empty()) {
            Ok(m) => m,
            // The read timeout: nothing came.
            Err(nix::errno::Errno::EAGAIN | nix::errno::Errno::EINTR) => return None,
            Err(e) => {
                // ICMP port unreachable surfaces here on some systems: not a reason to stop.
                tracing::debug!(error = %e, "UDP receive error");
                return None;
            }
        };
        let stamp = msg.cmsgs().ok().and_then(|mut c| {
            c.find_map(|m| match m {
                ControlMessageOwned::ScmTimestampns(ts) => Some(ts),
                _ => None,
            })
        });
        let waited = stamp.map_or(Duration::ZERO, since);
        let source = msg.address.as_ref().and_then(socket_addr)?;
        Some((msg.bytes, source, waited))
    }

    /// Whether a datagram goes ahead with the guard at `load`; a shed one may be answered.
    fn admit(
        &self,
        shared: &Shared,
        data: &[u8],
        source: SocketAddr,
        load: Load,
        mirrored: bool,
    ) -> bool {
        match shared.admission.admit(data, load, mirrored) {
            Verdict::Admit => true,
            Verdict::Shed(answer) => {
                if let Some(a) = answer {
                    // Best effort: a full kernel buffer drops the answer (the caller retransmits).
                    let _ = send_now(&self.socket, &a, source);
                }
                false
            }
        }
    }

    /// Before the guard runs datagrams to completion: into the queue of its shard, or shed when it fills.
    fn enqueue(
        &self,
        shared: &Shared,
        data: &[u8],
        source: SocketAddr,
        received: Instant,
        mirrored: bool,
    ) {
        let tx = shared.inbound.pick(data);
        let size = tx.max_capacity();
        let load = Load::Queue {
            used: size - tx.capacity(),
            size,
        };
        if !self.admit(shared, data, source, load, mirrored) {
            return;
        }
        let m = Inbound {
            data: data.to_vec(),
            source,
            listener: self.listener,
            transport: TransportKind::Udp,
            conn: None,
            received,
        };
        if let Err(tokio::sync::mpsc::error::TrySendError::Full(_)) = tx.try_send(m) {
            shared.admission.lost(load);
        }
    }
}

/// The senders through which [`super::Transports::run_inline`] reaches every reader.
pub(super) type Handovers = std::sync::Mutex<Vec<Sender<Inline>>>;

/// A UDP socket's bounded queue of the datagrams the kernel would not take at once.
pub(super) type BacklogTx = SyncSender<(SocketAddr, Vec<u8>)>;

/// The time since a kernel timestamp (CLOCK_REALTIME); zero when the clock stepped back.
fn since(ts: nix::sys::time::TimeSpec) -> Duration {
    let Ok(now) = nix::time::clock_gettime(nix::time::ClockId::CLOCK_REALTIME) else {
        return Duration::ZERO;
    };
    Duration::from(now).saturating_sub(Duration::from(ts))
}

fn socket_addr(a: &nix::sys::socket::SockaddrStorage) -> Option<SocketAddr> {
    if let Some(v4) = a.as_sockaddr_in() {
        return Some(SocketAddr::V4((*v4).into()));
    }
    a.as_sockaddr_in6().map(|v6| SocketAddr::V6((*v6).into()))
}
