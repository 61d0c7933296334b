//! Alert storms: a rule firing for one subject hundreds of times a second is one row with its count and its
//! first and last time, written at once and then updated once per `REPEATS_EVERY`, however many decisions.

use std::time::{Duration, Instant};

use engine::{Action, Decision, Level, Subject, Unit};
use store::{AlertFilter, Batch, REPEATS_EVERY, STORM_GAP_MS, Store, StoredAlert};

fn decision(at: i64, rule: &str, account: &str, measured: i64) -> Decision {
    Decision {
        at,
        rule: rule.parse().expect("a rule name"),
        level: Level::Warning,
        action: Action::Warn,
        shadow: true,
        subject: Subject::Account {
            tenant: "acme".into(),
            account: account.into(),
        },
        country: Some("SL".into()),
        call: None,
        measured,
        threshold: 10,
        unit: Unit::Calls,
        window_secs: 60,
        call_id: Some(format!("c-{measured}")),
        calls: Default::default(),
        at_stake: None,
        reason: format!("account acme/{account}: {measured} calls in 1 min (limit 10)"),
    }
}

fn batch(decisions: Vec<Decision>) -> Batch {
    Batch {
        alerts: vec![("acme".into(), decisions)],
        ..Default::default()
    }
}

fn all(s: &Store) -> Vec<StoredAlert> {
    s.alerts(&AlertFilter {
        limit: 10_000,
        ..Default::default()
    })
    .unwrap()
}

/// 1,000 decisions of one rule for one account, in 100 batches over 20 s of the writer's clock: one row that
/// says 1,000 times, from the first to the last, with the latest numbers. Without the grouping: 1,000 rows.
#[test]
fn a_storm_of_one_rule_and_subject_is_one_row_with_its_count() {
    let mut s = Store::in_memory().unwrap();
    let t0 = Instant::now();
    let mut n = 0;
    for b in 0..100u64 {
        let ds = (0..10)
            .map(|_| {
                n += 1;
                decision(1_000 + n, "velocity_account_minute", "205", 10 + n)
            })
            .collect();
        s.write_batch_at(&batch(ds), t0 + Duration::from_millis(200 * b))
            .unwrap();
    }
    // The last repeats wait for their turn; shutdown (or the writer's timer) writes them.
    s.flush_alert_repeats(None).unwrap();
    let rows = all(&s);
    assert_eq!(rows.len(), 1, "{rows:?}");
    let a = &rows[0];
    assert_eq!(a.times, 1_000);
    assert_eq!(a.first_at, 1_001);
    assert_eq!(a.last_at, 2_000);
    assert_eq!(a.decision.measured, 1_010, "the latest numbers");
    assert_eq!(s.alert(a.id).unwrap().as_ref(), Some(a));
    assert_eq!(s.next_alert_flush(), None);
}

/// The first decision of a storm is in the store when its batch is written; the repeats are counted, and
/// written only once `REPEATS_EVERY` has passed since the row was.
#[test]
fn the_first_alert_is_written_at_once_and_repeats_once_per_period() {
    let mut s = Store::in_memory().unwrap();
    let t0 = Instant::now();
    let ds = (0..50)
        .map(|i| decision(5_000 + i, "pumping", "205", i))
        .collect();
    s.write_batch_at(&batch(ds), t0).unwrap();
    let rows = all(&s);
    assert_eq!(rows.len(), 1);
    assert_eq!((rows[0].times, rows[0].first_at), (1, 5_000));
    assert_eq!(s.next_alert_flush(), Some(t0 + REPEATS_EVERY));

    // Not due yet: nothing written.
    let early = t0 + REPEATS_EVERY / 2;
    assert_eq!(s.flush_alert_repeats(Some(early)).unwrap(), 0);
    assert_eq!(all(&s)[0].times, 1);
    // Due: an empty batch (the writer's timer) writes them.
    s.write_batch_at(&Batch::default(), t0 + REPEATS_EVERY)
        .unwrap();
    let rows = all(&s);
    assert_eq!((rows[0].times, rows[0].last_at), (50, 5_049));
}

/// Another account, another rule or another level is another alert, not a repeat.
#[test]
fn a_different_subject_rule_or_level_is_not_merged() {
    let mut s = Store::in_memory().unwrap();
    let mut critical = decision(12, "velocity_account_minute", "205", 3);
    critical.level = Level::Critical;
    let ds = vec![
        decision(10, "velocity_account_minute", "205", 1),
        decision(11, "velocity_account_minute", "206", 2),
        decision(11, "pumping", "205", 2),
        critical,
        decision(13, "velocity_account_minute", "205", 4),
    ];
    s.write_batch_at(&batch(ds), Instant::now()).unwrap();
    s.flush_alert_repeats(None).unwrap();
    let mut rows: Vec<(String, String, u64)> = all(&s)
        .into_iter()
        .map(|a| (a.decision.rule.to_string(), a.decision.key(), a.times))
        .collect();
    rows.sort();
    assert_eq!(
        rows,
        [
            ("pumping".into(), "account acme/205".into(), 1),
            (
                "velocity_account_minute".into(),
                "account acme/205".into(),
                1
            ),
            (
                "velocity_account_minute".into(),
                "account acme/205".into(),
                2
            ),
            (
                "velocity_account_minute".into(),
                "account acme/206".into(),
                1
            ),
        ]
    );
}

/// Repeats after an operator acknowledged the storm's row are a new, unacknowledged alert (a filter on
/// unacknowledged alerts must not hide an attack that goes on); so is a decision after a quiet gap.
#[test]
fn repeats_after_an_ack_or_a_quiet_gap_are_a_new_alert() {
    let mut s = Store::in_memory().unwrap();
    let t0 = Instant::now();
    s.write_batch_at(&batch(vec![decision(100, "pumping", "205", 1)]), t0)
        .unwrap();
    let first = all(&s)[0].id;
    assert!(s.ack_alert(first, Some("acme"), 150, "ops").unwrap());
    let ds = (0..3)
        .map(|i| decision(200 + i, "pumping", "205", 2 + i))
        .collect();
    s.write_batch_at(&batch(ds), t0 + REPEATS_EVERY).unwrap();
    let unacked = s
        .alerts(&AlertFilter {
            unacknowledged_only: true,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(unacked.len(), 1, "{unacked:?}");
    assert_eq!((unacked[0].times, unacked[0].first_at), (3, 200));
    assert_eq!(s.alert(first).unwrap().unwrap().times, 1);

    let later = 202 + STORM_GAP_MS + 1;
    s.write_batch_at(&batch(vec![decision(later, "pumping", "205", 9)]), t0)
        .unwrap();
    let rows = all(&s);
    assert_eq!(rows.len(), 3);
    assert_eq!((rows[0].first_at, rows[0].times), (later, 1));
}

/// Subjects come from outsiders: past `MAX_STORMS` the writer forgets every storm (after writing their
/// repeats), so memory stays bounded; a storm forgotten continues as a new row, and no decision is lost.
#[test]
fn the_storms_followed_are_bounded() {
    let mut s = Store::in_memory().unwrap();
    let t0 = Instant::now();
    s.write_batch_at(&batch(vec![decision(1, "pumping", "0", 1); 3]), t0)
        .unwrap();
    let ds = (1..=store::MAX_STORMS)
        .map(|i| decision(2, "pumping", &i.to_string(), 1))
        .collect();
    s.write_batch_at(&batch(ds), t0).unwrap();
    s.write_batch_at(&batch(vec![decision(3, "pumping", "0", 1)]), t0)
        .unwrap();
    s.flush_alert_repeats(None).unwrap();
    // The first storm's row (id 1) got its repeats when the storms were forgotten; account 0 goes on in a
    // new row, the newest.
    assert_eq!(s.alert(1).unwrap().map(|a| a.times), Some(3));
    let newest = &all(&s)[0];
    assert_eq!(
        (newest.decision.key().as_str(), newest.times),
        ("account acme/0", 1)
    );
    assert!(newest.id > 1);
}

/// Refused calls are not folded: each keeps its row, with its call, so that the admin finds why any one call
/// was refused (a mirror's would-be refusals too).
#[test]
fn refused_calls_keep_a_row_each() {
    let mut s = Store::in_memory().unwrap();
    let ds = (0..5)
        .map(|i| {
            let mut d = decision(10 + i, "pumping", "205", i);
            d.shadow = false;
            d.action = engine::Action::Block { sip_status: 403 };
            d
        })
        .collect();
    s.write_batch_at(&batch(ds), Instant::now()).unwrap();
    s.flush_alert_repeats(None).unwrap();
    let rows = all(&s);
    assert_eq!(rows.len(), 5);
    assert!(rows.iter().all(|a| a.times == 1));
}

/// The writer yields its core every `YIELD_EVERY` alerts of a batch, and every `YIELD_EVERY` storms whose
/// repeats it writes, while the batch stays one transaction: a decision thread on the same core waits for a
/// few alerts' writing, not for the whole batch. Without the pauses none are counted.
#[test]
fn the_writer_pauses_every_few_alerts_of_a_long_batch() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static PAUSES: AtomicUsize = AtomicUsize::new(0);
    let mut s = Store::in_memory().unwrap();
    s.set_pause(|| {
        PAUSES.fetch_add(1, Ordering::Relaxed);
    });
    // 200 accounts, each in a storm of 4 decisions: 800 alerts in one batch.
    let ds = (0..800)
        .map(|i| {
            decision(
                1_000 + i,
                "velocity_account_minute",
                &format!("{}", i % 200),
                i,
            )
        })
        .collect();
    let t0 = Instant::now();
    s.write_batch_at(&batch(ds), t0).unwrap();
    assert_eq!(PAUSES.load(Ordering::Relaxed), 800 / store::YIELD_EVERY);
    assert_eq!(all(&s).len(), 200, "one row per storm");
    // The repeats of the 200 storms, written once REPEATS_EVERY has passed.
    PAUSES.store(0, Ordering::Relaxed);
    s.write_batch_at(&Batch::default(), t0 + REPEATS_EVERY)
        .unwrap();
    assert_eq!(PAUSES.load(Ordering::Relaxed), 200 / store::YIELD_EVERY);
    assert!(all(&s).iter().all(|a| a.times == 4));
}
