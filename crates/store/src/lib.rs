//! Persistence of what must survive a restart or a `kill -9`: bans, kill switches, alerts, the operator audit
//! log and periodic engine snapshots. SQLite in WAL mode with `synchronous=FULL`: a write that returned is on
//! disk, so nothing the guard acknowledged to an operator is lost.
//!
//! The store is deliberately synchronous and single-connection: writes are rare (bans, switches, alerts are
//! events of minutes, not of packets) and the guard calls it from a blocking task.

use std::net::IpAddr;
use std::path::Path;

use engine::{Ban, BarScope, ClassSet, Decision, KillSwitch, Millis, Snapshot};
use rusqlite::{Connection, OptionalExtension, params};

mod tokens;
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

/// An alert as stored: the engine's decision plus the tenant it belongs to and its acknowledgement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredAlert {
    pub id: i64,
    /// Empty for alerts that concern no tenant (a scanner's source address).
    pub tenant: String,
    pub decision: Decision,
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

/// The persistent store.
pub struct Store {
    conn: Connection,
}

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

impl Store {
    /// Opens (creating if needed) the database file.
    pub fn open(path: &Path) -> Result<Store> {
        let conn = Connection::open(path).map_err(|source| StoreError::Open {
            path: path.display().to_string(),
            source,
        })?;
        Self::init(conn)
    }

    /// A store that lives in memory only (tests, `analyze`).
    pub fn in_memory() -> Result<Store> {
        let conn = Connection::open_in_memory().map_err(|source| StoreError::Open {
            path: ":memory:".into(),
            source,
        })?;
        Self::init(conn)
    }

    fn init(mut conn: Connection) -> Result<Store> {
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
        conn.execute_batch(SCHEMA)
            .map_err(sql("creating the schema"))?;
        conn.execute_batch(tokens::SCHEMA)
            .map_err(sql("creating the token tables"))?;
        Ok(Store { conn })
    }

    // ---- bans -------------------------------------------------------------------------------------------

    /// Records a ban (replacing an earlier ban of the same source).
    pub fn put_ban(&self, ban: &Ban) -> Result<()> {
        let body = serde_json::to_string(ban).map_err(|source| StoreError::Decode {
            what: "ban",
            source,
        })?;
        self.conn
            .execute(
                "INSERT INTO bans(source, since, until, body) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT(source) DO UPDATE SET since = excluded.since, until = excluded.until, body = excluded.body",
                params![ban.source.to_string(), ban.since, ban.until, body],
            )
            .map_err(sql("saving a ban"))?;
        Ok(())
    }

    /// Lifts a ban. Returns whether there was one.
    pub fn lift_ban(&self, source: IpAddr) -> Result<bool> {
        let n = self
            .conn
            .execute(
                "DELETE FROM bans WHERE source = ?1",
                params![source.to_string()],
            )
            .map_err(sql("lifting a ban"))?;
        Ok(n > 0)
    }

    /// Bans still running at `now` (expired ones are removed).
    pub fn active_bans(&self, now: Millis) -> Result<Vec<Ban>> {
        self.conn
            .execute("DELETE FROM bans WHERE until <= ?1", params![now])
            .map_err(sql("removing expired bans"))?;
        let mut stmt = self
            .conn
            .prepare("SELECT body FROM bans ORDER BY source")
            .map_err(sql("listing bans"))?;
        let rows = stmt
            .query_map([], |r| r.get::<_, String>(0))
            .map_err(sql("listing bans"))?;
        let mut out = Vec::new();
        for body in rows {
            let body = body.map_err(sql("reading a ban"))?;
            out.push(
                serde_json::from_str(&body).map_err(|source| StoreError::Decode {
                    what: "ban",
                    source,
                })?,
            );
        }
        Ok(out)
    }

    // ---- kill switches ----------------------------------------------------------------------------------

    /// Records a kill switch in force and returns the store's id for it. A switch of the same scope and
    /// classes that is already in force is updated rather than duplicated, so that the guard persisting what
    /// the engine decided and an operator setting the same switch through the API leave one row. The ids are
    /// the store's own (the engine numbers its switches per process; they restart at 1 after a restart).
    pub fn put_kill_switch(&self, ks: &KillSwitch) -> Result<i64> {
        // One transaction: one disk sync, and no other writer between the lookup and the write.
        // IMMEDIATE: take the write lock first (waiting in the busy handler); a read-then-write transaction
        // would fail at once with SQLITE_BUSY when another writer committed in between.
        let tx = rusqlite::Transaction::new_unchecked(
            &self.conn,
            rusqlite::TransactionBehavior::Immediate,
        )
        .map_err(sql("starting a transaction"))?;
        let id = self.put_kill_switch_in(ks)?;
        tx.commit().map_err(sql("committing a kill switch"))?;
        Ok(id)
    }

    fn put_kill_switch_in(&self, ks: &KillSwitch) -> Result<i64> {
        let existing = self
            .active_kill_switches()?
            .into_iter()
            .find(|k| k.scope == ks.scope && k.classes == ks.classes);
        let encode = |k: &KillSwitch| {
            serde_json::to_string(k).map_err(|source| StoreError::Decode {
                what: "kill switch",
                source,
            })
        };
        if let Some(old) = existing {
            // Keep the first `since`: the switch has been in force from then.
            let mut k = ks.clone();
            k.id = old.id;
            k.since = old.since.min(ks.since);
            let id = i64::try_from(k.id).unwrap_or(i64::MAX);
            self.conn
                .execute(
                    "UPDATE kill_switches SET since = ?2, body = ?3 WHERE id = ?1",
                    params![id, k.since, encode(&k)?],
                )
                .map_err(sql("updating a kill switch"))?;
            return Ok(id);
        }
        self.conn
            .execute(
                "INSERT INTO kill_switches(since, body) VALUES (?1, ?2)",
                params![ks.since, encode(ks)?],
            )
            .map_err(sql("saving a kill switch"))?;
        let id = self.conn.last_insert_rowid();
        let mut k = ks.clone();
        k.id = u64::try_from(id).unwrap_or(0);
        self.conn
            .execute(
                "UPDATE kill_switches SET body = ?2 WHERE id = ?1",
                params![id, encode(&k)?],
            )
            .map_err(sql("saving a kill switch"))?;
        Ok(id)
    }

    /// Marks a kill switch lifted (kept for history). Returns whether it was in force.
    pub fn lift_kill_switch(&self, id: u64, at: Millis, by: &str) -> Result<bool> {
        let id = i64::try_from(id).unwrap_or(i64::MAX);
        let n = self
            .conn
            .execute(
                "UPDATE kill_switches SET lifted_at = ?2, lifted_by = ?3 WHERE id = ?1 AND lifted_at IS NULL",
                params![id, at, by],
            )
            .map_err(sql("lifting a kill switch"))?;
        Ok(n > 0)
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
        let mut n = 0;
        for k in self.active_kill_switches()? {
            if &k.scope == scope
                && classes.is_none_or(|c| c == k.classes)
                && self.lift_kill_switch(k.id, at, by)?
            {
                n += 1;
            }
        }
        Ok(n)
    }

    /// Kill switches in force, oldest first, with the store's ids.
    pub fn active_kill_switches(&self) -> Result<Vec<KillSwitch>> {
        Ok(self
            .kill_switch_history(true, 10_000)?
            .into_iter()
            .map(|h| h.switch)
            .collect())
    }

    /// Kill switches, newest first when `active_only` is false (history with who lifted them and when),
    /// oldest first when true.
    pub fn kill_switch_history(
        &self,
        active_only: bool,
        limit: usize,
    ) -> Result<Vec<KillSwitchRecord>> {
        let q = if active_only {
            "SELECT id, body, lifted_at, lifted_by FROM kill_switches WHERE lifted_at IS NULL ORDER BY id LIMIT ?1"
        } else {
            "SELECT id, body, lifted_at, lifted_by FROM kill_switches ORDER BY id DESC LIMIT ?1"
        };
        let mut stmt = self.conn.prepare(q).map_err(sql("listing kill switches"))?;
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
            let mut switch: KillSwitch =
                serde_json::from_str(&body).map_err(|source| StoreError::Decode {
                    what: "kill switch",
                    source,
                })?;
            switch.id = u64::try_from(id).unwrap_or(0);
            out.push(KillSwitchRecord {
                switch,
                lifted_at,
                lifted_by,
            });
        }
        Ok(out)
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
        let tx = self
            .conn
            .transaction()
            .map_err(sql("starting a transaction"))?;
        let mut out = Vec::with_capacity(batches.len());
        {
            let mut stmt = tx
                .prepare_cached(
                    "INSERT INTO alerts(at, tenant, rule, body) VALUES (?1, ?2, ?3, ?4)",
                )
                .map_err(sql("saving alerts"))?;
            for (tenant, decisions) in batches {
                let mut ids = Vec::with_capacity(decisions.len());
                for d in *decisions {
                    let body = serde_json::to_string(d).map_err(|source| StoreError::Decode {
                        what: "alert",
                        source,
                    })?;
                    stmt.execute(params![d.at, tenant, d.rule, body])
                        .map_err(sql("saving an alert"))?;
                    ids.push(tx.last_insert_rowid());
                }
                out.push(ids);
            }
        }
        tx.commit().map_err(sql("committing alerts"))?;
        Ok(out)
    }

    /// Alerts matching the filter, newest first.
    pub fn alerts(&self, f: &AlertFilter<'_>) -> Result<Vec<StoredAlert>> {
        let limit = if f.limit == 0 {
            100
        } else {
            f.limit.min(10_000)
        } as i64;
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT id, tenant, acked_by, acked_at, body FROM alerts
                 WHERE (?1 IS NULL OR tenant = ?1) AND (?2 IS NULL OR rule = ?2) AND (?3 IS NULL OR at >= ?3)
                   AND (?4 = 0 OR acked_at IS NULL)
                 ORDER BY at DESC, id DESC LIMIT ?5",
            )
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
                |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, Option<String>>(2)?,
                        r.get::<_, Option<i64>>(3)?,
                        r.get::<_, String>(4)?,
                    ))
                },
            )
            .map_err(sql("listing alerts"))?;
        let mut out = Vec::new();
        for row in rows {
            let (id, tenant, acked_by, acked_at, body) = row.map_err(sql("reading an alert"))?;
            let decision = serde_json::from_str(&body).map_err(|source| StoreError::Decode {
                what: "alert",
                source,
            })?;
            out.push(StoredAlert {
                id,
                tenant,
                decision,
                acked_by,
                acked_at,
            });
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
        let body = serde_json::to_vec(snap).map_err(|source| StoreError::Decode {
            what: "snapshot",
            source,
        })?;
        self.conn
            .execute(
                "INSERT INTO snapshots(id, at, body) VALUES (1, ?1, ?2)
                 ON CONFLICT(id) DO UPDATE SET at = excluded.at, body = excluded.body",
                params![at, body],
            )
            .map_err(sql("saving the engine snapshot"))?;
        Ok(())
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
