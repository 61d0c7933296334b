//! A database written before the change sequence and the dialogs table existed opens, keeps what it held,
//! and works like a new one; a database of a newer schema is refused with a clear error.

use std::net::IpAddr;

use engine::{Ban, BarScope, ClassSet, KillSwitch};
use store::{BanChange, KillSwitchChange, Store, StoreError};

/// The schema as the first released store created it (no `user_version`, no change sequence, bans deleted
/// when lifted), verbatim.
const OLD_SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS bans (
    source TEXT PRIMARY KEY,
    since INTEGER NOT NULL,
    until INTEGER NOT NULL,
    body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS kill_switches (
    id INTEGER PRIMARY KEY,
    since INTEGER NOT NULL,
    lifted_at INTEGER,
    lifted_by TEXT,
    body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS alerts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at INTEGER NOT NULL,
    tenant TEXT NOT NULL,
    rule TEXT NOT NULL,
    acked_by TEXT,
    acked_at INTEGER,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS alerts_tenant_at ON alerts(tenant, at);
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at INTEGER NOT NULL,
    actor TEXT NOT NULL,
    tenant TEXT NOT NULL,
    action TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS snapshots (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    at INTEGER NOT NULL,
    body BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS api_tokens (
    id TEXT PRIMARY KEY,
    hash TEXT NOT NULL,
    role TEXT NOT NULL,
    tenants TEXT,
    label TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    created_by TEXT NOT NULL,
    revoked_at INTEGER,
    revoked_by TEXT
);
";

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

fn acme_switch() -> KillSwitch {
    KillSwitch {
        id: 1,
        scope: BarScope::Tenant {
            tenant: "acme".into(),
        },
        classes: ClassSet::INTERNATIONAL,
        since: 2_000,
        by: "token:ops1".into(),
        why: "weekend".into(),
    }
}

/// Writes a database the way the old store did, with one ban and one kill switch in force.
fn old_database(path: &std::path::Path) {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.pragma_update(None, "journal_mode", "WAL").unwrap();
    conn.execute_batch(OLD_SCHEMA).unwrap();
    let b = ban("203.0.113.9", 10_000);
    conn.execute(
        "INSERT INTO bans(source, since, until, body) VALUES (?1, ?2, ?3, ?4)",
        rusqlite::params![
            b.source.to_string(),
            b.since,
            b.until,
            serde_json::to_string(&b).unwrap()
        ],
    )
    .unwrap();
    conn.execute(
        "INSERT INTO kill_switches(id, since, body) VALUES (1, 2000, ?1)",
        [serde_json::to_string(&acme_switch()).unwrap()],
    )
    .unwrap();
}

fn user_version(path: &std::path::Path) -> i64 {
    rusqlite::Connection::open(path)
        .unwrap()
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap()
}

#[test]
fn an_old_database_migrates_and_keeps_its_bans_and_switches() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tollguard.db");
    old_database(&path);
    assert_eq!(user_version(&path), 0);

    let mut s = Store::open(&path).unwrap();
    assert_eq!(user_version(&path), 3);
    assert_eq!(s.active_bans(0).unwrap(), vec![ban("203.0.113.9", 10_000)]);
    assert_eq!(s.active_kill_switches().unwrap(), vec![acme_switch()]);
    // A reader starting from 0 sees what was there before the change sequence.
    let (bans, seen) = s.ban_changes_since(0).unwrap();
    assert_eq!(bans, vec![BanChange::Set(ban("203.0.113.9", 10_000))]);
    let (switches, _) = s.kill_switch_changes_since(0).unwrap();
    assert_eq!(switches, vec![KillSwitchChange::Set(acme_switch())]);

    // The old rows take part in the new scheme: lifted as a change, updated in place, dialogs kept.
    assert!(s.lift_ban("203.0.113.9".parse().unwrap()).unwrap());
    let (bans, _) = s.ban_changes_since(seen).unwrap();
    assert_eq!(
        bans,
        vec![BanChange::Lifted("203.0.113.9".parse().unwrap())]
    );
    assert_eq!(s.put_kill_switch(&acme_switch()).unwrap(), 1);
    s.save_dialogs(&[("c-1".into(), "acme".into(), "{}".into())], &[])
        .unwrap();
    // Migration 2: audit reports.
    let r = store::AuditReport {
        id: 0,
        tenant: "acme".into(),
        kind: "config".into(),
        started_at: 1,
        finished_at: 2,
        critical: 1,
        warning: 0,
        info: 0,
        report: "{}".into(),
    };
    s.record_audit(&r).unwrap();
    drop(s);

    // Opened again: nothing to migrate, nothing lost.
    let s = Store::open(&path).unwrap();
    assert_eq!(user_version(&path), 3);
    assert!(s.active_bans(0).unwrap().is_empty());
    assert_eq!(s.active_kill_switches().unwrap().len(), 1);
    assert_eq!(s.load_dialogs().unwrap().len(), 1);
    assert_eq!(s.audit_reports(Some("acme"), 10).unwrap().len(), 1);
}

#[test]
fn a_database_of_a_newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tollguard.db");
    drop(Store::open(&path).unwrap());
    rusqlite::Connection::open(&path)
        .unwrap()
        .pragma_update(None, "user_version", 99)
        .unwrap();
    let err = Store::open(&path).err().expect("a newer schema is refused");
    assert!(
        matches!(err, StoreError::NewerSchema { found: 99, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("tollguard.db"), "{err}");
}

/// Several processes open the same new file at once (the guard's two connections, the API): one creates and
/// migrates, the others wait for it and find the schema current.
#[test]
fn connections_opening_a_new_file_at_once_all_succeed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tollguard.db");
    let openers: Vec<_> = (0..6)
        .map(|_| {
            let path = path.clone();
            std::thread::spawn(move || {
                let s = Store::open(&path).unwrap();
                s.put_ban(&ban("192.0.2.1", 5_000)).unwrap();
            })
        })
        .collect();
    for o in openers {
        o.join().unwrap();
    }
    assert_eq!(user_version(&path), 3);
    assert_eq!(Store::open(&path).unwrap().active_bans(0).unwrap().len(), 1);
}
