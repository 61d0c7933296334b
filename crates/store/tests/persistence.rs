//! The store keeps bans, kill switches, alerts, the audit log and engine snapshots across a reopen of the
//! database file, the way the guard reopens it after a restart or a kill -9.

use std::net::IpAddr;
use std::sync::Arc;

use engine::{
    Action, Amount, Ban, BarScope, ClassSet, Decision, Engine, KillSwitch, Level, Policy, Subject,
    Unit,
};
use store::{AlertFilter, AuditEntry, Store};

fn decision(at: i64, rule: &str, key: &str) -> Decision {
    let (tenant, account) = key
        .trim_start_matches("account ")
        .split_once('/')
        .expect("account tenant/account");
    Decision {
        at,
        rule: rule.parse().expect("a rule name"),
        level: Level::Critical,
        action: Action::Block { sip_status: 403 },
        shadow: false,
        subject: Subject::Account {
            tenant: tenant.into(),
            account: account.into(),
        },
        country: Some("SL".into()),
        call: None,
        measured: 3,
        threshold: 2,
        unit: Unit::SimilarCalls,
        window_secs: 120,
        call_id: Some("c-3".into()),
        calls: ["c-1", "c-2", "c-3"].into_iter().collect(),
        at_stake: Some(Amount::new(525_000, numbering::Currency::JPY)),
        reason: format!("{key}: 3 answered calls of 30±1 s to Sierra Leone in 2 min"),
    }
}

/// An alert stored by a version whose decisions had a `key` string and no subject still reads back.
#[test]
fn an_alert_stored_before_decisions_had_a_subject_reads_back() {
    let mut v = serde_json::to_value(decision(3_000, "pumping", "account acme/205")).unwrap();
    let o = v.as_object_mut().unwrap();
    o.remove("subject");
    o.remove("country");
    o.remove("call");
    let old: Decision = serde_json::from_value(v).unwrap();
    assert_eq!(old.rule, engine::RuleId::Pumping);
    assert_eq!(
        old.subject,
        Subject::Account {
            tenant: "acme".into(),
            account: "205".into()
        }
    );
    assert_eq!(old.key(), "account acme/205");
}

fn ban(ip: &str, until: i64) -> Ban {
    Ban {
        source: ip.parse::<IpAddr>().unwrap(),
        since: 1_000,
        until,
        rule: "scanner".into(),
        by: "tollguard".into(),
        why: "User-Agent friendly-scanner".into(),
    }
}

#[test]
fn everything_survives_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tollguard.db");
    {
        let mut s = Store::open(&path).unwrap();
        s.put_ban(&ban("203.0.113.9", 10_000)).unwrap();
        s.put_ban(&ban("198.51.100.7", 5_000)).unwrap();
        s.put_kill_switch(&KillSwitch {
            id: 7,
            scope: BarScope::Tenant {
                tenant: "acme".into(),
            },
            classes: ClassSet::INTERNATIONAL,
            since: 2_000,
            by: "token:ops1".into(),
            why: "weekend".into(),
        })
        .unwrap();
        s.insert_alerts("acme", &[decision(3_000, "pumping", "account acme/205")])
            .unwrap();
        s.audit(&AuditEntry {
            at: 2_000,
            actor: "token:ops1".into(),
            tenant: "acme".into(),
            action: "kill_switch.set".into(),
            detail: "international".into(),
        })
        .unwrap();
        let engine = Engine::new(
            Policy::default(),
            Arc::new(numbering::Numbering::japan_defaults()),
        );
        s.save_snapshot(3_000, &engine.snapshot()).unwrap();
        // Dropped without any explicit flush or close, like a process that is killed.
    }
    let s = Store::open(&path).unwrap();
    let bans = s.active_bans(6_000).unwrap();
    assert_eq!(
        bans.len(),
        1,
        "the ban that ran out at 5000 is gone, the other stays"
    );
    assert_eq!(bans[0].source.to_string(), "203.0.113.9");
    assert_eq!(bans[0].why, "User-Agent friendly-scanner");
    let ks = s.active_kill_switches().unwrap();
    assert_eq!(ks.len(), 1);
    assert_eq!(
        ks[0].scope,
        BarScope::Tenant {
            tenant: "acme".into()
        }
    );
    assert!(ks[0].classes.contains(engine::DestClass::International));
    let alerts = s.alerts(&AlertFilter::default()).unwrap();
    assert_eq!(alerts.len(), 1);
    assert_eq!(
        alerts[0].decision,
        decision(3_000, "pumping", "account acme/205")
    );
    assert_eq!(s.audit_log(None, 10).unwrap().len(), 1);
    let (at, _snap) = s.latest_snapshot().unwrap().expect("snapshot stored");
    assert_eq!(at, 3_000);
}

#[test]
fn a_lifted_kill_switch_is_no_longer_in_force() {
    let s = Store::in_memory().unwrap();
    let ks = KillSwitch {
        id: 1,
        scope: BarScope::All,
        classes: ClassSet::INTERNATIONAL,
        since: 1,
        by: "ops".into(),
        why: "test".into(),
    };
    let id = u64::try_from(s.put_kill_switch(&ks).unwrap()).unwrap();
    assert!(s.lift_kill_switch(id, 5, "ops").unwrap());
    assert!(
        !s.lift_kill_switch(id, 6, "ops").unwrap(),
        "lifting twice reports nothing lifted"
    );
    assert!(s.active_kill_switches().unwrap().is_empty());
}

#[test]
fn a_tenant_sees_and_acknowledges_only_its_own_alerts() {
    let mut s = Store::in_memory().unwrap();
    let a = s
        .insert_alerts("acme", &[decision(10, "pumping", "account acme/205")])
        .unwrap();
    let b = s
        .insert_alerts(
            "globex",
            &[decision(11, "money_account_day", "account globex/301")],
        )
        .unwrap();
    let only_acme = s
        .alerts(&AlertFilter {
            tenant: Some("acme"),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(only_acme.len(), 1);
    assert_eq!(only_acme[0].tenant, "acme");
    assert!(
        !s.ack_alert(b[0], Some("acme"), 20, "acme-op").unwrap(),
        "acme cannot ack globex's alert"
    );
    assert!(s.ack_alert(a[0], Some("acme"), 20, "acme-op").unwrap());
    let unacked = s
        .alerts(&AlertFilter {
            unacknowledged_only: true,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(unacked.len(), 1);
    assert_eq!(unacked[0].tenant, "globex");
}

#[test]
fn lifting_a_ban_removes_it() {
    let s = Store::in_memory().unwrap();
    s.put_ban(&ban("192.0.2.1", 100)).unwrap();
    assert!(s.lift_ban("192.0.2.1".parse().unwrap()).unwrap());
    assert!(!s.lift_ban("192.0.2.1".parse().unwrap()).unwrap());
    assert!(s.active_bans(0).unwrap().is_empty());
}

#[test]
fn the_same_kill_switch_set_twice_is_one_row_with_the_stores_id() {
    let s = Store::in_memory().unwrap();
    let acme = BarScope::Tenant {
        tenant: "acme".into(),
    };
    let ks = |id: u64, since: i64, by: &str| KillSwitch {
        id,
        scope: acme.clone(),
        classes: ClassSet::INTERNATIONAL,
        since,
        by: by.into(),
        why: "pumping to +232".into(),
    };
    // The engine numbers its switches from 1 in every process: its id must not decide the row.
    let a = s.put_kill_switch(&ks(1, 100, "tollguard")).unwrap();
    let b = s.put_kill_switch(&ks(1, 200, "token:ops1")).unwrap();
    assert_eq!(
        a, b,
        "same scope and classes in force: updated, not duplicated"
    );
    let other = s
        .put_kill_switch(&KillSwitch {
            scope: BarScope::All,
            ..ks(1, 300, "token:ops1")
        })
        .unwrap();
    assert_ne!(other, a, "another scope is another switch");
    let active = s.active_kill_switches().unwrap();
    assert_eq!(active.len(), 2);
    assert_eq!(active[0].id, u64::try_from(a).unwrap());
    assert_eq!(active[0].since, 100, "in force since it was first set");
    assert_eq!(active[0].by, "token:ops1");

    assert_eq!(
        s.lift_kill_switches(&acme, Some(ClassSet::INTERNATIONAL), 400, "token:ops2")
            .unwrap(),
        1
    );
    assert_eq!(
        s.lift_kill_switches(&acme, None, 401, "token:ops2")
            .unwrap(),
        0,
        "nothing left in force on that scope"
    );
    let active = s.active_kill_switches().unwrap();
    assert_eq!(active.len(), 1);
    assert_eq!(active[0].scope, BarScope::All);
    let history = s.kill_switch_history(false, 10).unwrap();
    assert_eq!(history.len(), 2);
    let lifted = history
        .iter()
        .find(|h| h.switch.scope == acme)
        .expect("the lifted switch stays in the history");
    assert_eq!(lifted.lifted_at, Some(400));
    assert_eq!(lifted.lifted_by.as_deref(), Some("token:ops2"));

    // Set again after lifting: a new row (a new episode), not the old one revived.
    let again = s.put_kill_switch(&ks(2, 500, "tollguard")).unwrap();
    assert_ne!(again, a);
}
