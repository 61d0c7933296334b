//! The fraud policy: show the one in force, validate a candidate, reload from the file.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::auth::{Principal, Role};
use crate::dto::*;
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;

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
    let view = match &st.handle.view().policy_source {
        decide::control::PolicySource::Default => PolicyView {
            source: "default".into(),
            path: None,
            text: None,
        },
        decide::control::PolicySource::File(path) => PolicyView {
            source: "file".into(),
            path: Some(path.display().to_string()),
            text: std::fs::read_to_string(path).ok(),
        },
        decide::control::PolicySource::Inline => {
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
