//! `tollguard learn`: reads a site's call detail records and writes a policy fitted to them (crate `replay`'s
//! `learn` does the fitting), the policy file on stdout and the summary on stderr, so that
//! `tollguard learn Master.csv > policy.toml` works. With `--holdout 7d` the last days are kept out of the
//! learning and backtested with the learned policy.

use std::fs::File;
use std::io::{BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use cdr::{CallRecord, CdrFormat, CdrReader, ReadOptions};
use engine::Policy;
use replay::Site;
use replay::learn::{self, Lang, LearnOptions};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// The policy file, ready for `serve` and `backtest --policy`.
    Toml,
    /// The policy file's text with every learned figure and the holdout's, for machines.
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LangArg {
    En,
    Ja,
}

#[derive(Debug, clap::Args)]
pub struct LearnArgs {
    /// CDR files of the site's history (Asterisk Master.csv, cdr_custom, FreeSWITCH CSV/JSON, Kamailio/OpenSIPS
    /// acc); `-` for stdin.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// The guard's configuration: its numbering (dial plan, risk lists, tariffs), tenants and policy, whose
    /// safety settings the learned policy keeps. Without it: a Japanese site with the built-in policy.
    #[arg(long, short, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Keep the last period out of the learning and backtest it with the learned policy: `7d`, `48h`.
    #[arg(long, value_name = "PERIOD", value_parser = parse_period)]
    pub holdout: Option<i64>,
    /// Output: the policy file (toml) or the policy with every learned figure (json).
    #[arg(long, value_enum, default_value_t = Format::Toml)]
    pub format: Format,
    /// Language of the policy's comments and of the summary.
    #[arg(long, value_enum, default_value_t = LangArg::En)]
    pub lang: LangArg,
    /// CDR format, when auto-detection is not wanted (asterisk-csv, asterisk-custom, freeswitch-csv,
    /// freeswitch-json, kamailio-acc).
    #[arg(long = "cdr-format", value_name = "NAME")]
    pub cdr_format: Option<String>,
}

/// "7d", "48h", "90m" or a number of days, in seconds.
fn parse_period(s: &str) -> Result<i64, String> {
    let s = s.trim();
    let (num, unit) = match s.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => (s.get(..i).unwrap_or(""), c),
        _ => (s, 'd'),
    };
    let n: i64 = num
        .parse()
        .map_err(|_| format!("\"{s}\" is not a period: write it as 7d, 48h or 90m"))?;
    let secs = match unit {
        'd' => n.checked_mul(86_400),
        'h' => n.checked_mul(3600),
        'm' => n.checked_mul(60),
        _ => None,
    };
    match secs {
        Some(v) if v > 0 => Ok(v),
        _ => Err(format!(
            "\"{s}\" is not a period: write it as 7d, 48h or 90m"
        )),
    }
}

pub fn run(args: LearnArgs) -> anyhow::Result<ExitCode> {
    let site = crate::site_config::load_site(args.config.as_deref(), None)?;
    let format = match &args.cdr_format {
        Some(name) => Some(
            name.parse::<CdrFormat>()
                .map_err(|e| anyhow::anyhow!("--cdr-format {name}: {e}"))?,
        ),
        None => None,
    };
    let mut records = Vec::new();
    for path in &args.files {
        read_file(path, format, site.time_zone(), &mut records)?;
    }
    if records.is_empty() {
        anyhow::bail!("no call records were read from the files given: nothing to learn from");
    }
    let lang = match args.lang {
        LangArg::En => Lang::En,
        LangArg::Ja => Lang::Ja,
    };
    let (train, test) = match args.holdout {
        Some(secs) => learn::split_holdout(&records, secs),
        None => (records, Vec::new()),
    };
    if train.is_empty() {
        anyhow::bail!(
            "the holdout covers every call: nothing is left to learn from (use a shorter --holdout)"
        );
    }
    let learned = learn::learn(&site, &train, &LearnOptions::default());
    let text = learn::render_toml(&learned, lang);
    // The policy written must be one the loader takes: check before anyone relies on it.
    let policy = Policy::from_toml_str(&text).map_err(|e| {
        anyhow::anyhow!("the learned policy does not load ({e}); please report this")
    })?;
    let holdout = args.holdout.map(|_| {
        let mut judge = site.clone();
        judge.policy = policy;
        let span = span_words(&test, &site);
        (learn::holdout(judge, &test), span)
    });
    let summary = learn::summary(
        &learned,
        holdout.as_ref().map(|(h, s)| (h, s.as_str())),
        lang,
    );
    let mut out = std::io::stdout().lock();
    match args.format {
        Format::Toml => out.write_all(text.as_bytes())?,
        Format::Json => {
            let doc = serde_json::json!({
                "policy": text,
                "learned": learn::render_json(&learned),
                "holdout": holdout.as_ref().map(|(h, span)| serde_json::json!({"span": span, "report": h})),
            });
            serde_json::to_writer_pretty(&mut out, &doc)?;
            out.write_all(b"\n")?;
        }
    }
    out.flush()?;
    eprint!("{summary}");
    Ok(ExitCode::SUCCESS)
}

/// "2025-07-07 to 2025-07-13": the local dates of the first and last holdout call.
fn span_words(calls: &[CallRecord], site: &Site) -> String {
    let tz = site.time_zone();
    let first = calls.iter().map(|r| r.start).min();
    let last = calls.iter().map(|r| r.start).max();
    match (first, last) {
        (Some(a), Some(b)) => format!(
            "{} – {}",
            a.with_timezone(&tz).date_naive(),
            b.with_timezone(&tz).date_naive()
        ),
        _ => String::from("(no calls)"),
    }
}

/// Reads every record of one file (or stdin for `-`); lines that cannot be read are counted and reported.
fn read_file(
    path: &Path,
    format: Option<CdrFormat>,
    tz: cdr::Tz,
    out: &mut Vec<CallRecord>,
) -> anyhow::Result<()> {
    let name = path.display().to_string();
    let input: Box<dyn Read> = if path.as_os_str() == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        Box::new(File::open(path).with_context(|| format!("cannot open the CDR file {name}"))?)
    };
    let opts = ReadOptions {
        format,
        site_tz: tz,
        ..ReadOptions::default()
    };
    let mut reader = CdrReader::new(BufReader::with_capacity(256 * 1024, input), opts)
        .map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
    let mut errors = 0u64;
    while let Some(item) = reader.next_ref() {
        match item {
            Ok(rec) => out.push(rec.to_owned_record()),
            Err(e) => {
                errors += 1;
                if errors <= 3 {
                    eprintln!("{name}:{e} (line skipped)");
                }
                if e.is_fatal() {
                    break;
                }
            }
        }
    }
    if errors > 3 {
        eprintln!("{name}: {errors} lines skipped in all");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_are_days_hours_or_minutes() {
        assert_eq!(parse_period("7d"), Ok(7 * 86_400));
        assert_eq!(parse_period("48h"), Ok(48 * 3600));
        assert_eq!(parse_period("90m"), Ok(90 * 60));
        assert_eq!(parse_period("3"), Ok(3 * 86_400));
        for bad in ["", "d", "-1d", "0d", "7w", "9999999999999999d"] {
            assert!(parse_period(bad).is_err(), "{bad}");
        }
    }
}
