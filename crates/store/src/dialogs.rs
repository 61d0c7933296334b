//! Calls in progress, so that a guard restarted in the middle of an attack can still end the calls it
//! carried. Each row is the guard's own serialization of its dialog (the store does not know its fields),
//! keyed by Call-ID, with the tenant and when it was last written (wall time, for pruning dialogs whose end
//! was never seen).

use engine::Millis;
use rusqlite::{Connection, params};

use crate::{Result, Store, sql, wall_ms};

pub(crate) fn save_in(
    conn: &Connection,
    at: Millis,
    upserts: &[(String, String, String)],
    ended: &[String],
) -> Result<()> {
    if !upserts.is_empty() {
        let mut stmt = conn
            .prepare_cached(
                "INSERT INTO dialogs(call_id, tenant, updated_at, body) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT(call_id) DO UPDATE SET tenant = excluded.tenant,
                     updated_at = excluded.updated_at, body = excluded.body",
            )
            .map_err(sql("saving dialogs"))?;
        for (call_id, tenant, body) in upserts {
            stmt.execute(params![call_id, tenant, at, body])
                .map_err(sql("saving a dialog"))?;
        }
    }
    if !ended.is_empty() {
        let mut stmt = conn
            .prepare_cached("DELETE FROM dialogs WHERE call_id = ?1")
            .map_err(sql("removing ended dialogs"))?;
        for call_id in ended {
            stmt.execute(params![call_id])
                .map_err(sql("removing an ended dialog"))?;
        }
    }
    Ok(())
}

pub(crate) fn prune_in(conn: &Connection, updated_before: Millis) -> Result<usize> {
    conn.execute(
        "DELETE FROM dialogs WHERE updated_at < ?1",
        params![updated_before],
    )
    .map_err(sql("removing stale dialogs"))
}

impl Store {
    /// Saves dialogs (call id, tenant, the guard's serialization) and removes those that ended, in one
    /// transaction. The ended ones are removed after the upserts: a call upserted and ended in the same
    /// batch is gone. Stamped with the wall clock.
    pub fn save_dialogs(
        &mut self,
        upserts: &[(String, String, String)],
        ended: &[String],
    ) -> Result<()> {
        self.save_dialogs_at(wall_ms(), upserts, ended)
    }

    /// [`Store::save_dialogs`] stamped with `at` (wall time) instead of the clock.
    pub fn save_dialogs_at(
        &mut self,
        at: Millis,
        upserts: &[(String, String, String)],
        ended: &[String],
    ) -> Result<()> {
        if upserts.is_empty() && ended.is_empty() {
            return Ok(());
        }
        let tx = self.write_tx()?;
        save_in(&tx, at, upserts, ended)?;
        tx.commit().map_err(sql("committing dialogs"))
    }

    /// Every stored dialog: call id, tenant, the guard's serialization; oldest write first.
    pub fn load_dialogs(&self) -> Result<Vec<(String, String, String)>> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT call_id, tenant, body FROM dialogs ORDER BY updated_at, call_id",
            )
            .map_err(sql("reading dialogs"))?;
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .map_err(sql("reading dialogs"))?;
        rows.collect::<std::result::Result<_, _>>()
            .map_err(sql("reading a dialog"))
    }

    /// Removes the dialogs last written before `updated_before` (wall time): calls whose end the guard never
    /// saw. Returns how many.
    pub fn prune_dialogs(&self, updated_before: Millis) -> Result<usize> {
        prune_in(&self.conn, updated_before)
    }
}
