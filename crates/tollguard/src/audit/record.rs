//! Recording an audit in the guard's store (`--config guard.toml` with a `[store] path`), so that the
//! operator API shows the last audit of each tenant (`GET /api/v1/audits`, `tollguard ctl audits`). One record
//! per tenant of the run: its findings by severity and its part of the JSON report, without passwords
//! (`--show-passwords` changes only what is printed).

use std::path::Path;

use anyhow::Context as _;
use audit::Severity;

use super::report::{Report, to_json};

/// Records each tenant's part of the report. Returns how many records were written (0 when the guard
/// configuration has no store).
pub fn record(r: &Report, config: &Path, started: i64) -> anyhow::Result<usize> {
    let settings = guard::Settings::load(config)
        .map_err(|e| anyhow::anyhow!("{e}"))
        .with_context(|| format!("cannot use the guard configuration {}", config.display()))?;
    let Some(path) = settings.store_path else {
        return Ok(0);
    };
    let store = store::Store::open(&path).with_context(|| {
        format!(
            "cannot record the audit in the store {} ([store] path of {})",
            path.display(),
            config.display()
        )
    })?;
    let finished = wall_ms();
    let mut tenants: Vec<&str> = r.sites.iter().map(|s| s.tenant.as_str()).collect();
    tenants.sort_unstable();
    tenants.dedup();
    let mut written = 0;
    for tenant in tenants {
        let part = Report {
            sites: r
                .sites
                .iter()
                .filter(|s| s.tenant == tenant)
                .cloned()
                .collect(),
            cost: r.cost.clone(),
        };
        let mut counts = [0u32; 3];
        for f in part.sites.iter().flat_map(|s| &s.findings) {
            counts[match f.severity {
                Severity::Critical => 0,
                Severity::Warning => 1,
                Severity::Info => 2,
            }] += 1;
        }
        let kind = part.sites.first().map_or("", |s| s.check);
        store
            .record_audit(&store::AuditReport {
                id: 0,
                tenant: tenant.to_owned(),
                kind: kind.to_owned(),
                started_at: started,
                finished_at: finished,
                critical: counts[0],
                warning: counts[1],
                info: counts[2],
                report: to_json(&part, false).to_string(),
            })
            .with_context(|| format!("cannot record the audit in the store {}", path.display()))?;
        written += 1;
    }
    Ok(written)
}

pub fn wall_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
