//! `tollguard ctl`: the operator API from a terminal (status, alerts, bans, kill switches, calls in progress,
//! counters, policy, tokens, audit log). Human tables by default, `--format json` for scripts. The token
//! comes from `--token` or `TOLLGUARD_TOKEN` and is never printed; a refusal exits non-zero with the
//! server's sentence. An API on HTTPS with a private CA or a self-signed certificate is trusted with
//! `--ca-cert FILE` or `TOLLGUARD_CA_CERT`.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use api::client::{Client, ClientError, segment};
use serde_json::{Value, json};

#[derive(Debug, clap::Args)]
pub struct CtlArgs {
    /// The API's address [default: $TOLLGUARD_URL, else http://127.0.0.1:8080].
    #[arg(long, global = true)]
    pub url: Option<String>,
    /// API token (tg_…) [default: $TOLLGUARD_TOKEN]. Prefer the variable: arguments show in `ps`.
    #[arg(long, global = true)]
    pub token: Option<String>,
    /// PEM file of a CA (or the API's self-signed certificate) to trust for an https:// URL, besides the
    /// public roots [default: $TOLLGUARD_CA_CERT].
    #[arg(long, global = true, value_name = "FILE")]
    pub ca_cert: Option<std::path::PathBuf>,
    /// Output: human tables, or the API's JSON.
    #[arg(long, global = true, value_enum, default_value_t = Format::Human)]
    pub format: Format,
    #[command(subcommand)]
    pub command: CtlCommand,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Human,
    Json,
}

#[derive(Debug, clap::Subcommand)]
pub enum CtlCommand {
    /// The guard's state: calls in progress, bans, kill switches, counters.
    Status,
    /// Alerts, newest first (`alerts ack ID` acknowledges one).
    Alerts {
        #[arg(long)]
        unacked: bool,
        #[arg(long)]
        tenant: Option<String>,
        #[arg(long)]
        rule: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: u32,
        #[command(subcommand)]
        action: Option<AlertAction>,
    },
    /// Banned source addresses.
    Ban {
        #[command(subcommand)]
        action: BanAction,
    },
    /// Bar an account, a tenant or everyone from destination classes; calls in progress in the scope end.
    KillSwitch {
        #[command(subcommand)]
        action: KillSwitchAction,
    },
    /// Calls in progress.
    Calls {
        #[arg(long)]
        tenant: Option<String>,
    },
    /// End one call in progress (BYE to both sides).
    EndCall {
        call_id: String,
        #[arg(long, default_value = "")]
        why: String,
    },
    /// Per-account counters: last 24 h attempts, international attempts, spend.
    Accounts {
        #[arg(long)]
        tenant: Option<String>,
    },
    /// The fraud policy: show, validate a file, reload.
    Policy {
        #[command(subcommand)]
        action: PolicyAction,
    },
    /// API tokens (admin).
    Token {
        #[command(subcommand)]
        action: TokenAction,
    },
    /// The audit log: every change with the token that made it.
    Audit {
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Recorded PBX audits (`tollguard audit … --config guard.toml`), newest first, with their findings.
    Audits {
        #[arg(long)]
        tenant: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
}

#[derive(Debug, clap::Subcommand)]
pub enum AlertAction {
    /// Acknowledge an alert.
    Ack { id: i64 },
}

#[derive(Debug, clap::Subcommand)]
pub enum BanAction {
    List,
    /// Ban an address for some minutes.
    Add {
        ip: String,
        #[arg(long)]
        minutes: u32,
        #[arg(long)]
        why: String,
    },
    /// Lift the ban of an address.
    Lift {
        ip: String,
    },
}

#[derive(Debug, clap::Subcommand)]
pub enum KillSwitchAction {
    List {
        /// Also the lifted ones.
        #[arg(long)]
        history: bool,
    },
    /// Set: `--scope all|tenant:NAME|account:TENANT/EXT --class international[,premium,…] --why …`.
    On {
        #[arg(long)]
        scope: String,
        #[arg(long, value_delimiter = ',', required = true)]
        class: Vec<String>,
        #[arg(long)]
        why: String,
    },
    /// Lift the switches of a scope (only those barring exactly `--class` when given).
    Off {
        #[arg(long)]
        scope: String,
        #[arg(long, value_delimiter = ',')]
        class: Vec<String>,
        #[arg(long, default_value = "")]
        why: String,
    },
}

#[derive(Debug, clap::Subcommand)]
pub enum PolicyAction {
    Show,
    /// Check a policy file; errors name the line.
    Validate {
        file: std::path::PathBuf,
    },
    /// Make the guard read its policy again (like SIGHUP).
    Reload,
}

#[derive(Debug, clap::Subcommand)]
pub enum TokenAction {
    /// Create a token; it is printed once.
    Create {
        #[arg(long, value_parser = ["decider", "viewer", "operator", "admin"])]
        role: String,
        /// Limit the token to these tenants (repeat or comma-separate); none: every tenant.
        #[arg(long, value_delimiter = ',')]
        tenant: Vec<String>,
        #[arg(long)]
        label: String,
    },
    List,
    Revoke {
        id: String,
    },
}

/// `all`, `tenant:NAME`, `account:TENANT/EXT` → the API's scope fields.
fn scope_fields(s: &str) -> anyhow::Result<(&'static str, Option<String>, Option<String>)> {
    if s == "all" {
        return Ok(("all", None, None));
    }
    if let Some(t) = s.strip_prefix("tenant:") {
        return Ok(("tenant", Some(t.to_owned()), None));
    }
    if let Some(rest) = s.strip_prefix("account:")
        && let Some((t, a)) = rest.split_once('/')
    {
        return Ok(("account", Some(t.to_owned()), Some(a.to_owned())));
    }
    anyhow::bail!("--scope {s:?}: write all, tenant:NAME or account:TENANT/EXTENSION")
}

fn query(pairs: &[(&str, Option<String>)]) -> String {
    let q: Vec<String> = pairs
        .iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={}", segment(v))))
        .collect();
    if q.is_empty() {
        String::new()
    } else {
        format!("?{}", q.join("&"))
    }
}

pub fn run(args: CtlArgs) -> anyhow::Result<ExitCode> {
    let url = args
        .url
        .clone()
        .or_else(|| std::env::var("TOLLGUARD_URL").ok())
        .unwrap_or_else(|| "http://127.0.0.1:8080".into());
    let token = args
        .token
        .clone()
        .or_else(|| std::env::var("TOLLGUARD_TOKEN").ok())
        .filter(|t| !t.trim().is_empty());
    let ca_cert = args.ca_cert.clone().or_else(|| {
        std::env::var_os("TOLLGUARD_CA_CERT")
            .filter(|v| !v.is_empty())
            .map(std::path::PathBuf::from)
    });
    let client =
        match Client::with_ca_cert(&url, token.map(|t| t.trim().to_owned()), ca_cert.as_deref()) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("tollguard ctl: {e}");
                return Ok(ExitCode::from(1));
            }
        };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let result = rt.block_on(execute(&client, &args.command));
    match result {
        Ok((value, kind)) => {
            let mut out = std::io::stdout().lock();
            match args.format {
                Format::Json => {
                    writeln!(out, "{}", serde_json::to_string_pretty(&value)?)?;
                }
                Format::Human => human(&mut out, kind, &value)?,
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("tollguard ctl: {e:#}");
            if let Some(ClientError::Api { status: 401, .. }) = e.downcast_ref::<ClientError>() {
                eprintln!(
                    "tollguard ctl: give a token with TOLLGUARD_TOKEN=tg_… (printed once by the first `tollguard serve`, \
                     or made with `tollguard ctl token create`)"
                );
            }
            if let Some(ClientError::Unreachable { detail, .. }) = e.downcast_ref::<ClientError>()
                && url.starts_with("https://")
                && ca_cert.is_none()
                && detail.contains("certificate")
            {
                eprintln!(
                    "tollguard ctl: if the API's certificate is self-signed or from a private CA, trust it with \
                     --ca-cert FILE (or TOLLGUARD_CA_CERT=FILE)"
                );
            }
            Ok(ExitCode::from(1))
        }
    }
}

/// What kind of answer, for the human rendering.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Status,
    Alerts,
    Alert,
    Bans,
    Ban,
    Switches,
    Switch,
    Calls,
    Ended,
    Accounts,
    Policy,
    Check,
    Reloaded,
    Tokens,
    TokenCreated,
    TokenRevoked,
    Audit,
    Audits,
}

async fn execute(c: &Client, cmd: &CtlCommand) -> anyhow::Result<(Value, Kind)> {
    Ok(match cmd {
        CtlCommand::Status => (c.json("GET", "/api/v1/status", None).await?, Kind::Status),
        CtlCommand::Alerts {
            action: Some(AlertAction::Ack { id }),
            ..
        } => (
            c.json("POST", &format!("/api/v1/alerts/{id}/ack"), None)
                .await?,
            Kind::Alert,
        ),
        CtlCommand::Alerts {
            unacked,
            tenant,
            rule,
            limit,
            action: None,
        } => {
            let q = query(&[
                ("tenant", tenant.clone()),
                ("rule", rule.clone()),
                ("unacked", unacked.then(|| "true".to_owned())),
                ("limit", Some(limit.to_string())),
            ]);
            (
                c.json("GET", &format!("/api/v1/alerts{q}"), None).await?,
                Kind::Alerts,
            )
        }
        CtlCommand::Ban { action } => match action {
            BanAction::List => (c.json("GET", "/api/v1/bans", None).await?, Kind::Bans),
            BanAction::Add { ip, minutes, why } => (
                c.json(
                    "POST",
                    "/api/v1/bans",
                    Some(json!({"source": ip, "minutes": minutes, "why": why})),
                )
                .await?,
                Kind::Ban,
            ),
            BanAction::Lift { ip } => (
                c.json("DELETE", &format!("/api/v1/bans/{}", segment(ip)), None)
                    .await?,
                Kind::Ban,
            ),
        },
        CtlCommand::KillSwitch { action } => match action {
            KillSwitchAction::List { history } => (
                c.json(
                    "GET",
                    &format!("/api/v1/kill-switches?history={history}"),
                    None,
                )
                .await?,
                Kind::Switches,
            ),
            KillSwitchAction::On { scope, class, why } => {
                let (kind, tenant, account) = scope_fields(scope)?;
                (
                    c.json(
                        "POST",
                        "/api/v1/kill-switches",
                        Some(json!({"scope": kind, "tenant": tenant, "account": account,
                                    "classes": class, "why": why})),
                    )
                    .await?,
                    Kind::Switch,
                )
            }
            KillSwitchAction::Off { scope, class, why } => {
                let (kind, tenant, account) = scope_fields(scope)?;
                let classes = (!class.is_empty()).then(|| class.clone());
                (
                    c.json(
                        "POST",
                        "/api/v1/kill-switches/lift",
                        Some(json!({"scope": kind, "tenant": tenant, "account": account,
                                    "classes": classes, "why": why})),
                    )
                    .await?,
                    Kind::Switch,
                )
            }
        },
        CtlCommand::Calls { tenant } => (
            c.json(
                "GET",
                &format!("/api/v1/calls{}", query(&[("tenant", tenant.clone())])),
                None,
            )
            .await?,
            Kind::Calls,
        ),
        CtlCommand::EndCall { call_id, why } => (
            c.json(
                "POST",
                &format!("/api/v1/calls/{}/end", segment(call_id)),
                Some(json!({"why": why})),
            )
            .await?,
            Kind::Ended,
        ),
        CtlCommand::Accounts { tenant } => (
            c.json(
                "GET",
                &format!("/api/v1/accounts{}", query(&[("tenant", tenant.clone())])),
                None,
            )
            .await?,
            Kind::Accounts,
        ),
        CtlCommand::Policy { action } => match action {
            PolicyAction::Show => (c.json("GET", "/api/v1/policy", None).await?, Kind::Policy),
            PolicyAction::Validate { file } => {
                let text = std::fs::read_to_string(file)
                    .with_context(|| format!("reading {}", file.display()))?;
                match c
                    .text("POST", "/api/v1/policy/validate", text, "application/toml")
                    .await
                {
                    Ok(v) => (v, Kind::Check),
                    Err(ClientError::Api { status: 422, error }) => {
                        anyhow::bail!("{}: {error}", file.display())
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            PolicyAction::Reload => (
                c.json("POST", "/api/v1/policy/reload", None).await?,
                Kind::Reloaded,
            ),
        },
        CtlCommand::Token { action } => match action {
            TokenAction::Create {
                role,
                tenant,
                label,
            } => {
                let tenants = (!tenant.is_empty()).then(|| tenant.clone());
                (
                    c.json(
                        "POST",
                        "/api/v1/tokens",
                        Some(json!({"role": role, "tenants": tenants, "label": label})),
                    )
                    .await?,
                    Kind::TokenCreated,
                )
            }
            TokenAction::List => (c.json("GET", "/api/v1/tokens", None).await?, Kind::Tokens),
            TokenAction::Revoke { id } => {
                // Accept the whole token too: only its id part is sent.
                let id = id
                    .strip_prefix("tg_")
                    .and_then(|r| r.split('_').next())
                    .unwrap_or(id);
                (
                    c.json("DELETE", &format!("/api/v1/tokens/{}", segment(id)), None)
                        .await?,
                    Kind::TokenRevoked,
                )
            }
        },
        CtlCommand::Audit { limit } => (
            c.json("GET", &format!("/api/v1/audit?limit={limit}"), None)
                .await?,
            Kind::Audit,
        ),
        CtlCommand::Audits { tenant, limit } => {
            let q = query(&[
                ("tenant", tenant.clone()),
                ("limit", Some(limit.to_string())),
            ]);
            (
                c.json("GET", &format!("/api/v1/audits{q}"), None).await?,
                Kind::Audits,
            )
        }
    })
}

// ---- human output ------------------------------------------------------------------------------------

fn s(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) if s.is_empty() => "-".into(),
        Value::String(s) => s.clone(),
        Value::Array(a) => a.iter().map(s).collect::<Vec<_>>().join(","),
        other => other.to_string(),
    }
}

/// Engine/wall time in ms → "2025-01-18 23:04:05Z".
fn t(v: &Value) -> String {
    v.as_i64()
        .and_then(chrono::DateTime::from_timestamp_millis)
        .map(|d| d.format("%Y-%m-%d %H:%M:%SZ").to_string())
        .unwrap_or_else(|| "-".into())
}

fn money(v: &Value) -> String {
    match (v["millis"].as_i64(), v["currency"].as_str()) {
        (Some(m), Some(c)) => format!("{c} {:.0}", m as f64 / 1000.0),
        _ => "-".into(),
    }
}

fn table(out: &mut impl Write, head: &[&str], rows: Vec<Vec<String>>) -> std::io::Result<()> {
    if rows.is_empty() {
        return writeln!(out, "(none)");
    }
    let mut w: Vec<usize> = head.iter().map(|h| h.chars().count()).collect();
    for r in &rows {
        for (i, c) in r.iter().enumerate() {
            if let Some(x) = w.get_mut(i) {
                *x = (*x).max(c.chars().count());
            }
        }
    }
    let line = |out: &mut dyn Write, cells: Vec<String>| -> std::io::Result<()> {
        let last = cells.len().saturating_sub(1);
        let mut l = String::new();
        for (i, c) in cells.into_iter().enumerate() {
            if i == last {
                l.push_str(&c);
            } else {
                let pad = w.get(i).copied().unwrap_or(0);
                l.push_str(&format!("{c:<pad$}  "));
            }
        }
        writeln!(out, "{}", l.trim_end())
    };
    line(out, head.iter().map(|h| h.to_string()).collect())?;
    for r in rows {
        line(out, r)?;
    }
    Ok(())
}

fn list(v: &Value) -> &[Value] {
    v.as_array().map(Vec::as_slice).unwrap_or(&[])
}

fn switch_scope(k: &Value) -> String {
    match k["scope"].as_str() {
        Some("all") => "all".into(),
        Some("tenant") => format!("tenant:{}", s(&k["tenant"])),
        Some("account") => format!("account:{}/{}", s(&k["tenant"]), s(&k["account"])),
        _ => "-".into(),
    }
}

fn human(out: &mut impl Write, kind: Kind, v: &Value) -> anyhow::Result<()> {
    match kind {
        Kind::Status => {
            writeln!(
                out,
                "tollguard {}  engine time {}",
                s(&v["version"]),
                t(&v["engine_now"])
            )?;
            writeln!(
                out,
                "calls in progress: {}   bans active: {}   kill switches: {}",
                s(&v["calls_in_progress"]),
                s(&v["bans_active"]),
                list(&v["kill_switches"]).len()
            )?;
            for k in list(&v["kill_switches"]) {
                writeln!(
                    out,
                    "  #{} {} bars {}: {}",
                    s(&k["id"]),
                    switch_scope(k),
                    s(&k["classes"]),
                    s(&k["why"])
                )?;
            }
            for l in list(&v["listeners"]) {
                writeln!(out, "listener: {}", s(l))?;
            }
            let g = &v["guard"];
            if g.is_object() {
                writeln!(
                    out,
                    "calls decided: {}   blocked: {}   ended by the guard: {}   scanners banned: {}",
                    s(&g["stats"]["calls_decided"]),
                    s(&g["stats"]["calls_blocked"]),
                    s(&g["stats"]["calls_ended_by_guard"]),
                    s(&g["stats"]["scanners_banned"])
                )?;
            }
            let c = &v["caller"];
            writeln!(
                out,
                "you: token {} ({}), role {}, tenants {}",
                s(&c["token_id"]),
                s(&c["label"]),
                s(&c["role"]),
                if c["tenants"].is_null() {
                    "all".into()
                } else {
                    s(&c["tenants"])
                }
            )?;
        }
        Kind::Alerts => table(
            out,
            &[
                "ID", "TIME", "LAST", "TIMES", "TENANT", "LEVEL", "RULE", "ACK", "REASON",
            ],
            list(v)
                .iter()
                .map(|a| {
                    vec![
                        s(&a["id"]),
                        t(&a["at"]),
                        t(&a["last_at"]),
                        s(&a["times"]),
                        s(&a["tenant"]),
                        s(&a["level"]),
                        s(&a["rule"]),
                        if a["acked_by"].is_null() {
                            "-".into()
                        } else {
                            "yes".into()
                        },
                        s(&a["reason"]),
                    ]
                })
                .collect(),
        )?,
        Kind::Alert => writeln!(
            out,
            "alert {} acknowledged by {}: {}",
            s(&v["id"]),
            s(&v["acked_by"]),
            s(&v["reason"])
        )?,
        Kind::Bans => table(
            out,
            &["SOURCE", "UNTIL", "RULE", "BY", "WHY"],
            list(v)
                .iter()
                .map(|b| {
                    vec![
                        s(&b["source"]),
                        t(&b["until"]),
                        s(&b["rule"]),
                        s(&b["by"]),
                        s(&b["why"]),
                    ]
                })
                .collect(),
        )?,
        Kind::Ban => {
            if v["ban"].is_object() {
                writeln!(
                    out,
                    "banned {} until {}",
                    s(&v["ban"]["source"]),
                    t(&v["ban"]["until"])
                )?;
            } else {
                writeln!(out, "ban lifted")?;
            }
        }
        Kind::Switches => table(
            out,
            &["ID", "SCOPE", "CLASSES", "SINCE", "BY", "LIFTED", "WHY"],
            list(v)
                .iter()
                .map(|k| {
                    vec![
                        s(&k["id"]),
                        switch_scope(k),
                        s(&k["classes"]),
                        t(&k["since"]),
                        s(&k["by"]),
                        if k["lifted_at"].is_null() {
                            "-".into()
                        } else {
                            t(&k["lifted_at"])
                        },
                        s(&k["why"]),
                    ]
                })
                .collect(),
        )?,
        Kind::Switch => {
            let ended = list(&v["sync"]["calls_ended"]);
            if v["switch"].is_object() {
                let k = &v["switch"];
                writeln!(
                    out,
                    "kill switch #{} in force: {} barred from {}",
                    s(&k["id"]),
                    switch_scope(k),
                    s(&k["classes"])
                )?;
            } else {
                writeln!(out, "{} kill switch(es) lifted", s(&v["lifted"]))?;
            }
            if !ended.is_empty() {
                writeln!(out, "calls ended: {}", s(&v["sync"]["calls_ended"]))?;
            }
        }
        Kind::Calls => table(
            out,
            &[
                "CALL-ID", "TENANT", "ACCOUNT", "DIALED", "STARTED", "ANSWERED",
            ],
            list(v)
                .iter()
                .map(|c| {
                    vec![
                        s(&c["call_id"]),
                        s(&c["tenant"]),
                        s(&c["account"]),
                        s(&c["dialed"]),
                        t(&c["started"]),
                        if c["answered"].is_null() {
                            "-".into()
                        } else {
                            t(&c["answered"])
                        },
                    ]
                })
                .collect(),
        )?,
        Kind::Ended => writeln!(
            out,
            "call {} ended (BYE sent to both sides)",
            s(&v["call_id"])
        )?,
        Kind::Accounts => table(
            out,
            &[
                "TENANT",
                "ACCOUNT",
                "CALLS 24H",
                "INTL 24H",
                "SPEND 24H",
                "MONTH",
                "UP",
                "BARRED",
            ],
            list(v)
                .iter()
                .map(|a| {
                    vec![
                        s(&a["tenant"]),
                        s(&a["account"]),
                        s(&a["attempts_24h"]),
                        s(&a["international_24h"]),
                        money(&a["spend_24h"]),
                        money(&a["spend_month"]),
                        s(&a["calls_in_progress"]),
                        s(&a["barred"]),
                    ]
                })
                .collect(),
        )?,
        Kind::Policy => {
            writeln!(
                out,
                "# policy: {} {}",
                s(&v["source"]),
                v["path"].as_str().unwrap_or("")
            )?;
            match v["text"].as_str() {
                Some(text) => write!(out, "{text}")?,
                None => writeln!(
                    out,
                    "# (the built-in defaults: see crates/engine/README.md)"
                )?,
            }
        }
        Kind::Check => writeln!(out, "the policy is valid")?,
        Kind::Reloaded => writeln!(out, "policy reloaded")?,
        Kind::Tokens => table(
            out,
            &["ID", "ROLE", "TENANTS", "CREATED", "REVOKED", "LABEL"],
            list(v)
                .iter()
                .map(|k| {
                    vec![
                        s(&k["id"]),
                        s(&k["role"]),
                        if k["tenants"].is_null() {
                            "all".into()
                        } else {
                            s(&k["tenants"])
                        },
                        t(&k["created_at"]),
                        if k["revoked_at"].is_null() {
                            "-".into()
                        } else {
                            t(&k["revoked_at"])
                        },
                        s(&k["label"]),
                    ]
                })
                .collect(),
        )?,
        Kind::TokenCreated => {
            writeln!(out, "{}", s(&v["token"]))?;
            writeln!(
                out,
                "token {} ({}, tenants {}): shown this once; keep it somewhere safe",
                s(&v["id"]),
                s(&v["role"]),
                if v["tenants"].is_null() {
                    "all".into()
                } else {
                    s(&v["tenants"])
                }
            )?;
        }
        Kind::TokenRevoked => writeln!(out, "token {} revoked", s(&v["id"]))?,
        Kind::Audit => table(
            out,
            &["TIME", "TOKEN", "TENANT", "ACTION", "DETAIL"],
            list(v)
                .iter()
                .map(|e| {
                    vec![
                        t(&e["at"]),
                        s(&e["actor"]),
                        s(&e["tenant"]),
                        s(&e["action"]),
                        s(&e["detail"]),
                    ]
                })
                .collect(),
        )?,
        Kind::Audits => table(
            out,
            &[
                "ID", "FINISHED", "TENANT", "KIND", "CRITICAL", "WARNING", "INFO",
            ],
            list(v)
                .iter()
                .map(|a| {
                    vec![
                        s(&a["id"]),
                        t(&a["finished_at"]),
                        s(&a["tenant"]),
                        s(&a["kind"]),
                        s(&a["critical"]),
                        s(&a["warning"]),
                        s(&a["info"]),
                    ]
                })
                .collect(),
        )?,
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_are_read_as_written() {
        assert_eq!(scope_fields("all").unwrap(), ("all", None, None));
        assert_eq!(
            scope_fields("tenant:acme").unwrap(),
            ("tenant", Some("acme".into()), None)
        );
        assert_eq!(
            scope_fields("account:acme/205").unwrap(),
            ("account", Some("acme".into()), Some("205".into()))
        );
        assert!(scope_fields("acme").is_err());
        assert!(scope_fields("account:acme").is_err());
    }

    #[test]
    fn ca_cert_is_a_global_option() {
        use clap::Parser;
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            ctl: CtlArgs,
        }
        let cli = Cli::try_parse_from([
            "ctl",
            "--url",
            "https://127.0.0.1:8443",
            "status",
            "--ca-cert",
            "/etc/tollguard/ca.pem",
        ])
        .unwrap();
        assert_eq!(
            cli.ctl.ca_cert.as_deref(),
            Some(std::path::Path::new("/etc/tollguard/ca.pem"))
        );
        assert!(matches!(cli.ctl.command, CtlCommand::Status));
        let cli = Cli::try_parse_from(["ctl", "calls"]).unwrap();
        assert_eq!(cli.ctl.ca_cert, None);
    }

    #[test]
    fn tables_align_columns() {
        let mut out = Vec::new();
        table(&mut out, &["A", "BB"], vec![vec!["xxx".into(), "y".into()]]).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "A    BB\nxxx  y\n");
    }
}
