//! `tollguard analyze` and `tollguard backtest` run as a user runs them: the real binary over CDR files.
//! The fixture is written here: a Friday of ordinary office calls (labelled `legit`) and, from 19:30, a pump of
//! ~30 s calls to Sierra Leone from extension 205 every 20 s (labelled `fraud:pump-232`), one emergency call
//! from the same extension in the middle of the attack, and one broken line.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_tollguard"))
}

/// A tiny deterministic generator (xorshift) so the fixture needs no data files.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// One Asterisk cdr_csv line (18 columns: uniqueid and userfield logged), local times.
fn line(
    src: &str,
    dst: &str,
    start: i64,
    answered: bool,
    bill: i64,
    uid: &str,
    label: &str,
) -> String {
    let t = |s: i64| {
        chrono::DateTime::from_timestamp(s, 0)
            .unwrap()
            .naive_utc()
            .format("%Y-%m-%d %H:%M:%S")
            .to_string()
    };
    let (ans, end, disp) = if answered {
        (t(start + 3), start + 3 + bill, "ANSWERED")
    } else {
        (String::new(), start + 20, "NO ANSWER")
    };
    format!(
        r#""","{src}","{dst}","from-internal","""Ext {src}"" <{src}>","PJSIP/{src}-00000001","PJSIP/trunk-00000002","Dial","PJSIP/{dst}@trunk","{}","{ans}","{}",{},{},"{disp}","DOCUMENTATION","{uid}","{label}""#,
        t(start),
        t(end),
        end - start,
        if answered { bill } else { 0 }
    )
}

/// Naive local seconds of 2015-03-13 (a Friday) hh:mm.
fn friday(h: i64, m: i64) -> i64 {
    1_426_204_800 + h * 3600 + m * 60
}

fn write_fixture(dir: &Path, attack: bool) -> PathBuf {
    let mut rng = Rng(0x2015_0313);
    let mut rows: Vec<(i64, String)> = Vec::new();
    for i in 0..40 {
        let s = friday(9, 0) + i * 12 * 60;
        let ext = format!("{}", 201 + i % 5);
        let dst = format!("03{:08}", rng.below(100_000_000));
        let bill = 20 + rng.below(380) as i64;
        rows.push((
            s,
            line(
                &ext,
                &dst,
                s,
                i % 7 != 0,
                bill,
                &format!("1426.{i}"),
                "legit:office",
            ),
        ));
    }
    if attack {
        for i in 0..300 {
            let s = friday(19, 30) + i * 20;
            let dst = format!("010232{}", 76_000_000 + rng.below(1_000_000));
            let bill = 28 + rng.below(5) as i64;
            rows.push((
                s,
                line(
                    "205",
                    &dst,
                    s,
                    true,
                    bill,
                    &format!("1427.{i}"),
                    "fraud:pump-232",
                ),
            ));
        }
        let s = friday(20, 0);
        rows.push((
            s,
            line("205", "110", s, true, 60, "1428.1", "legit:emergency"),
        ));
    }
    rows.sort_by_key(|r| r.0);
    let mut text: String = rows.into_iter().map(|(_, l)| l + "\n").collect();
    text.push_str("this line is broken\n");
    let path = dir.join(if attack { "attack.csv" } else { "office.csv" });
    std::fs::write(&path, text).unwrap();
    path
}

/// `tollguard backtest --quiet --policy <dir>/<name> [extra…] <cdr>` with the policy text written first.
fn backtest(
    dir: &Path,
    name: &str,
    policy: &str,
    extra: &[&str],
    cdr: &Path,
) -> std::process::Output {
    let path = dir.join(name);
    std::fs::write(&path, policy).unwrap();
    bin()
        .args(["backtest", "--quiet"])
        .args(extra)
        .arg("--policy")
        .arg(&path)
        .arg(cdr)
        .output()
        .unwrap()
}

fn json_of(out: &std::process::Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}): {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

#[test]
fn analyze_finds_the_pump_and_spares_everything_else() {
    let dir = tempfile::tempdir().unwrap();
    let file = write_fixture(dir.path(), true);
    let html = dir.path().join("report.html");
    let out = bin()
        .arg("analyze")
        .arg(&file)
        .args(["--format", "json", "--quiet", "--html"])
        .arg(&html)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "exit 1 means: fraud found");
    let j = json_of(&out);
    assert_eq!(j["hit"], true);
    assert_eq!(j["calls"], 341);
    assert_eq!(
        j["files"][0]["lines_skipped"], 1,
        "the broken line is reported, the rest read"
    );
    assert_eq!(j["legit_blocked"], 0, "no legitimate call may be blocked");
    assert_eq!(j["emergency_calls"], 1);
    assert_eq!(
        j["emergency_blocked"], 0,
        "the emergency call from the hijacked extension passes"
    );
    let attack = &j["attacks"][0];
    assert_eq!(attack["name"], "pump-232");
    assert!(
        attack["calls_before_block"].as_u64().unwrap() <= 5,
        "{attack}"
    );
    assert!(attack["blocked_calls"].as_u64().unwrap() >= 295, "{attack}");
    assert_eq!(j["accounts"][0]["account"], "205");
    // Every decision names the CDR's own call id and line, the rule and a reason.
    let decisions = j["decisions"].as_array().unwrap();
    assert!(!decisions.is_empty());
    for d in decisions {
        assert!(d["call_id"].as_str().unwrap().starts_with("1427."), "{d}");
        assert!(d["line"].as_u64().unwrap() > 0);
        assert!(!d["decision"]["rule"].as_str().unwrap().is_empty());
        assert!(
            d["decision"]["reason"].as_str().unwrap().contains("205"),
            "{d}"
        );
    }
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains("<svg"), "charts are inline SVG");
    assert!(!page.contains("<script"), "the report runs no code");
    assert!(!page.contains("https://"), "the report needs no network");
    assert!(page.contains("Sierra Leone"));
}

#[test]
fn analyze_text_verdict_comes_first_and_speaks_plainly() {
    let dir = tempfile::tempdir().unwrap();
    let file = write_fixture(dir.path(), true);
    let out = bin()
        .arg("analyze")
        .arg(&file)
        .arg("--quiet")
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let verdict = text.lines().nth(2).unwrap_or("");
    assert!(verdict.starts_with("HIT"), "{text}");
    assert!(text.contains("ext 205"), "{text}");
    assert!(text.contains("Sierra Leone +232"), "{text}");
    assert!(text.contains("JPY"), "{text}");
    assert!(
        text.contains("line 342"),
        "the skipped line is named: {text}"
    );
}

#[test]
fn a_clean_office_is_not_hit() {
    let dir = tempfile::tempdir().unwrap();
    let file = write_fixture(dir.path(), false);
    let out = bin()
        .arg("analyze")
        .arg(&file)
        .args(["--format", "json", "--quiet"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let j = json_of(&out);
    assert_eq!(j["hit"], false);
    assert_eq!(j["blocked_calls"], 0);
    assert_eq!(j["calls"], 40);
}

#[test]
fn backtest_of_a_report_only_policy_blocks_nothing_but_still_alerts() {
    let dir = tempfile::tempdir().unwrap();
    let file = write_fixture(dir.path(), true);
    let out = backtest(
        dir.path(),
        "shadow.toml",
        "[defaults]\nmode = \"shadow\"\n",
        &["--format", "json"],
        &file,
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let j = json_of(&out);
    assert_eq!(j["mode"], "backtest");
    assert_eq!(j["blocked_calls"], 0);
    assert!(!j["alerts"].as_array().unwrap().is_empty());
    assert!(
        j["decisions"]
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["decision"]["shadow"] == true)
    );
}

#[test]
fn backtest_reports_money_saved_with_the_default_policy() {
    let dir = tempfile::tempdir().unwrap();
    let file = write_fixture(dir.path(), true);
    let out = backtest(dir.path(), "empty.toml", "", &[], &file);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("money saved:"), "{text}");
    assert!(text.contains("Legitimate calls blocked: 0"), "{text}");
}

#[test]
fn a_broken_policy_is_named_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = write_fixture(dir.path(), false);
    let out = backtest(
        dir.path(),
        "bad.toml",
        "[defaults]\nmode = \"shadow\"\nspeling = 1\n",
        &[],
        &file,
    );
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.toml"), "{err}");
    assert!(
        err.contains("line 3, column 1"),
        "the line of the error: {err}"
    );
    assert!(err.contains("speling"), "the wrong key is named: {err}");
}

#[test]
fn a_missing_file_is_a_clear_error() {
    let out = bin()
        .args(["analyze", "/nonexistent/Master.csv"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/Master.csv"));
}

#[test]
fn the_embedded_sample_shows_the_2015_weekend_stopped() {
    let out = bin()
        .args(["analyze", "--sample", "--format", "json", "--quiet"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let j = json_of(&out);
    assert_eq!(j["hit"], true);
    assert_eq!(j["legit_blocked"], 0);
    let attack = &j["attacks"][0];
    assert_eq!(attack["name"], "weekend_pump");
    assert!(
        attack["calls"].as_u64().unwrap() > 5_000,
        "a weekend of pumping: {attack}"
    );
    assert!(
        attack["calls_before_block"].as_u64().unwrap() <= 5,
        "{attack}"
    );
}

#[test]
fn json_decisions_stream_through_a_spool_file_that_is_removed() {
    let dir = tempfile::tempdir().unwrap();
    let file = write_fixture(dir.path(), true);
    let spool = dir.path().join("spool");
    std::fs::create_dir(&spool).unwrap();
    let out = bin()
        .env("TMPDIR", &spool)
        .arg("analyze")
        .arg(&file)
        .args(["--format", "json", "--quiet"])
        .output()
        .unwrap();
    let j = json_of(&out);
    let decisions = j["decisions"].as_array().unwrap();
    // Every blocked call of the pump has its decision listed, read back from the spool in order.
    assert!(
        decisions.len() as u64 >= j["blocked_calls"].as_u64().unwrap(),
        "{} decisions for {} blocked calls",
        decisions.len(),
        j["blocked_calls"]
    );
    let times: Vec<u64> = decisions
        .iter()
        .map(|d| d["at"].as_u64().unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "in time order");
    assert_eq!(
        std::fs::read_dir(&spool).unwrap().count(),
        0,
        "the spool file is removed after the report"
    );

    // A spool folder that cannot be written is one clear error, not a panic.
    let out = bin()
        .env("TMPDIR", dir.path().join("no-such-folder"))
        .arg("analyze")
        .arg(&file)
        .args(["--format", "json", "--quiet"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("TMPDIR"), "{err}");
}

/// `tollguard analyze --sample --format json | head -c 100`: the reader closes the pipe early; tollguard stops
/// quietly (exit 0, nothing on stderr) instead of printing "Broken pipe" through the JSON writer's error.
#[test]
fn a_reader_that_closes_the_pipe_early_gets_no_error() {
    use std::io::Read;
    let mut child = bin()
        .args(["analyze", "--sample", "--format", "json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start tollguard");
    let mut first = [0u8; 100];
    child
        .stdout
        .take()
        .expect("stdout")
        .read_exact(&mut first)
        .expect("the start of the JSON");
    // The pipe's read end is dropped here, before the rest of the report is written.
    let out = child.wait_with_output().expect("tollguard ends");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("Broken pipe"), "{err}");
    assert!(out.status.success(), "{:?}: {err}", out.status);
    assert!(
        first.starts_with(b"{"),
        "{:?}",
        String::from_utf8_lossy(&first)
    );
}

/// A guard configuration as `serve` reads it (one access listener and the PBX), with `extra` sections appended.
fn guard_config(dir: &Path, name: &str, extra: &str) -> PathBuf {
    let path = dir.join(name);
    let text = format!(
        "[[listen]]\naddress = \"127.0.0.1:5060\"\ntransport = \"udp\"\nrole = \"access\"\n\n[pbx]\naddress = \"127.0.0.1:5070\"\n\n{extra}"
    );
    std::fs::write(&path, text).unwrap();
    path
}

fn run(args: &[&std::ffi::OsStr]) -> std::process::Output {
    bin().args(args).output().unwrap()
}

/// The office's day as in `write_fixture`, but every call to New York (010 1 212 736 nnnn, 5 minutes each).
fn write_new_york_fixture(dir: &Path) -> PathBuf {
    let rows: String = (0..40)
        .map(|i| {
            let s = friday(9, 0) + i * 12 * 60;
            let ext = format!("{}", 201 + i % 5);
            line(
                &ext,
                &format!("0101212736{i:04}"),
                s,
                true,
                300,
                &format!("1426.{i}"),
                "legit:office",
            ) + "\n"
        })
        .collect();
    let path = dir.join("new-york.csv");
    std::fs::write(&path, rows).unwrap();
    path
}

/// The site's carrier charges 500 JPY a minute to New York (the embedded estimate is 9), and its policy allows
/// the US and stops an extension at 1,000 JPY a day: with `--config` each extension's second call is over budget.
/// The same policy at the estimates blocks nothing, and the default policy bars the US outright: a run that
/// ignored `--config`'s tariff or its policy would show either of those.
#[test]
fn the_configs_tariff_and_money_limit_change_the_verdict() {
    let dir = tempfile::tempdir().unwrap();
    let file = write_new_york_fixture(dir.path());
    let tariff = dir.path().join("carrier.csv");
    std::fs::write(
        &tariff,
        "prefix,name,per_minute,currency\n1212,New York (carrier),500,JPY\n",
    )
    .unwrap();
    let low = "[policy.defaults.destinations]\nallow_countries = [\"US\"]\n\n[policy.defaults.rules.money_account_day]\nwarning = 500\ncritical = 1000\n";
    let config = guard_config(
        dir.path(),
        "guard.toml",
        &format!(
            "[numbering.tariffs]\nfile = {:?}\n\n{low}",
            tariff.display().to_string()
        ),
    );
    let policy_only = dir.path().join("low.toml");
    std::fs::write(&policy_only, low.replace("[policy.", "[")).unwrap();
    let json = |cmd: &str, extra: &[&std::ffi::OsStr]| {
        let mut args: Vec<&std::ffi::OsStr> = vec![cmd.as_ref(), "--quiet".as_ref()];
        args.extend_from_slice(&["--format".as_ref(), "json".as_ref()]);
        args.extend_from_slice(extra);
        args.push(file.as_os_str());
        let out = run(&args);
        (out.status.code(), json_of(&out))
    };
    let rules = |j: &Value| -> Vec<String> {
        let mut r: Vec<String> = j["decisions"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|d| d["decision"]["rule"].as_str().map(String::from))
            .collect();
        r.sort();
        r.dedup();
        r
    };

    // The defaults: the US is barred, which is outside the policy and no fraud (exit 0).
    let (code, plain) = json("analyze", &[]);
    assert_eq!((code, &plain["blocked_calls"]), (Some(0), &json!(40)));
    assert_eq!(plain["outside_policy"]["calls"], 40);
    assert_eq!(plain["config"], Value::Null);
    assert!(!rules(&plain).contains(&"money_account_day".to_string()));

    // The site's policy at the embedded estimates: nothing is over the limit.
    let (code, estimates) = json("analyze", &["--policy".as_ref(), policy_only.as_os_str()]);
    assert_eq!(code, Some(0), "{estimates}");
    assert_eq!(estimates["blocked_calls"], 0);

    // The site's configuration: its tariff and its policy.
    let (code, site) = json("analyze", &["--config".as_ref(), config.as_os_str()]);
    assert_eq!(code, Some(1), "exit 1: fraud found");
    assert_eq!(site["calls"], 40);
    let blocked = site["blocked_calls"].as_u64().unwrap();
    assert!((30..40).contains(&blocked), "{blocked}");
    assert!(
        site["money_millis"].as_i64().unwrap() > 40 * plain["money_millis"].as_i64().unwrap(),
        "priced at the carrier's 500 JPY a minute: {} vs {}",
        site["money_millis"],
        plain["money_millis"]
    );
    assert_eq!(site["config"], config.display().to_string());
    assert!(
        rules(&site).contains(&"money_account_day".to_string()),
        "{:?}",
        rules(&site)
    );

    // backtest takes the policy from the configuration when no --policy is given; --policy replaces only the
    // policy (here by the same one), the tariff still comes from the configuration.
    for extra in [
        vec!["--config".as_ref(), config.as_os_str()],
        vec![
            "--config".as_ref(),
            config.as_os_str(),
            "--policy".as_ref(),
            policy_only.as_os_str(),
        ],
    ] {
        let (code, bt) = json("backtest", &extra);
        assert_eq!(code, Some(0));
        assert_eq!(bt["blocked_calls"], site["blocked_calls"], "{extra:?}");
        assert_eq!(bt["decisions"], site["decisions"], "{extra:?}");
    }
    let out = run(&[
        "backtest".as_ref(),
        "--quiet".as_ref(),
        "--config".as_ref(),
        config.as_os_str(),
        file.as_os_str(),
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!("policy from {}", config.display())),
        "{text}"
    );
}

/// A risk list entry of the site (a Tokyo range it has seen abused) blocks exactly the calls into that range in
/// a backtest; the defaults let every one of them through.
#[test]
fn the_configs_risk_list_blocks_calls_the_defaults_allow() {
    let dir = tempfile::tempdir().unwrap();
    let file = write_fixture(dir.path(), false);
    let list = dir.path().join("deny.csv");
    std::fs::write(
        &list,
        "action,match,number,note\ndeny,prefix,+8131,abused range\n",
    )
    .unwrap();
    let config = guard_config(
        dir.path(),
        "guard.toml",
        &format!(
            "[numbering.risk]\nlists = [{:?}]\n",
            list.display().to_string()
        ),
    );
    // The calls dialed into the range (03-1…), read back from the fixture: column 3 is `dst`.
    let text = std::fs::read_to_string(&file).unwrap();
    let into_range: Vec<String> = text
        .lines()
        .filter_map(|l| l.split(',').nth(2))
        .filter(|d| d.starts_with("\"031"))
        .map(|d| d.trim_matches('"').to_string())
        .collect();
    assert!(!into_range.is_empty(), "the fixture dials into the range");

    let backtest = |config: Option<&Path>| {
        let mut cmd = bin();
        cmd.args(["backtest", "--quiet", "--format", "json"]);
        match config {
            Some(c) => cmd.arg("--config").arg(c),
            None => cmd.args(["--policy", "/dev/null"]),
        };
        let out = cmd.arg(&file).output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        json_of(&out)
    };
    assert_eq!(backtest(None)["blocked_calls"], 0);
    let j = backtest(Some(&config));
    assert_eq!(
        j["blocked_calls"].as_u64().unwrap(),
        into_range.len() as u64,
        "every call into the range, and only those"
    );
    let mut blocked: Vec<String> = j["decisions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["decision"]["level"] == "critical")
        .map(|d| d["dialed"].as_str().unwrap().to_string())
        .collect();
    blocked.sort();
    blocked.dedup();
    let mut want = into_range.clone();
    want.sort();
    want.dedup();
    assert_eq!(blocked, want);
}

/// A configuration without numbering or policy sections judges as the defaults do: same calls blocked, same
/// alerts, same decisions.
#[test]
fn a_config_without_site_sections_judges_as_the_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let file = write_fixture(dir.path(), true);
    let config = guard_config(dir.path(), "guard.toml", "");
    let analyze = |config: Option<&Path>| {
        let mut cmd = bin();
        cmd.args(["analyze", "--quiet", "--format", "json"]);
        if let Some(c) = config {
            cmd.arg("--config").arg(c);
        }
        json_of(&cmd.arg(&file).output().unwrap())
    };
    let (plain, site) = (analyze(None), analyze(Some(&config)));
    for key in [
        "blocked_calls",
        "money_millis",
        "alerts",
        "decisions",
        "accounts",
        "attacks",
    ] {
        assert_eq!(plain[key], site[key], "{key}");
    }
}

/// A broken configuration is reported as `check-config` reports it, with file:line, and nothing is replayed
/// (exit 2, as for any other error of analyze and backtest).
#[test]
fn a_broken_config_is_named_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = write_fixture(dir.path(), false);
    let config = guard_config(
        dir.path(),
        "broken.toml",
        "[numbering.tariffs]\nfile = \"/nonexistent/carrier.csv\"\nreplace_defualts = true\n",
    );
    for cmd in ["analyze", "backtest"] {
        let out = bin()
            .args([cmd, "--quiet", "--config"])
            .arg(&config)
            .arg(&file)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{cmd}: {out:?}");
        assert!(out.stdout.is_empty(), "no report");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(&format!("{}:11:", config.display())),
            "{cmd}: file and line of the wrong key: {err}"
        );
        assert!(err.contains("replace_defualts"), "{err}");
        assert!(err.contains("check-config"), "{err}");
    }
}

/// `check-config --lang ja` writes the summary and each error's position in Japanese, with the same exit status.
#[test]
fn check_config_speaks_japanese() {
    let dir = tempfile::tempdir().unwrap();
    let good = guard_config(dir.path(), "good.toml", "");
    let out = run(&[
        "check-config".as_ref(),
        "--lang".as_ref(),
        "ja".as_ref(),
        good.as_os_str(),
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("good.toml: 問題ありません"), "{text}");
    assert!(
        text.contains("待ち受け udp 127.0.0.1:5060（access側）"),
        "{text}"
    );
    assert!(text.contains("PBX 127.0.0.1:5070"), "{text}");
    let bad = guard_config(dir.path(), "bad.toml", "[pbx2]\nx = 1\n");
    let out = run(&[
        "check-config".as_ref(),
        "--lang".as_ref(),
        "ja".as_ref(),
        bad.as_os_str(),
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("bad.toml 9行2列: unknown field `pbx2`"),
        "{text}"
    );
    assert!(text.contains("エラー 1件"), "{text}");
}
