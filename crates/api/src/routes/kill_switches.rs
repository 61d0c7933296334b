//! Kill switches: bar an account, a tenant or everyone from destination classes; list, set, lift one or
//! all of a scope. Everyone (scope "all") needs an unscoped token; the guard enforces before the answer.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use engine::{BarScope, ClassSet, DestClass, KillSwitch};

use crate::auth::{Principal, Role};
use crate::dto::*;
use crate::error::{ApiError, ErrorBody};
use crate::state::{AppState, JsonBody, Params, PathParam};

use super::why;

fn class_names(c: ClassSet) -> Vec<String> {
    c.classes()
        .into_iter()
        .map(|c| c.name().to_owned())
        .collect()
}

pub(super) fn kill_switch_view(k: &KillSwitch, lifted: Option<(i64, String)>) -> KillSwitchView {
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

fn scope_tenant(s: &BarScope) -> &str {
    match s {
        BarScope::All => "",
        BarScope::Tenant { tenant } | BarScope::Account { tenant, .. } => tenant,
    }
}

/// Whether a kill switch concerns a tenant this token sees (switches for everyone concern every tenant).
pub(super) fn switch_visible(p: &Principal, s: &BarScope) -> bool {
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

impl AppState {
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
