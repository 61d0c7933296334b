//! A fixed-rate load generator for the decision front ends (bench/decide/run.sh runs it):
//!
//! - `http`: `POST /api/v1/decide` over `--conns` keep-alive HTTP/1.1 connections (token in TOLLGUARD_TOKEN);
//! - `redirect`: INVITEs over UDP to a `role = "redirect"` listener, waiting for the 302/603;
//! - `hep`: HEPv3 packets carrying INVITEs to a `role = "hep"` listener (no answer: the server-side histogram
//!   `tollguard_decision_latency_seconds` is the figure).
//!
//! Open model, as wrk2 does (wrk2 is not in Debian; wrk is closed-loop and hides queueing): request `i` is due
//! at `start + i / rate` (or at the times of a Poisson process with `ARRIVALS=poisson`) and is released by a
//! scheduling thread that sleeps until then; its latency counts from its release, whether or not its
//! connection is still busy with an earlier one, so a stalled server is charged for the requests it kept
//! waiting (no coordinated omission). The client is minimal so that its own cost stays out of the figures:
//! one request in flight per connection, bodies written with `format!`, answers read by Content-Length.
//! `SLOW_US=2000` also prints, on stderr, when the answers slower than that were due (ms since the start;
//! HTTP and redirect).
//!
//! Run: `cargo run --release -p tollguard --example decide_load -- http 127.0.0.1:8080 5000 10 4`
//! (front, target, rate per second, seconds, connections). Prints one line: achieved rate, p50, p90, p99,
//! p99.9, max (µs), allowed/refused, errors.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::sync::mpsc;

/// Call-IDs are `load<pid>x<index>`: unique across runs against the same guard (a mirror ignores a Call-ID it
/// has seen, a querier's call is remembered by it).
fn call_id(i: u64) -> String {
    format!("load{}x{i}", std::process::id())
}

/// One due request: its index and when the scheduling thread released it (at its due time, or later if that
/// thread was late).
type Due = (u64, Instant);

#[derive(Default)]
struct Tally {
    latencies_us: Vec<u32>,
    /// With `SLOW_US` set: (ms since the generator started, latency µs) of each answer slower than it.
    slow: Vec<(u32, u32)>,
    allowed: u64,
    refused: u64,
    errors: u64,
}

/// The dialed number of call `i`: mostly domestic, one in ten international (allowed or refused by policy).
fn dialed(i: u64) -> String {
    match i % 10 {
        0 => format!("0101{:09}", 2_125_550_000 + i % 9_000),
        _ => format!("03{:08}", 55_500_000 + i % 40_000_000),
    }
}

/// The population calling: `ACCOUNTS` extensions (default 100) of `TENANTS` tenants (default 1: "acme";
/// more: "t0", "t1", … — the HTTP front end only, the SIP ones are all acme's PBX). Call `i` is placed by
/// account `i % ACCOUNTS` of tenant `(i / ACCOUNTS) % TENANTS`.
fn population() -> (u64, u64) {
    static POPULATION: std::sync::OnceLock<(u64, u64)> = std::sync::OnceLock::new();
    *POPULATION.get_or_init(read_population)
}

fn read_population() -> (u64, u64) {
    let var = |name: &str, default: u64| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
            .filter(|n| *n > 0)
            .unwrap_or(default)
    };
    (var("ACCOUNTS", 100), var("TENANTS", 1))
}

fn account(i: u64) -> u64 {
    200 + i % population().0
}

fn tenant(i: u64) -> String {
    let (accounts, tenants) = population();
    if tenants == 1 {
        "acme".into()
    } else {
        format!("t{}", (i / accounts) % tenants)
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [front, target, rate, secs, rest @ ..] = args.as_slice() else {
        eprintln!("usage: decide_load http|redirect|hep TARGET RATE SECS [CONNS]");
        std::process::exit(2);
    };
    let target: SocketAddr = target.parse().expect("TARGET is ip:port");
    let rate: u64 = rate.parse().expect("RATE is a number");
    let secs: u64 = secs.parse().expect("SECS is a number");
    let conns: usize = rest
        .first()
        .map_or(4, |c| c.parse().expect("CONNS is a number"));
    let total = rate * secs;
    let started = Instant::now();
    let _ = slow_threshold(); // the timeline's epoch
    let tally = match front.as_str() {
        "http" => http(target, rate, total, conns).await,
        "redirect" => redirect(target, rate, total).await,
        "hep" => hep(target, rate, total).await,
        other => panic!("unknown front end {other}"),
    };
    report(front, rate, started.elapsed(), tally);
}

/// Releases `total` requests at `rate` per second into `txs`, round-robin, each at its own due time: evenly
/// spaced (as wrk2 does), or with `ARRIVALS=poisson` as calls arrive at a switch (exponential gaps, so some
/// come in bursts). A thread of its own sleeps until each is due: the runtime's timer ticks every
/// millisecond and would release them in bursts of `rate / 1000`, and the last of each burst would wait for
/// the others.
fn schedule(rate: u64, total: u64, txs: Vec<mpsc::Sender<Due>>) -> std::thread::JoinHandle<()> {
    let poisson = std::env::var("ARRIVALS").is_ok_and(|a| a == "poisson");
    std::thread::spawn(move || {
        let start = Instant::now() + Duration::from_millis(20);
        let mut rng = u64::from(std::process::id()) | 1;
        let mut at = 0f64;
        for i in 0..total {
            let due = start + Duration::from_secs_f64(at);
            let now = Instant::now();
            if due > now {
                std::thread::sleep(due - now);
            }
            if txs[i as usize % txs.len()]
                .blocking_send((i, Instant::now()))
                .is_err()
            {
                return;
            }
            at += if poisson {
                -uniform(&mut rng).ln() / rate as f64
            } else {
                1.0 / rate as f64
            };
        }
    })
}

/// A number in (0, 1] from a xorshift64 generator (the gaps of the Poisson arrivals).
fn uniform(state: &mut u64) -> f64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    ((*state >> 11) + 1) as f64 / (1u64 << 53) as f64
}

async fn http(target: SocketAddr, rate: u64, total: u64, conns: usize) -> Tally {
    let token = std::env::var("TOLLGUARD_TOKEN").expect("TOLLGUARD_TOKEN holds a decider token");
    let mut txs = Vec::new();
    let mut workers = Vec::new();
    for _ in 0..conns {
        let (tx, rx) = mpsc::channel(total as usize);
        txs.push(tx);
        let stream = TcpStream::connect(target).await.expect("connect");
        stream.set_nodelay(true).ok();
        workers.push(tokio::spawn(http_worker(stream, token.clone(), rx)));
    }
    let sched = schedule(rate, total, txs);
    let mut all = Tally::default();
    for w in workers {
        merge(&mut all, w.await.expect("worker"));
    }
    sched.join().ok();
    all
}

async fn http_worker(mut s: TcpStream, token: String, mut rx: mpsc::Receiver<Due>) -> Tally {
    let mut t = Tally::default();
    let mut buf = Vec::with_capacity(4096);
    while let Some((i, due)) = rx.recv().await {
        let body = format!(
            r#"{{"call_id":"{}","tenant":"{}","account":"{}","dialed":"{}"}}"#,
            call_id(i),
            tenant(i),
            account(i),
            dialed(i)
        );
        let req = format!(
            "POST /api/v1/decide HTTP/1.1\r\nHost: tollguard\r\nAuthorization: Bearer {token}\r\n\
Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        if s.write_all(req.as_bytes()).await.is_err() {
            t.errors += 1;
            continue;
        }
        match read_http(&mut s, &mut buf).await {
            Some((200, answer)) => {
                let took = micros_since(due);
                t.latencies_us.push(took);
                note_slow(&mut t, due, took);
                if answer.contains("\"allow\":true") {
                    t.allowed += 1;
                } else {
                    t.refused += 1;
                }
            }
            _ => t.errors += 1,
        }
    }
    t
}

/// Reads one HTTP/1.1 response (status and body) by Content-Length.
async fn read_http(s: &mut TcpStream, buf: &mut Vec<u8>) -> Option<(u16, String)> {
    buf.clear();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = find(buf, b"\r\n\r\n") {
            let head = std::str::from_utf8(&buf[..end]).ok()?;
            let status = head.split(' ').nth(1)?.parse().ok()?;
            let len: usize = head
                .lines()
                .find_map(|l| {
                    let (n, v) = l.split_once(':')?;
                    n.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse().ok())?
                })
                .unwrap_or(0);
            while buf.len() < end + 4 + len {
                let n = s.read(&mut chunk).await.ok().filter(|n| *n > 0)?;
                buf.extend_from_slice(&chunk[..n]);
            }
            let body = String::from_utf8_lossy(&buf[end + 4..end + 4 + len]).into_owned();
            return Some((status, body));
        }
        let n = s.read(&mut chunk).await.ok().filter(|n| *n > 0)?;
        buf.extend_from_slice(&chunk[..n]);
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn invite(i: u64, me: SocketAddr, to: SocketAddr) -> String {
    let (ext, num, id) = (account(i), dialed(i), call_id(i));
    format!(
        "INVITE sip:{num}@{to} SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bK{id}\r\n\
Max-Forwards: 70\r\nFrom: <sip:{ext}@pbx.example>;tag=f{i}\r\nTo: <sip:{num}@carrier.example>\r\n\
Call-ID: {id}\r\nCSeq: 1 INVITE\r\nContact: <sip:{ext}@{me}>\r\nContent-Length: 0\r\n\r\n"
    )
}

async fn redirect(target: SocketAddr, rate: u64, total: u64) -> Tally {
    let sock = Arc::new(UdpSocket::bind("127.0.0.1:0").await.expect("bind"));
    let me = sock.local_addr().expect("local address");
    let sent: Arc<Vec<AtomicU64>> = Arc::new((0..total).map(|_| AtomicU64::new(0)).collect());
    let epoch = Instant::now();
    let reader = tokio::spawn(read_answers(sock.clone(), sent.clone(), epoch, total));
    let (tx, mut rx) = mpsc::channel(total as usize);
    let sched = schedule(rate, total, vec![tx]);
    while let Some((i, due)) = rx.recv().await {
        sent[i as usize].store((due - epoch).as_micros() as u64 + 1, Ordering::Relaxed);
        let _ = sock.send_to(invite(i, me, target).as_bytes(), target).await;
    }
    sched.join().ok();
    match tokio::time::timeout(Duration::from_secs(5), reader).await {
        Ok(Ok(t)) => t,
        _ => Tally {
            errors: total,
            ..Tally::default()
        },
    }
}

/// Reads the redirect server's final answers until every call has one or 2 s pass without any.
async fn read_answers(
    sock: Arc<UdpSocket>,
    sent: Arc<Vec<AtomicU64>>,
    epoch: Instant,
    total: u64,
) -> Tally {
    let mut t = Tally::default();
    let mut buf = vec![0u8; 65_535];
    let mut answered = 0u64;
    let prefix = format!("Call-ID: load{}x", std::process::id());
    while answered < total {
        let Ok(Ok(n)) = tokio::time::timeout(Duration::from_secs(2), sock.recv(&mut buf)).await
        else {
            break;
        };
        let m = String::from_utf8_lossy(&buf[..n]);
        let status: u16 = m
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        if status < 200 {
            continue;
        }
        let Some(i) = m
            .split(&prefix)
            .nth(1)
            .and_then(|r| r.split("\r\n").next().and_then(|n| n.parse::<usize>().ok()))
        else {
            continue;
        };
        let due = sent.get(i).map_or(0, |a| a.swap(0, Ordering::Relaxed));
        if due == 0 {
            continue; // a retransmitted answer
        }
        answered += 1;
        let now = epoch.elapsed().as_micros() as u64;
        let took = now.saturating_sub(due - 1) as u32;
        t.latencies_us.push(took);
        note_slow(&mut t, epoch + Duration::from_micros(due - 1), took);
        match status {
            302 => t.allowed += 1,
            503 => t.errors += 1,
            _ => t.refused += 1,
        }
    }
    t.errors += total - answered;
    t
}

async fn hep(target: SocketAddr, rate: u64, total: u64) -> Tally {
    let sock = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let pbx: SocketAddr = "127.0.0.1:5060".parse().expect("address");
    let (tx, mut rx) = mpsc::channel(total as usize);
    let sched = schedule(rate, total, vec![tx]);
    let mut packet = Vec::with_capacity(1024);
    while let Some((i, _)) = rx.recv().await {
        let sip = invite(i, pbx, target);
        packet.clear();
        let p = hep::Packet {
            version: hep::Version::V3,
            src: pbx,
            dst: "127.0.0.3:5080".parse().expect("address"), // the [trunk] of run.sh
            transport: hep::Transport::Udp,
            timestamp: None,
            capture_id: Some(2001),
            auth_key: None,
            payload_kind: hep::PayloadKind::Sip,
            payload: hep::Payload::Raw(sip.as_bytes()),
            correlation_id: None,
        };
        hep::encode(&p, &mut packet).expect("encode");
        let _ = sock.send_to(&packet, target).await;
    }
    sched.join().ok();
    Tally::default()
}

/// The epoch of the `SLOW_US` timeline and its threshold.
fn slow_threshold() -> Option<(Instant, u32)> {
    static SLOW: std::sync::OnceLock<Option<(Instant, u32)>> = std::sync::OnceLock::new();
    *SLOW.get_or_init(|| {
        let us = std::env::var("SLOW_US").ok()?.parse().ok()?;
        Some((Instant::now(), us))
    })
}

fn note_slow(t: &mut Tally, due: Instant, took: u32) {
    if let Some((epoch, us)) = slow_threshold()
        && took > us
    {
        t.slow.push(((due - epoch).as_millis() as u32, took));
    }
}

fn micros_since(due: Instant) -> u32 {
    due.elapsed().as_micros().min(u128::from(u32::MAX)) as u32
}

fn merge(all: &mut Tally, t: Tally) {
    all.latencies_us.extend(t.latencies_us);
    all.slow.extend(t.slow);
    all.allowed += t.allowed;
    all.refused += t.refused;
    all.errors += t.errors;
}

fn report(front: &str, rate: u64, took: Duration, mut t: Tally) {
    t.latencies_us.sort_unstable();
    print_slow(&mut t.slow);
    let pct = |p: f64| {
        let n = t.latencies_us.len();
        if n == 0 {
            return 0;
        }
        t.latencies_us[((n as f64 * p) as usize).min(n - 1)]
    };
    let done = t.allowed + t.refused;
    println!(
        "{front} offered {rate}/s: {:.0}/s answered, p50 {} µs, p90 {} µs, p99 {} µs, p99.9 {} µs, max {} µs, \
allowed {}, refused {}, errors {}",
        done as f64 / took.as_secs_f64(),
        pct(0.50),
        pct(0.90),
        pct(0.99),
        pct(0.999),
        t.latencies_us.last().copied().unwrap_or(0),
        t.allowed,
        t.refused,
        t.errors
    );
}

/// The `SLOW_US` timeline on stderr: one line per run of slow answers (due within 5 ms of each other).
fn print_slow(slow: &mut [(u32, u32)]) {
    slow.sort_unstable();
    if let Some((epoch, _)) = slow_threshold() {
        // CLOCK_MONOTONIC, to line the timeline up with `perf sched record -k mono`.
        eprintln!("slow: epoch {epoch:?}");
    }
    let mut i = 0;
    while i < slow.len() {
        let (start, mut worst, mut n, mut end) = (slow[i].0, 0, 0, slow[i].0);
        while i < slow.len() && slow[i].0 <= end + 5 {
            (end, worst, n) = (slow[i].0, worst.max(slow[i].1), n + 1);
            i += 1;
        }
        eprintln!("slow: {start} ms .. {end} ms, {n} answers, worst {worst} µs");
    }
}
