//! The routes of the operator API and their handlers. Every handler authenticates (the [`Principal`]
//! extractor), checks the role and the tenant scope, acts, writes the audit log for changes, and for bans and
//! kill switches asks the guard to enforce the store's state before answering.
//!
//! Tenant isolation: another tenant's alert, call or account is answered 404 (its existence is not
//! revealed); acting on another tenant or on everyone (kill switch scope "all") is 403. Bans concern source
//! addresses, not tenants, and their reasons may name any tenant's extensions: only unscoped tokens list,
//! add or lift them.
//!
//! One module per resource: [`status`] (health, status, OpenAPI document, metrics), [`alerts`], [`bans`],
//! [`kill_switches`], [`calls`] (calls in progress, accounts), [`policy`], [`audit`] (the change log), [`audits`] (recorded PBX audits), [`tokens`], [`events`].
//! Helpers shared by several of them (reasons, list limits, tenant lookup) live here.

pub(crate) mod alerts;
pub(crate) mod audit;
pub(crate) mod audits;
pub(crate) mod bans;
pub(crate) mod calls;
pub(crate) mod events;
pub(crate) mod kill_switches;
pub(crate) mod policy;
pub(crate) mod status;
pub(crate) mod tokens;

use std::time::Instant;

use axum::Json;
use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};

use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;

use alerts::{ack_alert, get_alert, list_alerts};
use audit::audit_log;
use audits::list_audits;
use bans::{add_ban, lift_ban, list_bans};
use calls::{accounts, end_call, list_calls};
use events::events;
use kill_switches::{lift_kill_switch, lift_kill_switches, list_kill_switches, set_kill_switch};
use policy::{reload_policy, show_policy, validate_policy};
use status::{health, metrics, openapi, status};
use tokens::{create_token, list_tokens, revoke_token};

pub(crate) fn router(state: AppState) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/api/v1/health", get(health))
        .route("/api/v1/openapi.json", get(openapi))
        .route("/api/v1/status", get(status))
        .route("/api/v1/alerts", get(list_alerts))
        .route("/api/v1/alerts/{id}", get(get_alert))
        .route("/api/v1/alerts/{id}/ack", post(ack_alert))
        .route("/api/v1/bans", get(list_bans).post(add_ban))
        .route("/api/v1/bans/{source}", delete(lift_ban))
        .route(
            "/api/v1/kill-switches",
            get(list_kill_switches).post(set_kill_switch),
        )
        .route("/api/v1/kill-switches/lift", post(lift_kill_switches))
        .route("/api/v1/kill-switches/{id}", delete(lift_kill_switch))
        .route("/api/v1/calls", get(list_calls))
        .route("/api/v1/calls/{call_id}/end", post(end_call))
        .route("/api/v1/decide", post(crate::decide::decide))
        .route(
            "/api/v1/calls/{call_id}/answered",
            post(crate::decide::answered),
        )
        .route("/api/v1/calls/{call_id}/ended", post(crate::decide::ended))
        .route("/api/v1/accounts", get(accounts))
        .route("/api/v1/policy", get(show_policy))
        .route("/api/v1/policy/validate", post(validate_policy))
        .route("/api/v1/policy/reload", post(reload_policy))
        .route("/api/v1/audit", get(audit_log))
        .route("/api/v1/audits", get(list_audits))
        .route("/api/v1/tokens", get(list_tokens).post(create_token))
        .route("/api/v1/tokens/{id}", delete(revoke_token))
        .route("/api/v1/events", get(events))
        .route("/metrics", get(metrics))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::extract::DefaultBodyLimit::max(1024 * 1024))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            count_request,
        ))
        .with_state(state)
}

async fn count_request(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().as_str().to_owned();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".into());
    let resp = next.run(req).await;
    state.metrics.request(
        &method,
        &route,
        resp.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    resp
}

async fn not_found() -> ApiError {
    ApiError::NotFound("no such endpoint; the routes are listed at /api/v1/openapi.json".into())
}

async fn method_not_allowed() -> Response {
    (
        StatusCode::METHOD_NOT_ALLOWED,
        Json(ErrorBody {
            error: "this endpoint does not take this method; see /api/v1/openapi.json".into(),
        }),
    )
        .into_response()
}

fn why(text: &str, what: &str) -> Result<String, ApiError> {
    let t = text.trim();
    if t.is_empty() {
        return Err(ApiError::Unprocessable(format!(
            "say why ({what}): the reason is recorded with the change"
        )));
    }
    if t.chars().count() > 500 {
        return Err(ApiError::Unprocessable(
            "the reason is longer than 500 characters".into(),
        ));
    }
    Ok(t.to_owned())
}

impl AppState {
    fn tenant_exists(&self, name: &str) -> bool {
        self.handle.view().tenants().iter().any(|t| t.name == name)
    }
}

fn limit(l: Option<u32>) -> usize {
    match l {
        None | Some(0) => 100,
        Some(n) => (n as usize).min(10_000),
    }
}
