//! Alert storms written at the cost of distinct alerts, not of decisions. In a fraud storm one rule fires for
//! one subject (account, tenant, source, number) hundreds of times a second; like Homer's and the SIEMs' dedup
//! and PagerDuty's grouping, the writer keeps one row per rule, subject, level and tenant while the storm goes
//! on: the first decision is written at once (the operator must learn of an attack immediately), the repeats
//! are counted in memory and written as one update of that row per [`REPEATS_EVERY`], with the count, the time
//! of the last one and the latest decision (its numbers). A storm ends when its rule and subject are quiet for
//! [`STORM_GAP_MS`] of engine time, or when an operator acknowledged its row: the next decision is a new alert,
//! so that "unacknowledged alerts" never hides an attack that went on after the acknowledgement.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use engine::{Decision, Level, Millis, RuleId, Subject};
use rusqlite::{Connection, params};

use crate::{Result, encode, sql};

/// Repeats of a storm are written at most this often (one update of its row).
pub const REPEATS_EVERY: Duration = Duration::from_secs(5);

/// A decision this long (engine time) after the previous one of its rule and subject starts a new alert.
pub const STORM_GAP_MS: Millis = 10 * 60 * 1000;

/// Storms followed at once. Subjects come from outsiders (spoofed sources, dialed numbers): past this the
/// pending repeats are written and every storm forgotten, so the next decision of each is a new row.
pub const MAX_STORMS: usize = 10_000;

/// What makes two decisions the same alert.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct StormKey {
    tenant: String,
    rule: RuleId,
    subject: Subject,
    level: Level,
    shadow: bool,
}

/// One storm: its row and the repeats not written yet.
#[derive(Debug)]
struct Storm {
    row: i64,
    /// Engine time of the last decision seen.
    last_at: Millis,
    /// When the row was last written (inserted or updated).
    written: Instant,
    /// Repeats seen since, and the latest of them.
    pending: u64,
    pending_since: Millis,
    latest: Option<Decision>,
}

/// The writer's storms (state of one writing connection: the guard's store thread).
#[derive(Debug, Default)]
pub struct AlertGroups {
    storms: HashMap<StormKey, Storm>,
}

impl AlertGroups {
    /// Writes a batch of decisions: a new row for the first of a storm, a count for its repeats.
    pub(crate) fn write(
        &mut self,
        conn: &Connection,
        alerts: &[(String, Vec<Decision>)],
        now: Instant,
    ) -> Result<()> {
        for (tenant, decisions) in alerts {
            for d in decisions {
                self.add(conn, tenant, d, now)?;
            }
        }
        Ok(())
    }

    fn add(&mut self, conn: &Connection, tenant: &str, d: &Decision, now: Instant) -> Result<()> {
        let key = StormKey {
            tenant: tenant.to_owned(),
            rule: d.rule,
            subject: d.subject.clone(),
            level: d.level,
            shadow: d.shadow,
        };
        if let Some(s) = self.storms.get_mut(&key)
            && d.at.saturating_sub(s.last_at) <= STORM_GAP_MS
        {
            if s.pending == 0 {
                s.pending_since = d.at;
            }
            s.pending += 1;
            s.last_at = s.last_at.max(d.at);
            s.latest = Some(d.clone());
            return Ok(());
        }
        if self.storms.len() >= MAX_STORMS {
            self.flush(conn, None)?;
            self.storms.clear();
        }
        let row = insert_row(conn, tenant, d, d.at, 1)?;
        // A storm that went quiet and starts again: its earlier repeats are written before they are replaced.
        if let Some(mut old) = self.storms.insert(
            key,
            Storm {
                row,
                last_at: d.at,
                written: now,
                pending: 0,
                pending_since: d.at,
                latest: None,
            },
        ) {
            write_repeats(conn, tenant, &mut old)?;
        }
        Ok(())
    }

    /// Writes the repeats of every storm whose row was written [`REPEATS_EVERY`] ago or more (of every storm
    /// when `now` is None), and forgets storms that have been quiet for [`STORM_GAP_MS`] of engine time by
    /// the newest decision seen.
    pub(crate) fn flush(&mut self, conn: &Connection, now: Option<Instant>) -> Result<usize> {
        let mut written = 0;
        let mut newest = Millis::MIN;
        for (key, s) in &mut self.storms {
            newest = newest.max(s.last_at);
            let due = now.is_none_or(|t| t.saturating_duration_since(s.written) >= REPEATS_EVERY);
            if s.pending > 0 && due {
                write_repeats(conn, &key.tenant, s)?;
                s.written = now.unwrap_or_else(Instant::now);
                written += 1;
            }
        }
        self.storms
            .retain(|_, s| s.pending > 0 || newest.saturating_sub(s.last_at) <= STORM_GAP_MS);
        Ok(written)
    }

    /// When the next repeats are due to be written (None: nothing waits).
    pub(crate) fn next_due(&self) -> Option<Instant> {
        self.storms
            .values()
            .filter(|s| s.pending > 0)
            .map(|s| s.written + REPEATS_EVERY)
            .min()
    }

    /// Forgets every storm (after a failed transaction: the rows it remembers may not exist).
    pub(crate) fn clear(&mut self) {
        self.storms.clear();
    }
}

/// Adds a storm's pending repeats to its row. A row that is gone or that an operator acknowledged in the
/// meantime is not touched: the repeats become a new row (and the storm follows that one).
fn write_repeats(conn: &Connection, tenant: &str, s: &mut Storm) -> Result<()> {
    let Some(latest) = s.latest.take() else {
        return Ok(());
    };
    let n = std::mem::take(&mut s.pending);
    let count = i64::try_from(n).unwrap_or(i64::MAX);
    let body = encode("alert", &latest)?;
    let mut stmt = conn
        .prepare_cached(
            "UPDATE alerts SET repeats = repeats + ?2, last_at = max(last_at, ?3), body = ?4
             WHERE id = ?1 AND acked_at IS NULL",
        )
        .map_err(sql("counting repeated alerts"))?;
    let changed = stmt
        .execute(params![s.row, count, latest.at, body])
        .map_err(sql("counting repeated alerts"))?;
    if changed == 0 {
        s.row = insert_row(conn, tenant, &latest, s.pending_since, count)?;
    }
    Ok(())
}

/// A new alert row: first seen at `first_at`, `times` decisions, the latest of which is `d`.
pub(crate) fn insert_row(
    conn: &Connection,
    tenant: &str,
    d: &Decision,
    first_at: Millis,
    times: i64,
) -> Result<i64> {
    let mut stmt = conn
        .prepare_cached(
            "INSERT INTO alerts(at, tenant, rule, body, repeats, last_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )
        .map_err(sql("saving alerts"))?;
    stmt.execute(params![
        first_at,
        tenant,
        d.rule.as_str(),
        encode("alert", d)?,
        times,
        d.at
    ])
    .map_err(sql("saving an alert"))?;
    Ok(conn.last_insert_rowid())
}
