//! The decision layer: one owner of the engine, the ban table and the sources that logged in. Front ends
//! call it at named phases — a request received, a call attempt, an answer, an end, an authentication result,
//! an operator's change — and get a verdict plus [`Effects`] to carry out. It holds no socket and never calls
//! a front end back, so the inline proxy, the redirect server, the HTTP decision API and the HEP mirror all
//! decide the same call the same way.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use engine::{
    Action, AuthAttempt, AuthOutcome, Ban, BarScope, CallAnswered, CallAttempt, CallEnded,
    ClassSet, Decision, DestClass, EndCause, Engine, Event, KillSwitch, Level, Millis,
    RequestCount, RuleId, Verdict,
};
use numbering::Numbering;

use crate::bans::{BanTable, Evidence, KnownSources};
use crate::effects::{Effects, EndCall, LiveEvent, Now, Persist};
use crate::facts::{AuthFacts, CallQuery};
use crate::flood::{Counted, SourceCounts, flood_words};
use crate::geo::{Country, GeoDb, LoginRefusal};
use crate::latency::DecisionLatency;
use crate::queried::QueriedCalls;
use crate::tally::{CallOutcome, DecisionTally};
use crate::tenant::{Network, Tenant, Tenants};
use crate::weak::{WeakLogin, WeakPasswordPolicy};

/// What the layer needs to know of the site, besides the policy (which is the engine's).
#[derive(Debug, Clone, Default)]
pub struct DecideConfig {
    pub tenants: Tenants,
    /// Never banned: the configured peers (PBX, trunk, redirect queriers) and trusted networks. Tenants' PBX
    /// networks are never banned either.
    pub protected: Vec<Network>,
    /// The PBX the access side reaches: logins on the access side belong to its tenant.
    pub pbx: Option<IpAddr>,
    /// Status of refused calls when set (else the engine decision's status); the engine applies it.
    pub block_status: Option<u16>,
    /// The operator's geo database (country of a source, login limits by country).
    pub geo: Option<Arc<GeoDb>>,
    /// What an accepted login with a vendor-default or weak password sets off (`[enforce] weak_password`).
    pub weak_password: WeakPasswordPolicy,
}

/// The layer's answer to a call attempt.
#[derive(Debug, Clone, PartialEq)]
pub struct CallVerdict {
    pub allowed: bool,
    /// The SIP status to refuse with (0 when allowed).
    pub status: u16,
    /// Why it was refused, or its first warning, in words for the admin.
    pub reason: Option<String>,
    /// The decision that refused the call (or its first warning): rule, measured values, money at stake.
    pub decision: Option<Decision>,
    pub tenant: String,
    pub account: String,
    pub dialed: String,
    pub emergency: bool,
}

/// Counters of the layer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct DecideStats {
    pub calls_decided: u64,
    pub calls_refused: u64,
    pub bans_set: u64,
    pub logins_refused: u64,
}

/// What became of a scanner's fingerprint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScannerOutcome {
    /// The source is banned (or would be, in shadow mode).
    Banned,
    /// The source logged in during the last day: one spoofable packet does not ban it.
    Vouched,
    /// Fingerprint bans are off in the policy.
    Off,
}

pub struct Decider {
    cfg: Arc<DecideConfig>,
    engine: Engine,
    numbering: Arc<Numbering>,
    bans: BanTable,
    known: KnownSources,
    requests: SourceCounts,
    queried: QueriedCalls,
    decisions: Vec<Decision>,
    live: bool,
    latency: Arc<DecisionLatency>,
    tally: Arc<DecisionTally>,
    pub stats: DecideStats,
}

impl DecideConfig {
    /// What the engine is told of the site: every protected network (peers, trusted networks, tenants' PBX
    /// networks) and the refusal status, so that a replay with the same configuration decides alike.
    pub fn site(&self) -> engine::Site {
        let mut protected = self.protected.clone();
        protected.extend(
            self.tenants
                .iter()
                .flat_map(|t| t.pbx_sources.iter().copied()),
        );
        engine::Site {
            protected,
            block_status: self.block_status,
        }
    }
}

impl Decider {
    pub fn new(cfg: Arc<DecideConfig>, mut engine: Engine, numbering: Arc<Numbering>) -> Decider {
        engine.set_site(cfg.site());
        Decider {
            cfg,
            engine,
            numbering,
            bans: BanTable::default(),
            known: KnownSources::default(),
            requests: SourceCounts::default(),
            queried: QueriedCalls::default(),
            decisions: Vec::new(),
            live: false,
            latency: Arc::default(),
            tally: Arc::default(),
            stats: DecideStats::default(),
        }
    }

    pub fn config(&self) -> &DecideConfig {
        &self.cfg
    }

    /// The configuration, shared (for a caller that holds the decider locked while reading a call's facts).
    pub fn config_arc(&self) -> Arc<DecideConfig> {
        self.cfg.clone()
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    pub fn engine_mut(&mut self) -> &mut Engine {
        &mut self.engine
    }

    /// Replaces the engine (a reloaded policy): bans and sources stay.
    pub fn set_engine(&mut self, mut engine: Engine) {
        engine.set_site(self.cfg.site());
        self.engine = engine;
    }

    pub fn numbering(&self) -> &Numbering {
        &self.numbering
    }

    /// Whether to publish [`LiveEvent`]s in [`Effects::events`].
    pub fn set_live(&mut self, on: bool) {
        self.live = on;
    }

    /// Time from a call attempt's arrival to its verdict (read by the operator API).
    pub fn decision_latency(&self) -> Arc<DecisionLatency> {
        self.latency.clone()
    }

    /// Calls by verdict, alerts by rule, money at stake (read by the operator API).
    pub fn decision_tally(&self) -> Arc<DecisionTally> {
        self.tally.clone()
    }

    // ---- sources: bans, protection, logins ----

    /// The key a source is counted and banned under (the engine's policy: IPv4 address, IPv6 network).
    pub fn key(&self, ip: IpAddr) -> IpAddr {
        self.engine.policy().source_key(ip)
    }

    /// Never banned: configured peers, tenants' PBX networks, trusted networks.
    pub fn is_protected(&self, ip: IpAddr) -> bool {
        self.engine.site().protects(ip)
    }

    pub fn is_banned(&self, ip: IpAddr, now: Millis) -> bool {
        self.bans.is_banned(self.key(ip), now)
    }

    pub fn bans_active(&self, now: Millis) -> usize {
        self.bans.active(now)
    }

    /// A source logged in: one spoofed packet with a scanner's mark must not ban it.
    pub fn vouch(&mut self, ip: IpAddr, now: Millis) {
        self.known.vouch(ip, now);
    }

    /// Puts a ban of `rule` in the table; false for protected sources.
    fn put_ban(&mut self, source: IpAddr, until: Millis, rule: &str) -> bool {
        if self.is_protected(source) {
            return false;
        }
        let max = self.engine.policy().sources.max_bans;
        self.bans
            .put(self.key(source), until, Evidence::of_rule(rule), max);
        true
    }

    // ---- phase: request received ----

    /// Counts a request of an outsider. A busy source's count is reported to the engine at once rather than at
    /// the end of the window; a flood (a burst of requests faster than any phone sends, [`crate::flood`]) from
    /// a source that has not logged in is banned at its `[sources] flood_burst`th request (10), under `request_rate_source` with the
    /// ban settings of fingerprint bans. True when the source is now banned.
    pub fn request_received(&mut self, ip: IpAddr, now: Now, fx: &mut Effects) -> bool {
        let key = self.key(ip);
        let limits = self.engine.policy().sources;
        match self.requests.count(key, now.engine, &limits) {
            // Another front end (a SIP shard) may have banned the source since this one looked.
            Counted::Quiet => self.is_banned(ip, now.engine),
            Counted::Report(requests) => {
                let ev = RequestCount {
                    at: now.engine,
                    source: key,
                    requests,
                };
                self.feed("", &Event::Requests(ev), true, fx);
                self.is_banned(ip, now.engine)
            }
            Counted::Flood {
                requests,
                within_ms,
            } => {
                // A source that logged in is not banned on it (an office behind one address); its per-minute
                // counts still go to the engine. Nothing is logged: a flood would log at its own rate.
                if !self
                    .engine
                    .policy()
                    .profile(0)
                    .rules
                    .request_rate_source
                    .enabled
                    || self.known.is_vouched(ip, now.engine)
                {
                    return false;
                }
                let why = flood_words(requests, within_ms, &limits);
                self.scanner_seen(ip, RuleId::RequestRateSource, &why, now, fx);
                self.is_banned(ip, now.engine)
            }
        }
    }

    /// Request counts per source since the last tick, to the engine (every `request_window_secs`).
    pub fn tick(&mut self, now: Now, fx: &mut Effects) {
        let limits = self.engine.policy().sources;
        for (source, requests) in self.requests.drain(now.engine, &limits) {
            let ev = RequestCount {
                at: now.engine,
                source,
                requests,
            };
            self.feed("", &Event::Requests(ev), true, fx);
        }
    }

    /// A request carried a scanner's fingerprint (`rule` names the fingerprint rule, `why` says what was seen).
    pub fn scanner_seen(
        &mut self,
        ip: IpAddr,
        rule: RuleId,
        why: &str,
        now: Now,
        fx: &mut Effects,
    ) -> ScannerOutcome {
        if self.known.is_vouched(ip, now.engine) {
            tracing::warn!(source = %ip, mark = %why, "scanner mark from a source that logged in: not banned");
            return ScannerOutcome::Vouched;
        }
        if !self
            .engine
            .policy()
            .profile(0)
            .rules
            .scanner_user_agent
            .enabled
        {
            return ScannerOutcome::Off;
        }
        let mark = engine::ScannerMark {
            at: now.engine,
            source: ip,
            rule,
            why,
        };
        self.feed("", &Event::ScannerMark(mark), true, fx);
        ScannerOutcome::Banned
    }

    // ---- phase: call attempt ----

    /// Decides an outbound call attempt. `received`: when the front end read it (for the latency figures).
    pub fn call_attempt(
        &mut self,
        q: &CallQuery<'_>,
        received: Option<Instant>,
        now: Now,
        fx: &mut Effects,
    ) -> CallVerdict {
        // The configuration is shared, not copied: the tenant is borrowed from this call's reference to it.
        let cfg = self.cfg.clone();
        let Some(tenant) = cfg.tenants.resolve(q.tenant, q.source.map(|s| s.ip())) else {
            return self.unknown_tenant(q);
        };
        let authenticated = tenant.knows_account(q.account);
        let caller_id_foreign = !tenant.numbers.is_empty()
            && q.caller
                .is_some_and(|c| self.foreign_number(c, &tenant.numbers));
        let destination = match q.phone_context {
            Some(c) => self.numbering.classify_in_context(q.dialed, Some(c)),
            None => self.numbering.classify(q.dialed),
        };
        let attempt = CallAttempt {
            at: now.engine,
            call_id: q.call_id,
            tenant: &tenant.name,
            account: q.account,
            source: q.source,
            user_agent: q.user_agent,
            authenticated,
            dialed: q.dialed,
            destination: &destination,
            route: "trunk",
            caller_id_foreign,
            leg: q.leg,
            forwarded_from: q.forwarded_from,
        };
        self.decisions.clear();
        let verdict = self
            .engine
            .on_event(&Event::CallAttempt(attempt), &mut self.decisions);
        self.stats.calls_decided += 1;
        // The engine's buffer keeps its capacity (it would grow again on every call); what goes on to the
        // records is sized to fit.
        let decisions: Vec<Decision> = self.decisions.drain(..).collect();
        let deciding = decisions
            .iter()
            .find(|d| d.level == Level::Critical && !d.shadow)
            .or_else(|| decisions.first())
            .cloned();
        let emergency = destination.is_emergency();
        tracing::info!(call_id = q.call_id, tenant = %tenant.name, account = q.account, dialed = q.dialed, emergency, verdict = ?verdict, "outbound call decided");
        let (allowed, status) = match verdict {
            Verdict::Block { sip_status } => (false, sip_status),
            Verdict::Allow | Verdict::Warn => (true, 0),
        };
        self.tally.call(CallOutcome::of(allowed, emergency));
        let reason = match (&deciding, allowed) {
            (Some(d), _) => Some(d.reason.clone()),
            (None, false) => Some(format!(
                "call from ext {} to {} blocked by tollguard policy",
                q.account, q.dialed
            )),
            (None, true) => None,
        };
        if self.live {
            fx.events.push(LiveEvent::Call {
                at: now.engine,
                tenant: tenant.name.clone(),
                account: q.account.to_owned(),
                call_id: q.call_id.to_owned(),
                dialed: q.dialed.to_owned(),
                e164: destination.e164.map(|e| e.to_string()),
                country: destination.country.map(|c| c.name.to_owned()),
                class: DestClass::of(&destination).as_str().to_owned(),
                verdict: CallOutcome::of(allowed, emergency).as_str().to_owned(),
                sip_status: status,
                reason: if allowed { None } else { reason.clone() },
            });
        }
        if q.observe && !allowed {
            tracing::warn!(call_id = q.call_id, tenant = %tenant.name, account = q.account, dialed = q.dialed, "a call seen on the mirror would have been refused");
        }
        self.apply(&tenant.name, decisions, !q.observe, fx);
        if let Some(r) = received {
            self.latency.record(r.elapsed());
        }
        if !allowed {
            self.stats.calls_refused += 1;
        }
        CallVerdict {
            allowed,
            status,
            reason,
            decision: deciding,
            tenant: tenant.name.clone(),
            account: q.account.to_owned(),
            dialed: q.dialed.to_owned(),
            emergency,
        }
    }

    /// A query naming a tenant that is not configured: refused (fail closed), but never an emergency call.
    fn unknown_tenant(&mut self, q: &CallQuery<'_>) -> CallVerdict {
        let emergency = self.numbering.classify(q.dialed).is_emergency();
        let name = q.tenant.unwrap_or("");
        tracing::warn!(
            tenant = name,
            call_id = q.call_id,
            "call attempt for a tenant that is not configured"
        );
        self.tally.call(CallOutcome::of(emergency, emergency));
        CallVerdict {
            allowed: emergency,
            status: if emergency { 0 } else { 403 },
            reason: (!emergency).then(|| format!("tenant {name} is not configured in tollguard")),
            decision: None,
            tenant: name.to_owned(),
            account: q.account.to_owned(),
            dialed: q.dialed.to_owned(),
            emergency,
        }
    }

    /// A caller number that is a public number (not an extension) outside the tenant's own prefixes.
    fn foreign_number(&self, caller: &str, own: &[String]) -> bool {
        let d = self
            .numbering
            .classify(&crate::facts::dialed_as_dialed(caller));
        let Some(e164) = d.e164 else {
            return false;
        };
        let digits = e164.to_string();
        let digits = digits.trim_start_matches('+');
        !own.iter().any(|p| digits.starts_with(p.as_str()))
    }

    // ---- phases: answered, ended ----

    pub fn call_answered(&mut self, call_id: &str, tenant: &str, now: Now, fx: &mut Effects) {
        self.answered_as(call_id, tenant, true, now, fx);
    }

    fn answered_as(
        &mut self,
        call_id: &str,
        tenant: &str,
        enforce: bool,
        now: Now,
        fx: &mut Effects,
    ) {
        let ev = CallAnswered {
            at: now.engine,
            call_id,
        };
        if self.live {
            fx.events.push(LiveEvent::CallAnswered {
                at: now.engine,
                tenant: tenant.to_owned(),
                call_id: call_id.to_owned(),
            });
        }
        self.feed(tenant, &Event::CallAnswered(ev), enforce, fx);
    }

    /// Remembers a call that a querier carries itself (or a mirror shows), for its later answer and end.
    pub fn remember_call(&mut self, call_id: &str, tenant: &str, observe: bool, now: Now) {
        self.queried.remember(call_id, tenant, now.engine, observe);
    }

    /// The tenant of a call a querier carries (or a mirror shows), if it is remembered.
    pub fn tenant_of_queried(&self, call_id: &str) -> Option<String> {
        self.queried.tenant_of(call_id)
    }

    /// Whether a querier's or mirror's call is remembered (a mirror shows retransmissions and both legs).
    pub fn knows_call(&self, call_id: &str) -> bool {
        self.queried.contains(call_id)
    }

    /// A querier's call was answered. False when the querier may not see such a call (unknown, ended,
    /// another tenant's).
    pub fn queried_answered(
        &mut self,
        call_id: &str,
        tenants: Option<&[String]>,
        now: Now,
        fx: &mut Effects,
    ) -> bool {
        let Some(c) = self.queried.get_mut(call_id, tenants) else {
            return false;
        };
        if c.answered.is_some() {
            return true;
        }
        c.answered = Some(now.engine);
        let (tenant, enforce) = (c.tenant.clone(), !c.observe);
        self.answered_as(call_id, &tenant, enforce, now, fx);
        true
    }

    /// A querier's call ended; `billable_secs` as the querier measured it (else from its answer). False when
    /// the querier may not see such a call.
    pub fn queried_ended(
        &mut self,
        call_id: &str,
        tenants: Option<&[String]>,
        billable_secs: Option<u32>,
        cause: EndCause,
        now: Now,
        fx: &mut Effects,
    ) -> bool {
        if self.queried.get_mut(call_id, tenants).is_none() {
            return false;
        }
        let Some(c) = self.queried.forget(call_id) else {
            return false;
        };
        let answered = match (billable_secs, c.answered) {
            (Some(b), _) => Some((now.engine - i64::from(b) * 1000).max(c.started)),
            (None, a) => a,
        };
        self.ended_as(
            call_id, &c.tenant, c.started, answered, cause, !c.observe, now, fx,
        );
        true
    }

    /// A decided call ended (`started`/`answered`: engine times of the INVITE and the answer).
    #[allow(clippy::too_many_arguments)]
    pub fn call_ended(
        &mut self,
        call_id: &str,
        tenant: &str,
        started: Millis,
        answered: Option<Millis>,
        cause: EndCause,
        now: Now,
        fx: &mut Effects,
    ) {
        self.ended_as(call_id, tenant, started, answered, cause, true, now, fx);
    }

    #[allow(clippy::too_many_arguments)]
    fn ended_as(
        &mut self,
        call_id: &str,
        tenant: &str,
        started: Millis,
        answered: Option<Millis>,
        cause: EndCause,
        enforce: bool,
        now: Now,
        fx: &mut Effects,
    ) {
        let secs = |from: Millis| {
            u32::try_from(now.engine.saturating_sub(from).max(0) / 1000).unwrap_or(u32::MAX)
        };
        let billable_secs = answered.map(secs).unwrap_or(0);
        let ev = CallEnded {
            at: now.engine,
            call_id,
            duration_secs: secs(started),
            billable_secs,
            cause,
        };
        if self.live {
            fx.events.push(LiveEvent::CallEnded {
                at: now.engine,
                tenant: tenant.to_owned(),
                call_id: call_id.to_owned(),
                billable_secs,
                by_guard: cause == EndCause::Terminated,
            });
        }
        self.feed(tenant, &Event::CallEnded(ev), enforce, fx);
    }

    // ---- phase: authentication ----

    /// The tenant whose PBX the access side reaches: logins on the access side belong to it.
    pub fn tenant_of_pbx(&self) -> Option<&Tenant> {
        self.cfg.tenants.resolve(None, self.cfg.pbx)
    }

    fn limits_apply(&self, t: &Tenant) -> bool {
        self.cfg.geo.is_some() || !t.login.is_empty()
    }

    /// The country of an address in the configured geo database.
    pub fn country_of(&self, ip: IpAddr) -> Option<Country> {
        self.cfg.geo.as_deref().and_then(|g| g.country(ip))
    }

    /// The facts of a login to the access-side PBX (`kind`, user name, whether it carried credentials).
    pub fn auth_facts(
        &self,
        kind: engine::AuthKind,
        username: String,
        credentials: bool,
        user_agent: &str,
        source: IpAddr,
    ) -> AuthFacts {
        let t = self.tenant_of_pbx();
        AuthFacts {
            tenant: t.map(|t| t.name.clone()).unwrap_or_default(),
            username,
            credentials,
            country: t
                .filter(|t| self.limits_apply(t))
                .and_then(|_| self.country_of(source)),
            user_agent: user_agent.to_owned(),
            kind,
            source,
        }
    }

    /// The tenant's login limits (networks, countries) for a login with credentials: Some(refusal) when it
    /// may not log in from there. The front end answers 403 and reports the failure with [`Self::auth_result`].
    pub fn login_refusal(&mut self, p: &AuthFacts) -> Option<LoginRefusal> {
        if !p.credentials {
            return None;
        }
        let tenant = self.tenant_of_pbx().filter(|t| self.limits_apply(t))?;
        let refusal = tenant
            .check_login(&p.username, p.source, self.cfg.geo.as_deref())
            .err()?;
        tracing::warn!(source = %p.source, account = %p.username, why = refusal.message(), "login refused by the login limits");
        self.stats.logins_refused += 1;
        Some(refusal)
    }

    /// The final answer to a login (challenge, failure, unknown user, success), fed to the engine.
    /// `stale`: a 401/407 that only says the nonce expired: the password was right, so it is a challenge, not
    /// a failure (a phone re-registering must never earn a ban).
    pub fn auth_result(
        &mut self,
        p: &AuthFacts,
        status: u16,
        stale: bool,
        now: Now,
        fx: &mut Effects,
    ) {
        let outcome = match status {
            401 | 407 if p.credentials && !stale => AuthOutcome::Failure,
            401 | 407 => AuthOutcome::Challenge,
            403 => AuthOutcome::Failure,
            404 => AuthOutcome::UnknownUser,
            200..=299 if p.credentials || p.kind == engine::AuthKind::Register => {
                AuthOutcome::Success
            }
            _ => return,
        };
        if outcome == AuthOutcome::Success && p.credentials {
            self.vouch(p.source, now.engine);
        }
        let ev = AuthAttempt {
            at: now.engine,
            tenant: &p.tenant,
            username: &p.username,
            source: p.source,
            user_agent: &p.user_agent,
            kind: p.kind,
            outcome,
            country: p.country.as_ref().map(Country::as_str),
        };
        tracing::debug!(source = %p.source, username = %p.username, ?outcome, status, "authentication outcome counted");
        self.feed(&p.tenant, &Event::Auth(ev), true, fx);
    }

    /// Phase "weak login": the PBX accepted a login of `account` whose digest response was computed from a
    /// vendor-default or weak password. A critical alert; with `[enforce] weak_password = "bar"` (the
    /// default) also a kill switch on the account for international, premium-rate and satellite calls, kept
    /// until an operator lifts it (emergency calls are never barred). Its calls in progress to those classes
    /// come back as [`EndCall`] effects. Returns the decision raised (None when the policy is "off").
    pub fn weak_login(
        &mut self,
        tenant: &str,
        account: &str,
        login: &WeakLogin<'_>,
        now: Now,
        fx: &mut Effects,
    ) -> Option<Decision> {
        let bar = match self.cfg.weak_password {
            WeakPasswordPolicy::Off => return None,
            WeakPasswordPolicy::Alert => false,
            WeakPasswordPolicy::Bar => true,
        };
        let scope = BarScope::Account {
            tenant: tenant.to_owned(),
            account: account.to_owned(),
        };
        let d = crate::weak::weak_password_decision(now.engine, tenant, account, login, bar);
        let barred_already = self
            .engine
            .kill_switches()
            .iter()
            .any(|k| k.scope == scope && k.classes == crate::weak::BARRED);
        if bar && !barred_already {
            let why = crate::weak::kill_switch_why(login);
            let (_, ids) = self.engine.set_kill_switch(
                scope,
                crate::weak::BARRED,
                now.engine,
                "tollguard",
                &why,
            );
            fx.end_calls.extend(ids.into_iter().map(|id| EndCall {
                call_id: id,
                why: why.clone(),
            }));
        }
        self.apply(tenant, vec![d.clone()], true, fx);
        Some(d)
    }

    // ---- operator changes ----

    /// A ban restored from the store at start.
    pub fn restore_ban(&mut self, ban: &Ban) {
        if self.put_ban(ban.source, ban.until, &ban.rule) {
            self.engine
                .ban(ban.source, ban.since, ban.until, &ban.by, &ban.why);
        }
    }

    /// Lifts a ban (an operator removed it).
    pub fn lift_ban(&mut self, ip: IpAddr) {
        let key = self.key(ip);
        self.bans.lift(key);
        self.engine.lift_ban(ip);
        tracing::warn!(source = %ip, "ban lifted by an operator");
    }

    /// Sets an operator's kill switch: the scope is barred at once, and its calls in progress to the barred
    /// classes come back as [`EndCall`] effects. Returns their Call-IDs.
    pub fn operator_kill_switch(
        &mut self,
        ks: &KillSwitch,
        now: Now,
        fx: &mut Effects,
    ) -> Vec<String> {
        let (set, ids) =
            self.engine
                .set_kill_switch(ks.scope.clone(), ks.classes, now.engine, &ks.by, &ks.why);
        tracing::warn!(scope = %set.scope, classes = %set.classes, by = %set.by, why = %set.why, calls = ids.len(), "kill switch set by an operator");
        // Parties and carriers read this in the BYE's Reason: the operator's words, not who (which token) set
        // it; the log above and the audit log keep that.
        let why = format!("kill switch set by the operator: {}", set.why);
        fx.end_calls.extend(ids.iter().map(|id| EndCall {
            call_id: id.clone(),
            why: why.clone(),
        }));
        ids
    }

    /// Lifts the kill switches of this scope and classes. Returns whether one was in force.
    pub fn lift_kill_switch(&mut self, scope: &BarScope, classes: ClassSet) -> bool {
        let ids: Vec<u64> = self
            .engine
            .kill_switches()
            .iter()
            .filter(|k| &k.scope == scope && k.classes == classes)
            .map(|k| k.id)
            .collect();
        for id in &ids {
            self.engine.lift_kill_switch(*id);
            tracing::warn!(scope = %scope, "kill switch lifted by an operator");
        }
        !ids.is_empty()
    }

    /// Forgets bans that ended.
    pub fn expire(&mut self, now: Now) {
        self.bans.expire(now.engine);
    }

    // ---- decisions into effects ----

    /// Feeds an event to the engine and turns what it decided into effects, under `tenant`; `enforce`
    /// false (a mirror): alerts only.
    fn feed(&mut self, tenant: &str, ev: &Event<'_>, enforce: bool, fx: &mut Effects) {
        let mut ds = std::mem::take(&mut self.decisions);
        ds.clear();
        self.engine.on_event(ev, &mut ds);
        if ds.is_empty() {
            self.decisions = ds;
            return;
        }
        self.apply(tenant, ds, enforce, fx);
    }

    /// Logs decisions and turns them into effects: bans (never of a protected source), kill switches to
    /// persist, calls to end, alerts and live events. Not `enforce`d (a mirror): alerts and events, a ban the
    /// engine recorded is lifted again, and no call is ended; a kill switch the engine set on escalation is
    /// kept and persisted, so that the barred account's later calls are decided as inline (alerts
    /// "kill_switch") rather than pass unremarked, and operators see it and lift it as any other.
    fn apply(&mut self, tenant: &str, decisions: Vec<Decision>, enforce: bool, fx: &mut Effects) {
        if decisions.is_empty() {
            return;
        }
        if self.live {
            fx.events
                .extend(decisions.iter().map(|d| LiveEvent::Decision {
                    tenant: tenant.to_owned(),
                    decision: d.clone(),
                }));
        }
        for d in &decisions {
            self.tally.decision(tenant, d);
            tracing::warn!(rule = %d.rule, level = ?d.level, shadow = d.shadow, key = %d.subject, measured = d.measured, threshold = d.threshold, action = ?d.action, reason = %d.reason, "decision");
            match (d.shadow, enforce, &d.action) {
                (true, _, _) => {}
                (false, true, _) => self.enforce(d, fx),
                // The engine recorded the ban with its decision: a mirror's decision only alerts.
                (false, false, Action::Ban { source, .. }) => {
                    self.engine.lift_ban(*source);
                }
                // Barring changes only verdicts, which on a mirror are alerts: the guard carries none of
                // these calls, and the calls in progress are not ended (EndCalls is not enforced).
                (false, false, Action::Bar { .. }) => self.enforce(d, fx),
                (false, false, _) => {}
            }
        }
        fx.persist.push(Persist::Alerts {
            tenant: tenant.to_owned(),
            decisions,
        });
    }

    fn enforce(&mut self, d: &Decision, fx: &mut Effects) {
        match &d.action {
            Action::Ban { source, until } => {
                if !self.put_ban(*source, *until, d.rule.as_str()) {
                    // Configured peers, tenants' PBX networks and trusted networks are never banned.
                    self.engine.lift_ban(*source);
                    tracing::warn!(source = %source, "protected source not banned");
                    return;
                }
                self.stats.bans_set += 1;
                // The engine's own record names the rule that triggered the ban.
                let ban = self
                    .engine
                    .ban_of(*source)
                    .filter(|b| b.source == *source && b.until > d.at && b.rule != "operator")
                    .cloned()
                    .unwrap_or_else(|| Ban {
                        source: *source,
                        since: d.at,
                        until: *until,
                        rule: d.rule.as_str().to_owned(),
                        by: "tollguard".into(),
                        why: d.reason.clone(),
                    });
                fx.bans.push(ban.clone());
                fx.persist.push(Persist::Ban(ban));
            }
            Action::Bar { scope, classes } => {
                if let Some(ks) = self
                    .engine
                    .kill_switches()
                    .iter()
                    .rev()
                    .find(|k| &k.scope == scope && k.classes == *classes)
                {
                    fx.persist.push(Persist::KillSwitch(ks.clone()));
                }
            }
            Action::EndCalls { call_ids, .. } => {
                fx.end_calls.extend(call_ids.iter().map(|id| EndCall {
                    call_id: id.clone(),
                    why: d.reason.clone(),
                }));
            }
            Action::Warn | Action::Block { .. } => {}
        }
    }
}
