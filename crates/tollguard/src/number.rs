//! `tollguard number`: explain how a dialed string is classified and priced, in words a PBX admin reads
//! (or as JSON with `--format json`).

use std::fmt::Write as _;
use std::io::Write as _;
use std::process::ExitCode;

use anyhow::Context;
use numbering::{Destination, DialPlanConfig, Numbering, NumberingConfig, Scope, TariffSource};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// What was dialed, as the PBX or phone sent it (e.g. 0102327612345, +23276123456, tel:+232…).
    pub dialed: String,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Site country whose dial plan applies (ISO code: JP, US, GB…).
    #[arg(long, default_value = "JP")]
    pub country: String,
    /// Digit the site's users dial for an outside line (e.g. 0 or 9).
    #[arg(long)]
    pub outside_line: Option<String>,
    /// User risk list (CSV action,match,number[,note]); may be repeated.
    #[arg(long = "risk-list")]
    pub risk_lists: Vec<std::path::PathBuf>,
    /// The carrier's rate table (CSV prefix,name,per_minute,currency[,increment[,setup]]).
    #[arg(long)]
    pub tariffs: Option<std::path::PathBuf>,
}

fn scope_words(s: Scope) -> &'static str {
    match s {
        Scope::Emergency => "EMERGENCY (never blocked by any rule or kill switch)",
        Scope::Internal => "internal (extension or PBX feature code)",
        Scope::Domestic => "domestic",
        Scope::International => "international",
        Scope::Unknown => "unknown",
    }
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let cfg = NumberingConfig {
        dial_plan: DialPlanConfig {
            country: args.country.clone(),
            outside_line: args.outside_line.clone(),
            ..Default::default()
        },
        risk: numbering::RiskConfig {
            lists: args.risk_lists.clone(),
            ..Default::default()
        },
        tariffs: numbering::TariffConfig {
            file: args.tariffs.clone(),
            replace_defaults: false,
        },
        prefix_cache: true,
    };
    let numbering = Numbering::from_config(&cfg)
        .context("cannot set up numbering (check --country, lists, tariffs)")?;
    let dest = numbering.classify(&args.dialed);
    match args.format {
        Format::Json => {
            let mut j = serde_json::to_string_pretty(&to_json(&numbering, &args.dialed, &dest))?;
            j.push('\n');
            std::io::stdout().write_all(j.as_bytes())?;
        }
        Format::Text => {
            std::io::stdout().write_all(text(&numbering, &args.dialed, &dest).as_bytes())?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn to_json(n: &Numbering, dialed: &str, dest: &Destination) -> serde_json::Value {
    let tariff = n.tariff(dest);
    serde_json::json!({
        "dialed": dialed,
        "destination": dest,
        "emergency": dest.is_emergency(),
        "tariff": tariff,
        "cost_30s": tariff.map(|t| t.cost(30)),
        "cost_60s": tariff.map(|t| t.cost(60)),
        "dial_plan": n.plan(),
    })
}

/// The explanation as text (written at once, so that a closed pipe is one error, not a panic).
fn text(n: &Numbering, dialed: &str, d: &Destination) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "dialed        {dialed}");
    let plan = n.plan();
    let ol = plan
        .outside_line
        .as_deref()
        .map(|o| format!(", outside line {o}"))
        .unwrap_or_default();
    let _ = writeln!(
        o,
        "dial plan     {} (international {}, trunk {}{ol})",
        plan.country, plan.international_prefix, plan.trunk_prefix
    );
    match d.e164 {
        Some(e) => {
            let _ = writeln!(o, "E.164         {e}");
        }
        None => {
            let _ = writeln!(o, "E.164         (none: not a public number in E.164 form)");
        }
    }
    match d.country {
        Some(c) => {
            let _ = writeln!(
                o,
                "country       {} ({}, +{})",
                c.name, c.iso2, c.calling_code
            );
        }
        None => {
            let _ = writeln!(o, "country       unknown");
        }
    }
    let _ = writeln!(o, "class         {:?}", d.class);
    let _ = writeln!(o, "scope         {}", scope_words(d.scope));
    if d.flags.is_empty() {
        let _ = writeln!(o, "written as    plain digits");
    } else {
        for (i, words) in d.flags.descriptions().enumerate() {
            let _ = writeln!(
                o,
                "{}{words}",
                if i == 0 {
                    "written with  "
                } else {
                    "              "
                }
            );
        }
    }
    let _ = writeln!(o, "risk          {:?}: {}", d.risk, d.risk_reason);
    match n.tariff(d) {
        Some(t) => {
            let source = match &t.source {
                TariffSource::DefaultEstimate => {
                    "embedded default, an ESTIMATE (load your carrier's table)".to_string()
                }
                TariffSource::User { file, line } => format!("{file}:{line}"),
            };
            let prefix = if t.prefix.is_empty() {
                "any international".to_string()
            } else {
                format!("+{}", t.prefix)
            };
            let _ = writeln!(
                o,
                "price         {}.{:03} {}/min, billed {}/{} s, setup {} ({} {prefix})",
                t.per_minute.millis / 1000,
                t.per_minute.millis % 1000,
                t.per_minute.currency,
                t.first_increment,
                t.next_increment,
                t.setup,
                t.name
            );
            let _ = writeln!(o, "price source  {source}");
            let _ = writeln!(
                o,
                "call cost     30 s: {}   60 s: {}",
                t.cost(30),
                t.cost(60)
            );
        }
        None if d.is_emergency() => {
            let _ = writeln!(
                o,
                "price         none (emergency calls are never priced or blocked)"
            );
        }
        None => {
            let _ = writeln!(o, "price         no tariff applies");
        }
    }
    o
}
