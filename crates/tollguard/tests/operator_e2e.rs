//! End to end, the operator's side of a running `tollguard serve`: the kill switch pulled and lifted with the
//! real `tollguard ctl` while SIPp calls of two tenants are in progress (BYE on both sides of the barred
//! tenant's calls, its new calls refused with the reason, the other tenant and emergency calls untouched), and
//! the alert of a replayed 2015-style attack reaching a webhook and a mail box (the loopback receivers of
//! `crates/api/tests/sinks`, shared with the api crate's notification tests). Every wait is on a condition with
//! a deadline; figures are printed, never asserted. Without SIPp the tests say they were skipped.

mod common;
#[path = "../../api/tests/sinks/mod.rs"]
mod sinks;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use chrono::{DateTime, Local, NaiveDateTime, TimeZone};
use common::*;
use serde_json::Value;

/// Wednesday 2025-01-15 10:00 JST: office hours, when an office's international calls are ordinary.
const WEDNESDAY_MORNING: i64 = 1_736_902_800_000;
/// Washington DC from Japan (010 1 202…): international, medium risk, allowed by the test's policy.
const US: &str = "01012025550143";

/// One message of a SIPp `-trace_msg` file, with the time SIPp wrote beside it.
struct Traced {
    at: DateTime<Local>,
    sent: bool,
    text: String,
}

impl Traced {
    fn first_line(&self) -> &str {
        self.text.lines().next().unwrap_or("")
    }
    fn header(&self, name: &str) -> Option<&str> {
        self.text.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }
    fn call_id(&self) -> &str {
        self.header("Call-ID").unwrap_or("")
    }
    fn is_request(&self, method: &str) -> bool {
        self.first_line().starts_with(&format!("{method} "))
    }
    /// A BYE the guard wrote itself (a call ended from the middle), not one it relayed.
    fn is_guard_bye(&self) -> bool {
        self.is_request("BYE") && self.header("User-Agent") == Some("tollguard")
    }
}

/// The messages of a SIPp message trace so far (SIPp writes them as they go).
fn trace(path: &Path) -> Vec<Traced> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut out = Vec::new();
    for block in text
        .split("-----------------------------------------------")
        .skip(1)
    {
        let mut parts = block.splitn(3, '\n');
        let (Some(stamp), Some(what), Some(msg)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        let Some(at) = NaiveDateTime::parse_from_str(stamp.trim(), "%Y-%m-%d %H:%M:%S%.f")
            .ok()
            .and_then(|n| Local.from_local_datetime(&n).single())
        else {
            continue;
        };
        out.push(Traced {
            at,
            sent: what.contains("sent"),
            text: msg.trim_start().to_owned(),
        });
    }
    out
}

/// Call-IDs of the INVITEs a SIPp UAC sent.
fn invited(path: &Path) -> BTreeSet<String> {
    trace(path)
        .iter()
        .filter(|m| m.sent && m.is_request("INVITE"))
        .map(|m| m.call_id().to_owned())
        .collect()
}

fn wait_until(g: &Guard, what: &str, within: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !done() {
        assert!(
            Instant::now() < deadline,
            "{what}: not within {within:?}\n{}",
            g.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn ctl_ok(g: &Guard, token: &str, args: &[&str]) -> String {
    let o = g.ctl(token, args);
    let (out, err) = (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    );
    assert!(o.status.success(), "ctl {args:?} failed: {err}{out}");
    out
}

/// The calls in progress the API lists for `tenant` (answered or not).
fn calls_of(g: &Guard, token: &str, tenant: &str) -> Vec<Value> {
    let out = ctl_ok(g, token, &["calls", "--tenant", tenant, "--format", "json"]);
    let v: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    v.as_array().cloned().unwrap_or_default()
}

/// A tenant's PBX: its address (which tells the guard the tenant) and the account whose calls it places.
#[derive(Clone, Copy)]
struct Pbx {
    ip: &'static str,
    account: &'static str,
}

const ACME: Pbx = Pbx {
    ip: "127.0.0.2",
    account: "201",
};
const BETA: Pbx = Pbx {
    ip: "127.0.0.4",
    account: "301",
};

/// One SIPp UAC through the guard's PBX-side listener: `calls` calls of the PBX's account to `number`, its
/// messages traced to `name`.log and its statistics to a screen file.
fn uac(g: &Guard, gp: u16, scenario: &str, pbx: Pbx, number: &str, calls: u32, name: &str) -> Proc {
    let target = format!("127.0.0.1:{gp}");
    let log = g.path(&format!("{name}.log")).display().to_string();
    let m = calls.to_string();
    sipp(
        g.dir.path(),
        scenario,
        pbx.ip,
        free_port(pbx.ip),
        "udp",
        &[
            &target,
            "-m",
            &m,
            "-l",
            &m,
            "-s",
            number,
            "-key",
            "account",
            pbx.account,
            "-d",
            "200",
            "-trace_msg",
            "-message_file",
            &log,
            "-trace_screen",
        ],
    )
}

/// Runs a UAC to its end and asserts that SIPp counted every call successful (exit status and statistics).
fn completes(g: &Guard, mut p: Proc, scenario: &str, calls: u64, what: &str) {
    let status = p.wait(Duration::from_secs(40));
    let counts = sipp_counts(g.dir.path(), scenario, &p);
    assert!(
        status.success() && counts == Some((calls, 0)),
        "{what}: SIPp {status}, (successful, failed) = {counts:?}\n{}",
        g.log()
    );
}

fn millis_between(from: DateTime<Local>, to: DateTime<Local>) -> f64 {
    (to - from).num_microseconds().unwrap_or(i64::MAX) as f64 / 1000.0
}

#[test]
fn operator_kill_switch_ends_one_tenants_calls_bars_new_ones_and_lifts() {
    if skip_without(&["sipp"]) {
        return;
    }
    let (ga, gp, pbx, car) = guard_ports();
    // Two tenants, told apart by their PBX's address on the PBX-side listener; the United States allowed.
    let extra = format!(
        r#"[clock]
start_ms = {WEDNESDAY_MORNING}

[[tenant]]
name = "acme"
pbx_sources = ["127.0.0.2"]
accounts = ["201"]

[[tenant]]
name = "beta"
pbx_sources = ["127.0.0.4"]
accounts = ["301"]

[policy.defaults.destinations]
allow_countries = ["US"]

[api]
listen = "127.0.0.1:0"
"#
    );
    let g = Guard::start(&config(ga, gp, pbx, car, "udp", &extra));
    let admin = g.admin_token();
    let carrier_log = g.path("carrier.log");
    let cl = carrier_log.display().to_string();
    // The carrier answers every call and expects each to end with a BYE: 2 + 2 held calls, then a new call of
    // beta, acme's domestic and emergency calls, acme's call after the switch is lifted.
    let carrier = sipp(
        g.dir.path(),
        "uas_answer.xml",
        "127.0.0.3",
        car,
        "udp",
        &[
            "-m",
            "8",
            "-trace_msg",
            "-message_file",
            &cl,
            "-trace_screen",
        ],
    );
    let held = "uac_held_until_bye.xml";
    let mut acme_held = uac(&g, gp, held, ACME, US, 2, "acme_held");
    let mut beta_held = uac(&g, gp, held, BETA, US, 2, "beta_held");
    // All four calls answered end to end: the carrier has their ACKs and the API lists them as answered.
    wait_until(&g, "4 calls answered", Duration::from_secs(30), || {
        let acks: BTreeSet<String> = trace(&carrier_log)
            .iter()
            .filter(|m| !m.sent && m.is_request("ACK"))
            .map(|m| m.call_id().to_owned())
            .collect();
        acks.len() == 4
            && ["acme", "beta"].iter().all(|t| {
                let c = calls_of(&g, &admin, t);
                c.len() == 2 && c.iter().all(|c| !c["answered"].is_null())
            })
    });
    let acme_ids = invited(&g.path("acme_held.log"));
    let beta_ids = invited(&g.path("beta_held.log"));
    assert_eq!((acme_ids.len(), beta_ids.len()), (2, 2));

    // The operator pulls acme's international kill switch.
    let why = "acme PBX hijacked, investigating";
    let asked = Instant::now();
    let out = ctl_ok(
        &g,
        &admin,
        &[
            "kill-switch",
            "on",
            "--scope",
            "tenant:acme",
            "--class",
            "international",
            "--why",
            why,
        ],
    );
    let ctl_took = asked.elapsed();
    let returned = Local::now();
    assert!(
        out.contains("in force: tenant:acme barred from international"),
        "{out}"
    );
    // The API answers once the guard has ended the calls: both of acme's are named.
    for id in &acme_ids {
        assert!(out.contains(id.as_str()), "{id} not ended: {out}");
    }
    // Both sides of acme's calls get the guard's BYE: the held UAC completes only on a BYE, the carrier's
    // trace has one for each call.
    let acme_status = acme_held.wait(Duration::from_secs(20));
    let acme_counts = sipp_counts(g.dir.path(), held, &acme_held);
    assert!(
        acme_status.success() && acme_counts == Some((2, 0)),
        "acme's held calls must end with the guard's BYE: {acme_status:?} {acme_counts:?}\n{}",
        g.log()
    );
    let byes_at = |log: &Path| -> Vec<(String, DateTime<Local>)> {
        trace(log)
            .into_iter()
            .filter(|m| !m.sent && m.is_guard_bye())
            .map(|m| (m.call_id().to_owned(), m.at))
            .collect()
    };
    wait_until(
        &g,
        "the carrier gets a BYE for each of acme's calls",
        Duration::from_secs(10),
        || {
            let ids: BTreeSet<String> = byes_at(&carrier_log).into_iter().map(|b| b.0).collect();
            acme_ids.is_subset(&ids)
        },
    );
    let uac_byes = byes_at(&g.path("acme_held.log"));
    let carrier_byes = byes_at(&carrier_log);
    assert!(
        uac_byes.iter().all(|b| acme_ids.contains(&b.0)) && uac_byes.len() == 2,
        "{uac_byes:?}"
    );

    // A new international call of acme is refused with the reason: who barred what, and why.
    let refused = uac(
        &g,
        gp,
        "uac_must_be_refused.xml",
        ACME,
        US,
        1,
        "acme_refused",
    );
    completes(
        &g,
        refused,
        "uac_must_be_refused.xml",
        1,
        "acme's new international call refused",
    );
    let seen = trace(&g.path("acme_refused.log"));
    let answer = seen
        .iter()
        .find(|m| !m.sent && m.first_line().starts_with("SIP/2.0 403"))
        .unwrap_or_else(|| panic!("no 403: {}", g.log()));
    let warning = answer.header("Warning").unwrap_or("");
    assert!(
        warning.starts_with("399 tollguard")
            && warning.contains("barred")
            && warning.contains("international")
            && warning.contains(why),
        "the refusal gives the reason: {warning}"
    );
    let invite_sent = seen
        .iter()
        .find(|m| m.sent && m.is_request("INVITE"))
        .map(|m| m.at);

    // beta's calls go on: not ended at the carrier nor at beta's PBX, still listed, SIPp still holding them.
    assert!(
        beta_held.child.try_wait().unwrap().is_none(),
        "beta's held calls ended: {}",
        g.log()
    );
    assert!(byes_at(&g.path("beta_held.log")).is_empty());
    assert!(
        byes_at(&carrier_log)
            .iter()
            .all(|b| !beta_ids.contains(&b.0))
    );
    let beta_calls = calls_of(&g, &admin, "beta");
    assert_eq!(beta_calls.len(), 2, "{beta_calls:?}");
    // And new calls of beta pass, as do acme's domestic and emergency calls.
    let p = uac(&g, gp, "uac_call.xml", BETA, US, 1, "beta_new");
    completes(&g, p, "uac_call.xml", 1, "beta's new international call");
    let p = uac(
        &g,
        gp,
        "uac_call.xml",
        ACME,
        "0312345678",
        1,
        "acme_domestic",
    );
    completes(&g, p, "uac_call.xml", 1, "acme's domestic call");
    let p = uac(&g, gp, "uac_call.xml", ACME, "110", 1, "acme_110");
    completes(&g, p, "uac_call.xml", 1, "acme's emergency call");

    // The switch is listed with who and why; the audit log has the change with the token.
    let list = ctl_ok(&g, &admin, &["kill-switch", "list"]);
    let row = list
        .lines()
        .find(|l| l.contains("tenant:acme"))
        .unwrap_or_else(|| panic!("{list}"));
    assert!(
        row.contains("international") && row.contains("token") && row.contains(why),
        "{list}"
    );
    let audit = ctl_ok(&g, &admin, &["audit"]);
    assert!(
        audit
            .lines()
            .any(|l| l.contains("kill_switch.set") && l.contains("acme")),
        "{audit}"
    );

    // Lifted: acme's international calls pass again.
    let out = ctl_ok(
        &g,
        &admin,
        &[
            "kill-switch",
            "off",
            "--scope",
            "tenant:acme",
            "--class",
            "international",
            "--why",
            "PBX cleaned",
        ],
    );
    assert!(out.contains("1 kill switch(es) lifted"), "{out}");
    let p = uac(&g, gp, "uac_call.xml", ACME, US, 1, "acme_after");
    completes(
        &g,
        p,
        "uac_call.xml",
        1,
        "acme's international call after the lift",
    );
    let history = ctl_ok(
        &g,
        &admin,
        &["kill-switch", "list", "--history", "--format", "json"],
    );
    let history: Value =
        serde_json::from_str(&history).unwrap_or_else(|e| panic!("{e}: {history}"));
    let switches = history.as_array().cloned().unwrap_or_default();
    assert!(
        switches.len() == 1
            && switches[0]["tenant"] == "acme"
            && switches[0]["why"] == why
            && !switches[0]["lifted_at"].is_null(),
        "one switch, lifted: {history}"
    );
    let audit = ctl_ok(&g, &admin, &["audit"]);
    assert!(audit.contains("kill_switch.lift"), "{audit}");

    // The operator ends beta's calls one by one; then every call of the run ended with a BYE at the carrier.
    for c in &beta_calls {
        let id = c["call_id"].as_str().unwrap_or("");
        let out = ctl_ok(&g, &admin, &["end-call", id, "--why", "test over"]);
        assert!(out.contains("BYE sent to both sides"), "{out}");
    }
    completes(
        &g,
        beta_held,
        held,
        2,
        "beta's held calls, ended by the operator",
    );
    completes(&g, carrier, "uas_answer.xml", 8, "the carrier's calls");

    let after = |at: &DateTime<Local>| format!("{:+.1} ms", millis_between(returned, *at));
    println!(
        "kill switch: ctl kill-switch on took {:.1} ms (process start to exit); guard's BYEs relative to ctl's exit: \
         at acme's PBX {}, at the carrier {}",
        ctl_took.as_secs_f64() * 1000.0,
        uac_byes
            .iter()
            .map(|b| after(&b.1))
            .collect::<Vec<_>>()
            .join(", "),
        carrier_byes
            .iter()
            .filter(|b| acme_ids.contains(&b.0))
            .map(|b| after(&b.1))
            .collect::<Vec<_>>()
            .join(", "),
    );
    if let Some(sent) = invite_sent {
        println!(
            "first new INVITE of acme: sent {} after ctl's exit (SIPp start), 403 {:.1} ms after it was sent: {warning}",
            after(&sent),
            millis_between(sent, answer.at)
        );
    }
}

/// The line "Money at stake: 1,234 JPY" of an English alert body, and its figure.
fn stake(body: &str) -> Option<(&str, i64)> {
    let line = body
        .lines()
        .find(|l| l.starts_with("Money at stake: ") && l.ends_with(" JPY"))?;
    let figure = line
        .trim_start_matches("Money at stake: ")
        .trim_end_matches(" JPY")
        .replace(',', "");
    Some((line, figure.parse().ok()?))
}

#[test]
fn operator_alert_of_a_replayed_2015_attack_reaches_a_webhook_and_a_mailbox() {
    if skip_without(&["sipp"]) {
        return;
    }
    // The webhook receiver and the SMTP sink run on their own runtime while the test thread drives processes.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let mut hook = rt.block_on(sinks::hook(&[]));
    let (smtp, mut mails) = rt.block_on(sinks::smtp_sink());
    let (ga, gp, pbx, car) = guard_ports();
    // As guard_e2e's replay of 2015: every country allowed, the engine's clock 20 times faster from a Saturday
    // night (1.5 s SIPp calls are the 30 s calls of 2015). Every alert goes out alone (no storm window).
    let extra = format!(
        r#"[clock]
speed = 20.0
start_ms = {SATURDAY_NIGHT}

[policy.defaults.destinations]
allow_countries = ["*"]
block_risk_at = "never"

[notify]
collapse_secs = 0

[[notify.webhook]]
name = "noc"
url = "{}"

[[notify.email]]
host = "127.0.0.1"
port = {}
tls = "none"
from = "tollguard@pbx.example.jp"
to = ["noc@example.jp"]
"#,
        hook.url("/alerts"),
        smtp.port()
    );
    let g = Guard::start(&config(ga, gp, pbx, car, "udp", &extra));
    let _carrier = sipp(g.dir.path(), "uas_answer.xml", "127.0.0.3", car, "udp", &[]);
    let target = format!("127.0.0.1:{gp}");
    let _attack = sipp(
        g.dir.path(),
        "uac_may_be_refused.xml",
        "127.0.0.2",
        free_port("127.0.0.2"),
        "udp",
        &[
            &target,
            "-m",
            "20",
            "-r",
            "2",
            "-l",
            "6",
            "-s",
            "01023276123456",
            "-key",
            "account",
            "205",
            "-d",
            "1500",
        ],
    );
    // The webhook's alerts (the first call's high-risk warning comes first), until the critical one that stops
    // the pattern, with the destination and the money at stake.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen = Vec::new();
    let alert = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let req = rt
            .block_on(async { tokio::time::timeout(left, hook.rx.recv()).await })
            .ok()
            .flatten()
            .unwrap_or_else(|| {
                panic!(
                    "no webhook alert with the destination and the money at stake; got {seen:?}\n{}",
                    g.log()
                )
            });
        let b = req.body;
        let body = b["body"].as_str().unwrap_or("").to_owned();
        if b["kind"] == "alert"
            && b["level"] == "critical"
            && body.contains("Sierra Leone")
            && stake(&body).is_some()
        {
            break b;
        }
        seen.push((b["headline"].as_str().unwrap_or("").to_owned(), body));
    };
    let body = alert["body"].as_str().unwrap_or("");
    let rule = alert["decision"]["rule"].as_str().unwrap_or("");
    let headline = alert["headline"].as_str().unwrap_or("");
    let before: Vec<&str> = seen.iter().map(|s| s.0.as_str()).collect();
    println!("webhook, after {before:?}:\n{headline}\n{body}");
    let (stake_line, yen) = stake(body).unwrap_or_else(|| unreachable!());
    // The reason: the rule in words, the destination, the account; the first call's warning gave the number.
    assert!(body.contains(&format!("Rule: {rule} (")), "{body}");
    assert!(
        body.lines().next().unwrap_or("").contains("Sierra Leone"),
        "{body}"
    );
    assert!(
        seen.iter().any(|s| s.1.contains("Sierra Leone (+232")),
        "{before:?}"
    );
    assert!(
        body.contains("Key: account") && body.contains("205"),
        "{body}"
    );
    // The money at stake, in the text and in the decision, the same figure.
    assert!(yen > 0, "{stake_line}");
    assert_eq!(alert["decision"]["at_stake"]["currency"], "JPY", "{alert}");
    // The text says whole yen (262.5 JPY reads "263 JPY").
    assert_eq!(
        alert["decision"]["at_stake"]["millis"]
            .as_i64()
            .map(|m| (m + 500) / 1000),
        Some(yen),
        "{alert}"
    );
    let money = stake_line.trim_start_matches("Money at stake: ");
    assert!(
        headline.contains(money),
        "the headline says {money}: {headline}"
    );

    // The same alert by e-mail: subject = the webhook's headline, and the same reason and money in the body.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut subjects = Vec::new();
    let (subject, mail_body) = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let mail = rt
            .block_on(async { tokio::time::timeout(left, mails.recv()).await })
            .ok()
            .flatten()
            .unwrap_or_else(|| {
                panic!(
                    "no mail for the alert {headline:?}; got {subjects:?}\n{}",
                    g.log()
                )
            });
        assert_eq!(mail.to, ["<noc@example.jp>"]);
        let (headers, text) = sinks::decoded_body(&mail.data);
        let subject = sinks::subject(&headers);
        if subject == headline {
            break (subject, text);
        }
        subjects.push(subject);
    };
    println!("mail: {subject}");
    assert!(mail_body.contains(stake_line), "{mail_body}");
    assert!(
        mail_body
            .lines()
            .next()
            .unwrap_or("")
            .contains("Sierra Leone"),
        "{mail_body}"
    );
    assert!(
        mail_body.contains(&format!("Rule: {rule} (")),
        "{mail_body}"
    );
}
