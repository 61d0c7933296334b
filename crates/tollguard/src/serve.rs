//! `tollguard serve --config FILE`: runs the inline SIP proxy (crate `guard`) until SIGINT/SIGTERM. Logs
//! follow the file's `[log]` section (JSON or text, level; RUST_LOG overrides the level). The guard runs on
//! a single-threaded runtime: its core is one task that owns the engine, so more threads would only add
//! locking; the store writes on its own thread.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// The guard's configuration file (see docs/inline-proxy.md).
    #[arg(long, short)]
    pub config: PathBuf,
}

pub fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    // The log settings are read first, so that the guard's own messages use them.
    let settings = match guard::Settings::load(&args.config) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            eprintln!("tollguard serve: the configuration has errors; nothing was started");
            return Ok(ExitCode::from(1));
        }
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&settings.log_level));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let dispatch: tracing::Dispatch = if settings.log_json {
        tracing_subscriber::fmt()
            .json()
            .with_writer(std::io::stderr)
            .with_env_filter(filter)
            .into()
    } else {
        tracing_subscriber::fmt()
            .with_ansi(ansi)
            .with_writer(std::io::stderr)
            .with_env_filter(filter)
            .into()
    };
    let _log = tracing::dispatcher::set_default(&dispatch);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    rt.block_on(async {
        let guard = guard::Guard::start(&args.config)
            .await
            .with_context(|| format!("starting the guard from {}", args.config.display()))?;
        let mut stdout = std::io::stdout().lock();
        for line in guard.describe() {
            let _ = writeln!(stdout, "tollguard serve: {line}");
        }
        let _ = writeln!(stdout, "tollguard serve: ready");
        let _ = stdout.flush();
        drop(stdout);
        guard.run(shutdown()).await;
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

async fn shutdown() {
    #[cfg(unix)]
    {
        let term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate());
        match term {
            Ok(mut t) => {
                tokio::select! {
                    _ = t.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
