//! Attacks by someone who read the guard's code, one test per attack class (docs/security.md). Each one was
//! written against the guard before its defence and failed there. The core is driven without sockets so that
//! every path is exact; tests/adversary_net.rs repeats the worst ones through real sockets.

mod common;
use common::*;

use guard::dialog::Dialog;

const TRUNK_L: usize = 1;
const ATTACKER: &str = "203.0.113.66:5060";
/// A third address: nobody configured it.
const THIRD: &str = "192.0.2.99:5060";

fn core_from(text: &str) -> Core {
    let s = Settings::parse(text, Path::new("t.toml")).unwrap();
    let numbering = Arc::new(Numbering::from_config(&s.numbering).unwrap());
    let engine = Engine::new(s.policy.clone(), numbering.clone());
    Core::new(Arc::new(s), engine, numbering)
}

fn sent_to(out: &Output, dest: &str) -> Vec<String> {
    let d: SocketAddr = dest.parse().unwrap();
    out.sends
        .iter()
        .filter(|s| s.hop.dest == d)
        .map(|s| text(&s.data))
        .collect()
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or("")
}

/// The international call of 2015, aimed at the carrier from the internet.
fn relay(route: &str, to_tag: &str, ruri_host: &str, call_id: &str) -> String {
    format!(
        "INVITE sip:010232761234567@{ruri_host} SIP/2.0\r\nVia: SIP/2.0/UDP 203.0.113.66:5060;branch=z9hG4bK{call_id}\r\n\
{route}Max-Forwards: 70\r\nFrom: <sip:205@example.net>;tag=a{call_id}\r\nTo: <sip:010232761234567@{ruri_host}>{to_tag}\r\n\
Call-ID: {call_id}\r\nCSeq: 1 INVITE\r\nContact: <sip:205@203.0.113.66:5060>\r\nUser-Agent: Yealink SIP-T46S\r\n\
Content-Length: 0\r\n\r\n"
    )
}

#[test]
fn relay_to_the_carrier_by_route_by_to_tag_or_by_request_uri_never_reaches_it() {
    let mut c = core_with("");
    let cases = [
        (
            "route",
            relay(
                "Route: <sip:127.0.0.3:5080;lr>\r\n",
                "",
                "127.0.0.3:5080",
                "r1",
            ),
        ),
        ("to-tag", relay("", ";tag=x1", "127.0.0.3:5080", "r2")),
        (
            "request-uri behind our own route",
            relay(
                "Route: <sip:127.0.0.1:5060;lr>\r\n",
                "",
                "127.0.0.3:5080",
                "r3",
            ),
        ),
        (
            "our route, then the carrier's",
            relay(
                "Route: <sip:127.0.0.1:5060;lr>, <sip:127.0.0.3:5080;lr>\r\n",
                "",
                "127.0.0.3:5080",
                "r4",
            ),
        ),
    ];
    for (what, m) in cases {
        for listener in [0, TRUNK_L] {
            let mut out = Output::default();
            c.on_inbound(&inb(&m, ATTACKER, listener), now(0), &mut out);
            assert!(
                sent_to(&out, CARRIER).is_empty(),
                "{what} on listener {listener}: the carrier got {:?}",
                sent_to(&out, CARRIER)
            );
        }
    }
    assert_eq!(c.stats.calls_decided, 0);
}

#[test]
fn the_guard_is_no_open_proxy_to_a_third_address() {
    let mut c = core_with("");
    for (i, m) in [
        format!(
            "OPTIONS sip:x@{THIRD} SIP/2.0\r\nVia: SIP/2.0/UDP 203.0.113.66:5060;branch=z9hG4bKo1\r\nRoute: <sip:{THIRD};lr>\r\n\
Max-Forwards: 70\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:x@{THIRD}>\r\nCall-ID: o1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
        ),
        format!(
            "MESSAGE sip:x@{THIRD} SIP/2.0\r\nVia: SIP/2.0/UDP 203.0.113.66:5060;branch=z9hG4bKo2\r\nRoute: <sip:127.0.0.1:5060;lr>\r\n\
Max-Forwards: 70\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:x@{THIRD}>;tag=9\r\nCall-ID: o2\r\nCSeq: 1 MESSAGE\r\nContent-Length: 0\r\n\r\n"
        ),
    ]
    .iter()
    .enumerate()
    {
        let mut out = Output::default();
        c.on_inbound(&inb(m, ATTACKER, 0), now(i as i64), &mut out);
        assert!(sent_to(&out, THIRD).is_empty(), "{}", m);
        assert!(out.sends.iter().all(|s| {
            let d = s.hop.dest;
            d == ATTACKER.parse().unwrap() || d == PBX.parse().unwrap()
        }));
    }
}

#[test]
fn a_response_that_matches_no_transaction_is_not_reflected() {
    let mut c = core_with("");
    let mut out = Output::default();
    // Anyone can write a Via naming the guard over a Via naming the carrier.
    let r = "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKtg0000000000000000\r\n\
Via: SIP/2.0/UDP 127.0.0.3:5080;branch=z9hG4bKv1;received=127.0.0.3;rport=5080\r\nFrom: <sip:a@b>;tag=1\r\n\
To: <sip:c@d>;tag=2\r\nCall-ID: refl\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n";
    c.on_inbound(&inb(r, ATTACKER, 0), now(0), &mut out);
    assert!(out.sends.is_empty(), "{:?}", sent_to(&out, CARRIER));
    assert_eq!(c.stats.responses_unmatched, 1);
}

#[test]
fn outsiders_on_the_pbx_and_carrier_listeners_are_refused_with_a_reason() {
    let extra = "[[listen]]\naddress = \"127.0.0.1:5064\"\nrole = \"carrier\"\n";
    let mut c = core_from(&format!("{CONFIG}\n{extra}"));
    const CARRIER_L: usize = 2;
    let m = invite(
        "010232761234567",
        "205",
        "203.0.113.66:5060",
        "w1",
        "z9hG4bKw1",
    );
    let mut out = Output::default();
    c.on_inbound(&inb(&m, ATTACKER, TRUNK_L), now(0), &mut out);
    let answers = sent_to(&out, ATTACKER);
    assert_eq!(answers.len(), 1, "{:?}", out.sends);
    assert!(first_line(&answers[0]).starts_with("SIP/2.0 403"));
    assert!(
        answers[0].contains("Reason:") && answers[0].contains("not a PBX"),
        "{}",
        answers[0]
    );
    assert!(sent_to(&out, CARRIER).is_empty());
    // The carrier listener takes only the carrier.
    let mut out = Output::default();
    let m = invite(
        "0312345678",
        "0901234567",
        "203.0.113.66:5060",
        "w2",
        "z9hG4bKw2",
    );
    c.on_inbound(&inb(&m, ATTACKER, CARRIER_L), now(1), &mut out);
    assert!(sent_to(&out, PBX).is_empty());
    assert!(sent_to(&out, ATTACKER)[0].contains("not the carrier"));
    // The carrier itself still reaches the PBX there.
    let m = invite(
        "0312345678",
        "0901234567",
        "127.0.0.3:5080",
        "w3",
        "z9hG4bKw3",
    );
    c.on_inbound(&inb(&m, CARRIER, CARRIER_L), now(2), &mut out);
    assert_eq!(sent_to(&out, PBX).len(), 1);
    assert_eq!(c.stats.refused_source, 2);
}

#[test]
fn refusals_to_a_flood_of_outsiders_are_rate_limited_then_silent() {
    let mut c = core_with("");
    let mut answered = 0;
    for i in 0..1_000 {
        let mut out = Output::default();
        let m = invite(
            "0312345678",
            "205",
            "198.18.0.1:5060",
            &format!("f{i}"),
            &format!("z9hG4bKf{i}"),
        );
        let src = format!("198.18.{}.{}:5060", i / 250, i % 250 + 1);
        c.on_inbound(&inb(&m, &src, TRUNK_L), now(0), &mut out);
        answered += out.sends.len();
    }
    assert!(answered <= 50, "{answered} refusals sent within one second");
    assert_eq!(c.stats.refused_source, 1_000);
}

fn established(c: &mut Core, call_id: &str) -> Vec<u8> {
    let mut out = Output::default();
    c.on_inbound(
        &inb(
            &invite(
                "0312345678",
                "205",
                "127.0.0.2:5070",
                call_id,
                &format!("z9hG4bK{call_id}"),
            ),
            PBX,
            TRUNK_L,
        ),
        now(0),
        &mut out,
    );
    let (fwd, dest) = forwarded_invite(&mut out);
    assert_eq!(dest, CARRIER.parse().unwrap());
    let ok = response_to(&fwd, 200, "car1", "sip:0312345678@127.0.0.3:5080");
    c.on_inbound(&inb(&ok, CARRIER, TRUNK_L), now(100), &mut out);
    fwd
}

fn in_dialog(method: &str, from_pbx: bool, call_id: &str, cseq: u32, branch: &str) -> String {
    let (via, from, to) = if from_pbx {
        (
            "127.0.0.2:5070",
            format!("<sip:205@example.net>;tag=f{call_id}"),
            "<sip:0312345678@example.net>;tag=car1".to_owned(),
        )
    } else {
        (
            "127.0.0.3:5080",
            "<sip:0312345678@example.net>;tag=car1".to_owned(),
            format!("<sip:205@example.net>;tag=f{call_id}"),
        )
    };
    format!(
        "{method} sip:x@{via} SIP/2.0\r\nVia: SIP/2.0/UDP {via};branch={branch}\r\nRoute: <sip:127.0.0.1:5062;lr>\r\n\
Max-Forwards: 70\r\nFrom: {from}\r\nTo: {to}\r\nCall-ID: {call_id}\r\nCSeq: {cseq} {method}\r\nContent-Length: 0\r\n\r\n"
    )
}

fn kill(c: &mut Core, call_id: &str, at: i64) -> Output {
    let mut out = Output::default();
    assert!(
        c.end_call(call_id, "kill switch", now(at), &mut out),
        "the call is still tracked"
    );
    out
}

fn cseq_of(s: &str) -> u32 {
    Message::parse(s.as_bytes()).unwrap().cseq().unwrap().seq
}

#[test]
fn the_kill_switch_uses_each_sides_next_cseq_and_survives_a_failed_reinvite() {
    let mut c = core_with("");
    established(&mut c, "k1");
    let mut out = Output::default();
    // The carrier refreshes the session (CSeq 7), the PBX sends INFO (CSeq 4); a re-INVITE fails with 488.
    c.on_inbound(
        &inb(
            &in_dialog("UPDATE", false, "k1", 7, "z9hG4bKu7"),
            CARRIER,
            TRUNK_L,
        ),
        now(200),
        &mut out,
    );
    c.on_inbound(
        &inb(&in_dialog("INFO", true, "k1", 4, "z9hG4bKi4"), PBX, TRUNK_L),
        now(210),
        &mut out,
    );
    c.on_inbound(
        &inb(
            &in_dialog("INVITE", true, "k1", 5, "z9hG4bKr5"),
            PBX,
            TRUNK_L,
        ),
        now(220),
        &mut out,
    );
    let reinvite = sent_to(&out, CARRIER).pop().unwrap();
    let fail = response_to(reinvite.as_bytes(), 488, "car1", "sip:x@127.0.0.3:5080");
    c.on_inbound(&inb(&fail, CARRIER, TRUNK_L), now(230), &mut out);
    assert_eq!(
        c.dialogs_in_progress(),
        1,
        "a failed re-INVITE does not end the call"
    );
    let out = kill(&mut c, "k1", 300);
    let to_carrier = sent_to(&out, CARRIER);
    let to_pbx = sent_to(&out, PBX);
    assert_eq!((to_carrier.len(), to_pbx.len()), (1, 1));
    assert_eq!(cseq_of(&to_carrier[0]), 6, "after the PBX's 5");
    assert_eq!(cseq_of(&to_pbx[0]), 8, "after the carrier's 7");
}

#[test]
fn an_answer_that_crosses_the_kill_switchs_cancel_is_acked_and_ended() {
    let mut c = core_with("");
    let mut out = Output::default();
    c.on_inbound(
        &inb(
            &invite("0312345678", "205", "127.0.0.2:5070", "x1", "z9hG4bKx1"),
            PBX,
            TRUNK_L,
        ),
        now(0),
        &mut out,
    );
    let (fwd, _) = forwarded_invite(&mut out);
    let out = kill(&mut c, "x1", 100);
    assert!(first_line(&sent_to(&out, CARRIER)[0]).starts_with("CANCEL "));
    let mut out = Output::default();
    let ok = response_to(&fwd, 200, "car9", "sip:0312345678@127.0.0.3:5080");
    c.on_inbound(&inb(&ok, CARRIER, TRUNK_L), now(150), &mut out);
    let to_carrier = sent_to(&out, CARRIER);
    let methods: Vec<&str> = to_carrier
        .iter()
        .map(|s| first_line(s).split(' ').next().unwrap())
        .collect();
    assert_eq!(methods, vec!["ACK", "BYE"], "{to_carrier:?}");
    let to_pbx = sent_to(&out, PBX);
    assert_eq!(to_pbx.len(), 1);
    assert!(
        first_line(&to_pbx[0]).starts_with("SIP/2.0 487"),
        "{}",
        to_pbx[0]
    );
}

#[test]
fn a_new_invite_cannot_take_over_a_tracked_call_and_strangers_cannot_end_it() {
    let mut c = core_with("");
    established(&mut c, "t1");
    let mut out = Output::default();
    // Same Call-ID, another From-tag: refused, the tracked call stays.
    let again = invite("0312345678", "205", "127.0.0.2:5070", "t1", "z9hG4bKt1b")
        .replace("tag=ft1", "tag=other");
    c.on_inbound(&inb(&again, PBX, TRUNK_L), now(200), &mut out);
    assert!(sent_to(&out, CARRIER).is_empty());
    assert!(first_line(&sent_to(&out, PBX)[0]).starts_with("SIP/2.0 400"));
    // A BYE with the right tags from an outsider's address is no BYE of this call.
    let bye = in_dialog("BYE", true, "t1", 9, "z9hG4bKby");
    let mut out = Output::default();
    c.on_inbound(&inb(&bye, ATTACKER, 0), now(300), &mut out);
    assert!(sent_to(&out, CARRIER).is_empty());
    assert!(first_line(&sent_to(&out, ATTACKER)[0]).starts_with("SIP/2.0 481"));
    assert_eq!(c.dialogs_in_progress(), 1);
    let out = kill(&mut c, "t1", 400);
    assert_eq!(sent_to(&out, CARRIER).len(), 1);
}

#[test]
fn calls_in_progress_are_persisted_and_a_restarted_guard_can_end_them() {
    let mut c = core_with("[store]\npath = \"t.db\"\n");
    established(&mut c, "p1");
    let mut out = Output::default();
    c.expire(now(1_000), &mut out);
    let rows = out
        .persist
        .iter()
        .find_map(|p| match p {
            Persist::Dialogs { upserts, .. } => Some(upserts.clone()),
            _ => None,
        })
        .expect("the call is persisted");
    assert_eq!(rows.len(), 1);
    let _: Dialog = serde_json::from_str(&rows[0].2).unwrap();
    let mut fresh = core_with("");
    assert_eq!(fresh.restore_dialogs(&rows), 1);
    let out = kill(&mut fresh, "p1", 2_000);
    assert_eq!(sent_to(&out, CARRIER).len(), 1);
    assert_eq!(sent_to(&out, PBX).len(), 1);
}

#[test]
fn a_refer_or_a_redirection_to_the_carrier_places_no_undecided_call() {
    let mut c = core_with("");
    established(&mut c, "f1");
    let mut out = Output::default();
    let refer = in_dialog("REFER", true, "f1", 3, "z9hG4bKrf").replace(
        "Content-Length: 0",
        "Refer-To: <sip:010232761234567@127.0.0.3>\r\nContent-Length: 0",
    );
    c.on_inbound(&inb(&refer, PBX, TRUNK_L), now(200), &mut out);
    assert!(sent_to(&out, CARRIER).is_empty());
    assert!(first_line(&sent_to(&out, PBX)[0]).starts_with("SIP/2.0 403"));
    // The carrier's inbound call answered 302 by the PBX towards an international number.
    let mut out = Output::default();
    let inv = invite(
        "0312345678",
        "0901234567",
        "127.0.0.3:5080",
        "in1",
        "z9hG4bKin1",
    );
    c.on_inbound(&inb(&inv, CARRIER, TRUNK_L), now(300), &mut out);
    let (fwd, _) = forwarded_invite(&mut out);
    let moved = response_to(&fwd, 302, "p1", "sip:010232761234567@127.0.0.3");
    c.on_inbound(&inb(&moved, PBX, TRUNK_L), now(310), &mut out);
    let back = sent_to(&out, CARRIER);
    assert_eq!(back.len(), 1);
    assert!(
        first_line(&back[0]).starts_with("SIP/2.0 480"),
        "{}",
        back[0]
    );
    assert!(
        !back[0].contains("010232761234567@"),
        "no Contact to follow: {}",
        back[0]
    );
}

fn scanner_options(ua: &str, via: &str, branch: &str) -> String {
    format!(
        "OPTIONS sip:100@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP {via};branch={branch}\r\nMax-Forwards: 70\r\n\
From: <sip:100@1.1.1.1>;tag=ab\r\nTo: <sip:100@1.1.1.1>\r\nCall-ID: sc{branch}\r\nCSeq: 1 OPTIONS\r\n\
User-Agent: {ua}\r\nContent-Length: 0\r\n\r\n"
    )
}

#[test]
fn a_spoofed_scanner_packet_never_stops_an_emergency_call_from_that_address() {
    let mut c = core_with("");
    let mut out = Output::default();
    c.on_inbound(
        &inb(
            &scanner_options("friendly-scanner", PHONE, "z9hG4bKs1"),
            PHONE,
            0,
        ),
        now(0),
        &mut out,
    );
    assert!(c.is_banned("198.51.100.7".parse().unwrap(), NIGHT + 1));
    let mut out = Output::default();
    c.on_inbound(
        &inb(&invite("110", "205", PHONE, "em1", "z9hG4bKem1"), PHONE, 0),
        now(10),
        &mut out,
    );
    assert_eq!(sent_to(&out, PBX).len(), 1, "the 110 call reaches the PBX");
    // The ban still holds for anything else.
    let mut out = Output::default();
    c.on_inbound(
        &inb(
            &invite("0312345678", "205", PHONE, "em2", "z9hG4bKem2"),
            PHONE,
            0,
        ),
        now(20),
        &mut out,
    );
    assert!(out.sends.is_empty());
}

#[test]
fn configured_pbx_networks_are_never_banned() {
    let mut c = core_from(&CONFIG.replace(
        "name = \"acme\"",
        "name = \"acme\"\npbx_sources = [\"127.0.0.8\"]",
    ));
    let mut out = Output::default();
    c.on_inbound(
        &inb(
            &scanner_options("friendly-scanner", "127.0.0.8:5060", "z9hG4bKs2"),
            "127.0.0.8:5060",
            0,
        ),
        now(0),
        &mut out,
    );
    assert!(!c.is_banned("127.0.0.8".parse().unwrap(), NIGHT + 1));
}

#[test]
fn ipv6_sources_are_banned_per_64_and_rotation_inside_it_resets_nothing() {
    let mut c = core_with("");
    let mut out = Output::default();
    c.on_inbound(
        &inb(
            &scanner_options("sipvicious", "[2001:db8:1:2::1]:5060", "z9hG4bKv6"),
            "[2001:db8:1:2::1]:5060",
            0,
        ),
        now(0),
        &mut out,
    );
    assert!(c.is_banned("2001:db8:1:2:ffff::99".parse().unwrap(), NIGHT + 1));
    assert!(!c.is_banned("2001:db8:1:3::1".parse().unwrap(), NIGHT + 1));
    // The IPv4 address an IPv6 socket reports as ::ffff:a.b.c.d is the IPv4 address.
    c.on_inbound(
        &inb(
            &scanner_options("sipcli", "203.0.113.5:5060", "z9hG4bKm4"),
            "[::ffff:203.0.113.5]:5060",
            0,
        ),
        now(1),
        &mut out,
    );
    assert!(c.is_banned("203.0.113.5".parse().unwrap(), NIGHT + 2));
}

/// A PBX's answer to a forwarded login, as many PBXs give it out of the box: a challenge for users it
/// knows (200–210), 404 for the others.
fn pbx_answer(fwd: &[u8], known: bool, n: u32) -> String {
    let m = Message::parse(fwd).unwrap();
    let mut s = String::from(if known {
        "SIP/2.0 401 Unauthorized\r\n"
    } else {
        "SIP/2.0 404 Not Found\r\n"
    });
    for v in m.header_all(sip::HeaderName::Via) {
        s.push_str(&format!("Via: {v}\r\n"));
    }
    s.push_str(&format!(
        "Call-ID: {}\r\nFrom: {}\r\nTo: {};tag=z9hG4bKpbx{n}\r\nCSeq: {}\r\nServer: FPBX-16.0.40(18.20.0)\r\n",
        m.call_id().unwrap(),
        m.header(sip::HeaderName::From).unwrap(),
        m.header(sip::HeaderName::To).unwrap(),
        m.header(sip::HeaderName::CSeq).unwrap(),
    ));
    if known {
        s.push_str(&format!(
            "WWW-Authenticate: Digest realm=\"asterisk\",nonce=\"17335612{:02}/0fb7e2c5a1d94e2b8c1f{n:04x}\",opaque=\"5f0b6e1d\",algorithm=MD5,qop=\"auth\"\r\n",
            n % 100
        ));
    }
    s.push_str("Content-Length:  0\r\n\r\n");
    s
}

fn header_names(s: &str) -> Vec<String> {
    let m = Message::parse(s.as_bytes()).unwrap();
    m.headers()
        .map(|h| h.name_text.to_ascii_lowercase())
        .collect()
}

fn nonce_form(s: &str) -> (String, usize) {
    let v = s
        .split("nonce=\"")
        .nth(1)
        .unwrap_or("")
        .split('"')
        .next()
        .unwrap_or("");
    let realm = s
        .split("realm=\"")
        .nth(1)
        .unwrap_or("")
        .split('"')
        .next()
        .unwrap_or("");
    let shape: String = v
        .chars()
        .map(|c| if c.is_ascii_hexdigit() { 'h' } else { c })
        .collect();
    (format!("{realm}|{shape}"), v.len())
}

#[test]
fn enumeration_learns_nothing_from_a_pbx_that_answers_404() {
    let mut c = core_from(&CONFIG.replace(
        "name = \"acme\"",
        "name = \"acme\"\naccounts = [\"200\",\"201\",\"202\",\"203\",\"204\",\"205\",\"206\",\"207\",\"208\",\"209\",\"210\"]",
    ));
    // The guard asks the PBX for its challenge before anybody scans.
    let mut out = Output::default();
    c.prime(now(0), &mut out);
    let (probe, dest) = one(&mut out);
    assert_eq!(dest, PBX.parse().unwrap());
    c.on_inbound(&inb(&pbx_answer(&probe, true, 0), PBX, 0), now(1), &mut out);
    assert!(out.sends.is_empty());
    // A scanner with a phone's User-Agent and RFC-clean tags probes 195..=215, one address each time.
    let mut answers = Vec::new();
    for (i, ext) in (195..=215u32).enumerate() {
        let src = format!("198.51.100.{}:5060", 20 + i);
        let reg = register(&ext.to_string(), 1, false).replace("198.51.100.7:5066", &src);
        let mut out = Output::default();
        c.on_inbound(&inb(&reg, &src, 0), now(10 + i as i64), &mut out);
        let (fwd, dest) = one(&mut out);
        assert_eq!(
            dest,
            PBX.parse().unwrap(),
            "every login goes to the PBX: same round trip"
        );
        let known = (200..=210).contains(&ext);
        c.on_inbound(
            &inb(&pbx_answer(&fwd, known, ext), PBX, 0),
            now(11 + i as i64),
            &mut out,
        );
        let (back, dest) = one(&mut out);
        assert_eq!(dest, src.parse().unwrap());
        answers.push((ext, text(&back)));
    }
    let (_, reference) = answers.iter().find(|(e, _)| *e == 205).unwrap();
    for (ext, a) in &answers {
        assert_eq!(first_line(a), first_line(reference), "status of {ext}");
        assert_eq!(
            header_names(a),
            header_names(reference),
            "header set of {ext}:\n{a}"
        );
        assert_eq!(
            nonce_form(a),
            nonce_form(reference),
            "realm and nonce form of {ext}"
        );
    }
    let nonces: std::collections::HashSet<_> = answers
        .iter()
        .map(|(_, a)| {
            a.split("nonce=\"")
                .nth(1)
                .unwrap()
                .split('"')
                .next()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(
        nonces.len(),
        answers.len(),
        "every challenge has its own nonce"
    );
    assert_eq!(c.stats.unknown_user_disguised, 10);
}

fn alerts(out: &Output) -> Vec<(String, String)> {
    out.persist
        .iter()
        .filter_map(|p| match p {
            Persist::Alerts { decisions, .. } => Some(
                decisions
                    .iter()
                    .map(|d| (d.rule.to_string(), d.reason.clone()))
                    .collect::<Vec<_>>(),
            ),
            _ => None,
        })
        .flatten()
        .collect()
}

#[test]
fn an_outbound_caller_id_outside_the_tenants_numbers_is_a_sign_of_hijack() {
    let mut c = core_from(&CONFIG.replace(
        "name = \"acme\"",
        "name = \"acme\"\nnumbers = [\"+8131234\"]",
    ));
    let mut out = Output::default();
    let own = invite(
        "0312345678",
        "0312340001",
        "127.0.0.2:5070",
        "h1",
        "z9hG4bKh1",
    );
    c.on_inbound(&inb(&own, PBX, TRUNK_L), now(0), &mut out);
    assert!(!alerts(&out).iter().any(|(r, _)| r == "caller_id_foreign"));
    let mut out = Output::default();
    let foreign = invite(
        "0312345678",
        "0312999999",
        "127.0.0.2:5070",
        "h2",
        "z9hG4bKh2",
    )
    .replace(
        "Content-Length: 0",
        "P-Asserted-Identity: <sip:+23276123456@example.net>\r\nContent-Length: 0",
    );
    c.on_inbound(&inb(&foreign, PBX, TRUNK_L), now(10), &mut out);
    let hit = alerts(&out)
        .into_iter()
        .find(|(r, _)| r == "caller_id_foreign");
    assert!(hit.is_some(), "{:?}", alerts(&out));
}

#[test]
fn fifty_phones_behind_one_office_address_re_registering_ban_nobody() {
    let mut c = core_with("");
    for round in 0..2u32 {
        for phone in 0..50u32 {
            let user = format!("{}", 200 + phone);
            let src = format!("198.51.100.7:{}", 5100 + phone);
            for (step, creds) in [(1u32, false), (2, true)] {
                let n = round * 10 + step;
                let reg = register(&user, n, creds).replace("198.51.100.7:5066", &src);
                let mut out = Output::default();
                c.on_inbound(
                    &inb(&reg, &src, 0),
                    now(i64::from(round * 1000 + phone * 10 + step)),
                    &mut out,
                );
                let (fwd, dest) = one(&mut out);
                assert_eq!(
                    dest,
                    PBX.parse().unwrap(),
                    "phone {user} round {round} step {step}"
                );
                let code = if creds { 200 } else { 401 };
                c.on_inbound(
                    &inb(
                        &response_to(&fwd, code, "x", &format!("sip:{user}@{src}")),
                        PBX,
                        0,
                    ),
                    now(i64::from(round * 1000 + phone * 10 + step)),
                    &mut out,
                );
            }
        }
    }
    assert!(!c.is_banned("198.51.100.7".parse().unwrap(), NIGHT + 5_000));
}

/// An office behind one address that logged in may burst (its phones' requests after a reboot, here 30
/// within 3 ms): no flood ban for a source that logged in, whatever the burst.
#[test]
fn a_burst_from_an_address_that_logged_in_is_no_flood() {
    let mut c = core_with("");
    assert!(login(&mut c, "201", "198.51.100.7:5100", 1, true, 200, 0));
    for i in 0..30u32 {
        let sub = format!(
            "OPTIONS sip:{n}@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 198.51.100.7:5101;branch=z9hG4bKo{i}\r\n\
Max-Forwards: 70\r\nFrom: <sip:{n}@127.0.0.1>;tag=o{i}\r\nTo: <sip:{n}@127.0.0.1>\r\nCall-ID: o{i}\r\n\
CSeq: 1 OPTIONS\r\nUser-Agent: Yealink SIP-T46S\r\nContent-Length: 0\r\n\r\n",
            n = 300 + i
        );
        let mut out = Output::default();
        c.on_inbound(
            &inb(&sub, "198.51.100.7:5101", 0),
            now(10 + i64::from(i / 10)),
            &mut out,
        );
        let (_, dest) = one(&mut out);
        assert_eq!(dest, PBX.parse().unwrap(), "request {i} reaches the PBX");
    }
    assert!(!c.is_banned("198.51.100.7".parse().unwrap(), NIGHT + 100));
}

/// One login of `user` from `src` through the guard, answered by the PBX with `code`. False when the
/// guard did not let it reach the PBX.
fn login(c: &mut Core, user: &str, src: &str, n: u32, creds: bool, code: u16, at: i64) -> bool {
    let reg = register(user, n, creds).replace("198.51.100.7:5066", src);
    let mut out = Output::default();
    c.on_inbound(&inb(&reg, src, 0), now(at), &mut out);
    let Some(fwd) = out
        .sends
        .iter()
        .find(|s| s.hop.dest == PBX.parse().unwrap())
        .map(|s| s.data.clone())
    else {
        return false;
    };
    c.on_inbound(
        &inb(
            &response_to(&fwd, code, "x", &format!("sip:{user}@{src}")),
            PBX,
            0,
        ),
        now(at + 1),
        &mut out,
    );
    true
}

#[test]
fn a_short_password_list_is_banned_before_its_fourth_guess() {
    let mut c = core_with("");
    let mut reached = 0;
    for guess in 1..=6u32 {
        if login(
            &mut c,
            "205",
            "203.0.113.70:5060",
            guess,
            true,
            401,
            i64::from(guess) * 1000,
        ) {
            reached += 1;
        }
    }
    assert_eq!(reached, 3, "guesses that reached the PBX");
    assert!(c.is_banned("203.0.113.70".parse().unwrap(), NIGHT + 10_000));
}

#[test]
fn a_distributed_guess_bans_the_guessers_and_never_locks_out_the_real_phone() {
    let mut c = core_with("");
    // The real phone logs in from its usual address.
    assert!(login(&mut c, "205", PHONE, 1, true, 200, 0));
    let mut banned = 0;
    for i in 0..50u32 {
        let src = format!("203.0.113.{}:5060", 100 + i);
        assert!(
            login(
                &mut c,
                "205",
                &src,
                1,
                true,
                401,
                1_000 + i64::from(i) * 100
            ),
            "guesser {i} reached nobody"
        );
        if c.is_banned(src.parse::<SocketAddr>().unwrap().ip(), NIGHT + 10_000) {
            banned += 1;
        }
    }
    assert!(banned >= 45, "{banned} of 50 guessing sources banned");
    assert!(
        login(&mut c, "205", PHONE, 2, true, 200, 9_000),
        "the real phone still reaches its PBX"
    );
    assert!(!c.is_banned("198.51.100.7".parse().unwrap(), NIGHT + 10_000));
}

#[test]
fn five_wrong_passwords_from_an_outsider_do_not_bar_the_real_phone() {
    let mut c = core_with("");
    for guess in 1..=5u32 {
        login(
            &mut c,
            "205",
            "203.0.113.80:5060",
            guess,
            true,
            401,
            i64::from(guess) * 100,
        );
    }
    assert!(login(&mut c, "205", PHONE, 1, true, 200, 2_000));
    // Ext 205 still calls out through the PBX.
    let mut out = Output::default();
    c.on_inbound(
        &inb(
            &invite("0312345678", "205", "127.0.0.2:5070", "ob1", "z9hG4bKob1"),
            PBX,
            TRUNK_L,
        ),
        now(3_000),
        &mut out,
    );
    assert_eq!(sent_to(&out, CARRIER).len(), 1, "{:?}", alerts(&out));
}

#[test]
fn a_phone_whose_nonce_went_stale_is_challenged_again_never_banned() {
    let mut c = core_with("");
    for n in 1..=6u32 {
        let mut out = Output::default();
        c.on_inbound(
            &inb(&register("205", n, true), PHONE, 0),
            now(i64::from(n) * 100),
            &mut out,
        );
        let (fwd, dest) = one(&mut out);
        assert_eq!(
            dest,
            PBX.parse().unwrap(),
            "re-registration {n} reached the PBX"
        );
        let stale = response_to(&fwd, 401, "x", "sip:205@198.51.100.7:5066").replace(
            "Content-Length: 0",
            "WWW-Authenticate: Digest realm=\"asterisk\", nonce=\"abc\", stale=TRUE\r\nContent-Length: 0",
        );
        c.on_inbound(&inb(&stale, PBX, 0), now(i64::from(n) * 100 + 1), &mut out);
    }
    assert!(!c.is_banned("198.51.100.7".parse().unwrap(), NIGHT + 1_000));
}

#[test]
fn dial_strings_that_hide_an_international_call_are_refused_and_emergency_still_passes() {
    let mut c = core_with("");
    let strings = [
        "9011972592123456", // a foreign international prefix (NANP 011 behind an outside line)
        "0011972592123456", // 0011 + 972: the most dangerous reading wins
        "005345010232761234567", // au's international service + 010
        "%2B8110232761234", // +81 followed by the international prefix 10…
        "abc",              // a string the numbering cannot read
    ];
    for (i, dialed) in strings.iter().enumerate() {
        let mut out = Output::default();
        let m = invite(
            dialed,
            "205",
            "127.0.0.2:5070",
            &format!("d{i}"),
            &format!("z9hG4bKd{i}"),
        );
        c.on_inbound(&inb(&m, PBX, TRUNK_L), now(i as i64 * 1000), &mut out);
        assert!(
            sent_to(&out, CARRIER).is_empty(),
            "{dialed} reached the carrier"
        );
        let answer = sent_to(&out, PBX);
        assert!(
            answer.iter().any(|a| first_line(a).starts_with("SIP/2.0 4")
                || first_line(a).starts_with("SIP/2.0 6")),
            "{dialed}: {answer:?}"
        );
    }
    // Under a kill switch on every class only emergency calls pass: tel:110 in another country's context is
    // that country's string, not Japan's police, so it is barred…
    c.engine_mut().set_kill_switch(
        BarScope::All,
        ClassSet::ALL_EXTERNAL,
        NIGHT,
        "test",
        "all barred",
    );
    let foreign_110 = invite("110", "205", "127.0.0.2:5070", "d9", "z9hG4bKd9").replace(
        "INVITE sip:110@example.net",
        "INVITE tel:110;phone-context=+1",
    );
    let mut out = Output::default();
    c.on_inbound(&inb(&foreign_110, PBX, TRUNK_L), now(9_000), &mut out);
    assert!(
        sent_to(&out, CARRIER).is_empty(),
        "tel:110;phone-context=+1 passed as an emergency call"
    );
    // …while the site's own 119 passes whatever was refused before.
    let mut out = Output::default();
    let fire = invite("119", "205", "127.0.0.2:5070", "d10", "z9hG4bKd10");
    c.on_inbound(&inb(&fire, PBX, TRUNK_L), now(10_000), &mut out);
    assert_eq!(sent_to(&out, CARRIER).len(), 1, "119 reaches the carrier");
}

/// A guard whose geo database says 198.51.100.0/24 is Japan and 203.0.113.0/24 Sierra Leone.
fn core_with_geo(dir: &Path, tenant_extra: &str) -> Core {
    let db = dir.join("geo.mmdb");
    guard::geo::testdb::write(&db, &[("198.51.100.0/24", "JP"), ("203.0.113.0/24", "SL")]).unwrap();
    let text = CONFIG.replace(
        "name = \"acme\"",
        &format!("name = \"acme\"\n{tenant_extra}"),
    ) + &format!("\n[geo]\ndatabase = \"{}\"\n", db.display());
    let s = Settings::parse(&text, &dir.join("t.toml")).unwrap();
    let numbering = Arc::new(Numbering::from_config(&s.numbering).unwrap());
    let engine = Engine::new(s.policy.clone(), numbering.clone());
    Core::new(Arc::new(s), engine, numbering)
}

#[test]
fn a_login_from_outside_the_tenants_countries_is_refused_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = core_with_geo(dir.path(), "login_countries = [\"JP\"]");
    // The right password from Sierra Leone never reaches the PBX.
    assert!(!login(&mut c, "205", "203.0.113.9:5060", 1, true, 200, 0));
    // From Japan it does.
    assert!(login(&mut c, "205", PHONE, 1, true, 200, 100));
    // Three refused logins are three failed guesses: the source is banned.
    for n in 2..=3 {
        login(
            &mut c,
            "205",
            "203.0.113.9:5060",
            n,
            true,
            200,
            i64::from(n) * 100,
        );
    }
    assert!(c.is_banned("203.0.113.9".parse().unwrap(), NIGHT + 1_000));
}

#[test]
fn the_first_login_of_an_account_from_a_new_country_alerts_though_nothing_failed() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = core_with_geo(dir.path(), "");
    let reg = |n: u32, src: &str| register("205", n, true).replace("198.51.100.7:5066", src);
    let mut seen = Vec::new();
    for (n, src) in [(1u32, PHONE), (2, PHONE), (3, "203.0.113.9:5060")] {
        let mut out = Output::default();
        c.on_inbound(
            &inb(&reg(n, src), src, 0),
            now(i64::from(n) * 1000),
            &mut out,
        );
        let (fwd, _) = one(&mut out);
        c.on_inbound(
            &inb(&response_to(&fwd, 200, "x", "sip:205@x"), PBX, 0),
            now(i64::from(n) * 1000 + 1),
            &mut out,
        );
        seen.push(
            alerts(&out)
                .into_iter()
                .filter(|(r, _)| r == "auth_new_country")
                .collect::<Vec<_>>(),
        );
    }
    assert!(seen[0].is_empty() && seen[1].is_empty(), "{seen:?}");
    assert_eq!(seen[2].len(), 1, "the login from Sierra Leone alerts");
    assert!(seen[2][0].1.contains("SL"), "{}", seen[2][0].1);
}
