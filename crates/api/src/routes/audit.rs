//! The audit log: every change, with the token that made it.

use axum::Json;
use axum::extract::State;

use crate::auth::Principal;
use crate::dto::*;
use crate::error::{ApiError, ErrorBody};
use crate::state::{AppState, Params};

use super::limit;

#[utoipa::path(get, path = "/api/v1/audit", tag = "audit", params(LimitQuery), security(("bearer" = [])),
    responses(
        (status = 200, description = "Changes, newest first (of the token's tenants)", body = [AuditView]),
        (status = 401, description = "No valid token", body = ErrorBody)))]
pub(crate) async fn audit_log(
    State(st): State<AppState>,
    p: Principal,
    Params(q): Params<LimitQuery>,
) -> Result<Json<Vec<AuditView>>, ApiError> {
    let n = limit(q.limit);
    let tenants = p.tenants.clone();
    let entries = st
        .db(move |s| match &tenants {
            None => s.audit_log(None, n),
            Some(list) => {
                let mut all = Vec::new();
                for t in list {
                    all.extend(s.audit_log(Some(t), n)?);
                }
                all.sort_by_key(|a| std::cmp::Reverse(a.at));
                all.truncate(n);
                Ok(all)
            }
        })
        .await?;
    Ok(Json(
        entries
            .into_iter()
            .map(|e| AuditView {
                at: e.at,
                actor: e.actor,
                tenant: e.tenant,
                action: e.action,
                detail: e.detail,
            })
            .collect(),
    ))
}
