//! One decision layer, four front ends: the same calls, placed through the inline proxy, asked about over SIP
//! redirect and over the HTTP decision API, and mirrored over HEP, get the same verdicts — each on a fresh
//! `tollguard serve` with the same policy and the same clock. The calls are the 2015 incident as a PBX placed
//! them: ordinary domestic calls, then ~30 s calls to Sierra Leone, 110 in the middle, the `#` and `*` tricks.
//!
//! The clock: every guard's engine starts on Saturday 2025-01-18 23:00 JST (off hours) and runs 20 times faster
//! (`[clock]`), so a call held 1.5 s lasts 30 s for the rules. The whole sequence takes a few engine minutes: the
//! hour windows (pumping, refusals per hour, range walking) see every call on every front end, and nothing in
//! the sequence comes near a critical level of a minute window (at most four attempts of an extension in a
//! minute), so no verdict depends on how fast the machine runs the test.

mod common;

use std::io::{Read, Write};
use std::net::{TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use common::*;

/// The PBX's calls, in order: (account, the number as the user pressed it).
const SEQUENCE: &[(&str, &str)] = &[
    ("201", "0312345678"),
    ("201", "0663334444"),
    ("205", "01023276123456"),
    ("205", "01023276123457"),
    ("205", "110"),
    ("205", "#01023276991122"),
    ("205", "01023276123456"),
    ("205", "01023276123457"),
    ("205", "01023276123456"),
    ("201", "0312345678"),
    ("205", "*01023276881133"),
    ("205", "110"),
];

/// What each call gets, on every front end: the 2015 incident with every country allowed and no risk list, so
/// that the behaviour rules must stop it.
fn expected() -> Vec<Verdict> {
    use Verdict::*;
    let refuse = |rule: &str| Refuse(rule.to_owned());
    vec![
        Allow,                 // domestic
        Allow,                 // domestic
        Allow,                 // Sierra Leone, 30 s
        Allow,                 // Sierra Leone, 30 s
        Allow,                 // 110: never refused
        refuse("obfuscated"),  // # pressed first: the 2015 trick
        Allow,                 // Sierra Leone, 30 s (3 alike: pumping warns)
        Allow,                 // Sierra Leone, 30 s (4 alike: pumping critical, ext 205 barred)
        refuse("kill_switch"), // ext 205 barred from international calls
        Allow,                 // ext 201 is not barred
        refuse("kill_switch"), // the * trick, still barred
        Allow,                 // 110 under the bar
    ]
}

/// Milliseconds a call is held once answered: 30 s on the engine's clock.
const HOLD_MS: u64 = 1500;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Verdict {
    Allow,
    /// Refused, by this rule.
    Refuse(String),
}

fn policy() -> String {
    format!(
        r#"
[[tenant]]
name = "acme"
pbx_sources = ["127.0.0.2"]

[clock]
speed = 20.0
start_ms = {SATURDAY_NIGHT}

[api]
listen = "127.0.0.1:0"

[policy.defaults.destinations]
allow_countries = ["*"]
block_risk_at = "never"

# A call is held 1.5 s give or take some ms (more on a busy machine); at 20x, 30 s give or take a few.
[policy.defaults.rules.pumping]
jitter_secs = 10
"#
    )
}

/// The store and log sections that [`config`] (the inline proxy's file) has already.
const STORE_AND_LOG: &str =
    "\n[store]\npath = \"guard.db\"\nsnapshot_secs = 1\n\n[log]\nlevel = \"info\"\n";

fn call_id(front: &str, i: usize) -> String {
    format!("{front}-{i}@127.0.0.2")
}

/// The number as a PBX writes it in a Request-URI: `#` and `*` escaped (RFC 3261 section 25.1).
fn escaped(dialed: &str) -> String {
    dialed.replace('#', "%23").replace('*', "%2A")
}

/// The verdicts the guard's decision stream (its stored alerts) shows for the calls: refused by the first
/// critical decision that blocks the call's attempt (the one the front end answers with), else allowed.
/// Waits until the decision on the last refused call of the sequence (and on `sentinel`, a call placed after
/// it that is refused whatever came before) is stored: the decisions are written in the order they were made,
/// so all the earlier ones are there too.
fn verdicts_from_alerts(g: &Guard, front: &str, sentinel: Option<&str>) -> Vec<Verdict> {
    let last_refused = expected().iter().rposition(|v| *v != Verdict::Allow);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let mut alerts = g
            .db()
            .alerts(&store::AlertFilter {
                limit: 10_000,
                ..Default::default()
            })
            .unwrap();
        alerts.sort_by_key(|a| a.id);
        let verdict = |id: &str| {
            alerts
                .iter()
                .find(|a| {
                    a.decision.call_id.as_deref() == Some(id)
                        && a.decision.level == engine::Level::Critical
                        && !a.decision.shadow
                        && matches!(a.decision.action, engine::Action::Block { .. })
                })
                .map_or(Verdict::Allow, |a| {
                    Verdict::Refuse(a.decision.rule.as_str().to_owned())
                })
        };
        let seen: Vec<Verdict> = (0..SEQUENCE.len())
            .map(|i| verdict(&call_id(front, i)))
            .collect();
        let complete = last_refused.is_none_or(|i| seen[i] != Verdict::Allow)
            && sentinel.is_none_or(|id| verdict(id) != Verdict::Allow);
        if complete {
            return seen;
        }
        assert!(
            Instant::now() < deadline,
            "{front}: the decisions were not stored: {seen:?}\n{alerts:#?}\n{}",
            g.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Whether the guard alerted about traffic pumping by ext 205 (the end of its 4th 30 s call to Sierra Leone).
fn pumping_alerted(g: &Guard) -> bool {
    g.db()
        .alerts(&store::AlertFilter {
            rule: Some("pumping"),
            ..Default::default()
        })
        .unwrap()
        .iter()
        .any(|a| a.decision.level == engine::Level::Critical && a.decision.key().contains("205"))
}

// ---- HTTP, by hand: a request, its status and body ----

fn http(
    api: &str,
    method: &str,
    path: &str,
    token: &str,
    body: &serde_json::Value,
) -> (u16, String) {
    let host = api
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    let mut s = TcpStream::connect(&host).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let body = body.to_string();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n\
Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    let status = answer
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

fn decider_token(g: &Guard) -> String {
    let admin = g.admin_token();
    let out = g.ctl(
        &admin,
        &[
            "token", "create", "--role", "decider", "--tenant", "acme", "--label", "sbc",
        ],
    );
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .find(|w| w.starts_with("tg_"))
        .unwrap_or_else(|| panic!("no decider token: {}", String::from_utf8_lossy(&out.stderr)))
        .to_owned()
}

/// A querier reports an allowed call's answer, holds it, and reports its end (tollguard counts the seconds).
fn report_call(g: &Guard, token: &str, id: &str) {
    let api = g.api_url();
    let (s, b) = http(
        &api,
        "POST",
        &format!("/api/v1/calls/{id}/answered"),
        token,
        &serde_json::json!({}),
    );
    assert_eq!(s, 204, "answered {id}: {b}");
    std::thread::sleep(Duration::from_millis(HOLD_MS));
    let (s, b) = http(
        &api,
        "POST",
        &format!("/api/v1/calls/{id}/ended"),
        token,
        &serde_json::json!({"cause": "normal"}),
    );
    assert_eq!(s, 204, "ended {id}: {b}");
}

// ---- SIP messages of the PBX (127.0.0.2) and the carrier (127.0.0.3) ----

/// A branch or tag made of a Call-ID (whose `@` and `.` a token may not hold).
fn token(id: &str) -> String {
    id.chars().filter(char::is_ascii_alphanumeric).collect()
}

fn invite(id: &str, account: &str, dialed: &str, via: &str, to: &str) -> String {
    let (user, t) = (escaped(dialed), token(id));
    format!(
        "INVITE sip:{user}@{to} SIP/2.0\r\nVia: SIP/2.0/UDP {via};branch=z9hG4bK{t}\r\n\
Max-Forwards: 70\r\nFrom: <sip:{account}@127.0.0.2>;tag=f{t}\r\nTo: <sip:{user}@{to}>\r\n\
Call-ID: {id}\r\nCSeq: 1 INVITE\r\nContact: <sip:{account}@{via}>\r\nUser-Agent: tollguard-test\r\n\
Content-Length: 0\r\n\r\n"
    )
}

fn answer_ok(id: &str, dialed: &str) -> String {
    let (user, t) = (escaped(dialed), token(id));
    format!(
        "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.2:5060;branch=z9hG4bK{t}\r\n\
From: <sip:x@127.0.0.2>;tag=f{t}\r\nTo: <sip:{user}@127.0.0.3:5060>;tag=c{t}\r\nCall-ID: {id}\r\n\
CSeq: 1 INVITE\r\nContact: <sip:{user}@127.0.0.3:5060>\r\nContent-Length: 0\r\n\r\n"
    )
}

fn bye(id: &str, dialed: &str) -> String {
    let (user, t) = (escaped(dialed), token(id));
    format!(
        "BYE sip:{user}@127.0.0.3:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.2:5060;branch=z9hG4bKb{t}\r\n\
Max-Forwards: 70\r\nFrom: <sip:x@127.0.0.2>;tag=f{t}\r\nTo: <sip:{user}@127.0.0.3:5060>;tag=c{t}\r\n\
Call-ID: {id}\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n"
    )
}

// ---- the four front ends ----

/// (1) Inline: SIPp as the PBX places each call through the guard's PBX-side listener to a SIPp carrier.
fn through_inline_proxy() -> (Vec<Verdict>, Vec<Verdict>, bool) {
    let (ga, gp, pbx, car) = guard_ports();
    let g = Guard::start(&config(ga, gp, pbx, car, "udp", &policy()));
    let _carrier = sipp(g.dir.path(), "uas_answer.xml", "127.0.0.3", car, "udp", &[]);
    let target = format!("127.0.0.1:{gp}");
    let mut answered = Vec::new();
    for (i, (account, dialed)) in SEQUENCE.iter().enumerate() {
        let id = call_id("inline", i);
        let trace = g.path(&format!("inline-{i}.log"));
        let t = trace.display().to_string();
        let user = escaped(dialed);
        let hold = HOLD_MS.to_string();
        let mut uac = sipp(
            g.dir.path(),
            "uac_may_be_refused.xml",
            "127.0.0.2",
            free_port("127.0.0.2"),
            "udp",
            &[
                &target,
                "-m",
                "1",
                "-s",
                &user,
                "-key",
                "account",
                account,
                "-cid_str",
                &id,
                "-d",
                &hold,
                "-timeout",
                "20s",
                "-trace_msg",
                "-message_file",
                &t,
            ],
        );
        let status = uac.wait(Duration::from_secs(30));
        let text = std::fs::read_to_string(&trace).unwrap_or_default();
        assert!(
            status.success(),
            "inline call {i} ({dialed}): {text}\n{}",
            g.log()
        );
        let ok = text.lines().any(|l| l.starts_with("SIP/2.0 200"))
            && text.lines().any(|l| l.starts_with("BYE "));
        let refused = text
            .lines()
            .any(|l| l.starts_with("SIP/2.0 403") || l.starts_with("SIP/2.0 603"));
        assert!(
            ok != refused,
            "inline call {i}: answered or refused: {text}"
        );
        answered.push(if ok {
            Verdict::Allow
        } else {
            Verdict::Refuse(String::new())
        });
    }
    let seen = verdicts_from_alerts(&g, "inline", None);
    (answered, seen, pumping_alerted(&g))
}

/// (2) SIP redirect: the PBX's SBC sends each INVITE to the redirect listener and follows the 302 (reporting the
/// answer and end over HTTP, as kamailio-redirect.cfg with kamailio-http.cfg's event routes does) or relays
/// the 603.
fn through_redirect() -> (Vec<Verdict>, Vec<Verdict>, bool) {
    let (rd, car) = (free_port("127.0.0.1"), free_port("127.0.0.3"));
    let cfg = format!(
        r#"[[listen]]
address = "127.0.0.1:{rd}"
transport = "udp"
role = "redirect"

[pbx]
address = "127.0.0.2:5060"
transport = "udp"

[trunk]
address = "127.0.0.3:{car}"
transport = "udp"
{}{STORE_AND_LOG}"#,
        policy()
    );
    let g = Guard::start(&cfg);
    let token = decider_token(&g);
    let sbc = UdpSocket::bind("127.0.0.2:0").unwrap();
    sbc.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let via = sbc.local_addr().unwrap().to_string();
    let mut answered = Vec::new();
    for (i, (account, dialed)) in SEQUENCE.iter().enumerate() {
        let id = call_id("redirect", i);
        let q = invite(&id, account, dialed, &via, &format!("127.0.0.1:{rd}"));
        sbc.send_to(q.as_bytes(), ("127.0.0.1", rd)).unwrap();
        let mut buf = [0u8; 4096];
        let status = loop {
            let n = sbc
                .recv(&mut buf)
                .unwrap_or_else(|e| panic!("redirect call {i}: no answer ({e}): {}", g.log()));
            let text = String::from_utf8_lossy(&buf[..n]).into_owned();
            let code: u16 = text
                .split_whitespace()
                .nth(1)
                .and_then(|c| c.parse().ok())
                .unwrap_or(0);
            if text.contains(&format!("Call-ID: {id}")) && code >= 200 {
                break code;
            }
        };
        match status {
            302 => {
                answered.push(Verdict::Allow);
                report_call(&g, &token, &id);
            }
            603 => answered.push(Verdict::Refuse(String::new())),
            other => panic!("redirect call {i} ({dialed}) answered {other}"),
        }
    }
    let seen = verdicts_from_alerts(&g, "redirect", None);
    (answered, seen, pumping_alerted(&g))
}

/// (3) HTTP: the querier POSTs each call to /api/v1/decide and reports the allowed ones' answer and end.
fn through_http() -> (Vec<Verdict>, Vec<Verdict>, bool) {
    // A guard needs a [pbx] even when only its HTTP front end is used.
    let cfg = format!(
        "[pbx]\naddress = \"127.0.0.2:5060\"\ntransport = \"udp\"\n{}{STORE_AND_LOG}",
        policy()
    );
    let g = Guard::start(&cfg);
    let token = decider_token(&g);
    let mut answered = Vec::new();
    for (i, (account, dialed)) in SEQUENCE.iter().enumerate() {
        let id = call_id("http", i);
        let q = serde_json::json!({
            "call_id": id, "source": "127.0.0.2:5060", "account": account, "caller": account,
            "dialed": dialed, "user_agent": "tollguard-test",
        });
        let (s, b) = http(&g.api_url(), "POST", "/api/v1/decide", &token, &q);
        assert_eq!(s, 200, "decide {q}: {b}");
        let a: serde_json::Value = serde_json::from_str(&b).unwrap();
        assert_eq!(a["source"], "decided", "{a}");
        if a["allow"] == true {
            answered.push(Verdict::Allow);
            report_call(&g, &token, &id);
        } else {
            answered.push(Verdict::Refuse(
                a["rule"].as_str().unwrap_or_default().to_owned(),
            ));
        }
    }
    let seen = verdicts_from_alerts(&g, "http", None);
    (answered, seen, pumping_alerted(&g))
}

fn hep_packet(sip: &str, src: &str, dst: &str) -> Vec<u8> {
    let p = hep::Packet {
        version: hep::Version::V3,
        src: src.parse().unwrap(),
        dst: dst.parse().unwrap(),
        transport: hep::Transport::Udp,
        timestamp: None,
        capture_id: Some(2001),
        auth_key: Some(b"fe-key"),
        payload_kind: hep::PayloadKind::Sip,
        payload: hep::Payload::Raw(sip.as_bytes()),
        correlation_id: None,
    };
    let mut out = Vec::new();
    hep::encode(&p, &mut out).unwrap();
    out
}

/// (4) HEP mirror, observe mode: the SBC carries every call (nothing is refused: tollguard only watches) and a
/// capture agent on 127.0.0.1 sends tollguard a copy of each INVITE, 200 and BYE between the PBX and the
/// carrier. The verdicts are those of the decision stream.
fn through_hep() -> (Vec<Verdict>, Vec<Verdict>, bool) {
    let hp = free_port("127.0.0.1");
    let cfg = format!(
        r#"[[listen]]
address = "127.0.0.1:{hp}"
transport = "udp"
role = "hep"

[hep]
sources = ["127.0.0.1"]
auth_key = "fe-key"

[pbx]
address = "127.0.0.2:5060"
transport = "udp"
{}{STORE_AND_LOG}"#,
        policy()
    );
    let g = Guard::start(&cfg);
    let agent = UdpSocket::bind("127.0.0.1:0").unwrap();
    let (pbx, carrier) = ("127.0.0.2:5060", "127.0.0.3:5060");
    let send = |sip: &str, src: &str, dst: &str| {
        agent
            .send_to(&hep_packet(sip, src, dst), ("127.0.0.1", hp))
            .unwrap();
    };
    for (i, (account, dialed)) in SEQUENCE.iter().enumerate() {
        let id = call_id("hep", i);
        send(&invite(&id, account, dialed, pbx, carrier), pbx, carrier);
        send(&answer_ok(&id, dialed), carrier, pbx);
        std::thread::sleep(Duration::from_millis(HOLD_MS));
        send(&bye(&id, dialed), pbx, carrier);
    }
    // The mirror's packets are read in order, but nothing answers them: a last call that is refused whatever
    // came before (the # trick) marks the end, so that a late decision on the last call is not read as "no
    // decision".
    let sentinel = call_id("hep", SEQUENCE.len());
    send(
        &invite(&sentinel, "205", "#01023276770000", pbx, carrier),
        pbx,
        carrier,
    );
    let seen = verdicts_from_alerts(&g, "hep", Some(&sentinel));
    // Observe mode: the mirror's verdicts are the decision stream's; there is no answer to compare.
    (seen.clone(), seen, pumping_alerted(&g))
}

#[test]
fn the_2015_calls_get_the_same_verdicts_through_all_four_front_ends() {
    if skip_without(&["sipp"]) {
        return;
    }
    let expected = expected();
    assert_eq!(expected.len(), SEQUENCE.len());
    // The four run at once, each with its own guard, ports and clock: the sequence is timed by the calls'
    // holds, not by the machine.
    let runs: Vec<(&str, _)> = std::thread::scope(|s| {
        let fronts = [
            ("inline proxy", through_inline_proxy as fn() -> _),
            ("SIP redirect", through_redirect),
            ("HTTP decision", through_http),
            ("HEP mirror", through_hep),
        ];
        let handles: Vec<_> = fronts
            .into_iter()
            .map(|(front, run)| (front, s.spawn(run)))
            .collect();
        handles
            .into_iter()
            .map(|(front, h)| {
                let out = h
                    .join()
                    .unwrap_or_else(|_| panic!("{front}: the run failed (see above)"));
                (front, out)
            })
            .collect()
    });
    let mut results = Vec::new();
    for (front, (answered, seen, pumping)) in runs {
        println!("{front}: {seen:?}");
        // What the front end answered (the call placed or refused) is what the decision stream says.
        let allowed = |v: &[Verdict]| v.iter().map(|v| *v == Verdict::Allow).collect::<Vec<_>>();
        assert_eq!(
            allowed(&answered),
            allowed(&seen),
            "{front}: the answers differ from the decisions"
        );
        if front == "HTTP decision" {
            assert_eq!(
                answered, seen,
                "{front}: the answer's rule is the decision's"
            );
        }
        assert!(pumping, "{front}: no pumping alert for ext 205");
        results.push((front, seen));
    }
    for (front, seen) in &results {
        let diff: Vec<String> = SEQUENCE
            .iter()
            .zip(seen.iter().zip(&expected))
            .filter(|(_, (s, e))| s != e)
            .map(|((a, d), (s, e))| format!("ext {a} dialing {d}: {s:?}, expected {e:?}"))
            .collect();
        assert!(
            diff.is_empty(),
            "{front} decided differently:\n{}\nall front ends: {results:#?}",
            diff.join("\n")
        );
    }
}
