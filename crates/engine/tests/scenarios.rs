//! Whole scenarios: the 2015 incident against the defaults (and against a permissive policy, where the other
//! layers must still stop it), a legitimate late-night international caller, and a busy call centre.

mod common;

use common::*;
use engine::{Action, Level, Policy, Verdict};

/// The 2015 incident: on a Saturday night a compromised extension pumps ~30 s calls to Sierra Leone,
/// several at a time, for hours.
fn pump_2015(sim: &mut Sim) -> (usize, usize) {
    let t = saturday_night();
    let mut passed = 0;
    let mut blocked = 0;
    for i in 0..200u32 {
        let at = t + i64::from(i) * 20_000;
        let secs = 28 + (i * 5) % 5;
        let (_, v) = sim.call(at, "205", &sierra_leone(i % 7), secs);
        if v.is_block() {
            blocked += 1;
        } else if blocked == 0 {
            passed += 1;
        }
    }
    (passed, blocked)
}

#[test]
fn the_2015_incident_is_stopped_by_an_empty_policy_at_the_first_call() {
    let mut sim = Sim::new(Policy::from_toml_str("").unwrap());
    let (passed, blocked) = pump_2015(&mut sim);
    assert_eq!(passed, 0);
    assert_eq!(blocked, 200);
    // Refusals escalate to a kill switch on the account's international calling.
    assert!(
        sim.out
            .iter()
            .any(|d| matches!(d.action, Action::Bar { .. }))
    );
}

#[test]
fn the_2015_incident_is_stopped_within_a_few_calls_even_when_every_country_is_allowed() {
    let mut sim = Sim::toml(
        "[defaults.destinations]\nallow_countries = [\"*\"]\nblock_risk_at = \"never\"\n",
    );
    let (passed, blocked) = pump_2015(&mut sim);
    assert!(
        passed <= 5,
        "{passed} fraud calls passed before the first block: {:?}",
        sim.rules()
    );
    assert!(blocked >= 190);
    let first = sim.out.iter().find(|d| d.level == Level::Critical).unwrap();
    assert!(first.at_stake.is_some(), "{first:?}");
}

#[test]
fn a_late_night_caller_to_the_us_is_never_blocked_when_the_policy_allows_the_us() {
    let mut sim = Sim::toml("[defaults.destinations]\nallow_countries = [\"US\"]\n");
    let mut n = 0u32;
    for day in 0..21 {
        for k in 0..5 {
            let at = jst(2025, 6, 2, 22, 30, 0) + day * DAY + k * 25 * MIN;
            let secs = 60 + (n * 131) % 900;
            n += 1;
            let (_, v) = sim.call(at, "310", &us(k as u32 + (day as u32 % 3) * 10), secs);
            assert!(
                !v.is_block(),
                "night {day} call {k}: {:?}",
                sim.out
                    .iter()
                    .filter(|d| d.level == Level::Critical)
                    .collect::<Vec<_>>()
            );
        }
    }
    assert!(sim.out.iter().all(|d| d.level == Level::Warning));
}

#[test]
fn a_busy_outbound_call_centre_is_not_blocked() {
    let mut sim = Sim::new(Policy::default());
    let mut n = 0u32;
    // 40 agents, 09:00-18:00, one short domestic or mobile call every 2-3 minutes each, for a week.
    for day in 0..5 {
        let open = jst(2025, 6, 2, 9, 0, 0) + day * DAY;
        for slot in 0..(9 * 60 / 2) {
            for agent in 0..40 {
                if (slot + agent) % 5 == 0 {
                    continue;
                }
                let at = open + i64::from(slot) * 2 * MIN + i64::from(agent) * 1500;
                n += 1;
                let secs = if n.is_multiple_of(3) {
                    0
                } else {
                    20 + (n * 37) % 240
                };
                let (_, v) = sim.call(at, &format!("agent{agent}"), &domestic(n), secs);
                assert_ne!(
                    v,
                    Verdict::Block { sip_status: 403 },
                    "{:?}",
                    sim.out.last()
                );
            }
        }
    }
    assert!(sim.engine.kill_switches().is_empty());
}
