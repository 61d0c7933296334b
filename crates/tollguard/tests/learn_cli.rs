//! `tollguard learn` run as a user runs it: the real binary over a generated Master.csv (five weeks of the
//! synth office with extension 207 calling New York every weeknight, and in the last week a Saturday-night pump
//! of ~30 s calls to Sierra Leone from extension 204), learning on all but the last 7 days and backtesting
//! those. The policy goes to stdout and must load; the summary goes to stderr.

use std::path::PathBuf;
use std::process::Command;

use cdr::synth::{self, Generator, Label};
use chrono::{Duration, TimeZone};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_tollguard"))
}

fn master_csv(dir: &std::path::Path) -> PathBuf {
    let mut calls = synth::night_international(11, 5);
    let mut g = Generator::new(5);
    let saturday = synth::base_monday() + Duration::days(4 * 7 + 5);
    let at = |h: u32| {
        chrono_tz::Asia::Tokyo
            .from_local_datetime(&saturday.and_hms_opt(h, 0, 0).unwrap_or_default())
            .single()
            .map(|t| t.with_timezone(&chrono::Utc))
            .unwrap_or_default()
    };
    calls.extend(g.pump(
        "204",
        "Kobayashi",
        (at(20), at(23)),
        4,
        &[""],
        Label::Fraud("weekend_pump"),
    ));
    calls.sort_by_key(|c| (c.record.end, c.record.start));
    let path = dir.join("Master.csv");
    let mut out = Vec::new();
    synth::write_master_csv(&calls, &mut out).expect("write");
    std::fs::write(&path, out).expect("write Master.csv");
    path
}

#[test]
fn learn_with_a_holdout_writes_a_policy_that_loads_and_reports_the_backtest() {
    let dir = tempfile::tempdir().expect("tempdir");
    let csv = master_csv(dir.path());
    let out = bin()
        .args(["learn", "--holdout", "7d"])
        .arg(&csv)
        .output()
        .expect("run tollguard learn");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stderr}");
    let policy = engine::Policy::from_toml_str(&stdout).unwrap_or_else(|e| panic!("{e}\n{stdout}"));
    let p = policy.profile(policy.account_profile("", "207"));
    assert!(p.dest.country_allowed("US"), "{stdout}");
    assert!(!p.dest.country_allowed("SL"), "{stdout}");
    assert!(
        stdout.contains("# busiest minute of each account-day: p99.9 of "),
        "{stdout}"
    );
    assert!(stderr.contains("learned from "), "{stderr}");
    assert!(
        stderr.contains("legitimate (labelled legit) calls blocked: 0 of "),
        "{stderr}"
    );
    assert!(
        stderr.contains("attack weekend_pump: ")
            && stderr.contains("0 passed before the first block"),
        "{stderr}"
    );

    // The same file written back as the policy of a backtest is read by the binary as it is.
    let policy_path = dir.path().join("policy.toml");
    std::fs::write(&policy_path, stdout.as_bytes()).expect("write policy");
    let bt = bin()
        .args(["backtest", "--quiet", "--policy"])
        .arg(&policy_path)
        .arg(&csv)
        .output()
        .expect("run tollguard backtest");
    assert!(
        bt.status.success(),
        "{}",
        String::from_utf8_lossy(&bt.stderr)
    );
}

#[test]
fn learn_speaks_japanese_and_json() {
    let dir = tempfile::tempdir().expect("tempdir");
    let csv = master_csv(dir.path());
    let out = bin()
        .args([
            "learn",
            "--holdout",
            "7d",
            "--lang",
            "ja",
            "--format",
            "json",
        ])
        .arg(&csv)
        .output()
        .expect("run tollguard learn");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("件から学習"), "{stderr}");
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let text = doc["policy"].as_str().expect("policy text");
    assert!(text.contains("内線ごと・日ごとの最多の1分間"), "{text}");
    engine::Policy::from_toml_str(text).expect("the policy loads");
    assert_eq!(doc["holdout"]["report"]["legit_blocked"], 0, "{doc}");
    assert!(
        doc["learned"]["layers"]
            .as_array()
            .is_some_and(|l| !l.is_empty())
    );
}

#[test]
fn a_bad_holdout_is_explained() {
    let out = bin()
        .args(["learn", "--holdout", "7w", "Master.csv"])
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("7d, 48h or 90m"));
}
