//! API tokens: list, create, revoke (admins; a scoped admin only within its own tenants).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;

use crate::auth::{Principal, Role, TokenEntry, new_token};
use crate::dto::*;
use crate::error::{ApiError, ErrorBody};
use crate::state::{AppState, JsonBody, PathParam, wall_ms, with_store};

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
