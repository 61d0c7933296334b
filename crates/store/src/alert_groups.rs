//! Alert storms written at the cost of distinct alerts, not of decisions. In a fraud storm one rule fires for
//! one subject (account, tenant, source, number) hundreds of times a second; like Homer's and the SIEMs' dedup
//! and PagerDuty's grouping, the writer keeps one row per rule, subject, level and tenant while the storm goes
//! on (warnings and shadow decisions; each refused call keeps its own row): the first decision is written at once (the operator must learn of an attack immediately), the repeats
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
#[derive(Debug, Clone, PartialEq, Eq)]
struct StormKey {
    tenant: String,
    rule: RuleId,
    subject: Subject,
    level: Level,
    shadow: bool,
}

impl StormKey {
    fn of(tenant: &str, d: &Decision) -> StormKey {
        StormKey {
            tenant: tenant.to_owned(),
            rule: d.rule,
            subject: d.subject.clone(),
            level: d.level,
            shadow: d.shadow,
        }
    }

    fn is(&self, tenant: &str, d: &Decision) -> bool {
        self.rule == d.rule
            && self.level == d.level
            && self.shadow == d.shadow
            && self.subject == d.subject
            && self.tenant == tenant
    }
}

/// One storm: its row and the repeats not written yet.
#[derive(Debug)]
struct Storm {
    key: StormKey,
    row: i64,
    /// Engine time of the last decision seen.
    last_at: Millis,
    /// Repeats seen since the row was last written, the first one's time and the latest of them.
    pending: u64,
    pending_since: Millis,
    latest: Option<Decision>,
}

/// Where a storm is: its hash and its place in the bucket.
type StormAt = (u64, usize);

/// The writer's storms (state of one writing connection: the guard's store thread). A repeat costs a hash
/// and a comparison (no allocation); the repeats of every storm are written together once per
/// [`REPEATS_EVERY`], at the cost of the storms that repeated, not of all storms followed.
#[derive(Debug, Default)]
pub struct AlertGroups {
    hasher: std::hash::RandomState,
    /// Storms by the hash of their key (a bucket holds the rare collisions).
    storms: HashMap<u64, Vec<Storm>>,
    count: usize,
    /// Storms with repeats waiting to be written.
    dirty: Vec<StormAt>,
    /// When repeats were last written (or the first storm began), and quiet storms last forgotten.
    last_flush: Option<Instant>,
    last_gc: Option<Instant>,
    /// Yields every [`crate::YIELD_EVERY`] alerts written or freed.
    pub(crate) pause: Pause,
}

/// Yields the core every [`crate::YIELD_EVERY`] alerts the writer writes or frees (tests count the yields).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Pause {
    pub(crate) yield_now: fn(),
    /// Alerts since the last yield.
    since: usize,
}

impl Default for Pause {
    fn default() -> Self {
        Pause {
            yield_now: std::thread::yield_now,
            since: 0,
        }
    }
}

impl Pause {
    /// `alerts` more written or freed: yields once they make [`crate::YIELD_EVERY`].
    pub(crate) fn tick(&mut self, alerts: usize) {
        self.since += alerts;
        if self.since >= crate::YIELD_EVERY {
            self.since = 0;
            (self.yield_now)();
        }
    }
}

impl AlertGroups {
    /// Writes a batch of decisions: a new row for the first of a storm, a count for its repeats.
    pub(crate) fn write(
        &mut self,
        conn: &Connection,
        alerts: &[(String, Vec<Decision>)],
        now: Instant,
    ) -> Result<()> {
        // The latest repeat of each storm in this batch, cloned once after the batch (not once per repeat).
        let mut latest: Vec<(StormAt, &str, &Decision)> = Vec::new();
        for (tenant, decisions) in alerts {
            for d in decisions {
                self.pause.tick(1);
                if let Some(at) = self.add(conn, tenant, d, now)? {
                    match latest.iter_mut().find(|(a, _, _)| *a == at) {
                        Some((_, _, l)) => *l = d,
                        None => latest.push((at, tenant, d)),
                    }
                }
            }
        }
        for ((hash, i), tenant, d) in latest {
            if let Some(s) = self.storms.get_mut(&hash).and_then(|b| b.get_mut(i))
                && s.pending > 0
                && s.key.is(tenant, d)
            {
                s.latest = Some(d.clone());
            }
        }
        Ok(())
    }

    /// A decision: a new row, or a repeat counted in its storm (returned, for its latest decision).
    fn add(
        &mut self,
        conn: &Connection,
        tenant: &str,
        d: &Decision,
        now: Instant,
    ) -> Result<Option<StormAt>> {
        if !joins_storms(d) {
            insert_row(conn, tenant, d, d.at, 1)?;
            return Ok(None);
        }
        use std::hash::BuildHasher;
        let hash = self
            .hasher
            .hash_one((tenant, d.rule, &d.subject, d.level, d.shadow));
        let bucket = self.storms.entry(hash).or_default();
        let found = bucket.iter().position(|s| s.key.is(tenant, d));
        if let Some(i) = found
            && let Some(s) = bucket.get_mut(i)
            && d.at.saturating_sub(s.last_at) <= STORM_GAP_MS
        {
            if s.pending == 0 {
                s.pending_since = d.at;
                self.dirty.push((hash, i));
            }
            s.pending += 1;
            s.last_at = s.last_at.max(d.at);
            return Ok(Some((hash, i)));
        }
        let row = insert_row(conn, tenant, d, d.at, 1)?;
        let storm = Storm {
            key: StormKey::of(tenant, d),
            row,
            last_at: d.at,
            pending: 0,
            pending_since: d.at,
            latest: None,
        };
        match found.and_then(|i| bucket.get_mut(i)) {
            // A storm that went quiet and starts again: its earlier repeats are written before it is replaced.
            Some(old) => {
                write_repeats(conn, tenant, old)?;
                *old = storm;
            }
            None => {
                bucket.push(storm);
                self.count += 1;
            }
        }
        self.last_flush.get_or_insert(now);
        if self.count > MAX_STORMS {
            self.flush(conn, None)?;
            self.clear();
        }
        Ok(None)
    }

    /// Writes the repeats waiting if [`REPEATS_EVERY`] has passed since they were last written (at once when
    /// `now` is None). Returns how many rows were written. Then, at most once per [`REPEATS_EVERY`], forgets
    /// the storms that have been quiet for [`STORM_GAP_MS`] of engine time by the newest decision seen.
    pub(crate) fn flush(&mut self, conn: &Connection, now: Option<Instant>) -> Result<usize> {
        let due = match now {
            None => true,
            Some(now) => self.next_due().is_some_and(|due| now >= due),
        };
        let mut written = 0;
        if due {
            for (hash, i) in std::mem::take(&mut self.dirty) {
                if let Some(s) = self.storms.get_mut(&hash).and_then(|b| b.get_mut(i))
                    && s.pending > 0
                {
                    let tenant = s.key.tenant.clone();
                    write_repeats(conn, &tenant, s)?;
                    written += 1;
                    self.pause.tick(1);
                }
            }
            self.last_flush = Some(now.unwrap_or_else(Instant::now));
        }
        // Not while repeats wait: they are found by their place in a bucket, which forgetting would move.
        let gc_due = self.last_gc.is_none_or(|t| {
            now.is_none_or(|now| now.saturating_duration_since(t) >= REPEATS_EVERY)
        });
        if self.dirty.is_empty() && gc_due {
            self.forget_quiet();
            self.last_gc = Some(now.unwrap_or_else(Instant::now));
        }
        Ok(written)
    }

    fn forget_quiet(&mut self) {
        let newest = self
            .storms
            .values()
            .flatten()
            .map(|s| s.last_at)
            .max()
            .unwrap_or(Millis::MIN);
        for bucket in self.storms.values_mut() {
            bucket.retain(|s| newest.saturating_sub(s.last_at) <= STORM_GAP_MS);
        }
        self.storms.retain(|_, b| !b.is_empty());
        self.count = self.storms.values().map(Vec::len).sum();
    }

    /// When the repeats waiting are due to be written (None: none waits).
    pub(crate) fn next_due(&self) -> Option<Instant> {
        if self.dirty.is_empty() {
            return None;
        }
        Some(
            self.last_flush
                .map_or_else(Instant::now, |t| t + REPEATS_EVERY),
        )
    }

    /// Forgets every storm (after a failed transaction: the rows it remembers may not exist).
    pub(crate) fn clear(&mut self) {
        self.storms.clear();
        self.dirty.clear();
        self.count = 0;
    }
}

/// Whether a decision may be folded into a storm: warnings and shadow (report-only) decisions. A refused call,
/// a ban, a kill switch or calls ended stay one row each, so that the admin finds why each call was refused
/// (and a mirror's would-be refusals stay per call).
fn joins_storms(d: &Decision) -> bool {
    d.shadow || matches!(d.action, engine::Action::Warn)
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
