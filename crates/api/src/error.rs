//! Errors: what a request gets back (`{"error": "<sentence>"}` with the fitting status) and why the API
//! could not start.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The body of every error response.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    /// One sentence saying what was wrong and, where it helps, what to do.
    pub error: String,
}

/// A request that could not be served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiError {
    /// 400: the request itself is malformed.
    BadRequest(String),
    /// 401: no valid token.
    Unauthorized(String),
    /// 403: the token is valid but may not do this.
    Forbidden(String),
    /// 404: no such thing (or not visible to this token).
    NotFound(String),
    /// 409: the thing is not in a state that allows this (already acknowledged…).
    Conflict(String),
    /// 422: well-formed but not acceptable (unknown tenant, invalid policy…).
    Unprocessable(String),
    /// 429: too many failed authentications from this address.
    TooManyFailures { retry_after_secs: u64 },
    /// 503: the guard is not running.
    Unavailable(String),
    /// 500: the store failed; the sentence is logged, the caller gets a generic one.
    Internal(String),
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::TooManyFailures { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn sentence(&self) -> String {
        match self {
            ApiError::BadRequest(s)
            | ApiError::Unauthorized(s)
            | ApiError::Forbidden(s)
            | ApiError::NotFound(s)
            | ApiError::Conflict(s)
            | ApiError::Unprocessable(s)
            | ApiError::Unavailable(s) => s.clone(),
            ApiError::TooManyFailures { retry_after_secs } => format!(
                "too many failed authentications from this address; try again in {retry_after_secs} s"
            ),
            ApiError::Internal(_) => {
                "internal error of the tollguard API (the server log says more)".into()
            }
        }
    }
}

impl From<store::StoreError> for ApiError {
    fn from(e: store::StoreError) -> Self {
        ApiError::Internal(e.to_string())
    }
}

impl From<decide::control::ControlError> for ApiError {
    fn from(e: decide::control::ControlError) -> Self {
        match e {
            decide::control::ControlError::Stopped => ApiError::Unavailable(e.to_string()),
            decide::control::ControlError::Policy(_) => ApiError::Unprocessable(e.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Internal(detail) = &self {
            tracing::error!(error = %detail, "API request failed");
        }
        let status = self.status();
        let mut resp = (
            status,
            Json(ErrorBody {
                error: self.sentence(),
            }),
        )
            .into_response();
        match &self {
            ApiError::Unauthorized(_) => {
                resp.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"tollguard\""),
                );
            }
            ApiError::TooManyFailures { retry_after_secs } => {
                if let Ok(v) = HeaderValue::from_str(&retry_after_secs.to_string()) {
                    resp.headers_mut().insert(header::RETRY_AFTER, v);
                }
            }
            _ => {}
        }
        resp
    }
}

/// Why the API could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("[api] {0}")]
    Config(String),
    #[error("[api] cannot listen on {address}: {source}")]
    Bind {
        address: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("[api] TLS: {0}")]
    Tls(String),
    #[error("[api] token store: {0}")]
    Store(#[from] store::StoreError),
    #[error("[api] cannot restrict the permissions of {path} to 0600: {source}")]
    Permissions {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("[api] no random numbers for a token: {0}")]
    Random(String),
    #[error("[api] the server stopped: {0}")]
    Io(#[from] std::io::Error),
}
