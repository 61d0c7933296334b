//! Persistence of what must survive a restart or a `kill -9`: bans, kill switches, alerts, the operator audit
//! log, periodic engine snapshots and the calls in progress. SQLite in WAL mode with `synchronous=FULL`: a
//! write that returned is on disk, so nothing the guard acknowledged to an operator is lost.
//!
//! The store is synchronous and single-connection. The guard writes from one thread and in batches
//! ([`Batch`]: whatever a burst produced, in one transaction and one disk sync); operators write through
//! the API's own connection. Every write to bans and kill switches takes a number of one change sequence,
//! so that a reader follows them ([`Store::ban_changes_since`]) at the cost of what changed, not of what is
//! stored.

#![forbid(unsafe_code)]

use std::net::IpAddr;
use std::path::Path;

use engine::{Ban, BarScope, ClassSet, Decision, KillSwitch, Millis, Snapshot};
use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};

mod alert_groups;
mod audits;
mod dialogs;
mod tokens;
pub use alert_groups::{MAX_STORMS, REPEATS_EVERY, STORM_GAP_MS};
pub use audits::{AuditReport, KEEP_PER_KIND as AUDIT_REPORTS_KEPT};
use serde::{Deserialize, Serialize};

/// Errors of the store, with the operation that failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open the store database {path}: {source}")]
    Open {
        path: String,
        #[source]
        source: rusqlite::Error,
    },
    #[error(
        "the store database {path} has schema version {found}, newer than this tollguard knows ({known}): \
         run the tollguard that wrote it, or point [store] path at another file"
    )]
    NewerSchema {
        path: String,
        found: i64,
        known: i64,
    },
    #[error("store database error while {doing}: {source}")]
    Sql {
        doing: &'static str,
        #[source]
        source: rusqlite::Error,
    },
    #[error("stored {what} could not be decoded (database written by another version?): {source}")]
    Decode {
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },
}

type Result<T> = std::result::Result<T, StoreError>;

fn sql(doing: &'static str) -> impl FnOnce(rusqlite::Error) -> StoreError {
    move |source| StoreError::Sql { doing, source }
}

fn encode<T: Serialize>(what: &'static str, value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(|source| StoreError::Decode { what, source })
}

fn decode<T: serde::de::DeserializeOwned>(what: &'static str, text: &str) -> Result<T> {
    serde_json::from_str(text).map_err(|source| StoreError::Decode { what, source })
}

/// Wall-clock milliseconds since the Unix epoch (when a row was written, for pruning).
pub(crate) fn wall_ms() -> Millis {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// An alert as stored: the engine's decision plus the tenant it belongs to and its acknowledgement. One row
/// stands for a storm of the same rule, subject and level (see [`REPEATS_EVERY`]): `times` decisions from
/// `first_at` to `last_at`, of which `decision` is the latest (its numbers).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredAlert {
    pub id: i64,
    /// Empty for alerts that concern no tenant (a scanner's source address).
    pub tenant: String,
    pub decision: Decision,
    /// How many times the rule fired for this subject in this storm (1 for a lone alert).
    pub times: u64,
    /// Engine time of the first and of the latest decision.
    pub first_at: Millis,
    pub last_at: Millis,
    pub acked_by: Option<String>,
    pub acked_at: Option<Millis>,
}

/// A kill switch as stored: in force, or lifted (by whom, when).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KillSwitchRecord {
    #[serde(flatten)]
    pub switch: KillSwitch,
    pub lifted_at: Option<Millis>,
    pub lifted_by: Option<String>,
}

/// A ban that changed after a given point of the change sequence, as it is now. A ban that ran out is not a
/// change: readers compare `until` with their own clock (the engine's, which tests and demos speed up).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BanChange {
    /// Set or replaced (by the guard or an operator).
    Set(Ban),
    /// Lifted by an operator.
    Lifted(IpAddr),
}

/// A kill switch that changed after a given point of the change sequence, as it is now. The store's history
/// keeps every switch ever set, so one scope and set of classes can appear more than once (lifted, then set
/// again): the change with the larger sequence number comes later in the list and tells how things stand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KillSwitchChange {
    /// Set, or updated while in force.
    Set(KillSwitch),
    /// Lifted (the switch as it was when lifted).
    Lifted(KillSwitch),
}

/// Which alerts to list.
#[derive(Debug, Clone, Default)]
pub struct AlertFilter<'a> {
    /// Only this tenant's alerts (a tenant-scoped token always sets it).
    pub tenant: Option<&'a str>,
    pub rule: Option<&'a str>,
    pub since: Option<Millis>,
    pub unacknowledged_only: bool,
    /// At most this many, newest first (0 = 100).
    pub limit: usize,
}

/// One change made by an operator (or by tollguard itself), for the audit log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub at: Millis,
    /// Token id or "tollguard" for automatic actions.
    pub actor: String,
    pub tenant: String,
    /// "ban.add", "ban.lift", "kill_switch.set", "kill_switch.lift", "alert.ack", "policy.reload"…
    pub action: String,
    pub detail: String,
}

/// The batch writer yields its core every this many alerts ([`Store::write_batch`]). The guard's writer runs
/// on the cores that decide calls; a batch of a few hundred alerts is a millisecond or more of work, and the
/// scheduler lets a running thread finish its slice before a woken one runs: a decision that came meanwhile
/// would wait for the whole batch. Yielding every few alerts bounds that wait to a few microseconds of
/// writing, while the batch stays one transaction (one disk sync). A yield with nothing else to run costs a
/// system call and returns at once.
pub const YIELD_EVERY: usize = 16;

/// What the guard's writer has collected from a burst, written by [`Store::write_batch`] in one transaction:
/// under a spoofed flood that bans thousands of sources a second this is one disk sync per batch instead of
/// one per ban, and the database lock is held briefly (an operator's write does not queue behind thousands
/// of syncs).
#[derive(Debug, Default)]
pub struct Batch {
    /// Upserted by source, in order (a later ban of the same source replaces an earlier one).
    pub bans: Vec<Ban>,
    /// Each as by [`Store::put_kill_switch`].
    pub kill_switches: Vec<KillSwitch>,
    /// Tenant and its decisions.
    pub alerts: Vec<(String, Vec<Decision>)>,
    /// Call id, tenant and the guard's own serialization of the dialog, as by [`Store::save_dialogs`].
    pub dialog_upserts: Vec<(String, String, String)>,
    /// Call ids of dialogs that ended (removed after the upserts).
    pub dialogs_ended: Vec<String>,
    /// Replaces the stored engine snapshot (engine time, snapshot).
    pub snapshot: Option<(Millis, Box<Snapshot>)>,
    /// Engine time: bans that ran out by then are removed, as by [`Store::prune_bans`].
    pub prune_bans_at: Option<Millis>,
    /// Wall time: dialogs not updated since are removed, as by [`Store::prune_dialogs`].
    pub prune_dialogs_before: Option<Millis>,
}

impl Batch {
    pub fn is_empty(&self) -> bool {
        self.bans.is_empty()
            && self.kill_switches.is_empty()
            && self.alerts.is_empty()
            && self.dialog_upserts.is_empty()
            && self.dialogs_ended.is_empty()
            && self.snapshot.is_none()
            && self.prune_bans_at.is_none()
            && self.prune_dialogs_before.is_none()
    }
}

/// The persistent store.
pub struct Store {
    conn: Connection,
    /// Alert storms being written by this connection (the guard's writer; empty elsewhere).
    storms: alert_groups::AlertGroups,
}

impl Drop for Store {
    /// Writes the alert repeats still counted in memory, so that a guard that stops loses none.
    fn drop(&mut self) {
        if let Err(e) = self.flush_alert_repeats(None) {
            tracing::error!(error = %e, "repeats of alerts not recorded at close");
        }
    }
}

/// The tables as the first released version created them. Kept as they were: an old database and a new one
/// both start from here and take the same migrations.
const SCHEMA: &str = "
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
";

/// Migrations, in order: the one at index `i` takes a database from `PRAGMA user_version` `i` to `i + 1`.
/// Databases written before versioning have version 0.
const MIGRATIONS: &[&str] = &[
    // 1: the change sequence of bans and kill switches; bans are lifted by a mark (a lift is a change that
    // readers see) and removed only once they ran out; the calls in progress.
    "
ALTER TABLE bans ADD COLUMN seq INTEGER NOT NULL DEFAULT 0;
ALTER TABLE bans ADD COLUMN lifted INTEGER NOT NULL DEFAULT 0;
ALTER TABLE kill_switches ADD COLUMN seq INTEGER NOT NULL DEFAULT 0;
CREATE TABLE change_seq (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    value INTEGER NOT NULL
);
-- Rows written before the sequence existed are change 1, so that a reader starting from 0 sees them.
UPDATE bans SET seq = 1;
UPDATE kill_switches SET seq = 1;
INSERT INTO change_seq(id, value) VALUES (1, 1);
CREATE INDEX bans_seq ON bans(seq);
CREATE INDEX bans_until ON bans(until);
CREATE INDEX kill_switches_seq ON kill_switches(seq);
CREATE TABLE dialogs (
    call_id TEXT PRIMARY KEY,
    tenant TEXT NOT NULL,
    updated_at INTEGER NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX dialogs_updated_at ON dialogs(updated_at);
",
    // 2: reports of `tollguard audit`, the last few per tenant and kind (the report never holds a password).
    "
CREATE TABLE audit_reports (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant TEXT NOT NULL,
    kind TEXT NOT NULL,
    started_at INTEGER NOT NULL,
    finished_at INTEGER NOT NULL,
    critical INTEGER NOT NULL,
    warning INTEGER NOT NULL,
    info INTEGER NOT NULL,
    report TEXT NOT NULL
);
CREATE INDEX audit_reports_tenant_kind ON audit_reports(tenant, kind, id);
",
    // 3: one row per alert storm (rule, subject, level): how many times it fired and when last; `at` stays
    // the first time. Listings go by the latest time, so a storm still going on stays on top.
    "
ALTER TABLE alerts ADD COLUMN repeats INTEGER NOT NULL DEFAULT 1;
ALTER TABLE alerts ADD COLUMN last_at INTEGER NOT NULL DEFAULT 0;
UPDATE alerts SET last_at = at;
CREATE INDEX alerts_tenant_last_at ON alerts(tenant, last_at);
",
];

/// The schema version this build writes.
const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

const BAN_CHANGES: &str = "SELECT seq, lifted, body FROM bans WHERE seq > ?1 ORDER BY seq";
const KILL_SWITCH_CHANGES: &str =
    "SELECT seq, id, body, lifted_at FROM kill_switches WHERE seq > ?1 ORDER BY seq, id";

/// Takes the next number of the change sequence. Called inside an IMMEDIATE transaction: the number is taken
/// under the write lock and committed with the rows that carry it, so numbers become visible in order and a
/// reader that has seen number n will never later find a change numbered n or less. A transaction takes one
/// number for all its changes (they become visible together).
fn next_seq(conn: &Connection) -> Result<i64> {
    conn.query_row(
        "UPDATE change_seq SET value = value + 1 WHERE id = 1 RETURNING value",
        [],
        |r| r.get(0),
    )
    .map_err(sql("numbering a change"))
}

fn seq_param(since: u64) -> i64 {
    i64::try_from(since).unwrap_or(i64::MAX)
}

fn put_bans_in(conn: &Connection, seq: i64, bans: &[Ban]) -> Result<()> {
    let mut stmt = conn
        .prepare_cached(
            "INSERT INTO bans(source, since, until, body, seq, lifted) VALUES (?1, ?2, ?3, ?4, ?5, 0)
             ON CONFLICT(source) DO UPDATE SET since = excluded.since, until = excluded.until,
                 body = excluded.body, seq = excluded.seq, lifted = 0",
        )
        .map_err(sql("saving bans"))?;
    for ban in bans {
        stmt.execute(params![
            ban.source.to_string(),
            ban.since,
            ban.until,
            encode("ban", ban)?,
            seq
        ])
        .map_err(sql("saving a ban"))?;
    }
    Ok(())
}

fn kill_switch_history_in(
    conn: &Connection,
    active_only: bool,
    limit: usize,
) -> Result<Vec<KillSwitchRecord>> {
    let q = if active_only {
        "SELECT id, body, lifted_at, lifted_by FROM kill_switches WHERE lifted_at IS NULL ORDER BY id LIMIT ?1"
    } else {
        "SELECT id, body, lifted_at, lifted_by FROM kill_switches ORDER BY id DESC LIMIT ?1"
    };
    let mut stmt = conn
        .prepare_cached(q)
        .map_err(sql("listing kill switches"))?;
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = stmt
        .query_map(params![limit], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, Option<i64>>(2)?,
                r.get::<_, Option<String>>(3)?,
            ))
        })
        .map_err(sql("listing kill switches"))?;
    let mut out = Vec::new();
    for row in rows {
        let (id, body, lifted_at, lifted_by) = row.map_err(sql("reading a kill switch"))?;
        let mut switch: KillSwitch = decode("kill switch", &body)?;
        switch.id = u64::try_from(id).unwrap_or(0);
        out.push(KillSwitchRecord {
            switch,
            lifted_at,
            lifted_by,
        });
    }
    Ok(out)
}

fn active_kill_switches_in(conn: &Connection) -> Result<Vec<KillSwitch>> {
    Ok(kill_switch_history_in(conn, true, 10_000)?
        .into_iter()
        .map(|h| h.switch)
        .collect())
}

fn put_kill_switch_in(conn: &Connection, seq: i64, ks: &KillSwitch) -> Result<i64> {
    let existing = active_kill_switches_in(conn)?
        .into_iter()
        .find(|k| k.scope == ks.scope && k.classes == ks.classes);
    if let Some(old) = existing {
        // Keep the first `since`: the switch has been in force from then.
        let mut k = ks.clone();
        k.id = old.id;
        k.since = old.since.min(ks.since);
        let id = i64::try_from(k.id).unwrap_or(i64::MAX);
        conn.execute(
            "UPDATE kill_switches SET since = ?2, body = ?3, seq = ?4 WHERE id = ?1",
            params![id, k.since, encode("kill switch", &k)?, seq],
        )
        .map_err(sql("updating a kill switch"))?;
        return Ok(id);
    }
    conn.execute(
        "INSERT INTO kill_switches(since, body, seq) VALUES (?1, ?2, ?3)",
        params![ks.since, encode("kill switch", ks)?, seq],
    )
    .map_err(sql("saving a kill switch"))?;
    let id = conn.last_insert_rowid();
    let mut k = ks.clone();
    k.id = u64::try_from(id).unwrap_or(0);
    conn.execute(
        "UPDATE kill_switches SET body = ?2 WHERE id = ?1",
        params![id, encode("kill switch", &k)?],
    )
    .map_err(sql("saving a kill switch"))?;
    Ok(id)
}

fn lift_kill_switch_in(conn: &Connection, seq: i64, id: u64, at: Millis, by: &str) -> Result<bool> {
    let id = i64::try_from(id).unwrap_or(i64::MAX);
    let n = conn
        .execute(
            "UPDATE kill_switches SET lifted_at = ?2, lifted_by = ?3, seq = ?4 WHERE id = ?1 AND lifted_at IS NULL",
            params![id, at, by, seq],
        )
        .map_err(sql("lifting a kill switch"))?;
    Ok(n > 0)
}

fn insert_alerts_in(conn: &Connection, batches: &[(&str, &[Decision])]) -> Result<Vec<Vec<i64>>> {
    let mut out = Vec::with_capacity(batches.len());
    for (tenant, decisions) in batches {
        let mut ids = Vec::with_capacity(decisions.len());
        for d in *decisions {
            ids.push(alert_groups::insert_row(conn, tenant, d, d.at, 1)?);
        }
        out.push(ids);
    }
    Ok(out)
}

/// An alert row as read: id, tenant, acked_by, acked_at, body, repeats, at (first), last_at.
pub(crate) type AlertRow = (
    i64,
    String,
    Option<String>,
    Option<i64>,
    String,
    i64,
    i64,
    i64,
);

/// The columns of [`AlertRow`], for SELECTs.
pub(crate) const ALERT_COLUMNS: &str = "id, tenant, acked_by, acked_at, body, repeats, at, last_at";

pub(crate) fn alert_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<AlertRow> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
        r.get(7)?,
    ))
}

pub(crate) fn stored_alert(row: AlertRow) -> Result<StoredAlert> {
    let (id, tenant, acked_by, acked_at, body, repeats, first_at, last_at) = row;
    Ok(StoredAlert {
        id,
        tenant,
        decision: decode("alert", &body)?,
        times: u64::try_from(repeats).unwrap_or(1).max(1),
        first_at,
        last_at: last_at.max(first_at),
        acked_by,
        acked_at,
    })
}

fn save_snapshot_in(conn: &Connection, at: Millis, snap: &Snapshot) -> Result<()> {
    let body = serde_json::to_vec(snap).map_err(|source| StoreError::Decode {
        what: "snapshot",
        source,
    })?;
    conn.execute(
        "INSERT INTO snapshots(id, at, body) VALUES (1, ?1, ?2)
         ON CONFLICT(id) DO UPDATE SET at = excluded.at, body = excluded.body",
        params![at, body],
    )
    .map_err(sql("saving the engine snapshot"))?;
    Ok(())
}

fn prune_bans_in(conn: &Connection, now: Millis) -> Result<usize> {
    conn.execute("DELETE FROM bans WHERE until <= ?1", params![now])
        .map_err(sql("removing bans that ran out"))
}

/// Creates the tables and brings an older database to this version, in one IMMEDIATE transaction: of several
/// processes opening the same file at once (the guard, the API, `tollguard` commands), one migrates and the
/// others wait for it, then find the version current.
fn migrate(conn: &Connection, path: &str) -> Result<()> {
    let tx = Transaction::new_unchecked(conn, TransactionBehavior::Immediate)
        .map_err(sql("starting the schema transaction"))?;
    tx.execute_batch(SCHEMA)
        .map_err(sql("creating the schema"))?;
    tx.execute_batch(tokens::SCHEMA)
        .map_err(sql("creating the token tables"))?;
    let found: i64 = tx
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(sql("reading the schema version"))?;
    if found > SCHEMA_VERSION {
        return Err(StoreError::NewerSchema {
            path: path.to_owned(),
            found,
            known: SCHEMA_VERSION,
        });
    }
    let from = usize::try_from(found).unwrap_or(0);
    for m in MIGRATIONS.iter().skip(from) {
        tx.execute_batch(m).map_err(sql("migrating the schema"))?;
    }
    if found != SCHEMA_VERSION {
        tx.pragma_update(None, "user_version", SCHEMA_VERSION)
            .map_err(sql("recording the schema version"))?;
        tracing::info!(
            path,
            from = found,
            to = SCHEMA_VERSION,
            "store schema migrated"
        );
    }
    tx.commit().map_err(sql("committing the schema"))
}

impl Store {
    /// Opens (creating if needed) the database file, migrating an older schema.
    pub fn open(path: &Path) -> Result<Store> {
        let name = path.display().to_string();
        let conn = Connection::open(path).map_err(|source| StoreError::Open {
            path: name.clone(),
            source,
        })?;
        Self::init(conn, &name)
    }

    /// A store that lives in memory only (tests, `analyze`).
    pub fn in_memory() -> Result<Store> {
        let conn = Connection::open_in_memory().map_err(|source| StoreError::Open {
            path: ":memory:".into(),
            source,
        })?;
        Self::init(conn, ":memory:")
    }

    fn init(mut conn: Connection, path: &str) -> Result<Store> {
        // WAL: readers never block the writer; FULL: a commit survives power loss, not only kill -9.
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(sql("enabling WAL"))?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(sql("setting synchronous=FULL"))?;
        // Several connections write (the guard's writer, the API): a writer that finds the database locked
        // retries every millisecond for up to 5 s. SQLite's own busy timeout backs off to 100 ms sleeps, which
        // would put an operator's kill switch behind a burst of alerts for a tenth of a second or more.
        conn.busy_handler(Some(|attempt: i32| {
            std::thread::sleep(std::time::Duration::from_millis(1));
            attempt < 5_000
        }))
        .map_err(sql("setting the busy handler"))?;
        migrate(&conn, path)?;
        Ok(Store {
            conn,
            storms: Default::default(),
        })
    }

    /// A write transaction that holds the write lock from its start (waiting in the busy handler): a
    /// transaction that reads first and writes later would fail at once with SQLITE_BUSY when another writer
    /// committed in between, and the change sequence must be taken under the lock.
    fn write_tx(&self) -> Result<Transaction<'_>> {
        Transaction::new_unchecked(&self.conn, TransactionBehavior::Immediate)
            .map_err(sql("starting a transaction"))
    }

    /// Writes everything the batch holds in one transaction (nothing of it if any part fails). Alerts are
    /// written as storms (see [`REPEATS_EVERY`]): the first of a rule and subject at once, its repeats as
    /// one update per [`REPEATS_EVERY`], here or by [`Store::flush_alert_repeats`]. Yields the core every
    /// [`YIELD_EVERY`] alerts.
    pub fn write_batch(&mut self, b: &Batch) -> Result<()> {
        self.write_batch_at(b, std::time::Instant::now())
    }

    /// [`Store::write_batch`] at a given time of the writer's clock (tests move it on instead of waiting).
    pub fn write_batch_at(&mut self, b: &Batch, now: std::time::Instant) -> Result<()> {
        if b.is_empty() {
            return self.flush_alert_repeats(Some(now)).map(|_| ());
        }
        let written = self.write_batch_in(b, now);
        if written.is_err() {
            // The rows the storms remember may have been rolled back: their next decisions start anew.
            self.storms.clear();
        }
        written
    }

    /// Writes the repeats of alert storms that are due at `now` (all of them when None, e.g. at shutdown).
    /// Returns how many storms' rows were updated.
    pub fn flush_alert_repeats(&mut self, now: Option<std::time::Instant>) -> Result<usize> {
        if self.storms.next_due().is_none() {
            return Ok(0);
        }
        let written = Transaction::new_unchecked(&self.conn, TransactionBehavior::Immediate)
            .map_err(sql("starting a transaction"))
            .and_then(|tx| {
                let n = self.storms.flush(&tx, now)?;
                tx.commit().map_err(sql("committing repeated alerts"))?;
                Ok(n)
            });
        if written.is_err() {
            // Not retried: the storms' next decisions start new rows.
            self.storms.clear();
        }
        written
    }

    /// Replaces what the batch writer does every [`YIELD_EVERY`] alerts (yield the core): tests count.
    pub fn set_pause(&mut self, pause: fn()) {
        self.storms.pause.yield_now = pause;
    }

    /// Frees the alerts of a written batch, yielding every [`YIELD_EVERY`] decisions as the writer does:
    /// freeing hundreds of decisions, allocated on the threads that decide, is as much work as writing them,
    /// and a decision that came meanwhile would wait for all of it.
    pub fn release(&mut self, alerts: Vec<(String, Vec<Decision>)>) {
        for (_, decisions) in alerts {
            let n = decisions.len();
            drop(decisions);
            self.storms.pause.tick(n);
        }
    }

    /// When the repeats of an alert storm are next due to be written (None: none waits).
    pub fn next_alert_flush(&self) -> Option<std::time::Instant> {
        self.storms.next_due()
    }

    fn write_batch_in(&mut self, b: &Batch, now: std::time::Instant) -> Result<()> {
        // Not `write_tx`: the transaction borrows the connection only, the storms are written through it.
        let tx = Transaction::new_unchecked(&self.conn, TransactionBehavior::Immediate)
            .map_err(sql("starting a transaction"))?;
        if !b.bans.is_empty() || !b.kill_switches.is_empty() {
            let seq = next_seq(&tx)?;
            for ks in &b.kill_switches {
                put_kill_switch_in(&tx, seq, ks)?;
            }
            put_bans_in(&tx, seq, &b.bans)?;
        }
        self.storms.write(&tx, &b.alerts, now)?;
        self.storms.flush(&tx, Some(now))?;
        dialogs::save_in(&tx, wall_ms(), &b.dialog_upserts, &b.dialogs_ended)?;
        if let Some((at, snap)) = &b.snapshot {
            save_snapshot_in(&tx, *at, snap)?;
        }
        if let Some(now) = b.prune_bans_at {
            prune_bans_in(&tx, now)?;
        }
        if let Some(before) = b.prune_dialogs_before {
            dialogs::prune_in(&tx, before)?;
        }
        tx.commit().map_err(sql("committing a batch"))
    }

    // ---- bans -------------------------------------------------------------------------------------------

    /// Records a ban (replacing an earlier ban of the same source).
    pub fn put_ban(&self, ban: &Ban) -> Result<()> {
        let tx = self.write_tx()?;
        let seq = next_seq(&tx)?;
        put_bans_in(&tx, seq, std::slice::from_ref(ban))?;
        tx.commit().map_err(sql("committing a ban"))
    }

    /// Records bans in one transaction, each replacing an earlier ban of the same source (a later one in
    /// `bans` replaces an earlier one).
    pub fn put_bans(&mut self, bans: &[Ban]) -> Result<()> {
        if bans.is_empty() {
            return Ok(());
        }
        let tx = self.write_tx()?;
        let seq = next_seq(&tx)?;
        put_bans_in(&tx, seq, bans)?;
        tx.commit().map_err(sql("committing bans"))
    }

    /// Lifts a ban. Returns whether one was in force (or ran out but is not removed yet). The row stays,
    /// marked lifted, until the ban would have run out, so that readers following the changes see the lift.
    pub fn lift_ban(&self, source: IpAddr) -> Result<bool> {
        let tx = self.write_tx()?;
        let seq = next_seq(&tx)?;
        let n = tx
            .execute(
                "UPDATE bans SET lifted = 1, seq = ?2 WHERE source = ?1 AND lifted = 0",
                params![source.to_string(), seq],
            )
            .map_err(sql("lifting a ban"))?;
        if n == 0 {
            // Nothing changed: roll back rather than spend a number and a disk sync.
            return Ok(false);
        }
        tx.commit().map_err(sql("committing a lifted ban"))?;
        Ok(true)
    }

    /// Removes the bans (lifted or not) that ran out by `now` (engine time). Returns how many. Not a change
    /// that readers are told of: they see `until` pass by themselves.
    pub fn prune_bans(&self, now: Millis) -> Result<usize> {
        prune_bans_in(&self.conn, now)
    }

    /// Bans still running at `now` and not lifted (those that ran out are removed).
    pub fn active_bans(&self, now: Millis) -> Result<Vec<Ban>> {
        self.prune_bans(now)?;
        let mut stmt = self
            .conn
            .prepare_cached("SELECT body FROM bans WHERE lifted = 0 ORDER BY source")
            .map_err(sql("listing bans"))?;
        let rows = stmt
            .query_map([], |r| r.get::<_, String>(0))
            .map_err(sql("listing bans"))?;
        let mut out = Vec::new();
        for body in rows {
            let body = body.map_err(sql("reading a ban"))?;
            out.push(decode("ban", &body)?);
        }
        Ok(out)
    }

    /// Bans set or lifted after change `since` of the change sequence, in the order they were made, and the
    /// number of the last change read (`since` when there was none): pass it as `since` next time. Reads only
    /// the changed rows (an index on the sequence number), however many bans are stored. Start from 0 to
    /// read every ban stored.
    pub fn ban_changes_since(&self, since: u64) -> Result<(Vec<BanChange>, u64)> {
        let mut stmt = self
            .conn
            .prepare_cached(BAN_CHANGES)
            .map_err(sql("reading ban changes"))?;
        let rows = stmt
            .query_map(params![seq_param(since)], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, bool>(1)?,
                    r.get::<_, String>(2)?,
                ))
            })
            .map_err(sql("reading ban changes"))?;
        let mut out = Vec::new();
        let mut last = since;
        for row in rows {
            let (seq, lifted, body) = row.map_err(sql("reading a ban change"))?;
            let ban: Ban = decode("ban", &body)?;
            last = last.max(u64::try_from(seq).unwrap_or(0));
            out.push(if lifted {
                BanChange::Lifted(ban.source)
            } else {
                BanChange::Set(ban)
            });
        }
        Ok((out, last))
    }

    // ---- kill switches ----------------------------------------------------------------------------------

    /// Records a kill switch in force and returns the store's id for it. A switch of the same scope and
    /// classes that is already in force is updated rather than duplicated, so that the guard persisting what
    /// the engine decided and an operator setting the same switch through the API leave one row. The ids are
    /// the store's own (the engine numbers its switches per process; they restart at 1 after a restart).
    pub fn put_kill_switch(&self, ks: &KillSwitch) -> Result<i64> {
        // One transaction: one disk sync, and no other writer between the lookup and the write.
        let tx = self.write_tx()?;
        let seq = next_seq(&tx)?;
        let id = put_kill_switch_in(&tx, seq, ks)?;
        tx.commit().map_err(sql("committing a kill switch"))?;
        Ok(id)
    }

    /// Marks a kill switch lifted (kept for history). Returns whether it was in force.
    pub fn lift_kill_switch(&self, id: u64, at: Millis, by: &str) -> Result<bool> {
        let tx = self.write_tx()?;
        let seq = next_seq(&tx)?;
        if !lift_kill_switch_in(&tx, seq, id, at, by)? {
            return Ok(false);
        }
        tx.commit()
            .map_err(sql("committing a lifted kill switch"))?;
        Ok(true)
    }

    /// Lifts the switches in force on this scope (all of them, or only those barring exactly `classes`).
    /// Returns how many were lifted.
    pub fn lift_kill_switches(
        &self,
        scope: &BarScope,
        classes: Option<ClassSet>,
        at: Millis,
        by: &str,
    ) -> Result<usize> {
        let tx = self.write_tx()?;
        let seq = next_seq(&tx)?;
        let mut n = 0;
        for k in active_kill_switches_in(&tx)? {
            if &k.scope == scope
                && classes.is_none_or(|c| c == k.classes)
                && lift_kill_switch_in(&tx, seq, k.id, at, by)?
            {
                n += 1;
            }
        }
        if n > 0 {
            tx.commit()
                .map_err(sql("committing lifted kill switches"))?;
        }
        Ok(n)
    }

    /// Kill switches in force, oldest first, with the store's ids.
    pub fn active_kill_switches(&self) -> Result<Vec<KillSwitch>> {
        active_kill_switches_in(&self.conn)
    }

    /// Kill switches, newest first when `active_only` is false (history with who lifted them and when),
    /// oldest first when true.
    pub fn kill_switch_history(
        &self,
        active_only: bool,
        limit: usize,
    ) -> Result<Vec<KillSwitchRecord>> {
        kill_switch_history_in(&self.conn, active_only, limit)
    }

    /// Kill switches set, updated or lifted after change `since`, in the order they were made, and the number
    /// of the last change read (pass it as `since` next time); see [`Store::ban_changes_since`].
    pub fn kill_switch_changes_since(&self, since: u64) -> Result<(Vec<KillSwitchChange>, u64)> {
        let mut stmt = self
            .conn
            .prepare_cached(KILL_SWITCH_CHANGES)
            .map_err(sql("reading kill switch changes"))?;
        let rows = stmt
            .query_map(params![seq_param(since)], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, Option<i64>>(3)?,
                ))
            })
            .map_err(sql("reading kill switch changes"))?;
        let mut out = Vec::new();
        let mut last = since;
        for row in rows {
            let (seq, id, body, lifted_at) = row.map_err(sql("reading a kill switch change"))?;
            let mut switch: KillSwitch = decode("kill switch", &body)?;
            switch.id = u64::try_from(id).unwrap_or(0);
            last = last.max(u64::try_from(seq).unwrap_or(0));
            out.push(match lifted_at {
                None => KillSwitchChange::Set(switch),
                Some(_) => KillSwitchChange::Lifted(switch),
            });
        }
        Ok((out, last))
    }

    // ---- alerts -----------------------------------------------------------------------------------------

    /// Stores alerts in one transaction; returns their ids in order.
    pub fn insert_alerts(&mut self, tenant: &str, decisions: &[Decision]) -> Result<Vec<i64>> {
        let mut ids = self.insert_alert_batches(&[(tenant, decisions)])?;
        Ok(ids.pop().unwrap_or_default())
    }

    /// Stores several tenants' alerts in one transaction (one disk sync for a burst); returns the ids per
    /// batch, in order.
    pub fn insert_alert_batches(
        &mut self,
        batches: &[(&str, &[Decision])],
    ) -> Result<Vec<Vec<i64>>> {
        let tx = self.write_tx()?;
        let out = insert_alerts_in(&tx, batches)?;
        tx.commit().map_err(sql("committing alerts"))?;
        Ok(out)
    }

    /// Alerts matching the filter, the latest activity first (a storm still going on stays on top); `since`
    /// keeps the alerts that fired at or after it (a storm that began before and went on after is kept).
    pub fn alerts(&self, f: &AlertFilter<'_>) -> Result<Vec<StoredAlert>> {
        let limit = if f.limit == 0 {
            100
        } else {
            f.limit.min(10_000)
        } as i64;
        let mut stmt = self
            .conn
            .prepare_cached(&format!(
                "SELECT {ALERT_COLUMNS} FROM alerts
                 WHERE (?1 IS NULL OR tenant = ?1) AND (?2 IS NULL OR rule = ?2) AND (?3 IS NULL OR last_at >= ?3)
                   AND (?4 = 0 OR acked_at IS NULL)
                 ORDER BY last_at DESC, id DESC LIMIT ?5"
            ))
            .map_err(sql("listing alerts"))?;
        let rows = stmt
            .query_map(
                params![
                    f.tenant,
                    f.rule,
                    f.since,
                    f.unacknowledged_only as i64,
                    limit
                ],
                alert_row,
            )
            .map_err(sql("listing alerts"))?;
        let mut out = Vec::new();
        for row in rows {
            out.push(stored_alert(row.map_err(sql("reading an alert"))?)?);
        }
        Ok(out)
    }

    /// Acknowledges an alert. With `tenant` set, only that tenant's alert can be acknowledged (so a token of
    /// tenant A cannot touch B's alerts even by guessing ids). Returns whether an alert was acknowledged.
    pub fn ack_alert(&self, id: i64, tenant: Option<&str>, at: Millis, by: &str) -> Result<bool> {
        let n = self
            .conn
            .execute(
                "UPDATE alerts SET acked_by = ?3, acked_at = ?4
                 WHERE id = ?1 AND (?2 IS NULL OR tenant = ?2) AND acked_at IS NULL",
                params![id, tenant, by, at],
            )
            .map_err(sql("acknowledging an alert"))?;
        Ok(n > 0)
    }

    // ---- audit log --------------------------------------------------------------------------------------

    /// Appends to the audit log.
    pub fn audit(&self, e: &AuditEntry) -> Result<()> {
        self.conn
            .execute(
                "INSERT INTO audit(at, actor, tenant, action, detail) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![e.at, e.actor, e.tenant, e.action, e.detail],
            )
            .map_err(sql("writing the audit log"))?;
        Ok(())
    }

    /// The newest audit entries (of one tenant when given), newest first.
    pub fn audit_log(&self, tenant: Option<&str>, limit: usize) -> Result<Vec<AuditEntry>> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT at, actor, tenant, action, detail FROM audit WHERE (?1 IS NULL OR tenant = ?1)
                 ORDER BY id DESC LIMIT ?2",
            )
            .map_err(sql("reading the audit log"))?;
        let rows = stmt
            .query_map(params![tenant, limit.min(10_000) as i64], |r| {
                Ok(AuditEntry {
                    at: r.get(0)?,
                    actor: r.get(1)?,
                    tenant: r.get(2)?,
                    action: r.get(3)?,
                    detail: r.get(4)?,
                })
            })
            .map_err(sql("reading the audit log"))?;
        rows.collect::<std::result::Result<_, _>>()
            .map_err(sql("reading the audit log"))
    }

    // ---- engine snapshots -------------------------------------------------------------------------------

    /// Replaces the stored engine snapshot.
    pub fn save_snapshot(&self, at: Millis, snap: &Snapshot) -> Result<()> {
        save_snapshot_in(&self.conn, at, snap)
    }

    /// The latest engine snapshot and when it was taken.
    pub fn latest_snapshot(&self) -> Result<Option<(Millis, Snapshot)>> {
        let row: Option<(i64, Vec<u8>)> = self
            .conn
            .query_row("SELECT at, body FROM snapshots WHERE id = 1", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()
            .map_err(sql("reading the engine snapshot"))?;
        match row {
            None => Ok(None),
            Some((at, body)) => {
                let snap = serde_json::from_slice(&body).map_err(|source| StoreError::Decode {
                    what: "snapshot",
                    source,
                })?;
                Ok(Some((at, snap)))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The change queries search the sequence index: what they cost follows the number of changes, not the
    /// number of rows stored (a full scan would show as `SCAN bans`).
    #[test]
    fn change_queries_search_the_sequence_index() {
        let s = Store::in_memory().unwrap();
        for (query, index) in [
            (BAN_CHANGES, "bans_seq"),
            (KILL_SWITCH_CHANGES, "kill_switches_seq"),
        ] {
            let mut stmt = s
                .conn
                .prepare(&format!("EXPLAIN QUERY PLAN {query}"))
                .unwrap();
            let plan: Vec<String> = stmt
                .query_map(params![0], |r| r.get::<_, String>(3))
                .unwrap()
                .collect::<std::result::Result<_, _>>()
                .unwrap();
            assert!(
                plan.iter()
                    .any(|p| p.starts_with("SEARCH") && p.contains(&format!("INDEX {index}"))),
                "{query}: {plan:?}"
            );
            assert!(
                !plan.iter().any(|p| p.contains("TEMP B-TREE")),
                "{query} sorts in a temporary tree: {plan:?}"
            );
        }
    }
}
