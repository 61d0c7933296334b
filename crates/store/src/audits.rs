//! Reports of `tollguard audit` (credentials, exposure, config), kept per tenant and kind so that the operator
//! API can show the last audit of each site. The report is the audit's own JSON (which never holds a
//! password); the store keeps the counts by severity beside it and only the last [`KEEP_PER_KIND`] reports
//! of each tenant and kind.

use engine::Millis;
use rusqlite::params;
use serde::{Deserialize, Serialize};

use crate::{Result, Store, sql};

/// Reports kept per tenant and kind; older ones are deleted when a new one is recorded.
pub const KEEP_PER_KIND: usize = 20;

/// One recorded audit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditReport {
    pub id: i64,
    pub tenant: String,
    /// "credentials", "exposure" or "config".
    pub kind: String,
    pub started_at: Millis,
    pub finished_at: Millis,
    pub critical: u32,
    pub warning: u32,
    pub info: u32,
    /// The audit's JSON report, as `--format json` prints it.
    pub report: String,
}

impl Store {
    /// Records an audit's report (its `id` is ignored and assigned) and drops the tenant's reports of that
    /// kind beyond the last [`KEEP_PER_KIND`]. Returns the new id.
    pub fn record_audit(&self, r: &AuditReport) -> Result<i64> {
        let tx = self.write_tx()?;
        tx.execute(
            "INSERT INTO audit_reports(tenant, kind, started_at, finished_at, critical, warning, info, report)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                r.tenant,
                r.kind,
                r.started_at,
                r.finished_at,
                r.critical,
                r.warning,
                r.info,
                r.report
            ],
        )
        .map_err(sql("saving an audit report"))?;
        let id = tx.last_insert_rowid();
        tx.execute(
            "DELETE FROM audit_reports WHERE tenant = ?1 AND kind = ?2 AND id NOT IN
             (SELECT id FROM audit_reports WHERE tenant = ?1 AND kind = ?2 ORDER BY id DESC LIMIT ?3)",
            params![r.tenant, r.kind, KEEP_PER_KIND as i64],
        )
        .map_err(sql("dropping old audit reports"))?;
        tx.commit().map_err(sql("committing an audit report"))?;
        Ok(id)
    }

    /// Recorded audits of a tenant (or of all), newest first.
    pub fn audit_reports(&self, tenant: Option<&str>, limit: usize) -> Result<Vec<AuditReport>> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT id, tenant, kind, started_at, finished_at, critical, warning, info, report
                 FROM audit_reports WHERE (?1 IS NULL OR tenant = ?1) ORDER BY id DESC LIMIT ?2",
            )
            .map_err(sql("reading audit reports"))?;
        let rows = stmt
            .query_map(params![tenant, limit.min(10_000) as i64], |r| {
                Ok(AuditReport {
                    id: r.get(0)?,
                    tenant: r.get(1)?,
                    kind: r.get(2)?,
                    started_at: r.get(3)?,
                    finished_at: r.get(4)?,
                    critical: r.get(5)?,
                    warning: r.get(6)?,
                    info: r.get(7)?,
                    report: r.get(8)?,
                })
            })
            .map_err(sql("reading audit reports"))?;
        rows.collect::<std::result::Result<_, _>>()
            .map_err(sql("reading an audit report"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(tenant: &str, kind: &str, n: i64) -> AuditReport {
        AuditReport {
            id: 0,
            tenant: tenant.into(),
            kind: kind.into(),
            started_at: n,
            finished_at: n + 1,
            critical: 1,
            warning: 2,
            info: 3,
            report: format!("{{\"n\":{n}}}"),
        }
    }

    #[test]
    fn reports_are_kept_per_tenant_and_kind_newest_first_and_bounded() {
        let s = Store::in_memory().unwrap();
        for n in 0..(KEEP_PER_KIND as i64 + 5) {
            s.record_audit(&report("acme", "config", n)).unwrap();
        }
        s.record_audit(&report("acme", "exposure", 100)).unwrap();
        s.record_audit(&report("globex", "config", 200)).unwrap();
        let acme = s.audit_reports(Some("acme"), 1_000).unwrap();
        assert_eq!(acme.len(), KEEP_PER_KIND + 1);
        assert_eq!(acme[0].kind, "exposure");
        assert_eq!(acme[1].started_at, KEEP_PER_KIND as i64 + 4);
        assert!(acme.iter().all(|r| r.started_at >= 5));
        assert_eq!(
            s.audit_reports(None, 1_000).unwrap().len(),
            KEEP_PER_KIND + 2
        );
        let g = s.audit_reports(Some("globex"), 10).unwrap();
        assert_eq!((g[0].critical, g[0].warning, g[0].info), (1, 2, 3));
        assert_eq!(g[0].report, "{\"n\":200}");
    }
}
