//! `tollguard demo`: the 2015 hijacking replayed live against a real guard on loopback. One process starts
//! the guard with an embedded configuration (a Tokyo office with a new user's defaults), and the simulated
//! peers around it — the carrier, the office PBX and its people, two internet scanners, and the attacker of
//! ext 205 — all speaking real SIP over UDP through the guard, on a simulated clock shared with the engine.
//! Then it tells what happened: live in the terminal, as JSON (`--format json`), and as an HTML report.

mod carrier;
mod clock;
mod config;
mod internet;
mod outcome;
mod pbx;
mod report;
mod scenario;
mod webhook;
mod wire;
mod words;

use std::path::PathBuf;
use std::process::ExitCode;

pub use words::Lang;

/// `--lang`: the notifier's languages, listed in `--help` as a value enum would list them.
fn lang_arg() -> impl clap::builder::TypedValueParser<Value = Lang> {
    use clap::builder::TypedValueParser as _;
    clap::builder::PossibleValuesParser::new(Lang::ALL.map(Lang::as_str))
        .try_map(|s| s.parse::<Lang>())
}

/// Output format of the demo.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Live log in plain words, then a summary.
    Text,
    /// Headless: no live log, the outcome as one JSON document on stdout.
    Json,
}

#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// How many times faster than real time the simulated clock (engine and simulators) runs.
    #[arg(long, default_value_t = 60.0)]
    pub speed: f64,
    /// Simulated time to replay, from Friday 19:25 JST (attack from 19:30): "50m", "2h", or minutes.
    #[arg(long, default_value = "50m")]
    pub duration: String,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Also write a self-contained HTML report (charts of calls and money over time) to this file.
    #[arg(long)]
    pub html: Option<PathBuf>,
    /// Language of the live log and the summary.
    #[arg(long, default_value = "en", value_parser = lang_arg())]
    pub lang: Lang,
    /// Allow every country and ignore risk lists, as the PBXs of 2015 did: only the behaviour rules
    /// (pumping, velocity, concurrency, money) stand between the attacker and the bill.
    #[arg(long)]
    pub allow_all_countries: bool,
    /// Leave the guard running after the summary (until Ctrl-C) and print how to explore it.
    #[arg(long)]
    pub keep_running: bool,
}

/// Parses "50m", "2h", "90s" or a bare number of minutes into simulated seconds.
pub fn parse_duration(s: &str) -> anyhow::Result<u32> {
    let s = s.trim();
    let (num, unit) = match s.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => (s.get(..i).unwrap_or(""), s.get(i..).unwrap_or("").trim()),
        None => (s, "m"),
    };
    let n: u32 = num.parse().map_err(|_| {
        anyhow::anyhow!("--duration {s:?}: write minutes such as 50m, or hours such as 2h")
    })?;
    let secs = match unit {
        "s" => n,
        "m" | "min" => n.saturating_mul(60),
        "h" => n.saturating_mul(3600),
        _ => anyhow::bail!("--duration {s:?}: the unit must be s, m or h (e.g. 50m)"),
    };
    if secs < 10 * 60 {
        anyhow::bail!(
            "--duration {s:?}: at least 10m of simulated time (the attack starts 5 minutes in)"
        );
    }
    if secs > 72 * 3600 {
        anyhow::bail!("--duration {s:?}: at most 72h (a whole weekend)");
    }
    Ok(secs)
}

pub fn run(args: DemoArgs) -> anyhow::Result<ExitCode> {
    if !(args.speed.is_finite() && args.speed >= 1.0 && args.speed <= 2000.0) {
        anyhow::bail!(
            "--speed {}: use a factor between 1 and 2000 (60 replays an hour in a minute)",
            args.speed
        );
    }
    let duration_secs = parse_duration(&args.duration)?;
    // Two workers: the guard's core and the simulators do not wait on each other's timers.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(scenario::run(&args, duration_secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_in_plain_units() {
        assert_eq!(parse_duration("50m").ok(), Some(3000));
        assert_eq!(parse_duration("2h").ok(), Some(7200));
        assert_eq!(parse_duration("30").ok(), Some(1800));
        assert_eq!(parse_duration("900s").ok(), Some(900));
        assert!(parse_duration("5m").is_err());
        assert!(parse_duration("1d").is_err());
        assert!(parse_duration("abc").is_err());
    }
}
