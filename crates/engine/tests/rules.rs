//! One or more tests per rule, including the edges: window boundaries, off hours and holidays, escalation.

mod common;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use common::*;
use engine::{
    Action, AuthKind, AuthOutcome, BarScope, ClassSet, DestClass, Level, Millis, Policy, RuleId,
    Subject, Verdict,
};
use numbering::{DialFlags, RiskTier};

const ALLOW_ALL: &str =
    "[defaults.destinations]\nallow_countries = [\"*\"]\nblock_risk_at = \"never\"\n";

/// Issue 18: "11× his usual 95 JPY" barred an account over ¥1,119. Spend novelty is relative, so it has an
/// absolute floor (5,000 JPY by default, `rules.novelty_spend.floor` per profile): below it the account is left
/// alone however unusual the day; above it the rule acts as before.
#[test]
fn spend_novelty_stays_quiet_below_its_floor() {
    let run = |policy: &str| {
        let mut sim = Sim::toml(policy);
        let t = monday_10();
        // Four days of one 9-minute call to the US (10 JPY a minute): a usual day of 90 JPY.
        for day in 0..4 {
            assert!(!sim.call(t + day * DAY, "205", &us(1), 540).1.is_block());
        }
        sim.out.clear();
        // Day five: 112 minutes, 1,120 JPY, 12× the usual day.
        sim.call(t + 4 * DAY, "205", &us(1), 112 * 60);
        let quiet = !sim.has("novelty_spend");
        // Then four calls of 100 minutes: 5,120 JPY in the day, above the default floor.
        for k in 0..4 {
            sim.call(t + 4 * DAY + (2 + 2 * k) * HOUR, "205", &us(1), 100 * 60);
        }
        let spend = sim
            .out
            .iter()
            .find(|d| d.rule == RuleId::NoveltySpend)
            .cloned();
        (quiet, spend)
    };
    let (quiet, spend) = run(ALLOW_ALL);
    assert!(quiet, "1,120 JPY is below the 5,000 JPY floor");
    let d = spend.expect("5,120 JPY is above the floor");
    assert_eq!(d.level, Level::Critical);
    assert!(d.measured > 5_000, "{}", d.measured);
    // A profile's own floor.
    let (quiet, spend) = run(&format!(
        "{ALLOW_ALL}[defaults.rules.novelty_spend]\nfloor = 1000\n"
    ));
    assert!(!quiet, "1,120 JPY is above a floor of 1,000");
    assert!(spend.is_some());
    let (quiet, spend) = run(&format!(
        "{ALLOW_ALL}[defaults.rules.novelty_spend]\nfloor = 10000\n"
    ));
    assert!(
        quiet && spend.is_none(),
        "5,120 JPY is below a floor of 10,000"
    );
    assert!(
        Policy::from_toml_str("[defaults.rules.velocity_account_hour]\nfloor = 5\n").is_err(),
        "floor is only for novelty_spend"
    );
}

/// Issue 18: a country the policy names in `allow_countries` outranks that country's own risk tier (a warning
/// remains), while a number range's tier (the IRSF range list, hot spots, user lists) still blocks, and "*"
/// names no country.
#[test]
fn an_allowed_country_outranks_its_country_risk_tier_but_not_a_range() {
    let policy = |allow: &str| {
        format!("[defaults.destinations]\nallow_countries = [{allow}]\nblock_risk_at = \"high\"\n")
    };
    let mut country_tier = sierra_leone(1);
    country_tier.flags.insert(DialFlags::COUNTRY_RISK);
    let mut sim = Sim::toml(&policy("\"SL\""));
    let (_, v) = sim.attempt(monday_10(), "205", &country_tier);
    assert_eq!(v, Verdict::Warn, "{:?}", sim.rules());
    let d = sim
        .out
        .iter()
        .find(|d| d.rule == RuleId::RiskTier)
        .expect("a warning remains");
    assert_eq!(d.level, Level::Warning);
    // A range on the IRSF list in the same country still blocks.
    let range = intl(SL, "23276123456", RiskTier::Critical);
    sim.out.clear();
    assert!(sim.attempt(monday_10() + MIN, "205", &range).1.is_block());
    assert!(sim.has("risk_tier"));
    // "*" allows every country but names none: the country's tier blocks as before.
    let mut sim = Sim::toml(&policy("\"*\""));
    assert!(sim.attempt(monday_10(), "205", &country_tier).1.is_block());
}

/// An account with 30 domestic calls over four days, and the Monday 10:00 a week after the first: its novelty
/// rules speak from then on.
fn established(policy: &str) -> (Sim, Millis) {
    let mut sim = Sim::toml(policy);
    let t = monday_10();
    for i in 0..30u32 {
        sim.call(t + i64::from(i) * 3 * HOUR, "205", &domestic(i), 60);
    }
    sim.out.clear();
    (sim, t + 7 * DAY)
}

fn novelty_said(sim: &Sim, rule: RuleId) -> Vec<String> {
    sim.out
        .iter()
        .filter(|d| d.rule == rule)
        .map(|d| d.country.clone().unwrap_or_default())
        .collect()
}

/// Issue 18: novelty warnings say the truth once. A refused call is not learned, so before, every try after the
/// warning's 10 minutes was "its first international call ever" again.
#[test]
fn the_first_international_call_is_said_once_even_when_refused() {
    let (mut sim, t) = established("[defaults.destinations]\nallow_countries = [\"US\"]\n");
    for i in 0..4 {
        assert!(
            sim.attempt(t + i * 15 * MIN, "205", &sierra_leone(1))
                .1
                .is_block()
        );
    }
    assert_eq!(
        novelty_said(&sim, RuleId::NoveltyFirstInternational),
        ["SL"],
        "{:?}",
        sim.rules()
    );
    // Nor is a refused country "called for the first time" at the next try.
    assert!(novelty_said(&sim, RuleId::NoveltyCountry).is_empty());
}

/// "First call to X" once per account and country: a second new country within the first one's 10 minutes is
/// said too (before, the rule's window swallowed it), and a refused country is not new again later.
#[test]
fn a_first_call_to_a_country_is_said_once_per_country() {
    let (mut sim, t) = established("[defaults.destinations]\nallow_countries = [\"US\"]\n");
    assert!(!sim.call(t, "205", &us(1), 60).1.is_block());
    sim.out.clear();
    let kr = intl(KR, "8221234567", RiskTier::Low);
    assert!(sim.attempt(t + HOUR, "205", &sierra_leone(1)).1.is_block());
    assert!(sim.attempt(t + HOUR + 2 * MIN, "205", &kr).1.is_block());
    assert!(
        sim.attempt(t + HOUR + 20 * MIN, "205", &sierra_leone(2))
            .1
            .is_block()
    );
    assert!(sim.attempt(t + 2 * HOUR, "205", &kr).1.is_block());
    assert_eq!(
        novelty_said(&sim, RuleId::NoveltyCountry),
        ["SL", "KR"],
        "{:?}",
        sim.rules()
    );
}

#[test]
fn emergency_is_allowed_before_any_rule_even_under_every_kill_switch_and_ban() {
    let mut sim = Sim::toml("[defaults.destinations]\nallow_classes = []\n");
    let ip: IpAddr = Ipv4Addr::new(203, 0, 113, 9).into();
    sim.source = Some(SocketAddr::new(ip, 5060));
    let t = saturday_night();
    sim.engine.ban(ip, t, t + DAY, "op", "test");
    sim.engine.set_kill_switch(
        BarScope::All,
        ClassSet::ALL_EXTERNAL,
        t,
        "op",
        "everything off",
    );
    sim.engine.set_kill_switch(
        BarScope::Account {
            tenant: "acme".into(),
            account: "205".into(),
        },
        ClassSet::ALL_EXTERNAL,
        t,
        "op",
        "this one too",
    );
    for i in 0..50 {
        let (_, v) = sim.attempt_dialed(t + i * 100, "205", "110", &emergency());
        assert_eq!(v, Verdict::Allow, "emergency call {i} must pass");
    }
    assert!(sim.out.is_empty(), "{:?}", sim.out);
    // The same source and account are blocked for anything else.
    let (_, v) = sim.attempt(t, "205", &domestic(1));
    assert!(v.is_block());
}

#[test]
fn default_policy_bars_international_outside_the_allow_list() {
    let mut sim = Sim::new(Policy::default());
    let (_, v) = sim.attempt(monday_10(), "205", &us(1));
    assert_eq!(v, Verdict::Block { sip_status: 403 });
    let d = &sim.out[0];
    assert_eq!(d.rule, RuleId::DestinationCountry);
    assert!(d.reason.contains("United States"), "{}", d.reason);
    // The structure says the same as the sentence: the destination judged, its country, the caller.
    assert_eq!(
        d.subject,
        Subject::Destination {
            number: "+12125550001".into(),
            class: DestClass::International
        }
    );
    assert_eq!(d.country.as_deref(), Some("US"));
    let call = d.call.as_ref().expect("call facts");
    assert_eq!(
        (call.tenant.as_str(), call.account.as_str()),
        ("acme", "205")
    );
    assert_eq!(call.number.as_deref(), Some("+12125550001"));
    assert_eq!(d.key(), "destination United States (+12125550001)");
    assert!(d.reason.contains("ext 205 of acme"), "{}", d.reason);
    // Domestic calls pass silently.
    sim.out.clear();
    let (_, v) = sim.attempt(monday_10(), "205", &domestic(1));
    assert_eq!(v, Verdict::Allow);
    assert!(sim.out.is_empty());
}

#[test]
fn allowed_country_passes_and_risk_tiers_apply() {
    let mut sim = Sim::toml("[defaults.destinations]\nallow_countries = [\"US\", \"SL\"]\n");
    let (_, v) = sim.attempt(monday_10(), "205", &us(1));
    assert_eq!(v, Verdict::Allow);
    // High risk: allowed with a warning.
    let (_, v) = sim.attempt(monday_10(), "205", &sierra_leone(1));
    assert_eq!(v, Verdict::Warn);
    assert!(sim.has("risk_tier"));
    // Critical risk is refused even in an allowed country, unless exempt.
    sim.out.clear();
    let (_, v) = sim.attempt(
        monday_10(),
        "206",
        &intl(US, "12125550000", RiskTier::Critical),
    );
    assert!(v.is_block());
    assert_eq!(sim.rules(), vec!["risk_tier"]);
    let mut sim = Sim::toml(
        "[defaults.destinations]\nallow_countries = [\"US\"]\nrisk_exempt_countries = [\"US\"]\n",
    );
    let (_, v) = sim.attempt(
        monday_10(),
        "206",
        &intl(US, "12125550000", RiskTier::Critical),
    );
    assert_eq!(v, Verdict::Allow);
}

#[test]
fn satellite_and_premium_are_barred_by_class_and_deny_lists_win() {
    let mut sim = Sim::toml(ALLOW_ALL);
    let (_, v) = sim.attempt(monday_10(), "205", &satellite());
    assert!(v.is_block());
    assert_eq!(sim.out[0].rule, "destination_class");
    assert!(
        sim.out[0].reason.contains("satellite"),
        "{}",
        sim.out[0].reason
    );
    let mut sim = Sim::toml(
        "[defaults.destinations]\nallow_countries = [\"*\"]\ndeny_countries = [\"SL\"]\ndeny_prefixes = [\"+1212555\"]\nblock_risk_at = \"never\"\n",
    );
    assert!(
        sim.attempt(monday_10(), "205", &sierra_leone(1))
            .1
            .is_block()
    );
    assert!(sim.attempt(monday_10(), "205", &us(1)).1.is_block());
    assert_eq!(sim.rules(), vec!["destination_country", "deny_prefix"]);
    assert_eq!(
        sim.attempt(monday_10(), "205", &intl(KR, "8221234567", RiskTier::Low))
            .1,
        Verdict::Allow
    );
}

#[test]
fn an_unreadable_dial_string_is_refused_unless_the_site_allows_its_pattern() {
    let mut sim = Sim::new(Policy::default());
    let t = monday_10();
    let (_, v) = sim.attempt_dialed(t, "205", "*99#", &unreadable());
    assert_eq!(v, Verdict::Block { sip_status: 403 });
    let d = &sim.out[0];
    assert_eq!(d.rule, "destination_class");
    assert!(
        d.reason.starts_with(
            "ext 205 of acme: the dialed string \"*99#\" could not be read as a number; tollguard refuses \
             unreadable numbers — add the pattern to destinations.allow_patterns if your site uses it"
        ),
        "{}",
        d.reason
    );
    // Emergency numbers still pass before any rule.
    assert_eq!(
        sim.attempt_dialed(t, "205", "110", &emergency()).1,
        Verdict::Allow
    );
    let mut sim = Sim::toml("[defaults.destinations]\nallow_patterns = [\"*9x#\"]\n");
    assert!(
        !sim.attempt_dialed(t, "205", "*99#", &unreadable())
            .1
            .is_block()
    );
    assert!(
        sim.attempt_dialed(t, "205", "*9#", &unreadable())
            .1
            .is_block()
    );
    // A pattern allows unreadable strings only, never a barred class.
    let mut sim = Sim::toml("[defaults.destinations]\nallow_patterns = [\"*\"]\n");
    assert!(
        !sim.attempt_dialed(t, "205", "0123", &unreadable())
            .1
            .is_block()
    );
    assert!(sim.attempt(t, "205", &satellite()).1.is_block());
}

#[test]
fn per_account_override_allows_only_that_account() {
    let mut sim =
        Sim::toml("[tenants.acme.accounts.\"300\".destinations]\nallow_countries = [\"US\"]\n");
    assert_eq!(sim.attempt(monday_10(), "300", &us(1)).1, Verdict::Allow);
    assert!(sim.attempt(monday_10(), "301", &us(1)).1.is_block());
}

#[test]
fn velocity_per_minute_blocks_the_eleventh_call_and_forgets_after_the_window() {
    let mut sim = Sim::new(Policy::default());
    let t = monday_10();
    for i in 0..10 {
        let (_, v) = sim.attempt(t + i * 1000, "205", &domestic(i as u32));
        assert!(!v.is_block(), "call {i}");
    }
    // Domestic calls in business hours cost little: their volume only speaks at its critical level (a busy
    // call centre's day is no warning).
    assert!(sim.out.is_empty(), "{:?}", sim.rules());
    let (_, v) = sim.attempt(t + 10_000, "205", &domestic(99));
    assert!(v.is_block());
    let d = sim
        .out
        .iter()
        .find(|d| d.level == Level::Critical)
        .expect("critical");
    assert_eq!(
        (d.rule.as_str(), d.measured, d.threshold, d.window_secs),
        ("velocity_account_minute", 11, 10, 60)
    );
    assert_eq!(d.rule, RuleId::VelocityAccountMinute);
    assert_eq!(
        d.subject,
        Subject::Account {
            tenant: "acme".into(),
            account: "205".into()
        }
    );
    assert_eq!(d.key(), "account acme/205");
    assert_eq!(d.account(), Some(("acme", "205")));
    assert_eq!(
        d.calls.len(),
        8,
        "the most recent contributing calls are named"
    );
    // Escalation: the account's international calling is barred.
    assert!(sim.out.iter().any(|d| matches!(&d.action, Action::Bar { scope: BarScope::Account { account, .. }, .. } if account == "205")));
    // Window edge: calls in the bucket [t, t+5 s) are forgotten at t+60 s, the rest at t+65 s.
    let mut sim = Sim::new(Policy::default());
    for i in 0..10 {
        sim.attempt(t + i * 400, "206", &domestic(i as u32));
    }
    assert!(sim.attempt(t + 59_999, "206", &domestic(50)).1.is_block());
    let mut sim = Sim::new(Policy::default());
    for i in 0..10 {
        sim.attempt(t + i * 400, "206", &domestic(i as u32));
    }
    assert!(!sim.attempt(t + 60_000, "206", &domestic(50)).1.is_block());
}

#[test]
fn off_hours_and_holidays_use_lower_thresholds() {
    // Saturday night: critical at more than 6 per minute.
    let mut sim = Sim::new(Policy::default());
    let t = saturday_night();
    for i in 0..6 {
        assert!(
            !sim.attempt(t + i * 1000, "205", &domestic(i as u32))
                .1
                .is_block()
        );
    }
    assert!(sim.attempt(t + 6_000, "205", &domestic(7)).1.is_block());
    // Monday 2025-07-21 is Marine Day: off hours at 10:00.
    let mut sim = Sim::new(Policy::default());
    let t = jst(2025, 7, 21, 10, 0, 0);
    for i in 0..6 {
        assert!(
            !sim.attempt(t + i * 1000, "205", &domestic(i as u32))
                .1
                .is_block()
        );
    }
    assert!(sim.attempt(t + 6_000, "205", &domestic(7)).1.is_block());
    let reason = &sim
        .out
        .iter()
        .find(|d| d.level == Level::Critical)
        .unwrap()
        .reason;
    assert!(reason.contains("outside business hours"), "{reason}");
    // The next ordinary Tuesday at 10:00 the business thresholds apply again.
    let mut sim = Sim::new(Policy::default());
    let t = jst(2025, 7, 22, 10, 0, 0);
    for i in 0..10 {
        assert!(
            !sim.attempt(t + i * 1000, "205", &domestic(i as u32))
                .1
                .is_block()
        );
    }
}

#[test]
fn tenant_velocity_counts_all_accounts() {
    let mut sim = Sim::toml("[defaults.rules.velocity_tenant_minute]\nwarning = 5\ncritical = 8\n");
    let t = monday_10();
    for i in 0..8 {
        assert!(
            !sim.attempt(t + i * 100, &format!("2{i:02}"), &domestic(i as u32))
                .1
                .is_block()
        );
    }
    assert!(sim.attempt(t + 900, "299", &domestic(9)).1.is_block());
    let d = sim.out.iter().find(|d| d.level == Level::Critical).unwrap();
    assert_eq!(d.key(), "tenant acme");
    assert_eq!(
        d.subject,
        Subject::Tenant {
            tenant: "acme".into()
        }
    );
    // The caller of the call that crossed the tenant's limit.
    assert_eq!(d.account(), Some(("acme", "299")));
    // Tenant velocity does not escalate (a busy call centre is not an attack on one account).
    assert!(
        !sim.out
            .iter()
            .any(|d| matches!(d.action, Action::Bar { .. }))
    );
}

#[test]
fn concurrency_counts_answered_calls_in_progress() {
    let mut sim = Sim::toml(ALLOW_ALL);
    // Off hours a person rarely holds more than one international call at a time: the second warns, the
    // fourth at once is refused (a pump runs several channels; a night worker may hold three)…
    let t = saturday_night();
    for i in 0..3 {
        let (id, v) = sim.attempt(t + i * 20_000, "205", &us(i as u32));
        assert!(!v.is_block());
        sim.answer(t + i * 20_000 + 5_000, &id);
    }
    let (_, v) = sim.attempt(t + 100_000, "205", &us(9));
    assert!(v.is_block(), "{:?}", sim.rules());
    assert!(sim.has("concurrent_account"));
    // The escalation ends the international calls in progress.
    let end = sim.out.iter().find_map(|d| match &d.action {
        Action::EndCalls { call_ids, .. } => Some(call_ids.clone()),
        _ => None,
    });
    assert_eq!(
        end,
        Some(vec!["call-1".into(), "call-2".into(), "call-3".into()])
    );
    // …while in business hours four at once only warn.
    let mut sim = Sim::toml(ALLOW_ALL);
    let t = monday_10();
    for i in 0..4 {
        let (id, v) = sim.attempt(t + i * 20_000, "205", &us(i as u32));
        assert!(!v.is_block(), "{:?}", sim.rules());
        sim.answer(t + i * 20_000 + 5_000, &id);
    }
    assert!(sim.has("concurrent_account"));
}

/// Unanswered calls to destinations no rule watches (domestic) count as failed too.
#[test]
fn failed_domestic_calls_count() {
    let mut sim = Sim::toml("[defaults.rules.failed_account_hour]\nwarning = 2\ncritical = 4\n");
    let t = monday_10();
    for i in 0..4 {
        let (id, _) = sim.attempt(t + i * 60_000, "205", &domestic(i as u32));
        sim.end(t + i * 60_000 + 30_000, &id, 0);
    }
    // Answered domestic calls are not failures.
    sim.call(t + 290_000, "205", &domestic(7), 60);
    assert!(!sim.attempt(t + 300_000, "205", &domestic(8)).1.is_block());
    let (id, _) = sim.attempt(t + 301_000, "205", &domestic(9));
    sim.end(t + 302_000, &id, 0);
    assert!(sim.attempt(t + 303_000, "205", &domestic(10)).1.is_block());
    assert!(sim.has("failed_account_hour"));
}

#[test]
fn failed_calls_count() {
    let mut sim = Sim::toml(&format!(
        "{ALLOW_ALL}[defaults.rules.failed_account_hour]\nwarning = 2\ncritical = 4\n"
    ));
    let t = monday_10();
    for i in 0..4 {
        let (id, _) = sim.attempt(t + i * 60_000, "205", &us(i as u32));
        sim.end(t + i * 60_000 + 30_000, &id, 0);
    }
    assert!(!sim.attempt(t + 300_000, "205", &us(8)).1.is_block());
    let (id, _) = sim.attempt(t + 301_000, "205", &us(9));
    sim.end(t + 302_000, &id, 0);
    assert!(sim.attempt(t + 303_000, "205", &us(10)).1.is_block());
    assert!(sim.has("failed_account_hour"));
}

#[test]
fn repeat_calls_to_one_number() {
    let mut sim = Sim::toml(ALLOW_ALL);
    let t = monday_10();
    for i in 0..20 {
        let (_, v) = sim.attempt(t + i * 2 * MIN, &format!("2{i:02}"), &us(1));
        assert!(!v.is_block(), "call {i}: {:?}", sim.rules());
    }
    assert!(sim.has("repeat_number_hour"));
    assert!(sim.attempt(t + 41 * MIN, "299", &us(1)).1.is_block());
    let d = sim.out.iter().find(|d| d.level == Level::Critical).unwrap();
    assert_eq!(d.key(), "number +12125550001");
    assert_eq!(
        d.subject,
        Subject::Number {
            number: "+12125550001".into()
        }
    );
    assert_eq!(d.account(), Some(("acme", "299")));
    assert_eq!(d.country.as_deref(), Some("US"));
    assert_eq!(d.measured, 21);
}

#[test]
fn range_walk_of_distinct_numbers_under_one_prefix() {
    let mut sim = Sim::toml(ALLOW_ALL);
    let t = monday_10();
    for i in 0..10u32 {
        assert!(
            !sim.attempt(t + i64::from(i) * 3 * MIN, "205", &us(i))
                .1
                .is_block(),
            "{i}"
        );
    }
    let (_, v) = sim.attempt(t + 31 * MIN, "205", &us(10));
    assert!(v.is_block());
    let d = sim
        .out
        .iter()
        .find(|d| d.rule == "range_walk_hour" && d.level == Level::Critical)
        .unwrap();
    assert_eq!(d.key(), "range +12125550xxx");
    assert_eq!(
        d.subject,
        Subject::Range {
            prefix: "12125550".into()
        }
    );
    assert!(d.reason.contains("range walk"), "{}", d.reason);
    // Re-dialing the same numbers does not count as walking.
    let mut sim = Sim::toml(ALLOW_ALL);
    for i in 0..15u32 {
        assert!(
            !sim.attempt(t + i64::from(i) * 3 * MIN, "205", &us(i % 3))
                .1
                .is_block()
        );
    }
    assert!(!sim.has("range_walk_hour"));
}

#[test]
fn uniform_pumping_with_jitter_is_caught_and_varied_durations_are_not() {
    let mut sim = Sim::toml(ALLOW_ALL);
    let t = saturday_night();
    let durations = [30, 28, 32, 31, 29, 30];
    let mut blocked_at = None;
    for (i, secs) in durations.iter().enumerate() {
        let (_, v) = sim.call(
            t + i as i64 * 2 * MIN,
            "205",
            &sierra_leone(i as u32 % 2),
            *secs,
        );
        if v.is_block() && blocked_at.is_none() {
            blocked_at = Some(i);
        }
    }
    let crit = sim
        .out
        .iter()
        .find(|d| d.rule == "pumping" && d.level == Level::Critical)
        .expect("pumping");
    assert!(crit.reason.contains("answered calls of"), "{}", crit.reason);
    assert!(crit.reason.contains("Sierra Leone"), "{}", crit.reason);
    assert!(crit.reason.contains("JPY at stake"), "{}", crit.reason);
    assert!(crit.calls.len() >= 4);
    assert_eq!(crit.rule, RuleId::Pumping);
    assert_eq!(crit.country.as_deref(), Some("SL"));
    assert!(matches!(&crit.subject, Subject::Account { account, .. } if account == "205"));
    let length = crit
        .call
        .as_ref()
        .and_then(|c| c.length)
        .expect("call length");
    assert!(
        crit.reason
            .contains(&format!("{}±{} s", length.secs, length.jitter_secs)),
        "{}",
        crit.reason
    );
    // Off hours: critical above 3 similar calls: the 4th ends with a bar, the 5th attempt is refused.
    assert_eq!(blocked_at, Some(4), "{:?}", sim.rules());
    assert!(sim.has("kill_switch"));
    let mut sim = Sim::toml(ALLOW_ALL);
    for (i, secs) in [12, 45, 90, 200, 33, 71, 150, 18].iter().enumerate() {
        sim.call(t + i as i64 * 2 * MIN, "205", &us(1), *secs);
    }
    assert!(!sim.has("pumping"), "{:?}", sim.rules());
}

#[test]
fn money_cap_projects_calls_in_progress() {
    // 175 JPY/min to Sierra Leone; off-hours account hour cap: warning 1000, critical 3000.
    let mut sim = Sim::toml(ALLOW_ALL);
    let t = saturday_night();
    let (a, _) = sim.attempt(t, "205", &sierra_leone(1));
    sim.answer(t + 1000, &a);
    // 18 minutes later the call in progress has accrued 3150 JPY: the next call is refused.
    let (_, v) = sim.attempt(t + 18 * MIN, "205", &sierra_leone(2));
    assert!(v.is_block(), "{:?}", sim.rules());
    let d = sim
        .out
        .iter()
        .find(|d| d.rule == "money_account_hour" && d.level == Level::Critical)
        .unwrap();
    assert!(d.measured > 3000, "{}", d.measured);
    assert!(d.at_stake.is_some());
    // ... and the call in progress is to be ended.
    assert!(sim.out.iter().any(
        |d| matches!(&d.action, Action::EndCalls { call_ids, .. } if call_ids == &vec![a.clone()])
    ));
}

#[test]
fn money_settled_cost_fires_at_call_end() {
    let mut sim = Sim::toml(&format!(
        "{ALLOW_ALL}[defaults.rules.money_account_day]\nwarning = 300\ncritical = 500\n"
    ));
    let t = monday_10();
    let (_, v) = sim.call(t, "205", &sierra_leone(1), 179); // 3 min: 525 JPY
    assert!(!v.is_block());
    let d = sim
        .out
        .iter()
        .find(|d| d.rule == "money_account_day")
        .expect("fired at end");
    assert_eq!(d.level, Level::Critical);
    assert_eq!(d.measured, 525);
    assert!(d.reason.contains("525 JPY"), "{}", d.reason);
    assert!(
        sim.out
            .iter()
            .any(|d| matches!(d.action, Action::Bar { .. }))
    );
    assert!(
        sim.attempt(t + HOUR, "205", &us(1)).1.is_block(),
        "barred after escalation"
    );
    // Money caps count watched destinations only: domestic calls go on.
    assert!(!sim.attempt(t + HOUR, "205", &domestic(1)).1.is_block());
}

#[test]
fn obfuscated_dial_strings_are_refused() {
    let mut sim = Sim::toml(ALLOW_ALL);
    let mut d = us(1);
    d.flags = DialFlags::OBFUSCATED.union(DialFlags::PERCENT_ENCODED);
    let (_, v) = sim.attempt_dialed(monday_10(), "205", "%2B%30%31%30%31212", &d);
    assert!(v.is_block());
    assert_eq!(sim.out[0].rule, "obfuscated");
    assert!(
        sim.out[0].reason.contains("obfuscated"),
        "{}",
        sim.out[0].reason
    );
}

#[test]
fn prefix_probing_with_several_international_prefixes() {
    let mut sim = Sim::toml(ALLOW_ALL);
    let t = monday_10();
    let d = intl(KR, "82212345678", RiskTier::Low);
    assert_eq!(
        sim.attempt_dialed(t, "205", "01082212345678", &d).1,
        Verdict::Allow
    );
    assert_eq!(
        sim.attempt_dialed(t + 2_000, "205", "0082212345678", &d).1,
        Verdict::Warn
    );
    assert!(
        sim.attempt_dialed(t + 4_000, "205", "001182212345678", &d)
            .1
            .is_block()
    );
    assert!(sim.has("prefix_probe"));
    // The same string redialled is not probing; nor are different prefixes more than a minute apart.
    let mut sim = Sim::toml(ALLOW_ALL);
    for i in 0..3 {
        assert_eq!(
            sim.attempt_dialed(t + i * 5_000, "206", "01082212345678", &d)
                .1,
            Verdict::Allow
        );
    }
    assert_eq!(
        sim.attempt_dialed(t + 2 * MIN, "206", "0082212345678", &d)
            .1,
        Verdict::Allow
    );
}

#[test]
fn denied_attempts_escalate() {
    let mut sim = Sim::new(Policy::default());
    let t = saturday_night();
    for i in 0..4 {
        assert!(
            sim.attempt(t + i * MIN, "205", &sierra_leone(i as u32))
                .1
                .is_block()
        );
    }
    // Off hours the denied limit is 3: the 4th refusal escalates.
    assert!(sim.has("denied_account_hour"));
    assert_eq!(sim.engine.kill_switches().len(), 1);
}

#[test]
fn novelty_against_the_learned_baseline() {
    let mut sim = Sim::toml("[defaults.destinations]\nallow_countries = [\"US\", \"KR\"]\n");
    // A salesperson who calls the US every night at 23:00 for a week.
    let start = jst(2025, 6, 2, 23, 0, 0);
    for day in 0..7 {
        for k in 0..4 {
            let secs = 120 + (k * 97 + day * 41) as u32 % 400;
            let (_, v) = sim.call(start + day * DAY + k * 10 * MIN, "205", &us(k as u32), secs);
            assert!(
                !v.is_block(),
                "day {day} call {k}: {:#?}",
                sim.out
                    .iter()
                    .filter(|d| d.level == Level::Critical)
                    .collect::<Vec<_>>()
            );
        }
    }
    assert!(!sim.has("novelty_hours"), "{:?}", sim.rules());
    assert!(!sim.has("novelty_country"));
    // First call to Korea: a warning, not a block.
    let (_, v) = sim.call(
        start + 7 * DAY,
        "205",
        &intl(KR, "8221234567", RiskTier::Low),
        60,
    );
    assert_eq!(v, Verdict::Warn);
    assert!(sim.has("novelty_country"), "{:?}", sim.rules());
    // A new hour (04:00) off hours: a warning.
    sim.out.clear();
    let (_, v) = sim.call(jst(2025, 6, 10, 4, 0, 0), "205", &us(1), 60);
    assert_eq!(v, Verdict::Warn);
    assert!(sim.has("novelty_hours"));
    // An account with only domestic history making its first international call.
    let mut sim = Sim::toml("[defaults.destinations]\nallow_countries = [\"US\"]\n");
    for i in 0..30 {
        sim.call(monday_10() + i * 4 * HOUR, "207", &domestic(i as u32), 60);
    }
    let (_, v) = sim.call(monday_10() + 5 * DAY, "207", &us(1), 60);
    assert_eq!(v, Verdict::Warn);
    assert!(sim.has("novelty_first_international"));
}

#[test]
fn warnings_are_not_repeated_within_their_window() {
    let mut sim = Sim::toml("[defaults.destinations]\nallow_countries = [\"SL\"]\n");
    for i in 0..5 {
        sim.attempt(monday_10() + i * MIN, "205", &sierra_leone(1));
    }
    let n = sim.out.iter().filter(|d| d.rule == "risk_tier").count();
    assert_eq!(n, 1, "{:?}", sim.rules());
}

#[test]
fn shadow_mode_reports_without_enforcing() {
    let mut sim = Sim::toml("[defaults]\nmode = \"shadow\"\n");
    let t = saturday_night();
    for i in 0..10 {
        let (_, v) = sim.attempt(t + i * MIN, "205", &sierra_leone(i as u32));
        assert_eq!(v, Verdict::Warn);
    }
    assert!(sim.out.iter().all(|d| d.shadow));
    assert!(
        sim.out
            .iter()
            .any(|d| d.reason.contains("would have been blocked"))
    );
    assert!(sim.engine.kill_switches().is_empty());
}

#[test]
fn operator_kill_switch_with_who_and_why_and_lift() {
    let mut sim = Sim::toml(ALLOW_ALL);
    let t = monday_10();
    let (id0, _) = sim.attempt(t, "205", &us(1));
    let (ks, ending) = sim.engine.set_kill_switch(
        BarScope::Tenant {
            tenant: "acme".into(),
        },
        ClassSet::INTERNATIONAL,
        t + 1000,
        "alice",
        "suspicious bill",
    );
    assert_eq!(ending, vec![id0]);
    let (_, v) = sim.attempt(t + 2000, "206", &us(2));
    assert!(v.is_block());
    let d = sim.out.last().unwrap();
    assert_eq!(d.rule, "kill_switch");
    assert!(
        d.reason.contains("alice") && d.reason.contains("suspicious bill"),
        "{}",
        d.reason
    );
    assert!(!sim.attempt(t + 3000, "206", &domestic(1)).1.is_block());
    assert!(sim.engine.lift_kill_switch(ks.id).is_some());
    assert!(!sim.attempt(t + 4000, "206", &us(3)).1.is_block());
}

#[test]
fn auth_failures_per_source_ban_it() {
    let mut sim = Sim::new(Policy::default());
    let ip: IpAddr = Ipv4Addr::new(198, 51, 100, 7).into();
    let t = monday_10();
    // Two failed guesses pass; the third within the hour bans (for 24 h: the hour rule's ban outlasts the
    // minute rule's).
    for i in 0..2 {
        assert_ne!(
            sim.auth(
                t + i * 1000,
                ip,
                "205",
                AuthKind::Register,
                AuthOutcome::Failure
            ),
            Verdict::Block { sip_status: 403 }
        );
    }
    assert!(
        sim.auth(
            t + 2_000,
            ip,
            "205",
            AuthKind::Register,
            AuthOutcome::Failure
        )
        .is_block()
    );
    assert!(
        sim.out
            .iter()
            .any(|d| matches!(d.action, Action::Ban { .. }))
    );
    assert_eq!(sim.engine.bans(t + 11_000).len(), 1);
    // Banned: even a correct password is refused, and calls from there too.
    assert!(
        sim.auth(
            t + 20_000,
            ip,
            "205",
            AuthKind::Register,
            AuthOutcome::Success
        )
        .is_block()
    );
    sim.source = Some(SocketAddr::new(ip, 5060));
    assert!(sim.attempt(t + 21_000, "205", &domestic(1)).1.is_block());
    assert!(
        sim.attempt(t + 2_000 + HOUR, "205", &domestic(1))
            .1
            .is_block()
    );
    // The ban runs out after 24 h.
    assert!(
        !sim.attempt(t + 2_000 + DAY, "205", &domestic(1))
            .1
            .is_block()
    );
}

#[test]
fn extension_enumeration_is_banned() {
    // Failed guesses per source loosened (by default the third failure bans whatever the user names).
    let mut sim = Sim::toml(
        "[defaults.rules.auth_source_minute]\ncritical = \"off\"\n[defaults.rules.auth_source_hour]\nwarning = \"off\"\ncritical = \"off\"\n",
    );
    let ip: IpAddr = Ipv4Addr::new(198, 51, 100, 8).into();
    let t = monday_10();
    for i in 0..5 {
        sim.auth(
            t + i * 20_000,
            ip,
            &format!("{}", 100 + i),
            AuthKind::Register,
            AuthOutcome::UnknownUser,
        );
    }
    assert!(!sim.out.iter().any(|d| d.level == Level::Critical));
    assert!(
        sim.auth(
            t + 200_000,
            ip,
            "199",
            AuthKind::Register,
            AuthOutcome::UnknownUser
        )
        .is_block()
    );
    assert!(sim.has("auth_usernames_source"));
}

#[test]
fn success_after_failures_bars_the_account() {
    let mut sim = Sim::toml(ALLOW_ALL);
    let t = monday_10();
    for i in 0..6u8 {
        // Spread over several sources so that no single source is banned.
        let ip: IpAddr = Ipv4Addr::new(192, 0, 2, i).into();
        sim.auth(
            t + i64::from(i) * MIN,
            ip,
            "205",
            AuthKind::Register,
            AuthOutcome::Failure,
        );
    }
    let ip: IpAddr = Ipv4Addr::new(192, 0, 2, 99).into();
    let v = sim.auth(
        t + 10 * MIN,
        ip,
        "205",
        AuthKind::Register,
        AuthOutcome::Success,
    );
    assert_eq!(v, Verdict::Warn);
    assert!(sim.has("auth_success_after_failures"));
    assert!(
        sim.attempt(t + 11 * MIN, "205", &us(1)).1.is_block(),
        "international barred"
    );
    assert!(!sim.attempt(t + 11 * MIN, "205", &domestic(1)).1.is_block());
}

#[test]
fn registration_from_a_new_network_warns() {
    let mut sim = Sim::new(Policy::default());
    let t = monday_10();
    let home: IpAddr = Ipv4Addr::new(192, 0, 2, 10).into();
    let home2: IpAddr = Ipv4Addr::new(192, 0, 2, 11).into();
    let away: IpAddr = Ipv4Addr::new(203, 0, 113, 10).into();
    assert_eq!(
        sim.auth(t, home, "205", AuthKind::Register, AuthOutcome::Success),
        Verdict::Allow
    );
    assert_eq!(
        sim.auth(
            t + HOUR,
            home2,
            "205",
            AuthKind::Register,
            AuthOutcome::Success
        ),
        Verdict::Allow
    );
    assert_eq!(
        sim.auth(
            t + 2 * HOUR,
            away,
            "205",
            AuthKind::Register,
            AuthOutcome::Success
        ),
        Verdict::Warn
    );
    assert!(sim.has("auth_new_network"));
}

#[test]
fn scanner_user_agent_is_banned_at_once() {
    let mut sim = Sim::new(Policy::default());
    let ip: IpAddr = Ipv4Addr::new(198, 51, 100, 66).into();
    let v = sim.engine.on_event(
        &engine::Event::Auth(engine::AuthAttempt {
            at: monday_10(),
            tenant: "",
            username: "100",
            source: ip,
            user_agent: "friendly-scanner",
            kind: AuthKind::Register,
            outcome: AuthOutcome::Challenge,
            country: None,
        }),
        &mut sim.out,
    );
    assert!(v.is_block());
    assert!(sim.has("scanner_user_agent"));
    assert_eq!(sim.engine.bans(monday_10()).len(), 1);
}

#[test]
fn request_floods_ban_the_source() {
    let mut sim = Sim::new(Policy::default());
    let ip: IpAddr = Ipv4Addr::new(198, 51, 100, 67).into();
    let t = monday_10();
    let mut verdicts = Vec::new();
    for i in 0..12 {
        verdicts.push(sim.engine.on_event(
            &engine::Event::Requests(engine::RequestCount {
                at: t + i * 1000,
                source: ip,
                requests: 100,
            }),
            &mut sim.out,
        ));
    }
    assert_eq!(verdicts[2], Verdict::Allow);
    assert_eq!(verdicts[3], Verdict::Warn);
    assert!(verdicts[10].is_block());
}

#[test]
fn every_decision_is_explained() {
    let mut sim = Sim::new(Policy::default());
    let t = saturday_night();
    for i in 0..8 {
        sim.call(t + i * MIN, "205", &sierra_leone(i as u32), 30);
    }
    assert!(!sim.out.is_empty());
    for d in &sim.out {
        assert!(!d.reason.is_empty() && !d.key().is_empty(), "{d:?}");
        if matches!(d.action, Action::Block { .. }) {
            assert!(d.call_id.is_some());
        }
    }
    let json = serde_json::to_string(&sim.out).unwrap();
    assert!(json.contains("\"rule\":\"destination_country\""));
}

#[test]
fn a_warning_raised_again_within_its_window_keeps_the_verdict_and_says_nothing() {
    let mut sim = Sim::toml(&format!(
        "{ALLOW_ALL}[defaults.rules.velocity_account_hour]\nwarning = 2\ncritical = 1000\n"
    ));
    let t = monday_10();
    let verdicts: Vec<Verdict> = (0..8)
        .map(|i| sim.attempt(t + i * MIN, "205", &us(i as u32)).1)
        .collect();
    assert_eq!(verdicts[..2], [Verdict::Allow, Verdict::Allow]);
    assert!(
        verdicts[2..].iter().all(|v| *v == Verdict::Warn),
        "{verdicts:?}"
    );
    let said = |sim: &Sim| {
        sim.out
            .iter()
            .filter(|d| d.rule == "velocity_account_hour")
            .count()
    };
    assert_eq!(said(&sim), 1, "{:?}", sim.rules());
    // The warning's window (1 h) has passed: said again.
    let (_, v) = sim.attempt(t + 62 * MIN, "205", &us(9));
    assert_eq!(v, Verdict::Warn);
    assert_eq!(said(&sim), 2, "{:?}", sim.rules());
}
