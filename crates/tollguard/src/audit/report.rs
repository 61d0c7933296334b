//! The audit report in its three forms: text for a terminal, JSON for machines, one self-contained HTML page
//! (every value escaped with the shared `html::escape`). A summary per tenant comes first.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::PathBuf;

use audit::cost::{Cost2015, weekend_2015};
use audit::credentials::{AccountResult, Outcome};
use audit::exposure::ExposureReport;
use audit::{Finding, Severity};
use serde_json::{Value, json};

use super::{Format, Site};
use crate::html;

/// What one check found on one PBX (or in one set of configuration files).
#[derive(Debug, Clone)]
pub struct SiteReport {
    pub tenant: String,
    pub target: String,
    pub check: &'static str,
    pub accounts: Vec<AccountResult>,
    pub exposure: Option<ExposureReport>,
    pub findings: Vec<Finding>,
}

/// The whole run.
#[derive(Debug, Clone)]
pub struct Report {
    pub sites: Vec<SiteReport>,
    pub cost: Cost2015,
}

impl Report {
    pub fn new(sites: Vec<SiteReport>) -> Report {
        Report {
            sites,
            cost: weekend_2015(&numbering::Numbering::japan_defaults()),
        }
    }

    pub fn has_critical(&self) -> bool {
        self.sites
            .iter()
            .any(|s| audit::finding::worst(&s.findings) == Some(Severity::Critical))
    }

    /// (critical, warning, info) counts per tenant, in tenant order.
    fn per_tenant(&self) -> BTreeMap<&str, [usize; 3]> {
        let mut m: BTreeMap<&str, [usize; 3]> = BTreeMap::new();
        for s in &self.sites {
            let c = m.entry(s.tenant.as_str()).or_default();
            for f in &s.findings {
                c[match f.severity {
                    Severity::Critical => 0,
                    Severity::Warning => 1,
                    Severity::Info => 2,
                }] += 1;
            }
        }
        m
    }
}

impl SiteReport {
    pub fn credentials(site: &Site, accounts: Vec<AccountResult>) -> SiteReport {
        let loc = format!(
            "{}/{}",
            site.target.hostport(),
            site.target.transport.via().to_ascii_lowercase()
        );
        let cost = weekend_2015(&numbering::Numbering::japan_defaults());
        let findings = accounts
            .iter()
            .filter_map(|a| account_finding(&loc, a, &cost))
            .collect();
        SiteReport {
            tenant: site.tenant.clone(),
            target: loc,
            check: "credentials",
            accounts,
            exposure: None,
            findings,
        }
    }

    pub fn exposure(site: &Site, rep: ExposureReport) -> SiteReport {
        SiteReport {
            tenant: site.tenant.clone(),
            target: site.target.hostport(),
            check: "exposure",
            accounts: Vec::new(),
            findings: rep.findings.clone(),
            exposure: Some(rep),
        }
    }

    pub fn config(tenant: &str, files: &[PathBuf], findings: Vec<Finding>) -> SiteReport {
        SiteReport {
            tenant: tenant.to_owned(),
            target: files
                .iter()
                .map(|f| f.display().to_string())
                .collect::<Vec<_>>()
                .join(" "),
            check: "config",
            accounts: Vec::new(),
            exposure: None,
            findings,
        }
    }
}

fn account_finding(loc: &str, a: &AccountResult, cost: &Cost2015) -> Option<Finding> {
    let at = format!("{loc} account {}", a.account);
    match &a.outcome {
        Outcome::Weak {
            entry_id, source, ..
        } => Some(Finding::new(
            "weak-password",
            Severity::Critical,
            at,
            format!(
                "account {} logs in with list entry {entry_id} ({source})",
                a.account,
            ),
            format!(
                "attackers try this list first; a hijacked account places international calls: {} would have \
                 cost about {} ({})",
                "the 2015 weekend", cost.total, cost.derivation
            ),
            "set a long random secret per account (16+ characters), and accept registrations only from your \
             phones' networks",
        )),
        Outcome::NotChallenged { status: Some(s) } if (200..300).contains(s) => Some(Finding::new(
            "no-authentication",
            Severity::Critical,
            at,
            format!(
                "REGISTER for account {} was accepted without credentials ({s})",
                a.account
            ),
            "anyone can register as this account and call out as it",
            "require digest authentication for every account",
        )),
        Outcome::LockedOut { status } => Some(Finding::new(
            "lockout",
            Severity::Info,
            at,
            format!(
                "the PBX locked account {} after {} attempts (answer {}); the audit stopped there",
                a.account,
                a.attempts,
                status.map_or("none".into(), |s| s.to_string())
            ),
            "a lockout slows password guessing; the untried candidates were not tested",
            "re-run the audit for this account after the lockout expires, at a lower --rate",
        )),
        Outcome::NotChallenged { status: None } => Some(Finding::new(
            "no-answer",
            Severity::Warning,
            at,
            format!(
                "no answer from the PBX for account {}: nothing was tested",
                a.account
            ),
            "an audit that could not reach the PBX proves nothing about its passwords",
            "check the target, port and --transport, and that this machine may reach the PBX",
        )),
        Outcome::NotChallenged { status: Some(s) } => Some(Finding::new(
            "not-challenged",
            Severity::Info,
            at,
            format!(
                "the PBX answered {s} to account {} without a challenge: nothing was tested",
                a.account
            ),
            "the audit can only test accounts the PBX challenges",
            "check --domain (the accounts' SIP domain) and that REGISTER reaches the registrar",
        )),
        _ => None,
    }
}

fn outcome_word(o: &Outcome) -> &'static str {
    match o {
        Outcome::Weak { .. } => "WEAK",
        Outcome::Resisted => "resisted",
        Outcome::LockedOut { .. } => "locked out",
        Outcome::NoSuchAccount { .. } => "no such account",
        Outcome::NotChallenged { .. } => "not challenged",
    }
}

fn account_json(a: &AccountResult, show: bool) -> Value {
    let mut v = serde_json::to_value(a).unwrap_or(Value::Null);
    if let (true, Outcome::Weak { password, .. }, Some(o)) = (show, &a.outcome, v.as_object_mut()) {
        o.insert("password".into(), json!(password));
    }
    v
}

/// JSON form of the report.
pub fn to_json(r: &Report, show: bool) -> Value {
    let tenants: Vec<Value> = r
        .per_tenant()
        .into_iter()
        .map(|(t, [c, w, i])| json!({"tenant": t, "critical": c, "warning": w, "info": i}))
        .collect();
    let sites: Vec<Value> = r
        .sites
        .iter()
        .map(|s| {
            json!({
                "tenant": s.tenant,
                "target": s.target,
                "check": s.check,
                "accounts": s.accounts.iter().map(|a| account_json(a, show)).collect::<Vec<_>>(),
                "exposure": s.exposure,
                "findings": s.findings,
            })
        })
        .collect();
    json!({"tenants": tenants, "sites": sites, "cost_2015": r.cost, "critical": r.has_critical()})
}

/// Writes the report to stdout.
pub fn print(r: &Report, format: Format, show: bool) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match format {
        Format::Json => {
            serde_json::to_writer_pretty(&mut out, &to_json(r, show))?;
            writeln!(out)?;
        }
        Format::Text => out.write_all(text(r, show).as_bytes())?,
    }
    Ok(())
}

fn text(r: &Report, show: bool) -> String {
    let mut s = String::new();
    for (t, [c, w, i]) in r.per_tenant() {
        s.push_str(&format!(
            "tenant {t}: {c} critical, {w} warning, {i} info\n"
        ));
    }
    for site in &r.sites {
        s.push_str(&format!(
            "\n== {} {} ({})\n",
            site.check, site.target, site.tenant
        ));
        for a in &site.accounts {
            s.push_str(&format!(
                "  account {:<8} {:<16} {} attempts",
                a.account,
                outcome_word(&a.outcome),
                a.attempts
            ));
            if let Outcome::Weak {
                entry_id, password, ..
            } = &a.outcome
            {
                s.push_str(&format!("  entry {entry_id}"));
                if show {
                    s.push_str(&format!("  password {password:?}"));
                }
            }
            s.push('\n');
        }
        if let Some(e) = &site.exposure {
            s.push_str(&exposure_text(e));
        }
        for f in &site.findings {
            s.push_str(&format!(
                "  [{}] {}: {}\n      why: {}\n      fix: {}\n",
                f.severity.name(),
                f.location,
                f.title,
                f.why,
                f.fix
            ));
        }
        if site.findings.is_empty() {
            s.push_str("  no finding\n");
        }
    }
    if r.sites.iter().any(|s| s.check == "credentials") {
        s.push_str(&format!(
            "\n2015 cost of one hijacked site: {} ({})\n",
            r.cost.total, r.cost.derivation
        ));
    }
    s
}

fn status_text(s: Option<u16>) -> String {
    s.map_or_else(|| "no answer".to_owned(), |s| s.to_string())
}

fn exposure_text(e: &ExposureReport) -> String {
    let mut s = String::new();
    for p in &e.sip {
        s.push_str(&format!(
            "  sip {}/{:<4} {:<10} {}\n",
            p.port,
            p.transport.via().to_ascii_lowercase(),
            status_text(p.status),
            p.server.as_deref().unwrap_or("")
        ));
    }
    for w in &e.web {
        s.push_str(&format!(
            "  web {}{:<5} {:<10} {} {}\n",
            w.port,
            if w.tls { "/tls" } else { "" },
            w.status,
            w.server.as_deref().unwrap_or(""),
            w.login
                .as_deref()
                .map(|l| format!("(login: {l})"))
                .unwrap_or_default()
        ));
    }
    s
}

fn exposure_html(e: &ExposureReport) -> String {
    let mut rows: Vec<Vec<String>> = e
        .sip
        .iter()
        .map(|p| {
            vec![
                format!("SIP {}/{}", p.port, p.transport.via().to_ascii_lowercase()),
                status_text(p.status),
                p.server.clone().unwrap_or_default(),
            ]
        })
        .collect();
    rows.extend(e.web.iter().map(|w| {
        vec![
            format!("web {}{}", w.port, if w.tls { " (TLS)" } else { "" }),
            w.status.to_string(),
            w.server.clone().unwrap_or_default(),
        ]
    }));
    html::table(&["port", "answer", "server"], &rows)
}

/// The HTML page.
pub fn html(r: &Report, show: bool) -> String {
    let tenants: Vec<Vec<String>> = r
        .per_tenant()
        .into_iter()
        .map(|(t, [c, w, i])| vec![t.to_owned(), c.to_string(), w.to_string(), i.to_string()])
        .collect();
    let verdict = if r.has_critical() {
        "<p class=\"verdict hit\">Critical weak spots found: fix them before attackers find them.</p>"
    } else {
        "<p class=\"verdict clean\">No critical weak spot found.</p>"
    };
    let mut body = format!(
        "{verdict}<h2>Tenants</h2>{}",
        html::table(&["tenant", "critical", "warning", "info"], &tenants)
    );
    for site in &r.sites {
        body.push_str(&format!(
            "<h2>{} — {} ({})</h2>",
            html::escape(site.check),
            html::escape(&site.target),
            html::escape(&site.tenant)
        ));
        if !site.accounts.is_empty() {
            let rows: Vec<Vec<String>> =
                site.accounts.iter().map(|a| account_row(a, show)).collect();
            body.push_str(&html::table(
                &["account", "result", "attempts", "entry"],
                &rows,
            ));
        }
        if let Some(e) = &site.exposure {
            body.push_str(&exposure_html(e));
        }
        let rows: Vec<Vec<String>> = site
            .findings
            .iter()
            .map(|f| {
                vec![
                    f.severity.name().into(),
                    f.location.clone(),
                    f.title.clone(),
                    f.why.clone(),
                    f.fix.clone(),
                ]
            })
            .collect();
        body.push_str(&html::table(
            &[
                "severity",
                "where",
                "finding",
                "why it matters",
                "what to do",
            ],
            &rows,
        ));
    }
    body.push_str(&format!(
        "<p><small>2015 cost of one hijacked site: {} — {}</small></p>",
        html::escape(&r.cost.total),
        html::escape(&r.cost.derivation)
    ));
    html::page("tollguard audit", &body)
}

fn account_row(a: &AccountResult, show: bool) -> Vec<String> {
    let entry = match &a.outcome {
        Outcome::Weak {
            entry_id, password, ..
        } if show => format!("{entry_id} ({password})"),
        Outcome::Weak { entry_id, .. } => entry_id.clone(),
        _ => String::new(),
    };
    vec![
        a.account.clone(),
        outcome_word(&a.outcome).into(),
        a.attempts.to_string(),
        entry,
    ]
}
