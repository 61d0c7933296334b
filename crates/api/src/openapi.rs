//! The OpenAPI 3 document of the API, generated from the handlers' annotations (utoipa). Served at
//! `/api/v1/openapi.json` and committed as `crates/api/openapi.json`; a test fails when they differ.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::routes;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "tollguard operator API",
        description = "Control of a running tollguard: alerts, bans, kill switches, calls in progress, \
policy, counters, live events and metrics. Every endpoint but /health and this document needs \
`Authorization: Bearer tg_<id>_<secret>`. Roles: viewer < operator < admin; a token may be limited to \
some tenants. Errors are {\"error\": \"<sentence>\"}. See docs/api.md.",
        license(name = "Apache-2.0")
    ),
    paths(
        routes::status::health,
        routes::status::openapi,
        routes::status::status,
        routes::status::metrics,
        routes::alerts::list_alerts,
        routes::alerts::get_alert,
        routes::alerts::ack_alert,
        routes::bans::list_bans,
        routes::bans::add_ban,
        routes::bans::lift_ban,
        routes::kill_switches::list_kill_switches,
        routes::kill_switches::set_kill_switch,
        routes::kill_switches::lift_kill_switches,
        routes::kill_switches::lift_kill_switch,
        routes::calls::list_calls,
        routes::calls::end_call,
        routes::calls::accounts,
        routes::policy::show_policy,
        routes::policy::validate_policy,
        routes::policy::reload_policy,
        routes::audit::audit_log,
        routes::audits::list_audits,
        routes::tokens::list_tokens,
        routes::tokens::create_token,
        routes::tokens::revoke_token,
        routes::events::events,
        crate::decide::decide,
        crate::decide::answered,
        crate::decide::ended,
    ),
    modifiers(&BearerAuth),
    tags(
        (name = "status", description = "Health, status, metrics, this document"),
        (name = "alerts", description = "The engine's decisions as stored, with reasons; acknowledgement"),
        (name = "bans", description = "Banned source addresses (unscoped tokens only)"),
        (name = "kill switches", description = "Bar an account, a tenant or everyone from destination classes"),
        (name = "calls", description = "Calls in progress and per-account counters"),
        (name = "policy", description = "Show, validate and reload the fraud policy"),
        (name = "audit", description = "Every change, with the token that made it"),
        (name = "audits", description = "Recorded audits of the PBXs (weak passwords, exposure, dial plans)"),
        (name = "tokens", description = "API tokens (admin)"),
        (name = "events", description = "Live server-sent events"),
        (name = "decide", description = "Per-call decisions for an SBC or PBX that keeps its own call path (decider tokens)"),
    )
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("tg_<id>_<secret>")
                    .build(),
            ),
        );
    }
}

/// The OpenAPI document (pretty JSON, with a final newline, as committed).
pub fn openapi_json() -> String {
    let mut doc = ApiDoc::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    let mut s = doc
        .to_pretty_json()
        .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    s.push('\n');
    s
}
