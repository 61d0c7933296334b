//! `tollguard analyze` and `tollguard backtest`: call detail records replayed through the engine, and what it
//! found (were you hit, since when, how many calls, how much money) or what a policy would have done (calls
//! blocked, money saved, legitimate calls blocked, how fast each attack was stopped).
//!
//! Two kinds of finding are kept apart from the tally to the rendering: *fraud or compromise* (behaviour: pumping,
//! velocity, money, range walks, risk tiers, obfuscation, and the bars tollguard sets after them) makes the
//! verdict — hit or not, since when, which extensions, how much; *outside your policy* (calls the policy refuses to
//! destinations the site calls routinely) is a section of its own, with the policy lines that would let them
//! through ([`verdict`]).
//!
//! The replay itself is crate `replay`; this module reads the files, builds the site's settings (the guard's
//! configuration with `--config`, else the defaults a new site gets) and hands the outcomes to the tally
//! ([`report`]), which the text ([`text`], English or Japanese), JSON ([`json`]) and HTML ([`page`]) forms render.

mod json;
mod page;
mod report;
mod text;
mod verdict;

use std::fs::File;
use std::io::{BufReader, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::Context;
use api::notify::Lang;
use cdr::{CdrFormat, CdrReader, ReadOptions};
use replay::{Replay, Site};
use serde_json::Value;

use report::{FileStat, Report};

/// `--lang`: the languages of tollguard's messages, listed in `--help` as a value enum would list them.
pub(crate) fn lang_arg() -> impl clap::builder::TypedValueParser<Value = Lang> {
    use clap::builder::TypedValueParser as _;
    clap::builder::PossibleValuesParser::new(Lang::ALL.map(Lang::as_str))
        .try_map(|s| s.parse::<Lang>())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
}

/// Options shared by `analyze` and `backtest`.
#[derive(Debug, clap::Args)]
pub struct Common {
    /// CDR files (Asterisk Master.csv, cdr_custom, FreeSWITCH CSV/JSON, Kamailio/OpenSIPS acc); `-` for stdin.
    #[arg(required_unless_present = "sample")]
    pub files: Vec<PathBuf>,
    /// Analyse an embedded sample instead of files: two weeks of a small Tokyo office's calls with the 2015
    /// weekend attack (a hijacked extension pumping ~30 s calls to Sierra Leone from Friday 19:30).
    #[arg(long, conflicts_with = "files")]
    pub sample: bool,
    /// Output for people (text) or machines (json: every decision with the CDR's call id and line).
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Also write a self-contained HTML report with charts.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// CDR format, when auto-detection is not wanted (asterisk-csv, asterisk-custom, freeswitch-csv,
    /// freeswitch-json, kamailio-acc).
    #[arg(long = "cdr-format", value_name = "NAME")]
    pub cdr_format: Option<String>,
    /// The guard's configuration, the file `serve` runs with: the calls are judged with its numbering (dial
    /// plan, risk lists, tariffs), its policy (and so its site time zone and currency), its tenants and its
    /// trusted networks. Without it: a Japanese site with the built-in lists, tariffs and policy.
    #[arg(long, short, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Time zone of the CDR times and of the report (default: the policy's site time zone, Asia/Tokyo).
    #[arg(long, value_name = "ZONE")]
    pub tz: Option<String>,
    /// Longest call in seconds: how far a CDR may come after its call started (CDRs are written at hang-up).
    #[arg(long, default_value_t = 4 * 3600, value_name = "SECS")]
    pub reorder_window: u32,
    /// No progress display.
    #[arg(long, short)]
    pub quiet: bool,
    /// Language of the text report (en, ja): the Japanese one is written from the findings' data.
    #[arg(long, default_value = "en", value_parser = lang_arg())]
    pub lang: Lang,
}

#[derive(Debug, clap::Args)]
pub struct AnalyzeArgs {
    #[command(flatten)]
    pub common: Common,
    /// Policy to judge the calls by, instead of the --config file's (default: the --config file's policy, else
    /// the built-in policy a new site gets).
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct BacktestArgs {
    /// The policy to test (default with --config: the configuration's own policy).
    #[arg(long, value_name = "FILE", required_unless_present = "config")]
    pub policy: Option<PathBuf>,
    #[command(flatten)]
    pub common: Common,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    Analyze,
    Backtest,
}

pub fn run_analyze(args: AnalyzeArgs) -> anyhow::Result<ExitCode> {
    let site =
        crate::site_config::load_site(args.common.config.as_deref(), args.policy.as_deref())?;
    let report = replay_files(&args.common, site, args.policy.as_deref(), Mode::Analyze)?;
    output(&args.common, &report)?;
    // Exit 1 when fraud was found in the user's files, so scripts and cron jobs can act on it; calls that are
    // only outside the policy never make it 1 (the embedded sample is meant to be hit).
    Ok(if report.hit() && !args.common.sample {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

pub fn run_backtest(args: BacktestArgs) -> anyhow::Result<ExitCode> {
    let site =
        crate::site_config::load_site(args.common.config.as_deref(), args.policy.as_deref())?;
    let report = replay_files(&args.common, site, args.policy.as_deref(), Mode::Backtest)?;
    output(&args.common, &report)?;
    Ok(ExitCode::SUCCESS)
}

/// Counts bytes read so that the progress display can say how far into a file the reader is.
struct Counting<R> {
    inner: R,
    read: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// `policy`: the `--policy` file, if any (named in the report).
fn replay_files(
    common: &Common,
    site: Site,
    policy: Option<&Path>,
    mode: Mode,
) -> anyhow::Result<Report> {
    let tz: cdr::Tz = match &common.tz {
        Some(name) => name.parse().map_err(|_| {
            anyhow::anyhow!("unknown time zone {name:?}: use an IANA name such as Asia/Tokyo")
        })?,
        None => site.time_zone(),
    };
    let format = match &common.cdr_format {
        Some(name) => Some(
            name.parse::<CdrFormat>()
                .map_err(|e| anyhow::anyhow!("--cdr-format {name}: {e}"))?,
        ),
        None => None,
    };
    let currency = site.currency();
    let judged_by = site.policy.clone();
    let mut replay = Replay::new(site, common.reorder_window);
    let mut report = Report::new(mode, tz, currency, common.format == Format::Json)?;
    report.set_policy(judged_by);
    report.config = common.config.as_ref().map(|p| p.display().to_string());
    report.settings_note = common.config.as_ref().map(|c| {
        let policy = policy.map_or_else(|| c.display().to_string(), |p| p.display().to_string());
        format!(
            "Numbering (dial plan, risk lists, tariffs), tenants and trusted networks from {}; policy from {policy}.",
            c.display()
        )
    });
    let progress = !common.quiet && std::io::stderr().is_terminal();

    let mut inputs: Vec<(String, Box<dyn Read>, u64)> = Vec::new();
    if common.sample {
        let mut buf = Vec::new();
        cdr::synth::write_master_csv(&cdr::synth::weekend_pump(2015), &mut buf)
            .context("cannot generate the embedded sample")?;
        let size = buf.len() as u64;
        inputs.push((
            "embedded-sample/Master.csv".into(),
            Box::new(std::io::Cursor::new(buf)),
            size,
        ));
    }
    for path in &common.files {
        if path.as_os_str() == "-" {
            inputs.push(("-".into(), Box::new(std::io::stdin().lock()), 0));
        } else {
            let f = File::open(path)
                .with_context(|| format!("cannot open the CDR file {}", path.display()))?;
            let size = f.metadata().map(|m| m.len()).unwrap_or(0);
            inputs.push((path.display().to_string(), Box::new(f), size));
        }
    }

    for (idx, (name, input, size)) in inputs.into_iter().enumerate() {
        let file_no = u16::try_from(idx).unwrap_or(u16::MAX);
        let read = Arc::new(AtomicU64::new(0));
        let input = BufReader::with_capacity(
            256 * 1024,
            Counting {
                inner: input,
                read: read.clone(),
            },
        );
        let opts = ReadOptions {
            format,
            site_tz: tz,
            ..ReadOptions::default()
        };
        let mut reader = CdrReader::new(input, opts).map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
        let mut stat = FileStat {
            path: name.clone(),
            format: String::new(),
            records: 0,
            errors: 0,
            first_errors: Vec::new(),
        };
        let mut next_progress = 0u64;
        while let Some(item) = reader.next_ref() {
            // Matched by reference: moving the record out copied its ~400 bytes for every line.
            match &item {
                Ok(rec) => {
                    stat.records += 1;
                    replay.push(file_no, rec, &mut report);
                    report.peak_held = report.peak_held.max(replay.held());
                }
                Err(e) => {
                    stat.errors += 1;
                    if stat.first_errors.len() < 5 {
                        stat.first_errors.push(format!("{name}:{e}"));
                    }
                    tracing::debug!(file = %name, line = e.line, "CDR line skipped: {e}");
                    if e.is_fatal() {
                        break;
                    }
                }
            }
            if progress && stat.records >= next_progress {
                next_progress = stat.records + 100_000;
                let done = read.load(Ordering::Relaxed);
                let pct = (done * 100).checked_div(size).unwrap_or(0);
                eprint!(
                    "\r{name}: {} records, {pct}%, {} suspicious   ",
                    numbering::group_thousands(stat.records as i64),
                    numbering::group_thousands(report.blocked as i64)
                );
            }
        }
        stat.format = reader
            .format()
            .map(|f| f.name().to_string())
            .unwrap_or_default();
        report.files.push(stat);
    }
    replay.finish(&mut report);
    report.close_hour();
    report.resolve();
    if progress {
        eprint!("\r{:60}\r", "");
    }
    report.late_records = replay.late_records;
    if let Some(log) = report.log.as_mut() {
        log.finish()?;
    }
    report.engine_state = serde_json::to_value(replay.engine().sizes()).unwrap_or(Value::Null);
    Ok(report)
}

fn output(common: &Common, r: &Report) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match common.format {
        Format::Text => text::write_text(&mut out, r, common.lang)?,
        Format::Json => {
            let doc = json::JsonReport {
                top: json::to_json(r),
                decisions: r.log.as_ref(),
            };
            serde_json::to_writer_pretty(&mut out, &doc)?;
            writeln!(out)?;
        }
    }
    if let Some(path) = &common.html {
        std::fs::write(path, page::to_html(r))
            .with_context(|| format!("cannot write the HTML report {}", path.display()))?;
        if common.format == Format::Text {
            match common.lang {
                Lang::En => writeln!(out, "\nHTML report written to {}", path.display())?,
                Lang::Ja => writeln!(out, "\nHTMLレポートを {} に書き出しました", path.display())?,
            }
        }
    }
    Ok(())
}
