//! Calls in progress (list, end one) and the per-account counters, within the token's tenants.

use axum::Json;
use axum::extract::State;

use crate::auth::{Principal, Role};
use crate::dto::*;
use crate::error::{ApiError, ErrorBody};
use crate::state::{AppState, Params, PathParam};

fn money(a: Option<engine::Amount>) -> Option<MoneyView> {
    a.map(|a| MoneyView {
        millis: a.millis,
        currency: String::from_utf8_lossy(&a.currency.0).into_owned(),
    })
}

async fn visible_calls(
    st: &AppState,
    p: &Principal,
    tenant: Option<&str>,
) -> Result<Vec<decide::control::CallInfo>, ApiError> {
    match p.tenants_to_query(tenant)? {
        None => Ok(st.handle.calls(None).await?),
        Some(list) => {
            let mut all = Vec::new();
            for t in list {
                all.extend(st.handle.calls(Some(t)).await?);
            }
            Ok(all)
        }
    }
}

#[utoipa::path(get, path = "/api/v1/calls", tag = "calls", params(TenantQuery), security(("bearer" = [])),
    responses(
        (status = 200, description = "Calls in progress", body = [CallView]),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "No such tenant (for this token)", body = ErrorBody)))]
pub(crate) async fn list_calls(
    State(st): State<AppState>,
    p: Principal,
    Params(q): Params<TenantQuery>,
) -> Result<Json<Vec<CallView>>, ApiError> {
    let calls = visible_calls(&st, &p, q.tenant.as_deref()).await?;
    Ok(Json(
        calls
            .into_iter()
            .map(|c| CallView {
                call_id: c.call_id,
                tenant: c.tenant,
                account: c.account,
                dialed: c.dialed,
                started: c.started,
                answered: c.answered,
            })
            .collect(),
    ))
}

#[utoipa::path(post, path = "/api/v1/calls/{call_id}/end", tag = "calls", security(("bearer" = [])),
    params(("call_id" = String, Path, description = "SIP Call-ID of the call")),
    request_body(content = EndCallRequest, description = "Why (optional body)"),
    responses(
        (status = 200, description = "Ended: BYE (or CANCEL) sent to both sides", body = CallEnded),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "The token's role is viewer", body = ErrorBody),
        (status = 404, description = "No such call in progress (for this token)", body = ErrorBody)))]
pub(crate) async fn end_call(
    State(st): State<AppState>,
    p: Principal,
    PathParam(call_id): PathParam<String>,
    body: axum::body::Bytes,
) -> Result<Json<CallEnded>, ApiError> {
    p.require(Role::Operator)?;
    let req: EndCallRequest = if body.iter().all(u8::is_ascii_whitespace) {
        EndCallRequest::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| {
            ApiError::BadRequest(format!("the body should be {{\"why\": \"…\"}}: {e}"))
        })?
    };
    let calls = visible_calls(&st, &p, None).await?;
    let Some(call) = calls.into_iter().find(|c| c.call_id == call_id) else {
        return Err(ApiError::NotFound(format!(
            "no call \"{call_id}\" in progress"
        )));
    };
    let reason = if req.why.trim().is_empty() {
        format!("ended by {}", p.who())
    } else {
        req.why.trim().to_owned()
    };
    let ended = st
        .handle
        .end_call(call_id.clone(), Some(call.tenant.clone()), reason.clone())
        .await?;
    if !ended {
        return Err(ApiError::NotFound(format!(
            "no call \"{call_id}\" in progress (it just ended)"
        )));
    }
    st.audit(
        &p,
        &call.tenant,
        "call.end",
        format!(
            "{call_id} (account {}, dialed {}): {reason}",
            call.account, call.dialed
        ),
    )
    .await?;
    Ok(Json(CallEnded {
        call_id,
        tenant: call.tenant,
    }))
}

#[utoipa::path(get, path = "/api/v1/accounts", tag = "calls", params(TenantQuery), security(("bearer" = [])),
    responses(
        (status = 200, description = "Per-account counters: last 24 h attempts, international attempts, spend", body = [AccountView]),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "No such tenant (for this token)", body = ErrorBody)))]
pub(crate) async fn accounts(
    State(st): State<AppState>,
    p: Principal,
    Params(q): Params<TenantQuery>,
) -> Result<Json<Vec<AccountView>>, ApiError> {
    let list = match p.tenants_to_query(q.tenant.as_deref())? {
        None => st.handle.accounts(None).await?,
        Some(ts) => {
            let mut all = Vec::new();
            for t in ts {
                all.extend(st.handle.accounts(Some(t)).await?);
            }
            all
        }
    };
    Ok(Json(
        list.into_iter()
            .map(|a| AccountView {
                tenant: a.tenant,
                account: a.account,
                last_seen: a.last_seen,
                attempts_24h: a.attempts_24h,
                international_24h: a.international_24h,
                spend_24h: money(a.spend_24h),
                spend_month: money(a.spend_month),
                calls_in_progress: a.calls_in_progress,
                barred: a.barred,
            })
            .collect(),
    ))
}
