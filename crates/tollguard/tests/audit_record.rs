//! `tollguard audit config … --config guard.toml` records its report in the guard's store, and the operator
//! sees it with `tollguard ctl audits` (the real binary: `serve` with its API, then `audit`, then `ctl`).

mod common;

use std::process::Command;

use common::*;
use serde_json::Value;

fn fixtures(dir: &str) -> Vec<String> {
    let d = concat!(env!("CARGO_MANIFEST_DIR"), "/../audit/tests/fixtures/").to_owned() + dir;
    let mut v: Vec<String> = std::fs::read_dir(&d)
        .unwrap()
        .map(|e| e.unwrap().path().display().to_string())
        .collect();
    v.sort();
    v
}

#[test]
fn config_audit_with_the_guard_config_is_recorded_and_listed_by_ctl() {
    let (ga, gp, pbx, car) = guard_ports();
    let extra = "[[tenant]]\nname = \"acme\"\npbx_sources = [\"127.0.0.2\"]\n\n[api]\nlisten = \"127.0.0.1:0\"\n";
    let g = Guard::start(&config(ga, gp, pbx, car, "udp", extra));
    let admin = g.admin_token();

    let mut args: Vec<String> = ["audit", "config", "--tenant", "acme", "--config"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    args.push(g.path("guard.toml").display().to_string());
    args.extend(fixtures("bypass"));
    let out = Command::new(env!("CARGO_BIN_EXE_tollguard"))
        .args(&args)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "a critical finding: {stderr}");
    assert!(stderr.contains("audit recorded"), "{stderr}");

    let out = g.ctl(&admin, &["audits", "--format", "json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let list = v.as_array().unwrap();
    assert_eq!(list.len(), 1, "{v:#}");
    assert_eq!(list[0]["tenant"], "acme");
    assert_eq!(list[0]["kind"], "config");
    assert!(list[0]["critical"].as_u64().unwrap() >= 1, "{v:#}");
    assert_eq!(
        list[0]["report"]["sites"][0]["findings"][0]["kind"], "block-bypass",
        "{v:#}"
    );
    assert!(
        list[0]["finished_at"].as_i64() >= list[0]["started_at"].as_i64(),
        "{v:#}"
    );

    let out = g.ctl(&admin, &["audits", "--tenant", "acme"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.starts_with("ID"), "{text}");
    assert!(
        text.lines()
            .any(|l| l.contains("acme") && l.contains("config")),
        "{text}"
    );
}
