//! The HTTP decision front end against a real guard: a querier's token of the decider role decides calls of
//! its tenants and reports their answer and end, and can do nothing else; when the guard cannot decide, the
//! configured failure mode answers, and an emergency call always goes.

mod common;

use common::*;
use serde_json::json;

fn query(call_id: &str, dialed: &str) -> serde_json::Value {
    json!({"call_id": call_id, "account": "205", "dialed": dialed, "caller": "0312340000"})
}

#[tokio::test]
async fn a_decider_decides_its_tenants_calls_in_words_and_money() {
    let rig = rig().await;
    let t = rig.token("decider", Some(&["acme"])).await;
    let (s, b) = rig
        .post("/api/v1/decide", &t, query("h1", "0312345678"))
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["allow"], true, "{b}");
    assert_eq!(b["status"], 0);
    assert_eq!(b["tenant"], "acme");
    assert_eq!(b["source"], "decided");

    let (s, b) = rig
        .post("/api/v1/decide", &t, query("h2", "#010232761234"))
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["allow"], false, "the 2015 pattern: {b}");
    assert!(b["status"].as_u64().unwrap() >= 400, "{b}");
    assert!(
        b["reason"].as_str().unwrap().contains("Sierra Leone"),
        "{b}"
    );
    assert!(!b["reason_ja"].as_str().unwrap_or("").is_empty(), "{b}");
    assert!(b["rule"].is_string(), "{b}");
    assert!(b["at_stake"]["amount"].as_f64().unwrap() > 0.0, "{b}");

    let (s, b) = rig.post("/api/v1/decide", &t, query("h3", "110")).await;
    assert_eq!(
        (s, b["allow"].clone(), b["emergency"].clone()),
        (200, json!(true), json!(true))
    );
}

#[tokio::test]
async fn a_decider_token_can_do_nothing_else_and_sees_no_other_tenant() {
    let rig = rig().await;
    let t = rig.token("decider", Some(&["acme"])).await;
    let (s, _) = rig.get("/api/v1/alerts", &t).await;
    assert_eq!(s, 403);
    let (s, _) = rig.get("/api/v1/calls", &t).await;
    assert_eq!(s, 403);
    let mut q = query("h4", "0312345678");
    q["tenant"] = json!("beta");
    let (s, _) = rig.post("/api/v1/decide", &t, q).await;
    assert_eq!(s, 404, "another tenant is not revealed");
    let viewer = rig.token("viewer", None).await;
    let (s, _) = rig
        .post("/api/v1/decide", &viewer, query("h5", "0312345678"))
        .await;
    assert_eq!(
        s, 403,
        "a viewer may not decide (it changes the engine's counts)"
    );
    let mut long = query("h6", "0312345678");
    long["dialed"] = json!("9".repeat(300));
    let (s, _) = rig.post("/api/v1/decide", &t, long).await;
    assert_eq!(s, 400);
}

#[tokio::test]
async fn answers_and_ends_are_reported_only_by_the_calls_tenant() {
    let rig = rig().await;
    let acme = rig.token("decider", Some(&["acme"])).await;
    let beta = rig.token("decider", Some(&["beta"])).await;
    let (s, b) = rig
        .post("/api/v1/decide", &acme, query("h7", "0312345678"))
        .await;
    assert_eq!((s, b["allow"].clone()), (200, json!(true)));
    let (s, _) = rig
        .post("/api/v1/calls/h7/answered", &beta, json!({}))
        .await;
    assert_eq!(s, 404, "beta may not report acme's call");
    let (s, _) = rig
        .post("/api/v1/calls/h7/answered", &acme, json!({}))
        .await;
    assert_eq!(s, 204);
    let ended = json!({"billable_secs": 31, "cause": "normal"});
    let (s, _) = rig
        .post("/api/v1/calls/h7/ended", &acme, ended.clone())
        .await;
    assert_eq!(s, 204);
    let (s, _) = rig.post("/api/v1/calls/h7/ended", &acme, ended).await;
    assert_eq!(s, 404, "ended once");
    let (s, _) = rig
        .post("/api/v1/calls/nope/answered", &acme, json!({}))
        .await;
    assert_eq!(s, 404);
    let (s, _) = rig
        .post(
            "/api/v1/calls/h7/ended",
            &acme,
            json!({"cause": "exploded"}),
        )
        .await;
    assert_eq!(s, 400);
}

#[tokio::test]
async fn without_the_guard_the_failure_mode_answers_and_emergency_goes() {
    let mut rig = rig().await;
    let t = rig.token("decider", Some(&["acme"])).await;
    rig.stop_guard().await;
    let (s, b) = rig
        .post("/api/v1/decide", &t, query("h8", "0312345678"))
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(
        (b["allow"].clone(), b["source"].clone()),
        (json!(false), json!("fail_closed"))
    );
    assert_eq!(b["status"], 503);
    let (s, b) = rig.post("/api/v1/decide", &t, query("h9", "119")).await;
    assert_eq!((s, b["allow"].clone()), (200, json!(true)), "{b}");

    let mut open = rig_with(api::ApiConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        decide_fail: api::decide::FailMode::Open,
        ..Default::default()
    })
    .await;
    let t = open.token("decider", None).await;
    open.stop_guard().await;
    let (s, b) = open
        .post("/api/v1/decide", &t, query("h10", "#010232761234"))
        .await;
    assert_eq!(
        (s, b["allow"].clone(), b["source"].clone()),
        (200, json!(true), json!("fail_open"))
    );
}
