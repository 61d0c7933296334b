//! The running guard: loads the configuration, restores bans, kill switches and the engine's snapshot from the
//! store, binds the listeners, and drives the core — one task owns the core (the engine is `&mut`), socket
//! tasks feed it, a store thread persists what it decides, timers flush request counts and take snapshots,
//! SIGHUP reloads the policy without dropping calls.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use engine::{Engine, Millis};
use numbering::Numbering;
use store::Store;
use tokio::sync::mpsc;

use crate::config::{ConfigErrors, Settings};
use crate::control::{Command, GuardHandle, GuardStatus, SyncReport};
use crate::proxy::{Core, Now, Output, Persist};
use crate::transport::{Inbound, Transports};

/// Why the guard could not start.
#[derive(Debug, thiserror::Error)]
pub enum GuardError {
    #[error("{0}")]
    Config(#[from] ConfigErrors),
    #[error("numbering: {0}")]
    Numbering(String),
    #[error("{0}")]
    Store(#[from] store::StoreError),
    #[error("network: {0}")]
    Io(#[from] std::io::Error),
}

fn wall_ms() -> Millis {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// The clock of the guard: wall time, and engine time (optionally sped up for tests and demos).
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    start_wall: Millis,
    start_engine: Millis,
    start: std::time::Instant,
    speed: f64,
}

impl Clock {
    pub fn new(speed: f64, start_engine: Option<Millis>) -> Clock {
        let w = wall_ms();
        Clock {
            start_wall: w,
            start_engine: start_engine.unwrap_or(w),
            start: std::time::Instant::now(),
            speed,
        }
    }
    pub fn now(&self) -> Now {
        let elapsed = i64::try_from(self.start.elapsed().as_millis()).unwrap_or(i64::MAX);
        #[allow(clippy::cast_possible_truncation)]
        let fast = (elapsed as f64 * self.speed) as i64;
        Now {
            wall: self.start_wall.saturating_add(elapsed),
            engine: self.start_engine.saturating_add(fast),
        }
    }
}

enum StoreJob {
    Persist(Persist),
    Snapshot(Millis, Box<engine::Snapshot>),
}

/// A guard that is bound and ready to run.
pub struct Guard {
    config_path: PathBuf,
    /// A second (reading) connection to the store: bans and kill switches that operators write there
    /// (through the API or `tollguard` commands) are picked up while running.
    watch: Option<StoreWatch>,
    core: Core,
    transports: Transports,
    inbound: mpsc::Receiver<Inbound>,
    store_tx: Option<std::sync::mpsc::Sender<StoreJob>>,
    clock: Clock,
    numbering: Arc<Numbering>,
    settings: Arc<Settings>,
    commands: mpsc::Receiver<Command>,
    handle: GuardHandle,
    started_at: Millis,
}

/// How many live events a slow subscriber may fall behind before it loses the oldest.
const LIVE_BACKLOG: usize = 4096;

impl Guard {
    /// Loads the configuration and the stored state, and binds the listeners.
    pub async fn start(config_path: &Path) -> Result<Guard, GuardError> {
        let settings = Settings::load(config_path)?;
        let numbering = Arc::new(
            Numbering::from_config(&settings.numbering)
                .map_err(|e| GuardError::Numbering(e.to_string()))?,
        );
        // Warm the classifier's tables now rather than on the first call (which would wait for them).
        let _ = numbering.classify("0312345678");
        let _ = numbering.classify("01023276123456");
        let clock = Clock::new(settings.clock_speed, settings.clock_start_ms);
        let now = clock.now();
        let store = match &settings.store_path {
            Some(p) => Some(Store::open(p)?),
            None => None,
        };
        let rates: Arc<dyn engine::RateTable> = numbering.clone();
        let mut engine = match store
            .as_ref()
            .map(Store::latest_snapshot)
            .transpose()?
            .flatten()
        {
            Some((at, snap)) => {
                tracing::info!(snapshot_at = at, "engine state restored from the store");
                Engine::restore(settings.policy.clone(), rates, snap)
            }
            None => Engine::with_seed(settings.policy.clone(), rates, seed()),
        };
        let mut restored_bans = Vec::new();
        if let Some(s) = &store {
            restored_bans = s.active_bans(now.engine)?;
            for ks in s.active_kill_switches()? {
                let known = engine
                    .kill_switches()
                    .iter()
                    .any(|k| k.scope == ks.scope && k.classes == ks.classes);
                if !known {
                    engine.set_kill_switch(ks.scope.clone(), ks.classes, ks.since, &ks.by, &ks.why);
                }
            }
        }
        let settings = Arc::new(settings);
        let mut core = Core::new(settings.clone(), engine, numbering.clone());
        for b in &restored_bans {
            core.restore_ban(b);
        }
        tracing::info!(
            bans = restored_bans.len(),
            kill_switches = core.engine().kill_switches().len(),
            "state restored"
        );
        let (tx, rx) = mpsc::channel(16_384);
        let transports = Transports::bind(&settings.listeners, tx).await?;
        let watch = match &settings.store_path {
            Some(p) => Some(StoreWatch::new(Store::open(p)?, &core)),
            None => None,
        };
        let store_tx = store.map(spawn_store);
        let (cmd_tx, commands) = mpsc::channel(64);
        let (events, _) = tokio::sync::broadcast::channel(LIVE_BACKLOG);
        let handle = GuardHandle {
            commands: cmd_tx,
            events,
            settings: settings.clone(),
            latency: core.decision_latency(),
        };
        Ok(Guard {
            settings,
            commands,
            handle,
            started_at: now.engine,
            config_path: config_path.to_owned(),
            watch,
            core,
            transports,
            inbound: rx,
            store_tx,
            clock,
            numbering,
        })
    }

    /// A handle for the operator API, the demo and tests: commands and the live event stream.
    pub fn handle(&self) -> GuardHandle {
        self.handle.clone()
    }

    /// Lines saying where the guard listens (printed by `tollguard serve`).
    pub fn describe(&self) -> Vec<String> {
        self.core
            .settings()
            .listeners
            .iter()
            .map(|l| {
                format!(
                    "listening on {} {} ({} side)",
                    l.transport.param(),
                    l.address,
                    l.role.as_str()
                )
            })
            .collect()
    }

    /// Runs until `shutdown` completes. SIGHUP reloads the policy.
    pub async fn run(mut self, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        let window = u64::from(self.core.settings().request_window_secs);
        let mut flush = tokio::time::interval(Duration::from_secs(window));
        let mut snap = tokio::time::interval(Duration::from_secs(u64::from(
            self.core.settings().snapshot_secs,
        )));
        #[cfg(unix)]
        let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
        let mut watch_tick = tokio::time::interval(Duration::from_secs(1));
        let mut out = Output::default();
        loop {
            self.core.set_live(self.handle.events.receiver_count() > 0);
            #[cfg(unix)]
            let hup_fut = async {
                match hup.as_mut() {
                    Some(h) => {
                        h.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            #[cfg(not(unix))]
            let hup_fut = std::future::pending::<()>();
            tokio::select! {
                m = self.inbound.recv() => {
                    let Some(m) = m else { break };
                    // A subscriber that arrived while the loop waited sees this batch's events.
                    self.core.set_live(self.handle.events.receiver_count() > 0);
                    self.core.on_inbound(&m, self.clock.now(), &mut out);
                    // Drain what is already queued before yielding, to batch under load.
                    let mut n = 0;
                    while n < 256 {
                        match self.inbound.try_recv() {
                            Ok(m) => self.core.on_inbound(&m, self.clock.now(), &mut out),
                            Err(_) => break,
                        }
                        n += 1;
                    }
                }
                _ = tick.tick() => {
                    self.core.expire(self.clock.now(), &mut out);
                }
                _ = flush.tick() => {
                    self.core.tick(self.clock.now(), &mut out);
                }
                _ = snap.tick() => {
                    if let Some(tx) = &self.store_tx {
                        let snap = self.core.engine().snapshot();
                        let _ = tx.send(StoreJob::Snapshot(self.clock.now().engine, Box::new(snap)));
                    }
                }
                _ = watch_tick.tick() => {
                    if let Some(w) = self.watch.as_mut() {
                        w.poll(&mut self.core, self.clock.now(), &mut out);
                    }
                }
                Some(cmd) = self.commands.recv() => {
                    // Sends of a kill switch's BYEs go out before the answer, so that "the API returned"
                    // means "the calls are being ended".
                    let reply = self.command(cmd, &mut out);
                    self.flush(&mut out).await;
                    reply.send();
                }
                _ = hup_fut => {
                    let _ = self.reload();
                }
                _ = &mut shutdown => break,
            }
            self.flush(&mut out).await;
        }
        if let Some(tx) = &self.store_tx {
            let snap = self.core.engine().snapshot();
            let _ = tx.send(StoreJob::Snapshot(self.clock.now().engine, Box::new(snap)));
        }
        tracing::info!(stats = ?self.core.stats, "guard stopped");
    }

    /// Serves one command; the answer is sent after the output is flushed.
    fn command(&mut self, cmd: Command, out: &mut Output) -> Reply {
        let now = self.clock.now();
        match cmd {
            Command::Status(reply) => {
                let status = GuardStatus {
                    version: env!("CARGO_PKG_VERSION"),
                    started_at: self.started_at,
                    now: now.engine,
                    clock_speed: self.settings.clock_speed,
                    stats: self.core.stats,
                    engine: self.core.engine().stats(),
                    sizes: self.core.engine().sizes(),
                    calls_in_progress: self.core.dialogs_in_progress(),
                    bans_active: self.core.bans_active(now.engine),
                    kill_switches: self.core.engine().kill_switches().to_vec(),
                    listeners: self.describe(),
                };
                Reply::new(reply, status)
            }
            Command::Calls { tenant, reply } => {
                Reply::new(reply, self.core.calls(tenant.as_deref()))
            }
            Command::EndCall {
                call_id,
                tenant,
                why,
                reply,
            } => {
                let in_scope = self
                    .core
                    .calls(tenant.as_deref())
                    .iter()
                    .any(|c| c.call_id == call_id);
                let ended = in_scope && self.core.end_call(&call_id, &why, now, out);
                Reply::new(reply, ended)
            }
            Command::SyncStore(reply) => {
                let report = match self.watch.as_mut() {
                    Some(w) => w.poll(&mut self.core, now, out),
                    None => SyncReport::default(),
                };
                Reply::new(reply, report)
            }
            Command::Accounts { tenant, reply } => Reply::new(
                reply,
                self.core
                    .engine()
                    .account_summaries(tenant.as_deref(), now.engine),
            ),
            Command::ReloadPolicy(reply) => {
                let r = self.reload();
                Reply::new(reply, r)
            }
        }
    }

    async fn flush(&mut self, out: &mut Output) {
        if !out.events.is_empty() {
            for e in out.events.drain(..) {
                // No receiver is not an error: nobody is watching right now.
                let _ = self.handle.events.send(e);
            }
        }
        for p in out.persist.drain(..) {
            if let Some(tx) = &self.store_tx {
                let _ = tx.send(StoreJob::Persist(p));
            }
        }
        for s in out.sends.drain(..) {
            self.transports.send(s).await;
        }
    }

    /// SIGHUP: re-read the policy; the engine keeps its state (snapshot → restore under the new policy).
    fn reload(&mut self) -> Result<(), String> {
        match Settings::reload_policy(&self.config_path) {
            Ok(policy) => {
                let snap = self.core.engine().snapshot();
                let rates: Arc<dyn engine::RateTable> = self.numbering.clone();
                self.core.set_engine(Engine::restore(policy, rates, snap));
                tracing::warn!(config = %self.config_path.display(), "policy reloaded");
                Ok(())
            }
            Err(e) => {
                tracing::error!(error = %e, "policy NOT reloaded: the configuration has errors; the old policy stays in force");
                Err(e.to_string())
            }
        }
    }
}

/// What the guard has seen in the store, so that a row that disappears (a ban lifted, a kill switch lifted by
/// an operator) can be told from one the guard wrote itself and that is not persisted yet.
struct StoreWatch {
    store: Store,
    bans: std::collections::HashMap<std::net::IpAddr, Millis>,
    switches: Vec<(engine::BarScope, engine::ClassSet)>,
}

impl StoreWatch {
    fn new(store: Store, core: &Core) -> StoreWatch {
        let switches = core
            .engine()
            .kill_switches()
            .iter()
            .map(|k| (k.scope.clone(), k.classes))
            .collect();
        StoreWatch {
            store,
            bans: std::collections::HashMap::new(),
            switches,
        }
    }

    fn poll(&mut self, core: &mut Core, now: crate::proxy::Now, out: &mut Output) -> SyncReport {
        let mut report = SyncReport::default();
        match self.store.active_bans(now.engine) {
            Ok(bans) => {
                for b in &bans {
                    if self.bans.get(&b.source) != Some(&b.until) {
                        if !core.is_banned(b.source, now.engine) {
                            tracing::warn!(source = %b.source, why = %b.why, "ban set by an operator");
                            core.restore_ban(b);
                            report.bans_set += 1;
                        }
                        self.bans.insert(b.source, b.until);
                    }
                }
                let gone: Vec<_> = self
                    .bans
                    .keys()
                    .filter(|ip| !bans.iter().any(|b| b.source == **ip))
                    .copied()
                    .collect();
                for ip in gone {
                    self.bans.remove(&ip);
                    if core.is_banned(ip, now.engine) {
                        core.lift_ban(ip);
                        report.bans_lifted += 1;
                    }
                }
            }
            Err(e) => tracing::error!(error = %e, "reading bans from the store"),
        }
        match self.store.active_kill_switches() {
            Ok(ks) => {
                for k in &ks {
                    let key = (k.scope.clone(), k.classes);
                    if !self.switches.contains(&key) {
                        let known = core
                            .engine()
                            .kill_switches()
                            .iter()
                            .any(|e| e.scope == k.scope && e.classes == k.classes);
                        if !known {
                            let ended = core.operator_kill_switch(k, now, out);
                            report.kill_switches_set += 1;
                            report.calls_ended.extend(ended);
                        }
                        self.switches.push(key);
                    }
                }
                let gone: Vec<_> = self
                    .switches
                    .iter()
                    .filter(|(s, c)| !ks.iter().any(|k| &k.scope == s && k.classes == *c))
                    .cloned()
                    .collect();
                for (scope, classes) in gone {
                    self.switches
                        .retain(|(s, c)| !(s == &scope && *c == classes));
                    if core.lift_kill_switch(&scope, classes) {
                        report.kill_switches_lifted += 1;
                    }
                }
            }
            Err(e) => tracing::error!(error = %e, "reading kill switches from the store"),
        }
        report
    }
}

fn seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::hash::RandomState::new().build_hasher();
    h.write_i64(wall_ms());
    h.finish()
}

/// Most jobs written in one go by the store thread.
const STORE_BATCH: usize = 1024;

/// The store's writer thread. Under a burst (an attack produces alerts on every call) it takes every job
/// waiting and writes the alerts of all of them in one transaction: one disk sync per burst instead of one per
/// call, so the writer keeps up and holds the database lock briefly (an operator's kill switch written by
/// the API does not queue behind hundreds of syncs).
fn spawn_store(store: Store) -> std::sync::mpsc::Sender<StoreJob> {
    let (tx, rx) = std::sync::mpsc::channel::<StoreJob>();
    std::thread::spawn(move || {
        let mut store = store;
        let mut jobs = Vec::with_capacity(STORE_BATCH);
        while let Ok(job) = rx.recv() {
            jobs.push(job);
            while jobs.len() < STORE_BATCH {
                match rx.try_recv() {
                    Ok(j) => jobs.push(j),
                    Err(_) => break,
                }
            }
            write_jobs(&mut store, &mut jobs);
        }
    });
    tx
}

fn write_jobs(store: &mut Store, jobs: &mut Vec<StoreJob>) {
    let mut alerts: Vec<(String, Vec<engine::Decision>)> = Vec::new();
    for job in jobs.drain(..) {
        let r = match job {
            // Bans and kill switches first and on their own: they are what must never wait.
            StoreJob::Persist(Persist::Ban(b)) => store.put_ban(&b),
            StoreJob::Persist(Persist::KillSwitch(k)) => store.put_kill_switch(&k).map(|_| ()),
            StoreJob::Persist(Persist::Alerts { tenant, decisions }) => {
                alerts.push((tenant, decisions));
                Ok(())
            }
            StoreJob::Snapshot(at, s) => store.save_snapshot(at, &s),
        };
        if let Err(e) = r {
            tracing::error!(error = %e, "store write failed");
        }
    }
    if !alerts.is_empty() {
        let batches: Vec<(&str, &[engine::Decision])> = alerts
            .iter()
            .map(|(t, d)| (t.as_str(), d.as_slice()))
            .collect();
        if let Err(e) = store.insert_alert_batches(&batches) {
            let n: usize = alerts.iter().map(|(_, d)| d.len()).sum();
            tracing::error!(error = %e, alerts = n, "store write failed: alerts not recorded");
        }
    }
}

/// An answer to a command, sent once the command's output has gone out on the wire.
struct Reply(Box<dyn FnOnce() + Send>);

impl Reply {
    fn new<T: Send + 'static>(tx: tokio::sync::oneshot::Sender<T>, value: T) -> Reply {
        Reply(Box::new(move || {
            // The asker may have given up waiting; nothing to do then.
            let _ = tx.send(value);
        }))
    }
    fn send(self) {
        (self.0)();
    }
}
