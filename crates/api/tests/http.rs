//! The operator API over real HTTP on loopback, in front of a real guard: authentication, roles, tenant
//! isolation, the first admin token, the audit log, failed-login limits, the refusal of plain HTTP on the
//! network, HTTPS with a self-signed certificate and with a private CA (through `api::client`, as `tollguard
//! ctl --ca-cert` uses it), the live event stream, the metrics (decision latency, notification counters) and
//! the kill switch ending a call before the answer returns.

mod common;

use common::{Rig, decision, rig, rig_with};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unauthenticated_requests_get_401_and_health_says_only_ok() {
    let r = rig().await;
    for (method, path) in [
        ("GET", "/api/v1/status"),
        ("GET", "/api/v1/alerts"),
        ("GET", "/api/v1/bans"),
        ("POST", "/api/v1/kill-switches"),
        ("GET", "/api/v1/calls"),
        ("GET", "/api/v1/tokens"),
        ("GET", "/api/v1/events"),
        ("GET", "/metrics"),
    ] {
        let resp = r.raw(method, path, None, None).await;
        assert_eq!(resp.status().as_u16(), 401, "{method} {path}");
        assert!(resp.headers().contains_key("www-authenticate"));
        let body: serde_json::Value = resp.json().await.unwrap();
        assert!(body["error"].as_str().unwrap().contains("Bearer"), "{body}");
    }
    let (s, b) = r
        .call(
            "GET",
            "/api/v1/status",
            Some("tg_0000000000000000_00"),
            None,
        )
        .await;
    assert_eq!(s, 401, "{b}");
    let (s, b) = r.call("GET", "/health", None, None).await;
    assert_eq!((s, b), (200, json!({"status": "ok"})));
    let (s, b) = r.get("/api/v1/status", &r.admin).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["caller"]["role"], "admin");
    let (s, b) = r.call("GET", "/api/v1/nothing", Some(&r.admin), None).await;
    assert_eq!(s, 404);
    assert!(b["error"].is_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_start_token_works_once_printed_and_is_not_retrievable() {
    let r = rig().await;
    // A second start creates nothing: the admin token exists.
    let again = api::bootstrap_admin(&api::ApiConfig::default(), &r.store_path).unwrap();
    assert_eq!(again, None);
    let (s, _) = r.get("/api/v1/status", &r.admin).await;
    assert_eq!(s, 200);
    let (s, list) = r.get("/api/v1/tokens", &r.admin).await;
    assert_eq!(s, 200);
    let secret = r.admin.rsplit('_').next().unwrap();
    assert!(
        !list.to_string().contains(secret),
        "the list shows no secret"
    );
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["created_by"], "tollguard");
    // Nothing on disk holds the secret (database, WAL).
    for entry in std::fs::read_dir(r.dir.path()).unwrap() {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        assert!(
            !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "{} holds the secret",
            path.display()
        );
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&r.store_path)
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "store mode {mode:o}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_cannot_set_a_kill_switch_an_operator_can() {
    let r = rig().await;
    let viewer = r.token("viewer", None).await;
    let operator = r.token("operator", None).await;
    let body =
        json!({"scope": "tenant", "tenant": "acme", "classes": ["international"], "why": "test"});
    let (s, b) = r.post("/api/v1/kill-switches", &viewer, body.clone()).await;
    assert_eq!(s, 403, "{b}");
    assert!(
        b["error"].as_str().unwrap().contains("operator role"),
        "{b}"
    );
    let (s, b) = r.post("/api/v1/kill-switches", &operator, body).await;
    assert_eq!(s, 201, "{b}");
    let (s, list) = r.get("/api/v1/kill-switches", &viewer).await;
    assert_eq!(s, 200);
    assert_eq!(list[0]["tenant"], "acme");
    assert_eq!(list[0]["classes"], json!(["international"]));
    assert!(list[0]["by"].as_str().unwrap().contains("operator test"));
    // The guard enforces it at once.
    let st = r.handle.status().await.unwrap();
    assert_eq!(st.kill_switches.len(), 1);
    // Unknown tenant and class are refused with a sentence.
    let (s, b) = r
        .post(
            "/api/v1/kill-switches",
            &operator,
            json!({"scope": "tenant", "tenant": "acme", "classes": ["internationl"], "why": "x"}),
        )
        .await;
    assert_eq!(s, 422, "{b}");
    let (s, b) = r
        .post(
            "/api/v1/kill-switches",
            &operator,
            json!({"scope": "tenant", "tenant": "nobody", "classes": ["international"], "why": "x"}),
        )
        .await;
    assert_eq!(s, 422, "{b}");
    // Lifted by scope.
    let (s, b) = r
        .post(
            "/api/v1/kill-switches/lift",
            &operator,
            json!({"scope": "tenant", "tenant": "acme", "why": "false alarm"}),
        )
        .await;
    assert_eq!((s, &b["lifted"]), (200, &json!(1)), "{b}");
    assert!(r.handle.status().await.unwrap().kill_switches.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_token_cannot_read_or_change_another_tenant() {
    let r = rig().await;
    let ids_b = {
        let mut s = r.store();
        s.insert_alerts("acme", &[decision("pumping", "acme pumping")])
            .unwrap();
        s.insert_alerts(
            "beta",
            &[decision("velocity_account_minute", "beta secret")],
        )
        .unwrap()
    };
    let b_alert = ids_b[0];
    r.call_in_progress(&r.pbx_b, "beta-call-1").await;
    let a_op = r.token("operator", Some(&["acme"])).await;

    // Alerts: only acme's are listed; beta's are 404 by filter, by id and for acknowledgement.
    let (s, list) = r.get("/api/v1/alerts", &a_op).await;
    assert_eq!(s, 200);
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    assert_eq!(list[0]["tenant"], "acme");
    assert!(!list.to_string().contains("beta secret"));
    assert_eq!(r.get("/api/v1/alerts?tenant=beta", &a_op).await.0, 404);
    assert_eq!(
        r.get(&format!("/api/v1/alerts/{b_alert}"), &a_op).await.0,
        404
    );
    let (s, _) = r
        .post(&format!("/api/v1/alerts/{b_alert}/ack"), &a_op, json!({}))
        .await;
    assert_eq!(s, 404);

    // Calls: beta's call is invisible and cannot be ended.
    let (s, calls) = r.get("/api/v1/calls", &a_op).await;
    assert_eq!((s, calls.as_array().unwrap().len()), (200, 0), "{calls}");
    assert_eq!(r.get("/api/v1/calls?tenant=beta", &a_op).await.0, 404);
    let (s, _) = r
        .post("/api/v1/calls/beta-call-1/end", &a_op, json!({"why": "x"}))
        .await;
    assert_eq!(s, 404);
    let (_, all) = r.get("/api/v1/calls", &r.admin).await;
    assert_eq!(
        all[0]["call_id"], "beta-call-1",
        "the call is still up: {all}"
    );

    // Bans are not tenant data: a scoped token may neither list nor change them.
    assert_eq!(r.get("/api/v1/bans", &a_op).await.0, 403);
    let ban = json!({"source": "203.0.113.9", "minutes": 10, "why": "scanner"});
    assert_eq!(r.post("/api/v1/bans", &a_op, ban).await.0, 403);
    assert_eq!(
        r.call("DELETE", "/api/v1/bans/203.0.113.9", Some(&a_op), None)
            .await
            .0,
        403
    );

    // Kill switches: not for beta, not for everyone; for acme yes.
    let ks = |scope: &str, tenant: Option<&str>| json!({"scope": scope, "tenant": tenant, "classes": ["international"], "why": "t"});
    let (s, b) = r
        .post("/api/v1/kill-switches", &a_op, ks("tenant", Some("beta")))
        .await;
    assert_eq!(s, 403, "{b}");
    let (s, b) = r
        .post("/api/v1/kill-switches", &a_op, ks("all", None))
        .await;
    assert_eq!(s, 403, "{b}");
    let (s, b) = r
        .post("/api/v1/kill-switches", &a_op, ks("tenant", Some("acme")))
        .await;
    assert_eq!(s, 201, "{b}");
    // An admin's switch for beta is not shown to acme's token and cannot be lifted by it.
    let (s, b) = r
        .post(
            "/api/v1/kill-switches",
            &r.admin,
            ks("tenant", Some("beta")),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    let beta_switch = b["switch"]["id"].as_u64().unwrap();
    let (_, list) = r.get("/api/v1/kill-switches", &a_op).await;
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    let (s, _) = r
        .call(
            "DELETE",
            &format!("/api/v1/kill-switches/{beta_switch}"),
            Some(&a_op),
            None,
        )
        .await;
    assert_eq!(s, 404);

    // Accounts, status, events are filtered the same way; tokens cannot be made wider than the creator.
    assert_eq!(r.get("/api/v1/accounts?tenant=beta", &a_op).await.0, 404);
    let (_, st) = r.get("/api/v1/status", &a_op).await;
    assert_eq!(st["calls_in_progress"], 0);
    assert!(st["guard"].is_null());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_change_is_in_the_audit_log_with_token_and_time() {
    let r = rig().await;
    let id = r
        .store()
        .insert_alerts("acme", &[decision("pumping", "p")])
        .unwrap()[0];
    let op = r.token("operator", None).await;
    let op_id = op.split('_').nth(1).unwrap().to_owned();
    let admin_id = r.admin.split('_').nth(1).unwrap().to_owned();
    r.call_in_progress(&r.pbx_a, "acme-call-1").await;
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;

    let ok = |s: u16, b: &serde_json::Value| assert!((200..300).contains(&s), "{s} {b}");
    let (s, b) = r
        .post(
            "/api/v1/bans",
            &op,
            json!({"source": "203.0.113.9", "minutes": 30, "why": "scanner"}),
        )
        .await;
    ok(s, &b);
    let (s, b) = r
        .call("DELETE", "/api/v1/bans/203.0.113.9", Some(&op), None)
        .await;
    ok(s, &b);
    let (s, b) = r
        .post(
            "/api/v1/kill-switches",
            &op,
            json!({"scope": "account", "tenant": "acme", "account": "205", "classes": ["premium"], "why": "t"}),
        )
        .await;
    ok(s, &b);
    let ks = b["switch"]["id"].as_u64().unwrap();
    let (s, b) = r
        .call(
            "DELETE",
            &format!("/api/v1/kill-switches/{ks}"),
            Some(&op),
            None,
        )
        .await;
    ok(s, &b);
    let (s, b) = r
        .post(&format!("/api/v1/alerts/{id}/ack"), &op, json!({}))
        .await;
    ok(s, &b);
    assert!(b["acked_by"].as_str().unwrap().contains(&op_id));
    let (s, b) = r
        .post(&format!("/api/v1/alerts/{id}/ack"), &op, json!({}))
        .await;
    assert_eq!(s, 409, "{b}");
    let (s, b) = r
        .post(
            "/api/v1/calls/acme-call-1/end",
            &op,
            json!({"why": "suspicious"}),
        )
        .await;
    ok(s, &b);
    Rig::expect(&r.carrier, "BYE ").await;
    let (s, b) = r.post("/api/v1/policy/reload", &op, json!({})).await;
    ok(s, &b);
    let (s, b) = r
        .post(
            "/api/v1/tokens",
            &r.admin,
            json!({"role": "viewer", "label": "wall screen"}),
        )
        .await;
    ok(s, &b);
    let viewer_id = b["id"].as_str().unwrap().to_owned();
    let (s, b) = r
        .call(
            "DELETE",
            &format!("/api/v1/tokens/{viewer_id}"),
            Some(&r.admin),
            None,
        )
        .await;
    ok(s, &b);

    let (s, log) = r.get("/api/v1/audit?limit=50", &r.admin).await;
    assert_eq!(s, 200);
    let entries = log.as_array().unwrap();
    for (action, actor) in [
        ("ban.add", &op_id),
        ("ban.lift", &op_id),
        ("kill_switch.set", &op_id),
        ("kill_switch.lift", &op_id),
        ("alert.ack", &op_id),
        ("call.end", &op_id),
        ("policy.reload", &op_id),
        ("token.create", &admin_id),
        ("token.revoke", &admin_id),
    ] {
        let e = entries
            .iter()
            .find(|e| e["action"] == action && e["actor"] == actor.as_str())
            .unwrap_or_else(|| panic!("no {action} by {actor} in {log}"));
        assert!(e["at"].as_i64().unwrap() >= before, "{e}");
    }
    let call_end = entries.iter().find(|e| e["action"] == "call.end").unwrap();
    assert_eq!(call_end["tenant"], "acme");
    assert!(call_end["detail"].as_str().unwrap().contains("suspicious"));
    // The same entries are in the store, where they outlive the process.
    assert!(r.store().audit_log(None, 100).unwrap().len() >= 9);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_logins_are_rate_limited_per_address() {
    let r = rig_with(api::ApiConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        failed_logins_per_minute: 3,
        ..Default::default()
    })
    .await;
    let wrong =
        "tg_0123456789abcdef_0000000000000000000000000000000000000000000000000000000000000000";
    for _ in 0..3 {
        assert_eq!(r.get("/api/v1/status", wrong).await.0, 401);
    }
    let resp = r.raw("GET", "/api/v1/status", Some(wrong), None).await;
    assert_eq!(resp.status().as_u16(), 429);
    let retry: u64 = resp.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=20).contains(&retry), "Retry-After {retry}");
    // While limited, even the right token is refused: guessing cannot go on at full speed.
    assert_eq!(r.get("/api/v1/status", &r.admin).await.0, 429);
    // Health needs no token and stays up.
    assert_eq!(r.call("GET", "/health", None, None).await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_network_address_without_tls_is_refused_at_start() {
    let r = rig().await;
    let cfg = api::ApiConfig {
        listen: "0.0.0.0:0".parse().unwrap(),
        ..Default::default()
    };
    let e = api::bind(cfg.clone(), r.handle.clone(), r.store_path.clone())
        .await
        .unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("TLS is not configured") && msg.contains("0.0.0.0"),
        "{msg}"
    );
    let allowed = api::ApiConfig {
        allow_plaintext_non_loopback: true,
        ..cfg
    };
    let bound = api::bind(allowed, r.handle.clone(), r.store_path.clone()).await;
    assert!(bound.is_ok(), "explicitly allowed: {bound:?}");
}

/// The value of the sample named exactly `name` (with its labels, if any) in an OpenMetrics text.
fn sample(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .filter_map(|l| l.rsplit_once(' '))
        .find(|(n, _)| *n == name)
        .and_then(|(_, v)| v.parse().ok())
}

/// Reads server-sent events until `done` holds for those read so far; returns them as (name, data).
async fn read_events(
    resp: &mut reqwest::Response,
    done: impl Fn(&[(String, serde_json::Value)]) -> bool,
) -> Vec<(String, serde_json::Value)> {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut buf = String::new();
    let mut events = Vec::new();
    loop {
        while let Some(end) = buf.find("\n\n") {
            let block: String = buf.drain(..end + 2).collect();
            let mut ev = String::new();
            let mut data = String::new();
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("event:") {
                    ev = v.trim().to_owned();
                } else if let Some(v) = line.strip_prefix("data:") {
                    data.push_str(v.trim_start());
                }
            }
            if !ev.is_empty() {
                events.push((ev, serde_json::from_str(&data).unwrap_or_default()));
            }
        }
        if done(&events) {
            return events;
        }
        let chunk = tokio::time::timeout_at(deadline, resp.chunk())
            .await
            .unwrap_or_else(|_| panic!("not the expected events within 10 s: {events:?}"))
            .unwrap()
            .expect("the stream ended");
        buf.push_str(&String::from_utf8_lossy(&chunk));
    }
}

fn has(events: &[(String, serde_json::Value)], name: &str, call_id: &str) -> bool {
    events
        .iter()
        .any(|(n, d)| n == name && (d["call_id"] == call_id || d["decision"]["call_id"] == call_id))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_events_deliver_decisions_filtered_by_tenant() {
    let r = rig().await;
    let beta = r.token("viewer", Some(&["beta"])).await;
    let mut all = r.raw("GET", "/api/v1/events", Some(&r.admin), None).await;
    assert_eq!(all.status().as_u16(), 200);
    assert!(
        all.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let mut only_beta = r.raw("GET", "/api/v1/events", Some(&beta), None).await;
    // acme's PBX dials Sierra Leone (barred by the default policy), then beta's.
    r.invite_from(&r.pbx_a, "01023276123456", "205", "sl-acme")
        .await;
    let refused = Rig::expect(&r.pbx_a, "SIP/2.0 403").await;
    assert!(refused.contains("sl-acme"));
    r.invite_from(&r.pbx_b, "01023276123456", "301", "sl-beta")
        .await;
    Rig::expect(&r.pbx_b, "SIP/2.0 403").await;

    let seen = read_events(&mut all, |e| {
        has(e, "decision", "sl-beta") && has(e, "call", "sl-beta")
    })
    .await;
    assert!(
        has(&seen, "decision", "sl-acme") && has(&seen, "call", "sl-acme"),
        "{seen:?}"
    );
    let d = seen
        .iter()
        .find(|(n, d)| n == "decision" && d["decision"]["call_id"] == "sl-acme")
        .map(|(_, d)| d)
        .unwrap();
    assert_eq!(d["tenant"], "acme");
    assert!(!d["decision"]["reason"].as_str().unwrap().is_empty(), "{d}");
    let c = seen
        .iter()
        .find(|(n, d)| n == "call" && d["call_id"] == "sl-acme")
        .unwrap();
    assert_eq!(c.1["verdict"], "blocked");
    // The beta-scoped stream got beta's call and decision, and nothing of acme's (which came first).
    let seen_b = read_events(&mut only_beta, |e| {
        has(e, "decision", "sl-beta") && has(e, "call", "sl-beta")
    })
    .await;
    assert!(
        seen_b.iter().all(|(_, d)| d["tenant"] == "beta"),
        "{seen_b:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_prometheus_text_with_the_counters() {
    let r = rig().await;
    r.invite_from(&r.pbx_a, "01023276123456", "205", "m1").await;
    Rig::expect(&r.pbx_a, "SIP/2.0 403").await;
    // Counted as decided; the scrape may still race the guard's task, so wait on the condition.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    let text = loop {
        let resp = r.raw("GET", "/metrics", Some(&r.admin), None).await;
        assert_eq!(resp.status().as_u16(), 200);
        let text = resp.text().await.unwrap();
        if text.contains("tollguard_calls_total{verdict=\"blocked\"} 1") {
            break text;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no blocked call counted:\n{text}"
        );
        tokio::task::yield_now().await;
    };
    assert!(text.ends_with("# EOF\n"), "OpenMetrics ends with # EOF");
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let (name_labels, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("bad line {line}"));
        assert!(value.parse::<f64>().is_ok(), "value of {line}");
        let name = name_labels.split('{').next().unwrap();
        assert!(
            name.starts_with("tollguard_")
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
            "name of {line}"
        );
        if let Some(labels) = name_labels.strip_prefix(name) {
            assert!(
                labels.is_empty() || (labels.starts_with('{') && labels.ends_with('}')),
                "{line}"
            );
        }
    }
    // The scrape itself is counted once it is answered: the next one shows it.
    let text = r
        .raw("GET", "/metrics", Some(&r.admin), None)
        .await
        .text()
        .await
        .unwrap();
    for needle in [
        "tollguard_api_requests_total{method=\"GET\",route=\"/metrics\",outcome=\"200\"}",
        "tollguard_alerts_total{rule=",
        "tollguard_money_at_stake_total{tenant=\"acme\",currency=\"JPY\"}",
        "tollguard_bans_active ",
        "tollguard_kill_switches_active ",
        "tollguard_engine_keys_tracked{kind=\"accounts\"}",
        "tollguard_api_request_duration_seconds_bucket",
        "# TYPE tollguard_decision_latency_seconds histogram",
    ] {
        assert!(text.contains(needle), "{needle} missing:\n{text}");
    }
    // One INVITE decided: one count, and cumulative buckets ending at +Inf with that count.
    assert_eq!(
        sample(&text, "tollguard_decision_latency_seconds_count"),
        Some(1.0),
        "{text}"
    );
    let buckets: Vec<(String, f64)> = text
        .lines()
        .filter_map(|l| l.strip_prefix("tollguard_decision_latency_seconds_bucket{le=\""))
        .filter_map(|l| l.split_once("\"} "))
        .map(|(le, v)| (le.to_owned(), v.parse().unwrap()))
        .collect();
    assert!(buckets.len() > 10, "{buckets:?}");
    assert!(buckets.windows(2).all(|w| w[0].1 <= w[1].1), "{buckets:?}");
    assert_eq!(buckets.last(), Some(&("+Inf".to_owned(), 1.0)));
    assert!(
        !text.contains("tollguard_notify_"),
        "no notifier attached, no notification counters"
    );
    // A tenant-scoped token does not get the global figures.
    let scoped = r.token("viewer", Some(&["acme"])).await;
    assert_eq!(r.get("/metrics", &scoped).await.0, 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kill_switch_ends_the_calls_in_progress_before_the_answer_returns() {
    let r = rig().await;
    r.call_in_progress(&r.pbx_a, "acme-up").await;
    r.call_in_progress(&r.pbx_b, "beta-up").await;
    let (s, b) = r
        .post(
            "/api/v1/kill-switches",
            &r.admin,
            json!({"scope": "tenant", "tenant": "acme", "classes": ["domestic"], "why": "pump on acme"}),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    assert_eq!(b["sync"]["calls_ended"], json!(["acme-up"]), "{b}");
    let bye = Rig::expect(&r.carrier, "BYE ").await;
    assert!(bye.contains("acme-up"), "{bye}");
    let (_, calls) = r.get("/api/v1/calls", &r.admin).await;
    let ids: Vec<&str> = calls
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["call_id"].as_str())
        .collect();
    assert_eq!(ids, vec!["beta-up"], "the other tenant's call stays up");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policy_validation_names_the_line() {
    let r = rig().await;
    let op = r.token("operator", None).await;
    let resp = r
        .client
        .post(format!("{}/api/v1/policy/validate", r.url))
        .bearer_auth(&op)
        .header("content-type", "application/toml")
        .body("[defaults]\n\n[defaults.rules.velocity_account_minute]\nwarning = \"many\"\n")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 422);
    let b: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(b["valid"], false);
    assert_eq!(b["line"], 4, "{b}");
    let resp = r
        .client
        .post(format!("{}/api/v1/policy/validate", r.url))
        .bearer_auth(&op)
        .body("[defaults]\n")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let (s, b) = r.get("/api/v1/policy", &op).await;
    assert_eq!((s, b["source"].as_str()), (200, Some("default")), "{b}");
}

/// A second API on the rig's guard and store (so the rig's tokens work), started with `config` and given
/// the notifier when there is one; returns its address and what stops it.
async fn second_api(
    r: &Rig,
    config: api::ApiConfig,
    notifier: Option<api::notify::Notifier>,
) -> (std::net::SocketAddr, tokio::sync::oneshot::Sender<()>) {
    let mut bound = api::bind(config, r.handle.clone(), r.store_path.clone())
        .await
        .unwrap();
    if let Some(n) = notifier {
        bound = bound.with_notifier(n);
    }
    let addr = bound.local_addr();
    let (stop, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(bound.run(async move {
        let _ = rx.await;
    }));
    (addr, stop)
}

fn loopback_api() -> api::ApiConfig {
    api::ApiConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_export_the_notification_counters_by_channel() {
    let r = rig().await;
    // A webhook on a port that was just free: connections are refused, 2 attempts, then given up.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = api::notify::NotifyConfig::from_toml_str(&format!(
        "[notify]\n[notify.retry]\nattempts = 2\nfirst_backoff_secs = 0.01\nmax_backoff_secs = 0.05\n\
         timeout_secs = 2\n[[notify.webhook]]\nname = \"noc\"\nurl = \"http://127.0.0.1:{port}/hook\"\n"
    ))
    .unwrap();
    let notifier = api::notify::Notifier::start(config);
    let mut deliveries = notifier.subscribe_deliveries();
    let (addr, _stop) = second_api(&r, loopback_api(), Some(notifier.clone())).await;
    notifier.send(api::notify::Alert {
        id: None,
        tenant: "acme".into(),
        decision: decision("pumping", "ext 205 of acme pumped Sierra Leone"),
    });
    let report = tokio::time::timeout(std::time::Duration::from_secs(10), deliveries.recv())
        .await
        .expect("a delivery report within 10 s")
        .unwrap();
    assert!(!report.ok && report.attempts == 2, "{report:?}");
    let text = r
        .client
        .get(format!("http://{addr}/metrics"))
        .bearer_auth(&r.admin)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for (name, want) in [
        ("tollguard_notify_failed_total{channel=\"webhook\"}", 1.0),
        ("tollguard_notify_retries_total{channel=\"webhook\"}", 1.0),
        ("tollguard_notify_delivered_total{channel=\"webhook\"}", 0.0),
        ("tollguard_notify_dropped_total{channel=\"webhook\"}", 0.0),
        ("tollguard_notify_collapsed_total{channel=\"webhook\"}", 0.0),
        ("tollguard_notify_delivered_total{channel=\"email\"}", 0.0),
        ("tollguard_notify_failed_total{channel=\"syslog\"}", 0.0),
    ] {
        assert_eq!(sample(&text, name), Some(want), "{name}:\n{text}");
    }
    assert!(
        text.contains("# TYPE tollguard_notify_failed counter"),
        "{text}"
    );
}

/// A self-signed certificate for 127.0.0.1 as `openssl req -x509` makes one (marked as a CA, which webpki
/// refuses as a server's certificate), and its key, as PEM files in `dir` named after `name`.
fn self_signed(dir: &std::path::Path, name: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    let mut params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()]).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    let (cert_file, key_file) = (
        dir.join(format!("{name}.crt")),
        dir.join(format!("{name}.key")),
    );
    std::fs::write(&cert_file, cert.pem()).unwrap();
    std::fs::write(&key_file, key.serialize_pem()).unwrap();
    (cert_file, key_file)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_with_a_self_signed_certificate_works_for_a_client_that_trusts_it() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = self_signed(dir.path(), "api");
    let (other, _) = self_signed(dir.path(), "other");
    let r = rig_with(api::ApiConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        tls_cert: Some(cert.clone()),
        tls_key: Some(key.clone()),
        ..Default::default()
    })
    .await;
    let https = r.url.replacen("http://", "https://", 1);
    let trusting =
        api::client::Client::with_ca_cert(&https, Some(r.admin.clone()), Some(&cert)).unwrap();
    let status = trusting.json("GET", "/api/v1/status", None).await.unwrap();
    assert!(status["version"].is_string(), "{status}");
    // Over HTTPS as over HTTP: no token, no answer.
    let anonymous = api::client::Client::with_ca_cert(&https, None, Some(&cert)).unwrap();
    match anonymous.json("GET", "/api/v1/status", None).await {
        Err(api::client::ClientError::Api { status: 401, .. }) => {}
        other => panic!("{other:?}"),
    }
    // Without the certificate, or with another one, the server is not trusted: the error says why.
    for untrusting in [
        api::client::Client::new(&https, Some(r.admin.clone())).unwrap(),
        api::client::Client::with_ca_cert(&https, Some(r.admin.clone()), Some(&other)).unwrap(),
    ] {
        match untrusting.json("GET", "/api/v1/status", None).await {
            Err(api::client::ClientError::Unreachable { detail, .. }) => {
                assert!(detail.contains("certificate"), "{detail}")
            }
            other => panic!("{other:?}"),
        }
    }
    // Plain HTTP to the TLS port gets no answer.
    let plain = api::client::Client::new(&r.url, Some(r.admin.clone())).unwrap();
    let e = plain.json("GET", "/api/v1/status", None).await.unwrap_err();
    assert!(
        matches!(e, api::client::ClientError::Unreachable { .. }),
        "{e:?}"
    );
    // With TLS, a network address is accepted (without it, refused: see the test above).
    let network = api::ApiConfig {
        listen: "0.0.0.0:8443".parse().unwrap(),
        tls_cert: Some(cert),
        tls_key: Some(key),
        ..Default::default()
    };
    assert_eq!(network.check(), Ok(()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_with_a_private_ca_works_for_a_client_given_the_ca() {
    let dir = tempfile::tempdir().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "tollguard test CA");
    ca_params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::DigitalSignature,
    ];
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, rcgen::KeyPair::generate().unwrap())
        .unwrap();
    let leaf_key = rcgen::KeyPair::generate().unwrap();
    let leaf = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()])
        .unwrap()
        .signed_by(&leaf_key, &*ca)
        .unwrap();
    let (ca_file, cert, key) = (
        dir.path().join("ca.pem"),
        dir.path().join("api.crt"),
        dir.path().join("api.key"),
    );
    std::fs::write(&ca_file, ca.pem()).unwrap();
    std::fs::write(&cert, leaf.pem()).unwrap();
    std::fs::write(&key, leaf_key.serialize_pem()).unwrap();

    let r = rig().await;
    let (addr, _stop) = second_api(
        &r,
        api::ApiConfig {
            tls_cert: Some(cert),
            tls_key: Some(key),
            ..loopback_api()
        },
        None,
    )
    .await;
    let https = format!("https://{addr}");
    let client =
        api::client::Client::with_ca_cert(&https, Some(r.admin.clone()), Some(&ca_file)).unwrap();
    let tokens = client.json("GET", "/api/v1/tokens", None).await.unwrap();
    assert!(tokens.as_array().is_some_and(|t| !t.is_empty()), "{tokens}");
    let untrusting = api::client::Client::new(&https, Some(r.admin.clone())).unwrap();
    assert!(
        untrusting
            .json("GET", "/api/v1/status", None)
            .await
            .is_err()
    );
    // The CA's certificate vouches for 127.0.0.1 only: by another name the server is refused.
    let by_name = format!("https://localhost:{}", addr.port());
    let wrong_name =
        api::client::Client::with_ca_cert(&by_name, Some(r.admin.clone()), Some(&ca_file)).unwrap();
    match wrong_name.json("GET", "/api/v1/status", None).await {
        Err(api::client::ClientError::Unreachable { detail, .. }) => {
            assert!(detail.contains("certificate"), "{detail}")
        }
        other => panic!("{other:?}"),
    }
}

/// A storm of one rule for one account, as the guard's writer stores it, is listed as one alert that says
/// how many times it fired and from when to when; another account's alert is its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alert_storm_is_listed_once_with_its_count_and_times() {
    let r = rig().await;
    {
        let mut s = r.store();
        // Shadow decisions (report-only) fold into storms; refused calls keep a row each.
        let at = |ms: i64, mut d: engine::Decision| {
            d.at = ms;
            d.shadow = true;
            d
        };
        // 2026-12-07 02:14:07 UTC and on, one a second.
        let t0 = 1_796_609_647_000;
        let storm: Vec<_> = (0..1_000)
            .map(|i| at(t0 + i * 1_000, decision("pumping", "acme/205 pumping")))
            .collect();
        let mut other = decision("pumping", "acme/206 pumping");
        other.subject = engine::Subject::Account {
            tenant: "acme".into(),
            account: "206".into(),
        };
        s.write_batch(&store::Batch {
            alerts: vec![("acme".into(), storm), ("acme".into(), vec![at(t0, other)])],
            ..Default::default()
        })
        .unwrap();
        s.flush_alert_repeats(None).unwrap();
    }
    let (s, list) = r.get("/api/v1/alerts", &r.admin).await;
    assert_eq!(s, 200, "{list}");
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 2, "{list:?}");
    assert_eq!(list[0]["times"], 1_000, "{list:?}");
    assert_eq!(
        list[0]["repeated"],
        "fired 1,000 times from 2026-12-07 02:14:07 to 02:30:46 UTC"
    );
    assert_eq!(list[1]["times"], 1);
    assert_eq!(list[1]["repeated"], "fired once at 2026-12-07 02:14:07 UTC");
}
