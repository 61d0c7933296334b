//! The JSON shapes of the API (requests and responses), with their OpenAPI schemas. Engine types are mirrored
//! here rather than exposed as they are, so that the published document is stable and says what each field
//! means; decisions (alerts) are passed through whole under `decision` so that no reason is lost.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::Role;

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Health {
    /// Always "ok" when the API answers.
    pub status: String,
}

/// Who the calling token is.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Caller {
    pub token_id: String,
    pub label: String,
    pub role: Role,
    /// `null`: every tenant.
    pub tenants: Option<Vec<String>>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct StatusView {
    pub version: String,
    /// Engine clock (ms since the Unix epoch) when the guard started and now.
    pub started_at: i64,
    pub engine_now: i64,
    /// Calls in progress (of the token's tenants).
    pub calls_in_progress: usize,
    /// Sources banned now (every token sees the count; the list needs an unscoped token).
    pub bans_active: usize,
    /// Kill switches in force that concern the token's tenants.
    pub kill_switches: Vec<KillSwitchView>,
    /// The guard's listeners (unscoped tokens only).
    pub listeners: Vec<String>,
    /// The guard's and the engine's counters and state sizes (unscoped tokens only).
    #[schema(value_type = Option<Object>)]
    pub guard: Option<serde_json::Value>,
    pub caller: Caller,
}

/// A stored alert: the engine's decision with every reason and number, its tenant and acknowledgement.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AlertView {
    pub id: i64,
    /// Empty for alerts about a source address only (a scanner).
    pub tenant: String,
    /// Engine time of the first decision (ms since the Unix epoch).
    pub at: i64,
    pub rule: String,
    /// "warning" or "critical".
    pub level: String,
    /// One sentence for the PBX admin (of the latest decision).
    pub reason: String,
    /// How many times the rule fired for this subject in this storm: repeats of the same rule, subject and
    /// level are one alert (1 for a lone alert).
    pub times: u64,
    /// Engine time of the latest decision (equal to `at` for a lone alert).
    pub last_at: i64,
    /// The storm in words: "fired 1,234 times from 2026-12-07 02:14:07 to 02:31:55 UTC" ("fired once at …").
    pub repeated: String,
    /// The latest decision: rule, key, measured value, threshold, unit, window, calls, money at stake.
    #[schema(value_type = Object)]
    pub decision: serde_json::Value,
    pub acked_by: Option<String>,
    pub acked_at: Option<i64>,
}

#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AlertQuery {
    /// Only this tenant's alerts.
    pub tenant: Option<String>,
    /// Only this rule ("pumping", "velocity_account_minute"…).
    pub rule: Option<String>,
    /// Only alerts at or after this engine time (ms since the Unix epoch).
    pub since: Option<i64>,
    /// Only alerts nobody has acknowledged.
    #[serde(default)]
    pub unacked: bool,
    /// At most this many, newest first (default 100, at most 10000).
    pub limit: Option<u32>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct BanView {
    /// The banned source address.
    pub source: String,
    pub since: i64,
    pub until: i64,
    /// The rule that banned it, or "operator".
    pub rule: String,
    pub by: String,
    pub why: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BanRequest {
    /// IPv4 or IPv6 address to ban.
    #[schema(example = "203.0.113.9")]
    pub source: String,
    /// How long, in minutes (1 to 525600, a year).
    #[schema(minimum = 1, maximum = 525600)]
    pub minutes: u32,
    /// Why, in words (recorded with the ban and in the audit log).
    #[schema(min_length = 1, max_length = 500)]
    pub why: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct BanChange {
    pub ban: Option<BanView>,
    pub sync: SyncView,
}

/// What the guard enforced at once after a change.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct SyncView {
    pub bans_set: usize,
    pub bans_lifted: usize,
    pub kill_switches_set: usize,
    pub kill_switches_lifted: usize,
    /// Calls in progress ended (BYE or CANCEL sent) because of the change.
    pub calls_ended: Vec<String>,
}

impl From<decide::control::SyncReport> for SyncView {
    fn from(r: decide::control::SyncReport) -> Self {
        SyncView {
            bans_set: r.bans_set,
            bans_lifted: r.bans_lifted,
            kill_switches_set: r.kill_switches_set,
            kill_switches_lifted: r.kill_switches_lifted,
            calls_ended: r.calls_ended,
        }
    }
}

/// A destination class as kill switches and policies name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ClassName {
    Internal,
    Domestic,
    Mobile,
    TollFree,
    SharedCost,
    Service,
    International,
    Premium,
    Satellite,
    Unknown,
}

/// The scope of a kill switch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ScopeKind {
    /// Every account of every tenant.
    All,
    /// Every account of one tenant.
    Tenant,
    /// One account (extension) of one tenant.
    Account,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct KillSwitchView {
    pub id: u64,
    pub scope: ScopeKind,
    pub tenant: Option<String>,
    pub account: Option<String>,
    /// Destination classes barred ("international", "premium", "satellite", "mobile"…).
    pub classes: Vec<String>,
    pub since: i64,
    pub by: String,
    pub why: String,
    pub lifted_at: Option<i64>,
    pub lifted_by: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KillSwitchRequest {
    pub scope: ScopeKind,
    /// Required for the tenant and account scopes.
    pub tenant: Option<String>,
    /// Required for the account scope.
    pub account: Option<String>,
    /// Destination classes to bar: internal, domestic, mobile, toll_free, shared_cost, service, international,
    /// premium, satellite, unknown. Emergency numbers are never barred.
    #[schema(value_type = Vec<ClassName>, min_items = 1)]
    pub classes: Vec<String>,
    /// Why, in words.
    #[schema(min_length = 1, max_length = 500)]
    pub why: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KillSwitchLift {
    pub scope: ScopeKind,
    pub tenant: Option<String>,
    pub account: Option<String>,
    /// Only the switch barring exactly these classes; omitted: every switch of the scope.
    #[schema(value_type = Option<Vec<ClassName>>)]
    pub classes: Option<Vec<String>>,
    #[serde(default)]
    pub why: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct KillSwitchChange {
    /// The switch set (absent when lifting).
    pub switch: Option<KillSwitchView>,
    /// How many switches were lifted (0 when setting).
    pub lifted: usize,
    pub sync: SyncView,
}

#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct KillSwitchQuery {
    /// Also the lifted ones (newest first), with who lifted them and when.
    #[serde(default)]
    pub history: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CallView {
    pub call_id: String,
    pub tenant: String,
    pub account: String,
    pub dialed: String,
    /// Engine time of the INVITE and of the answer.
    pub started: i64,
    pub answered: Option<i64>,
}

#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TenantQuery {
    /// Only this tenant.
    pub tenant: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EndCallRequest {
    /// Why, in words (audit log).
    #[serde(default)]
    pub why: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CallEnded {
    pub call_id: String,
    pub tenant: String,
}

/// An amount of money: thousandths of the currency unit, and the ISO currency code.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct MoneyView {
    pub millis: i64,
    pub currency: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AccountView {
    pub tenant: String,
    pub account: String,
    pub last_seen: i64,
    pub attempts_24h: u32,
    /// International, premium-rate and satellite attempts in the last 24 h.
    pub international_24h: u32,
    pub spend_24h: Option<MoneyView>,
    pub spend_month: Option<MoneyView>,
    pub calls_in_progress: u32,
    /// Classes barred for this account by kill switches.
    pub barred: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PolicyView {
    /// "default" (built in), "inline" (the `[policy]` table of the configuration) or "file" (`policy_file`).
    pub source: String,
    pub path: Option<String>,
    /// The policy's TOML text as the guard reads it (absent for the built-in defaults).
    pub text: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PolicyCheck {
    pub valid: bool,
    /// What is wrong, with its position (when not valid).
    pub error: Option<String>,
    pub line: Option<usize>,
    pub column: Option<usize>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Reloaded {
    pub reloaded: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AuditView {
    /// Wall-clock time of the change (ms since the Unix epoch).
    pub at: i64,
    /// Token id that made the change, or "tollguard".
    pub actor: String,
    pub tenant: String,
    /// ban.add, ban.lift, kill_switch.set, kill_switch.lift, alert.ack, call.end, policy.reload,
    /// token.create, token.revoke.
    pub action: String,
    pub detail: String,
}

/// A recorded `tollguard audit` (credentials, exposure or config) of a tenant.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AuditReportView {
    pub id: i64,
    pub tenant: String,
    /// "credentials", "exposure" or "config".
    pub kind: String,
    /// Wall-clock start and end of the audit (ms since the Unix epoch).
    pub started_at: i64,
    pub finished_at: i64,
    /// Findings by severity.
    pub critical: u32,
    pub warning: u32,
    pub info: u32,
    /// The audit's JSON report, as `tollguard audit … --format json` prints it (never a password).
    #[schema(value_type = Object)]
    pub report: serde_json::Value,
}

#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditReportQuery {
    /// Only this tenant's audits.
    pub tenant: Option<String>,
    /// At most this many, newest first (default 100, at most 10000; the store keeps the last 20 of each
    /// tenant and kind).
    pub limit: Option<u32>,
}

#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LimitQuery {
    /// At most this many, newest first (default 100, at most 10000).
    pub limit: Option<u32>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    pub role: Role,
    /// Tenants the token may see and act on; omitted or null: every tenant (only for unscoped creators).
    pub tenants: Option<Vec<String>>,
    /// Who or what the token is for.
    #[schema(min_length = 1, max_length = 200)]
    pub label: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TokenCreated {
    pub id: String,
    /// The token itself. Shown this once: only its hash is kept.
    pub token: String,
    pub role: Role,
    pub tenants: Option<Vec<String>>,
    pub label: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TokenView {
    pub id: String,
    pub role: Role,
    pub tenants: Option<Vec<String>>,
    pub label: String,
    pub created_at: i64,
    pub created_by: String,
    pub revoked_at: Option<i64>,
    pub revoked_by: Option<String>,
}
