//! The project's labelled CDR scenarios (`cdr::synth`) through `tollguard analyze` / `backtest`, the real
//! binary: per scenario, how many fraud calls pass before the first block, and that no legitimate call is
//! blocked. Each scenario's CDRs carry their ground truth in the userfield (`legit` / `fraud:<name>`).

use std::path::Path;
use std::process::Command;

use serde_json::Value;

fn write_scenario(dir: &Path, name: &str) -> std::path::PathBuf {
    let calls = cdr::synth::scenario(name, 7).expect("known scenario");
    let path = dir.join(format!("{name}.csv"));
    let mut f = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    cdr::synth::write_master_csv(&calls, &mut f).unwrap();
    drop(f);
    path
}

fn run(dir: &Path, scenario: &str, policy: Option<&str>) -> Value {
    let file = write_scenario(dir, scenario);
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tollguard"));
    match policy {
        None => {
            cmd.arg("analyze");
        }
        Some(text) => {
            let p = dir.join(format!("{scenario}.policy.toml"));
            std::fs::write(&p, text).unwrap();
            cmd.arg("backtest").arg("--policy").arg(p);
        }
    }
    let out = cmd
        .args(["--format", "json", "--quiet"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "{scenario}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// (calls of the attack, fraud calls that passed before its first block, legitimate calls blocked)
fn outcome(j: &Value) -> (u64, u64, u64) {
    let a = &j["attacks"][0];
    (
        a["calls"].as_u64().unwrap_or(0),
        a["calls_before_block"].as_u64().unwrap_or(u64::MAX),
        j["legit_blocked"].as_u64().unwrap(),
    )
}

const EVERY_COUNTRY: &str = r#"
[defaults.destinations]
allow_countries = ["*"]
block_risk_at = "never"
"#;

#[test]
fn the_default_policy_stops_every_attack_at_once_and_blocks_no_legitimate_call() {
    let dir = tempfile::tempdir().unwrap();
    for scenario in [
        "weekend_pump",
        "night_drip",
        "range_walk",
        "business_hours_attack",
        "obfuscated",
    ] {
        let j = run(dir.path(), scenario, None);
        let (calls, before, legit_blocked) = outcome(&j);
        assert!(calls > 0, "{scenario}: the scenario has an attack");
        assert!(
            before <= 1,
            "{scenario}: {before} fraud calls passed before the first block"
        );
        assert_eq!(
            legit_blocked, 0,
            "{scenario}: legitimate calls blocked: {}",
            j["legitimate_blocked_listed"]
        );
        assert_eq!(
            j["attacks"][0]["blocked_calls"].as_u64().unwrap() + before,
            calls,
            "{scenario}: all the rest is blocked"
        );
    }
}

#[test]
fn with_every_country_allowed_behaviour_still_stops_the_attacks() {
    // The installer opened international calling completely: only velocity, pumping, money, novelty, range
    // walking and obfuscation stand between the attacker and the bill.
    let dir = tempfile::tempdir().unwrap();
    for (scenario, most) in [
        ("weekend_pump", 10),
        ("night_drip", 3),
        ("range_walk", 10),
        ("obfuscated", 1),
        // Known weak spot: an attack in business hours, mixed with the owner's own calls, passes ~27 calls
        // before velocity/money limits trip (see the closing note of issue 4).
        ("business_hours_attack", 30),
    ] {
        let j = run(dir.path(), scenario, Some(EVERY_COUNTRY));
        let (calls, before, legit_blocked) = outcome(&j);
        assert!(calls > 0);
        assert!(
            before <= most,
            "{scenario}: {before} fraud calls passed (at most {most})"
        );
        assert_eq!(
            legit_blocked, 0,
            "{scenario}: {}",
            j["legitimate_blocked_listed"]
        );
    }
}

#[test]
fn ordinary_offices_are_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let j = run(dir.path(), "office", None);
    assert_eq!(j["hit"], false);
    assert_eq!(j["blocked_calls"], 0);
    // The call centre works until 20:00: its site hours say so, and then ~70,000 short calls a week pass.
    let j = run(
        dir.path(),
        "call_centre",
        Some("[site]\nbusiness_hours = \"08:30-20:30\"\n"),
    );
    assert!(j["calls"].as_u64().unwrap() > 50_000);
    assert_eq!(j["blocked_calls"], 0, "{}", j["legitimate_blocked_listed"]);
}

#[test]
fn the_late_night_caller_to_the_us_passes_once_the_us_is_allowed() {
    let dir = tempfile::tempdir().unwrap();
    // The default policy bars international calling outside an allow-list: the US calls are refused…
    let j = run(dir.path(), "night_international", None);
    assert!(j["legit_blocked"].as_u64().unwrap() > 0);
    // …and pass as soon as the site allows the US, night after night.
    let j = run(
        dir.path(),
        "night_international",
        Some("[defaults.destinations]\nallow_countries = [\"US\"]\n"),
    );
    assert_eq!(j["legit_blocked"], 0, "{}", j["legitimate_blocked_listed"]);
    assert!(j["legit_calls"].as_u64().unwrap() > 1_000);
}

#[test]
fn night_pumps_to_a_country_the_site_calls_by_day_are_stopped_by_behaviour() {
    // China is allowed (the office's suppliers): no destination list stops these, only what the extension and
    // the site as a whole do at night.
    let dir = tempfile::tempdir().unwrap();
    let policy = "[defaults.destinations]\nallow_countries = [\"CN\"]\n";
    for (scenario, most) in [("night_pump_allowed_country", 5), ("spread_night_pump", 10)] {
        let j = run(dir.path(), scenario, Some(policy));
        let (calls, before, legit_blocked) = outcome(&j);
        assert!(calls > 100, "{scenario}: the scenario has an attack");
        assert!(
            before <= most,
            "{scenario}: {before} fraud calls passed (at most {most})"
        );
        assert_eq!(
            legit_blocked, 0,
            "{scenario}: {}",
            j["legitimate_blocked_listed"]
        );
    }
}
