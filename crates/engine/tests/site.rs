//! The site's facts and scanner marks as engine inputs: what the guard's configuration says (networks never
//! banned, the refusal status) and what its fingerprints see decide the same in the engine, whoever feeds it
//! (live traffic, replay, backtest).

mod common;

use std::net::{IpAddr, Ipv4Addr};

use common::*;
use engine::{
    Action, Event, Level, Network, Policy, RequestCount, RuleId, ScannerMark, Site, Verdict,
};

fn flood(sim: &mut Sim, ip: IpAddr) -> Vec<Verdict> {
    let t = monday_10();
    (0..12)
        .map(|i| {
            sim.engine.on_event(
                &Event::Requests(RequestCount {
                    at: t + i * 1000,
                    source: ip,
                    requests: 100,
                }),
                &mut sim.out,
            )
        })
        .collect()
}

#[test]
fn a_protected_source_is_never_banned_and_the_alert_says_why() {
    let pbx: IpAddr = Ipv4Addr::new(192, 0, 2, 10).into();
    let mut sim = Sim::new(Policy::default());
    sim.engine.set_site(Site {
        protected: vec![Network::parse("192.0.2.0/24").unwrap()],
        block_status: None,
    });
    let verdicts = flood(&mut sim, pbx);
    assert!(verdicts.iter().all(|v| !v.is_block()), "{verdicts:?}");
    assert!(sim.engine.bans(monday_10() + 20_000).is_empty());
    let spared: Vec<_> = sim
        .out
        .iter()
        .filter(|d| d.reason.contains("not banned"))
        .collect();
    assert!(!spared.is_empty(), "{:?}", sim.out);
    assert!(
        spared
            .iter()
            .all(|d| d.action == Action::Warn && d.level == Level::Warning)
    );

    // The same flood from an address outside the protected network is banned.
    let mut other = Sim::new(Policy::default());
    other.engine.set_site(sim.engine.site().clone());
    assert!(flood(&mut other, Ipv4Addr::new(198, 51, 100, 67).into())[10].is_block());
}

#[test]
fn refused_calls_carry_the_sites_status() {
    let mut sim = Sim::new(Policy::default());
    sim.engine.set_site(Site {
        protected: Vec::new(),
        block_status: Some(603),
    });
    let t = saturday_night();
    let verdicts: Vec<Verdict> = (0..8)
        .map(|i| {
            sim.call(t + i * 60_000, "205", &sierra_leone(i as u32), 30)
                .1
        })
        .collect();
    assert!(
        verdicts.contains(&Verdict::Block { sip_status: 603 }),
        "{verdicts:?}"
    );
    assert!(!verdicts.contains(&Verdict::Block { sip_status: 403 }));
}

#[test]
fn a_scanner_mark_bans_its_source_with_the_marks_rule_and_words() {
    let ip: IpAddr = Ipv4Addr::new(203, 0, 113, 9).into();
    let mut sim = Sim::new(Policy::default());
    let mark = ScannerMark {
        at: monday_10(),
        source: ip,
        rule: RuleId::ScannerFingerprint,
        why: "hex From-tag of sipvicious",
    };
    let v = sim.engine.on_event(&Event::ScannerMark(mark), &mut sim.out);
    assert!(v.is_block());
    let d = sim.out.last().unwrap();
    assert_eq!(d.rule, RuleId::ScannerFingerprint);
    assert!(matches!(d.action, Action::Ban { source, .. } if source == ip));
    assert!(
        d.reason.contains("hex From-tag of sipvicious"),
        "{}",
        d.reason
    );
    assert_eq!(sim.engine.bans(monday_10()).len(), 1);
}

#[test]
fn a_scanner_mark_under_shadow_mode_only_warns() {
    let mut sim = Sim::toml("[defaults.rules.scanner_user_agent]\nshadow = true\n");
    let mark = ScannerMark {
        at: monday_10(),
        source: Ipv4Addr::new(203, 0, 113, 9).into(),
        rule: RuleId::ScannerFingerprint,
        why: "z9hG4bK-<digits> branch",
    };
    assert_eq!(
        sim.engine.on_event(&Event::ScannerMark(mark), &mut sim.out),
        Verdict::Warn
    );
    assert!(sim.engine.bans(monday_10()).is_empty());
}
