//! Notifications over real loopback sockets: a webhook receiver and an SMTP sink (minimal HTTP/1.1 and SMTP,
//! in `tests/sinks/`, shared with the end-to-end tests of `tollguard serve`), and a UDP socket standing in for
//! syslogd. They receive the alerts of a replayed toll-fraud attack (short answered calls to Sierra Leone from
//! ext 205 of acme) with the reason and the money at stake. Nothing sleeps to wait: every wait is for a
//! message, with a deadline.

mod sinks;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use api::notify::{Alert, Delivery, Notifier, NotifyConfig};
use engine::decision::String3;
use engine::{Action, Amount, Decision, Level, Unit};
use numbering::group_thousands;
use sinks::{DEADLINE, Mail, decoded_body, hook, smtp_sink, subject, within};
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::broadcast;

/// The n-th pumping alert of the attack, as the engine words it: each short call adds 105 JPY at stake.
fn attack(tenant: &str, n: i64) -> Alert {
    let calls: Vec<String> = (1..=n.min(10)).map(|i| format!("sl-{i}@pbx")).collect();
    let stake = 105_000 * n;
    Alert {
        id: Some(n),
        tenant: tenant.to_owned(),
        decision: Decision {
            at: 1_430_525_700_000 + n * 31_000,
            rule: engine::RuleId::Pumping,
            level: Level::Critical,
            action: Action::Block { sip_status: 403 },
            shadow: false,
            subject: engine::Subject::Account {
                tenant: tenant.into(),
                account: "205".into(),
            },
            country: Some("SL".into()),
            call: Some(engine::CallFacts {
                tenant: tenant.into(),
                account: "205".into(),
                number: None,
                class: None,
                length: Some(engine::CallLength {
                    secs: 30,
                    jitter_secs: 2,
                }),
            }),
            measured: n,
            threshold: 4,
            unit: Unit::SimilarCalls,
            window_secs: 3600,
            call_id: calls.last().cloned(),
            calls: calls.iter().collect(),
            at_stake: Some(Amount {
                millis: stake,
                currency: String3(*b"JPY"),
            }),
            reason: format!(
                "ext 205 of {tenant} made {n} answered calls of 30±2 s to Sierra Leone in 1 h (limit 4): looks like traffic pumping; {} JPY at stake. Call blocked",
                stake / 1000
            ),
        },
    }
}

fn warning(tenant: &str) -> Alert {
    let mut a = attack(tenant, 1);
    a.decision.level = Level::Warning;
    a.decision.rule = engine::RuleId::NoveltyCountry;
    a.decision.action = Action::Warn;
    a.decision.reason = format!(
        "ext 205 of {tenant} called Sierra Leone for the first time (Sierra Leone (+23276123456))"
    );
    a
}

fn config(text: &str) -> NotifyConfig {
    match NotifyConfig::from_toml_str(text) {
        Ok(c) => c,
        Err(e) => panic!("test config: {e}\n{text}"),
    }
}

/// Retries fast so that tests do not wait for production back-off.
const FAST: &str = "[notify.retry]\nattempts = 3\nfirst_backoff_secs = 0.01\nmax_backoff_secs = 0.05\ntimeout_secs = 2\n";

async fn delivery(rx: &mut broadcast::Receiver<Delivery>) -> Delivery {
    within("delivery report", async { rx.recv().await.ok() }).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_json_carries_reason_money_and_decision() {
    let mut h = hook(&[]).await;
    let n = Notifier::start(config(&format!(
        "[notify]\n[[notify.webhook]]\nurl = \"{}\"\nheaders = {{ Authorization = \"Bearer t0ken\" }}\n",
        h.url("/alerts")
    )));
    n.send(attack("acme", 5));
    let req = h.next().await;
    assert_eq!(req.path, "/alerts");
    assert_eq!(req.header("authorization"), Some("Bearer t0ken"));
    assert_eq!(req.header("content-type"), Some("application/json"));
    let b = &req.body;
    assert_eq!(b["kind"], "alert");
    assert_eq!(b["tenant"], "acme");
    assert_eq!(b["level"], "critical");
    assert_eq!(b["id"], 5);
    assert_eq!(
        b["headline"],
        "[CRITICAL] possible fraud — acme: traffic pumping (ext 205) — call blocked, 525 JPY at stake"
    );
    let body = b["body"].as_str().unwrap_or("");
    assert!(
        body.contains("to Sierra Leone in 1 h (limit 4): looks like traffic pumping"),
        "{body}"
    );
    assert!(body.contains("Money at stake: 525 JPY"), "{body}");
    assert_eq!(b["decision"]["at_stake"]["millis"], 525_000);
    assert_eq!(b["decision"]["rule"], "pumping");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slack_and_teams_receive_their_own_payloads_in_japanese() {
    let mut slack = hook(&[]).await;
    let mut teams = hook(&[]).await;
    let mut card = hook(&[]).await;
    let n = Notifier::start(config(&format!(
        "[notify]\n\
         [[notify.webhook]]\nurl = \"{}\"\nformat = \"slack\"\nlang = \"ja\"\n\
         [[notify.webhook]]\nurl = \"{}\"\nformat = \"teams\"\nlang = \"ja\"\n\
         [[notify.webhook]]\nurl = \"{}\"\nformat = \"teams_message_card\"\n",
        slack.url("/s"),
        teams.url("/t"),
        card.url("/c")
    )));
    n.send(attack("acme", 5));

    let s = slack.next().await.body;
    assert_eq!(
        s["text"],
        "【重大・不正利用の疑い】acme: 内線205 トラフィックパンピングの疑い — 通話を遮断、損害見込み 525円"
    );
    assert_eq!(s["blocks"][0]["type"], "header");
    let section = s["blocks"][1]["text"]["text"].as_str().unwrap_or("");
    assert!(
        section.contains("内線205からシエラレオネ宛ての短い国際電話が異常に発信されています"),
        "{section}"
    );
    assert!(section.contains("損害見込み 525円"), "{section}");

    let t = teams.next().await.body;
    assert_eq!(t["type"], "message");
    let a = &t["attachments"][0];
    assert_eq!(a["contentType"], "application/vnd.microsoft.card.adaptive");
    assert_eq!(a["content"]["type"], "AdaptiveCard");
    let texts: Vec<&str> = a["content"]["body"]
        .as_array()
        .map(|v| v.iter().filter_map(|b| b["text"].as_str()).collect())
        .unwrap_or_default();
    assert!(
        texts.iter().any(|t| t.contains("損害見込み 525円")),
        "{texts:?}"
    );

    let c = card.next().await.body;
    assert_eq!(c["@type"], "MessageCard");
    assert_eq!(c["themeColor"], "D70000");
    assert!(
        c["text"]
            .as_str()
            .unwrap_or("")
            .contains("Money at stake: 525 JPY")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_retries_after_503_then_delivers() {
    let mut h = hook(&[503, 503]).await;
    let n = Notifier::start(config(&format!(
        "[notify]\n{FAST}[[notify.webhook]]\nurl = \"{}\"\n",
        h.url("/x")
    )));
    let mut d = n.subscribe_deliveries();
    n.send(attack("acme", 5));
    for _ in 0..3 {
        assert_eq!(h.next().await.body["kind"], "alert");
    }
    let report = delivery(&mut d).await;
    assert!(report.ok, "{report:?}");
    assert_eq!(report.attempts, 3);
    assert_eq!(h.seen(), 3);
    let s = n.stats().webhook;
    assert_eq!((s.delivered, s.failed, s.retries), (1, 0, 2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_is_not_retried_on_400() {
    let h = hook(&[400]).await;
    let n = Notifier::start(config(&format!(
        "[notify]\n{FAST}[[notify.webhook]]\nurl = \"{}\"\n",
        h.url("/x")
    )));
    let mut d = n.subscribe_deliveries();
    n.send(attack("acme", 5));
    let report = delivery(&mut d).await;
    assert!(!report.ok);
    assert_eq!(report.attempts, 1);
    assert!(
        report.error.as_deref().unwrap_or("").contains("400"),
        "{report:?}"
    );
    assert_eq!(h.seen(), 1);
    let s = n.stats().webhook;
    assert_eq!((s.delivered, s.failed, s.retries), (0, 1, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_webhook_gives_up_after_the_configured_attempts() {
    // A port that was just free: connections are refused.
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        l.local_addr().expect("addr").port()
    };
    let n = Notifier::start(config(&format!(
        "[notify]\n{FAST}[[notify.webhook]]\nname = \"noc\"\nurl = \"http://127.0.0.1:{port}/x\"\n"
    )));
    let mut d = n.subscribe_deliveries();
    n.send(attack("acme", 5));
    let report = delivery(&mut d).await;
    assert!(!report.ok);
    assert_eq!(report.recipient, "noc");
    assert_eq!(report.attempts, 3);
    assert!(
        report
            .error
            .as_deref()
            .unwrap_or("")
            .contains("gave up after 3 attempts"),
        "{report:?}"
    );
    assert_eq!(n.stats().webhook.failed, 1);
}

// Paused time: the 1 s window passes as soon as the runtime has nothing else to do, not in real time.
#[tokio::test(start_paused = true)]
async fn storm_of_50_alerts_is_the_first_of_each_rule_then_one_collapsed_message_of_48() {
    let mut h = hook(&[]).await;
    let n = Notifier::start(config(&format!(
        "[notify]\ncollapse_secs = 1\n[[notify.webhook]]\nurl = \"{}\"\n",
        h.url("/x")
    )));
    let mut d = n.subscribe_deliveries();
    for i in 1..=50 {
        let mut a = attack("acme", i);
        if i > 43 {
            a.decision.rule = engine::RuleId::VelocityAccountMinute;
        }
        n.send(a);
    }
    let first = h.next().await.body;
    assert_eq!(first["kind"], "alert");
    assert_eq!(first["id"], 1);
    // A new rule within the storm is not folded: its first alert goes at once too.
    let second = h.next().await.body;
    assert_eq!(second["kind"], "alert", "{second}");
    assert_eq!(second["id"], 44);
    assert_eq!(second["decision"]["rule"], "velocity_account_minute");
    let third = h.next().await.body;
    assert_eq!(third["kind"], "collapsed", "{third}");
    assert_eq!(third["count"], 48);
    assert_eq!(third["by_rule"]["pumping"], 42);
    assert_eq!(third["by_rule"]["velocity_account_minute"], 6);
    // 105 JPY × (2 + 3 + … + 50) at stake, less alert 44's, which went alone.
    let yen: i64 = (2..=50).filter(|i| *i != 44).map(|i| 105 * i).sum();
    assert_eq!(third["at_stake"][0]["millis"], yen * 1000);
    // Then since when the storm goes on and its alerts in all, the two sent alone included.
    let summary = third["summary"].as_str().unwrap_or_default();
    let (head, storm) = summary.split_once("; ").unwrap_or_default();
    assert_eq!(
        head,
        format!(
            "and 48 more alerts for acme: pumping ×42, velocity_account_minute ×6, at stake {} JPY",
            group_thousands(yen)
        )
    );
    assert!(
        storm.starts_with("storm going on since ") && storm.ends_with(" UTC, 50 alerts so far"),
        "{summary}"
    );
    // Nothing else is pending for acme: the next message is another tenant's alert, sent after.
    n.send(attack("globex", 1));
    assert_eq!(h.next().await.body["tenant"], "globex");
    let mut reports = Vec::new();
    for _ in 0..4 {
        reports.push(delivery(&mut d).await);
    }
    let counts: Vec<(u64, bool)> = reports.iter().map(|r| (r.alerts, r.collapsed)).collect();
    assert_eq!(counts, [(1, false), (1, false), (48, true), (1, false)]);
    let s = n.stats().webhook;
    assert_eq!((s.delivered, s.collapsed, s.dropped), (4, 48, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_sends_what_the_storm_window_holds_at_once_in_japanese() {
    let mut h = hook(&[]).await;
    // A window of an hour: only `close` can bring the collapsed message out within the test's deadline.
    let n = Notifier::start(config(&format!(
        "[notify]\ncollapse_secs = 3600\n[[notify.webhook]]\nurl = \"{}\"\nformat = \"slack\"\nlang = \"ja\"\n",
        h.url("/x")
    )));
    for i in 1..=10 {
        n.send(attack("acme", i));
    }
    assert!(
        h.next().await.body["text"]
            .as_str()
            .unwrap_or("")
            .starts_with("【重大・不正利用の疑い】acme: 内線205")
    );
    n.close(DEADLINE).await;
    let collapsed = h.next().await.body;
    let text = collapsed["text"].as_str().unwrap_or("");
    let yen: i64 = (2..=10).map(|i| 105 * i).sum();
    assert_eq!(
        text,
        format!(
            "【重大】acme: 3600秒間にさらに9件のアラート、損害見込み 合計{}円",
            group_thousands(yen)
        )
    );
    let section = collapsed["blocks"][1]["text"]["text"]
        .as_str()
        .unwrap_or("");
    assert!(
        section.starts_with("acmeでさらに9件のアラート: pumping ×9"),
        "{section}"
    );
    assert!(
        section.contains("最後のアラート: 内線205からシエラレオネ宛て"),
        "{section}"
    );
    // Closed: further alerts are not taken.
    n.send(attack("acme", 11));
    assert_eq!(n.stats().webhook.delivered, 2);
    assert_eq!(h.seen(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secret_header_is_read_from_the_environment() {
    let mut h = hook(&[]).await;
    // Cargo sets CARGO_PKG_NAME for the tests it runs; a real config names e.g. TOLLGUARD_HOOK_AUTH.
    let n = Notifier::start(config(&format!(
        "[notify]\n[[notify.webhook]]\nurl = \"{}\"\nheaders_env = {{ X-Hook-Secret = \"CARGO_PKG_NAME\" }}\n",
        h.url("/x")
    )));
    n.send(attack("acme", 5));
    assert_eq!(h.next().await.header("x-hook-secret"), Some("api"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unset_secret_header_fails_each_delivery_without_posting() {
    let h = hook(&[]).await;
    // The file is valid (check-config passes on a machine without the secret); delivery cannot be.
    let n = Notifier::start(config(&format!(
        "[notify]\ncollapse_secs = 0\n[[notify.webhook]]\nname = \"noc\"\nurl = \"{}\"\nheaders_env = {{ Authorization = \"TOLLGUARD_TEST_SURELY_UNSET_VAR\" }}\n",
        h.url("/x")
    )));
    let mut d = n.subscribe_deliveries();
    n.send(attack("acme", 5));
    n.send(attack("globex", 5));
    for _ in 0..2 {
        let r = delivery(&mut d).await;
        assert!(!r.ok);
        assert_eq!((r.recipient.as_str(), r.attempts), ("noc", 1));
        assert_eq!(
            r.error.as_deref(),
            Some(
                "the environment variable TOLLGUARD_TEST_SURELY_UNSET_VAR (webhook header Authorization) is not set"
            )
        );
    }
    let s = n.stats().webhook;
    assert_eq!((s.delivered, s.failed, s.retries), (0, 2, 0));
    assert_eq!(h.seen(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_that_never_answers_times_out_and_is_retried() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((sock, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            held.push(sock);
        }
    });
    let n = Notifier::start(config(&format!(
        "[notify]\n[notify.retry]\nattempts = 2\nfirst_backoff_secs = 0.01\ntimeout_secs = 0.2\n\
         [[notify.webhook]]\nurl = \"http://{addr}/x\"\n"
    )));
    let mut d = n.subscribe_deliveries();
    n.send(attack("acme", 5));
    let r = delivery(&mut d).await;
    assert!(!r.ok);
    assert_eq!(r.attempts, 2);
    assert_eq!(accepted.load(Ordering::SeqCst), 2);
    assert_eq!(n.stats().webhook.retries, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenant_scoped_recipients_never_get_another_tenants_alerts() {
    let mut acme = hook(&[]).await;
    let mut globex = hook(&[]).await;
    let mut all = hook(&[]).await;
    let n = Notifier::start(config(&format!(
        "[notify]\n\
         [[notify.webhook]]\nurl = \"{}\"\ntenants = [\"acme\"]\n\
         [[notify.webhook]]\nurl = \"{}\"\ntenants = [\"globex\"]\n\
         [[notify.webhook]]\nurl = \"{}\"\n",
        acme.url("/a"),
        globex.url("/g"),
        all.url("/all")
    )));
    // globex's alert first: were it routed to acme's receiver, acme would see it before its own.
    n.send(attack("globex", 5));
    n.send(attack("acme", 5));
    assert_eq!(acme.next().await.body["tenant"], "acme");
    assert_eq!(globex.next().await.body["tenant"], "globex");
    let mut both = vec![
        all.next().await.body["tenant"]
            .as_str()
            .unwrap_or("")
            .to_owned(),
        all.next().await.body["tenant"]
            .as_str()
            .unwrap_or("")
            .to_owned(),
    ];
    both.sort();
    assert_eq!(both, ["acme", "globex"]);
    assert_eq!(acme.seen(), 1);
    assert_eq!(globex.seen(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn critical_only_recipient_skips_warnings() {
    let mut h = hook(&[]).await;
    let n = Notifier::start(config(&format!(
        "[notify]\n[[notify.webhook]]\nurl = \"{}\"\nmin_level = \"critical\"\n",
        h.url("/x")
    )));
    n.send(warning("acme"));
    n.send(attack("acme", 5));
    let got = h.next().await.body;
    assert_eq!(got["level"], "critical");
    assert_eq!(got["decision"]["rule"], "pumping");
    assert_eq!(h.seen(), 1);
}

#[test]
fn full_queue_drops_the_oldest_and_counts_it() {
    // No runtime: nothing is consumed, so the queue of 2 keeps the 2 newest of 5 alerts.
    let n = Notifier::start(config(
        "[notify]\nqueue = 2\n[[notify.webhook]]\nurl = \"http://127.0.0.1:9/x\"\n",
    ));
    for i in 1..=5 {
        n.send(attack("acme", i));
    }
    assert_eq!(n.stats().webhook.dropped, 3);
    assert_eq!(n.stats().email.dropped, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn email_reaches_the_smtp_sink_in_japanese_and_english() {
    let (addr, mut mails) = smtp_sink().await;
    let n = Notifier::start(config(&format!(
        "[notify]\n{FAST}\
         [[notify.email]]\nhost = \"127.0.0.1\"\nport = {port}\ntls = \"none\"\nfrom = \"tollguard@pbx.example.jp\"\nto = [\"soumu@example.jp\"]\nlang = \"ja\"\n\
         [[notify.email]]\nhost = \"127.0.0.1\"\nport = {port}\ntls = \"none\"\nfrom = \"tollguard@pbx.example.jp\"\nto = [\"noc@example.com\", \"oncall@example.com\"]\n",
        port = addr.port()
    )));
    let mut d = n.subscribe_deliveries();
    n.send(attack("acme", 5));
    let mut got = vec![
        within("mail", mails.recv()).await,
        within("mail", mails.recv()).await,
    ];
    got.sort_by_key(|m| m.to.len());
    let [ja, en] = <[Mail; 2]>::try_from(got).unwrap_or_else(|_| unreachable!());

    assert_eq!(ja.from, "<tollguard@pbx.example.jp>");
    assert_eq!(ja.to, ["<soumu@example.jp>"]);
    let (headers, body) = decoded_body(&ja.data);
    assert_eq!(
        subject(&headers),
        "【重大・不正利用の疑い】acme: 内線205 トラフィックパンピングの疑い — 通話を遮断、損害見込み 525円"
    );
    assert!(
        headers.contains("Content-Type: text/plain; charset=utf-8"),
        "{headers}"
    );
    assert!(body.contains("内線205からシエラレオネ宛ての短い国際電話が異常に発信されています（1時間に5通話、30±2秒、上限4通話）"), "{body}");
    assert!(
        body.contains("この通話を遮断しました（SIP 403）。"),
        "{body}"
    );
    assert!(body.contains("損害見込み 525円"), "{body}");
    assert!(
        body.contains("原文: ext 205 of acme made 5 answered calls"),
        "{body}"
    );

    assert_eq!(en.to, ["<noc@example.com>", "<oncall@example.com>"]);
    let (headers, body) = decoded_body(&en.data);
    assert_eq!(
        subject(&headers),
        "[CRITICAL] possible fraud — acme: traffic pumping (ext 205) — call blocked, 525 JPY at stake"
    );
    assert!(
        body.contains("looks like traffic pumping; 525 JPY at stake"),
        "{body}"
    );
    assert!(body.contains("Money at stake: 525 JPY"), "{body}");
    assert!(
        body.contains("Calls: sl-1@pbx, sl-2@pbx, sl-3@pbx, sl-4@pbx, sl-5@pbx"),
        "{body}"
    );

    for _ in 0..2 {
        let r = delivery(&mut d).await;
        assert!(r.ok, "{r:?}");
    }
    assert_eq!(n.stats().email.delivered, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unset_smtp_password_fails_the_delivery_and_spares_the_relay() {
    let (addr, mut mails) = smtp_sink().await;
    let n = Notifier::start(config(&format!(
        "[notify]\n{FAST}\
         [[notify.email]]\nhost = \"127.0.0.1\"\nport = {}\ntls = \"none\"\nusername = \"tollguard\"\npassword_env = \"TOLLGUARD_TEST_SURELY_UNSET_VAR\"\nfrom = \"tollguard@pbx.example.jp\"\nto = [\"noc@example.com\"]\n",
        addr.port()
    )));
    let mut d = n.subscribe_deliveries();
    n.send(attack("acme", 5));
    let r = delivery(&mut d).await;
    assert!(!r.ok);
    assert_eq!(r.attempts, 1);
    assert!(
        r.error
            .as_deref()
            .unwrap_or("")
            .contains("TOLLGUARD_TEST_SURELY_UNSET_VAR (SMTP password) is not set"),
        "{r:?}"
    );
    assert_eq!(n.stats().email.failed, 1);
    assert!(mails.try_recv().is_err());
}

// ---------------------------------------------------------------- syslog

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn syslog_gets_an_rfc5424_line_over_udp() {
    let sock = UdpSocket::bind("127.0.0.1:0").await.expect("bind loopback");
    let addr = sock.local_addr().expect("addr");
    let n = Notifier::start(config(&format!(
        "[notify]\n[notify.syslog]\naddress = \"udp://{addr}\"\nfacility = \"local3\"\nhostname = \"gw1\"\n"
    )));
    let mut d = n.subscribe_deliveries();
    n.send(attack("acme", 5));
    let mut buf = vec![0; 4096];
    let len = within("syslog datagram", async { sock.recv(&mut buf).await.ok() }).await;
    let line = String::from_utf8(buf[..len].to_vec()).expect("UTF-8");
    // <PRI>VERSION TIMESTAMP HOSTNAME APP-NAME PROCID MSGID SD MSG; local3 (19) × 8 + crit (2) = 154.
    let fields: Vec<&str> = line.splitn(7, ' ').collect();
    assert_eq!(fields[0], "<154>1", "{line}");
    assert_eq!(fields[1], "2015-05-02T00:17:35.000Z", "{line}");
    assert_eq!(fields[2], "gw1");
    assert_eq!(fields[3], "tollguard");
    assert!(fields[4].parse::<u32>().is_ok(), "{line}");
    assert_eq!(fields[5], "pumping");
    let rest = fields[6];
    assert!(rest.starts_with("[tollguard@32473 tenant=\"acme\" level=\"critical\" rule=\"pumping\" key=\"account acme/205\" measured=\"5\" threshold=\"4\" window_secs=\"3600\" at_stake=\"525 JPY\" alert_id=\"5\"] \u{feff}"), "{line}");
    assert!(
        rest.ends_with("looks like traffic pumping; 525 JPY at stake. Call blocked"),
        "{line}"
    );
    let r = delivery(&mut d).await;
    assert!(r.ok && r.channel == api::notify::Channel::Syslog, "{r:?}");
    assert_eq!(n.stats().syslog.delivered, 1);
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn syslog_reaches_a_local_socket_like_dev_log() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("log");
    let sock = tokio::net::UnixDatagram::bind(&path).expect("bind socket");
    let n = Notifier::start(config(&format!(
        "[notify]\n[notify.syslog]\naddress = \"{}\"\nmin_level = \"warning\"\n",
        path.display()
    )));
    n.send(warning("globex"));
    let mut buf = vec![0; 4096];
    let len = within("syslog datagram", async { sock.recv(&mut buf).await.ok() }).await;
    let line = String::from_utf8(buf[..len].to_vec()).expect("UTF-8");
    // local0 (16) × 8 + warning (4) = 132.
    assert!(line.starts_with("<132>1 "), "{line}");
    assert!(
        line.contains(" novelty_country [tollguard@32473 tenant=\"globex\" level=\"warning\""),
        "{line}"
    );
    assert!(
        line.ends_with("called Sierra Leone for the first time (Sierra Leone (+23276123456))"),
        "{line}"
    );
}
