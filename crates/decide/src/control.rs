//! Control of a running tollguard from other tasks (the operator API, the demo, tests): a cloneable
//! [`GuardHandle`] that sends commands to the front end's control task and waits for their answers, and the
//! stream of [`LiveEvent`]s (call verdicts, decisions, answers, ends) that it publishes. The types live here,
//! in the layer, so that the operator API depends on the decision layer and not on a front end: the guard's
//! control loop serves the [`Command`]s.
//!
//! Commands go through a channel because some need the calls in progress, which the guard's SIP shards own:
//! the control loop asks the shards (and waits for a kill switch's BYEs to go out before it answers), and
//! takes the decision layer's lock for the commands that need only the layer.

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;

use engine::{KillSwitch, Millis};
use numbering::NumberingConfig;
use serde::Serialize;
use tokio::sync::{broadcast, mpsc, oneshot};

use crate::effects::LiveEvent;
use crate::latency::{DecisionLatency, LatencySnapshot};
use crate::tally::{DecisionTally, TallySnapshot};
use crate::{CallVerdict, DecideConfig, Tenant};

/// Where the policy in force comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicySource {
    Default,
    /// The `[policy]` table of the configuration file.
    Inline,
    File(PathBuf),
}

/// What the operator API reads of the running configuration (fixed at start).
#[derive(Debug, Clone)]
pub struct ServiceView {
    pub decide: DecideConfig,
    pub numbering: NumberingConfig,
    pub policy_source: PolicySource,
}

impl ServiceView {
    pub fn tenants(&self) -> &[Tenant] {
        &self.decide.tenants.0
    }

    /// True when the address is the PBX, the trunk or in a trusted network (never banned).
    pub fn is_trusted(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.decide.protected.iter().any(|n| n.contains(ip))
    }
}

/// Counters of the front ends (logged, and on the status page and metrics of the operator API).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct GuardStats {
    pub requests: u64,
    pub responses: u64,
    pub malformed: u64,
    pub dropped_banned: u64,
    pub scanners_banned: u64,
    pub calls_decided: u64,
    pub calls_blocked: u64,
    pub calls_ended_by_guard: u64,
    pub unroutable: u64,
    /// Requests from a source that may not use the listener (pbx/carrier listeners), refused or dropped.
    pub refused_source: u64,
    /// Requests whose route the trust model refuses (Route naming another host, REFER to the trunk…).
    pub refused_route: u64,
    /// In-dialog requests of no dialog the guard tracks (answered 481).
    pub refused_in_dialog: u64,
    /// Responses that match no transaction of the guard (dropped).
    pub responses_unmatched: u64,
    /// Answers of the PBX that told an outsider a user does not exist, replaced by its wrong-password answer.
    pub unknown_user_disguised: u64,
    /// Calls of a banned source let through because they dial an emergency number.
    pub emergency_from_banned: u64,
    /// Redirect queries answered 302 (allowed; refusals count in `calls_blocked`).
    pub redirect_allowed: u64,
    /// Redirect queries answered 503 because they waited too long for their decision.
    pub redirect_overload: u64,
    /// HEP packets read, and dropped (a source not in `[hep] sources`, a wrong auth key, not HEP, not SIP).
    pub hep_packets: u64,
    pub hep_dropped: u64,
    /// Calls seen on the mirror and decided (in observe mode unless `[hep] enforce`).
    pub hep_calls: u64,
    /// Overload (the core's queue filling up): OPTIONS and other requests outside a dialog, REGISTERs and
    /// new calls (answered 503 with Retry-After) shed on receipt, and messages that are never shed but found
    /// the queue full (should stay 0).
    pub shed_options: u64,
    pub shed_registers: u64,
    pub shed_calls: u64,
    pub overload_lost: u64,
}

impl GuardStats {
    /// Adds another front end's (or shard's) counters to these.
    pub fn add(&mut self, other: &GuardStats) {
        let GuardStats {
            requests,
            responses,
            malformed,
            dropped_banned,
            scanners_banned,
            calls_decided,
            calls_blocked,
            calls_ended_by_guard,
            unroutable,
            refused_source,
            refused_route,
            refused_in_dialog,
            responses_unmatched,
            unknown_user_disguised,
            emergency_from_banned,
            redirect_allowed,
            redirect_overload,
            hep_packets,
            hep_dropped,
            hep_calls,
            shed_options,
            shed_registers,
            shed_calls,
            overload_lost,
        } = *other;
        self.requests += requests;
        self.responses += responses;
        self.malformed += malformed;
        self.dropped_banned += dropped_banned;
        self.scanners_banned += scanners_banned;
        self.calls_decided += calls_decided;
        self.calls_blocked += calls_blocked;
        self.calls_ended_by_guard += calls_ended_by_guard;
        self.unroutable += unroutable;
        self.refused_source += refused_source;
        self.refused_route += refused_route;
        self.refused_in_dialog += refused_in_dialog;
        self.responses_unmatched += responses_unmatched;
        self.unknown_user_disguised += unknown_user_disguised;
        self.emergency_from_banned += emergency_from_banned;
        self.redirect_allowed += redirect_allowed;
        self.redirect_overload += redirect_overload;
        self.hep_packets += hep_packets;
        self.hep_dropped += hep_dropped;
        self.hep_calls += hep_calls;
        self.shed_options += shed_options;
        self.shed_registers += shed_registers;
        self.shed_calls += shed_calls;
        self.overload_lost += overload_lost;
    }
}

/// Why a command could not be served.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("the guard is not running (it stopped or is shutting down)")]
    Stopped,
    #[error("the policy was not reloaded, the old one stays in force: {0}")]
    Policy(String),
}

/// A snapshot of the guard's state for the status page.
#[derive(Debug, Clone, Serialize)]
pub struct GuardStatus {
    pub version: &'static str,
    /// Engine time when the guard started and now (the engine clock may run faster than the wall clock).
    pub started_at: Millis,
    pub now: Millis,
    pub clock_speed: f64,
    pub stats: GuardStats,
    pub engine: engine::Stats,
    pub sizes: engine::StateSizes,
    pub calls_in_progress: usize,
    /// Calls in progress on each SIP shard (the guard's threads, by Call-ID): how evenly the load spreads.
    pub calls_per_shard: Vec<usize>,
    pub bans_active: usize,
    pub kill_switches: Vec<KillSwitch>,
    pub listeners: Vec<String>,
}

/// One call in progress through the trunk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CallInfo {
    pub call_id: String,
    pub tenant: String,
    pub account: String,
    pub dialed: String,
    /// Engine time of the INVITE and of the answer.
    pub started: Millis,
    pub answered: Option<Millis>,
}

/// What [`GuardHandle::sync_store`] changed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SyncReport {
    pub bans_set: usize,
    pub bans_lifted: usize,
    pub kill_switches_set: usize,
    pub kill_switches_lifted: usize,
    /// Calls in progress that were ended (BYE or CANCEL sent) because of a kill switch.
    pub calls_ended: Vec<String>,
}

/// A call attempt asked by a querier that carries the call itself (the HTTP decision API): the facts, owned.
#[derive(Debug, Clone, Default)]
pub struct DecideRequest {
    pub call_id: String,
    /// The tenant the querier names (checked against its token's scope before it gets here).
    pub tenant: Option<String>,
    /// The address of the PBX or SBC the call comes from, when the querier says it.
    pub source: Option<std::net::SocketAddr>,
    pub account: String,
    pub caller: Option<String>,
    pub dialed: String,
    pub phone_context: Option<String>,
    pub user_agent: String,
}

/// What a querier reports of a call it was allowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    Answered,
    Ended {
        billable_secs: Option<u32>,
        cause: engine::EndCause,
    },
}

/// A request to the task that owns the decision layer.
pub enum Command {
    Status(oneshot::Sender<GuardStatus>),
    Calls {
        tenant: Option<String>,
        reply: oneshot::Sender<Vec<CallInfo>>,
    },
    EndCall {
        call_id: String,
        tenant: Option<String>,
        why: String,
        reply: oneshot::Sender<bool>,
    },
    SyncStore(oneshot::Sender<SyncReport>),
    Accounts {
        tenant: Option<String>,
        reply: oneshot::Sender<Vec<engine::AccountSummary>>,
    },
    ReloadPolicy(oneshot::Sender<Result<(), String>>),
    Decide {
        request: Box<DecideRequest>,
        received: std::time::Instant,
        reply: oneshot::Sender<CallVerdict>,
    },
    Progress {
        call_id: String,
        tenants: Option<Vec<String>>,
        progress: Progress,
        reply: oneshot::Sender<bool>,
    },
}

/// A handle on a running guard. Cheap to clone; every method waits for the guard's answer.
#[derive(Clone)]
pub struct GuardHandle {
    commands: mpsc::Sender<Command>,
    events: broadcast::Sender<LiveEvent>,
    view: Arc<ServiceView>,
    latency: Arc<DecisionLatency>,
    tally: Arc<DecisionTally>,
}

impl std::fmt::Debug for GuardHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GuardHandle")
            .field("subscribers", &self.events.receiver_count())
            .finish()
    }
}

impl GuardHandle {
    /// A handle on the task that reads `commands` and publishes on `events`.
    pub fn new(
        commands: mpsc::Sender<Command>,
        events: broadcast::Sender<LiveEvent>,
        view: ServiceView,
        latency: Arc<DecisionLatency>,
    ) -> Self {
        Self {
            commands,
            events,
            view: Arc::new(view),
            latency,
            tally: Arc::default(),
        }
    }

    /// The decider's counters of verdicts, alerts and money ([`GuardHandle::decision_tally`]).
    pub fn with_tally(mut self, tally: Arc<DecisionTally>) -> Self {
        self.tally = tally;
        self
    }

    /// True when someone listens to the live events (the owner skips building them otherwise).
    pub fn watched(&self) -> bool {
        self.events.receiver_count() > 0
    }

    /// Publishes a live event to the listeners (none listening is not an error).
    pub fn publish(&self, e: LiveEvent) {
        let _ = self.events.send(e);
    }

    /// The live events from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<LiveEvent> {
        self.events.subscribe()
    }

    /// What the operator API reads of the configuration in force.
    pub fn view(&self) -> &ServiceView {
        &self.view
    }

    /// How long outbound calls waited for their verdict, from the INVITE read off the socket (queueing
    /// included) to the engine's decision applied: one count per INVITE decided (retransmissions are not
    /// decided again). Read directly from the counters, without asking the guard's task.
    pub fn decision_latency(&self) -> LatencySnapshot {
        self.latency.snapshot()
    }

    /// Call attempts by verdict, alerts by rule and severity, money at stake by tenant, since the guard
    /// started. Read directly from the counters, without asking the guard's task.
    pub fn decision_tally(&self) -> TallySnapshot {
        self.tally.snapshot()
    }

    async fn ask<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> Command,
    ) -> Result<T, ControlError> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(make(tx))
            .await
            .map_err(|_| ControlError::Stopped)?;
        rx.await.map_err(|_| ControlError::Stopped)
    }

    pub async fn status(&self) -> Result<GuardStatus, ControlError> {
        self.ask(Command::Status).await
    }

    /// Calls in progress, of one tenant or of all.
    pub async fn calls(&self, tenant: Option<String>) -> Result<Vec<CallInfo>, ControlError> {
        self.ask(|reply| Command::Calls { tenant, reply }).await
    }

    /// Ends one call in progress (BYE to both sides once answered, CANCEL before). `Ok(false)`: no such
    /// call in progress (in that tenant).
    pub async fn end_call(
        &self,
        call_id: String,
        tenant: Option<String>,
        why: String,
    ) -> Result<bool, ControlError> {
        self.ask(|reply| Command::EndCall {
            call_id,
            tenant,
            why,
            reply,
        })
        .await
    }

    /// Applies now the bans and kill switches just written to the store (otherwise picked up within a
    /// second). Returns once they are enforced: calls in the barred scope have been sent their BYE.
    pub async fn sync_store(&self) -> Result<SyncReport, ControlError> {
        self.ask(Command::SyncStore).await
    }

    /// Per-account counters (last 24 h, month to date), of one tenant or of all.
    pub async fn accounts(
        &self,
        tenant: Option<String>,
    ) -> Result<Vec<engine::AccountSummary>, ControlError> {
        self.ask(|reply| Command::Accounts { tenant, reply }).await
    }

    /// Decides a call attempt for a querier that carries the call itself (the HTTP decision API).
    pub async fn decide(&self, request: DecideRequest) -> Result<CallVerdict, ControlError> {
        let received = std::time::Instant::now();
        self.ask(|reply| Command::Decide {
            request: Box::new(request),
            received,
            reply,
        })
        .await
    }

    /// A querier's call was answered or ended. `Ok(false)`: no such call the querier may see.
    pub async fn progress(
        &self,
        call_id: String,
        tenants: Option<Vec<String>>,
        progress: Progress,
    ) -> Result<bool, ControlError> {
        self.ask(|reply| Command::Progress {
            call_id,
            tenants,
            progress,
            reply,
        })
        .await
    }

    /// Re-reads the policy from the configuration file, like SIGHUP. The engine keeps its state; on an
    /// error the old policy stays in force.
    pub async fn reload_policy(&self) -> Result<(), ControlError> {
        self.ask(Command::ReloadPolicy)
            .await?
            .map_err(ControlError::Policy)
    }
}
