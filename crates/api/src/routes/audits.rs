//! Recorded audits of the PBXs (`tollguard audit credentials|exposure|config --config guard.toml`): the last
//! reports per tenant, for a viewer of that tenant. Another tenant's reports are never listed.

use axum::Json;
use axum::extract::State;

use crate::auth::Principal;
use crate::dto::*;
use crate::error::{ApiError, ErrorBody};
use crate::state::{AppState, Params};

use super::limit;

fn report_view(r: store::AuditReport) -> AuditReportView {
    AuditReportView {
        id: r.id,
        tenant: r.tenant,
        kind: r.kind,
        started_at: r.started_at,
        finished_at: r.finished_at,
        critical: r.critical,
        warning: r.warning,
        info: r.info,
        report: serde_json::from_str(&r.report).unwrap_or(serde_json::Value::Null),
    }
}

#[utoipa::path(get, path = "/api/v1/audits", tag = "audits", params(AuditReportQuery), security(("bearer" = [])),
    responses(
        (status = 200, description = "Recorded audits, newest first (of the token's tenants)", body = [AuditReportView]),
        (status = 400, description = "Bad parameters", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "No such tenant (for this token)", body = ErrorBody)))]
pub(crate) async fn list_audits(
    State(st): State<AppState>,
    p: Principal,
    Params(q): Params<AuditReportQuery>,
) -> Result<Json<Vec<AuditReportView>>, ApiError> {
    let tenants = p.tenants_to_query(q.tenant.as_deref())?;
    let n = limit(q.limit);
    let reports = st
        .db(move |s| match &tenants {
            None => s.audit_reports(None, n),
            Some(list) => {
                let mut all = Vec::new();
                for t in list {
                    all.extend(s.audit_reports(Some(t), n)?);
                }
                all.sort_by_key(|r| std::cmp::Reverse(r.id));
                all.truncate(n);
                Ok(all)
            }
        })
        .await?;
    Ok(Json(reports.into_iter().map(report_view).collect()))
}
