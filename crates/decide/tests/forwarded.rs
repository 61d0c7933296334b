//! Calls that leave because another came in: an INVITE the PBX sends on for an outside caller (forwarding with
//! `Diversion` or `History-Info`, a transfer with `Referred-By`) is read as such by the decision layer, and an
//! outside caller reaching abroad through the PBX is refused even where the destination alone is allowed.

use std::net::SocketAddr;
use std::sync::Arc;

use decide::{DecideConfig, Decider, Effects, Now, SipCall, Tenant, Tenants};
use engine::{Engine, Leg, Policy, RuleId};
use numbering::Numbering;
use sip::Message;

/// Monday 2025-06-02 10:00 JST.
const MONDAY_10: i64 = 1_748_826_000_000;

fn decider(policy: &str) -> Decider {
    let numbering = Arc::new(Numbering::japan_defaults());
    let policy = Policy::from_toml_str(policy).expect("policy");
    let tenant = Tenant {
        name: "acme".into(),
        pbx_sources: vec![],
        accounts: vec![],
        account_from: Default::default(),
        account_header: None,
        numbers: vec![],
        login: Default::default(),
    };
    let cfg = DecideConfig {
        tenants: Tenants(vec![tenant]),
        ..Default::default()
    };
    Decider::new(
        Arc::new(cfg),
        Engine::new(policy, numbering.clone()),
        numbering,
    )
}

fn invite(dialed: &str, extra: &str) -> Vec<u8> {
    format!(
        "INVITE sip:{dialed}@trunk.example SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.2;branch=z9hG4bKf1\r\n\
From: <sip:0312345678@pbx.example>;tag=a\r\nTo: <sip:{dialed}@trunk.example>\r\nCall-ID: fwd-{dialed}\r\n\
CSeq: 1 INVITE\r\n{extra}Content-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

/// The verdict of the layer on an INVITE, and the rules of its decisions.
fn decide(d: &mut Decider, raw: &[u8], at: i64) -> (bool, Vec<RuleId>) {
    let msg = Message::parse(raw).expect("a SIP message");
    let call = SipCall::read(&msg, None);
    let source: SocketAddr = "10.0.0.2:5060".parse().expect("address");
    let mut fx = Effects::default();
    let now = Now {
        wall: at,
        engine: at,
    };
    let v = d.call_attempt(&call.query(&msg, source), None, now, &mut fx);
    let rules = v.decision.iter().map(|d| d.rule).collect();
    (v.allowed, rules)
}

const US_ALLOWED: &str = "[defaults.destinations]\nallow_countries = [\"US\"]\n";

#[test]
fn the_headers_of_a_forwarded_or_transferred_invite_name_its_leg() {
    let read = |extra: &str| {
        let raw = invite("0101212555123", extra);
        let msg = Message::parse(&raw).expect("a SIP message");
        let c = SipCall::read(&msg, None);
        (c.leg, c.forwarded_from.map(str::to_owned))
    };
    assert_eq!(read(""), (Leg::Direct, None));
    assert_eq!(
        read("Diversion: <sip:201@pbx.example>;reason=unconditional\r\n"),
        (Leg::Forwarded, Some("0312345678".into()))
    );
    assert_eq!(
        read("Referred-By: <sip:+44201234567@far.example>\r\n"),
        (Leg::Transferred, Some("+44201234567".into()))
    );
    assert_eq!(
        read(
            "History-Info: <sip:201@pbx.example>;index=1, <sip:0101212555123@pbx.example;cause=302>;index=1.1;mp=1\r\n"
        ),
        (Leg::Forwarded, Some("0312345678".into()))
    );
    // A History-Info that only reached the registered contact (`rc`) is no forwarding.
    assert_eq!(
        read("History-Info: <sip:201@pbx.example>;index=1, <sip:201@10.0.0.9>;index=1.1;rc=1\r\n"),
        (Leg::Direct, None)
    );
    // Headers that do not parse say nothing (and nothing panics).
    assert_eq!(
        read("Diversion: <sip:\r\nHistory-Info: ,,;<>\r\n"),
        (Leg::Direct, None)
    );
}

#[test]
fn an_outside_caller_forwarded_abroad_is_refused_where_a_direct_call_passes() {
    let mut d = decider(US_ALLOWED);
    let direct = decide(&mut d, &invite("0101212555123", ""), MONDAY_10);
    assert!(direct.0, "the US is allowed: {:?}", direct.1);
    let diverted = decide(
        &mut d,
        &invite(
            "0101212555124",
            "Diversion: <sip:201@pbx.example>;reason=unconditional;counter=1\r\n",
        ),
        MONDAY_10 + 1000,
    );
    assert_eq!(diverted, (false, vec![RuleId::ForwardedInternational]));
    let transferred = decide(
        &mut d,
        &invite(
            "0101212555125",
            "Referred-By: <sip:0312345678@pbx.example>\r\n",
        ),
        MONDAY_10 + 2000,
    );
    assert!(!transferred.0);
}

#[test]
fn a_call_forwarded_to_a_mobile_at_home_passes_and_emergency_numbers_always_do() {
    let mut d = decider(US_ALLOWED);
    let divert = "Diversion: <sip:201@pbx.example>;reason=no-answer\r\n";
    let mobile = decide(&mut d, &invite("09012345678", divert), MONDAY_10);
    assert_eq!(mobile, (true, vec![]));
    let police = decide(&mut d, &invite("110", divert), MONDAY_10 + 1000);
    assert!(police.0);
}
