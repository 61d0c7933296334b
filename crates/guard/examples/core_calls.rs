//! Drives calls through the proxy core without sockets — the SIPp bench's call flow (INVITE, 100, 180, 200,
//! ACK, BYE, 200) from the PBX to the carrier, in shadow mode — and prints the core's work per call and its
//! longest single step (one message, or one timer pass). Used to count instructions per call
//! (`valgrind --tool=callgrind`) and to find where the core stalls as its tables grow, without the noise of a
//! load generator on the same cores.
//!
//!     cargo run --release -p guard --example core_calls -- [CALLS] [CPS]
//!
//! Defaults: 100,000 calls at 4,000 calls per second of simulated time (timers run every 250 ms of it).

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use engine::Engine;
use guard::config::TransportKind;
use guard::transport::Inbound;
use guard::{Core, Now, Output, Settings};
use numbering::Numbering;
use sip::{HeaderName, Message};

const CONFIG: &str = r#"
[[listen]]
address = "127.0.0.1:5060"
role = "pbx"
[pbx]
address = "127.0.0.2:5070"
[trunk]
address = "127.0.0.3:5080"
[[tenant]]
name = "bench"
[policy.tenants.bench]
mode = "shadow"
"#;

const PBX: &str = "127.0.0.2:5070";
const CARRIER: &str = "127.0.0.3:5080";
const START: i64 = 1_736_949_600_000;

fn main() {
    let mut args = std::env::args().skip(1);
    let calls: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let cps: u64 = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(4_000)
        .max(1);
    let s = Settings::parse(CONFIG, Path::new("bench.toml")).expect("bench configuration");
    let numbering = Arc::new(Numbering::from_config(&s.numbering).expect("numbering"));
    let engine = Engine::new(s.policy.clone(), numbering.clone());
    let mut core = Core::new(Arc::new(s), engine, numbering);
    let (pbx, carrier): (SocketAddr, SocketAddr) = (PBX.parse().unwrap(), CARRIER.parse().unwrap());
    let mut out = Output::default();
    let mut worst = (Duration::ZERO, String::new());
    let mut next_timer = 0i64;
    let started = Instant::now();
    for n in 0..calls {
        let at = i64::try_from(n * 1000 / cps).unwrap_or(i64::MAX);
        while next_timer <= at {
            let t = Instant::now();
            core.expire(now(next_timer), &mut out);
            note(&mut worst, t.elapsed(), || {
                format!("timers at {next_timer} ms")
            });
            next_timer += 250;
            out = Output::default();
        }
        let t = Instant::now();
        one_call(&mut core, n, now(at), pbx, carrier, &mut out);
        note(&mut worst, t.elapsed(), || format!("call {n}"));
        out.sends.clear();
        out.persist.clear();
    }
    let took = started.elapsed();
    println!(
        "{calls} calls at {cps}/s: {:.1} µs of core per call; longest step {:.1} ms ({}); requests {}, responses {}",
        took.as_secs_f64() * 1e6 / calls as f64,
        worst.0.as_secs_f64() * 1e3,
        worst.1,
        core.stats.requests,
        core.stats.responses,
    );
}

fn note(worst: &mut (Duration, String), took: Duration, what: impl FnOnce() -> String) {
    if took > worst.0 {
        *worst = (took, what());
    }
}

fn now(ms: i64) -> Now {
    Now {
        wall: START + ms,
        engine: START + ms,
    }
}

fn inb(data: String, source: SocketAddr) -> Inbound {
    Inbound {
        data: data.into_bytes(),
        source,
        listener: 0,
        transport: TransportKind::Udp,
        conn: None,
        received: Instant::now(),
    }
}

/// One call of the bench's flow; the carrier's answers are built from what the guard forwarded.
fn one_call(
    core: &mut Core,
    n: u64,
    now: Now,
    pbx: SocketAddr,
    carrier: SocketAddr,
    out: &mut Output,
) {
    let call_id = format!("{n}-bench@127.0.0.2");
    let tag = format!("pbx{n}");
    let invite = format!(
        "INVITE sip:0312345678@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.2:5070;branch=z9hG4bKi{n}\r\n\
From: <sip:{}@127.0.0.2:5070>;tag={tag}\r\nTo: <sip:0312345678@127.0.0.1:5060>\r\nCall-ID: {call_id}\r\n\
CSeq: 1 INVITE\r\nContact: <sip:201@127.0.0.2:5070>\r\nMax-Forwards: 70\r\nUser-Agent: SIPp-bench-uac\r\n\
Content-Length: 0\r\n\r\n",
        200 + n % 1000
    );
    core.on_inbound(&inb(invite, pbx), now, out);
    let Some(fwd) = out.sends.iter().find(|s| s.hop.dest == carrier) else {
        return;
    };
    let fwd = fwd.data.clone();
    out.sends.clear();
    for code in [100, 180, 200] {
        core.on_inbound(&inb(answer(&fwd, code, n), carrier), now, out);
    }
    let Some(ok) = out
        .sends
        .iter()
        .find(|s| s.data.starts_with(b"SIP/2.0 200"))
        .map(|s| s.data.clone())
    else {
        return;
    };
    out.sends.clear();
    let m = Message::parse(&ok).expect("the guard's 200");
    let routes: String = m
        .header_all(HeaderName::RecordRoute)
        .map(|r| format!("Route: {r}\r\n"))
        .collect();
    let to = m.header(HeaderName::To).unwrap_or("");
    for (method, cseq, branch) in [("ACK", 1, "a"), ("BYE", 2, "b")] {
        let req = format!(
            "{method} sip:0312345678@127.0.0.3:5080 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.2:5070;branch=z9hG4bK{branch}{n}\r\n\
{routes}From: <sip:201@127.0.0.2:5070>;tag={tag}\r\nTo: {to}\r\nCall-ID: {call_id}\r\nCSeq: {cseq} {method}\r\n\
Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
        );
        core.on_inbound(&inb(req, pbx), now, out);
    }
    if let Some(bye) = out
        .sends
        .iter()
        .find(|s| s.data.starts_with(b"BYE "))
        .map(|s| s.data.clone())
    {
        core.on_inbound(&inb(answer(&bye, 200, n), carrier), now, out);
    }
}

/// The carrier's answer to a request the guard forwarded.
fn answer(req: &[u8], code: u16, n: u64) -> String {
    let Ok(m) = Message::parse(req) else {
        return String::new();
    };
    let mut s = format!("SIP/2.0 {code} Whatever\r\n");
    for v in m.header_all(HeaderName::Via) {
        s.push_str(&format!("Via: {v}\r\n"));
    }
    for r in m.header_all(HeaderName::RecordRoute) {
        s.push_str(&format!("Record-Route: {r}\r\n"));
    }
    let to = m.header(HeaderName::To).unwrap_or("");
    let to = if code == 100 || to.contains("tag=") {
        to.to_owned()
    } else {
        format!("{to};tag=car{n}")
    };
    s.push_str(&format!(
        "From: {}\r\nTo: {to}\r\nCall-ID: {}\r\nCSeq: {}\r\nContact: <sip:0312345678@127.0.0.3:5080>\r\nContent-Length: 0\r\n\r\n",
        m.header(HeaderName::From).unwrap_or(""),
        m.call_id().unwrap_or(""),
        m.header(HeaderName::CSeq).unwrap_or(""),
    ));
    s
}
