//! `tollguard serve --config FILE`: runs the inline SIP proxy (crate `guard`) until SIGINT/SIGTERM. Logs
//! follow the file's `[log]` section (JSON or text, level; RUST_LOG overrides the level). The guard's core (one
//! task that owns the engine and the dialogs: no lock) runs on the main thread; the sockets are read, and the
//! operator API served, by `[transport] receive_threads` threads of their own, so that reading never waits
//! for a decision; the store writes on its own thread.

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
    let filter = crate::log_filter(&settings.log_level);
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
    // For every thread: the shards, the UDP readers and the runtime's workers log through it too.
    let _ = tracing::dispatcher::set_global_default(dispatch);
    // Every country's number metadata is built now, off the core's thread: otherwise the first call to each
    // calling code pays for it (tens of milliseconds for +1) while the decisions behind it wait.
    let _ = std::thread::Builder::new()
        .name("tollguard-numbering".into())
        .spawn(numbering::prepare_all_countries);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(settings.transport.receive_threads.max(1))
        .thread_name("tollguard-io")
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    // The operator API is configured in the same file ([api]); without that section the guard runs alone.
    let api_config = match api::ApiConfig::load(&args.config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            eprintln!("tollguard serve: the configuration has errors; nothing was started");
            return Ok(ExitCode::from(1));
        }
    };
    // [notify] is checked before anything starts, like the rest of the file.
    let notify_config = match std::fs::read_to_string(&args.config)
        .map(|text| api::notify::NotifyConfig::from_toml_str(&text))
    {
        Ok(Ok(c)) => Some(c),
        Ok(Err(e)) => {
            eprintln!("{}:{e}", args.config.display());
            eprintln!("tollguard serve: the configuration has errors; nothing was started");
            return Ok(ExitCode::from(1));
        }
        // Unreadable now although Settings::load read it a moment ago: the guard's start reports it.
        Err(_) => None,
    };
    if api_config.is_some() && settings.store_path.is_none() {
        eprintln!(
            "{}: the [api] section needs a [store] path (tokens, alerts and the audit log live there); nothing was started",
            args.config.display()
        );
        return Ok(ExitCode::from(1));
    }
    rt.block_on(async {
        let guard = guard::Guard::start(&args.config)
            .await
            .with_context(|| format!("starting the guard from {}", args.config.display()))?;
        let handle = guard.handle();
        let mut lines = guard.describe();
        // Alerts to people ([notify]): every decision of the guard goes to the notifier. Started before the
        // API so that /metrics exports its delivery counters.
        let notifier = notify_config
            .filter(|c| !(c.webhook.is_empty() && c.email.is_empty() && c.syslog.is_none()))
            .map(|cfg| {
                let n = api::notify::Notifier::start(cfg);
                let _forward = api::notify::forward_decisions(handle.subscribe(), n.clone());
                n
            });
        let api = match (api_config, settings.store_path.clone()) {
            (Some(cfg), Some(store_path)) => {
                let token = api::bootstrap_admin(&cfg, &store_path)
                    .context("creating the first admin token of the operator API")?;
                let mut bound = api::bind(cfg, handle.clone(), store_path)
                    .await
                    .context("starting the operator API")?;
                if let Some(n) = &notifier {
                    bound = bound.with_notifier(n.clone());
                }
                let scheme = if bound.tls() { "https" } else { "http" };
                lines.push(format!(
                    "operator API on {scheme}://{} (tollguard ctl --url {scheme}://{})",
                    bound.local_addr(),
                    bound.local_addr()
                ));
                if let Some(t) = token {
                    lines.push(format!(
                        "first admin token (shown ONCE, only its hash is stored): {t}"
                    ));
                    lines.push(
                        "  use it with: export TOLLGUARD_TOKEN=<token>; tollguard ctl status"
                            .into(),
                    );
                }
                Some(bound)
            }
            _ => None,
        };
        let mut stdout = std::io::stdout().lock();
        for line in lines {
            let _ = writeln!(stdout, "tollguard serve: {line}");
        }
        let _ = writeln!(stdout, "tollguard serve: ready");
        let _ = stdout.flush();
        drop(stdout);
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let api_task = api.map(|bound| {
            let mut stop = stop_rx.clone();
            tokio::spawn(bound.run(async move {
                let _ = stop.wait_for(|s| *s).await;
            }))
        });
        // On a worker of the runtime, beside the API's connections: a decision asked over HTTP wakes the
        // control loop on the same thread (no cross-thread wake-up and context switch per query).
        let run = tokio::spawn(guard.run(async {
            shutdown().await;
        }));
        if let Err(e) = run.await {
            tracing::error!(error = %e, "the guard's control task failed");
        }
        let _ = stop_tx.send(true);
        if let Some(n) = &notifier {
            // Storm summaries held back are sent now; give deliveries a few seconds.
            n.close(std::time::Duration::from_secs(5)).await;
        }
        if let Some(t) = api_task {
            match t.await {
                Ok(Err(e)) => tracing::error!(error = %e, "operator API stopped with an error"),
                Err(e) => tracing::error!(error = %e, "operator API task failed"),
                Ok(Ok(())) => {}
            }
        }
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
