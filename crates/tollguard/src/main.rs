//! The tollguard binary: the command line wiring the crates together.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod analyze;
mod audit;
mod check_config;
mod ctl;
mod demo;
mod html;
mod learn;
mod number;
mod serve;
mod site_config;

/// tollguard stops toll fraud on IP telephony.
#[derive(Debug, Parser)]
#[command(name = "tollguard", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Explain a dialed number: E.164 form, country, class, risk tier and price.
    Number(number::Args),
    /// Find toll fraud in call detail records: were you hit, since when, how many calls, how much money.
    Analyze(analyze::AnalyzeArgs),
    /// Replay call detail records through a policy: calls blocked, money saved, legitimate calls blocked.
    Backtest(analyze::BacktestArgs),
    /// Learn a policy from the site's own call history: routine destinations, hours, velocity and money limits.
    Learn(learn::LearnArgs),
    /// Run the inline SIP proxy in front of a PBX and on its trunk.
    Serve(serve::ServeArgs),
    /// Check a guard configuration file and explain each error with its line.
    CheckConfig(check_config::CheckConfigArgs),
    /// Operate a running guard from a terminal: status, alerts, bans, kill switches, calls in progress.
    Ctl(ctl::CtlArgs),
    /// Replay the 2015 hijacking live against a real guard on loopback and watch it being stopped.
    Demo(demo::DemoArgs),
    /// Find your own PBX's weak spots before attackers do: default passwords, exposure, risky configuration.
    Audit(audit::AuditArgs),
}

/// RUST_LOG's filter when it is set and not empty, else `default`.
pub(crate) fn log_filter(default: &str) -> tracing_subscriber::EnvFilter {
    filter_of(std::env::var("RUST_LOG").ok().as_deref(), default)
}

/// The filter of a RUST_LOG value: an empty or invalid one gives `default` (an empty RUST_LOG in the
/// environment must not override the configuration's level).
fn filter_of(rust_log: Option<&str>, default: &str) -> tracing_subscriber::EnvFilter {
    rust_log
        .filter(|v| !v.trim().is_empty())
        .and_then(|v| tracing_subscriber::EnvFilter::try_new(v).ok())
        .unwrap_or_else(|| tracing_subscriber::EnvFilter::new(default))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Diagnostics go to stderr, filtered by RUST_LOG (default: warnings); reports go to stdout. `serve`
    // installs its own, from the configuration's [log], for every thread of the guard.
    if !matches!(cli.command, Command::Serve(_)) {
        // The demo tells its own story on stdout; the guard's warnings would drown it.
        let default = if matches!(cli.command, Command::Demo(_)) {
            "error"
        } else {
            "warn"
        };
        tracing_subscriber::fmt()
            .with_writer(std::io::stderr)
            .with_env_filter(log_filter(default))
            .init();
    }
    let result = match cli.command {
        Command::Number(args) => number::run(args),
        Command::Analyze(args) => analyze::run_analyze(args),
        Command::Backtest(args) => analyze::run_backtest(args),
        Command::Learn(args) => learn::run(args),
        Command::Serve(args) => serve::run(args),
        Command::CheckConfig(args) => check_config::run(args),
        Command::Ctl(args) => ctl::run(args),
        Command::Demo(args) => demo::run(args),
        Command::Audit(args) => audit::run(args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            // `tollguard analyze … | head` closing the pipe is not an error worth a message.
            if is_broken_pipe(&err) {
                return ExitCode::SUCCESS;
            }
            eprintln!("tollguard: {err:#}");
            ExitCode::from(2)
        }
    }
}

/// Whether the error is, somewhere in its chain, stdout closed by the reader (`… | head`), also when the JSON
/// writer wrapped it.
fn is_broken_pipe(err: &anyhow::Error) -> bool {
    let pipe = Some(std::io::ErrorKind::BrokenPipe);
    err.chain().any(|e| {
        e.downcast_ref::<std::io::Error>().map(std::io::Error::kind) == pipe
            || e.downcast_ref::<serde_json::Error>()
                .and_then(serde_json::Error::io_error_kind)
                == pipe
    })
}

#[cfg(test)]
mod tests {
    use super::filter_of;

    #[test]
    fn an_empty_rust_log_leaves_the_configured_level() {
        assert_eq!(filter_of(None, "error").to_string(), "error");
        assert_eq!(filter_of(Some(""), "error").to_string(), "error");
        assert_eq!(filter_of(Some("  "), "warn").to_string(), "warn");
        assert_eq!(filter_of(Some("debug"), "error").to_string(), "debug");
    }
}
