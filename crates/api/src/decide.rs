//! The HTTP decision front end: an SBC, PBX or softswitch that keeps its own call path asks per call
//! (`POST /api/v1/decide`) and reports the calls it was allowed (`/api/v1/calls/{id}/answered`, `/ended`).
//! Tokens of the `decider` role may call these and nothing else; a token scoped to tenants decides and reports
//! only for them. When the guard does not answer in time, the configured failure mode answers instead
//! (`[api] decide_fail`): "closed" refuses, "open" allows — emergency numbers are allowed either way.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::{Principal, Role};
use crate::error::ApiError;
use crate::notify::Lang;
use crate::notify::wording;
use crate::state::{AppState, PathParam};

/// What happens when the guard cannot decide in time (stopped, overloaded).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FailMode {
    /// Refuse the call: no fraud gets through while tollguard is down, and no call either (but emergency).
    #[default]
    Closed,
    /// Allow the call: calls go on while tollguard is down, unchecked.
    Open,
}

/// A call attempt to decide.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecideBody {
    /// The querier's Call-ID (it reports the call's answer and end under it).
    pub call_id: String,
    /// The tenant; may be left out when the token is scoped to one tenant or `source` names its PBX.
    #[serde(default)]
    pub tenant: Option<String>,
    /// The address of the PBX or SBC that places the call (`ip` or `ip:port`), for tenants found by network.
    #[serde(default)]
    pub source: Option<String>,
    /// The extension or account placing the call.
    pub account: String,
    /// The caller number presented (for the caller-ID check).
    #[serde(default)]
    pub caller: Option<String>,
    /// The number as dialed (`#010…`, `0033010…` and the like are read as the user pressed them).
    pub dialed: String,
    /// A `phone-context` to read the dialed string in (e.g. "+1").
    #[serde(default)]
    pub phone_context: Option<String>,
    #[serde(default)]
    pub user_agent: Option<String>,
}

/// Money at stake.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AtStake {
    /// In the currency's minor-free units with three decimals kept (`millis` / 1000).
    pub amount: f64,
    pub currency: String,
    /// Formatted for people ("¥1,200").
    pub text: String,
}

/// The verdict.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DecideAnswer {
    pub allow: bool,
    /// The SIP status to refuse with (0 when allowed).
    pub status: u16,
    /// Why, for the admin, in English and Japanese (null when allowed without a warning).
    pub reason: Option<String>,
    pub reason_ja: Option<String>,
    /// The rule that refused the call or warned.
    pub rule: Option<String>,
    pub at_stake: Option<AtStake>,
    pub tenant: String,
    pub emergency: bool,
    /// "decided", or "fail_open" / "fail_closed" when the guard could not decide in time.
    pub source: &'static str,
}

/// What a querier reports when its call ended.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EndedBody {
    /// Seconds billed (from the answer); left out: counted from the reported answer.
    #[serde(default)]
    pub billable_secs: Option<u32>,
    /// "normal", "busy", "no_answer", "cancelled", "failed".
    #[serde(default)]
    pub cause: Option<String>,
}

/// Whether a token may use the decision front end: the decider role, or an operator (or admin).
fn may_decide(p: &Principal) -> Result<(), ApiError> {
    if p.role == Role::Decider || p.role >= Role::Operator {
        Ok(())
    } else {
        Err(ApiError::Forbidden(
            "this needs a token of the decider (or operator) role".into(),
        ))
    }
}

/// The tenant a query is for, within the token's scope. Unscoped tokens may name any tenant or none.
fn tenant_of(p: &Principal, named: Option<String>) -> Result<Option<String>, ApiError> {
    match (named, p.tenants.as_deref()) {
        (Some(t), _) if p.sees(&t) => Ok(Some(t)),
        (Some(t), _) => Err(ApiError::NotFound(format!("no tenant \"{t}\""))),
        (None, Some([only])) => Ok(Some(only.clone())),
        (None, Some(_)) => Err(ApiError::BadRequest(
            "this token decides for several tenants: say which in \"tenant\"".into(),
        )),
        (None, None) => Ok(None),
    }
}

fn parse_source(s: Option<&str>) -> Result<Option<std::net::SocketAddr>, ApiError> {
    let Some(s) = s.map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    if let Ok(a) = s.parse() {
        return Ok(Some(a));
    }
    s.parse::<std::net::IpAddr>()
        .map(|ip| Some(std::net::SocketAddr::new(ip, 0)))
        .map_err(|_| ApiError::BadRequest(format!("source \"{s}\" is not an address")))
}

/// Bounds on what a querier may send: a decision is cheap, its inputs must stay so.
fn check_sizes(b: &DecideBody) -> Result<(), ApiError> {
    let fields = [
        ("call_id", b.call_id.as_str()),
        ("account", b.account.as_str()),
        ("dialed", b.dialed.as_str()),
    ];
    for (name, v) in fields {
        if v.len() > 256 || v.chars().any(char::is_control) {
            return Err(ApiError::BadRequest(format!(
                "{name} must be at most 256 characters without control characters"
            )));
        }
    }
    if b.call_id.trim().is_empty() {
        return Err(ApiError::BadRequest("call_id is empty".into()));
    }
    Ok(())
}

#[utoipa::path(post, path = "/api/v1/decide", request_body = DecideBody,
    responses((status = 200, body = DecideAnswer)), tag = "decide")]
pub(crate) async fn decide(
    State(st): State<AppState>,
    p: Principal,
    Json(body): Json<DecideBody>,
) -> Result<Json<DecideAnswer>, ApiError> {
    may_decide(&p)?;
    check_sizes(&body)?;
    let tenant = tenant_of(&p, body.tenant.clone())?;
    let request = decide::control::DecideRequest {
        call_id: body.call_id.clone(),
        tenant: tenant.clone(),
        source: parse_source(body.source.as_deref())?,
        account: body.account.clone(),
        caller: body.caller.clone(),
        dialed: body.dialed.clone(),
        phone_context: body.phone_context.clone(),
        user_agent: body.user_agent.clone().unwrap_or_default(),
    };
    let timeout = Duration::from_millis(st.config.decide_timeout_ms.max(1));
    match tokio::time::timeout(timeout, st.handle.decide(request)).await {
        Ok(Ok(v)) => Ok(Json(answer(&v))),
        Ok(Err(e)) => Ok(Json(fallback(&st, &body, tenant, &e.to_string()))),
        Err(_) => Ok(Json(fallback(
            &st,
            &body,
            tenant,
            "tollguard did not decide in time",
        ))),
    }
}

fn answer(v: &decide::CallVerdict) -> DecideAnswer {
    let d = v.decision.as_ref();
    DecideAnswer {
        allow: v.allowed,
        status: v.status,
        reason: v.reason.clone(),
        reason_ja: d.map(|d| wording::headline(d, &v.tenant, Lang::Ja)),
        rule: d.map(|d| d.rule.to_string()),
        at_stake: d.and_then(|d| d.at_stake.as_ref()).map(|a| AtStake {
            amount: a.millis as f64 / 1000.0,
            currency: String::from_utf8_lossy(&a.currency.0).into_owned(),
            text: wording::format_money(a, Lang::En),
        }),
        tenant: v.tenant.clone(),
        emergency: v.emergency,
        source: "decided",
    }
}

/// The answer when the guard cannot decide: the configured failure mode, but an emergency call always goes.
fn fallback(st: &AppState, b: &DecideBody, tenant: Option<String>, why: &str) -> DecideAnswer {
    let emergency = st.numbering.classify(&b.dialed).is_emergency();
    let open = st.config.decide_fail == FailMode::Open || emergency;
    st.metrics.decide_fallback();
    tracing::warn!(call_id = %b.call_id, why, open, "call attempt answered by the failure mode");
    DecideAnswer {
        allow: open,
        status: if open { 0 } else { 503 },
        reason: Some(format!(
            "{why}; [api] decide_fail = \"{}\"{}",
            if st.config.decide_fail == FailMode::Open {
                "open"
            } else {
                "closed"
            },
            if emergency {
                " (an emergency call always goes)"
            } else {
                ""
            }
        )),
        reason_ja: None,
        rule: None,
        at_stake: None,
        tenant: tenant.unwrap_or_default(),
        emergency,
        source: if open { "fail_open" } else { "fail_closed" },
    }
}

#[utoipa::path(post, path = "/api/v1/calls/{call_id}/answered",
    responses((status = 204), (status = 404)), tag = "decide")]
pub(crate) async fn answered(
    State(st): State<AppState>,
    p: Principal,
    PathParam(call_id): PathParam<String>,
) -> Result<axum::http::StatusCode, ApiError> {
    may_decide(&p)?;
    report(&st, &p, call_id, decide::control::Progress::Answered).await
}

#[utoipa::path(post, path = "/api/v1/calls/{call_id}/ended", request_body = EndedBody,
    responses((status = 204), (status = 404)), tag = "decide")]
pub(crate) async fn ended(
    State(st): State<AppState>,
    p: Principal,
    PathParam(call_id): PathParam<String>,
    body: axum::body::Bytes,
) -> Result<axum::http::StatusCode, ApiError> {
    may_decide(&p)?;
    let b: EndedBody = if body.iter().all(u8::is_ascii_whitespace) {
        EndedBody::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| {
            ApiError::BadRequest(format!(
                "the body should be {{\"billable_secs\": 30, \"cause\": \"normal\"}}: {e}"
            ))
        })?
    };
    let cause = match b.cause.as_deref().unwrap_or("normal") {
        "normal" => engine::EndCause::Normal,
        "busy" => engine::EndCause::Busy,
        "no_answer" => engine::EndCause::NoAnswer,
        "cancelled" => engine::EndCause::Cancelled,
        "failed" => engine::EndCause::Failed,
        other => {
            return Err(ApiError::BadRequest(format!(
                "cause \"{other}\" is not one of normal, busy, no_answer, cancelled, failed"
            )));
        }
    };
    let progress = decide::control::Progress::Ended {
        billable_secs: b.billable_secs,
        cause,
    };
    report(&st, &p, call_id, progress).await
}

async fn report(
    st: &AppState,
    p: &Principal,
    call_id: String,
    progress: decide::control::Progress,
) -> Result<axum::http::StatusCode, ApiError> {
    let known = st
        .handle
        .progress(call_id.clone(), p.tenants.clone(), progress)
        .await?;
    if known {
        Ok(axum::http::StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound(format!(
            "no call \"{call_id}\" decided for this token's tenants"
        )))
    }
}
