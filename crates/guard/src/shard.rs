//! A SIP shard of the running guard: the transactions, remembered answers and dialogs of the Call-IDs that
//! hash to it ([`crate::proxy::Shared::shard_of`]), in one [`Core`] behind its own lock. Datagrams are run
//! to completion under that lock by the UDP reader that received them ([`Inline`]); the shard's thread
//! drains its bounded queue (stream messages, and datagrams read before the readers took over), expires its
//! timers and runs the control loop's commands. Whoever holds the lock calls the shared decision layer under
//! its lock for one phase at a time and sends what each message produced once the shard's lock is released;
//! nobody waits on I/O under a lock. Calls another shard must end (a kill switch decided here) go to that
//! shard as a [`ShardCommand`].

use std::cell::RefCell;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::{mpsc, oneshot, watch};

use crate::proxy::{Core, Output, Persist};
use crate::service::{Clock, SlowPasses, StoreJob};
use crate::transport::{Inbound, Transports};
use decide::control::{CallInfo, GuardHandle, GuardStats};

/// Messages handled after the one that woke the shard before its timers and commands get their turn.
const BATCH: usize = 256;

/// What a shard is asked by the control loop or by another shard.
pub(crate) enum ShardCommand {
    /// End these calls (a kill switch, decided by another shard or the control loop); `done` gets the
    /// Call-IDs ended once their BYEs/CANCELs went out.
    End {
        calls: Vec<decide::EndCall>,
        done: Option<oneshot::Sender<Vec<String>>>,
    },
    /// An operator ends one call (of this tenant, if given).
    EndCall {
        call_id: String,
        tenant: Option<String>,
        why: String,
        reply: oneshot::Sender<bool>,
    },
    /// Calls in progress here (of one tenant, or all).
    Calls {
        tenant: Option<String>,
        reply: oneshot::Sender<Vec<CallInfo>>,
    },
    /// This shard's counters and calls in progress (status page).
    Report(oneshot::Sender<ShardReport>),
}

/// A shard's counters and calls in progress, for the status page.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct ShardReport {
    pub stats: GuardStats,
    pub calls_in_progress: usize,
}

/// Where the output of a core goes: the wire, the store thread, the live stream, the end-call adapters and
/// the other shards. Shared (cloned) by every shard and the control loop.
#[derive(Clone)]
pub(crate) struct Sink {
    pub transports: Transports,
    pub store_tx: Option<std::sync::mpsc::Sender<StoreJob>>,
    pub handle: GuardHandle,
    pub adapters: crate::end_call::Adapters,
    pub shards: Arc<Vec<mpsc::UnboundedSender<ShardCommand>>>,
}

impl Sink {
    /// Carries out everything in `out` but the calls other shards must end, which are returned grouped by
    /// shard (the caller decides whether to wait for them).
    pub fn carry_out(&self, out: &mut Output) -> Vec<(usize, Vec<decide::EndCall>)> {
        if !out.events.is_empty() {
            for e in out.events.drain(..) {
                // No receiver is not an error: nobody is watching right now.
                self.handle.publish(e);
            }
        }
        for (c, tenant) in out.end_elsewhere.drain(..) {
            self.adapters.end(c.call_id, tenant, c.why);
        }
        for p in out.persist.drain(..) {
            self.persist(p);
        }
        // Handed over without waiting (sent, or queued per socket or connection): a next hop that does not
        // answer costs its own messages only, never the calls decided in this loop.
        for s in out.sends.drain(..) {
            self.transports.send(s);
        }
        let mut by_shard: Vec<(usize, Vec<decide::EndCall>)> = Vec::new();
        for (shard, c) in out.end_on.drain(..) {
            match by_shard.iter_mut().find(|(s, _)| *s == shard) {
                Some((_, calls)) => calls.push(c),
                None => by_shard.push((shard, vec![c])),
            }
        }
        by_shard
    }

    fn persist(&self, p: Persist) {
        if let Some(tx) = &self.store_tx {
            let _ = tx.send(StoreJob::Persist(p));
        }
    }

    /// Carries out everything in `out`; the calls other shards must end go to them without waiting.
    pub fn flush(&self, out: &mut Output) {
        let others = self.carry_out(out);
        self.end_on(others);
    }

    /// Runs one message on `core` (locked for the message only), then carries out what it produced with
    /// the lock released. The one path of a message, for a UDP reader and a shard's thread alike.
    pub fn run(&self, core: &Mutex<Core>, m: &Inbound, now: decide::Now, out: &mut Output) {
        {
            let mut core = core.lock();
            // A subscriber that arrived meanwhile sees this message's events.
            core.set_live(self.handle.watched());
            core.on_inbound(m, now, out);
        }
        self.flush(out);
    }

    /// Hands calls to end to their shards without waiting (a shard never waits for another).
    pub fn end_on(&self, by_shard: Vec<(usize, Vec<decide::EndCall>)>) {
        for (shard, calls) in by_shard {
            self.send(shard, ShardCommand::End { calls, done: None });
        }
    }

    /// Sends a command to a shard; false when the shard is gone (shutting down).
    pub fn send(&self, shard: usize, cmd: ShardCommand) -> bool {
        self.shards.get(shard).is_some_and(|s| s.send(cmd).is_ok())
    }
}

/// One shard, ready to run on a thread of its own.
pub(crate) struct Shard {
    pub core: Arc<Mutex<Core>>,
    pub inbound: mpsc::Receiver<Inbound>,
    pub commands: mpsc::UnboundedReceiver<ShardCommand>,
    pub sink: Sink,
    pub clock: Clock,
}

impl Shard {
    /// Runs the shard on a new OS thread, inside the runtime of `rt` (its sockets and timers), until
    /// `stop` turns true. `done` is dropped when the shard has stopped.
    pub fn spawn(
        self,
        rt: tokio::runtime::Handle,
        stop: watch::Receiver<bool>,
        done: oneshot::Sender<()>,
    ) -> std::io::Result<()> {
        let name = format!("tollguard-shard-{}", self.core.lock().index());
        std::thread::Builder::new().name(name).spawn(move || {
            rt.block_on(self.run(stop));
            drop(done);
        })?;
        Ok(())
    }

    async fn run(mut self, mut stop: watch::Receiver<bool>) {
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        let mut out = Output::default();
        let mut slow = SlowPasses::default();
        loop {
            tokio::select! {
                m = self.inbound.recv() => match m {
                    Some(m) => {
                        self.message(&m, &mut out, &mut slow);
                        // Then what is already queued, before the timers and commands get their turn again.
                        for _ in 0..BATCH {
                            match self.inbound.try_recv() {
                                Ok(m) => self.message(&m, &mut out, &mut slow),
                                Err(_) => break,
                            }
                        }
                    }
                    None => break,
                },
                _ = tick.tick() => {
                    let started = std::time::Instant::now();
                    let now = self.clock.now();
                    {
                        let mut core = self.core.lock();
                        if core.index() == 0 {
                            // Until the PBX has answered one, ask for its challenge (nothing to learn by
                            // scanning).
                            core.prime(now, &mut out);
                        }
                        core.expire(now, &mut out);
                    }
                    self.sink.flush(&mut out);
                    slow.check("timers (transactions, dialogs)", started.elapsed(), self.inbound.len());
                }
                Some(cmd) = self.commands.recv() => {
                    let started = std::time::Instant::now();
                    self.command(cmd, &mut out);
                    slow.check("a command", started.elapsed(), self.inbound.len());
                }
                _ = stop.changed() => break,
            }
        }
    }

    /// Handles one message and sends what it produced at once.
    fn message(&mut self, m: &Inbound, out: &mut Output, slow: &mut SlowPasses) {
        let started = std::time::Instant::now();
        self.sink.run(&self.core, m, self.clock.now(), out);
        slow.check("one message", started.elapsed(), self.inbound.len());
    }

    fn command(&self, cmd: ShardCommand, out: &mut Output) {
        let now = self.clock.now();
        let mut core = self.core.lock();
        match cmd {
            ShardCommand::End { calls, done } => {
                let mut ended = Vec::new();
                for c in calls {
                    if core.end_call(&c.call_id, &c.why, now, out) {
                        ended.push(c.call_id);
                    }
                }
                drop(core);
                // The BYEs go out before the asker hears that the calls are being ended.
                self.sink.flush(out);
                if let Some(done) = done {
                    let _ = done.send(ended);
                }
            }
            ShardCommand::EndCall {
                call_id,
                tenant,
                why,
                reply,
            } => {
                let in_scope = core
                    .calls(tenant.as_deref())
                    .iter()
                    .any(|c| c.call_id == call_id);
                let ended = in_scope && core.end_call(&call_id, &why, now, out);
                drop(core);
                self.sink.flush(out);
                let _ = reply.send(ended);
            }
            ShardCommand::Calls { tenant, reply } => {
                let _ = reply.send(core.calls(tenant.as_deref()));
            }
            ShardCommand::Report(reply) => {
                let _ = reply.send(ShardReport {
                    stats: core.stats,
                    calls_in_progress: core.dialogs_in_progress(),
                });
            }
        }
    }
}

/// Runs datagrams to completion on the UDP reader that received them: under the lock of the Call-ID's
/// shard, then what the message produced is carried out with the lock released.
pub(crate) struct Inline {
    pub cores: Vec<Arc<Mutex<Core>>>,
    pub shared: Arc<crate::proxy::Shared>,
    pub sink: Sink,
    pub clock: Clock,
}

thread_local! {
    /// The output buffer of the reader's thread, reused for every datagram.
    static OUT: RefCell<Output> = RefCell::new(Output::default());
}

impl Inline {
    pub fn deliver(&self, m: &Inbound) {
        let i = self.shared.shard_of_message(&m.data);
        let Some(core) = self.cores.get(i).or_else(|| self.cores.first()) else {
            return;
        };
        OUT.with_borrow_mut(|out| self.sink.run(core, m, self.clock.now(), out));
    }
}
