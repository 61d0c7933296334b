//! The control handle of a running guard over real UDP sockets on loopback: calls in progress, the live
//! event stream, a kill switch written to the store and applied at once by `sync_store` (the call in
//! progress gets its BYE before the command returns, new international calls are refused, an emergency call
//! still passes), status, per-account counters, ending one call, policy reload.

use std::net::SocketAddr;
use std::time::Duration;

use engine::{BarScope, ClassSet, KillSwitch};
use guard::{Guard, LiveEvent};

mod net;
use net::answer;
use tokio::net::UdpSocket;
use tokio::sync::broadcast;

fn free_udp() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn invite(dialed: &str, ext: &str, pbx: SocketAddr, call_id: &str) -> String {
    format!(
        "INVITE sip:{dialed}@carrier.example SIP/2.0\r\n\
Via: SIP/2.0/UDP {pbx};branch=z9hG4bK{call_id};rport\r\n\
Max-Forwards: 70\r\n\
From: <sip:{ext}@pbx.example>;tag=f{call_id}\r\n\
To: <sip:{dialed}@carrier.example>\r\n\
Call-ID: {call_id}\r\n\
CSeq: 1 INVITE\r\n\
Contact: <sip:{ext}@{pbx}>\r\n\
Content-Length: 0\r\n\r\n"
    )
}

async fn recv(sock: &UdpSocket, what: &str) -> (String, SocketAddr) {
    let mut buf = vec![0u8; 65_535];
    let (n, from) = tokio::time::timeout(Duration::from_secs(10), sock.recv_from(&mut buf))
        .await
        .unwrap_or_else(|_| panic!("waited 10 s for {what}"))
        .unwrap();
    (String::from_utf8_lossy(&buf[..n]).into_owned(), from)
}

/// The next message on `sock` whose first line starts with `start` (100 Trying and the like are skipped).
async fn recv_starting(sock: &UdpSocket, start: &str) -> (String, SocketAddr) {
    loop {
        let (m, from) = recv(sock, start).await;
        if m.starts_with(start) {
            return (m, from);
        }
    }
}

async fn next_event(
    rx: &mut broadcast::Receiver<LiveEvent>,
    want: impl Fn(&LiveEvent) -> bool,
) -> LiveEvent {
    loop {
        let e = tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .expect("waited 10 s for a live event")
            .expect("the live stream stays open");
        if want(&e) {
            return e;
        }
    }
}

#[tokio::test]
async fn operators_see_calls_and_a_kill_switch_ends_them_before_the_command_returns() {
    let dir = tempfile::tempdir().unwrap();
    let pbx = UdpSocket::bind("127.0.0.2:0").await.unwrap();
    let pbx_addr = pbx.local_addr().unwrap();
    let carrier = UdpSocket::bind("127.0.0.3:0").await.unwrap();
    let carrier_addr = carrier.local_addr().unwrap();
    let port = free_udp();
    let db = dir.path().join("tollguard.db");
    let cfg = format!(
        "[[listen]]\naddress = \"127.0.0.1:{port}\"\nrole = \"pbx\"\n\n[pbx]\naddress = \"{pbx_addr}\"\n\
[trunk]\naddress = \"{carrier_addr}\"\n\n[[tenant]]\nname = \"acme\"\n\n[store]\npath = \"{}\"\n\n\
[api]\nlisten = \"127.0.0.1:0\"\n",
        db.display()
    );
    let path = dir.path().join("guard.toml");
    std::fs::write(&path, cfg).unwrap();
    let guard = Guard::start(&path).await.unwrap();
    let handle = guard.handle();
    let mut events = handle.subscribe();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(guard.run(async {
        let _ = stop_rx.await;
    }));
    let guard_addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();

    // A domestic call from ext 201, answered by the carrier.
    pbx.send_to(
        invite("0312345678", "201", pbx_addr, "call-1").as_bytes(),
        guard_addr,
    )
    .await
    .unwrap();
    let (fwd, from) = recv_starting(&carrier, "INVITE ").await;
    carrier
        .send_to(answer(&fwd, 200, carrier_addr).as_bytes(), from)
        .await
        .unwrap();
    recv_starting(&pbx, "SIP/2.0 200").await;
    let e = next_event(&mut events, |e| matches!(e, LiveEvent::Call { .. })).await;
    let LiveEvent::Call {
        tenant,
        account,
        verdict,
        e164,
        ..
    } = e
    else {
        unreachable!()
    };
    assert_eq!(
        (tenant.as_str(), account.as_str(), verdict.as_str()),
        ("acme", "201", "allowed")
    );
    assert_eq!(e164.as_deref(), Some("+81312345678"));
    next_event(&mut events, |e| matches!(e, LiveEvent::CallAnswered { .. })).await;

    let calls = handle.calls(None).await.unwrap();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].call_id, "call-1");
    assert!(calls[0].answered.is_some());
    assert!(
        handle
            .calls(Some("globex".into()))
            .await
            .unwrap()
            .is_empty(),
        "another tenant sees none of acme's calls"
    );
    assert!(
        !handle
            .end_call("call-1".into(), Some("globex".into()), "test".into())
            .await
            .unwrap(),
        "another tenant cannot end acme's call"
    );
    let accounts = handle.accounts(Some("acme".into())).await.unwrap();
    assert!(
        accounts.iter().any(|a| a.account == "201"),
        "counters of ext 201: {accounts:?}"
    );

    // An operator bars acme from paid destinations: written to the store, then applied at once.
    let store = store::Store::open(&db).unwrap();
    store
        .put_kill_switch(&KillSwitch {
            id: 0,
            scope: BarScope::Tenant {
                tenant: "acme".into(),
            },
            classes: ClassSet::ALL_EXTERNAL,
            since: 0,
            by: "token:ops1".into(),
            why: "PBX compromised".into(),
        })
        .unwrap();
    let report = handle.sync_store().await.unwrap();
    assert_eq!(report.kill_switches_set, 1);
    assert_eq!(report.calls_ended, vec!["call-1".to_string()]);
    // The BYEs were sent before the command returned: they are already on their way.
    let (bye, _) = recv_starting(&carrier, "BYE ").await;
    assert!(bye.contains("Call-ID: call-1"));
    assert!(bye.contains("PBX compromised"), "the reason travels: {bye}");
    let (bye, _) = recv_starting(&pbx, "BYE ").await;
    assert!(bye.contains("Call-ID: call-1"));
    let ended = next_event(&mut events, |e| matches!(e, LiveEvent::CallEnded { .. })).await;
    assert!(matches!(ended, LiveEvent::CallEnded { by_guard: true, .. }));
    assert!(handle.calls(None).await.unwrap().is_empty());

    // New calls in the barred scope are refused...
    pbx.send_to(
        invite("01023276123456", "205", pbx_addr, "call-2").as_bytes(),
        guard_addr,
    )
    .await
    .unwrap();
    let (refused, _) = recv_starting(&pbx, "SIP/2.0 4").await;
    assert!(refused.contains("Call-ID: call-2"), "{refused}");
    let e = next_event(&mut events, |e| matches!(e, LiveEvent::Call { .. })).await;
    assert!(
        matches!(&e, LiveEvent::Call { verdict, sip_status, reason: Some(_), .. } if verdict == "blocked" && *sip_status >= 400),
        "{e:?}"
    );
    // ...but an emergency call still goes through.
    pbx.send_to(
        invite("110", "203", pbx_addr, "call-3").as_bytes(),
        guard_addr,
    )
    .await
    .unwrap();
    let (fwd, _) = recv_starting(&carrier, "INVITE ").await;
    assert!(fwd.contains("Call-ID: call-3"));
    let e = next_event(&mut events, |e| matches!(e, LiveEvent::Call { .. })).await;
    assert!(
        matches!(&e, LiveEvent::Call { verdict, .. } if verdict == "emergency"),
        "{e:?}"
    );

    let status = handle.status().await.unwrap();
    assert_eq!(status.kill_switches.len(), 1);
    assert!(status.stats.calls_decided >= 3);
    assert!(status.stats.calls_blocked >= 1);

    // Lifted in the store, lifted in the guard.
    assert_eq!(
        store
            .lift_kill_switches(
                &BarScope::Tenant {
                    tenant: "acme".into()
                },
                None,
                1,
                "token:ops1"
            )
            .unwrap(),
        1
    );
    let report = handle.sync_store().await.unwrap();
    assert_eq!(report.kill_switches_lifted, 1);
    assert!(handle.status().await.unwrap().kill_switches.is_empty());
    handle.reload_policy().await.unwrap();

    let _ = stop_tx.send(());
    running.await.unwrap();
    assert!(
        handle.status().await.is_err(),
        "a stopped guard answers no more"
    );
}

/// The decision latency histogram counts each outbound INVITE decided exactly once — an allowed call and a
/// blocked one, not a retransmission, not an OPTIONS — and its buckets are cumulative up to that count.
#[tokio::test]
async fn decision_latency_counts_each_invite_decided_once() {
    let dir = tempfile::tempdir().unwrap();
    let pbx = UdpSocket::bind("127.0.0.2:0").await.unwrap();
    let pbx_addr = pbx.local_addr().unwrap();
    let carrier = UdpSocket::bind("127.0.0.3:0").await.unwrap();
    let carrier_addr = carrier.local_addr().unwrap();
    let port = free_udp();
    let cfg = format!(
        "[[listen]]\naddress = \"127.0.0.1:{port}\"\nrole = \"pbx\"\n\n[pbx]\naddress = \"{pbx_addr}\"\n\
[trunk]\naddress = \"{carrier_addr}\"\n\n[[tenant]]\nname = \"acme\"\n"
    );
    let path = dir.path().join("guard.toml");
    std::fs::write(&path, cfg).unwrap();
    let guard = Guard::start(&path).await.unwrap();
    let handle = guard.handle();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(guard.run(async {
        let _ = stop_rx.await;
    }));
    let guard_addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    assert_eq!(handle.decision_latency().count(), 0);

    // A domestic call, forwarded to the carrier...
    let call = invite("0312345678", "201", pbx_addr, "lat-1");
    pbx.send_to(call.as_bytes(), guard_addr).await.unwrap();
    recv_starting(&carrier, "INVITE ").await;
    // ...its retransmission (same branch: not decided again), an OPTIONS (not a call)...
    pbx.send_to(call.as_bytes(), guard_addr).await.unwrap();
    let options = format!(
        "OPTIONS sip:carrier.example SIP/2.0\r\n\
Via: SIP/2.0/UDP {pbx_addr};branch=z9hG4bKopt1;rport\r\n\
Max-Forwards: 70\r\n\
From: <sip:201@pbx.example>;tag=o1\r\n\
To: <sip:carrier.example>\r\n\
Call-ID: opt-1\r\n\
CSeq: 1 OPTIONS\r\n\
Content-Length: 0\r\n\r\n"
    );
    pbx.send_to(options.as_bytes(), guard_addr).await.unwrap();
    // ...and Sierra Leone, refused by the default policy. The guard reads one socket in order: once this
    // refusal is back, the two messages before it have been handled.
    pbx.send_to(
        invite("01023276123456", "205", pbx_addr, "lat-2").as_bytes(),
        guard_addr,
    )
    .await
    .unwrap();
    let (refused, _) = recv_starting(&pbx, "SIP/2.0 403").await;
    assert!(refused.contains("Call-ID: lat-2"), "{refused}");

    let snap = handle.decision_latency();
    let status = handle.status().await.unwrap();
    assert_eq!(status.stats.calls_decided, 2);
    assert_eq!(snap.count(), 2, "{snap:?}");
    let buckets = snap.cumulative();
    assert_eq!(buckets.len(), guard::latency::BOUNDED_BUCKETS + 1);
    assert!(
        buckets
            .windows(2)
            .all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1),
        "bounds ascending, counts cumulative: {buckets:?}"
    );
    assert_eq!(buckets.last().copied(), Some((f64::INFINITY, 2)));
    assert_eq!(snap.per_bucket().iter().map(|b| b.1).sum::<u64>(), 2);
    assert!(snap.sum_seconds.is_finite() && snap.sum_seconds >= 0.0);

    let _ = stop_tx.send(());
    running.await.unwrap();
}
