//! The proxy core without sockets: messages in, messages out (harness and addresses in common/mod.rs).

mod common;
use common::*;

#[test]
fn access_call_is_forwarded_to_the_pbx_and_answers_come_back() {
    let mut c = core_with("");
    let mut out = Output::default();
    c.on_inbound(
        &inb(
            &invite("201", "100", "198.51.100.7:5066", "c1", "z9hG4bKa1"),
            PHONE,
            0,
        ),
        now(0),
        &mut out,
    );
    let (fwd, dest) = forwarded_invite(&mut out);
    assert_eq!(dest, PBX.parse().unwrap());
    let m = Message::parse(&fwd).unwrap();
    let top = m.top_via().unwrap();
    assert_eq!(top.sent_by(), "127.0.0.1:5060");
    assert!(top.branch().unwrap().starts_with("z9hG4bK"));
    let second = m.via().nth(1).unwrap();
    assert_eq!(
        second.rport(),
        Some(Some(5066)),
        "rport filled: {}",
        text(&fwd)
    );
    assert_eq!(m.max_forwards(), Some(69));
    assert_eq!(m.record_routes().count(), 1);
    assert!(text(&fwd).contains("Record-Route: <sip:127.0.0.1:5060;transport=udp;lr>"));

    // Retransmission from the phone: absorbed, the 100 Trying repeated.
    c.on_inbound(
        &inb(
            &invite("201", "100", "198.51.100.7:5066", "c1", "z9hG4bKa1"),
            PHONE,
            0,
        ),
        now(100),
        &mut out,
    );
    let (again, dest) = one(&mut out);
    assert_eq!(dest, PHONE.parse().unwrap());
    assert!(
        text(&again).starts_with("SIP/2.0 100 Trying"),
        "{}",
        text(&again)
    );
    // No answer from the PBX yet: the guard retransmits the INVITE itself (Timer A), same branch.
    c.expire(now(600), &mut out);
    let (re, dest) = one(&mut out);
    assert_eq!(dest, PBX.parse().unwrap());
    assert_eq!(
        Message::parse(&re).unwrap().top_via().unwrap().branch(),
        top.branch()
    );

    // 180 and 200 go back to the phone with our Via removed.
    for code in [180u16, 200] {
        let r = response_to(&fwd, code, "pbx1", "sip:201@127.0.0.2:5070");
        c.on_inbound(&inb(&r, PBX, 0), now(1000), &mut out);
        let (back, dest) = one(&mut out);
        assert_eq!(dest, PHONE.parse().unwrap());
        let bm = Message::parse(&back).unwrap();
        assert_eq!(bm.status(), Some(code));
        assert_eq!(bm.via_count(), 1);
        assert_eq!(bm.top_via().unwrap().branch(), Some("z9hG4bKa1"));
    }

    // In-dialog BYE from the phone, routed through us by the Record-Route, goes to the PBX's Contact.
    let bye = "BYE sip:201@127.0.0.2:5070 SIP/2.0\r\nVia: SIP/2.0/UDP 198.51.100.7:5066;branch=z9hG4bKb2\r\n\
Route: <sip:127.0.0.1:5060;transport=udp;lr>\r\nMax-Forwards: 70\r\nFrom: <sip:100@example.net>;tag=fc1\r\n\
To: <sip:201@example.net>;tag=pbx1\r\nCall-ID: c1\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n";
    c.on_inbound(&inb(bye, PHONE, 0), now(2000), &mut out);
    let (fb, dest) = one(&mut out);
    assert_eq!(dest, PBX.parse().unwrap());
    assert!(
        !text(&fb).contains("Route:"),
        "our Route is removed: {}",
        text(&fb)
    );
}

#[test]
fn max_forwards_zero_gets_483_and_loops_get_482() {
    let mut c = core_with("");
    let mut out = Output::default();
    let msg = invite("201", "100", "198.51.100.7:5066", "c2", "z9hG4bKa2")
        .replace("Max-Forwards: 70", "Max-Forwards: 0");
    c.on_inbound(&inb(&msg, PHONE, 0), now(0), &mut out);
    let (r, dest) = one(&mut out);
    assert_eq!(dest, PHONE.parse().unwrap());
    assert!(text(&r).starts_with("SIP/2.0 483"));

    let looped = invite("201", "100", "198.51.100.7:5066", "c3", "z9hG4bKa3").replace(
        "Max-Forwards: 70\r\n",
        "Max-Forwards: 70\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKtg0011223344556677\r\n",
    );
    c.on_inbound(&inb(&looped, PHONE, 0), now(0), &mut out);
    let (r, _) = one(&mut out);
    assert!(text(&r).starts_with("SIP/2.0 482"), "{}", text(&r));
}

#[test]
fn blocked_outbound_call_gets_the_status_with_a_reason_once() {
    // Default policy: international calls outside the allow-list are refused.
    let mut c = core_with("");
    let mut out = Output::default();
    let inv = invite(
        "01023276123456",
        "205",
        "127.0.0.2:5070",
        "fraud1",
        "z9hG4bKf1",
    );
    c.on_inbound(&inb(&inv, PBX, 1), now(0), &mut out);
    let (r, dest) = one(&mut out);
    assert_eq!(dest, PBX.parse().unwrap(), "the PBX side sees the refusal");
    let t = text(&r);
    assert!(t.starts_with("SIP/2.0 403"), "{t}");
    assert!(
        t.contains("Reason: SIP ;cause=403") || t.contains("Reason: SIP;cause=403"),
        "{t}"
    );
    assert!(t.contains("Warning: 399 tollguard"), "{t}");
    assert!(
        t.contains("Sierra Leone") || t.contains("+232"),
        "the reason names the destination: {t}"
    );
    let alerts = out
        .persist
        .iter()
        .filter(|p| matches!(p, Persist::Alerts { .. }))
        .count();
    assert_eq!(alerts, 1);
    out.persist.clear();

    // Retransmission: the same answer, not a second decision.
    c.on_inbound(&inb(&inv, PBX, 1), now(500), &mut out);
    let (r2, _) = one(&mut out);
    assert_eq!(r2, r);
    assert_eq!(c.stats.calls_decided, 1);
    assert!(out.persist.is_empty());

    // The ACK of the 403 is absorbed.
    let m = Message::parse(&r).unwrap();
    let ack = format!(
        "ACK sip:01023276123456@example.net SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.2:5070;branch=z9hG4bKf1\r\nMax-Forwards: 70\r\n\
From: <sip:205@example.net>;tag=ffraud1\r\nTo: <sip:01023276123456@example.net>;tag={}\r\nCall-ID: fraud1\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n",
        m.to_tag().unwrap()
    );
    c.on_inbound(&inb(&ack, PBX, 1), now(600), &mut out);
    assert!(out.sends.is_empty());
}

#[test]
fn configured_block_status_replaces_the_decisions() {
    let mut c = core_with("[enforce]\nblock_status = 603\n");
    let mut out = Output::default();
    c.on_inbound(
        &inb(
            &invite("01023276123456", "205", "127.0.0.2:5070", "f2", "z9hG4bKf2"),
            PBX,
            1,
        ),
        now(0),
        &mut out,
    );
    let (r, _) = one(&mut out);
    assert!(text(&r).starts_with("SIP/2.0 603"), "{}", text(&r));
}

#[test]
fn emergency_passes_even_under_a_kill_switch() {
    let mut c = core_with("");
    c.engine_mut().set_kill_switch(
        BarScope::All,
        ClassSet::ALL_EXTERNAL,
        NIGHT,
        "test",
        "everything barred",
    );
    let mut out = Output::default();
    c.on_inbound(
        &inb(
            &invite("110", "205", "127.0.0.2:5070", "e1", "z9hG4bKe1"),
            PBX,
            1,
        ),
        now(0),
        &mut out,
    );
    let (fwd, dest) = forwarded_invite(&mut out);
    assert_eq!(dest, CARRIER.parse().unwrap());
    assert!(text(&fwd).starts_with("INVITE sip:110@"));
    // A domestic call under the same switch is refused.
    c.on_inbound(
        &inb(
            &invite("0312345678", "205", "127.0.0.2:5070", "e2", "z9hG4bKe2"),
            PBX,
            1,
        ),
        now(0),
        &mut out,
    );
    let (r, _) = one(&mut out);
    assert!(text(&r).starts_with("SIP/2.0 403"));
}

#[test]
fn kill_switch_ends_calls_in_progress_with_bye_to_both_sides() {
    let mut c = core_with("");
    let mut out = Output::default();
    c.on_inbound(
        &inb(
            &invite("0312345678", "205", "127.0.0.2:5070", "k1", "z9hG4bKk1"),
            PBX,
            1,
        ),
        now(0),
        &mut out,
    );
    let (fwd, dest) = forwarded_invite(&mut out);
    assert_eq!(dest, CARRIER.parse().unwrap());
    let ok = response_to(&fwd, 200, "car1", "sip:0312345678@127.0.0.3:5080");
    c.on_inbound(&inb(&ok, CARRIER, 1), now(1000), &mut out);
    let (_, dest) = one(&mut out);
    assert_eq!(dest, PBX.parse().unwrap());
    assert_eq!(c.dialogs_in_progress(), 1);

    let (_, ids) = c.engine_mut().set_kill_switch(
        BarScope::All,
        ClassSet::ALL_EXTERNAL,
        NIGHT + 2000,
        "test",
        "operator pulled the plug",
    );
    assert_eq!(ids, vec!["k1".to_string()]);
    for id in &ids {
        c.end_call(id, "kill switch: every account barred", now(2000), &mut out);
    }
    assert_eq!(out.sends.len(), 2);
    let mut dests: Vec<SocketAddr> = out.sends.iter().map(|s| s.hop.dest).collect();
    dests.sort();
    assert_eq!(dests, vec![PBX.parse().unwrap(), CARRIER.parse().unwrap()]);
    for s in &out.sends {
        let m = Message::parse(&s.data).unwrap();
        assert_eq!(m.method(), Some(sip::Method::Bye));
        assert_eq!(m.call_id(), Some("k1"));
        assert!(m.to_tag().is_some() && m.from_tag().is_some());
    }
    let to_carrier = out
        .sends
        .iter()
        .find(|s| s.hop.dest == CARRIER.parse().unwrap())
        .unwrap()
        .data
        .clone();
    assert!(text(&to_carrier).starts_with("BYE sip:0312345678@127.0.0.3:5080 "));
    assert_eq!(c.dialogs_in_progress(), 0);
    out.sends.clear();
    // The 200 OK to our BYE is absorbed, not forwarded anywhere.
    let bye_ok = response_to(&to_carrier, 200, "car1", "sip:x@127.0.0.3");
    c.on_inbound(&inb(&bye_ok, CARRIER, 1), now(2100), &mut out);
    assert!(out.sends.is_empty());
}

#[test]
fn scanner_is_banned_at_once_and_then_ignored() {
    let mut c = core_with("");
    let mut out = Output::default();
    let opt = "OPTIONS sip:100@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 203.0.113.9:5099;branch=z9hG4bK-1234567\r\n\
Max-Forwards: 70\r\nFrom: \"sipvicious\"<sip:100@1.1.1.1>;tag=3336363632363538013433\r\nTo: <sip:100@1.1.1.1>\r\n\
Call-ID: 1234\r\nCSeq: 1 OPTIONS\r\nContact: <sip:100@1.1.1.1>\r\nUser-Agent: friendly-scanner\r\nContent-Length: 0\r\n\r\n";
    c.on_inbound(&inb(opt, SCANNER, 0), now(0), &mut out);
    assert!(out.sends.is_empty(), "no feedback to scanners");
    let ban = out.persist.iter().find_map(|p| match p {
        Persist::Ban(b) => Some(b.clone()),
        _ => None,
    });
    let ban = ban.expect("a ban is persisted");
    assert_eq!(ban.source.to_string(), "203.0.113.9");
    assert!(ban.why.contains("friendly-scanner"), "{}", ban.why);
    assert_eq!(ban.rule, "scanner_user_agent");
    assert!(c.is_banned("203.0.113.9".parse().unwrap(), NIGHT + 1));
    // Anything else from it is dropped, even a clean-looking request.
    c.on_inbound(
        &inb(
            &invite("201", "100", "203.0.113.9:5099", "s2", "z9hG4bKs2"),
            SCANNER,
            0,
        ),
        now(10),
        &mut out,
    );
    assert!(out.sends.is_empty());
    assert_eq!(c.stats.dropped_banned, 1);
}

#[test]
fn trusted_sources_are_never_banned() {
    let mut c = core_with("trusted = [\"198.51.100.0/24\"]\n");
    let mut out = Output::default();
    let msg = invite("201", "100", "198.51.100.7:5066", "t1", "z9hG4bKt1")
        .replace("Yealink SIP-T46S", "friendly-scanner");
    c.on_inbound(&inb(&msg, PHONE, 0), now(0), &mut out);
    let (_, dest) = forwarded_invite(&mut out);
    assert_eq!(dest, PBX.parse().unwrap());
    assert!(!c.is_banned("198.51.100.7".parse().unwrap(), NIGHT + 1));
}

#[test]
fn password_guessing_is_counted_from_the_pbx_answers_and_banned() {
    let mut c = core_with("");
    let mut out = Output::default();
    let mut banned_after = None;
    for n in 1..=20u32 {
        c.on_inbound(
            &inb(&register("201", n, true), PHONE, 0),
            now(i64::from(n) * 100),
            &mut out,
        );
        if out.sends.is_empty() {
            banned_after = Some(n);
            break;
        }
        let (fwd, dest) = one(&mut out);
        assert_eq!(dest, PBX.parse().unwrap());
        let r = response_to(&fwd, 401, "x", "sip:201@127.0.0.2");
        c.on_inbound(&inb(&r, PBX, 0), now(i64::from(n) * 100 + 50), &mut out);
        out.sends.clear();
    }
    let n = banned_after.expect("the guesser is banned");
    assert!(n <= 12, "banned after {n} guesses");
    assert!(c.is_banned("198.51.100.7".parse().unwrap(), NIGHT + 10_000));
}

#[test]
fn plain_challenges_are_not_failures() {
    let mut c = core_with("");
    let mut out = Output::default();
    for n in 1..=20u32 {
        c.on_inbound(
            &inb(&register("201", n, false), PHONE, 0),
            now(i64::from(n) * 100),
            &mut out,
        );
        let (fwd, _) = one(&mut out);
        let r = response_to(&fwd, 401, "x", "sip:201@127.0.0.2");
        c.on_inbound(&inb(&r, PBX, 0), now(i64::from(n) * 100 + 50), &mut out);
        out.sends.clear();
    }
    assert!(!c.is_banned("198.51.100.7".parse().unwrap(), NIGHT + 10_000));
}

#[test]
fn extension_enumeration_from_404s_is_banned() {
    let mut c = core_with("");
    let mut out = Output::default();
    let mut banned = false;
    for n in 1..=30u32 {
        let user = format!("{}", 100 + n);
        c.on_inbound(
            &inb(&register(&user, n, false), PHONE, 0),
            now(i64::from(n) * 100),
            &mut out,
        );
        if out.sends.is_empty() {
            banned = true;
            break;
        }
        let (fwd, _) = one(&mut out);
        let r = response_to(&fwd, 404, "x", "sip:x@127.0.0.2");
        c.on_inbound(&inb(&r, PBX, 0), now(i64::from(n) * 100 + 50), &mut out);
        out.sends.clear();
    }
    assert!(banned, "enumeration ends in a ban");
}

#[test]
fn malformed_input_never_panics_and_is_dropped() {
    let mut c = core_with("");
    let mut out = Output::default();
    for junk in [
        "",
        "\r\n\r\n",
        "INVITE\r\n\r\n",
        "SIP/2.0 200 OK\r\n\r\n",
        "\u{0}\u{1}garbage",
    ] {
        c.on_inbound(&inb(junk, PHONE, 0), now(0), &mut out);
    }
    assert!(out.sends.is_empty());
}

#[test]
fn cancel_follows_the_invite_and_the_487_goes_back() {
    let mut c = core_with("");
    let mut out = Output::default();
    let inv = invite("201", "100", "198.51.100.7:5066", "x1", "z9hG4bKc1");
    c.on_inbound(&inb(&inv, PHONE, 0), now(0), &mut out);
    let (fwd, _) = forwarded_invite(&mut out);
    let fm = Message::parse(&fwd).unwrap();
    let our_branch = fm.top_via().unwrap().branch().unwrap().to_owned();
    let cancel = "CANCEL sip:201@example.net SIP/2.0\r\nVia: SIP/2.0/UDP 198.51.100.7:5066;branch=z9hG4bKc1;rport\r\n\
Max-Forwards: 70\r\nFrom: <sip:100@example.net>;tag=fx1\r\nTo: <sip:201@example.net>\r\nCall-ID: x1\r\nCSeq: 1 CANCEL\r\n\
Content-Length: 0\r\n\r\n";
    c.on_inbound(&inb(cancel, PHONE, 0), now(300), &mut out);
    let (fc, dest) = one(&mut out);
    assert_eq!(dest, PBX.parse().unwrap());
    let cm = Message::parse(&fc).unwrap();
    assert_eq!(cm.method(), Some(sip::Method::Cancel));
    assert_eq!(
        cm.top_via().unwrap().branch(),
        Some(our_branch.as_str()),
        "CANCEL carries the INVITE's branch"
    );
    // The PBX answers 200 to the CANCEL and 487 to the INVITE: both reach the phone.
    for (code, method_fix) in [(200u16, true), (487, false)] {
        let src = if method_fix { &fc } else { &fwd };
        let r = response_to(src, code, "p1", "sip:201@127.0.0.2:5070");
        c.on_inbound(&inb(&r, PBX, 0), now(400), &mut out);
        let (back, dest) = one(&mut out);
        assert_eq!(dest, PHONE.parse().unwrap());
        assert!(text(&back).starts_with(&format!("SIP/2.0 {code}")));
    }
}

#[test]
fn inbound_calls_from_the_carrier_go_to_the_pbx_without_a_decision() {
    let mut c = core_with("");
    let mut out = Output::default();
    let inv = invite(
        "0312345678",
        "0901234567",
        "127.0.0.3:5080",
        "in1",
        "z9hG4bKi1",
    );
    c.on_inbound(&inb(&inv, CARRIER, 1), now(0), &mut out);
    let (_, dest) = forwarded_invite(&mut out);
    assert_eq!(dest, PBX.parse().unwrap());
    assert_eq!(c.stats.calls_decided, 0);
}

const FLOOD_OPTIONS: &str = "OPTIONS sip:100@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 203.0.113.50:5060;branch=z9hG4bKfl\r\n\
Max-Forwards: 70\r\nFrom: <sip:100@127.0.0.1>;tag=f\r\nTo: <sip:100@127.0.0.1>\r\nCall-ID: fl\r\nCSeq: 1 OPTIONS\r\n\
User-Agent: Yealink\r\nContent-Length: 0\r\n\r\n";

/// Sends `n` OPTIONS from one source, one every `gap_ms` of engine time; returns how many were forwarded.
fn options_from(c: &mut Core, source: &str, n: i64, gap_ms: i64, out: &mut Output) -> usize {
    let mut forwarded = 0;
    for i in 0..n {
        let m = FLOOD_OPTIONS.replace("branch=z9hG4bKfl", &format!("branch=z9hG4bKfl{i}"));
        c.on_inbound(&inb(&m, source, 0), now(i * gap_ms), out);
        forwarded += out.sends.len();
        out.sends.clear();
    }
    forwarded
}

/// A flood (here 1,000 requests a second; 10 within 100 ms are one) is banned at its 10th request,
/// not after the minute's count of `request_rate_source`: at most 9 reach the PBX.
#[test]
fn a_flooding_source_is_banned_within_ten_requests() {
    let mut c = core_with("");
    let mut out = Output::default();
    let forwarded = options_from(&mut c, "203.0.113.50:5060", 5_000, 1, &mut out);
    assert!(c.is_banned("203.0.113.50".parse().unwrap(), NIGHT + 5_000));
    assert!(
        forwarded <= 10,
        "{forwarded} flood requests reached the PBX"
    );
    let ban = out
        .persist
        .iter()
        .find_map(|p| match p {
            Persist::Ban(b) if b.rule == "request_rate_source" => Some(b.clone()),
            _ => None,
        })
        .expect("a ban under request_rate_source");
    assert!(
        ban.why.contains("10 within 9 ms") && ban.why.contains("the limit is 10 within 100 ms"),
        "{}",
        ban.why
    );
}

/// `[sources] flood_burst` and `flood_window_ms` in the guard's policy take effect through the whole path: with
/// 25 within 250 ms, a source sending 20 requests in a burst is not banned (the default, 10, would ban it),
/// and a flood is banned at its 25th request, the reason quoting the configured limit.
#[test]
fn the_policy_sets_the_flood_burst() {
    let mut c = core_with("[policy.sources]\nflood_burst = 25\nflood_window_ms = 250\n");
    let mut out = Output::default();
    let forwarded = options_from(&mut c, "203.0.113.52:5060", 20, 1, &mut out);
    assert_eq!(forwarded, 20);
    assert!(!c.is_banned("203.0.113.52".parse().unwrap(), NIGHT + 20));
    let forwarded = options_from(&mut c, "203.0.113.50:5060", 5_000, 1, &mut out);
    assert!(c.is_banned("203.0.113.50".parse().unwrap(), NIGHT + 5_000));
    assert!(
        (20..=25).contains(&forwarded),
        "{forwarded} flood requests reached the PBX"
    );
    let why = out
        .persist
        .iter()
        .find_map(|p| match p {
            Persist::Ban(b) if b.rule == "request_rate_source" => Some(b.why.clone()),
            _ => None,
        })
        .expect("a ban under request_rate_source");
    assert!(
        why.contains("25 within 24 ms") && why.contains("the limit is 25 within 250 ms"),
        "{why}"
    );
}

/// A busy phone (20 requests a second for 15 s) is no flood: every request is forwarded, nothing banned.
#[test]
fn a_busy_source_below_the_flood_rate_is_not_banned() {
    let mut c = core_with("");
    let mut out = Output::default();
    let forwarded = options_from(&mut c, "203.0.113.51:5060", 300, 50, &mut out);
    assert_eq!(forwarded, 300);
    assert!(!c.is_banned("203.0.113.51".parse().unwrap(), NIGHT + 15_000));
}

#[test]
fn path_lets_the_pbx_reach_registered_phones_through_the_guard() {
    let s = Settings::parse(
        &CONFIG.replace(
            "address = \"127.0.0.2:5070\"",
            "address = \"127.0.0.2:5070\"\npath = true",
        ),
        Path::new("t.toml"),
    )
    .unwrap();
    assert!(s.pbx.path);
    let numbering = Arc::new(Numbering::from_config(&s.numbering).unwrap());
    let engine = Engine::new(s.policy.clone(), numbering.clone());
    let mut c = Core::new(Arc::new(s), engine, numbering);
    let mut out = Output::default();
    c.on_inbound(&inb(&register("201", 1, false), PHONE, 0), now(0), &mut out);
    let (fwd, _) = one(&mut out);
    assert!(
        text(&fwd).contains("Path: <sip:127.0.0.1:5060;transport=udp;lr>"),
        "{}",
        text(&fwd)
    );
    // Before the PBX accepted the registration, the contact is nobody the guard may reach.
    let early = "INVITE sip:201@198.51.100.7:5066 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.2:5070;branch=z9hG4bKp0\r\n\
Route: <sip:127.0.0.1:5060;transport=udp;lr>\r\nMax-Forwards: 70\r\nFrom: <sip:100@pbx>;tag=p0\r\nTo: <sip:201@pbx>\r\n\
Call-ID: p0\r\nCSeq: 1 INVITE\r\nContact: <sip:100@127.0.0.2:5070>\r\nContent-Length: 0\r\n\r\n";
    c.on_inbound(&inb(early, PBX, 0), now(5), &mut out);
    let (r, dest) = one(&mut out);
    assert_eq!(dest, PBX.parse().unwrap());
    assert!(text(&r).starts_with("SIP/2.0 404"), "{}", text(&r));
    let ok = response_to(&fwd, 200, "reg1", "sip:201@198.51.100.7:5066");
    c.on_inbound(&inb(&ok, PBX, 0), now(8), &mut out);
    let (_, dest) = one(&mut out);
    assert_eq!(dest, PHONE.parse().unwrap());
    // The PBX calls the phone with the Path as Route: the guard forwards to the registered contact.
    let inv = "INVITE sip:201@198.51.100.7:5066 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.2:5070;branch=z9hG4bKp1\r\n\
Route: <sip:127.0.0.1:5060;transport=udp;lr>\r\nMax-Forwards: 70\r\nFrom: <sip:100@pbx>;tag=p1\r\nTo: <sip:201@pbx>\r\n\
Call-ID: p1\r\nCSeq: 1 INVITE\r\nContact: <sip:100@127.0.0.2:5070>\r\nContent-Length: 0\r\n\r\n";
    c.on_inbound(&inb(inv, PBX, 0), now(10), &mut out);
    let (fwd, dest) = forwarded_invite(&mut out);
    assert_eq!(dest, PHONE.parse().unwrap());
    assert!(!text(&fwd).contains("\r\nRoute:"), "{}", text(&fwd));
}

/// The guard's own answers kept for retransmissions are capped: a stream of requests it refuses itself (here
/// REGISTERs at the redirect listener, 405 each, every one with a new branch as spoofed sources would send)
/// never grows the table past [`guard::proxy::MAX_ANSWERED`], however many come within a transaction's life.
#[test]
fn remembered_answers_are_bounded() {
    let mut c = core_with("[[listen]]\naddress = \"127.0.0.1:5064\"\nrole = \"redirect\"\n");
    let mut out = Output::default();
    let n = guard::proxy::MAX_ANSWERED + 500;
    for i in 0..n {
        let m = format!(
            "REGISTER sip:127.0.0.1:5064 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.2:5070;branch=z9hG4bKra{i}\r\n\
Max-Forwards: 70\r\nFrom: <sip:205@127.0.0.1>;tag=r{i}\r\nTo: <sip:205@127.0.0.1>\r\nCall-ID: ra{i}\r\n\
CSeq: 1 REGISTER\r\nContent-Length: 0\r\n\r\n"
        );
        c.on_inbound(&inb(&m, PBX, 0), now(i as i64 / 1000), &mut out);
        assert_eq!(out.sends.len(), 1, "request {i} is answered");
        out.sends.clear();
    }
    assert_eq!(c.remembered_answers(), guard::proxy::MAX_ANSWERED);
}
