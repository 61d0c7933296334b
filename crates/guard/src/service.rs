//! The running guard: loads the configuration, restores bans, kill switches and the engine's snapshot from the
//! store, binds the listeners, and starts the SIP shards (`crate::shard`: a core each behind its own lock,
//! which the UDP readers take to run datagrams to completion, and a thread each for stream messages, timers
//! and commands). Its control loop serves the operator's commands and the decision layer's periodic work
//! (request counts, snapshots, the store watch, SIGHUP reloads without dropping calls); a store thread persists
//! what the shards and the loop decide.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use engine::{Engine, Millis};
use numbering::Numbering;
use store::Store;
use tokio::sync::mpsc;

use crate::config::{ConfigErrors, Settings};
use crate::proxy::{Core, Now, Output, Persist, Shared};
use crate::shard::{Shard, ShardCommand, Sink};
use crate::transport::{Inboxes, Transports};
use decide::control::{
    CallInfo, Command, GuardHandle, GuardStats, GuardStatus, ServiceView, SyncReport,
};

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

pub(crate) enum StoreJob {
    Persist(Persist),
    /// Engine time and the engine's state; the writer also prunes bans that ran out by then and calls not
    /// written for longer than a call may last.
    Snapshot(Millis, Box<engine::Snapshot>),
}

/// What woke the control loop.
enum Wake {
    RequestCounts,
    Snapshot,
    StoreWatch,
    Command(Command),
    Reload,
}

impl Wake {
    fn name(&self) -> &'static str {
        match self {
            Wake::RequestCounts => "request counts to the engine",
            Wake::Snapshot => "engine snapshot",
            Wake::StoreWatch => "store watch (operator changes)",
            Wake::Command(_) => "a command of the operator API",
            Wake::Reload => "policy reload",
        }
    }
}

/// A pass of a shard or of the control loop longer than this is logged: every message queued meanwhile
/// (or waiting for the decision layer's lock) waited for it.
const SLOW_PASS: Duration = Duration::from_millis(20);

/// Logs slow passes (at most one line a second, with the longest since the last line), so that "calls
/// waited" has a named cause in the log.
#[derive(Default)]
pub(crate) struct SlowPasses {
    logged: Option<std::time::Instant>,
    worst: Option<(Duration, &'static str, usize)>,
    since_log: u64,
}

impl SlowPasses {
    pub(crate) fn check(&mut self, what: &'static str, took: Duration, queued: usize) {
        if took < SLOW_PASS {
            return;
        }
        self.since_log += 1;
        if self.worst.is_none_or(|w| took > w.0) {
            self.worst = Some((took, what, queued));
        }
        if self
            .logged
            .is_some_and(|t| t.elapsed() < Duration::from_secs(1))
        {
            return;
        }
        if let Some((took, what, queued)) = self.worst.take() {
            tracing::warn!(
                pass = what,
                took_ms = u64::try_from(took.as_millis()).unwrap_or(u64::MAX),
                queued_after = queued,
                slow_passes = self.since_log,
                thread = std::thread::current().name().unwrap_or("?"),
                "the guard's core was busy in one pass for longer than {} ms: messages waited for it",
                SLOW_PASS.as_millis()
            );
        }
        self.since_log = 0;
        self.logged = Some(std::time::Instant::now());
    }
}

/// A guard that is bound and ready to run.
pub struct Guard {
    config_path: PathBuf,
    /// A second (reading) connection to the store: bans and kill switches that operators write there
    /// (through the API or `tollguard` commands) are picked up while running.
    watch: Option<StoreWatch>,
    /// The control core: the decision layer's periodic work and the operator's commands. It owns no call;
    /// calls it ends go to their shards.
    control: Core,
    /// The SIP shards, started by [`Guard::run`].
    shards: Vec<Shard>,
    /// How the UDP readers run datagrams to completion on the shards, handed to them by [`Guard::run`].
    inline: Arc<crate::shard::Inline>,
    sink: Sink,
    transports: Transports,
    clock: Clock,
    numbering: Arc<Numbering>,
    settings: Arc<Settings>,
    commands: mpsc::Receiver<Command>,
    handle: GuardHandle,
    started_at: Millis,
    slow: SlowPasses,
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
        let mut restored_calls = Vec::new();
        if let Some(s) = &store {
            restored_bans = s.active_bans(now.engine)?;
            restored_calls = s.load_dialogs()?;
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
        let n = settings.transport.shards.max(1);
        let shared = Shared::new(&settings, engine, numbering.clone(), n);
        let mut cores: Vec<Core> = (0..n)
            .map(|i| Core::shard(settings.clone(), shared.clone(), numbering.clone(), i))
            .collect();
        for core in &mut cores {
            core.restore_dialogs(&restored_calls);
        }
        let mut control = Core::shard(settings.clone(), shared.clone(), numbering.clone(), n);
        for b in &restored_bans {
            control.restore_ban(b);
        }
        tracing::info!(
            bans = restored_bans.len(),
            kill_switches = control.engine().kill_switches().len(),
            shards = n,
            "state restored"
        );
        let queue = settings.transport.inbound_queue.max(1);
        let (queues, inbound): (Vec<_>, Vec<_>) = (0..n).map(|_| mpsc::channel(queue)).unzip();
        let transports = Transports::bind_sharded(
            &settings.listeners,
            settings.transport,
            Inboxes::sharded(queues, shared.clone()),
            Some(numbering.clone()),
        )
        .await?;
        let watch = match &settings.store_path {
            Some(p) => Some(StoreWatch::new(Store::open(p)?, &control)),
            None => None,
        };
        let call_max_age = Duration::from_secs(u64::from(settings.max_call_secs));
        let store_tx = store.map(|s| spawn_store(s, call_max_age));
        let (cmd_tx, commands) = mpsc::channel(64);
        let (events, _) = tokio::sync::broadcast::channel(LIVE_BACKLOG);
        let view = ServiceView {
            decide: settings.decide_config(),
            numbering: settings.numbering.clone(),
            policy_source: settings.policy_source.clone(),
        };
        let tally = control.decider().decision_tally();
        let handle =
            GuardHandle::new(cmd_tx, events, view, control.decision_latency()).with_tally(tally);
        let (shard_tx, shard_rx): (Vec<_>, Vec<_>) =
            (0..n).map(|_| mpsc::unbounded_channel()).unzip();
        let sink = Sink {
            transports: transports.clone(),
            store_tx,
            handle: handle.clone(),
            adapters: crate::end_call::Adapters::new(settings.end_call.clone()),
            shards: Arc::new(shard_tx),
        };
        let cores: Vec<_> = cores
            .into_iter()
            .map(|c| Arc::new(parking_lot::Mutex::new(c)))
            .collect();
        let inline = Arc::new(crate::shard::Inline {
            cores: cores.clone(),
            shared: shared.clone(),
            sink: sink.clone(),
            clock,
        });
        let shards = cores
            .into_iter()
            .zip(inbound)
            .zip(shard_rx)
            .map(|((core, inbound), commands)| Shard {
                core,
                inbound,
                commands,
                sink: sink.clone(),
                clock,
            })
            .collect();
        Ok(Guard {
            slow: SlowPasses::default(),
            settings,
            commands,
            handle,
            started_at: now.engine,
            config_path: config_path.to_owned(),
            watch,
            control,
            shards,
            inline,
            sink,
            transports,
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
        self.settings
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
    ///
    /// Starts the SIP shards (a thread each), then serves the operator's commands and the decision layer's
    /// periodic work (request counts, snapshots, the store watch, reloads) on this task.
    pub async fn run(mut self, shutdown: impl std::future::Future<Output = ()>) {
        let (stop_tx, stop) = tokio::sync::watch::channel(false);
        let mut stopped = Vec::new();
        let rt = tokio::runtime::Handle::current();
        for shard in std::mem::take(&mut self.shards) {
            let (done, wait) = tokio::sync::oneshot::channel();
            if let Err(e) = shard.spawn(rt.clone(), stop.clone(), done) {
                tracing::error!(error = %e, "a SIP shard could not start: its calls are not handled");
            }
            stopped.push(wait);
        }
        let inline = self.inline.clone();
        let readers = crate::transport::Inline {
            deliver: Arc::new(move |m| inline.deliver(m)),
            stop: Arc::new(std::sync::atomic::AtomicBool::new(false)),
        };
        self.transports.run_inline(&readers);
        self.control_loop(shutdown).await;
        let stats = self.stats().await;
        readers
            .stop
            .store(true, std::sync::atomic::Ordering::Relaxed);
        let _ = stop_tx.send(true);
        for wait in stopped {
            let _ = wait.await;
        }
        if let Some(tx) = &self.sink.store_tx {
            let snap = self.control.engine().snapshot();
            let _ = tx.send(StoreJob::Snapshot(self.clock.now().engine, Box::new(snap)));
        }
        tracing::info!(stats = ?stats, "guard stopped");
    }

    /// The loop of the control task: waits for the next thing to do ([`Wake`]) and does it.
    async fn control_loop(&mut self, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        let window = u64::from(self.settings.request_window_secs);
        let mut flush = tokio::time::interval(Duration::from_secs(window));
        let mut snap =
            tokio::time::interval(Duration::from_secs(u64::from(self.settings.snapshot_secs)));
        #[cfg(unix)]
        let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
        let mut watch_tick = tokio::time::interval(Duration::from_secs(1));
        let mut out = Output::default();
        loop {
            self.control.set_live(self.handle.watched());
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
            let wake = tokio::select! {
                _ = flush.tick() => Wake::RequestCounts,
                _ = snap.tick() => Wake::Snapshot,
                _ = watch_tick.tick() => Wake::StoreWatch,
                Some(cmd) = self.commands.recv() => Wake::Command(cmd),
                _ = hup_fut => Wake::Reload,
                _ = &mut shutdown => break,
            };
            let started = std::time::Instant::now();
            let what = wake.name();
            self.wake(wake, &mut out).await;
            self.slow.check(what, started.elapsed(), 0);
        }
    }

    /// Does what woke the control loop, and carries out its output.
    async fn wake(&mut self, wake: Wake, out: &mut Output) {
        match wake {
            Wake::RequestCounts => self.control.tick(self.clock.now(), out),
            Wake::Snapshot => {
                if let Some(tx) = &self.sink.store_tx {
                    let snap = self.control.engine().snapshot();
                    let _ = tx.send(StoreJob::Snapshot(self.clock.now().engine, Box::new(snap)));
                }
            }
            Wake::StoreWatch => {
                if let Some(w) = self.watch.as_mut() {
                    w.poll(&mut self.control, self.clock.now(), out);
                }
            }
            Wake::Command(cmd) => self.command(cmd, out).await,
            Wake::Reload => {
                let _ = self.reload();
            }
        }
        self.flush(out).await;
    }

    /// Carries out the control core's output; calls to end go to their shards, and this waits until those
    /// shards have sent their BYEs (so that "the API returned" means "the calls are being ended"). Returns
    /// the calls the shards ended.
    async fn flush(&mut self, out: &mut Output) -> Vec<String> {
        let mut waits = Vec::new();
        for (shard, calls) in self.sink.carry_out(out) {
            let (done, wait) = tokio::sync::oneshot::channel();
            let done = Some(done);
            if self.sink.send(shard, ShardCommand::End { calls, done }) {
                waits.push(wait);
            }
        }
        let mut ended = Vec::new();
        for wait in waits {
            ended.extend(wait.await.unwrap_or_default());
        }
        ended
    }

    /// Serves one command; the answer is sent once its output is carried out.
    async fn command(&mut self, cmd: Command, out: &mut Output) {
        let now = self.clock.now();
        match cmd {
            Command::Status(reply) => {
                let (stats, calls_per_shard) = self.reports().await;
                // One lock at a time (a guard held in a struct literal would lock twice).
                let (engine, sizes, kill_switches) = {
                    let e = self.control.engine();
                    (e.stats(), e.sizes(), e.kill_switches().to_vec())
                };
                let bans_active = self.control.bans_active(now.engine);
                let status = GuardStatus {
                    version: env!("CARGO_PKG_VERSION"),
                    started_at: self.started_at,
                    now: now.engine,
                    clock_speed: self.settings.clock_speed,
                    stats,
                    engine,
                    sizes,
                    calls_in_progress: calls_per_shard.iter().sum(),
                    calls_per_shard,
                    bans_active,
                    kill_switches,
                    listeners: self.describe(),
                };
                let _ = reply.send(status);
            }
            Command::Calls { tenant, reply } => {
                let _ = reply.send(self.calls(tenant).await);
            }
            Command::EndCall {
                call_id,
                tenant,
                why,
                reply,
            } => {
                let shard = self.control.shared().shard_of(call_id.as_bytes());
                let (tx, rx) = tokio::sync::oneshot::channel();
                let asked = ShardCommand::EndCall {
                    call_id: call_id.clone(),
                    tenant: tenant.clone(),
                    why: why.clone(),
                    reply: tx,
                };
                let ended = (self.sink.send(shard, asked) && rx.await.unwrap_or(false))
                    || self
                        .control
                        .end_queried_call(&call_id, tenant.as_deref(), &why, out);
                self.flush(out).await;
                let _ = reply.send(ended);
            }
            Command::SyncStore(reply) => {
                let mut report = match self.watch.as_mut() {
                    Some(w) => w.poll(&mut self.control, now, out),
                    None => SyncReport::default(),
                };
                report.calls_ended.extend(self.flush(out).await);
                let _ = reply.send(report);
            }
            Command::Accounts { tenant, reply } => {
                let accounts = self
                    .control
                    .engine()
                    .account_summaries(tenant.as_deref(), now.engine);
                let _ = reply.send(accounts);
            }
            Command::ReloadPolicy(reply) => {
                let _ = reply.send(self.reload());
            }
            Command::Decide {
                request,
                received,
                reply,
            } => {
                let r = &*request;
                let q = decide::CallQuery {
                    call_id: &r.call_id,
                    tenant: r.tenant.as_deref(),
                    source: r.source,
                    account: &r.account,
                    caller: r.caller.as_deref(),
                    dialed: &r.dialed,
                    phone_context: r.phone_context.as_deref(),
                    user_agent: &r.user_agent,
                    observe: false,
                    // The HTTP query carries no inbound-leg facts yet: a direct call.
                    ..Default::default()
                };
                let v = self.control.decide_query(&q, received, now, out);
                self.flush(out).await;
                let _ = reply.send(v);
            }
            Command::Progress {
                call_id,
                tenants,
                progress,
                reply,
            } => {
                let known =
                    self.control
                        .query_progress(&call_id, tenants.as_deref(), progress, now, out);
                self.flush(out).await;
                let _ = reply.send(known);
            }
        }
    }

    /// Calls in progress on every shard (of one tenant, or all), oldest first.
    async fn calls(&mut self, tenant: Option<String>) -> Vec<CallInfo> {
        let mut waits = Vec::new();
        for shard in 0..self.sink.shards.len() {
            let (reply, wait) = tokio::sync::oneshot::channel();
            let tenant = tenant.clone();
            if self.sink.send(shard, ShardCommand::Calls { tenant, reply }) {
                waits.push(wait);
            }
        }
        let mut calls = Vec::new();
        for wait in waits {
            calls.extend(wait.await.unwrap_or_default());
        }
        calls.sort_by(|a, b| (a.started, &a.call_id).cmp(&(b.started, &b.call_id)));
        calls
    }

    /// The counters of every shard, the control core and the readers' admission (shedding under overload), and
    /// the calls in progress on every shard.
    async fn reports(&mut self) -> (GuardStats, Vec<usize>) {
        let mut waits = Vec::new();
        for shard in 0..self.sink.shards.len() {
            let (reply, wait) = tokio::sync::oneshot::channel();
            if self.sink.send(shard, ShardCommand::Report(reply)) {
                waits.push(wait);
            }
        }
        let mut s = self.control.stats;
        let mut calls = Vec::new();
        for wait in waits {
            if let Ok(r) = wait.await {
                s.add(&r.stats);
                calls.push(r.calls_in_progress);
            }
        }
        let shed = self.transports.shed_stats();
        s.shed_options = shed.least;
        s.shed_registers = shed.registers;
        s.shed_calls = shed.calls;
        s.overload_lost = shed.lost;
        (s, calls)
    }

    async fn stats(&mut self) -> GuardStats {
        self.reports().await.0
    }

    /// SIGHUP: re-read the policy; the engine keeps its state (snapshot → restore under the new policy).
    fn reload(&mut self) -> Result<(), String> {
        match Settings::reload_policy(&self.config_path) {
            Ok(policy) => {
                let snap = self.control.engine().snapshot();
                let rates: Arc<dyn engine::RateTable> = self.numbering.clone();
                self.control
                    .set_engine(Engine::restore(policy, rates, snap));
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

/// Follows the store's change sequence, so that bans and kill switches that operators write there (through
/// the API or `tollguard` commands) are enforced within a second, at the cost of what changed since the last
/// poll rather than of everything stored. What it has seen tells a lift of a row from a row the guard wrote
/// itself and that is not persisted yet: only a ban or switch seen in the store is lifted when the store says
/// so.
struct StoreWatch {
    store: Store,
    /// The last change read, of bans and of kill switches. 0 at first: the first poll reads every row.
    ban_seq: u64,
    switch_seq: u64,
    /// Bans seen in the store, with their end; forgotten when lifted or once they ran out.
    bans: std::collections::HashMap<std::net::IpAddr, Millis>,
    switches: std::collections::HashSet<(engine::BarScope, engine::ClassSet)>,
    polls: u64,
}

/// Every this many polls the bans that ran out are forgotten (a pass over every ban seen: not on each poll).
const FORGET_EVERY: u64 = 64;

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
            ban_seq: 0,
            switch_seq: 0,
            bans: std::collections::HashMap::new(),
            switches,
            polls: 0,
        }
    }

    fn poll(&mut self, core: &mut Core, now: crate::proxy::Now, out: &mut Output) -> SyncReport {
        let mut report = SyncReport::default();
        self.poll_bans(core, now, &mut report);
        self.poll_switches(core, now, out, &mut report);
        report
    }

    fn poll_bans(&mut self, core: &mut Core, now: crate::proxy::Now, report: &mut SyncReport) {
        let changes = match self.store.ban_changes_since(self.ban_seq) {
            Ok((changes, seq)) => {
                self.ban_seq = seq;
                changes
            }
            Err(e) => {
                tracing::error!(error = %e, "reading ban changes from the store");
                return;
            }
        };
        for change in changes {
            match change {
                store::BanChange::Set(b) if b.until <= now.engine => {
                    // Rewritten as already run out: no longer in force, like a lift.
                    if self.bans.remove(&b.source).is_some() && core.is_banned(b.source, now.engine)
                    {
                        core.lift_ban(b.source);
                        report.bans_lifted += 1;
                    }
                }
                store::BanChange::Set(b) => {
                    if self.bans.get(&b.source) != Some(&b.until) {
                        if !core.is_banned(b.source, now.engine) {
                            tracing::warn!(source = %b.source, why = %b.why, "ban set by an operator");
                            core.restore_ban(&b);
                            report.bans_set += 1;
                        }
                        self.bans.insert(b.source, b.until);
                    }
                }
                store::BanChange::Lifted(ip) => {
                    if self.bans.remove(&ip).is_some() && core.is_banned(ip, now.engine) {
                        core.lift_ban(ip);
                        report.bans_lifted += 1;
                    }
                }
            }
        }
        self.polls += 1;
        if self.polls.is_multiple_of(FORGET_EVERY) {
            self.bans.retain(|_, until| *until > now.engine);
        }
    }

    fn poll_switches(
        &mut self,
        core: &mut Core,
        now: crate::proxy::Now,
        out: &mut Output,
        report: &mut SyncReport,
    ) {
        let first = self.switch_seq == 0;
        let changes = match self.store.kill_switch_changes_since(self.switch_seq) {
            Ok((changes, seq)) => {
                self.switch_seq = seq;
                changes
            }
            Err(e) => {
                tracing::error!(error = %e, "reading kill switch changes from the store");
                return;
            }
        };
        // The store keeps every switch ever set: the last change of a scope and classes tells how it stands
        // (lifted and set again between two polls: still in force, nothing to do). `None`: lifted.
        let mut latest: Vec<(
            (engine::BarScope, engine::ClassSet),
            Option<engine::KillSwitch>,
        )> = Vec::new();
        let mut place: std::collections::HashMap<_, usize> = std::collections::HashMap::new();
        for change in changes {
            let (k, in_force) = match change {
                store::KillSwitchChange::Set(k) => (k, true),
                store::KillSwitchChange::Lifted(k) => (k, false),
            };
            let key = (k.scope.clone(), k.classes);
            let state = in_force.then_some(k);
            match place.get(&key) {
                Some(&i) => latest[i].1 = state,
                None => {
                    place.insert(key.clone(), latest.len());
                    latest.push((key, state));
                }
            }
        }
        if first {
            // The first poll read every row: a switch the engine brought back from its snapshot that the store
            // has no row of is not in force for operators (it cannot be listed or lifted): lift it.
            let unknown: Vec<_> = self
                .switches
                .iter()
                .filter(|key| !place.contains_key(*key))
                .cloned()
                .collect();
            latest.extend(unknown.into_iter().map(|key| (key, None)));
        }
        for (key, state) in latest {
            match state {
                Some(k) => {
                    if self.switches.insert(key) {
                        let known = core
                            .engine()
                            .kill_switches()
                            .iter()
                            .any(|e| e.scope == k.scope && e.classes == k.classes);
                        if !known {
                            let ended = core.operator_kill_switch(&k, now, out);
                            report.kill_switches_set += 1;
                            report.calls_ended.extend(ended);
                        }
                    }
                }
                None => {
                    if self.switches.remove(&key) && core.lift_kill_switch(&key.0, key.1) {
                        report.kill_switches_lifted += 1;
                    }
                }
            }
        }
    }
}

fn seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::hash::RandomState::new().build_hasher();
    h.write_i64(wall_ms());
    h.finish()
}

/// Most jobs written in one go by the store thread, and the longest it spends collecting them.
const STORE_BATCH: usize = 1000;
const STORE_BATCH_TIME: Duration = Duration::from_millis(100);
/// How long the store thread waits for more alerts and calls once one came (group commit). Bans and kill
/// switches never wait.
const STORE_LINGER: Duration = Duration::from_millis(20);

/// The store's writer thread. Under a burst (a spoofed flood bans thousands of sources a second, an attack
/// produces alerts on every call) it takes every job waiting, up to [`STORE_BATCH`] or what it can take in
/// [`STORE_BATCH_TIME`], and writes them in one transaction: one disk sync per burst instead of one per ban
/// or call, so the writer keeps up and holds the database lock briefly (an operator's kill switch written by
/// the API does not queue behind thousands of syncs). A ban or kill switch goes to disk at once; alerts and
/// calls in progress wait up to [`STORE_LINGER`] for company (group commit): at thousands of decisions a
/// second, a transaction and a wake-up per alert would cost more CPU than the decisions, on the cores that
/// decide (a ban that comes while the thread lingers waits with them: it is in force in memory already).
/// Alerts are written as storms (the store counts the repeats of a rule and subject and updates their row
/// every few seconds): when the repeats of one are due and no job comes, the thread wakes to write them.
fn spawn_store(store: Store, call_max_age: Duration) -> std::sync::mpsc::Sender<StoreJob> {
    let (tx, rx) = std::sync::mpsc::channel::<StoreJob>();
    let spawned = std::thread::Builder::new()
        .name("tollguard-store".into())
        .spawn(move || {
            let mut store = store;
            while let Some(job) = next_store_job(&mut store, &rx) {
                let jobs = collect_store_jobs(job, &rx, STORE_LINGER);
                write_batch(&mut store, jobs.into_batch(call_max_age));
            }
        });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "the store's writer could not start: nothing is persisted");
    }
    tx
}

/// The jobs of one transaction: `first` and every job waiting; unless one of them is urgent (or the batch is
/// full), the thread then sleeps for what is left of `linger` (at most [`STORE_BATCH_TIME`]) and takes the
/// jobs that came meanwhile. It sleeps rather than waits on the channel: a waiting receiver is woken by every
/// job sent.
fn collect_store_jobs(
    first: StoreJob,
    rx: &std::sync::mpsc::Receiver<StoreJob>,
    linger: Duration,
) -> Collected {
    let started = std::time::Instant::now();
    let mut jobs = Collected::default();
    let urgent = jobs.add(first) | jobs.take_waiting(rx, started + STORE_BATCH_TIME);
    if !urgent && jobs.count < STORE_BATCH {
        std::thread::sleep(
            linger
                .min(STORE_BATCH_TIME)
                .saturating_sub(started.elapsed()),
        );
        let now = std::time::Instant::now();
        jobs.take_waiting(rx, now + STORE_BATCH_TIME);
    }
    jobs
}

/// The next job for the store thread, writing the alert repeats that fall due while it waits. None: the
/// guard stopped (the store writes what is left of the repeats when it is dropped).
fn next_store_job(store: &mut Store, rx: &std::sync::mpsc::Receiver<StoreJob>) -> Option<StoreJob> {
    loop {
        let Some(due) = store.next_alert_flush() else {
            return rx.recv().ok();
        };
        match rx.recv_timeout(due.saturating_duration_since(std::time::Instant::now())) {
            Ok(job) => return Some(job),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                if let Err(e) = store.flush_alert_repeats(Some(std::time::Instant::now())) {
                    tracing::error!(error = %e, "store write failed: repeats of alerts not recorded");
                }
            }
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return None,
        }
    }
}

/// Jobs collected for one transaction. Calls in progress are netted by call id (the last save or end of a
/// call wins), so that a call answered and hung up within one batch is not written twice.
#[derive(Default)]
struct Collected {
    batch: store::Batch,
    dialogs: std::collections::HashMap<String, Option<(String, String)>>,
    /// Jobs added.
    count: usize,
}

impl Collected {
    /// Takes the jobs waiting in `rx` until it is empty, the batch holds [`STORE_BATCH`] jobs or `until` has
    /// passed; true when one of them must go to disk at once.
    fn take_waiting(
        &mut self,
        rx: &std::sync::mpsc::Receiver<StoreJob>,
        until: std::time::Instant,
    ) -> bool {
        let mut urgent = false;
        while self.count < STORE_BATCH && std::time::Instant::now() < until {
            match rx.try_recv() {
                Ok(job) => urgent |= self.add(job),
                Err(_) => break,
            }
        }
        urgent
    }

    /// Adds a job; true when it must go to disk at once (a ban or a kill switch).
    fn add(&mut self, job: StoreJob) -> bool {
        self.count += 1;
        match job {
            StoreJob::Persist(Persist::Ban(b)) => {
                self.batch.bans.push(b);
                return true;
            }
            StoreJob::Persist(Persist::KillSwitch(k)) => {
                self.batch.kill_switches.push(k);
                return true;
            }
            StoreJob::Persist(Persist::Alerts { tenant, decisions }) => {
                self.batch.alerts.push((tenant, decisions));
            }
            StoreJob::Snapshot(at, s) => {
                self.batch.snapshot = Some((at, s));
                // The snapshot's timer is the writer's clock for pruning (engine time, like a ban's end).
                self.batch.prune_bans_at = Some(at);
            }
            // Calls in progress to save (call id, tenant, the core's serialization of its dialog) and calls
            // that ended, so that a guard restarted mid-attack can still end the calls it carried.
            StoreJob::Persist(Persist::Dialogs { upserts, ended }) => {
                for (call_id, tenant, json) in upserts {
                    self.dialogs.insert(call_id, Some((tenant, json)));
                }
                for call_id in ended {
                    self.dialogs.insert(call_id, None);
                }
            }
        }
        false
    }

    fn into_batch(self, call_max_age: Duration) -> store::Batch {
        let mut batch = self.batch;
        for (call_id, saved) in self.dialogs {
            match saved {
                Some((tenant, json)) => batch.dialog_upserts.push((call_id, tenant, json)),
                None => batch.dialogs_ended.push(call_id),
            }
        }
        if batch.snapshot.is_some() {
            // A call not written for longer than a call may last has ended without the guard seeing it.
            let age = i64::try_from(call_max_age.as_millis()).unwrap_or(i64::MAX);
            batch.prune_dialogs_before = Some(wall_ms().saturating_sub(age));
        }
        batch
    }
}

/// Writes a batch in one transaction. If that fails, each part is tried in its own transaction, so that
/// alerts that cannot be written do not take the bans with them.
fn write_batch(store: &mut Store, batch: store::Batch) {
    let Err(e) = store.write_batch(&batch) else {
        store.release(batch.alerts);
        return;
    };
    tracing::error!(
        error = %e,
        bans = batch.bans.len(),
        kill_switches = batch.kill_switches.len(),
        alerts = batch.alerts.iter().map(|(_, d)| d.len()).sum::<usize>(),
        "store batch failed; writing its parts one by one"
    );
    let store::Batch {
        bans,
        kill_switches,
        alerts,
        dialog_upserts,
        dialogs_ended,
        snapshot,
        prune_bans_at,
        prune_dialogs_before,
    } = batch;
    let parts = [
        (
            "bans and kill switches",
            store::Batch {
                bans,
                kill_switches,
                ..Default::default()
            },
        ),
        (
            "alerts",
            store::Batch {
                alerts,
                ..Default::default()
            },
        ),
        (
            "calls in progress",
            store::Batch {
                dialog_upserts,
                dialogs_ended,
                prune_dialogs_before,
                ..Default::default()
            },
        ),
        (
            "engine snapshot",
            store::Batch {
                snapshot,
                prune_bans_at,
                ..Default::default()
            },
        ),
    ];
    for (what, part) in parts {
        if let Err(e) = store.write_batch(&part) {
            tracing::error!(error = %e, what, "store write failed: not recorded");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ban(n: u8) -> engine::Ban {
        engine::Ban {
            source: std::net::IpAddr::from([192, 0, 2, n]),
            since: 1_000,
            until: 10_000,
            rule: "request_rate_source".into(),
            by: "tollguard".into(),
            why: "flood".into(),
        }
    }

    fn dialog(call_id: &str, json: &str) -> (String, String, String) {
        (call_id.into(), "acme".into(), json.into())
    }

    /// A burst of jobs is one batch: bans written together, a call saved then answered is written once, a
    /// call that ended within the burst is removed; pruning comes with the snapshot.
    #[test]
    fn the_store_thread_writes_a_burst_as_one_batch_with_calls_netted() {
        let mut store = Store::in_memory().unwrap();
        store.save_dialogs(&[dialog("b", "{}")], &[]).unwrap();
        let mut jobs = Collected::default();
        for n in 1..=3 {
            jobs.add(StoreJob::Persist(Persist::Ban(ban(n))));
        }
        jobs.add(StoreJob::Persist(Persist::Dialogs {
            upserts: vec![dialog("a", "{}"), dialog("c", "{}")],
            ended: vec![],
        }));
        jobs.add(StoreJob::Persist(Persist::Dialogs {
            upserts: vec![dialog("a", r#"{"answered":true}"#)],
            ended: vec!["b".into(), "c".into()],
        }));
        let batch = jobs.into_batch(Duration::from_secs(3_600));
        assert_eq!(batch.bans.len(), 3);
        assert_eq!(
            batch.dialog_upserts,
            vec![dialog("a", r#"{"answered":true}"#)]
        );
        let mut ended = batch.dialogs_ended.clone();
        ended.sort();
        assert_eq!(ended, vec!["b".to_string(), "c".to_string()]);
        assert_eq!(
            batch.prune_dialogs_before, None,
            "pruned with snapshots only"
        );
        write_batch(&mut store, batch);
        assert_eq!(store.ban_changes_since(0).unwrap().0.len(), 3);
        assert_eq!(
            store.load_dialogs().unwrap(),
            vec![dialog("a", r#"{"answered":true}"#)]
        );

        let engine = Engine::new(
            engine::Policy::default(),
            Arc::new(Numbering::japan_defaults()),
        );
        let mut jobs = Collected::default();
        jobs.add(StoreJob::Snapshot(10_000, Box::new(engine.snapshot())));
        let batch = jobs.into_batch(Duration::from_secs(3_600));
        assert_eq!(batch.prune_bans_at, Some(10_000));
        assert!(
            batch
                .prune_dialogs_before
                .is_some_and(|t| t < wall_ms() - 3_500_000)
        );
        write_batch(&mut store, batch);
        assert!(
            store.active_bans(0).unwrap().is_empty(),
            "the bans ran out at 10,000"
        );
        assert_eq!(store.load_dialogs().unwrap().len(), 1, "written just now");
    }

    fn alert() -> StoreJob {
        StoreJob::Persist(Persist::Alerts {
            tenant: "acme".into(),
            decisions: vec![],
        })
    }

    /// Jobs in a batch, after `first` was taken and `later` is sent 10 ms on (well within the batch time).
    fn collected_with_one_sent_later(first: StoreJob, later: StoreJob) -> usize {
        let (tx, rx) = std::sync::mpsc::channel();
        let sender = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(10));
            let _ = tx.send(later);
            std::thread::sleep(Duration::from_millis(200)); // the channel stays open meanwhile
        });
        let jobs = collect_store_jobs(first, &rx, Duration::from_secs(60));
        sender.join().unwrap();
        jobs.count
    }

    /// Group commit: an alert waits for company, so that thousands of decisions a second are not as many
    /// transactions and wake-ups of the store thread; a ban goes to disk without waiting.
    #[test]
    fn alerts_wait_for_company_but_a_ban_is_written_at_once() {
        assert_eq!(collected_with_one_sent_later(alert(), alert()), 2);
        assert_eq!(
            collected_with_one_sent_later(StoreJob::Persist(Persist::Ban(ban(1))), alert()),
            1,
            "a ban does not wait for the alert behind it"
        );
        let (tx, rx) = std::sync::mpsc::channel();
        tx.send(StoreJob::Persist(Persist::Ban(ban(2)))).unwrap();
        let jobs = collect_store_jobs(alert(), &rx, Duration::from_secs(60));
        assert_eq!(
            (jobs.batch.alerts.len(), jobs.batch.bans.len()),
            (1, 1),
            "an alert waiting goes with the ban that came after it"
        );
    }
}
