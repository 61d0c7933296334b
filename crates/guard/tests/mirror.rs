//! The HEP mirror front end on the core (no sockets): a capture agent's copies of a PBX's SIP are decided in
//! observe mode. The guard never answers, reads only configured agents with the right auth key, decides a
//! call once however many copies it sees, and alerts without banning or ending anything unless told to.

mod common;
use common::*;

const MIRROR: &str = r#"
[[listen]]
address = "127.0.0.1:5060"
role = "access"
[[listen]]
address = "127.0.0.1:9060"
role = "hep"
[pbx]
address = "127.0.0.2:5070"
[hep]
sources = ["127.0.0.5"]
auth_key = "s3cret"
[[tenant]]
name = "acme"
pbx_sources = ["127.0.0.2"]
"#;

const AGENT: &str = "127.0.0.5:9999";

fn core(extra: &str) -> Core {
    let s = Settings::parse(&format!("{MIRROR}{extra}"), Path::new("t.toml")).unwrap();
    let numbering = Arc::new(Numbering::from_config(&s.numbering).unwrap());
    let engine = Engine::new(s.policy.clone(), numbering.clone());
    let mut c = Core::new(Arc::new(s), engine, numbering);
    c.set_live(true);
    c
}

/// A HEPv3 packet carrying `sip` from `src` to `dst`, with `key` as its auth key.
fn hep(sip: &str, src: &str, dst: &str, key: Option<&[u8]>, version: hep::Version) -> Vec<u8> {
    let p = hep::Packet {
        version,
        src: src.parse().unwrap(),
        dst: dst.parse().unwrap(),
        transport: hep::Transport::Udp,
        timestamp: Some(hep::Timestamp {
            secs: 1_736_949_600,
            micros: 0,
        }),
        capture_id: Some(2001),
        auth_key: key,
        payload_kind: hep::PayloadKind::Sip,
        payload: hep::Payload::Raw(sip.as_bytes()),
        correlation_id: None,
    };
    let mut out = Vec::new();
    hep::encode(&p, &mut out).unwrap();
    out
}

fn feed(core: &mut Core, packet: Vec<u8>, from: &str, at: i64) -> Output {
    let mut out = Output::default();
    let inbound = Inbound {
        data: packet,
        source: from.parse().unwrap(),
        listener: 1,
        transport: TransportKind::Udp,
        conn: None,
        received: std::time::Instant::now(),
    };
    core.on_inbound(&inbound, now(at), &mut out);
    out
}

fn attack(call_id: &str) -> String {
    invite(
        "%23010232761234",
        "205",
        "127.0.0.2:5070",
        call_id,
        &format!("z9hG4bK{call_id}"),
    )
}

fn alerts(out: &Output) -> Vec<String> {
    out.persist
        .iter()
        .filter_map(|p| match p {
            Persist::Alerts { decisions, .. } => Some(decisions.iter().map(|d| d.rule.to_string())),
            _ => None,
        })
        .flatten()
        .collect()
}

#[test]
fn a_mirrored_2015_call_alerts_once_and_nothing_is_answered_banned_or_ended() {
    let mut core = core("");
    let key = Some(&b"s3cret"[..]);
    let packet = hep(&attack("m1"), PBX, CARRIER, key, hep::Version::V3);
    let out = feed(&mut core, packet.clone(), AGENT, 0);
    assert!(out.sends.is_empty(), "a mirror is never answered");
    assert!(
        !alerts(&out).is_empty(),
        "the refusal the call would have had is an alert"
    );
    assert!(
        out.persist
            .iter()
            .all(|p| matches!(p, Persist::Alerts { .. })),
        "no ban, no kill switch: {:?}",
        out.persist
    );
    assert!(
        out.events
            .iter()
            .any(|e| matches!(e, guard::LiveEvent::Call { verdict, .. } if verdict == "blocked"))
    );
    assert_eq!(core.stats.hep_calls, 1);
    // The same INVITE again (a retransmission, or the copy of the other leg) is not decided twice.
    let again = feed(&mut core, packet, AGENT, 100);
    assert!(alerts(&again).is_empty());
    assert_eq!(core.stats.hep_calls, 1);
    assert_eq!(core.bans_active(NIGHT + 200), 0);
}

#[test]
fn only_configured_agents_with_the_auth_key_are_read() {
    let mut core = core("");
    let good = Some(&b"s3cret"[..]);
    let stranger = feed(
        &mut core,
        hep(&attack("m2"), PBX, CARRIER, good, hep::Version::V3),
        "203.0.113.9:9999",
        0,
    );
    assert!(stranger.persist.is_empty() && stranger.events.is_empty());
    let wrong = feed(
        &mut core,
        hep(
            &attack("m3"),
            PBX,
            CARRIER,
            Some(b"guess"),
            hep::Version::V3,
        ),
        AGENT,
        0,
    );
    assert!(wrong.persist.is_empty());
    let none = feed(
        &mut core,
        hep(&attack("m4"), PBX, CARRIER, None, hep::Version::V2),
        AGENT,
        0,
    );
    assert!(
        none.persist.is_empty(),
        "HEP v2 carries no key: refused when a key is set"
    );
    let junk = feed(&mut core, b"HEP3\x00\x07xyz".to_vec(), AGENT, 0);
    assert!(junk.persist.is_empty());
    assert_eq!(core.stats.hep_dropped, 4);
    assert_eq!(core.stats.hep_calls, 0);
    let with_nul = feed(
        &mut core,
        hep(
            &attack("m5"),
            PBX,
            CARRIER,
            Some(b"s3cret\0"),
            hep::Version::V3,
        ),
        AGENT,
        0,
    );
    assert!(
        !with_nul.persist.is_empty(),
        "a key with a trailing NUL (as some agents send) is the key"
    );
}

#[test]
fn inbound_calls_and_calls_between_pbx_sides_are_not_decided() {
    let mut core = core("");
    let key = Some(&b"s3cret"[..]);
    let inbound = invite(
        "0312345678",
        "0901234567",
        "127.0.0.3:5080",
        "m6",
        "z9hG4bKm6",
    );
    feed(
        &mut core,
        hep(&inbound, CARRIER, PBX, key, hep::Version::V3),
        AGENT,
        0,
    );
    assert_eq!(
        core.stats.hep_calls, 0,
        "a call from the carrier to the PBX is not an outbound call"
    );
}

#[test]
fn answer_and_end_of_a_mirrored_call_reach_the_engine() {
    let mut core = core("");
    let key = Some(&b"s3cret"[..]);
    let inv = invite("0312345678", "201", "127.0.0.2:5070", "m7", "z9hG4bKm7");
    let out = feed(
        &mut core,
        hep(&inv, PBX, CARRIER, key, hep::Version::V3),
        AGENT,
        0,
    );
    assert!(
        out.events
            .iter()
            .any(|e| matches!(e, guard::LiveEvent::Call { verdict, .. } if verdict == "allowed"))
    );
    let ok = response_to(inv.as_bytes(), 200, "car7", "sip:0312345678@127.0.0.3:5080");
    let out = feed(
        &mut core,
        hep(&ok, CARRIER, PBX, key, hep::Version::V3),
        AGENT,
        1_000,
    );
    assert!(
        out.events.iter().any(
            |e| matches!(e, guard::LiveEvent::CallAnswered { call_id, .. } if call_id == "m7")
        )
    );
    let bye = "BYE sip:0312345678@127.0.0.3:5080 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.2:5070;branch=z9hG4bKb7\r\n\
Max-Forwards: 70\r\nFrom: <sip:201@example.net>;tag=fm7\r\nTo: <sip:0312345678@example.net>;tag=car7\r\n\
Call-ID: m7\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n";
    let out = feed(
        &mut core,
        hep(bye, PBX, CARRIER, key, hep::Version::V3),
        AGENT,
        31_000,
    );
    let billed = out.events.iter().find_map(|e| match e {
        guard::LiveEvent::CallEnded {
            call_id,
            billable_secs,
            ..
        } if call_id == "m7" => Some(*billable_secs),
        _ => None,
    });
    assert_eq!(billed, Some(30), "answered at 1 s, ended at 31 s");
}

#[test]
fn a_hep_listener_needs_its_agents() {
    let cfg = MIRROR.replace("sources = [\"127.0.0.5\"]\n", "");
    let e = Settings::parse(&cfg, Path::new("t.toml")).unwrap_err();
    assert!(e.to_string().contains("[hep] sources"), "{e}");
}

/// The refusing rule of a mirrored call: the first critical decision that blocks it, as the alerts show it.
fn refused_by(out: &Output) -> Option<String> {
    out.persist.iter().find_map(|p| match p {
        Persist::Alerts { decisions, .. } => decisions
            .iter()
            .find(|d| {
                d.level == engine::Level::Critical
                    && matches!(d.action, engine::Action::Block { .. })
            })
            .map(|d| d.rule.to_string()),
        _ => None,
    })
}

#[test]
fn an_escalation_seen_on_the_mirror_bars_the_account_as_inline_and_ends_nothing() {
    let mut core = core("");
    let key = Some(&b"s3cret"[..]);
    // Off hours, the 4th call of ext 205 refused by the destination policy within the hour escalates
    // (denied_account_hour): inline, ext 205 is barred from international calls.
    let mut last = Output::default();
    for i in 0..4 {
        last = feed(
            &mut core,
            hep(
                &attack(&format!("e{i}")),
                PBX,
                CARRIER,
                key,
                hep::Version::V3,
            ),
            AGENT,
            i * 1_000,
        );
        assert_eq!(
            refused_by(&last).as_deref(),
            Some("destination_country"),
            "call {i}"
        );
    }
    let barred: Vec<_> = last
        .persist
        .iter()
        .filter_map(|p| match p {
            Persist::KillSwitch(k) => Some(k.scope.to_string()),
            _ => None,
        })
        .collect();
    assert_eq!(barred.len(), 1, "the bar is recorded for operators");
    assert!(barred[0].contains("205"), "{barred:?}");
    // Its later calls are decided as barred, as inline: they alert instead of passing unremarked.
    let next = feed(
        &mut core,
        hep(&attack("e4"), PBX, CARRIER, key, hep::Version::V3),
        AGENT,
        5_000,
    );
    assert_eq!(refused_by(&next).as_deref(), Some("kill_switch"));
    // ... and nothing was answered, banned or ended.
    for out in [&last, &next] {
        assert!(out.sends.is_empty(), "a mirror is never answered");
        assert!(out.end_elsewhere.is_empty(), "observe mode ends no call");
    }
    assert_eq!(core.bans_active(NIGHT + 10_000), 0);
    assert_eq!(core.stats.calls_ended_by_guard, 0);
}
