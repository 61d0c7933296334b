//! The network side under attack, on real loopback sockets: a next hop that never answers a TCP connect
//! costs only its own messages (at the `Transports` level and through a running guard whose trunk hangs),
//! accepted connections are capped per source and in total (TLS handshakes in progress included), idle
//! connections and endless headers are cut off, and the `[transport]` section is checked.
//!
//! The hanging next hop is a listening socket with a backlog of one that is never accepted: once its accept
//! queue is full, Linux drops further SYNs, so a connect to it neither succeeds nor fails for minutes.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use guard::config::{Listener, Role, TransportKind};
use guard::transport::{Hop, Inbound, Outgoing, TransportLimits, TransportStats, Transports};
use guard::{Guard, LiveEvent, Settings};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream, UdpSocket};
use tokio::sync::mpsc;
use tokio::time::{Instant, timeout, timeout_at};

/// Long enough for anything on loopback; only reached when something is broken.
const DEADLINE: Duration = Duration::from_secs(10);

#[cfg(target_os = "linux")]
/// A TCP address whose connects hang, and the connections that fill its accept queue (kept open).
struct HangingTcp {
    addr: SocketAddr,
    _listener: tokio::net::TcpListener,
    _filled: Vec<TcpStream>,
}

#[cfg(target_os = "linux")]
/// Binds the hanging address and fills its accept queue until a connect hangs (checked: a connect on
/// loopback that has not completed after half a second does not complete).
async fn hanging_tcp() -> HangingTcp {
    let s = TcpSocket::new_v4().unwrap();
    s.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = s.listen(1).unwrap();
    let addr = listener.local_addr().unwrap();
    let mut filled = Vec::new();
    for _ in 0..16 {
        match timeout(Duration::from_millis(500), TcpStream::connect(addr)).await {
            Ok(Ok(c)) => filled.push(c),
            Ok(Err(e)) => panic!("connect to the filling listener failed: {e}"),
            Err(_) => {
                return HangingTcp {
                    addr,
                    _listener: listener,
                    _filled: filled,
                };
            }
        }
    }
    panic!("connects to a full listener still complete on this system: the stall cannot be staged");
}

fn listener(address: &str, transport: TransportKind, role: Role) -> Listener {
    Listener {
        address: address.parse().unwrap(),
        transport,
        role,
        advertise: address.to_owned(),
        tls: None,
    }
}

fn out(data: &[u8], dest: SocketAddr, transport: TransportKind) -> Outgoing {
    Outgoing {
        data: data.to_vec(),
        hop: Hop {
            dest,
            listener: 0,
            transport,
            conn: None,
        },
    }
}

async fn wait_for_stats(t: &Transports, what: &str, ok: impl Fn(&TransportStats) -> bool) {
    let deadline = Instant::now() + DEADLINE;
    let mut every = tokio::time::interval(Duration::from_millis(10));
    loop {
        let s = t.stats();
        if ok(&s) {
            return;
        }
        assert!(Instant::now() < deadline, "{what}: stats are {s:?}");
        every.tick().await;
    }
}

/// Receives datagrams until one starts with `prefix`.
async fn recv_starting_with(sock: &UdpSocket, prefix: &str, what: &str) -> (String, SocketAddr) {
    let deadline = Instant::now() + DEADLINE;
    let mut buf = vec![0u8; 65536];
    loop {
        let (n, from) = timeout_at(deadline, sock.recv_from(&mut buf))
            .await
            .unwrap_or_else(|_| panic!("{what}: nothing starting with {prefix:?} arrived"))
            .unwrap();
        let got = String::from_utf8_lossy(&buf[..n]).into_owned();
        if got.starts_with(prefix) {
            return (got, from);
        }
    }
}

/// Reads until the guard closes the connection (EOF or reset), within the deadline.
async fn closed_by_the_guard(c: &mut TcpStream, what: &str) {
    let deadline = Instant::now() + DEADLINE;
    let mut buf = [0u8; 1024];
    loop {
        match timeout_at(deadline, c.read(&mut buf)).await {
            Err(_) => panic!("{what}: the connection is still open"),
            Ok(Ok(0) | Err(_)) => return,
            Ok(Ok(_)) => {}
        }
    }
}

fn options(via: &str, call_id: &str) -> String {
    format!(
        "OPTIONS sip:pbx@example.net SIP/2.0\r\nVia: SIP/2.0/TCP {via};branch=z9hG4bK{call_id}\r\nMax-Forwards: 70\r\n\
From: <sip:100@example.net>;tag={call_id}\r\nTo: <sip:pbx@example.net>\r\nCall-ID: {call_id}\r\nCSeq: 1 OPTIONS\r\n\
Content-Length: 0\r\n\r\n"
    )
}

async fn recv_inbound(rx: &mut mpsc::Receiver<Inbound>, what: &str) -> Inbound {
    timeout(DEADLINE, rx.recv())
        .await
        .unwrap_or_else(|_| panic!("{what}: nothing arrived"))
        .expect("transports running")
}

/// A connection to `to` from the source address `from` (port chosen by the system).
async fn connect_from(from: &str, to: SocketAddr) -> TcpStream {
    let s = TcpSocket::new_v4().unwrap();
    s.bind(format!("{from}:0").parse().unwrap()).unwrap();
    s.connect(to).await.unwrap()
}

#[cfg(target_os = "linux")]
#[tokio::test]
async fn a_tcp_next_hop_that_never_answers_costs_only_its_own_messages() {
    let hang = hanging_tcp().await;
    let udp_peer = UdpSocket::bind("127.0.0.2:0").await.unwrap();
    let tcp_peer = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (tx, _rx) = mpsc::channel(64);
    let limits = TransportLimits {
        // Longer than the test: the stalled connect is still pending when the stats are read.
        connect_timeout: Duration::from_secs(600),
        send_queue: 4,
        ..TransportLimits::default()
    };
    let udp_listener = listener("127.0.0.1:0", TransportKind::Udp, Role::Access);
    let t = Transports::bind(&[udp_listener], limits, tx).await.unwrap();

    // Ten messages to the hanging hop: four wait in its queue, six are dropped and counted.
    for i in 0..10 {
        t.send(out(
            format!("stalled {i}").as_bytes(),
            hang.addr,
            TransportKind::Tcp,
        ));
    }
    let s = t.stats();
    assert_eq!((s.queued, s.dropped), (4, 6), "{s:?}");

    // Sent after them, a datagram and a message to another TCP hop arrive.
    t.send(out(
        b"after the stall",
        udp_peer.local_addr().unwrap(),
        TransportKind::Udp,
    ));
    t.send(out(
        b"to a TCP hop that answers",
        tcp_peer.local_addr().unwrap(),
        TransportKind::Tcp,
    ));
    let (got, _) = recv_starting_with(&udp_peer, "after the stall", "the UDP hop").await;
    assert_eq!(got, "after the stall");
    let (mut c, _) = timeout(DEADLINE, tcp_peer.accept())
        .await
        .expect("the TCP hop that answers is connected")
        .unwrap();
    let mut got = vec![0u8; 25];
    timeout(DEADLINE, c.read_exact(&mut got))
        .await
        .expect("the message reaches the TCP hop that answers")
        .unwrap();
    assert_eq!(got, b"to a TCP hop that answers");

    let s = t.stats();
    assert_eq!(s.connect_failures, 0, "{s:?}");
    assert_eq!(s.dropped, 6, "{s:?}");
    assert_eq!(s.connections, 2, "one connecting, one open: {s:?}");
}

#[cfg(target_os = "linux")]
#[tokio::test]
async fn a_connect_that_times_out_drops_and_counts_what_waited_for_it() {
    let hang = hanging_tcp().await;
    let (tx, _rx) = mpsc::channel(64);
    let limits = TransportLimits {
        connect_timeout: Duration::from_millis(200),
        ..TransportLimits::default()
    };
    let udp_listener = listener("127.0.0.1:0", TransportKind::Udp, Role::Access);
    let t = Transports::bind(&[udp_listener], limits, tx).await.unwrap();
    for i in 0..3 {
        t.send(out(
            format!("m{i}").as_bytes(),
            hang.addr,
            TransportKind::Tcp,
        ));
    }
    wait_for_stats(&t, "the connect fails", |s| s.connect_failures == 1).await;
    let s = t.stats();
    assert_eq!((s.queued, s.dropped, s.connections), (0, 3, 0), "{s:?}");
}

#[cfg(target_os = "linux")]
#[tokio::test]
async fn a_trunk_that_never_answers_a_tcp_connect_does_not_hold_up_other_calls() {
    let hang = hanging_tcp().await;
    let dir = tempfile::tempdir().unwrap();
    let pbx = UdpSocket::bind("127.0.0.2:0").await.unwrap();
    let pbx_addr = pbx.local_addr().unwrap();
    let (access, trunk_side) = (free_udp(), free_udp());
    let cfg = format!(
        "[[listen]]\naddress = \"{access}\"\ntransport = \"udp\"\nrole = \"access\"\n\n\
[[listen]]\naddress = \"{trunk_side}\"\ntransport = \"udp\"\nrole = \"pbx\"\n\n\
[pbx]\naddress = \"{pbx_addr}\"\n\n[trunk]\naddress = \"{}\"\ntransport = \"tcp\"\n",
        hang.addr
    );
    let path = dir.path().join("guard.toml");
    std::fs::write(&path, cfg).unwrap();
    let guard = Guard::start(&path).await.unwrap();
    let mut events = guard.handle().subscribe();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(guard.run(async {
        let _ = stop_rx.await;
    }));

    // The PBX places a call through the trunk: allowed, so the guard forwards it to the hanging trunk.
    let invite = format!(
        "INVITE sip:0312345678@example.net SIP/2.0\r\nVia: SIP/2.0/UDP {pbx_addr};branch=z9hG4bKst1;rport\r\n\
Max-Forwards: 70\r\nFrom: <sip:205@example.net>;tag=st1\r\nTo: <sip:0312345678@example.net>\r\nCall-ID: stall1\r\n\
CSeq: 1 INVITE\r\nContact: <sip:205@{pbx_addr}>\r\nContent-Length: 0\r\n\r\n"
    );
    pbx.send_to(invite.as_bytes(), trunk_side).await.unwrap();
    let deadline = Instant::now() + DEADLINE;
    loop {
        let e = timeout_at(deadline, events.recv())
            .await
            .expect("the call is decided")
            .unwrap();
        if let LiveEvent::Call {
            call_id, verdict, ..
        } = e
            && call_id == "stall1"
        {
            assert_eq!(verdict, "allowed", "the call must go to the trunk");
            break;
        }
    }

    // Then a phone registers on the access side: the REGISTER reaches the PBX.
    let phone = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let me = phone.local_addr().unwrap();
    let register = format!(
        "REGISTER sip:example.net SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bKreg1;rport\r\nMax-Forwards: 70\r\n\
From: <sip:100@example.net>;tag=r1\r\nTo: <sip:100@example.net>\r\nCall-ID: reg1\r\nCSeq: 1 REGISTER\r\n\
Contact: <sip:100@{me}>\r\nUser-Agent: Yealink SIP-T46S\r\nExpires: 300\r\nContent-Length: 0\r\n\r\n"
    );
    phone.send_to(register.as_bytes(), access).await.unwrap();
    let (got, _) = recv_starting_with(
        &pbx,
        "REGISTER ",
        "the phone's REGISTER while the trunk hangs",
    )
    .await;
    assert!(got.contains("Call-ID: reg1"), "{got}");

    let _ = stop_tx.send(());
    let _ = timeout(DEADLINE, running).await;
}

#[cfg(target_os = "linux")]
fn free_udp() -> SocketAddr {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

async fn tcp_transports(
    transport: TransportKind,
    limits: TransportLimits,
    tls: Option<(std::path::PathBuf, std::path::PathBuf)>,
) -> (Transports, SocketAddr, mpsc::Receiver<Inbound>) {
    // A port that is free now; the listener binds it again (the transports do not tell their TCP ports).
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mut l = listener(&addr.to_string(), transport, Role::Access);
    l.tls = tls;
    let (tx, rx) = mpsc::channel(64);
    let t = Transports::bind(&[l], limits, tx).await.unwrap();
    (t, addr, rx)
}

#[tokio::test]
async fn connections_over_the_per_source_cap_are_closed_and_other_sources_still_connect() {
    let limits = TransportLimits {
        max_connections_per_source: 3,
        ..TransportLimits::default()
    };
    let (t, addr, mut rx) = tcp_transports(TransportKind::Tcp, limits, None).await;
    let mut open = Vec::new();
    for _ in 0..3 {
        open.push(connect_from("127.0.0.1", addr).await);
    }
    // Accepted in order: the fourth finds the three others counted.
    let mut fourth = connect_from("127.0.0.1", addr).await;
    closed_by_the_guard(&mut fourth, "the fourth connection from 127.0.0.1").await;
    assert_eq!(t.stats().connections_refused, 1);

    let mut other = connect_from("127.0.0.2", addr).await;
    other
        .write_all(options("127.0.0.2:5060", "o2").as_bytes())
        .await
        .unwrap();
    let m = recv_inbound(&mut rx, "a message from 127.0.0.2").await;
    assert_eq!(m.source, other.local_addr().unwrap());
    // The first three still work.
    open[0]
        .write_all(options("127.0.0.1:5060", "o1").as_bytes())
        .await
        .unwrap();
    let m = recv_inbound(&mut rx, "a message on the first connection").await;
    assert_eq!(m.source, open[0].local_addr().unwrap());
    let s = t.stats();
    assert_eq!((s.connections, s.connections_refused), (4, 1), "{s:?}");

    // A connection closed gives its place back.
    drop(open.pop());
    wait_for_stats(&t, "the closed connection is forgotten", |s| {
        s.connections == 3
    })
    .await;
    let mut again = connect_from("127.0.0.1", addr).await;
    again
        .write_all(options("127.0.0.1:5060", "o3").as_bytes())
        .await
        .unwrap();
    let m = recv_inbound(&mut rx, "a message on the connection that took the place").await;
    assert_eq!(m.source, again.local_addr().unwrap());
}

#[tokio::test]
async fn connections_over_the_total_cap_are_closed_whatever_their_source() {
    let limits = TransportLimits {
        max_connections: 2,
        max_connections_per_source: 2,
        ..TransportLimits::default()
    };
    let (t, addr, _rx) = tcp_transports(TransportKind::Tcp, limits, None).await;
    let _a = connect_from("127.0.0.1", addr).await;
    let _b = connect_from("127.0.0.2", addr).await;
    let mut c = connect_from("127.0.0.3", addr).await;
    closed_by_the_guard(&mut c, "the third connection").await;
    let s = t.stats();
    assert_eq!((s.connections, s.connections_refused), (2, 1), "{s:?}");
}

#[tokio::test]
async fn tls_handshakes_in_progress_count_towards_the_cap() {
    let dir = tempfile::tempdir().unwrap();
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let (cert_p, key_p) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert_p, cert.cert.pem()).unwrap();
    std::fs::write(&key_p, cert.key_pair.serialize_pem()).unwrap();
    let limits = TransportLimits {
        max_connections_per_source: 1,
        ..TransportLimits::default()
    };
    let (t, addr, _rx) = tcp_transports(TransportKind::Tls, limits, Some((cert_p, key_p))).await;
    // A connection that never starts its handshake holds the source's only place.
    let _silent = connect_from("127.0.0.1", addr).await;
    let mut second = connect_from("127.0.0.1", addr).await;
    closed_by_the_guard(
        &mut second,
        "a second connection during the first's handshake",
    )
    .await;
    let s = t.stats();
    assert_eq!((s.connections, s.connections_refused), (1, 1), "{s:?}");
}

#[tokio::test]
async fn an_idle_connection_is_closed() {
    let limits = TransportLimits {
        idle: Duration::from_secs(1),
        ..TransportLimits::default()
    };
    let (t, addr, mut rx) = tcp_transports(TransportKind::Tcp, limits, None).await;
    let mut c = connect_from("127.0.0.1", addr).await;
    c.write_all(options("127.0.0.1:5060", "i1").as_bytes())
        .await
        .unwrap();
    recv_inbound(&mut rx, "a message before going quiet").await;
    closed_by_the_guard(&mut c, "a connection quiet for idle_secs").await;
    wait_for_stats(&t, "the idle connection is counted and forgotten", |s| {
        s.idle_closed == 1 && s.connections == 0
    })
    .await;
}

#[tokio::test]
async fn a_peer_sending_an_endless_header_is_cut_off() {
    let (t, addr, _rx) = tcp_transports(TransportKind::Tcp, TransportLimits::default(), None).await;
    let mut c = connect_from("127.0.0.1", addr).await;
    let line = b"X-Endless: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n";
    c.write_all(b"OPTIONS sip:pbx@example.net SIP/2.0\r\n")
        .await
        .unwrap();
    // Twice the largest message the framer takes; the guard closes the connection on the way (a write may
    // then fail, which ends the sending).
    for _ in 0..(2 * sip::MAX_MESSAGE / line.len()) {
        if c.write_all(line).await.is_err() {
            break;
        }
    }
    closed_by_the_guard(&mut c, "a connection whose header never ends").await;
    wait_for_stats(&t, "the connection is forgotten", |s| s.connections == 0).await;
}

#[test]
fn the_transport_section_has_safe_defaults_and_located_errors() {
    let base = "[[listen]]\naddress = \"127.0.0.1:5060\"\n\n[pbx]\naddress = \"127.0.0.2:5060\"\n";
    let s = Settings::parse(base, Path::new("g.toml")).unwrap();
    assert_eq!(s.transport, TransportLimits::default());
    assert_eq!(s.transport.connect_timeout, Duration::from_secs(3));
    assert_eq!(s.transport.max_connections, 4096);
    assert_eq!(s.transport.max_connections_per_source, 32);
    assert_eq!(s.transport.idle, Duration::from_secs(300));
    assert_eq!(s.transport.send_queue, 1024);
    assert_eq!(
        s.transport.shards,
        guard::transport::default_shards(),
        "one shard per core"
    );

    let set = format!(
        "{base}\n[transport]\nconnect_timeout_ms = 1500\nmax_connections = 100\nmax_connections_per_source = 4\n\
idle_secs = 60\nsend_queue = 256\ninbound_queue = 64\nrecv_buffer = 1048576\nsend_buffer = 524288\n\
receive_threads = 2\nshards = 3\nudp_readers = 2\nmax_wait_ms = 250\n"
    );
    let s = Settings::parse(&set, Path::new("g.toml")).unwrap();
    assert_eq!(
        s.transport,
        TransportLimits {
            connect_timeout: Duration::from_millis(1500),
            max_connections: 100,
            max_connections_per_source: 4,
            idle: Duration::from_secs(60),
            send_queue: 256,
            inbound_queue: 64,
            recv_buffer: 1 << 20,
            send_buffer: 1 << 19,
            receive_threads: 2,
            udp_readers: 2,
            max_wait: Duration::from_millis(250),
            shards: 3,
        }
    );

    let bad = format!(
        "{base}\n[transport]\nmax_connections = 10\nmax_connections_per_source = 11\nidle_secs = 0\n"
    );
    let e = Settings::parse(&bad, Path::new("g.toml")).unwrap_err();
    assert_eq!(e.0.len(), 2, "{e}");
    assert!(
        e.0.iter().any(|x| x.line == 9
            && x.message.contains("max_connections_per_source = 11")
            && x.message.contains("1 to 10")),
        "{e}"
    );
    assert!(
        e.0.iter()
            .any(|x| x.line == 10 && x.message.contains("idle_secs = 0")),
        "{e}"
    );

    let typo = format!("{base}\n[transport]\nidle = 60\n");
    let e = Settings::parse(&typo, Path::new("g.toml")).unwrap_err();
    assert!(
        e.0[0].line == 8 && e.0[0].message.contains("unknown field `idle`"),
        "{e}"
    );
}
