//! Alerts: the engine's decisions as stored, with their reasons; listing, one alert, acknowledgement.
//! Another tenant's alert is answered 404.

use axum::Json;
use axum::extract::State;

use crate::auth::{Principal, Role};
use crate::dto::*;
use crate::error::{ApiError, ErrorBody};
use crate::state::{AppState, Params, PathParam, wall_ms};

use super::limit;

fn alert_view(a: store::StoredAlert) -> AlertView {
    let level = match a.decision.level {
        engine::Level::Warning => "warning",
        engine::Level::Critical => "critical",
    };
    AlertView {
        id: a.id,
        tenant: a.tenant,
        at: a.first_at,
        rule: a.decision.rule.as_str().to_owned(),
        level: level.into(),
        reason: a.decision.reason.clone(),
        times: a.times,
        last_at: a.last_at,
        repeated: repeated(a.times, a.first_at, a.last_at),
        decision: serde_json::to_value(&a.decision).unwrap_or_default(),
        acked_by: a.acked_by,
        acked_at: a.acked_at,
    }
}

/// "fired once at 2026-12-07 02:14:07 UTC", "fired 1,234 times from 2026-12-07 02:14:07 to 02:31:55 UTC".
fn repeated(times: u64, first_at: i64, last_at: i64) -> String {
    let time = |at: i64, format: &str| {
        chrono::DateTime::from_timestamp_millis(at)
            .map(|t| t.format(format).to_string())
            .unwrap_or_else(|| at.to_string())
    };
    let first = time(first_at, "%Y-%m-%d %H:%M:%S");
    if times <= 1 {
        return format!("fired once at {first} UTC");
    }
    let same_day = first_at.div_euclid(86_400_000) == last_at.div_euclid(86_400_000);
    let last = time(
        last_at,
        if same_day {
            "%H:%M:%S"
        } else {
            "%Y-%m-%d %H:%M:%S"
        },
    );
    format!(
        "fired {} times from {first} to {last} UTC",
        numbering::group_thousands(times)
    )
}

#[utoipa::path(get, path = "/api/v1/alerts", tag = "alerts", params(AlertQuery), security(("bearer" = [])),
    responses(
        (status = 200, description = "Alerts, latest activity first (a storm of one rule and subject is one alert with its count)", body = [AlertView]),
        (status = 400, description = "Bad parameters", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "No such tenant (for this token)", body = ErrorBody)))]
pub(crate) async fn list_alerts(
    State(st): State<AppState>,
    p: Principal,
    Params(q): Params<AlertQuery>,
) -> Result<Json<Vec<AlertView>>, ApiError> {
    let tenants = p.tenants_to_query(q.tenant.as_deref())?;
    let n = limit(q.limit);
    let alerts = st
        .db(move |s| {
            let filter = |tenant| store::AlertFilter {
                tenant,
                rule: q.rule.as_deref(),
                since: q.since,
                unacknowledged_only: q.unacked,
                limit: n,
            };
            match &tenants {
                None => s.alerts(&filter(None)),
                Some(list) => {
                    let mut all = Vec::new();
                    for t in list {
                        all.extend(s.alerts(&filter(Some(t.as_str())))?);
                    }
                    all.sort_by_key(|a| std::cmp::Reverse((a.last_at, a.id)));
                    all.truncate(n);
                    Ok(all)
                }
            }
        })
        .await?;
    Ok(Json(alerts.into_iter().map(alert_view).collect()))
}

async fn visible_alert(
    st: &AppState,
    p: &Principal,
    id: i64,
) -> Result<store::StoredAlert, ApiError> {
    match st.db(move |s| s.alert(id)).await? {
        Some(a) if p.sees(&a.tenant) => Ok(a),
        _ => Err(ApiError::NotFound(format!("no alert {id}"))),
    }
}

#[utoipa::path(get, path = "/api/v1/alerts/{id}", tag = "alerts", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Alert id")),
    responses(
        (status = 200, description = "The alert with every reason", body = AlertView),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "No such alert (for this token)", body = ErrorBody)))]
pub(crate) async fn get_alert(
    State(st): State<AppState>,
    p: Principal,
    PathParam(id): PathParam<i64>,
) -> Result<Json<AlertView>, ApiError> {
    Ok(Json(alert_view(visible_alert(&st, &p, id).await?)))
}

#[utoipa::path(post, path = "/api/v1/alerts/{id}/ack", tag = "alerts", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Alert id")),
    responses(
        (status = 200, description = "Acknowledged", body = AlertView),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "The token's role is viewer", body = ErrorBody),
        (status = 404, description = "No such alert (for this token)", body = ErrorBody),
        (status = 409, description = "Already acknowledged", body = ErrorBody)))]
pub(crate) async fn ack_alert(
    State(st): State<AppState>,
    p: Principal,
    PathParam(id): PathParam<i64>,
) -> Result<Json<AlertView>, ApiError> {
    p.require(Role::Operator)?;
    let a = visible_alert(&st, &p, id).await?;
    if let Some(by) = &a.acked_by {
        return Err(ApiError::Conflict(format!(
            "alert {id} was already acknowledged by {by}"
        )));
    }
    let tenant = a.tenant.clone();
    let (t2, by) = (tenant.clone(), p.who());
    let at = wall_ms();
    let done = st.db(move |s| s.ack_alert(id, Some(&t2), at, &by)).await?;
    if !done {
        return Err(ApiError::Conflict(format!(
            "alert {id} was just acknowledged"
        )));
    }
    st.audit(
        &p,
        &tenant,
        "alert.ack",
        format!("alert {id} ({}): {}", a.decision.rule, a.decision.reason),
    )
    .await?;
    let a = visible_alert(&st, &p, id).await?;
    Ok(Json(alert_view(a)))
}
