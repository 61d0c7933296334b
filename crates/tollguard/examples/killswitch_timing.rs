//! How fast a kill switch bites: the guard and its operator API in this process, a simulated carrier and
//! two tenants' PBXs on loopback UDP (acme on 127.0.0.2, globex on 127.0.0.4). Each PBX holds `CALLS`
//! answered calls to the US (every rule in shadow mode, so that only the kill switch refuses calls) and keeps
//! placing new ones every 2 ms. Then `POST /api/v1/kill-switches` (scope tenant acme, class international)
//! over HTTP, and the clock runs:
//!
//! - API latency: request sent → response received;
//! - first rejected INVITE: the first 403 for acme received by its PBX, from the response's arrival;
//! - last BYE: the last BYE of acme's calls received (by the carrier and by the PBX), from the response;
//! - globex: calls ended (must be 0) and new calls still answered.
//!
//! Run: `cargo run --release -p tollguard --example killswitch_timing -- [rounds]` (bench/killswitch.md).
//! Negative figures mean "before the API call returned": the guard ends the calls before it answers.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

const CALLS: usize = 50;

#[derive(Default)]
struct Seen {
    /// Arrival of every 403 at acme's PBX and of every BYE (carrier or PBX), by tenant.
    rejected_acme: Vec<Instant>,
    byes_acme: Vec<Instant>,
    byes_globex: usize,
    answered_globex_after: usize,
    answered_acme: HashSet<String>,
    answered_globex: HashSet<String>,
}

fn invite(dialed: &str, ext: &str, me: SocketAddr, call_id: &str) -> String {
    format!(
        "INVITE sip:{dialed}@carrier.example SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bK{call_id};rport\r\n\
Max-Forwards: 70\r\nFrom: <sip:{ext}@pbx.example>;tag=f{call_id}\r\nTo: <sip:{dialed}@carrier.example>\r\n\
Call-ID: {call_id}\r\nCSeq: 1 INVITE\r\nContact: <sip:{ext}@{me}>\r\nContent-Length: 0\r\n\r\n"
    )
}

/// A 200 OK to `req` (the sip crate's `ResponseBuilder`: its Vias, From, To with a tag, Call-ID and CSeq),
/// with a Contact.
fn ok(req: &str, me: SocketAddr) -> String {
    let msg = sip::Message::parse(req.as_bytes()).expect("a request");
    let contact = format!("<sip:x@{me}>");
    let mut out = Vec::new();
    sip::ResponseBuilder::new(&msg, 200)
        .to_tag("t1")
        .header("Contact", &contact)
        .write_to(&mut out)
        .expect("a response");
    String::from_utf8(out).expect("ASCII")
}

fn header<'a>(m: &'a str, name: &str) -> &'a str {
    m.split("\r\n")
        .find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix(':')))
        .map(str::trim)
        .unwrap_or("")
}

async fn carrier(sock: Arc<UdpSocket>, seen: Arc<Mutex<Seen>>) {
    let me = sock.local_addr().unwrap();
    let mut buf = vec![0u8; 65_535];
    loop {
        let Ok((n, from)) = sock.recv_from(&mut buf).await else {
            return;
        };
        let at = Instant::now();
        let m = String::from_utf8_lossy(&buf[..n]).into_owned();
        if m.starts_with("INVITE ") {
            let _ = sock.send_to(ok(&m, me).as_bytes(), from).await;
        } else if m.starts_with("BYE ") {
            let acme = header(&m, "Call-ID").starts_with("acme");
            {
                let mut s = seen.lock().unwrap();
                if acme {
                    s.byes_acme.push(at);
                } else {
                    s.byes_globex += 1;
                }
            }
            let _ = sock.send_to(ok(&m, me).as_bytes(), from).await;
        }
    }
}

async fn pbx(
    sock: Arc<UdpSocket>,
    tenant: &'static str,
    seen: Arc<Mutex<Seen>>,
    switched: Arc<Mutex<Option<Instant>>>,
) {
    let me = sock.local_addr().unwrap();
    let mut buf = vec![0u8; 65_535];
    loop {
        let Ok((n, from)) = sock.recv_from(&mut buf).await else {
            return;
        };
        let at = Instant::now();
        let m = String::from_utf8_lossy(&buf[..n]).into_owned();
        let id = header(&m, "Call-ID").to_owned();
        // What to send back is decided under the lock; the lock is released before any await.
        let reply = {
            let mut s = seen.lock().unwrap();
            if m.starts_with("SIP/2.0 200") && header(&m, "CSeq").ends_with("INVITE") {
                let after = switched.lock().unwrap().is_some();
                if tenant == "acme" {
                    s.answered_acme.insert(id.clone());
                } else {
                    if after {
                        s.answered_globex_after += 1;
                    }
                    s.answered_globex.insert(id.clone());
                }
                // ACK to the guard, which record-routes.
                Some(format!(
                    "ACK sip:x@{from} SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bKack{id}\r\nMax-Forwards: 70\r\n\
From: {}\r\nTo: {}\r\nCall-ID: {id}\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n",
                    header(&m, "From"),
                    header(&m, "To")
                ))
            } else if m.starts_with("SIP/2.0 403") && tenant == "acme" {
                s.rejected_acme.push(at);
                None
            } else if m.starts_with("BYE ") {
                if tenant == "acme" {
                    s.byes_acme.push(at);
                } else {
                    s.byes_globex += 1;
                }
                Some(ok(&m, me))
            } else {
                None
            }
        };
        if let Some(r) = reply {
            let _ = sock.send_to(r.as_bytes(), from).await;
        }
    }
}

async fn http_post(addr: SocketAddr, token: &str, path: &str, body: &str) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.set_nodelay(true).unwrap();
    let req = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\n\
Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    // The status line is enough to know that the API answered; read it, then the rest.
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = s.read(&mut buf).await.unwrap();
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
        if out.windows(4).any(|w| w == b"\r\n\r\n") {
            break;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn ms(d: i128) -> String {
    format!("{:.2}", d as f64 / 1e6)
}

fn signed(from: Instant, to: Instant) -> i128 {
    if to >= from {
        (to - from).as_nanos() as i128
    } else {
        -((from - to).as_nanos() as i128)
    }
}

async fn round(n: usize) -> (usize, i128, i128, i128, usize, usize) {
    let dir = tempfile::tempdir().unwrap();
    let carrier_sock = Arc::new(UdpSocket::bind("127.0.0.3:0").await.unwrap());
    let acme_sock = Arc::new(UdpSocket::bind("127.0.0.2:0").await.unwrap());
    let globex_sock = Arc::new(UdpSocket::bind("127.0.0.4:0").await.unwrap());
    let port = std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let cfg = format!(
        "[[listen]]\naddress = \"127.0.0.1:{port}\"\nrole = \"pbx\"\n\n[pbx]\naddress = \"{}\"\n\
[trunk]\naddress = \"{}\"\n\n[[tenant]]\nname = \"acme\"\npbx_sources = [\"127.0.0.2/32\"]\n\n\
[[tenant]]\nname = \"globex\"\npbx_sources = [\"127.0.0.4/32\"]\n\n[store]\npath = \"tg.db\"\n\n\
[policy.defaults]\nmode = \"shadow\"\n\n\
[api]\nlisten = \"127.0.0.1:0\"\n",
        acme_sock.local_addr().unwrap(),
        carrier_sock.local_addr().unwrap()
    );
    let path = dir.path().join("guard.toml");
    std::fs::write(&path, &cfg).unwrap();
    let guard = guard::Guard::start(&path).await.expect("guard starts");
    let handle = guard.handle();
    let api_cfg = api::ApiConfig::from_toml_str(&cfg)
        .expect("api config")
        .expect("[api]");
    let db = dir.path().join("tg.db");
    let token = api::bootstrap_admin(&api_cfg, &db)
        .expect("token")
        .expect("first start");
    let bound = api::bind(api_cfg, handle, db).await.expect("api binds");
    let api_addr = bound.local_addr();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut s1 = stop_rx.clone();
    let mut s2 = stop_rx.clone();
    tokio::spawn(bound.run(async move {
        let _ = s1.wait_for(|s| *s).await;
    }));
    let guard_task = tokio::spawn(guard.run(async move {
        let _ = s2.wait_for(|s| *s).await;
    }));
    let guard_addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let seen = Arc::new(Mutex::new(Seen::default()));
    let switched = Arc::new(Mutex::new(None));
    tokio::spawn(carrier(carrier_sock.clone(), seen.clone()));
    tokio::spawn(pbx(
        acme_sock.clone(),
        "acme",
        seen.clone(),
        switched.clone(),
    ));
    tokio::spawn(pbx(
        globex_sock.clone(),
        "globex",
        seen.clone(),
        switched.clone(),
    ));

    // Establish the calls in progress.
    for i in 0..CALLS {
        for (tenant, sock) in [("acme", &acme_sock), ("globex", &globex_sock)] {
            let me = sock.local_addr().unwrap();
            let msg = invite(
                "01012025550100",
                "201",
                me,
                &format!("{tenant}-held-{n}-{i}"),
            );
            sock.send_to(msg.as_bytes(), guard_addr).await.unwrap();
        }
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        {
            let s = seen.lock().unwrap();
            if s.answered_acme.len() >= CALLS && s.answered_globex.len() >= CALLS {
                break;
            }
        }
        assert!(Instant::now() < deadline, "calls were not answered");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // New calls every 2 ms from both tenants while the switch is pulled.
    let stop_calls = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let placer = {
        let (a, g, stop) = (acme_sock.clone(), globex_sock.clone(), stop_calls.clone());
        tokio::spawn(async move {
            let mut k = 0u32;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                for (tenant, sock) in [("acme", &a), ("globex", &g)] {
                    let me = sock.local_addr().unwrap();
                    let msg = invite("01012025550100", "202", me, &format!("{tenant}-new-{k}"));
                    let _ = sock.send_to(msg.as_bytes(), guard_addr).await;
                }
                k += 1;
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    let body = r#"{"scope":"tenant","tenant":"acme","classes":["international"],"why":"bench: acme's PBX is pumping"}"#;
    let t_req = Instant::now();
    let resp = http_post(api_addr, &token, "/api/v1/kill-switches", body).await;
    let t_ret = Instant::now();
    *switched.lock().unwrap() = Some(t_ret);
    assert!(
        resp.starts_with("HTTP/1.1 200") || resp.starts_with("HTTP/1.1 201"),
        "{resp}"
    );
    // Let the BYEs and rejections arrive, then stop.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let s = seen.lock().unwrap();
        if (s.byes_acme.len() >= 2 * CALLS && !s.rejected_acme.is_empty())
            || Instant::now() > deadline
        {
            break;
        }
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    stop_calls.store(true, std::sync::atomic::Ordering::Relaxed);
    let _ = placer.await;
    let _ = stop_tx.send(true);
    let _ = guard_task.await;
    let s = seen.lock().unwrap();
    let first_reject = s
        .rejected_acme
        .iter()
        .min()
        .map(|t| signed(t_ret, *t))
        .unwrap_or(i128::MAX);
    let last_bye = s
        .byes_acme
        .iter()
        .max()
        .map(|t| signed(t_ret, *t))
        .unwrap_or(i128::MAX);
    assert!(
        s.byes_acme.len() >= 2 * CALLS,
        "every held acme call gets a BYE on both sides: {} BYEs",
        s.byes_acme.len()
    );
    (
        s.byes_acme.len() / 2,
        (t_ret - t_req).as_nanos() as i128,
        first_reject,
        last_bye,
        s.byes_globex,
        s.answered_globex_after,
    )
}

fn main() {
    let rounds: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(5);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    println!(
        "kill switch, scope tenant acme, class international; {CALLS} calls in progress per tenant, new calls every 2 ms"
    );
    println!(
        "{:>5} {:>12} {:>10} {:>26} {:>22} {:>12} {:>22}",
        "round",
        "acme ended",
        "API ms",
        "first 403 after return ms",
        "last BYE after return",
        "globex BYEs",
        "globex answered after"
    );
    for n in 0..rounds {
        let (ended, api, rej, bye, gb, ga) = rt.block_on(round(n));
        println!(
            "{n:>5} {ended:>12} {:>10} {:>26} {:>22} {gb:>12} {ga:>22}",
            ms(api),
            ms(rej),
            ms(bye)
        );
    }
}
