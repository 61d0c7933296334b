//! The routes of the operator API and their handlers. Every handler authenticates (the [`Principal`]
//! extractor), checks the role and the tenant scope, acts, writes the audit log for changes, and for bans and
//! kill switches asks the guard to enforce the store's state before answering.
//!
//! Tenant isolation: another tenant's alert, call or account is answered 404 (its existence is not
//! revealed); acting on another tenant or on everyone (kill switch scope "all") is 403. Bans concern source
//! addresses, not tenants, and their reasons may name any tenant's extensions: only unscoped tokens list,
//! add or lift them.

use std::convert::Infallible;
use std::net::IpAddr;
use std::time::Instant;

use axum::Json;
use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use engine::{Ban, BarScope, ClassSet, DestClass, KillSwitch};
use futures_util::Stream;

use crate::auth::{Principal, Role, TokenEntry, new_token};
use crate::dto::*;
use crate::error::{ApiError, ErrorBody};
use crate::state::{AppState, JsonBody, Params, PathParam, wall_ms, with_store};

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

// ---- conversions ---------------------------------------------------------------------------------------

fn alert_view(a: store::StoredAlert) -> AlertView {
    let level = match a.decision.level {
        engine::Level::Warning => "warning",
        engine::Level::Critical => "critical",
    };
    AlertView {
        id: a.id,
        tenant: a.tenant,
        at: a.decision.at,
        rule: a.decision.rule.clone(),
        level: level.into(),
        reason: a.decision.reason.clone(),
        decision: serde_json::to_value(&a.decision).unwrap_or_default(),
        acked_by: a.acked_by,
        acked_at: a.acked_at,
    }
}

fn ban_view(b: &Ban) -> BanView {
    BanView {
        source: b.source.to_string(),
        since: b.since,
        until: b.until,
        rule: b.rule.clone(),
        by: b.by.clone(),
        why: b.why.clone(),
    }
}

fn class_names(c: ClassSet) -> Vec<String> {
    c.classes()
        .into_iter()
        .map(|c| c.name().to_owned())
        .collect()
}

fn kill_switch_view(k: &KillSwitch, lifted: Option<(i64, String)>) -> KillSwitchView {
    let (scope, tenant, account) = match &k.scope {
        BarScope::All => (ScopeKind::All, None, None),
        BarScope::Tenant { tenant } => (ScopeKind::Tenant, Some(tenant.clone()), None),
        BarScope::Account { tenant, account } => (
            ScopeKind::Account,
            Some(tenant.clone()),
            Some(account.clone()),
        ),
    };
    let (lifted_at, lifted_by) = match lifted {
        Some((a, b)) => (Some(a), Some(b)),
        None => (None, None),
    };
    KillSwitchView {
        id: k.id,
        scope,
        tenant,
        account,
        classes: class_names(k.classes),
        since: k.since,
        by: k.by.clone(),
        why: k.why.clone(),
        lifted_at,
        lifted_by,
    }
}

fn money(a: Option<engine::Amount>) -> Option<MoneyView> {
    a.map(|a| MoneyView {
        millis: a.millis,
        currency: String::from_utf8_lossy(&a.currency.0).into_owned(),
    })
}

fn scope_tenant(s: &BarScope) -> &str {
    match s {
        BarScope::All => "",
        BarScope::Tenant { tenant } | BarScope::Account { tenant, .. } => tenant,
    }
}

/// Whether a kill switch concerns a tenant this token sees (switches for everyone concern every tenant).
fn switch_visible(p: &Principal, s: &BarScope) -> bool {
    matches!(s, BarScope::All) || p.sees(scope_tenant(s))
}

/// May this token set or lift a switch of this scope?
fn may_act_on_scope(p: &Principal, s: &BarScope) -> Result<(), ApiError> {
    match s {
        BarScope::All if !p.is_unscoped() => Err(ApiError::Forbidden(
            "a kill switch for every tenant needs a token without a tenant scope".into(),
        )),
        BarScope::Tenant { tenant } | BarScope::Account { tenant, .. } if !p.sees(tenant) => Err(
            ApiError::Forbidden(format!("this token may not act on tenant \"{tenant}\"")),
        ),
        _ => Ok(()),
    }
}

fn parse_classes(names: &[String]) -> Result<ClassSet, ApiError> {
    let mut v = Vec::new();
    for n in names {
        let c: DestClass = serde_json::from_value(serde_json::Value::String(n.trim().to_owned()))
            .map_err(|_| {
            ApiError::Unprocessable(format!(
                "\"{n}\" is not a destination class; use internal, domestic, mobile, toll_free, \
                     shared_cost, service, international, premium, satellite or unknown"
            ))
        })?;
        v.push(c);
    }
    Ok(ClassSet::of(&v))
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
        self.handle
            .settings()
            .tenants
            .iter()
            .any(|t| t.name == name)
    }

    fn scope_of(
        &self,
        kind: ScopeKind,
        tenant: Option<&str>,
        account: Option<&str>,
    ) -> Result<BarScope, ApiError> {
        let tenant = tenant.map(str::trim);
        let account = account.map(str::trim);
        let known = |t: &str| {
            if self.tenant_exists(t) {
                Ok(t.to_owned())
            } else {
                Err(ApiError::Unprocessable(format!(
                    "no tenant \"{t}\" in the guard's configuration"
                )))
            }
        };
        match (kind, tenant, account) {
            (ScopeKind::All, None, None) => Ok(BarScope::All),
            (ScopeKind::All, _, _) => Err(ApiError::Unprocessable(
                "the scope \"all\" takes no tenant or account".into(),
            )),
            (ScopeKind::Tenant, Some(t), None) => Ok(BarScope::Tenant { tenant: known(t)? }),
            (ScopeKind::Account, Some(t), Some(a)) if !a.is_empty() => Ok(BarScope::Account {
                tenant: known(t)?,
                account: a.to_owned(),
            }),
            (ScopeKind::Tenant, _, _) => Err(ApiError::Unprocessable(
                "the scope \"tenant\" needs a tenant (and no account)".into(),
            )),
            (ScopeKind::Account, _, _) => Err(ApiError::Unprocessable(
                "the scope \"account\" needs a tenant and an account".into(),
            )),
        }
    }
}

fn limit(l: Option<u32>) -> usize {
    match l {
        None | Some(0) => 100,
        Some(n) => (n as usize).min(10_000),
    }
}

// ---- health, status, openapi, metrics -----------------------------------------------------------------

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

// ---- alerts --------------------------------------------------------------------------------------------

#[utoipa::path(get, path = "/api/v1/alerts", tag = "alerts", params(AlertQuery), security(("bearer" = [])),
    responses(
        (status = 200, description = "Alerts, newest first", body = [AlertView]),
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
                    all.sort_by_key(|a| std::cmp::Reverse((a.decision.at, a.id)));
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

// ---- bans ----------------------------------------------------------------------------------------------

#[utoipa::path(get, path = "/api/v1/bans", tag = "bans", security(("bearer" = [])),
    responses(
        (status = 200, description = "Sources banned now", body = [BanView]),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "The token has a tenant scope", body = ErrorBody)))]
pub(crate) async fn list_bans(
    State(st): State<AppState>,
    p: Principal,
) -> Result<Json<Vec<BanView>>, ApiError> {
    p.require_unscoped("the list of banned sources")?;
    let now = st.engine_now().await?;
    let bans = st.db(move |s| s.active_bans(now)).await?;
    Ok(Json(bans.iter().map(ban_view).collect()))
}

#[utoipa::path(post, path = "/api/v1/bans", tag = "bans", security(("bearer" = [])), request_body = BanRequest,
    responses(
        (status = 201, description = "Banned, and enforced by the guard", body = BanChange),
        (status = 400, description = "Malformed body", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Viewer, or a token with a tenant scope", body = ErrorBody),
        (status = 422, description = "Not an address, trusted address, bad duration or no reason", body = ErrorBody)))]
pub(crate) async fn add_ban(
    State(st): State<AppState>,
    p: Principal,
    JsonBody(req): JsonBody<BanRequest>,
) -> Result<(StatusCode, Json<BanChange>), ApiError> {
    p.require(Role::Operator)?;
    p.require_unscoped("a ban of a source address")?;
    let source: IpAddr = req.source.trim().parse().map_err(|_| {
        ApiError::Unprocessable(format!("\"{}\" is not an IPv4 or IPv6 address", req.source))
    })?;
    if !(1..=525_600).contains(&req.minutes) {
        return Err(ApiError::Unprocessable(
            "minutes must be between 1 and 525600 (a year)".into(),
        ));
    }
    let why = why(&req.why, "why is this address banned")?;
    if st.handle.settings().is_trusted(source) {
        return Err(ApiError::Unprocessable(format!(
            "{source} is in a trusted network (or is the PBX or the carrier): it is never banned"
        )));
    }
    let now = st.engine_now().await?;
    let ban = Ban {
        source,
        since: now,
        until: now + i64::from(req.minutes) * 60_000,
        rule: "operator".into(),
        by: p.who(),
        why: why.clone(),
    };
    let b2 = ban.clone();
    st.db(move |s| s.put_ban(&b2)).await?;
    st.audit(
        &p,
        "",
        "ban.add",
        format!("{source} for {} min: {why}", req.minutes),
    )
    .await?;
    let sync = st.handle.sync_store().await?;
    Ok((
        StatusCode::CREATED,
        Json(BanChange {
            ban: Some(ban_view(&ban)),
            sync: sync.into(),
        }),
    ))
}

#[utoipa::path(delete, path = "/api/v1/bans/{source}", tag = "bans", security(("bearer" = [])),
    params(("source" = String, Path, description = "The banned address")),
    responses(
        (status = 200, description = "Lifted, and enforced by the guard", body = BanChange),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Viewer, or a token with a tenant scope", body = ErrorBody),
        (status = 404, description = "That address is not banned", body = ErrorBody),
        (status = 422, description = "Not an address", body = ErrorBody)))]
pub(crate) async fn lift_ban(
    State(st): State<AppState>,
    p: Principal,
    PathParam(source): PathParam<String>,
) -> Result<Json<BanChange>, ApiError> {
    p.require(Role::Operator)?;
    p.require_unscoped("a ban of a source address")?;
    let ip: IpAddr = source.trim().parse().map_err(|_| {
        ApiError::Unprocessable(format!("\"{source}\" is not an IPv4 or IPv6 address"))
    })?;
    let lifted = st.db(move |s| s.lift_ban(ip)).await?;
    if !lifted {
        return Err(ApiError::NotFound(format!("{ip} is not banned")));
    }
    st.audit(&p, "", "ban.lift", format!("{ip}")).await?;
    let sync = st.handle.sync_store().await?;
    Ok(Json(BanChange {
        ban: None,
        sync: sync.into(),
    }))
}

// ---- kill switches -------------------------------------------------------------------------------------

#[utoipa::path(get, path = "/api/v1/kill-switches", tag = "kill switches", params(KillSwitchQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Kill switches in force (or the history) that concern the token's tenants", body = [KillSwitchView]),
        (status = 401, description = "No valid token", body = ErrorBody)))]
pub(crate) async fn list_kill_switches(
    State(st): State<AppState>,
    p: Principal,
    Params(q): Params<KillSwitchQuery>,
) -> Result<Json<Vec<KillSwitchView>>, ApiError> {
    let history = q.history;
    let rows = st
        .db(move |s| s.kill_switch_history(!history, 10_000))
        .await?;
    Ok(Json(
        rows.iter()
            .filter(|r| switch_visible(&p, &r.switch.scope))
            .map(|r| {
                let lifted = r
                    .lifted_at
                    .map(|a| (a, r.lifted_by.clone().unwrap_or_default()));
                kill_switch_view(&r.switch, lifted)
            })
            .collect(),
    ))
}

#[utoipa::path(post, path = "/api/v1/kill-switches", tag = "kill switches", security(("bearer" = [])),
    request_body = KillSwitchRequest,
    responses(
        (status = 201, description = "In force: calls in progress in the scope were ended before this answer", body = KillSwitchChange),
        (status = 400, description = "Malformed body", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Viewer, another tenant, or scope all with a scoped token", body = ErrorBody),
        (status = 422, description = "Unknown tenant or class, missing reason", body = ErrorBody)))]
pub(crate) async fn set_kill_switch(
    State(st): State<AppState>,
    p: Principal,
    JsonBody(req): JsonBody<KillSwitchRequest>,
) -> Result<(StatusCode, Json<KillSwitchChange>), ApiError> {
    p.require(Role::Operator)?;
    // The scope is checked against the token before the tenant's existence, so that a scoped token learns
    // nothing about other tenants.
    let claimed = match (req.scope, req.tenant.as_deref()) {
        (ScopeKind::All, _) => BarScope::All,
        (_, Some(t)) => BarScope::Tenant {
            tenant: t.trim().to_owned(),
        },
        (_, None) => BarScope::Tenant {
            tenant: String::new(),
        },
    };
    may_act_on_scope(&p, &claimed)?;
    let scope = st.scope_of(req.scope, req.tenant.as_deref(), req.account.as_deref())?;
    let classes = parse_classes(&req.classes)?;
    if classes == ClassSet::EMPTY {
        return Err(ApiError::Unprocessable(
            "name at least one destination class to bar (e.g. international)".into(),
        ));
    }
    let why = why(&req.why, "why is this scope barred")?;
    let now = st.engine_now().await?;
    let mut ks = KillSwitch {
        id: 0,
        scope: scope.clone(),
        classes,
        since: now,
        by: p.who(),
        why: why.clone(),
    };
    let k2 = ks.clone();
    let id = st.db(move |s| s.put_kill_switch(&k2)).await?;
    ks.id = u64::try_from(id).unwrap_or(0);
    st.audit(
        &p,
        scope_tenant(&scope),
        "kill_switch.set",
        format!("#{id} {scope}: bars {classes}: {why}"),
    )
    .await?;
    let sync = st.handle.sync_store().await?;
    Ok((
        StatusCode::CREATED,
        Json(KillSwitchChange {
            switch: Some(kill_switch_view(&ks, None)),
            lifted: 0,
            sync: sync.into(),
        }),
    ))
}

#[utoipa::path(post, path = "/api/v1/kill-switches/lift", tag = "kill switches", security(("bearer" = [])),
    request_body = KillSwitchLift,
    responses(
        (status = 200, description = "Lifted and enforced", body = KillSwitchChange),
        (status = 400, description = "Malformed body", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Viewer, another tenant, or scope all with a scoped token", body = ErrorBody),
        (status = 404, description = "No kill switch in force for that scope", body = ErrorBody),
        (status = 422, description = "Unknown tenant or class", body = ErrorBody)))]
pub(crate) async fn lift_kill_switches(
    State(st): State<AppState>,
    p: Principal,
    JsonBody(req): JsonBody<KillSwitchLift>,
) -> Result<Json<KillSwitchChange>, ApiError> {
    p.require(Role::Operator)?;
    let claimed = match (req.scope, req.tenant.as_deref()) {
        (ScopeKind::All, _) => BarScope::All,
        (_, t) => BarScope::Tenant {
            tenant: t.unwrap_or("").trim().to_owned(),
        },
    };
    may_act_on_scope(&p, &claimed)?;
    let scope = st.scope_of(req.scope, req.tenant.as_deref(), req.account.as_deref())?;
    let classes = match &req.classes {
        None => None,
        Some(c) => Some(parse_classes(c)?),
    };
    let now = st.engine_now().await?;
    let (s2, by) = (scope.clone(), p.who());
    let n = st
        .db(move |s| s.lift_kill_switches(&s2, classes, now, &by))
        .await?;
    if n == 0 {
        return Err(ApiError::NotFound(format!(
            "no kill switch in force for {scope}{}",
            classes
                .map(|c| format!(" barring exactly {c}"))
                .unwrap_or_default()
        )));
    }
    let reason = req.why.trim();
    st.audit(
        &p,
        scope_tenant(&scope),
        "kill_switch.lift",
        format!("{n} switch(es) of {scope}: {reason}"),
    )
    .await?;
    let sync = st.handle.sync_store().await?;
    Ok(Json(KillSwitchChange {
        switch: None,
        lifted: n,
        sync: sync.into(),
    }))
}

#[utoipa::path(delete, path = "/api/v1/kill-switches/{id}", tag = "kill switches", security(("bearer" = [])),
    params(("id" = u64, Path, description = "Kill switch id")),
    responses(
        (status = 200, description = "Lifted and enforced", body = KillSwitchChange),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Viewer, or scope all with a scoped token", body = ErrorBody),
        (status = 404, description = "No such kill switch in force (for this token)", body = ErrorBody)))]
pub(crate) async fn lift_kill_switch(
    State(st): State<AppState>,
    p: Principal,
    PathParam(id): PathParam<u64>,
) -> Result<Json<KillSwitchChange>, ApiError> {
    p.require(Role::Operator)?;
    let active = st.db(|s| s.active_kill_switches()).await?;
    let Some(ks) = active
        .into_iter()
        .find(|k| k.id == id && switch_visible(&p, &k.scope))
    else {
        return Err(ApiError::NotFound(format!("no kill switch {id} in force")));
    };
    may_act_on_scope(&p, &ks.scope)?;
    let now = st.engine_now().await?;
    let by = p.who();
    let lifted = st.db(move |s| s.lift_kill_switch(id, now, &by)).await?;
    if !lifted {
        return Err(ApiError::NotFound(format!("no kill switch {id} in force")));
    }
    st.audit(
        &p,
        scope_tenant(&ks.scope),
        "kill_switch.lift",
        format!("#{id} {}: bars {}", ks.scope, ks.classes),
    )
    .await?;
    let sync = st.handle.sync_store().await?;
    Ok(Json(KillSwitchChange {
        switch: None,
        lifted: 1,
        sync: sync.into(),
    }))
}

// ---- calls, accounts -----------------------------------------------------------------------------------

async fn visible_calls(
    st: &AppState,
    p: &Principal,
    tenant: Option<&str>,
) -> Result<Vec<guard::CallInfo>, ApiError> {
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

// ---- policy --------------------------------------------------------------------------------------------

#[utoipa::path(get, path = "/api/v1/policy", tag = "policy", security(("bearer" = [])),
    responses(
        (status = 200, description = "The policy in force and where it comes from", body = PolicyView),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "The token has a tenant scope", body = ErrorBody)))]
pub(crate) async fn show_policy(
    State(st): State<AppState>,
    p: Principal,
) -> Result<Json<PolicyView>, ApiError> {
    p.require_unscoped("the policy")?;
    let settings = st.handle.settings();
    let view = match &settings.policy_source {
        guard::config::PolicySource::Default => PolicyView {
            source: "default".into(),
            path: None,
            text: None,
        },
        guard::config::PolicySource::File(path) => PolicyView {
            source: "file".into(),
            path: Some(path.display().to_string()),
            text: std::fs::read_to_string(path).ok(),
        },
        guard::config::PolicySource::Inline => {
            // Only the [policy] table: the rest of the file may hold secrets (SMTP passwords).
            let path = st.config.config_path.clone();
            let text = path
                .as_ref()
                .and_then(|p| std::fs::read_to_string(p).ok())
                .and_then(|t| t.parse::<toml::Table>().ok())
                .and_then(|t| t.get("policy").cloned())
                .and_then(|v| toml::to_string_pretty(&v).ok());
            PolicyView {
                source: "inline".into(),
                path: path.map(|p| p.display().to_string()),
                text,
            }
        }
    };
    Ok(Json(view))
}

#[utoipa::path(post, path = "/api/v1/policy/validate", tag = "policy", security(("bearer" = [])),
    request_body(content = String, description = "A policy file (TOML text; any content type)", content_type = "text/plain"),
    responses(
        (status = 200, description = "The policy is valid", body = PolicyCheck),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "The token's role is viewer", body = ErrorBody),
        (status = 422, description = "The policy has an error (with its line and column)", body = PolicyCheck)))]
pub(crate) async fn validate_policy(
    p: Principal,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    p.require(Role::Operator)?;
    let Ok(text) = std::str::from_utf8(&body) else {
        return Err(ApiError::BadRequest("the policy is not UTF-8 text".into()));
    };
    let check = match engine::Policy::from_toml_str(text) {
        Ok(_) => PolicyCheck {
            valid: true,
            error: None,
            line: None,
            column: None,
        },
        Err(e) => {
            let (line, column) = match &e {
                engine::PolicyError::Syntax { line, column, .. } => (Some(*line), Some(*column)),
                engine::PolicyError::Invalid(_) => (None, None),
            };
            PolicyCheck {
                valid: false,
                error: Some(e.to_string()),
                line,
                column,
            }
        }
    };
    let status = if check.valid {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    Ok((status, Json(check)).into_response())
}

#[utoipa::path(post, path = "/api/v1/policy/reload", tag = "policy", security(("bearer" = [])),
    responses(
        (status = 200, description = "The guard reads the policy again from its configuration", body = Reloaded),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Viewer, or a token with a tenant scope", body = ErrorBody),
        (status = 422, description = "The new policy has errors; the old one stays in force", body = ErrorBody)))]
pub(crate) async fn reload_policy(
    State(st): State<AppState>,
    p: Principal,
) -> Result<Json<Reloaded>, ApiError> {
    p.require(Role::Operator)?;
    p.require_unscoped("the policy")?;
    match st.handle.reload_policy().await {
        Ok(()) => {
            st.audit(&p, "", "policy.reload", "policy reloaded".into())
                .await?;
            Ok(Json(Reloaded { reloaded: true }))
        }
        Err(e) => {
            st.audit(&p, "", "policy.reload", format!("refused: {e}"))
                .await?;
            Err(e.into())
        }
    }
}

// ---- audit ---------------------------------------------------------------------------------------------

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

// ---- tokens --------------------------------------------------------------------------------------------

/// Whether token `p` may see/manage a token of scope `tenants`: unscoped admins all; scoped admins only
/// tokens scoped within their own tenants.
fn manages(p: &Principal, tenants: &Option<Vec<String>>) -> bool {
    match (&p.tenants, tenants) {
        (None, _) => true,
        (Some(_), None) => false,
        (Some(_), Some(list)) => list.iter().all(|t| p.sees(t)),
    }
}

#[utoipa::path(get, path = "/api/v1/tokens", tag = "tokens", security(("bearer" = [])),
    responses(
        (status = 200, description = "Tokens (never their secrets)", body = [TokenView]),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody)))]
pub(crate) async fn list_tokens(
    State(st): State<AppState>,
    p: Principal,
) -> Result<Json<Vec<TokenView>>, ApiError> {
    p.require(Role::Admin)?;
    let tokens = with_store(&st.token_store, |s| s.tokens()).await?;
    Ok(Json(
        tokens
            .into_iter()
            .filter(|t| manages(&p, &t.tenants))
            .map(|t| TokenView {
                role: Role::parse(&t.role).unwrap_or(Role::Viewer),
                id: t.id,
                tenants: t.tenants,
                label: t.label,
                created_at: t.created_at,
                created_by: t.created_by,
                revoked_at: t.revoked_at,
                revoked_by: t.revoked_by,
            })
            .collect(),
    ))
}

#[utoipa::path(post, path = "/api/v1/tokens", tag = "tokens", security(("bearer" = [])), request_body = TokenRequest,
    responses(
        (status = 201, description = "Created; the token is in this answer only", body = TokenCreated),
        (status = 400, description = "Malformed body", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Not an admin, or a scope wider than the creator's", body = ErrorBody),
        (status = 422, description = "Unknown tenant, empty tenant list or label", body = ErrorBody)))]
pub(crate) async fn create_token(
    State(st): State<AppState>,
    p: Principal,
    JsonBody(req): JsonBody<TokenRequest>,
) -> Result<(StatusCode, Json<TokenCreated>), ApiError> {
    p.require(Role::Admin)?;
    if !manages(&p, &req.tenants) {
        return Err(ApiError::Forbidden(
            "a token may only be given tenants its creator has".into(),
        ));
    }
    let label = req.label.trim().to_owned();
    if label.is_empty() || label.chars().count() > 200 {
        return Err(ApiError::Unprocessable(
            "give the token a label of 1 to 200 characters (who or what it is for)".into(),
        ));
    }
    if let Some(list) = &req.tenants {
        if list.is_empty() {
            return Err(ApiError::Unprocessable(
                "a tenant scope needs at least one tenant; omit \"tenants\" for every tenant"
                    .into(),
            ));
        }
        if let Some(t) = list.iter().find(|t| t.is_empty() || !st.tenant_exists(t)) {
            return Err(ApiError::Unprocessable(format!(
                "no tenant \"{t}\" in the guard's configuration"
            )));
        }
    }
    let t = new_token().map_err(|e| ApiError::Internal(format!("no random numbers: {e}")))?;
    let now = wall_ms();
    let (id, hash, role, tenants, l2, by) = (
        t.id.clone(),
        t.hash_hex.clone(),
        req.role,
        req.tenants.clone(),
        label.clone(),
        p.id.clone(),
    );
    with_store(&st.token_store, move |s| {
        s.insert_token(
            &id,
            &hash,
            role.as_str(),
            tenants.as_deref(),
            &l2,
            (now, &by),
        )
    })
    .await?;
    let mut hash = [0u8; 32];
    hex::decode_to_slice(&t.hash_hex, &mut hash)
        .map_err(|e| ApiError::Internal(format!("token hash: {e}")))?;
    st.tokens.insert(TokenEntry {
        hash,
        principal: Principal {
            id: t.id.clone(),
            label: label.clone(),
            role: req.role,
            tenants: req.tenants.clone(),
        },
        revoked: false,
    });
    let scope = match &req.tenants {
        None => "every tenant".to_owned(),
        Some(l) => l.join(", "),
    };
    st.audit(
        &p,
        "",
        "token.create",
        format!("{} ({}, {scope}): {label}", t.id, req.role.as_str()),
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(TokenCreated {
            id: t.id,
            token: t.text,
            role: req.role,
            tenants: req.tenants,
            label,
        }),
    ))
}

#[utoipa::path(delete, path = "/api/v1/tokens/{id}", tag = "tokens", security(("bearer" = [])),
    params(("id" = String, Path, description = "Token id (the part after tg_)")),
    responses(
        (status = 200, description = "Revoked: refused from now on", body = TokenView),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 404, description = "No such active token (for this admin)", body = ErrorBody)))]
pub(crate) async fn revoke_token(
    State(st): State<AppState>,
    p: Principal,
    PathParam(id): PathParam<String>,
) -> Result<Json<TokenView>, ApiError> {
    p.require(Role::Admin)?;
    let id2 = id.clone();
    let found = with_store(&st.token_store, move |s| s.token(&id2)).await?;
    let Some(t) = found.filter(|t| t.revoked_at.is_none() && manages(&p, &t.tenants)) else {
        return Err(ApiError::NotFound(format!("no active token {id}")));
    };
    let now = wall_ms();
    let (id2, by) = (id.clone(), p.id.clone());
    let done = with_store(&st.token_store, move |s| s.revoke_token(&id2, now, &by)).await?;
    if !done {
        return Err(ApiError::NotFound(format!("no active token {id}")));
    }
    st.tokens.revoke(&id);
    st.audit(&p, "", "token.revoke", format!("{id} ({})", t.label))
        .await?;
    Ok(Json(TokenView {
        role: Role::parse(&t.role).unwrap_or(Role::Viewer),
        id: t.id,
        tenants: t.tenants,
        label: t.label,
        created_at: t.created_at,
        created_by: t.created_by,
        revoked_at: Some(now),
        revoked_by: Some(p.id.clone()),
    }))
}

// ---- live events ---------------------------------------------------------------------------------------

#[utoipa::path(get, path = "/api/v1/events", tag = "events", security(("bearer" = [])),
    responses(
        (status = 200, description = "Server-sent events: `decision`, `call`, `call_answered`, `call_ended` (JSON data), of the token's tenants; `lagged` when the reader fell behind", body = String, content_type = "text/event-stream"),
        (status = 401, description = "No valid token", body = ErrorBody)))]
pub(crate) async fn events(
    State(st): State<AppState>,
    p: Principal,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let rx = st.handle.subscribe();
    let stop = st.stop.clone();
    let stream = futures_util::stream::unfold((rx, p, stop), |(mut rx, p, mut stop)| async move {
        loop {
            if *stop.borrow() {
                return None;
            }
            let got = tokio::select! {
                r = rx.recv() => r,
                _ = stop.changed() => return None,
            };
            match got {
                Ok(e) => {
                    if !p.sees(e.tenant()) {
                        continue;
                    }
                    let data = serde_json::to_string(&e).unwrap_or_default();
                    let name = match &e {
                        guard::LiveEvent::Decision { .. } => "decision",
                        guard::LiveEvent::Call { .. } => "call",
                        guard::LiveEvent::CallAnswered { .. } => "call_answered",
                        guard::LiveEvent::CallEnded { .. } => "call_ended",
                    };
                    return Some((Ok(Event::default().event(name).data(data)), (rx, p, stop)));
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                    let ev = Event::default()
                        .event("lagged")
                        .data(format!("{{\"missed\":{n}}}"));
                    return Some((Ok(ev), (rx, p, stop)));
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
            }
        }
    });
    Sse::new(stream).keep_alive(KeepAlive::default())
}
