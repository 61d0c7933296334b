//! `tollguard audit …`: the weak spots of your own PBX, found before attackers do (issue 19). The checks live
//! in the `audit` crate; this module reads the command line, refuses targets that are not yours, runs the
//! checks for one PBX or a fleet (`--targets FILE.csv`, one PBX per line with its tenant) and reports.

mod fleet;
mod record;
mod report;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use audit::{CandidateLists, Permission, Target, TlsTrust, Transport};

use report::{Report, SiteReport};

#[derive(Debug, clap::Args)]
pub struct AuditArgs {
    #[command(subcommand)]
    pub check: Check,
}

#[derive(Debug, clap::Subcommand)]
pub enum Check {
    /// Try vendor-default, extension-derived and common passwords on your PBX's accounts (REGISTER without
    /// Contact: a real phone's registration is never touched).
    Credentials(CredentialArgs),
    /// What a scanner learns: SIP banners, extension enumeration, guest calls, web pages with default logins.
    Exposure(ExposureArgs),
    /// Read PBX configuration files (Asterisk, FreeSWITCH, Kamailio subscriber exports) and flag weak spots.
    Config(ConfigArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
}

/// Options of every network check.
#[derive(Debug, clap::Args)]
pub struct TargetArgs {
    /// The PBX to audit: HOST or HOST:PORT.
    #[arg(long, required_unless_present = "targets", conflicts_with = "targets")]
    pub target: Option<String>,
    /// A fleet: a CSV file with the columns tenant,target[,transport[,extensions]], one PBX per line.
    #[arg(long, value_name = "FILE.csv")]
    pub targets: Option<PathBuf>,
    /// SIP transport.
    #[arg(long, default_value = "udp", value_parser = ["udp", "tcp", "tls"])]
    pub transport: String,
    /// The guard configuration whose `[pbx] address` may be audited; the report is also recorded in its
    /// `[store] path` (for `GET /api/v1/audits` and `tollguard ctl audits`).
    #[arg(long, value_name = "guard.toml")]
    pub config: Option<PathBuf>,
    /// Confirm that you own (or are mandated to test) a target that is not in the guard configuration.
    #[arg(long)]
    pub i_own_this: bool,
    /// TLS: CA certificates (PEM) to trust for the PBX, e.g. its self-signed certificate.
    #[arg(long, value_name = "FILE")]
    pub ca: Option<PathBuf>,
    /// TLS: accept any certificate.
    #[arg(long)]
    pub insecure: bool,
    /// SIP domain of the accounts, when it is not the PBX's address.
    #[arg(long)]
    pub domain: Option<String>,
    /// Login attempts per second; gentle by default.
    #[arg(long, default_value_t = 2.0)]
    pub rate: f64,
    /// How long to wait for each answer, in milliseconds.
    #[arg(long, default_value_t = 3000)]
    pub wait_ms: u64,
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
    /// Also write a self-contained HTML report.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct CredentialArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Accounts to test: 200-299, or 201,205,300-310.
    #[arg(long)]
    pub extensions: Option<String>,
    /// Your own list of passwords to try after the shipped ones (one per line).
    #[arg(long, value_name = "FILE")]
    pub list: Option<PathBuf>,
    /// Print the matching passwords in clear (default: only the list entry that matched).
    #[arg(long)]
    pub show_passwords: bool,
}

#[derive(Debug, clap::Args)]
pub struct ExposureArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Extensions compared with an unknown name for the enumeration leak (a few known ones suffice).
    #[arg(long)]
    pub extensions: Option<String>,
    /// SIP ports to ask OPTIONS on, as PORT/TRANSPORT (the target's own port and transport come first).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "5060/udp,5060/tcp,5061/tls"
    )]
    pub sip_ports: Vec<String>,
    /// Web ports to look for administration pages on.
    #[arg(long, value_delimiter = ',', default_values_t = audit::web::DEFAULT_PORTS.to_vec())]
    pub web_ports: Vec<u16>,
    /// The outside number of the unauthenticated test INVITE (cancelled at the first answer); a free-phone
    /// number so that nothing is billed even if the PBX routes it.
    #[arg(long, default_value = "0120000000")]
    pub guest_number: String,
    /// Do not send the guest-call INVITE.
    #[arg(long)]
    pub no_guest_call: bool,
}

#[derive(Debug, clap::Args)]
pub struct ConfigArgs {
    /// pjsip.conf, sip.conf, extensions.conf, FreeSWITCH directory/dialplan XML, Kamailio subscriber CSV/TSV.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// The tenant these files belong to, for the report.
    #[arg(long, default_value = "default")]
    pub tenant: String,
    /// The guard configuration whose `[store] path` records the report (for `GET /api/v1/audits` and
    /// `tollguard ctl audits`).
    #[arg(long, value_name = "guard.toml")]
    pub config: Option<PathBuf>,
}

pub fn run(args: AuditArgs) -> anyhow::Result<ExitCode> {
    let started = record::wall_ms();
    let report = match args.check {
        Check::Credentials(a) => {
            let show = a.show_passwords;
            let (fmt, html) = (a.target.format, a.target.html.clone());
            let r = fleet::run_sites(&a.target, |site| credentials(site, &a))?;
            return finish(r, fmt, html, show, a.target.config.as_deref(), started);
        }
        Check::Exposure(a) => {
            let (fmt, html) = (a.target.format, a.target.html.clone());
            let r = fleet::run_sites(&a.target, |site| exposure(site, &a))?;
            return finish(r, fmt, html, false, a.target.config.as_deref(), started);
        }
        Check::Config(a) => (config(&a)?, a.format, a.html, a.config),
    };
    finish(
        report.0,
        report.1,
        report.2,
        false,
        report.3.as_deref(),
        started,
    )
}

fn finish(
    r: Report,
    format: Format,
    html: Option<PathBuf>,
    show: bool,
    config: Option<&std::path::Path>,
    started: i64,
) -> anyhow::Result<ExitCode> {
    report::print(&r, format, show)?;
    if let Some(path) = html {
        std::fs::write(&path, report::html(&r, show))
            .with_context(|| format!("cannot write the HTML report {}", path.display()))?;
    }
    if let Some(cfg) = config {
        match record::record(&r, cfg, started)? {
            0 => eprintln!(
                "note: the audit was not recorded: {} has no [store] path",
                cfg.display()
            ),
            n => eprintln!(
                "audit recorded for {n} tenant(s) in the guard's store (tollguard ctl audits)"
            ),
        }
    }
    Ok(if r.has_critical() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// One PBX of the fleet (or the single `--target`).
#[derive(Debug, Clone)]
pub struct Site {
    pub tenant: String,
    pub target: Target,
    pub extensions: Option<String>,
}

/// The PBX addresses of the guard configuration, and `--i-own-this`.
fn permission(t: &TargetArgs) -> anyhow::Result<Permission> {
    let mut p = Permission {
        configured: Vec::new(),
        i_own_this: t.i_own_this,
    };
    if let Some(path) = &t.config {
        let s = guard::Settings::load(path)
            .map_err(|e| anyhow::anyhow!("{e}"))
            .with_context(|| format!("cannot use the guard configuration {}", path.display()))?;
        p.configured.push(s.pbx.address.ip());
    }
    Ok(p)
}

fn trust(t: &TargetArgs) -> TlsTrust {
    TlsTrust {
        ca: t.ca.clone(),
        insecure: t.insecure,
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

fn credentials(site: &Site, a: &CredentialArgs) -> anyhow::Result<SiteReport> {
    let spec = site
        .extensions
        .as_deref()
        .or(a.extensions.as_deref())
        .context(
            "which accounts? give --extensions 200-299 (or an extensions column in --targets)",
        )?;
    let mut lists = CandidateLists::shipped();
    if let Some(l) = &a.list {
        lists = lists.with_user_list(l)?;
    }
    let audit = audit::CredentialAudit {
        target: site.target.clone(),
        accounts: audit::parse_extensions(spec)?,
        lists,
        rate: a.target.rate,
        domain: a.target.domain.clone(),
        trust: trust(&a.target),
        wait: Duration::from_millis(a.target.wait_ms),
    };
    let accounts = runtime()?
        .block_on(audit.run())
        .with_context(|| format!("credential audit of {}", site.target.addr))?;
    Ok(SiteReport::credentials(site, accounts))
}

fn exposure(site: &Site, a: &ExposureArgs) -> anyhow::Result<SiteReport> {
    let extensions = match site.extensions.as_deref().or(a.extensions.as_deref()) {
        Some(spec) => audit::parse_extensions(spec)?,
        None => Vec::new(),
    };
    let mut sip_ports = vec![(site.target.addr.port(), site.target.transport)];
    for p in a.sip_ports.iter().filter(|p| !p.trim().is_empty()) {
        let (port, tr) = p.split_once('/').unwrap_or((p, "udp"));
        let port: u16 = port
            .parse()
            .with_context(|| format!("--sip-ports {p}: write PORT/udp|tcp|tls"))?;
        let tr = Transport::parse(tr)
            .with_context(|| format!("--sip-ports {p}: write PORT/udp|tcp|tls"))?;
        if !sip_ports.contains(&(port, tr)) {
            sip_ports.push((port, tr));
        }
    }
    let audit = audit::exposure::ExposureAudit {
        target: site.target.clone(),
        sip_ports,
        extensions,
        guest_number: (!a.no_guest_call).then(|| a.guest_number.clone()),
        web_ports: a.web_ports.clone(),
        lists: CandidateLists::shipped(),
        rate: a.target.rate,
        domain: a.target.domain.clone(),
        trust: trust(&a.target),
        wait: Duration::from_millis(a.target.wait_ms),
    };
    let rep = runtime()?
        .block_on(audit.run())
        .with_context(|| format!("exposure audit of {}", site.target.addr))?;
    Ok(SiteReport::exposure(site, rep))
}

fn config(a: &ConfigArgs) -> anyhow::Result<Report> {
    let numbering = numbering::Numbering::japan_defaults();
    let findings = audit::pbxconf::audit_files(&a.files, &numbering)?;
    Ok(Report::new(vec![SiteReport::config(
        &a.tenant, &a.files, findings,
    )]))
}
