//! The worst attacks of tests/adversary.rs again, through a running `Guard` on loopback sockets: the guard's
//! listeners on 127.0.0.1 (UDP `access`, `pbx` and `carrier`), a fake PBX on 127.0.0.2, a fake carrier on
//! 127.0.0.3, attackers on other 127.x addresses (any of them binds on Linux).
//!
//! No sleeps and no timing: "nothing reached the carrier" is proven by a legitimate sentinel sent after the
//! attack (the PBX's OPTIONS through the `pbx` listener, which the guard forwards to the trunk) that must be the
//! first datagram the carrier receives. The guard reads each socket in order and sends UDP at once, and every
//! attack is fenced (its answer received, or the guard's counters seen to move) before the sentinel goes, so a
//! forwarded attack would arrive before it.

#![cfg(target_os = "linux")]

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::time::{Instant, timeout_at};

/// Long enough for anything on loopback; only reached when something is broken.
mod net;
use net::{DEADLINE, Party};

/// The international number of the 2015 fraud (Sierra Leone), dialled with Japan's international prefix.
const PREMIUM: &str = "010232761234567";

/// A running guard and its listeners.
struct Running {
    _dir: tempfile::TempDir,
    access: SocketAddr,
    pbx_side: SocketAddr,
    carrier_side: SocketAddr,
    live: net::Live,
}

impl Running {
    /// Starts a guard for this PBX and carrier; `tenant` is the `[[tenant]]` section (may be empty).
    async fn start(pbx: SocketAddr, carrier: SocketAddr, tenant: &str) -> Running {
        // Held together so that the three free ports differ.
        let socks: Vec<std::net::UdpSocket> = (0..3)
            .map(|_| std::net::UdpSocket::bind("127.0.0.1:0").unwrap())
            .collect();
        let ports: Vec<SocketAddr> = socks.iter().map(|s| s.local_addr().unwrap()).collect();
        drop(socks);
        let (access, pbx_side, carrier_side) = (ports[0], ports[1], ports[2]);
        let cfg = format!(
            "[[listen]]\naddress = \"{access}\"\nrole = \"access\"\n\n\
[[listen]]\naddress = \"{pbx_side}\"\nrole = \"pbx\"\n\n\
[[listen]]\naddress = \"{carrier_side}\"\nrole = \"carrier\"\n\n\
[pbx]\naddress = \"{pbx}\"\n\n[trunk]\naddress = \"{carrier}\"\n\n{tenant}\n"
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("guard.toml");
        std::fs::write(&path, cfg).unwrap();
        let live = net::Live::start(&path).await;
        Running {
            _dir: dir,
            access,
            pbx_side,
            carrier_side,
            live,
        }
    }

    async fn stop(self) {
        self.live.stop().await;
    }
}

impl Party {
    /// The first response of the transaction with this Call-ID (provisional or final).
    async fn answer(&self, call_id: &str, what: &str) -> String {
        self.recv_until(what, |m| {
            m.starts_with("SIP/2.0 ") && call_id_of(m) == call_id
        })
        .await
        .1
    }
}

fn call_id_of(m: &str) -> String {
    sip::Message::parse(m.as_bytes())
        .ok()
        .and_then(|m| m.call_id().map(str::to_owned))
        .unwrap_or_default()
}

fn status_of(m: &str) -> u16 {
    m.split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// A request from `me`; `extra` are header lines (each ending in CRLF), `to_tag` makes it in-dialog.
fn request(
    method: &str,
    ruri: &str,
    me: SocketAddr,
    call_id: &str,
    extra: &str,
    to_tag: Option<&str>,
) -> String {
    let to_user = ruri.trim_start_matches("sip:");
    let to_tag = to_tag.map(|t| format!(";tag={t}")).unwrap_or_default();
    format!(
        "{method} {ruri} SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bK{call_id};rport\r\n{extra}Max-Forwards: 70\r\n\
From: <sip:205@example.net>;tag=ph{call_id}q\r\nTo: <sip:{to_user}>{to_tag}\r\nCall-ID: {call_id}\r\n\
CSeq: 1 {method}\r\nContact: <sip:205@{me}>\r\nUser-Agent: Yealink SIP-T46S 66.85.0.5\r\nContent-Length: 0\r\n\r\n"
    )
}

/// The sentinel that must reach the carrier: the PBX's OPTIONS to the trunk through the `pbx` listener.
async fn carrier_sentinel(g: &Running, pbx: &Party, carrier: &Party, call_id: &str) {
    let m = request(
        "OPTIONS",
        &format!("sip:{}", carrier.addr),
        pbx.addr,
        call_id,
        "",
        None,
    );
    pbx.send(&m, g.pbx_side).await;
    let (before, got) = carrier
        .recv_until("the PBX's sentinel at the carrier", |_| true)
        .await;
    assert!(before.is_empty());
    assert!(
        got.starts_with("OPTIONS ") && call_id_of(&got) == call_id,
        "the first datagram at the carrier is not the sentinel but:\n{got}"
    );
}

/// The sentinel that must reach the PBX: a phone's request through the `access` listener. Returns what
/// the PBX received before it.
async fn pbx_sentinel(g: &Running, phone: &Party, pbx: &Party, call_id: &str) -> Vec<String> {
    let m = request(
        "OPTIONS",
        "sip:201@example.net",
        phone.addr,
        call_id,
        "",
        None,
    );
    phone.send(&m, g.access).await;
    pbx.recv_until("the phone's sentinel at the PBX", |m| {
        m.starts_with("OPTIONS ") && call_id_of(m) == call_id
    })
    .await
    .0
}

#[tokio::test]
async fn relay_to_the_carrier_through_a_running_guard_never_reaches_it() {
    let (pbx, carrier) = (Party::on("127.0.0.2").await, Party::on("127.0.0.3").await);
    let g = Running::start(pbx.addr, carrier.addr, "").await;
    let c = carrier.addr;
    let own = g.access;
    // One attacker address per attack: a ban earned by one attack must not hide the next.
    let cases = [
        (
            "127.0.0.66",
            "route",
            format!("Route: <sip:{c};lr>\r\n"),
            None,
            403,
        ),
        ("127.0.0.67", "to-tag", String::new(), Some("x1"), 481),
        (
            "127.0.0.68",
            "request-uri behind our own route",
            format!("Route: <sip:{own};lr>\r\n"),
            None,
            100,
        ),
        (
            "127.0.0.69",
            "our route, then the carrier's",
            format!("Route: <sip:{own};lr>, <sip:{c};lr>\r\n"),
            None,
            403,
        ),
    ];
    let mut attackers = Vec::new();
    for (i, (ip, _, route, tag, _)) in cases.iter().enumerate() {
        let attacker = Party::on(ip).await;
        let m = request(
            "INVITE",
            &format!("sip:{PREMIUM}@{c}"),
            attacker.addr,
            &format!("relay{i}"),
            route,
            *tag,
        );
        attacker.send(&m, g.access).await;
        attackers.push(attacker);
    }
    // Fence: the guard has handled the four attacks.
    g.live
        .wait_status("the attacks are handled", |s| s.stats.requests >= 4)
        .await;
    // Without the trust model the first two go to the carrier by Route / by the Request-URI of a "dialog",
    // the last by the Route behind ours; the third may go to the PBX only, which decides nothing.
    carrier_sentinel(&g, &pbx, &carrier, "sentinel-relay").await;
    for (i, (attacker, (_, what, _, _, expect))) in attackers.iter().zip(&cases).enumerate() {
        let a = attacker.answer(&format!("relay{i}"), what).await;
        assert_eq!(status_of(&a), *expect, "{what}:\n{a}");
    }
    let (_, at_pbx) = pbx
        .recv_until("the third attack at the PBX", |m| {
            m.starts_with("INVITE ") && call_id_of(m) == "relay2"
        })
        .await;
    assert!(at_pbx.starts_with(&format!("INVITE sip:{PREMIUM}@{c} ")));
    assert_eq!(g.live.status().await.stats.calls_decided, 0);
    g.stop().await;
}

#[tokio::test]
async fn a_running_guard_is_no_open_proxy_to_a_third_address() {
    let (pbx, carrier) = (Party::on("127.0.0.2").await, Party::on("127.0.0.3").await);
    let third = Party::on("127.0.0.5").await;
    let g = Running::start(pbx.addr, carrier.addr, "").await;
    let t = third.addr;
    let own = g.access;
    let cases = [
        (
            "127.0.0.70",
            "OPTIONS",
            "route to the third address",
            format!("Route: <sip:{t};lr>\r\n"),
            None,
            403,
        ),
        (
            "127.0.0.71",
            "MESSAGE",
            "in-dialog to the third address behind our route",
            format!("Route: <sip:{own};lr>\r\n"),
            Some("9"),
            481,
        ),
        (
            "127.0.0.72",
            "INVITE",
            "request-uri at the third address",
            String::new(),
            None,
            100,
        ),
    ];
    let mut attackers = Vec::new();
    for (i, (ip, method, _, route, tag, _)) in cases.iter().enumerate() {
        let attacker = Party::on(ip).await;
        let m = request(
            method,
            &format!("sip:x@{t}"),
            attacker.addr,
            &format!("open{i}"),
            route,
            *tag,
        );
        attacker.send(&m, g.access).await;
        attackers.push(attacker);
    }
    g.live
        .wait_status("the attacks are handled", |s| s.stats.requests >= 3)
        .await;
    // The third address's own sentinel: a BYE of no dialog, answered 481 by the guard. Without the defence
    // the route or the Request-URI of the attacks would have sent them there before it.
    let m = request(
        "BYE",
        "sip:x@example.net",
        t,
        "sentinel-third",
        "",
        Some("nodialog"),
    );
    third.send(&m, g.access).await;
    let (before, got) = third
        .recv_until("the 481 at the third address", |_| true)
        .await;
    assert!(before.is_empty());
    assert!(
        got.starts_with("SIP/2.0 481") && call_id_of(&got) == "sentinel-third",
        "the first datagram at the third address is not the guard's answer to its own BYE:\n{got}"
    );
    for (i, (attacker, (_, _, what, _, _, expect))) in attackers.iter().zip(&cases).enumerate() {
        let a = attacker.answer(&format!("open{i}"), what).await;
        assert_eq!(status_of(&a), *expect, "{what}:\n{a}");
    }
    g.stop().await;
}

#[tokio::test]
async fn outsiders_on_the_pbx_and_carrier_listeners_get_403_with_a_reason_and_nothing_passes() {
    let (pbx, carrier) = (Party::on("127.0.0.2").await, Party::on("127.0.0.3").await);
    let g = Running::start(pbx.addr, carrier.addr, "").await;
    // An outsider posing as the PBX sends the international call to the pbx listener; another, posing as
    // the carrier, an inbound call to the carrier listener.
    let a = Party::on("127.0.0.66").await;
    let m = request(
        "INVITE",
        &format!("sip:{PREMIUM}@example.net"),
        a.addr,
        "outsider-pbx",
        "",
        None,
    );
    a.send(&m, g.pbx_side).await;
    let b = Party::on("127.0.0.68").await;
    let m = request(
        "INVITE",
        "sip:0312345678@example.net",
        b.addr,
        "outsider-carrier",
        "",
        None,
    );
    b.send(&m, g.carrier_side).await;
    g.live
        .wait_status("the two requests are handled", |s| s.stats.requests >= 2)
        .await;
    // Routed by the listener's role alone (pbx → trunk, carrier → PBX) the first would reach the carrier and the
    // second the PBX; without the source check they would get no 403 (checked below).
    carrier_sentinel(&g, &pbx, &carrier, "sentinel-outsiders").await;
    let r = a.answer("outsider-pbx", "the pbx listener's refusal").await;
    assert!(r.starts_with("SIP/2.0 403"), "{r}");
    assert!(r.contains("\r\nReason: ") && r.contains("not a PBX"), "{r}");
    let r = b
        .answer("outsider-carrier", "the carrier listener's refusal")
        .await;
    assert!(r.starts_with("SIP/2.0 403"), "{r}");
    assert!(
        r.contains("\r\nReason: ") && r.contains("not the carrier"),
        "{r}"
    );
    // The carrier itself still reaches the PBX through its listener, and that is the PBX's first datagram.
    let m = request(
        "INVITE",
        "sip:0312345678@example.net",
        carrier.addr,
        "carrier-in",
        "",
        None,
    );
    carrier.send(&m, g.carrier_side).await;
    let (before, got) = pbx
        .recv_until("the carrier's call at the PBX", |_| true)
        .await;
    assert!(before.is_empty());
    assert!(
        got.starts_with("INVITE ") && call_id_of(&got) == "carrier-in",
        "the first datagram at the PBX is not the carrier's call:\n{got}"
    );
    assert_eq!(g.live.status().await.stats.refused_source, 2);
    g.stop().await;
}

#[tokio::test]
async fn a_forged_response_is_not_reflected_to_the_carrier_or_the_pbx() {
    let (pbx, carrier) = (Party::on("127.0.0.2").await, Party::on("127.0.0.3").await);
    let g = Running::start(pbx.addr, carrier.addr, "").await;
    let a = Party::on("127.0.0.66").await;
    let mut sent = 0;
    for (victim, vname) in [(carrier.addr, "carrier"), (pbx.addr, "pbx")] {
        for listener in [g.access, g.pbx_side, g.carrier_side] {
            // Anyone can write a Via naming the guard over a Via naming the victim.
            let r = format!(
                "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP {listener};branch=z9hG4bKtg0000000000{sent:02}\r\n\
Via: SIP/2.0/UDP {victim};branch=z9hG4bKv{sent};received={};rport={}\r\nFrom: <sip:a@example.net>;tag=1\r\n\
To: <sip:{PREMIUM}@example.net>;tag=2\r\nCall-ID: refl-{vname}-{sent}\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n",
                victim.ip(),
                victim.port()
            );
            a.send(&r, listener).await;
            sent += 1;
        }
    }
    // Fence: the guard has dropped all of them (a response gets no answer).
    g.live
        .wait_status("the forged responses are handled", |s| {
            s.stats.responses_unmatched == sent
        })
        .await;
    // Without the transaction match the guard would send each 200 on to its second Via.
    carrier_sentinel(&g, &pbx, &carrier, "sentinel-reflection").await;
    let phone = Party::on("127.0.0.10").await;
    let before = pbx_sentinel(&g, &phone, &pbx, "sentinel-reflection-pbx").await;
    assert!(before.is_empty(), "reflected to the PBX: {before:#?}");
    g.stop().await;
}

#[tokio::test]
async fn a_spoofed_scanner_packet_bans_the_phones_address_but_never_its_emergency_call() {
    let (pbx, carrier) = (Party::on("127.0.0.2").await, Party::on("127.0.0.3").await);
    let g = Running::start(pbx.addr, carrier.addr, "").await;
    // The phone is 127.0.0.1; the forged packet comes from another socket with the same address.
    let phone = Party::on("127.0.0.1").await;
    let forger = Party::on("127.0.0.1").await;
    let scan = "OPTIONS sip:100@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKscan1\r\n\
Max-Forwards: 70\r\nFrom: <sip:100@1.1.1.1>;tag=ab\r\nTo: <sip:100@1.1.1.1>\r\nCall-ID: spoofed-scan\r\n\
CSeq: 1 OPTIONS\r\nUser-Agent: friendly-scanner\r\nContent-Length: 0\r\n\r\n";
    forger.send(scan, g.access).await;
    g.live
        .wait_status("the scanner mark bans 127.0.0.1", |s| {
            s.stats.scanners_banned == 1 && s.bans_active == 1
        })
        .await;
    // The phone dials 110 from the banned address: it reaches the PBX.
    // Without the emergency exception the ban would drop it and this wait would fail.
    let m = request(
        "INVITE",
        "sip:110@example.net",
        phone.addr,
        "em110",
        "",
        None,
    );
    phone.send(&m, g.access).await;
    let (before, _) = pbx
        .recv_until("the 110 call at the PBX", |m| {
            m.starts_with("INVITE sip:110@") && call_id_of(m) == "em110"
        })
        .await;
    assert!(before.is_empty(), "{before:#?}");
    // The ban still holds for anything else from that address.
    let m = request(
        "INVITE",
        "sip:0312345678@example.net",
        phone.addr,
        "banned-call",
        "",
        None,
    );
    phone.send(&m, g.access).await;
    let other = Party::on("127.0.0.10").await;
    let before = pbx_sentinel(&g, &other, &pbx, "sentinel-scanner").await;
    assert!(
        before.iter().all(|m| call_id_of(m) != "banned-call"),
        "the banned source's ordinary call reached the PBX: {before:#?}"
    );
    let s = g.live.status().await.stats;
    assert_eq!(s.emergency_from_banned, 1, "{s:?}");
    assert!(s.dropped_banned >= 1, "{s:?}");
    g.stop().await;
}

/// What the fake PBX saw: every request, in order.
type Seen = mpsc::UnboundedReceiver<String>;

/// A PBX that answers like many do out of the box: REGISTER for users 200..=210 with a 401 challenge
/// (realm "asterisk", a fresh hex nonce, Server and Allow headers) — also when the credentials are wrong —
/// and 404 for anyone else; OPTIONS with 200. Every request it receives is reported on the channel.
fn fake_pbx(sock: UdpSocket) -> Seen {
    let (tx, rx) = mpsc::unbounded_channel();
    let sock = Arc::new(sock);
    tokio::spawn(async move {
        let mut buf = vec![0u8; 65536];
        let mut n_answers: u64 = 0;
        loop {
            let Ok((n, from)) = sock.recv_from(&mut buf).await else {
                return;
            };
            let text = String::from_utf8_lossy(&buf[..n]).into_owned();
            let Ok(m) = sip::Message::parse(&buf[..n]) else {
                continue;
            };
            let _ = tx.send(text.clone());
            let Some(method) = m.method().map(|x| x.as_str().to_owned()) else {
                continue;
            };
            n_answers += 1;
            let user = m
                .header(sip::HeaderName::To)
                .and_then(|t| t.split("sip:").nth(1))
                .and_then(|t| t.split('@').next())
                .and_then(|u| u.parse::<u32>().ok());
            let (status, extra) = match (method.as_str(), user) {
                ("REGISTER", Some(200..=210)) => (
                    "401 Unauthorized",
                    format!(
                        "WWW-Authenticate: Digest realm=\"asterisk\",nonce=\"{}\",algorithm=MD5,qop=\"auth\"\r\n",
                        hex_nonce(n_answers)
                    ),
                ),
                ("REGISTER", _) => ("404 Not Found", String::new()),
                ("OPTIONS", _) => ("200 OK", String::new()),
                _ => continue,
            };
            let mut r = format!("SIP/2.0 {status}\r\n");
            for v in m.header_all(sip::HeaderName::Via) {
                r.push_str(&format!("Via: {v}\r\n"));
            }
            r.push_str(&format!(
                "From: {}\r\nTo: {};tag=as{n_answers:x}z\r\nCall-ID: {}\r\nCSeq: {}\r\nServer: Asterisk PBX 18.20.0\r\n\
Allow: OPTIONS, REGISTER, SUBSCRIBE, NOTIFY, PUBLISH, INVITE, ACK, BYE, CANCEL, UPDATE, PRACK, MESSAGE, REFER\r\n\
{extra}Content-Length: 0\r\n\r\n",
                m.header(sip::HeaderName::From).unwrap_or(""),
                m.header(sip::HeaderName::To).unwrap_or(""),
                m.call_id().unwrap_or(""),
                m.header(sip::HeaderName::CSeq).unwrap_or(""),
            ));
            let _ = sock.send_to(r.as_bytes(), from).await;
        }
    });
    rx
}

fn hex_nonce(n: u64) -> String {
    // splitmix64: a different-looking nonce each time.
    let mix = |mut z: u64| {
        z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    format!("{:016x}{:016x}", mix(n), mix(n ^ 0x5555))
}

fn accounts_tenant() -> String {
    let list: Vec<String> = (200..=210).map(|e| format!("\"{e}\"")).collect();
    format!(
        "[[tenant]]\nname = \"acme\"\naccounts = [{}]\n",
        list.join(", ")
    )
}

fn register(user: u32, me: SocketAddr, call_id: &str, auth: bool) -> String {
    let auth = if auth {
        format!(
            "Authorization: Digest username=\"{user}\", realm=\"asterisk\", nonce=\"0123456789abcdef\", \
uri=\"sip:127.0.0.1\", response=\"{call_id:0>32}\", algorithm=MD5\r\n"
        )
    } else {
        String::new()
    };
    format!(
        "REGISTER sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bK{call_id};rport\r\nMax-Forwards: 70\r\n\
From: <sip:{user}@127.0.0.1>;tag=ph{call_id}q\r\nTo: <sip:{user}@127.0.0.1>\r\nCall-ID: {call_id}\r\nCSeq: 1 REGISTER\r\n\
Contact: <sip:{user}@{me}>\r\n{auth}User-Agent: Yealink SIP-T46S 66.85.0.5\r\nExpires: 3600\r\nContent-Length: 0\r\n\r\n"
    )
}

fn header_names(m: &str) -> Vec<String> {
    sip::Message::parse(m.as_bytes())
        .unwrap()
        .headers()
        .map(|h| h.name_text.to_ascii_lowercase())
        .collect()
}

fn param(m: &str, name: &str) -> String {
    m.split(&format!("{name}=\""))
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap_or("")
        .to_owned()
}

/// The shape of a nonce: hex digits as `h`, other characters as they are.
fn form(nonce: &str) -> String {
    nonce
        .chars()
        .map(|c| if c.is_ascii_hexdigit() { 'h' } else { c })
        .collect()
}

/// Waits until the guard's probe for the PBX's challenge was answered and handled (the probe is the only
/// request the guard sends by itself, so the first response it counts is the answer).
async fn primed(g: &Running, seen: &mut Seen) {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let m = timeout_at(deadline, seen.recv())
            .await
            .expect("the guard asks the PBX for its challenge at start")
            .unwrap();
        if m.starts_with("REGISTER ") && call_id_of(&m).starts_with("tg-probe-") {
            break;
        }
    }
    g.live
        .wait_status("the probe's challenge is handled", |s| {
            s.stats.responses >= 1
        })
        .await;
}

#[tokio::test]
async fn enumeration_through_a_running_guard_learns_no_extension() {
    let carrier = Party::on("127.0.0.3").await;
    let pbx_sock = UdpSocket::bind("127.0.0.2:0").await.unwrap();
    let pbx_addr = pbx_sock.local_addr().unwrap();
    let mut seen = fake_pbx(pbx_sock);
    let g = Running::start(pbx_addr, carrier.addr, &accounts_tenant()).await;
    primed(&g, &mut seen).await;
    // A scanner with a phone's User-Agent and clean tags, one fresh address per extension.
    let mut answers = Vec::new();
    for (i, ext) in (195..=215u32).enumerate() {
        let scanner = Party::on(&format!("127.0.1.{}", 20 + i)).await;
        let call_id = format!("enum{ext}");
        scanner
            .send(&register(ext, scanner.addr, &call_id, false), g.access)
            .await;
        let a = scanner
            .answer(&call_id, &format!("the answer for {ext}"))
            .await;
        answers.push((ext, a));
    }
    // Without the disguise 195..=199 and 211..=215 get the PBX's 404 and the other eleven its 401.
    let (_, reference) = answers.iter().find(|(e, _)| *e == 205).unwrap();
    assert!(
        reference.starts_with("SIP/2.0 401 Unauthorized\r\n"),
        "{reference}"
    );
    let mut nonces = std::collections::HashSet::new();
    for (ext, a) in &answers {
        assert_eq!(
            a.lines().next(),
            reference.lines().next(),
            "status of {ext}:\n{a}"
        );
        assert_eq!(
            header_names(a),
            header_names(reference),
            "headers of {ext}:\n{a}"
        );
        assert_eq!(param(a, "realm"), "asterisk", "realm of {ext}:\n{a}");
        let nonce = param(a, "nonce");
        assert_eq!(
            form(&nonce),
            form(&param(reference, "nonce")),
            "nonce of {ext}"
        );
        assert!(
            nonce
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()),
            "nonce of {ext}: {nonce}"
        );
        nonces.insert(nonce);
    }
    assert_eq!(
        nonces.len(),
        answers.len(),
        "every challenge has its own nonce"
    );
    assert_eq!(g.live.status().await.stats.unknown_user_disguised, 10);
    g.stop().await;
}

#[tokio::test]
async fn a_short_password_list_through_a_running_guard_reaches_the_pbx_at_most_three_times() {
    let carrier = Party::on("127.0.0.3").await;
    let pbx_sock = UdpSocket::bind("127.0.0.2:0").await.unwrap();
    let pbx_addr = pbx_sock.local_addr().unwrap();
    let mut seen = fake_pbx(pbx_sock);
    let g = Running::start(pbx_addr, carrier.addr, &accounts_tenant()).await;
    let guesser = Party::on("127.0.0.77").await;
    let fence = Party::on("127.0.0.78").await;
    let mut reached = 0;
    for guess in 1..=6 {
        let call_id = format!("guess{guess}");
        guesser
            .send(&register(205, guesser.addr, &call_id, true), g.access)
            .await;
        // Fence: another source's OPTIONS through the same listener, after the guess. When it reaches the
        // PBX, the guess has reached it before or never will.
        let fence_id = format!("fence{guess}");
        let m = request(
            "OPTIONS",
            "sip:201@example.net",
            fence.addr,
            &fence_id,
            "",
            None,
        );
        fence.send(&m, g.access).await;
        let mut this_reached = false;
        let deadline = Instant::now() + DEADLINE;
        loop {
            let m = timeout_at(deadline, seen.recv())
                .await
                .expect("the fence reaches the PBX")
                .unwrap();
            match call_id_of(&m) {
                id if id == call_id => this_reached = true,
                id if id == fence_id => break,
                _ => {}
            }
        }
        if this_reached {
            reached += 1;
            // A guesser waits for the challenge to its guess before the next one; by then the guard has
            // counted the PBX's answer.
            let a = guesser.answer(&call_id, "the PBX's 401 to a guess").await;
            assert!(a.starts_with("SIP/2.0 401"), "{a}");
        }
    }
    // Without the guessing ban (or with the old threshold of 11) all six reach the PBX.
    assert!(
        (1..=3).contains(&reached),
        "{reached} of 6 wrong passwords reached the PBX"
    );
    let s = g.live.status().await;
    assert!(s.bans_active >= 1, "the guesser is banned: {:?}", s.stats);
    g.stop().await;
}

/// The PBX's answer to a request the guard forwarded, and where it goes (the guard's Via).
fn pbx_answer(req: &str, code: u16) -> (String, SocketAddr) {
    let m = sip::Message::parse(req.as_bytes()).unwrap();
    let to_guard: SocketAddr = m.top_via().unwrap().sent_by().parse().unwrap();
    let mut s = format!("SIP/2.0 {code} OK\r\n");
    for v in m.header_all(sip::HeaderName::Via) {
        s.push_str(&format!("Via: {v}\r\n"));
    }
    s.push_str(&format!(
        "From: {}\r\nTo: {};tag=pbx1\r\nCall-ID: {}\r\nCSeq: {}\r\nContact: <sip:201@127.0.0.2>\r\nContent-Length: 0\r\n\r\n",
        m.header(sip::HeaderName::From).unwrap(),
        m.header(sip::HeaderName::To).unwrap(),
        m.call_id().unwrap(),
        m.header(sip::HeaderName::CSeq).unwrap(),
    ));
    (s, to_guard)
}

/// A REGISTER flood of 200 requests from one address, sent as fast as one socket sends them (far more than
/// 10 within 100 ms), is banned within its first 10 requests: at most 10 reach the PBX. Then a phone on
/// another address still places a call, and the banned address still reaches the PBX with a call to 110.
#[tokio::test]
async fn a_flood_is_banned_within_ten_requests_and_calls_still_pass() {
    let (pbx, carrier) = (Party::on("127.0.0.2").await, Party::on("127.0.0.3").await);
    let g = Running::start(pbx.addr, carrier.addr, "").await;
    let flooder = Party::on("127.0.0.80").await;
    for i in 0..200 {
        let m = request(
            "REGISTER",
            "sip:127.0.0.1",
            flooder.addr,
            &format!("flood{i}"),
            "",
            None,
        )
        .replace("<sip:205@", &format!("<sip:{}@", 1000 + i));
        flooder.send(&m, g.access).await;
    }
    // Fence: each flood request was handled (looked at before the ban, or dropped as banned).
    let s = g
        .live
        .wait_status("the flood is handled", |s| {
            s.stats.requests + s.stats.dropped_banned >= 200
        })
        .await;
    assert_eq!(s.bans_active, 1, "the flooder is banned");
    // Banned at the 10th request counted; each other SIP shard may have one request in hand that passed the
    // ban check just before (it is dropped once counted, below: at most 10 reach the PBX).
    let in_hand = s.calls_per_shard.len().saturating_sub(1) as u64;
    assert!(
        s.stats.requests <= 10 + in_hand,
        "{} flood requests looked at ({} shards)",
        s.stats.requests,
        s.calls_per_shard.len()
    );
    let phone = Party::on("127.0.0.81").await;
    let before = pbx_sentinel(&g, &phone, &pbx, "sentinel-flood").await;
    let flood_at_pbx = before.iter().filter(|m| m.starts_with("REGISTER ")).count();
    assert!(
        flood_at_pbx <= 10,
        "{flood_at_pbx} flood REGISTERs reached the PBX"
    );

    // A legitimate call from another address completes.
    let call = request(
        "INVITE",
        "sip:201@example.net",
        phone.addr,
        "legit1",
        "",
        None,
    );
    phone.send(&call, g.access).await;
    let (_, invite) = pbx
        .recv_until("the phone's call at the PBX", |m| {
            m.starts_with("INVITE ") && call_id_of(m) == "legit1"
        })
        .await;
    let (ok, to_guard) = pbx_answer(&invite, 200);
    pbx.send(&ok, to_guard).await;
    phone
        .recv_until("the PBX's 200 at the phone", |m| {
            status_of(m) == 200 && call_id_of(m) == "legit1"
        })
        .await;

    // The banned address still calls 110.
    let emergency = request(
        "INVITE",
        "sip:110@example.net",
        flooder.addr,
        "sos1",
        "",
        None,
    );
    flooder.send(&emergency, g.access).await;
    let (_, at_pbx) = pbx
        .recv_until("the banned address's call to 110 at the PBX", |m| {
            m.starts_with("INVITE ") && call_id_of(m) == "sos1"
        })
        .await;
    assert!(at_pbx.starts_with("INVITE sip:110@"));
    g.stop().await;
}
