//! State over time: bounded memory under floods of new keys, and restarts from a snapshot that decide exactly
//! as if there had been no restart.

mod common;

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use common::*;
use engine::{AuthKind, AuthOutcome, Decision, Engine, Event, Policy, RequestCount, Snapshot};
use numbering::Destination;

const SMALL: &str = "[limits]\nmax_accounts = 5000\nmax_sources = 5000\nmax_numbers = 5000\nmax_ranges = 5000\nmax_calls_in_progress = 5000\nmax_tenants = 100\n[defaults.destinations]\nallow_countries = [\"*\"]\nblock_risk_at = \"never\"\n";

#[test]
fn memory_stays_bounded_under_a_million_distinct_keys() {
    let mut sim = Sim::toml(SMALL);
    let t = monday_10();
    let banned: IpAddr = Ipv4Addr::new(198, 51, 100, 1).into();
    sim.engine
        .ban(banned, t, t + 7 * DAY, "op", "known attacker");
    for i in 0..1_000_000u32 {
        let ip = IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i));
        sim.engine.on_event(
            &Event::Requests(RequestCount {
                at: t + i64::from(i),
                source: ip,
                requests: 1,
            }),
            &mut sim.out,
        );
        if i % 100_000 == 0 {
            assert!(sim.engine.sizes().sources <= 5000);
        }
    }
    let s = sim.engine.sizes();
    assert!(s.sources <= 5000, "{s:?}");
    assert!(s.evicted >= 995_000, "{s:?}");
    // A ban survives the flood.
    assert_eq!(sim.engine.bans(t + DAY).len(), 1);
    // Distinct accounts, numbers and ranges, with calls left in progress.
    for i in 0..100_000u32 {
        let d = intl(
            US,
            &format!("1{:010}", u64::from(i) * 1000),
            numbering::RiskTier::Low,
        );
        sim.attempt(t + i64::from(i) * 10, &format!("x{i}"), &d);
    }
    let s = sim.engine.sizes();
    assert!(
        s.accounts <= 5000 && s.numbers <= 5000 && s.ranges <= 5000 && s.calls_in_progress <= 5000,
        "{s:?}"
    );
    assert!(s.tenants <= 100);
}

#[test]
fn idle_keys_expire_with_event_time() {
    let mut sim = Sim::toml(SMALL);
    let t = monday_10();
    sim.attempt(t, "205", &us(1));
    assert_eq!(sim.engine.sizes().numbers, 1);
    // 26 hours later another event sweeps idle numbers; the account keeps its baseline for 35 days.
    sim.attempt(t + 26 * HOUR, "206", &domestic(1));
    let s = sim.engine.sizes();
    assert_eq!(s.numbers, 0);
    assert_eq!(s.accounts, 2);
    // The lost call (never ended) is forgotten after 4 hours.
    assert_eq!(s.calls_in_progress, 1);
}

/// An event with owned strings, so that a scenario can be replayed twice.
#[derive(Clone)]
enum Ev {
    Attempt {
        at: i64,
        id: String,
        account: String,
        dest: Destination,
    },
    Answer {
        at: i64,
        id: String,
    },
    End {
        at: i64,
        id: String,
        secs: u32,
    },
    AuthFail {
        at: i64,
        ip: IpAddr,
        user: String,
    },
}

fn attack_scenario() -> Vec<Ev> {
    let mut v = Vec::new();
    let t = saturday_night();
    // Legitimate calls, a password-guessing source, then a pump of ~30 s calls to Sierra Leone from ext 205.
    for i in 0..10u32 {
        let at = t - 3 * HOUR + i64::from(i) * 7 * MIN;
        let id = format!("legit-{i}");
        v.push(Ev::Attempt {
            at,
            id: id.clone(),
            account: "201".into(),
            dest: us(i),
        });
        v.push(Ev::Answer {
            at: at + 3000,
            id: id.clone(),
        });
        v.push(Ev::End {
            at: at + 3000 + 95_000 + i64::from(i) * 7000,
            id,
            secs: 95 + i * 7,
        });
    }
    for i in 0..12 {
        v.push(Ev::AuthFail {
            at: t - HOUR + i * 2000,
            ip: Ipv4Addr::new(203, 0, 113, 5).into(),
            user: format!("{}", 200 + i),
        });
    }
    for i in 0..12u32 {
        let at = t + i64::from(i) * 45_000;
        let id = format!("pump-{i}");
        v.push(Ev::Attempt {
            at,
            id: id.clone(),
            account: "205".into(),
            dest: sierra_leone(i % 3),
        });
        v.push(Ev::Answer {
            at: at + 2000,
            id: id.clone(),
        });
        let secs = 29 + (i * 7) % 4;
        v.push(Ev::End {
            at: at + 2000 + i64::from(secs) * 1000,
            id,
            secs,
        });
    }
    v
}

fn feed(e: &mut Engine, evs: &[Ev], out: &mut Vec<Decision>) {
    for ev in evs {
        match ev {
            Ev::Attempt {
                at,
                id,
                account,
                dest,
            } => {
                let dialed = format!(
                    "010{}",
                    dest.e164.map(|x| x.digits().to_owned()).unwrap_or_default()
                );
                e.on_event(
                    &Event::CallAttempt(engine::CallAttempt {
                        at: *at,
                        call_id: id,
                        tenant: "acme",
                        account,
                        source: None,
                        user_agent: "",
                        authenticated: true,
                        caller_id_foreign: false,
                        dialed: &dialed,
                        destination: dest,
                        route: "",
                        leg: engine::Leg::Direct,
                        forwarded_from: None,
                    }),
                    out,
                );
            }
            Ev::Answer { at, id } => {
                e.on_event(
                    &Event::CallAnswered(engine::CallAnswered {
                        at: *at,
                        call_id: id,
                    }),
                    out,
                );
            }
            Ev::End { at, id, secs } => {
                e.on_event(
                    &Event::CallEnded(engine::CallEnded {
                        at: *at,
                        call_id: id,
                        duration_secs: secs + 2,
                        billable_secs: *secs,
                        cause: engine::EndCause::Normal,
                    }),
                    out,
                );
            }
            Ev::AuthFail { at, ip, user } => {
                e.on_event(
                    &Event::Auth(engine::AuthAttempt {
                        at: *at,
                        tenant: "acme",
                        username: user,
                        source: *ip,
                        user_agent: "",
                        kind: AuthKind::Register,
                        outcome: AuthOutcome::Failure,
                        country: None,
                    }),
                    out,
                );
            }
        }
    }
}

fn policy() -> Policy {
    Policy::from_toml_str("[defaults.destinations]\nallow_countries = [\"US\", \"SL\"]\n").unwrap()
}

#[test]
fn restart_mid_attack_decides_exactly_as_without_restart() {
    let evs = attack_scenario();
    let mut straight = Engine::new(policy(), Arc::new(Table));
    let mut expected = Vec::new();
    feed(&mut straight, &evs, &mut expected);
    assert!(
        expected.iter().any(|d| d.rule == "pumping"),
        "the scenario must contain an attack"
    );
    assert!(
        expected
            .iter()
            .any(|d| d.rule == "auth_usernames_source" || d.rule == "auth_source_minute")
    );

    for cut in [evs.len() / 3, evs.len() / 2, evs.len() - 7] {
        let mut first = Engine::new(policy(), Arc::new(Table));
        let mut got = Vec::new();
        feed(&mut first, &evs[..cut], &mut got);
        let json = serde_json::to_string(&first.snapshot()).unwrap();
        drop(first);
        let snap: Snapshot = serde_json::from_str(&json).unwrap();
        let mut second = Engine::restore(policy(), Arc::new(Table), snap);
        feed(&mut second, &evs[cut..], &mut got);
        assert_eq!(
            serde_json::to_string(&got).unwrap(),
            serde_json::to_string(&expected).unwrap(),
            "restart after event {cut}"
        );
        assert_eq!(second.kill_switches(), straight.kill_switches());
    }
}

#[test]
fn snapshot_keeps_kill_switches_and_bans() {
    let mut sim = Sim::new(policy());
    let t = monday_10();
    let ip: IpAddr = Ipv4Addr::new(203, 0, 113, 77).into();
    sim.engine.ban(ip, t, t + HOUR, "bob", "manual");
    sim.engine.set_kill_switch(
        engine::BarScope::All,
        engine::ClassSet::INTERNATIONAL,
        t,
        "bob",
        "holiday",
    );
    let snap = sim.engine.snapshot();
    let e = Engine::restore(policy(), Arc::new(Table), snap);
    assert_eq!(e.kill_switches().len(), 1);
    assert_eq!(e.bans(t).len(), 1);
    assert_eq!(e.bans(t)[0].by, "bob");
}

/// A snapshot written before bans had their own table keeps each ban inside its source's state, keyed by the
/// address: it still loads, and its bans (re-keyed by source key) are enforced.
#[test]
fn a_snapshot_with_bans_inside_the_sources_still_loads() {
    let mut sim = Sim::new(policy());
    let t = monday_10();
    let ip: IpAddr = Ipv4Addr::new(203, 0, 113, 77).into();
    let v6: IpAddr = "2001:db8:5:6::9".parse().expect("address");
    // A failure makes a source entry for the IPv4 address, where the old snapshot kept its ban.
    sim.auth(t, ip, "205", AuthKind::Register, AuthOutcome::Failure);
    sim.engine.ban(ip, t, t + HOUR, "bob", "manual");
    let mut json = serde_json::to_value(sim.engine.snapshot()).expect("json");
    let bans = json["bans"].as_array().cloned().expect("bans");
    assert_eq!(bans.len(), 1);
    let (key, ban) = (bans[0][0].clone(), bans[0][1].clone());
    let sources = json["sources"].as_array_mut().expect("sources");
    let entry = sources
        .iter_mut()
        .find(|s| s[0] == key)
        .expect("the banned source's entry");
    entry[1]["ban"] = ban.clone();
    // An old IPv6 ban of a single address, in an entry of its own.
    let mut old_v6 = entry.clone();
    old_v6[0] = serde_json::json!(12345u64);
    old_v6[1]["ban"]["source"] = serde_json::json!(v6.to_string());
    sources.push(old_v6);
    let obj = json.as_object_mut().expect("object");
    obj.remove("bans");
    obj.remove("logins");
    obj["stats"]
        .as_object_mut()
        .expect("stats")
        .remove("bans_evicted");
    let snap: Snapshot = serde_json::from_value(json).expect("an old snapshot loads");
    let mut e = Engine::restore(policy(), Arc::new(Table), snap);
    let held = e.bans(t);
    assert_eq!(held.len(), 2, "{held:?}");
    assert_eq!(held[0].source, ip);
    assert_eq!(held[0].by, "bob");
    assert_eq!(
        held[1].source,
        "2001:db8:5:6::".parse::<IpAddr>().expect("key")
    );
    let mut out = Vec::new();
    let v = e.on_event(
        &Event::Auth(engine::AuthAttempt {
            at: t + MIN,
            tenant: "acme",
            username: "205",
            source: "2001:db8:5:6::1".parse().expect("address"),
            user_agent: "",
            kind: AuthKind::Register,
            outcome: AuthOutcome::Success,
            country: None,
        }),
        &mut out,
    );
    assert!(v.is_block(), "the old IPv6 ban covers its network now");
}
