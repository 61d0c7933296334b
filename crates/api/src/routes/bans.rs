//! Bans of source addresses: list, add, lift. Unscoped tokens only (a ban's reason may name any tenant's
//! extensions); the guard enforces the store's state before the answer.

use std::net::IpAddr;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use engine::Ban;

use crate::auth::{Principal, Role};
use crate::dto::*;
use crate::error::{ApiError, ErrorBody};
use crate::state::{AppState, JsonBody, PathParam};

use super::why;

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
    if st.handle.view().is_trusted(source) {
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
