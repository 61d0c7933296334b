//! `tollguard demo` through the real binary, headless: the 2015 attack against the real guard on loopback,
//! on a fast simulated clock, and the outcome it reports as JSON. Nothing here waits on time: the binary
//! ends by itself (its own deadline is the simulated duration) and the assertions read what it measured.

use std::process::Command;

fn demo(args: &[&str]) -> (serde_json::Value, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_tollguard"))
        .arg("demo")
        .args(args)
        .output()
        .expect("run tollguard demo");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    if args.contains(&"json") {
        let v: serde_json::Value = serde_json::from_str(&stdout).unwrap_or_else(|e| {
            panic!("demo --format json printed no JSON ({e}): {stdout}\n{stderr}")
        });
        assert!(
            out.status.success(),
            "demo failed ({}): {stdout}\n{stderr}",
            out.status
        );
        (v, stderr)
    } else {
        assert!(
            out.status.success(),
            "demo failed ({}): {stdout}\n{stderr}",
            out.status
        );
        (serde_json::Value::Null, stdout)
    }
}

fn check_common(v: &serde_json::Value) {
    let attack = &v["attack"];
    assert!(
        attack["attempts"].as_u64().unwrap_or(0) >= 6,
        "the attack ran: {attack}"
    );
    assert_eq!(attack["stopped"], true, "the attack was stopped: {attack}");
    // Three channels at once: the calls already in flight when a rule fires pass too.
    assert!(
        attack["passed"].as_u64().unwrap_or(99) <= 10,
        "stopped within a handful of calls: {attack}"
    );
    // No legitimate call blocked, and they did go through.
    let office = &v["office"];
    assert_eq!(
        office["blocked"].as_array().map(Vec::len),
        Some(0),
        "{office}"
    );
    assert!(office["passed"].as_u64().unwrap_or(0) >= 4, "{office}");
    assert_eq!(
        office["passed"], office["attempts"],
        "every office call connected: {office}"
    );
    // The emergency call passed.
    assert_eq!(v["emergency"]["passed"], true, "{}", v["emergency"]);
    assert_eq!(v["emergency"]["dialed"], "110");
    // Both scanners banned, nothing cracked.
    let scanners = v["scanners"].as_array().cloned().unwrap_or_default();
    assert_eq!(scanners.len(), 2, "{scanners:?}");
    for s in &scanners {
        assert_eq!(s["banned"], true, "{s}");
        assert_eq!(s["cracked"].as_array().map(Vec::len), Some(0), "{s}");
    }
    // The attacker's login with the default password worked: the guard had to stop the calls, not the login.
    assert_eq!(v["attacker_login_status"], 200);
    // Money lost is far below what the unprotected office paid.
    let lost = attack["money_lost_jpy"].as_i64().unwrap_or(i64::MAX);
    let unprotected = v["unprotected_2015"]["cost_jpy"].as_i64().unwrap_or(0);
    assert!(unprotected >= 1_000_000, "{}", v["unprotected_2015"]);
    assert!(lost * 100 < unprotected, "lost {lost} vs {unprotected}");
    // The guard's critical alerts reached the office's webhook, worded for people.
    let alerts = v["alerts_delivered"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(!alerts.is_empty(), "no alert delivered: {}", v["decisions"]);
    assert!(
        alerts.iter().all(|a| a["body"]["source"] == "tollguard"),
        "{alerts:?}"
    );
    // Among them, the one that matters: ext 205 of the office, in words.
    assert!(
        alerts.iter().any(|a| a["body"]["tenant"] == "tokyo-office"
            && a["body"]["headline"]
                .as_str()
                .is_some_and(|h| h.contains("205"))),
        "no alert about ext 205: {alerts:?}"
    );
    // The guard's own decisions include the kill switch on ext 205 and the bans of both scanners.
    let decisions = v["decisions"].as_array().cloned().unwrap_or_default();
    assert!(
        decisions.iter().any(
            |d| d["action"] == "bar" && d["reason"].as_str().is_some_and(|r| r.contains("205"))
        ),
        "no kill switch on ext 205: {decisions:?}"
    );
    for ip in ["127.0.0.66", "127.0.0.67"] {
        assert!(
            decisions
                .iter()
                .any(|d| d["action"] == "ban" && d["key"].as_str().is_some_and(|k| k.contains(ip))),
            "{ip} not banned by the guard: {decisions:?}"
        );
    }
}

#[test]
fn demo_json_with_default_policy_stops_the_attack_at_its_first_call() {
    let dir = tempfile::tempdir().expect("temp dir");
    let html = dir.path().join("demo.html");
    let html_arg = html.display().to_string();
    let (v, _) = demo(&[
        "--format",
        "json",
        "--speed",
        "240",
        "--duration",
        "24m",
        "--html",
        &html_arg,
    ]);
    check_common(&v);
    // The HTML report stands alone: inline SVG charts, no external asset.
    let page = std::fs::read_to_string(&html).expect("HTML report written");
    assert!(
        page.contains("<svg") && page.contains("Sierra Leone"),
        "{page}"
    );
    assert!(
        !page.contains("http://") && !page.contains("https://") && !page.contains("<script src")
    );
    // With the defaults, international calls outside the allow-list are refused: nothing reaches the bill.
    assert_eq!(v["attack"]["passed"], 0, "{}", v["attack"]);
    assert_eq!(v["attack"]["money_lost_jpy"], 0);
    // The salesperson's call to the United States (allowed for ext 203) went through.
    let us = v["calls"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c["ext"] == "203" && c["country"] == "United States")
        .count();
    assert!(us <= 1);
    assert!(v["office"]["international_passed"].as_u64() == Some(us as u64));
}

#[test]
fn demo_json_with_every_country_allowed_is_stopped_by_the_behaviour_rules() {
    let (v, _) = demo(&[
        "--format",
        "json",
        "--speed",
        "240",
        "--duration",
        "24m",
        "--allow-all-countries",
    ]);
    check_common(&v);
    // Calls passed before the pumping/velocity/money rules could see a pattern, then the guard stopped it.
    assert!(
        v["attack"]["passed"].as_u64().unwrap_or(0) >= 1,
        "{}",
        v["attack"]
    );
}

#[test]
fn demo_in_japanese_explains_itself_in_japanese() {
    let (_, text) = demo(&["--lang", "ja", "--speed", "400", "--duration", "15m"]);
    assert!(text.contains("内線205"), "{text}");
    assert!(text.contains("緊急通報"), "{text}");
    assert!(text.contains("結果"), "{text}");
    // The alert as delivered to the office, in Japanese (api::notify wording).
    assert!(text.contains("通知") && text.contains("【重大"), "{text}");
}

#[test]
fn demo_refuses_a_bad_duration_with_a_clear_line() {
    let out = Command::new(env!("CARGO_BIN_EXE_tollguard"))
        .args(["demo", "--duration", "3d"])
        .output()
        .expect("run tollguard demo");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--duration") && err.contains("unit"), "{err}");
}
