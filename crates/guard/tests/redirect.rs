//! The SIP redirect front end on the core (no sockets): a PBX or SBC sends the INVITE it is about to place,
//! the guard answers 302 towards the trunk or refuses it, forwards nothing and keeps no dialog.

mod common;
use common::*;

const REDIRECT: &str = r#"
[[listen]]
address = "127.0.0.1:5060"
role = "access"
[[listen]]
address = "127.0.0.1:5064"
role = "redirect"
[pbx]
address = "127.0.0.2:5070"
[trunk]
address = "127.0.0.3:5080"
[redirect]
target = "sip:127.0.0.9:5090;transport=udp"
[[tenant]]
name = "acme"
pbx_sources = ["127.0.0.2"]
"#;

/// The SBC that asks (one of the tenant's PBX sources).
const SBC: &str = "127.0.0.2:5071";

fn core() -> Core {
    let s = Settings::parse(REDIRECT, Path::new("t.toml")).unwrap();
    let numbering = Arc::new(Numbering::from_config(&s.numbering).unwrap());
    let engine = Engine::new(s.policy.clone(), numbering.clone());
    Core::new(Arc::new(s), engine, numbering)
}

fn ask(core: &mut Core, data: &str, from: &str, at: i64) -> Output {
    let mut out = Output::default();
    core.on_inbound(&inb(data, from, 1), now(at), &mut out);
    out
}

fn with_header(invite: &str, header: &str) -> String {
    invite.replacen(
        "Content-Length: 0",
        &format!("{header}\r\nContent-Length: 0"),
        1,
    )
}

#[test]
fn an_allowed_call_is_redirected_to_the_target_with_its_diversion_and_x_headers() {
    let mut core = core();
    let q = with_header(
        &invite("0312345678", "201", "127.0.0.2:5071", "r1", "z9hG4bKr1"),
        "Diversion: <sip:0501234567@pbx>;reason=unconditional\r\nX-Tenant-Ref: 42\r\nP-Secret: no",
    );
    let mut out = ask(&mut core, &q, SBC, 0);
    let (answer, to) = one(&mut out);
    let answer = text(&answer);
    assert_eq!(
        to,
        SBC.parse().unwrap(),
        "answered to the querier, nothing forwarded"
    );
    assert!(answer.starts_with("SIP/2.0 302 "), "{answer}");
    assert!(
        answer.contains("Contact: <sip:0312345678@127.0.0.9:5090;transport=udp>"),
        "{answer}"
    );
    assert!(
        answer.contains("Diversion: <sip:0501234567@pbx>;reason=unconditional"),
        "{answer}"
    );
    assert!(answer.contains("X-Tenant-Ref: 42"), "{answer}");
    assert!(!answer.contains("P-Secret"), "{answer}");
    assert_eq!(core.stats.redirect_allowed, 1);
    assert_eq!(
        core.dialogs_in_progress(),
        0,
        "the querier carries the call"
    );
}

#[test]
fn the_2015_pattern_is_refused_with_603_and_a_retransmission_is_not_decided_again() {
    let mut core = core();
    let q = invite(
        "%23010232761234",
        "201",
        "127.0.0.2:5071",
        "r2",
        "z9hG4bKr2",
    );
    let mut out = ask(&mut core, &q, SBC, 0);
    let (answer, _) = one(&mut out);
    let answer = text(&answer);
    assert!(answer.starts_with("SIP/2.0 603 "), "{answer}");
    assert!(
        answer.contains("Reason: ") && answer.contains("Warning: 399 tollguard"),
        "{answer}"
    );
    assert!(
        answer.contains("Sierra Leone"),
        "the reason names the destination: {answer}"
    );
    let decided = core.stats.calls_decided;
    let mut again = ask(&mut core, &q, SBC, 200);
    let (repeat, _) = one(&mut again);
    assert_eq!(text(&repeat), answer, "the same answer again");
    assert_eq!(core.stats.calls_decided, decided, "not decided twice");
}

#[test]
fn an_emergency_call_is_redirected_even_under_a_kill_switch() {
    let mut core = core();
    let ks = engine::KillSwitch {
        id: 0,
        scope: BarScope::Tenant {
            tenant: "acme".into(),
        },
        classes: ClassSet::ALL_EXTERNAL,
        since: NIGHT,
        by: "operator".into(),
        why: "test".into(),
    };
    let mut out = Output::default();
    core.operator_kill_switch(&ks, now(0), &mut out);
    let national = invite("0312345678", "201", "127.0.0.2:5071", "r3", "z9hG4bKr3");
    let (answer, _) = one(&mut ask(&mut core, &national, SBC, 10));
    assert!(
        !text(&answer).starts_with("SIP/2.0 302"),
        "barred: {}",
        text(&answer)
    );
    let police = invite("110", "201", "127.0.0.2:5071", "r4", "z9hG4bKr4");
    let (answer, _) = one(&mut ask(&mut core, &police, SBC, 20));
    assert!(
        text(&answer).starts_with("SIP/2.0 302 "),
        "{}",
        text(&answer)
    );
    assert!(text(&answer).contains("Contact: <sip:110@127.0.0.9:5090"));
}

#[test]
fn an_outsider_may_not_ask_and_is_not_decided() {
    let mut core = core();
    let q = invite(
        "%23010232761234",
        "201",
        "203.0.113.9:5099",
        "r5",
        "z9hG4bKr5",
    );
    let (answer, _) = one(&mut ask(&mut core, &q, SCANNER, 0));
    assert!(
        text(&answer).starts_with("SIP/2.0 403 "),
        "{}",
        text(&answer)
    );
    assert_eq!(core.stats.calls_decided, 0);
    assert_eq!(core.stats.refused_source, 1);
}

#[test]
fn a_query_that_waited_too_long_gets_503_with_retry_after() {
    let mut core = core();
    let q = invite("0312345678", "201", "127.0.0.2:5071", "r6", "z9hG4bKr6");
    let mut late = inb(&q, SBC, 1);
    late.received = std::time::Instant::now()
        .checked_sub(std::time::Duration::from_secs(2))
        .unwrap();
    let mut out = Output::default();
    core.on_inbound(&late, now(0), &mut out);
    let (answer, _) = one(&mut out);
    assert!(
        text(&answer).starts_with("SIP/2.0 503 "),
        "{}",
        text(&answer)
    );
    assert!(text(&answer).contains("Retry-After: 5"));
    assert_eq!(
        core.stats.calls_decided, 0,
        "not decided: the querier has moved on"
    );
}

#[test]
fn options_is_answered_and_other_methods_are_not_allowed() {
    let mut core = core();
    let opt = "OPTIONS sip:127.0.0.1:5064 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.2:5071;branch=z9hG4bKo1\r\n\
Max-Forwards: 70\r\nFrom: <sip:sbc@127.0.0.2>;tag=o\r\nTo: <sip:127.0.0.1>\r\nCall-ID: o1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";
    let (answer, _) = one(&mut ask(&mut core, opt, SBC, 0));
    assert!(text(&answer).starts_with("SIP/2.0 200 "));
    let msg = opt.replace("OPTIONS", "MESSAGE");
    let (answer, _) = one(&mut ask(&mut core, &msg, SBC, 0));
    assert!(
        text(&answer).starts_with("SIP/2.0 405 "),
        "{}",
        text(&answer)
    );
}

#[test]
fn a_redirect_listener_needs_a_target_or_a_trunk() {
    let cfg = REDIRECT
        .replace("[trunk]\naddress = \"127.0.0.3:5080\"\n", "")
        .replace(
            "[redirect]\ntarget = \"sip:127.0.0.9:5090;transport=udp\"\n",
            "",
        );
    let e = Settings::parse(&cfg, Path::new("t.toml")).unwrap_err();
    assert!(
        e.to_string()
            .contains("neither [redirect] target nor [trunk]"),
        "{e}"
    );
    let bad = REDIRECT.replace("sip:127.0.0.9:5090", "sip:x@127.0.0.9:5090");
    let e = Settings::parse(&bad, Path::new("t.toml")).unwrap_err();
    assert!(e.to_string().contains("redirect.target"), "{e}");
}
