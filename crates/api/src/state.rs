//! What every request handler shares (the guard's handle, the store, the tokens, the limiter, the metrics),
//! and the extractors that turn a request into an authenticated [`Principal`] and typed inputs whose
//! rejections are JSON error sentences like every other error.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use store::{AuditEntry, Store};

use crate::auth::{LoginLimiter, Principal, Role, TokenBook};
use crate::config::ApiConfig;
use crate::error::ApiError;
use crate::metrics::Metrics;

/// The address of the peer of a connection (plain or TLS).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerAddr(pub SocketAddr);

/// Shared state of the API.
#[derive(Clone)]
pub(crate) struct AppState(pub Arc<Inner>);

pub(crate) struct Inner {
    pub handle: decide::control::GuardHandle,
    pub config: ApiConfig,
    /// The guard's store (alerts, bans, kill switches, audit log).
    pub store: Arc<Mutex<Store>>,
    /// Where tokens are kept: the same store unless `[api] token_file` says otherwise.
    pub token_store: Arc<Mutex<Store>>,
    pub tokens: TokenBook,
    pub limiter: LoginLimiter,
    pub metrics: Arc<Metrics>,
    /// The dial plan, for the decision API's failure mode (an emergency call always goes).
    pub numbering: Arc<numbering::Numbering>,
    /// Becomes true at shutdown: event streams end so that the server can stop.
    pub stop: tokio::sync::watch::Receiver<bool>,
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

/// Milliseconds since the Unix epoch, wall clock (audit log, acknowledgements, tokens).
pub(crate) fn wall_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Runs a store operation on the blocking pool (SQLite waits for the disk: `synchronous=FULL`).
pub(crate) async fn with_store<T: Send + 'static>(
    store: &Arc<Mutex<Store>>,
    f: impl FnOnce(&mut Store) -> Result<T, store::StoreError> + Send + 'static,
) -> Result<T, ApiError> {
    let store = store.clone();
    tokio::task::spawn_blocking(move || {
        let mut s = store
            .lock()
            .map_err(|_| ApiError::Internal("the store lock is poisoned".into()))?;
        f(&mut s).map_err(ApiError::from)
    })
    .await
    .map_err(|e| ApiError::Internal(format!("store task failed: {e}")))?
}

impl AppState {
    pub async fn db<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Store) -> Result<T, store::StoreError> + Send + 'static,
    ) -> Result<T, ApiError> {
        with_store(&self.store, f).await
    }

    /// Appends to the audit log: who (token id), which tenant ("" for none or all), what, details.
    pub async fn audit(
        &self,
        who: &Principal,
        tenant: &str,
        action: &str,
        detail: String,
    ) -> Result<(), ApiError> {
        let e = AuditEntry {
            at: wall_ms(),
            actor: who.id.clone(),
            tenant: tenant.to_owned(),
            action: action.to_owned(),
            detail,
        };
        tracing::info!(actor = %e.actor, tenant = %e.tenant, action = %e.action, detail = %e.detail, "operator change");
        self.db(move |s| s.audit(&e)).await
    }

    /// The engine's clock now (it may run faster than the wall clock in tests and demos): bans and kill
    /// switches are dated on it, as the engine compares them with it.
    pub async fn engine_now(&self) -> Result<i64, ApiError> {
        Ok(self.handle.status().await?.now)
    }
}

impl Principal {
    pub(crate) fn require(&self, role: Role) -> Result<(), ApiError> {
        if self.role >= role {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!(
                "this needs the {} role; the token has the {} role",
                role.as_str(),
                self.role.as_str()
            )))
        }
    }

    pub(crate) fn require_unscoped(&self, what: &str) -> Result<(), ApiError> {
        if self.is_unscoped() {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!(
                "{what} concerns every tenant: it needs a token without a tenant scope"
            )))
        }
    }

    /// 404 for a tenant this token may not see (the tenant's existence is not revealed).
    pub(crate) fn visible(&self, tenant: &str) -> Result<(), ApiError> {
        if self.sees(tenant) {
            Ok(())
        } else {
            Err(ApiError::NotFound(format!("no tenant \"{tenant}\"")))
        }
    }

    /// The tenants to query: the one asked for (if visible), else all this token sees (`None` = all).
    pub(crate) fn tenants_to_query(
        &self,
        asked: Option<&str>,
    ) -> Result<Option<Vec<String>>, ApiError> {
        match (asked, &self.tenants) {
            (Some(t), _) => {
                self.visible(t)?;
                Ok(Some(vec![t.to_owned()]))
            }
            (None, None) => Ok(None),
            (None, Some(list)) => Ok(Some(list.clone())),
        }
    }
}

/// The routes a `decider` token may use.
fn decider_path(path: &str) -> bool {
    path == "/api/v1/decide"
        || path
            .strip_prefix("/api/v1/calls/")
            .is_some_and(|rest| rest.ends_with("/answered") || rest.ends_with("/ended"))
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let peer = parts
            .extensions
            .get::<axum::extract::ConnectInfo<PeerAddr>>()
            .map(|c| c.0.0);
        let ip = peer.map(|p| p.ip());
        let now = Instant::now();
        if let Some(ip) = ip
            && let Err(wait) = state.limiter.check(ip, now)
        {
            state.metrics.auth_failure();
            return Err(ApiError::TooManyFailures {
                retry_after_secs: wait.as_secs().max(1),
            });
        }
        let Some(value) = parts.headers.get(header::AUTHORIZATION) else {
            state.metrics.auth_failure();
            return Err(ApiError::Unauthorized(
                "this needs a token: send the header \"Authorization: Bearer tg_…\"".into(),
            ));
        };
        let text = value
            .to_str()
            .ok()
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim);
        let result = match text {
            Some(t) => state.tokens.verify(t),
            None => Err((crate::auth::Refusal::Malformed, None)),
        };
        match result {
            Ok(p) if p.role == crate::auth::Role::Decider && !decider_path(parts.uri.path()) => {
                Err(ApiError::Forbidden(
                    "a decider token may only decide calls and report their answer and end".into(),
                ))
            }
            Ok(p) => Ok(p),
            Err((why, id)) => {
                state.metrics.auth_failure();
                if let Some(ip) = ip {
                    state.limiter.failed(ip, now);
                }
                tracing::warn!(
                    peer = %peer.map(|p| p.to_string()).unwrap_or_default(),
                    token_id = %id.unwrap_or_default(),
                    reason = why.as_str(),
                    "API authentication failed"
                );
                Err(ApiError::Unauthorized(
                    "the token is not valid (wrong, revoked or mistyped)".into(),
                ))
            }
        }
    }
}

/// A JSON body whose rejection is a JSON error sentence.
pub(crate) struct JsonBody<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(JsonBody(v)),
            Err(e) => Err(ApiError::BadRequest(format!(
                "the request body is not what this endpoint takes: {}",
                e.body_text()
            ))),
        }
    }
}

/// Query parameters whose rejection is a JSON error sentence.
pub(crate) struct Params<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Params<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(Params(v)),
            Err(e) => Err(ApiError::BadRequest(format!(
                "bad query parameters: {}",
                e.body_text()
            ))),
        }
    }
}

/// A path parameter whose rejection is a JSON error sentence.
pub(crate) struct PathParam<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for PathParam<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(v)) => Ok(PathParam(v)),
            Err(e) => Err(ApiError::BadRequest(format!(
                "bad path parameter: {}",
                e.body_text()
            ))),
        }
    }
}
