//! `learn`: a policy fitted to a site's history blocks none of its legitimate calls in the week after, stops the
//! attacks appended to that week, is never taught an attack that crept into the history, and is a policy file
//! the loader reads as it is.
//!
//! The histories are made here from `cdr::synth`'s generator: its office (extensions 201–210, weekdays 09:00–
//! 18:00), with some of the office's calls turned into calls to suppliers abroad (China, Vietnam, Korea, Germany,
//! the US), extension 207 calling New York every weeknight, and the
//! generator's attacks placed in the last week.

use cdr::CallRecord;
use cdr::synth::{Generator, Label, SynthCall, base_monday};
use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use engine::{DestClass, Policy};
use replay::Site;
use replay::learn::{self, HoldoutReport, LearnOptions, Learned};

const WEEKS: u32 = 6;

fn tokyo(day: NaiveDate, h: u32, m: u32) -> DateTime<Utc> {
    chrono_tz::Asia::Tokyo
        .from_local_datetime(&day.and_hms_opt(h, m, 0).unwrap_or_default())
        .single()
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_default()
}

/// Suppliers abroad, each with the extensions that call them (as dialed from Japan).
const SUPPLIERS: [(&str, &[&str]); 5] = [
    ("0108621", &["201", "202", "203"]),
    ("0108428", &["202", "204"]),
    ("010822", &["205", "206"]),
    ("0104930", &["201", "208"]),
    ("0101212", &["203", "209"]),
];

/// `weeks` of the office with suppliers abroad and the night caller: every call labelled `legit`.
fn office_with_suppliers(g: &mut Generator, weeks: u32) -> Vec<SynthCall> {
    let contacts = g.office_contacts();
    let us: Vec<String> = (0..4).map(|i| format!("01012127360{i:03}")).collect();
    let mut out = Vec::new();
    let mut n = 0u64;
    for d in 0..(weeks * 7) {
        let day = base_monday() + Duration::days(i64::from(d));
        for mut c in g.office_day(day, &contacts) {
            n += 1;
            let ext = c.record.account.clone();
            // One call in twelve of an extension with suppliers goes to one of them.
            if n.is_multiple_of(12)
                && c.record.dialed.len() > 3
                && let Some((prefix, _)) = SUPPLIERS
                    .iter()
                    .filter(|(_, exts)| exts.contains(&ext.as_str()))
                    .nth((n / 12 % 2) as usize)
            {
                c.record.dialed = format!("{prefix}{:06}", 100 + n % 7);
            }
            out.push(c);
        }
        out.extend(g.night_international_day(day, &us));
    }
    out
}

fn records(calls: &mut [SynthCall]) -> Vec<CallRecord> {
    calls.sort_by_key(|c| (c.record.end, c.record.start));
    calls
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let mut r = c.record.clone();
            r.line = i as u64 + 1;
            r
        })
        .collect()
}

/// The last week's Monday.
fn last_monday() -> NaiveDate {
    base_monday() + Duration::weeks(i64::from(WEEKS - 1))
}

/// Learns on all but the last 7 days and backtests those.
fn learn_and_backtest(all: &[CallRecord], opts: &LearnOptions) -> (Learned, String, HoldoutReport) {
    let (train, test) = learn::split_holdout(all, 7 * 86_400);
    let site = Site::defaults();
    let learned = learn::learn(&site, &train, opts);
    let text = learn::render_toml(&learned, learn::Lang::En);
    let policy = Policy::from_toml_str(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let report = learn::holdout(Site::new(site.numbering.clone(), policy), &test);
    (learned, text, report)
}

/// The only legitimate calls blocked are those of hijacked extensions after their attack was caught: the engine
/// bars an account's calls abroad when it stops an attack from it, until an operator lifts the bar.
fn only_hijacked_accounts_barred(report: &HoldoutReport, hijacked: &[&str]) {
    assert!(report.legit_blocked < 10, "{report:?}");
    assert_eq!(
        report.legit_blocked as usize,
        report.legit_blocked_examples.len()
    );
    for (_, account, _, reason) in &report.legit_blocked_examples {
        assert!(
            hijacked.contains(&account.as_str()) && reason.contains("are barred since"),
            "{account}: {reason}"
        );
    }
}

fn attacks(g: &mut Generator) -> Vec<SynthCall> {
    let mon = last_monday();
    let fri = mon + Duration::days(4);
    let mut out = Vec::new();
    out.extend(g.pump(
        "204",
        "Kobayashi",
        (tokyo(fri, 19, 30), tokyo(fri + Duration::days(2), 23, 0)),
        4,
        &[""],
        Label::Fraud("weekend_pump"),
    ));
    out.extend(g.drip("209", "Nakamura", mon + Duration::days(1), 3));
    out.extend(g.range_walk("206", "Watanabe", tokyo(mon + Duration::days(1), 2, 0), 300));
    out.extend(g.pump(
        "208",
        "Kato",
        (
            tokyo(fri + Duration::days(1), 22, 0),
            tokyo(fri + Duration::days(2), 2, 0),
        ),
        2,
        &["#", "*"],
        Label::Fraud("obfuscated"),
    ));
    // A night pump of ~30 s calls to China, a country the office calls every day.
    let mut china = g.pump(
        "202",
        "Suzuki",
        (
            tokyo(mon + Duration::days(2), 23, 0),
            tokyo(mon + Duration::days(3), 3, 0),
        ),
        3,
        &[""],
        Label::Fraud("weekend_pump"),
    );
    for c in &mut china {
        c.record.dialed = format!("0108621{}", &c.record.dialed[c.record.dialed.len() - 6..]);
        c.label = Label::Fraud("night_pump_china");
        c.record.userfield = "fraud:night_pump_china".into();
    }
    out.extend(china);
    out
}

#[test]
fn a_legitimate_history_learns_a_policy_that_blocks_none_of_the_next_week() {
    let mut g = Generator::new(18);
    let mut calls = office_with_suppliers(&mut g, WEEKS);
    let all = records(&mut calls);
    let (learned, text, report) = learn_and_backtest(&all, &LearnOptions::default());
    assert!(report.calls > 500, "{report:?}");
    assert_eq!(
        report.legit_blocked, 0,
        "{:?}\n{text}",
        report.legit_blocked_examples
    );
    let site = learned
        .layers
        .iter()
        .find(|l| l.account.is_none())
        .expect("site layer");
    let allowed: Vec<&str> = site.allowed.iter().map(|f| f.key.as_str()).collect();
    for cc in ["CN", "VN", "KR", "DE", "US"] {
        assert!(
            allowed.contains(&cc),
            "{cc} should be routine: {allowed:?}\n{text}"
        );
    }
    // New York is the night caller's and ext 203/209's: all three call it, so it is the site's too; its night
    // calls get an account-level allowance out of hours.
    let ext207 = learned
        .layers
        .iter()
        .find(|l| l.account.as_deref() == Some("207"))
        .expect("207's own layer");
    assert_eq!(ext207.off_hours_international.map(|o| o.0), Some("allow"));
    assert_eq!(site.off_hours_international.map(|o| o.0), Some("block"));
    assert!(
        text.contains("# busiest hour of each account-day: p99.9 of "),
        "{text}"
    );
    assert!(learned.excluded.is_empty(), "{:?}", learned.excluded);
}

#[test]
fn attacks_in_the_week_after_are_stopped_at_their_first_calls() {
    let mut g = Generator::new(18);
    let mut calls = office_with_suppliers(&mut g, WEEKS);
    calls.extend(attacks(&mut g));
    let all = records(&mut calls);
    let (_, _, report) = learn_and_backtest(&all, &LearnOptions::default());
    only_hijacked_accounts_barred(&report, &["202", "204", "206", "208", "209"]);
    let names: Vec<&str> = report.attacks.iter().map(|a| a.name.as_str()).collect();
    for name in [
        "weekend_pump",
        "night_drip",
        "range_walk",
        "obfuscated",
        "night_pump_china",
    ] {
        assert!(names.contains(&name), "{name} missing: {names:?}");
    }
    for a in &report.attacks {
        assert!(
            a.passed_before_first_block <= 1 && a.money_passed_millis < 1_000_000,
            "{a:?}"
        );
    }
    assert_eq!(report.emergency_blocked, 0);
}

/// A slow ramp: from the second week, extension 206 makes calls of ~30 s to Lithuania (+370, a high-risk country
/// that the risk tiers only warn about) at night, one a night at first and more each week; the attack week after
/// it pumps the same way.
fn ramp(g: &mut Generator, weeks: u32) -> Vec<SynthCall> {
    let mut out = Vec::new();
    for d in 7..(weeks * 7 - 7) {
        let day = base_monday() + Duration::days(i64::from(d));
        let per_night = 1 + (d - 7) / 5;
        let start = tokyo(day, 1, 0);
        let calls = g.pump(
            "206",
            "Watanabe",
            (start, start + Duration::minutes(i64::from(per_night) * 2)),
            1,
            &[""],
            Label::Fraud("ramp"),
        );
        out.extend(calls.into_iter().take(per_night as usize));
    }
    let mon = last_monday();
    out.extend(g.pump(
        "206",
        "Watanabe",
        (tokyo(mon, 1, 0), tokyo(mon + Duration::days(5), 5, 0)),
        2,
        &[""],
        Label::Fraud("attack_week"),
    ));
    for c in &mut out {
        let d = &c.record.dialed;
        c.record.dialed = format!("0103706{}", &d[d.len() - 7..]);
    }
    out
}

#[test]
fn a_slow_ramp_of_attack_calls_in_the_history_is_not_learned_as_normal() {
    let mut g = Generator::new(7);
    let mut calls = office_with_suppliers(&mut g, WEEKS);
    calls.extend(ramp(&mut g, WEEKS));
    let all = records(&mut calls);

    let (learned, text, report) = learn_and_backtest(&all, &LearnOptions::default());
    assert!(
        !learned.excluded.is_empty(),
        "the ramp was not seen\n{text}"
    );
    let policy = Policy::from_toml_str(&text).expect("parses");
    for account in ["206", "201"] {
        let p = policy.profile(policy.account_profile("", account));
        assert!(!p.dest.country_allowed("LT"), "{account}\n{text}");
    }
    assert!(
        text.contains("LT Lithuania: not learned: attack-looking calls went there"),
        "{text}"
    );
    let attack = report
        .attacks
        .iter()
        .find(|a| a.name == "attack_week")
        .expect("attack week in the holdout");
    assert_eq!(attack.passed_before_first_block, 0, "{attack:?}");
    assert_eq!(attack.money_passed_millis, 0, "{attack:?}");
    only_hijacked_accounts_barred(&report, &["206"]);

    // The same history learned without excluding attack-looking calls teaches Lithuania to ext 206: the
    // exclusion is what keeps the ramp out.
    let poisoned = LearnOptions {
        exclude_attacks: false,
        ..LearnOptions::default()
    };
    let (_, text, _) = learn_and_backtest(&all, &poisoned);
    let policy = Policy::from_toml_str(&text).expect("parses");
    let p = policy.profile(policy.account_profile("", "206"));
    assert!(p.dest.country_allowed("LT"), "{text}");
}

#[test]
fn the_learned_policy_round_trips_and_keeps_the_safety_settings() {
    let mut g = Generator::new(3);
    let mut calls = office_with_suppliers(&mut g, 3);
    let all = records(&mut calls);
    let learned = learn::learn(&Site::defaults(), &all, &LearnOptions::default());
    for lang in [learn::Lang::En, learn::Lang::Ja] {
        let text = learn::render_toml(&learned, lang);
        let p = Policy::from_toml_str(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        let site = p.profile(p.account_profile("", "201"));
        let default = Policy::default();
        let d = default.profile(0);
        assert_eq!(site.dest.block_risk_at, d.dest.block_risk_at);
        assert_eq!(site.dest.watch_classes, d.dest.watch_classes);
        assert_eq!(site.rules.obfuscated, d.rules.obfuscated);
        assert_eq!(site.rules.pumping, d.rules.pumping);
        assert_eq!(site.rules.auth_source_hour, d.rules.auth_source_hour);
        assert!(!site.dest.allow_classes.contains(DestClass::Satellite));
        assert!(!site.dest.allow_classes.contains(DestClass::Premium));
        // Every fitted threshold table opens with its comment.
        let tables = text.matches("\n[tenants.\"\".rules.").count();
        let explained = text
            .split("\n[tenants.\"\".rules.")
            .skip(1)
            .filter(|t| t.lines().nth(1).is_some_and(|l| l.starts_with('#')))
            .count();
        assert_eq!(tables, explained, "{text}");
        if lang == learn::Lang::Ja {
            assert!(text.contains("内線ごと・日ごとの最多の1時間"), "{text}");
        }
    }
}

/// Every legitimate site the project generates — an office, a call centre working until 20:00 and on Saturdays,
/// the night caller, an office with suppliers abroad, one with a supplier in a high-risk country — learned on
/// all but its last week: the learned policy blocks none of that week's calls.
#[test]
fn learned_policies_block_no_call_of_any_legitimate_site() {
    let sites: [(&str, Vec<SynthCall>); 5] = [
        ("office", cdr::synth::office_weeks(3, 5)),
        ("call_centre", cdr::synth::call_centre(3, 35)),
        ("night_international", cdr::synth::night_international(3, 5)),
        ("suppliers_abroad", cdr::synth::suppliers_abroad(3, 6)),
        ("high_risk_supplier", cdr::synth::high_risk_supplier(3, 6)),
    ];
    for (name, mut calls) in sites {
        let all = records(&mut calls);
        let (learned, text, report) = learn_and_backtest(&all, &LearnOptions::default());
        assert!(report.legit > 0, "{name}: an empty holdout");
        assert_eq!(
            report.legit_blocked, 0,
            "{name}: {:?}\n{text}",
            report.legit_blocked_examples
        );
        assert_eq!(learned.excluded_labelled_fraud, 0, "{name}");
    }
}
