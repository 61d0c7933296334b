//! Batched writes and the change sequence, on a real database file: bans written in one transaction come
//! back as they went in, a reader following the changes sees each set and lift once and only what changed
//! since it last looked, and the bans that ran out are pruned.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};

use engine::{Action, Ban, BarScope, ClassSet, Decision, Engine, KillSwitch, Level, Policy, Unit};
use store::{AlertFilter, BanChange, Batch, KillSwitchChange, Store};

fn ip(n: u32) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + n))
}

fn ban(n: u32, until: i64) -> Ban {
    Ban {
        source: ip(n),
        since: 1_000,
        until,
        rule: "request_rate_source".into(),
        by: "tollguard".into(),
        why: format!("flood from source {n}"),
    }
}

fn switch(scope: BarScope, by: &str) -> KillSwitch {
    KillSwitch {
        id: 1,
        scope,
        classes: ClassSet::INTERNATIONAL,
        since: 100,
        by: by.into(),
        why: "pumping to +232".into(),
    }
}

fn acme() -> BarScope {
    BarScope::Tenant {
        tenant: "acme".into(),
    }
}

fn decision(at: i64) -> Decision {
    Decision {
        at,
        rule: engine::RuleId::ScannerUserAgent,
        level: Level::Critical,
        action: Action::Block { sip_status: 403 },
        shadow: false,
        subject: engine::Subject::Source {
            source: [10, 0, 0, 1].into(),
            ipv6_prefix: 128,
        },
        country: None,
        call: None,
        measured: 1,
        threshold: 1,
        unit: Unit::SimilarCalls,
        window_secs: 60,
        call_id: None,
        calls: Default::default(),
        at_stake: None,
        reason: "User-Agent friendly-scanner".into(),
    }
}

fn shadow(mut d: Decision) -> Decision {
    d.shadow = true;
    d
}

#[test]
fn batched_bans_round_trip_through_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tollguard.db");
    let bans: Vec<Ban> = (0..1_000).map(|n| ban(n, 50_000)).collect();
    {
        let mut s = Store::open(&path).unwrap();
        s.put_bans(&bans).unwrap();
        // The same source twice in one batch: the later ban is the one kept.
        s.put_bans(&[ban(7, 60_000), ban(7, 70_000)]).unwrap();
        s.put_bans(&[]).unwrap();
    }
    let s = Store::open(&path).unwrap();
    let mut stored = s.active_bans(2_000).unwrap();
    assert_eq!(stored.len(), 1_000);
    stored.sort_by_key(|b| b.source);
    let mut want = bans.clone();
    want[7].until = 70_000;
    want.sort_by_key(|b| b.source);
    assert_eq!(stored, want);
}

#[test]
fn a_batch_writes_bans_switches_alerts_dialogs_and_the_snapshot_as_one_change() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tollguard.db");
    let mut s = Store::open(&path).unwrap();
    s.put_ban(&ban(9, 9_000)).unwrap();
    let (_, before) = s.ban_changes_since(0).unwrap();
    let engine = Engine::new(
        Policy::default(),
        std::sync::Arc::new(numbering::Numbering::japan_defaults()),
    );
    s.write_batch(&Batch {
        bans: vec![ban(1, 9_000), ban(2, 9_000)],
        kill_switches: vec![switch(acme(), "tollguard")],
        alerts: vec![("".into(), vec![shadow(decision(10)), shadow(decision(11))])],
        dialog_upserts: vec![("c-1".into(), "acme".into(), "{\"leg\":1}".into())],
        dialogs_ended: vec![],
        snapshot: Some((3_000, Box::new(engine.snapshot()))),
        prune_bans_at: Some(2_000),
        prune_dialogs_before: None,
    })
    .unwrap();
    drop(s);

    let s = Store::open(&path).unwrap();
    let (bans, after) = s.ban_changes_since(before).unwrap();
    assert_eq!(bans.len(), 2);
    assert_eq!(after, before + 1, "one transaction, one number");
    let (switches, ks_after) = s.kill_switch_changes_since(before).unwrap();
    assert_eq!(ks_after, after, "bans and switches share the sequence");
    assert!(matches!(&switches[..], [KillSwitchChange::Set(k)] if k.scope == acme()));
    // Two shadow decisions of one rule for one source: one alert that fired twice (the repeat written when the
    // writer's store closed).
    let alerts = s.alerts(&AlertFilter::default()).unwrap();
    assert_eq!(alerts.len(), 1);
    assert_eq!(
        (alerts[0].times, alerts[0].first_at, alerts[0].last_at),
        (2, 10, 11)
    );
    assert_eq!(
        s.load_dialogs().unwrap(),
        vec![("c-1".into(), "acme".into(), "{\"leg\":1}".into())]
    );
    assert_eq!(s.latest_snapshot().unwrap().map(|(at, _)| at), Some(3_000));
}

#[test]
fn changes_since_return_only_what_changed_and_lifts() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Store::open(&dir.path().join("tollguard.db")).unwrap();
    s.put_bans(&[ban(1, 10_000), ban(2, 10_000)]).unwrap();
    let (all, seen) = s.ban_changes_since(0).unwrap();
    assert_eq!(all.len(), 2);

    assert_eq!(
        s.ban_changes_since(seen).unwrap(),
        (vec![], seen),
        "nothing new"
    );

    assert!(s.lift_ban(ip(1)).unwrap());
    s.put_ban(&ban(3, 10_000)).unwrap();
    let (changes, seen2) = s.ban_changes_since(seen).unwrap();
    assert_eq!(
        changes,
        vec![BanChange::Lifted(ip(1)), BanChange::Set(ban(3, 10_000))],
        "the lift and the new ban, in order; ban 2 did not change"
    );
    assert!(seen2 > seen);
    assert_eq!(
        s.active_bans(0)
            .unwrap()
            .iter()
            .map(|b| b.source)
            .collect::<Vec<_>>(),
        vec![ip(2), ip(3)],
        "a lifted ban is not in force"
    );

    // Lifting what is not banned changes nothing.
    assert!(!s.lift_ban(ip(1)).unwrap());
    assert!(!s.lift_ban(ip(99)).unwrap());
    assert_eq!(s.ban_changes_since(seen2).unwrap(), (vec![], seen2));

    // Banned again after the lift: in force again, and a change.
    s.put_ban(&ban(1, 20_000)).unwrap();
    let (changes, seen3) = s.ban_changes_since(seen2).unwrap();
    assert_eq!(changes, vec![BanChange::Set(ban(1, 20_000))]);
    assert_eq!(s.active_bans(0).unwrap().len(), 3);

    // Kill switches: set, updated, lifted, set again (a new row), each a change.
    let a = s.put_kill_switch(&switch(acme(), "tollguard")).unwrap();
    let (ks, k1) = s.kill_switch_changes_since(seen3).unwrap();
    assert!(
        matches!(&ks[..], [KillSwitchChange::Set(k)] if k.id == a as u64 && k.by == "tollguard")
    );
    assert_eq!(s.put_kill_switch(&switch(acme(), "token:ops1")).unwrap(), a);
    let (ks, k2) = s.kill_switch_changes_since(k1).unwrap();
    assert!(
        matches!(&ks[..], [KillSwitchChange::Set(k)] if k.id == a as u64 && k.by == "token:ops1")
    );
    assert_eq!(
        s.lift_kill_switches(&acme(), None, 500, "token:ops2")
            .unwrap(),
        1
    );
    let b = s.put_kill_switch(&switch(acme(), "tollguard")).unwrap();
    assert_ne!(a, b);
    let (ks, k3) = s.kill_switch_changes_since(k2).unwrap();
    assert!(
        matches!(&ks[..], [KillSwitchChange::Lifted(l), KillSwitchChange::Set(n)]
            if l.id == a as u64 && n.id == b as u64),
        "{ks:?}"
    );
    assert!(!s.lift_kill_switch(a as u64, 600, "ops").unwrap());
    assert_eq!(s.kill_switch_changes_since(k3).unwrap(), (vec![], k3));
    assert_eq!(
        s.ban_changes_since(seen3).unwrap().0,
        vec![],
        "kill switches are not ban changes"
    );
}

/// What a reader of the changes reads does not grow with the bans that did not change: the same three
/// changes come back alone whether 10 or 20,000 bans are stored (the query's plan is checked in the crate's
/// unit tests).
#[test]
fn ban_changes_since_reads_only_the_changes_however_many_bans_are_stored() {
    let dir = tempfile::tempdir().unwrap();
    for stored in [10, 20_000] {
        let mut s = Store::open(&dir.path().join(format!("bans-{stored}.db"))).unwrap();
        let bans: Vec<Ban> = (0..stored).map(|n| ban(n, 1_000_000)).collect();
        s.put_bans(&bans).unwrap();
        let (all, seen) = s.ban_changes_since(0).unwrap();
        assert_eq!(all.len(), stored as usize);

        s.put_bans(&[ban(stored + 1, 1_000_000), ban(stored + 2, 1_000_000)])
            .unwrap();
        assert!(s.lift_ban(ip(3)).unwrap());
        let (changes, _) = s.ban_changes_since(seen).unwrap();
        assert_eq!(changes.len(), 3, "{stored} bans stored: {changes:?}");
    }
}

#[test]
fn bans_that_ran_out_are_pruned_but_a_lift_stays_visible_until_then() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Store::open(&dir.path().join("tollguard.db")).unwrap();
    s.put_bans(&[ban(1, 5_000), ban(2, 9_000), ban(3, 9_000)])
        .unwrap();
    assert!(s.lift_ban(ip(2)).unwrap());
    assert_eq!(s.prune_bans(6_000).unwrap(), 1, "ban 1 ran out");
    let (changes, _) = s.ban_changes_since(0).unwrap();
    assert_eq!(
        changes,
        vec![BanChange::Set(ban(3, 9_000)), BanChange::Lifted(ip(2))],
        "the lifted ban's row stays until it would have run out, so that readers see the lift"
    );
    assert_eq!(s.prune_bans(9_000).unwrap(), 2);
    assert_eq!(s.ban_changes_since(0).unwrap().0, vec![]);
    // Pruning does not set the sequence back: a ban written after it is a new change.
    let (_, seen) = s.ban_changes_since(0).unwrap();
    s.put_ban(&ban(4, 20_000)).unwrap();
    let (changes, after) = s.ban_changes_since(seen).unwrap();
    assert_eq!(changes, vec![BanChange::Set(ban(4, 20_000))]);
    assert!(after > seen);
}

/// Two writers on their own connections (the guard's writer and the API) and a reader on a third: the reader,
/// following the changes while they write, ends up with every ban exactly as the writers left it. A number
/// taken outside the write lock would let a change numbered below what the reader has seen become visible
/// later, and be missed.
#[test]
fn a_reader_following_the_changes_misses_nothing_two_writers_do() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tollguard.db");
    let reader = Store::open(&path).unwrap();
    let writers: Vec<_> = (0..2u32)
        .map(|w| {
            let path = path.clone();
            std::thread::spawn(move || {
                let mut s = Store::open(&path).unwrap();
                for i in 0..200u32 {
                    let n = w * 1_000 + i;
                    if i % 2 == 0 {
                        s.put_ban(&ban(n, 100_000)).unwrap();
                    } else {
                        s.put_bans(&[ban(n, 100_000), ban(n + 500, 100_000)])
                            .unwrap();
                    }
                    if i % 5 == 4 {
                        assert!(s.lift_ban(ip(n)).unwrap());
                    }
                }
            })
        })
        .collect();
    let mut state: HashMap<IpAddr, bool> = HashMap::new();
    let mut seen = 0;
    let mut apply = |seen: &mut u64| {
        let (changes, last) = reader.ban_changes_since(*seen).unwrap();
        assert!(last >= *seen);
        *seen = last;
        for c in changes {
            match c {
                BanChange::Set(b) => state.insert(b.source, true),
                BanChange::Lifted(ip) => state.insert(ip, false),
            };
        }
    };
    while !writers.iter().all(|w| w.is_finished()) {
        apply(&mut seen);
    }
    for w in writers {
        w.join().unwrap();
    }
    apply(&mut seen);
    let in_force: std::collections::BTreeSet<IpAddr> = reader
        .active_bans(0)
        .unwrap()
        .into_iter()
        .map(|b| b.source)
        .collect();
    let followed: std::collections::BTreeSet<IpAddr> = state
        .iter()
        .filter(|(_, on)| **on)
        .map(|(ip, _)| *ip)
        .collect();
    assert_eq!(followed, in_force);
    assert_eq!(state.len(), 2 * (100 + 100 * 2));
}
