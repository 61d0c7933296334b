//! Overload on real loopback sockets, staged: what matters least is shed first, with 503 and Retry-After
//! (OPTIONS, then REGISTER, then new INVITEs), while an emergency INVITE (110) and the BYE of a call in
//! progress still get in. Two ways to fall behind: a shard's queue that nobody drains (made tiny: 16
//! messages), and a UDP reader that runs datagrams to completion and is stalled by a slow core while a burst
//! waits in its socket (each datagram's wait is told by its kernel timestamp). No timing is asserted: every
//! wait is on a condition with a deadline.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use guard::config::{Listener, Role, TransportKind};
use guard::transport::{Inbound, Inline, TransportLimits, Transports};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::time::{Instant, timeout_at};

/// Long enough for anything on loopback; only reached when something is broken.
const DEADLINE: Duration = Duration::from_secs(10);
const QUEUE: usize = 16;

fn request(method: &str, user: &str, call_id: &str, to_tag: bool) -> Vec<u8> {
    let tag = if to_tag { ";tag=callee" } else { "" };
    format!(
        "{method} sip:{user}@127.0.0.1 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-{call_id}\r\n\
         From: <sip:201@127.0.0.1>;tag=caller\r\n\
         To: <sip:{user}@127.0.0.1>{tag}\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: 2 {method}\r\n\
         Max-Forwards: 70\r\n\
         Content-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

/// Waits until the queue holds `n` messages (the receive task has read everything sent before).
async fn queued(rx: &mpsc::Receiver<Inbound>, n: usize) {
    let deadline = Instant::now() + DEADLINE;
    while rx.len() < n {
        assert!(
            Instant::now() < deadline,
            "{} of {n} messages queued",
            rx.len()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// The next datagram the client receives.
async fn answer(client: &UdpSocket) -> String {
    let mut buf = vec![0u8; 65536];
    let (n, _) = timeout_at(Instant::now() + DEADLINE, client.recv_from(&mut buf))
        .await
        .expect("an answer within the deadline")
        .unwrap();
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

#[tokio::test]
async fn a_full_queue_sheds_options_register_and_new_calls_but_keeps_110_and_bye() {
    let (tx, mut rx) = mpsc::channel(QUEUE);
    let limits = TransportLimits {
        inbound_queue: QUEUE,
        ..TransportLimits::default()
    };
    let l = Listener {
        address: "127.0.0.1:0".parse().unwrap(),
        transport: TransportKind::Udp,
        role: Role::Pbx,
        advertise: "127.0.0.1:5060".into(),
        tls: None,
    };
    let numbering = Arc::new(numbering::Numbering::japan_defaults());
    let t = Transports::bind_with(&[l], limits, tx, Some(numbering))
        .await
        .unwrap();
    let guard: SocketAddr = t.local_udp(0).unwrap();
    let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();

    // The core is stalled: fourteen BYEs of calls in progress fill the queue to seven eighths.
    for i in 0..14 {
        let bye = request("BYE", "0312345678", &format!("busy-{i}"), true);
        client.send_to(&bye, guard).await.unwrap();
    }
    queued(&rx, 14).await;

    // What matters least is shed, each with 503 and Retry-After.
    for (method, user) in [
        ("OPTIONS", "pbx"),
        ("REGISTER", "201"),
        ("INVITE", "0312345678"),
    ] {
        let call_id = format!("shed-{method}");
        client
            .send_to(&request(method, user, &call_id, false), guard)
            .await
            .unwrap();
        let got = answer(&client).await;
        assert!(got.starts_with("SIP/2.0 503 "), "{method}: {got}");
        assert!(got.contains("Retry-After: "), "{method}: {got}");
        assert!(got.contains(&format!("Call-ID: {call_id}\r\n")), "{got}");
    }
    // An emergency call and the BYE of a call in progress still get in, into the last two slots.
    client
        .send_to(&request("INVITE", "110", "emergency", false), guard)
        .await
        .unwrap();
    client
        .send_to(&request("BYE", "0312345678", "in-progress", true), guard)
        .await
        .unwrap();
    queued(&rx, QUEUE).await;

    let mut got = Vec::new();
    while let Ok(m) = rx.try_recv() {
        got.push(String::from_utf8_lossy(&m.data).into_owned());
    }
    assert_eq!(got.len(), QUEUE);
    assert!(got[14].starts_with("INVITE sip:110@"), "{}", got[14]);
    assert!(
        got[15].starts_with("BYE ") && got[15].contains("Call-ID: in-progress\r\n"),
        "{}",
        got[15]
    );
    assert!(
        got.iter().all(|m| !m.contains("Call-ID: shed-")),
        "nothing shed was queued"
    );
    let s = t.shed_stats();
    assert_eq!(
        (s.least, s.registers, s.calls, s.lost, s.answered),
        (1, 1, 1, 0, 3),
        "{s:?}"
    );

    // The ACK of a 503 is absorbed at once, never queued, even with the queue empty again.
    let ack = String::from_utf8(request("ACK", "0312345678", "shed-INVITE", false))
        .unwrap()
        .replace(
            "To: <sip:0312345678@127.0.0.1>",
            "To: <sip:0312345678@127.0.0.1>;tag=tgoverload",
        );
    client.send_to(ack.as_bytes(), guard).await.unwrap();
    // A marker after it shows the ACK was read (datagrams from one socket are read in order).
    client
        .send_to(&request("OPTIONS", "pbx", "marker", false), guard)
        .await
        .unwrap();
    queued(&rx, 1).await;
    let m = rx.try_recv().unwrap();
    assert!(
        String::from_utf8_lossy(&m.data).contains("Call-ID: marker\r\n"),
        "the ACK of the 503 was not queued"
    );
}

/// A UDP listener of the PBX side on a free port.
fn pbx_listener() -> Listener {
    Listener {
        address: "127.0.0.1:0".parse().unwrap(),
        transport: TransportKind::Udp,
        role: Role::Pbx,
        advertise: "127.0.0.1:5060".into(),
        tls: None,
    }
}

#[tokio::test]
async fn datagrams_that_waited_behind_a_stalled_reader_shed_new_calls_but_keep_110_and_bye() {
    let (tx, _rx) = mpsc::channel(QUEUE);
    let numbering = Arc::new(numbering::Numbering::japan_defaults());
    let t = Transports::bind_with(
        &[pbx_listener()],
        TransportLimits::default(),
        tx,
        Some(numbering),
    )
    .await
    .unwrap();
    let guard: SocketAddr = t.local_udp(0).unwrap();
    let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();

    // The core behind the reader: the first message stalls it until `release`; every message it gets is
    // reported on `delivered`.
    let (delivered_tx, delivered) = std::sync::mpsc::channel::<String>();
    let (release, gate) = std::sync::mpsc::channel::<()>();
    let gate = std::sync::Mutex::new(Some(gate));
    let delivered_tx = std::sync::Mutex::new(delivered_tx);
    let inline = Inline {
        deliver: Arc::new(move |m: &Inbound| {
            let text = String::from_utf8_lossy(&m.data).into_owned();
            let _ = delivered_tx.lock().unwrap().send(text);
            if let Some(g) = gate.lock().unwrap().take() {
                let _ = g.recv_timeout(DEADLINE);
            }
        }),
        stop: Arc::new(std::sync::atomic::AtomicBool::new(false)),
    };
    t.run_inline(&inline);
    // The readers take over at their next datagram or timeout: retry until the stalling message is seen.
    let deadline = std::time::Instant::now() + DEADLINE;
    loop {
        let first = request("BYE", "0312345678", "stall", true);
        client.send_to(&first, guard).await.unwrap();
        if let Ok(m) = delivered.recv_timeout(Duration::from_millis(300)) {
            assert!(m.contains("Call-ID: stall\r\n"), "{m}");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the reader never ran a datagram"
        );
    }
    // While the core is stalled, a burst waits in the socket: past 7/8 of the wait budget (350 ms).
    for (method, user, call_id, to_tag) in [
        ("OPTIONS", "pbx", "shed-OPTIONS", false),
        ("REGISTER", "201", "shed-REGISTER", false),
        ("INVITE", "0312345678", "shed-INVITE", false),
        ("INVITE", "110", "emergency", false),
        ("BYE", "0312345678", "in-progress", true),
    ] {
        let m = request(method, user, call_id, to_tag);
        client.send_to(&m, guard).await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    release.send(()).unwrap();

    for method in ["OPTIONS", "REGISTER", "INVITE"] {
        let got = answer(&client).await;
        assert!(got.starts_with("SIP/2.0 503 "), "{method}: {got}");
        assert!(got.contains("Retry-After: "), "{got}");
        assert!(
            got.contains(&format!("Call-ID: shed-{method}\r\n")),
            "{got}"
        );
    }
    let kept: Vec<String> = (0..2)
        .map(|_| delivered.recv_timeout(DEADLINE).expect("kept messages run"))
        .collect();
    assert!(kept[0].starts_with("INVITE sip:110@"), "{}", kept[0]);
    assert!(kept[1].contains("Call-ID: in-progress\r\n"), "{}", kept[1]);
    let s = t.shed_stats();
    assert_eq!((s.least, s.registers, s.calls), (1, 1, 1), "{s:?}");

    // Caught up, a new call that did not wait is taken.
    let deadline = std::time::Instant::now() + DEADLINE;
    loop {
        let call = request("INVITE", "0312345678", "after", false);
        client.send_to(&call, guard).await.unwrap();
        match delivered.recv_timeout(Duration::from_millis(300)) {
            Ok(m) if m.contains("Call-ID: after\r\n") => break,
            _ => assert!(
                std::time::Instant::now() < deadline,
                "new calls never taken again"
            ),
        }
    }
    inline
        .stop
        .store(true, std::sync::atomic::Ordering::Relaxed);
}
