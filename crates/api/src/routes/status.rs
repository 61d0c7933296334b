//! Health, status, the OpenAPI document and the Prometheus metrics.

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};

use crate::auth::Principal;
use crate::dto::*;
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;

use super::kill_switches::{kill_switch_view, switch_visible};

#[utoipa::path(get, path = "/health", tag = "status",
    responses((status = 200, description = "The API answers (says nothing else)", body = Health)))]
pub(crate) async fn health() -> Json<Health> {
    Json(Health {
        status: "ok".into(),
    })
}

#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "status",
    responses((status = 200, description = "This document (OpenAPI 3)", body = Object)))]
pub(crate) async fn openapi() -> Response {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        crate::openapi::openapi_json(),
    )
        .into_response()
}

#[utoipa::path(get, path = "/api/v1/status", tag = "status", security(("bearer" = [])),
    responses(
        (status = 200, description = "The guard's state as this token may see it", body = StatusView),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 429, description = "Too many failed authentications", body = ErrorBody),
        (status = 503, description = "The guard is not running", body = ErrorBody)))]
pub(crate) async fn status(
    State(st): State<AppState>,
    p: Principal,
) -> Result<Json<StatusView>, ApiError> {
    let s = st.handle.status().await?;
    let calls = if p.is_unscoped() {
        s.calls_in_progress
    } else {
        let mut n = 0;
        for t in p.tenants.clone().unwrap_or_default() {
            n += st.handle.calls(Some(t)).await?.len();
        }
        n
    };
    let guard = p.is_unscoped().then(|| {
        serde_json::json!({ "stats": s.stats, "engine": s.engine, "sizes": s.sizes, "clock_speed": s.clock_speed })
    });
    Ok(Json(StatusView {
        version: s.version.to_owned(),
        started_at: s.started_at,
        engine_now: s.now,
        calls_in_progress: calls,
        bans_active: s.bans_active,
        kill_switches: s
            .kill_switches
            .iter()
            .filter(|k| switch_visible(&p, &k.scope))
            .map(|k| kill_switch_view(k, None))
            .collect(),
        listeners: if p.is_unscoped() {
            s.listeners.clone()
        } else {
            Vec::new()
        },
        guard,
        caller: Caller {
            token_id: p.id.clone(),
            label: p.label.clone(),
            role: p.role,
            tenants: p.tenants.clone(),
        },
    }))
}

#[utoipa::path(get, path = "/metrics", tag = "status", security(("bearer" = [])),
    responses(
        (status = 200, description = "Prometheus/OpenMetrics text", body = String, content_type = "application/openmetrics-text"),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "The token has a tenant scope", body = ErrorBody)))]
pub(crate) async fn metrics(
    State(st): State<AppState>,
    p: Principal,
) -> Result<Response, ApiError> {
    p.require_unscoped("the metrics")?;
    // The gauges come from the guard at scrape time; a stopped guard leaves them as they were.
    if let Ok(s) = st.handle.status().await {
        st.metrics.guard_status(&s);
    }
    let text = st
        .metrics
        .encode()
        .map_err(|e| ApiError::Internal(format!("encoding the metrics: {e}")))?;
    Ok((
        [(
            axum::http::header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    )
        .into_response())
}
