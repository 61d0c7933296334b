//! The engine: events in, decisions out. Owns all per-key state, kill switches and bans; runs the rules in a
//! fixed order; explains every decision. Deterministic: the same events (and the same snapshot) give the same
//! decisions, with no clock, randomness or I/O inside.

use std::net::IpAddr;
use std::sync::Arc;

use numbering::Destination;
use serde::{Deserialize, Serialize};

use crate::calendar::{DayCache, LocalMoment};
use crate::cost::{RateTable, fallback_rate};
use crate::decision::{Amount, BarScope, ClassSet, Decision, DestClass, Level, Unit, Verdict};
use crate::event::{
    AuthAttempt, AuthKind, AuthOutcome, CallAnswered, CallAttempt, CallEnded, Event, Millis,
    RequestCount, UNKNOWN_ACCOUNT,
};
use crate::explain::{self, Counted};
use crate::keys::{BoundedMap, CallLog, Idle, KeyHasher, KeyKind, SlabMap};
use crate::policy::{Policy, Profile, Rule};
use crate::rule_id::RuleId;
use crate::rules::{self, Floors, Hit, check, is_international, push_level, risk_rank};
use crate::source::{SourceWords, network_of};
use crate::state::{
    AccountLogins, AccountState, Ban, BanTable, CallState, Duration, KillSwitch, NumberState,
    RangeState, SourceState, TenantState,
};
use crate::window::{Buckets, Span};

/// Counters for reports and metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Stats {
    pub events: u64,
    pub attempts: u64,
    pub emergency: u64,
    pub blocked: u64,
    pub warned: u64,
    pub decisions: u64,
    /// Answers/ends of calls the engine never saw start (or blocked): ignored.
    pub unknown_calls: u64,
    pub bans: u64,
    pub kill_switches_set: u64,
    /// Bans dropped because the ban table was full (`sources.max_bans`): the ones ending soonest.
    pub bans_evicted: u64,
}

/// Sizes of the state maps, to check that memory stays bounded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct StateSizes {
    pub accounts: usize,
    pub tenants: usize,
    pub sources: usize,
    pub numbers: usize,
    pub ranges: usize,
    pub calls_in_progress: usize,
    /// Bans held (in force, or ended since the last sweep).
    pub bans: usize,
    /// Accounts whose logins are remembered (known sources, failing sources, countries).
    pub logins: usize,
    pub evicted: u64,
}

/// Everything needed to resume after a restart.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Snapshot {
    pub version: u32,
    pub seed: u64,
    accounts: Vec<(u64, AccountState)>,
    tenants: Vec<(u64, TenantState)>,
    sources: Vec<(u64, SourceState)>,
    numbers: Vec<(u64, NumberState)>,
    ranges: Vec<(u64, RangeState)>,
    calls: Vec<(u64, CallState)>,
    call_log: CallLog,
    /// Absent from snapshots written before bans had their own table (theirs are inside `sources`).
    #[serde(default)]
    bans: Vec<(u64, Ban)>,
    /// Absent from snapshots written before logins were remembered.
    #[serde(default)]
    logins: Vec<(u64, AccountLogins)>,
    pub kill_switches: Vec<KillSwitch>,
    next_switch_id: u64,
    last_expire: Millis,
    pub stats: Stats,
}

const SCANNERS: &[&str] = &[
    "friendly-scanner",
    "sipvicious",
    "sipcli",
    "sip-scan",
    "vaxsipuseragent",
    "iwar",
    "sivus",
    "sundayddr",
    "pplsip",
];

fn contains_ci(hay: &str, needle: &str) -> bool {
    hay.as_bytes()
        .windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
}

/// The known scanner named in a User-Agent, if any.
pub fn scanner_in(user_agent: &str) -> Option<&'static str> {
    if user_agent.is_empty() {
        return None;
    }
    SCANNERS
        .iter()
        .copied()
        .find(|s| contains_ci(user_agent, s))
}

/// A call in progress as the engine keeps it: its state (what snapshots hold) and where its account and tenant
/// were in their maps when it started (hints, checked against the keys: a stale one costs a hash probe).
#[derive(Debug, Clone, Copy)]
struct LiveCall {
    state: CallState,
    acct_at: usize,
    ten_at: usize,
}

impl Idle for LiveCall {
    fn last_seen(&self) -> Millis {
        self.state.started
    }
}

/// Key of the "everything" scope in the kill-switch index.
pub(crate) const ALL_SCOPE: u64 = u64::MAX;

/// How often (in event time) idle keys are swept.
const EXPIRE_EVERY: Millis = 10 * 60_000;

/// The fraud engine. One per site (or per node); not shared between threads (`&mut self` on every event).
pub struct Engine {
    pub(crate) policy: Policy,
    /// The site's protected networks and refusal status (crate::site_rules).
    pub(crate) site: crate::Site,
    floors: Floors,
    rates: Arc<dyn RateTable>,
    pub(crate) hasher: KeyHasher,
    pub(crate) accounts: SlabMap<AccountState>,
    tenants: SlabMap<TenantState>,
    sources: BoundedMap<SourceState>,
    numbers: BoundedMap<NumberState>,
    ranges: BoundedMap<RangeState>,
    calls: BoundedMap<LiveCall>,
    /// Bans by source key hash, capped by `sources.max_bans`.
    bans: BanTable,
    /// Logins per account (same key as `accounts`): only authentication events touch it.
    logins: BoundedMap<AccountLogins>,
    call_log: CallLog,
    switches: Vec<KillSwitch>,
    /// Explanation parts of the kill switches, made once per switch and class.
    kill_switch_words: explain::KillSwitchWords,
    /// Classes barred per scope (key of the account, the tenant, or ALL_SCOPE): an O(1) check per call.
    pub(crate) barred: crate::keys::IdMap<ClassSet>,
    next_switch_id: u64,
    last_expire: Millis,
    /// `last_expire + EXPIRE_EVERY` (saturated): events before it need not look at `last_expire`.
    expire_due: Millis,
    day_cache: DayCache,
    hits: Vec<Hit>,
    cluster: Vec<u64>,
    /// The short calls of the tenant counted by `pumping_tenant` at a call's end (reused: no allocation).
    short_calls: Vec<u64>,
    /// Country names by calling code, learned from destinations (for sentences about calls that ended).
    country_names: std::collections::HashMap<u16, (&'static str, &'static str)>,
    /// The call whose attempt was last let through goes to a watched destination (see [`Engine::answer_matters`]).
    last_watched: bool,
    /// The account name claimed by the unlisted call being decided (see [`Engine::on_unlisted_attempt`]).
    claimed: String,
    stats: Stats,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("sizes", &self.sizes())
            .field("kill_switches", &self.switches)
            .field("stats", &self.stats)
            .finish()
    }
}

/// The default key seed. Live deployments should pass a random seed with [`Engine::with_seed`] so that nobody
/// can aim hash collisions at the maps.
pub const DEFAULT_SEED: u64 = 0x746f_6c6c_6775_6172;

impl Engine {
    /// An engine with a policy and a rate table (normally `Arc<numbering::Numbering>`).
    pub fn new(policy: Policy, rates: Arc<dyn RateTable>) -> Engine {
        Self::with_seed(policy, rates, DEFAULT_SEED)
    }

    pub fn with_seed(policy: Policy, rates: Arc<dyn RateTable>, seed: u64) -> Engine {
        let l = policy.limits;
        Engine {
            hasher: KeyHasher::new(seed),
            accounts: SlabMap::new(l.max_accounts),
            tenants: SlabMap::new(l.max_tenants),
            sources: BoundedMap::new(l.max_sources),
            numbers: BoundedMap::new(l.max_numbers),
            ranges: BoundedMap::new(l.max_ranges),
            calls: BoundedMap::new(l.max_calls_in_progress),
            bans: BanTable::new(policy.sources.max_bans),
            logins: BoundedMap::new(l.max_accounts),
            call_log: CallLog::default(),
            switches: Vec::new(),
            kill_switch_words: explain::KillSwitchWords::default(),
            barred: crate::keys::IdMap::default(),
            next_switch_id: 1,
            last_expire: Millis::MIN,
            expire_due: Millis::MIN.saturating_add(EXPIRE_EVERY),
            day_cache: DayCache::default(),
            hits: Vec::with_capacity(16),
            cluster: Vec::with_capacity(16),
            short_calls: Vec::with_capacity(crate::state::SHORT_CALLS),
            country_names: std::collections::HashMap::new(),
            last_watched: true,
            claimed: String::new(),
            stats: Stats::default(),
            floors: Floors::of(&policy),
            site: crate::Site::default(),
            policy,
            rates,
        }
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    pub fn stats(&self) -> Stats {
        self.stats
    }

    pub fn sizes(&self) -> StateSizes {
        StateSizes {
            accounts: self.accounts.len(),
            tenants: self.tenants.len(),
            sources: self.sources.len(),
            numbers: self.numbers.len(),
            ranges: self.ranges.len(),
            calls_in_progress: self.calls.len(),
            bans: self.bans.len(),
            logins: self.logins.len(),
            evicted: self.accounts.evicted()
                + self.tenants.evicted()
                + self.sources.evicted()
                + self.numbers.evicted()
                + self.ranges.evicted()
                + self.calls.evicted()
                + self.logins.evicted()
                + self.bans.evicted(),
        }
    }

    /// Whether the `CallAnswered` of the call whose attempt was fed last changes anything: only calls to watched
    /// destinations (international, premium… per the account's policy) count as in progress and accrue money
    /// once answered. For any other call (an allowed domestic call, a blocked one) the engine would ignore the
    /// answer, so a replay of CDRs may leave it out (a live feed just sends it). True before any attempt.
    pub fn answer_matters(&self) -> bool {
        self.last_watched
    }

    /// Feeds one event. Decisions (alerts and actions) are appended to `out`; nothing is appended and nothing is
    /// allocated for the common allowed call. The returned verdict is the fate of the event's call or request.
    pub fn on_event(&mut self, event: &Event<'_>, out: &mut Vec<Decision>) -> Verdict {
        self.stats.events += 1;
        let before = out.len();
        let v = match event {
            Event::CallAttempt(a) => {
                self.expire_if_due(a.at);
                if a.authenticated {
                    self.on_attempt(a, out)
                } else {
                    self.on_unlisted_attempt(a, out)
                }
            }
            Event::CallAnswered(a) => {
                self.expire_if_due(a.at);
                self.on_answered(a)
            }
            Event::CallEnded(e) => {
                self.expire_if_due(e.at);
                self.on_ended(e, out)
            }
            Event::Auth(a) => {
                self.expire_if_due(a.at);
                self.on_auth(a, out)
            }
            Event::Requests(r) => {
                self.expire_if_due(r.at);
                self.on_requests(r, out)
            }
            Event::ScannerMark(m) => {
                self.expire_if_due(m.at);
                self.on_scanner_mark(m, out)
            }
        };
        let v = self.apply_site(&mut out[before..], v);
        self.stats.decisions += (out.len() - before) as u64;
        match v {
            Verdict::Block { .. } => self.stats.blocked += 1,
            Verdict::Warn => self.stats.warned += 1,
            Verdict::Allow => {}
        }
        v
    }

    /// Sweeps idle keys when `EXPIRE_EVERY` of event time has passed since the last sweep (one comparison for
    /// the events in between).
    #[inline(always)]
    fn expire_if_due(&mut self, at: Millis) {
        if at >= self.expire_due && at.saturating_sub(self.last_expire) >= EXPIRE_EVERY {
            self.expire(at);
        }
    }

    // ----- calls -------------------------------------------------------------------------------------------

    /// A call from an account not in the tenant's list: decided as a call of the tenant's [`UNKNOWN_ACCOUNT`], so
    /// that a caller who changes its From user on each call resets nothing. The name it claimed goes into the
    /// sentences (through `claimed`, so that the common path carries nothing more).
    #[cold]
    #[inline(never)]
    fn on_unlisted_attempt(&mut self, a: &CallAttempt<'_>, out: &mut Vec<Decision>) -> Verdict {
        let shared = CallAttempt {
            account: UNKNOWN_ACCOUNT,
            ..*a
        };
        self.claimed.clear();
        self.claimed.push_str(a.account);
        let v = self.on_attempt(&shared, out);
        self.claimed.clear();
        v
    }

    fn on_attempt(&mut self, a: &CallAttempt<'_>, out: &mut Vec<Decision>) -> Verdict {
        let d: &Destination = a.destination;
        // Set again below for a call that goes ahead to a watched destination.
        self.last_watched = false;
        // Emergency numbers pass before anything else: no ban, kill switch or rule applies.
        if d.is_emergency() {
            self.stats.emergency += 1;
            return Verdict::Allow;
        }
        self.stats.attempts += 1;
        let at = a.at;
        if let Some(src) = a.source
            && let Some(v) = self.source_gate(
                self.policy.source_key(src.ip()),
                at,
                a.user_agent,
                a.tenant,
                Some(a.call_id),
                out,
            )
        {
            return v;
        }
        let class = DestClass::of(d);
        if class == DestClass::Internal {
            return Verdict::Allow;
        }
        let akey = self.hasher.two(KeyKind::Account, a.tenant, a.account);
        let tkey = self.hasher.one(KeyKind::Tenant, a.tenant);
        if !self.barred.is_empty() {
            let barred = [ALL_SCOPE, tkey, akey]
                .iter()
                .filter_map(|k| self.barred.get(k))
                .fold(ClassSet::EMPTY, |acc, c| acc.union(*c));
            if barred.contains(class)
                && let Some(ks) = self
                    .switches
                    .iter()
                    .find(|k| k.classes.contains(class) && k.scope.covers(a.tenant, a.account))
            {
                out.push(explain::kill_switch(
                    ks,
                    a,
                    class,
                    &self.policy.site.calendar,
                    &mut self.kill_switch_words,
                ));
                return Verdict::Block { sip_status: 403 };
            }
        }
        let m = self.policy.site.calendar.moment(at, &mut self.day_cache);
        let seq = self.call_log.record(a.call_id);
        let Engine {
            policy,
            floors,
            rates,
            hasher,
            accounts,
            tenants,
            numbers,
            ranges,
            calls,
            hits,
            country_names,
            ..
        } = self;
        let policy: &Policy = policy;
        hits.clear();
        // A warning left out of `hits` by `check_attempt` (already raised within its window).
        let mut quiet = false;

        let (acct_at, acct) = accounts.entry(akey, || {
            AccountState::new(
                a.tenant,
                a.account,
                policy.account_profile(a.tenant, a.account),
                at,
            )
        });
        acct.last_seen = acct.last_seen.max(at);
        let prof: &Profile = policy.profile(acct.profile);
        let rules = &prof.rules;
        let dp = &prof.dest;
        let off = m.off_hours;
        let afl = floors.row(acct.profile, off);
        let watched = dp.watch_classes.contains(class);
        if watched
            && let Some(c) = d.country
            && country_names.len() < 1024
        {
            country_names
                .entry(c.calling_code)
                .or_insert((c.iso2, c.name));
        }
        // Only watched calls are priced: money rules, calls in progress and pumping read no other call's rate
        // (the rate lookup was ~12% of the engine's time on bench/analyze's mix, where 98% of calls are domestic).
        let rate = if watched {
            rates
                .rate(d)
                .unwrap_or_else(|| fallback_rate(&policy.site.fallback_rates, class))
        } else {
            crate::cost::Rate::default()
        };

        let bk = Buckets::of(at);
        let acct_counts = rules::account::count_attempt(acct, &bk, class, at, seq);

        rules::destination::flags(hits, dp, rules, a, class, off);
        if rules.prefix_probe.enabled && watched {
            rules::destination::prefix_probe(
                hits,
                &rules.prefix_probe,
                acct,
                hasher,
                a.dialed,
                at,
                off,
            );
        }
        rules::account::velocity(
            hits,
            afl,
            rules,
            acct,
            acct_counts,
            &bk,
            off,
            at,
            &mut quiet,
            watched || off,
        );
        let paid = watched && rate.minimum() > 0;
        let acct_money =
            rules::money::account(hits, afl, rules, acct, &rate, paid, &bk, &m, at, &mut quiet);
        if watched && acct.baseline.mature(at) {
            rules::novelty::check(hits, rules, &acct.baseline, d, class, &m);
        }

        let (ten_at, ten) = tenants.entry(tkey, || {
            TenantState::new(a.tenant, policy.tenant_profile(a.tenant), at)
        });
        let ten_counts = rules::tenant::count_attempt(ten, &bk, at, seq);
        let trules = &policy.profile(ten.profile).rules;
        let tfl = floors.row(ten.profile, off);
        rules::tenant::velocity(
            hits,
            tfl,
            trules,
            ten,
            ten_counts,
            acct,
            off,
            at,
            &mut quiet,
            watched || off,
        );
        rules::money::tenant(
            hits, tfl, trules, ten, acct, &rate, paid, &bk, &m, at, &mut quiet,
        );
        if watched {
            rules::tenant::night_novelty(hits, tfl, trules, ten, &bk, &m, acct, at, &mut quiet);
        }

        // Dialed number and its range (watched classes only).
        let (number_key, range_key) = match d.e164 {
            Some(e) if watched => rules::number::check_number(
                hits, afl, rules, numbers, ranges, hasher, e, &bk, seq, acct, off, at, &mut quiet,
            ),
            _ => (0, 0),
        };
        rules::account::denied(hits, afl, rules, acct, &bk, off, at, &mut quiet);

        let call = CallState {
            started: at,
            seq,
            account: akey,
            tenant: tkey,
            rate,
            answered: None,
            class,
            cc: d.country.map_or(0, |c| c.calling_code),
            watched,
        };
        if hits.is_empty() {
            // The common path: allowed (or warned again within the warning's window), learned, nothing said.
            learn_attempt(acct, d, class, at, &m);
            if watched {
                ten.watched_hours.learn(m.hour, m.day);
            }
            calls.entry(hasher.one(KeyKind::Call, a.call_id), || LiveCall {
                state: call,
                acct_at,
                ten_at,
            });
            self.last_watched = watched;
            return if quiet { Verdict::Warn } else { Verdict::Allow };
        }

        // Only warnings already raised for this account within their windows (the usual case for a busy
        // extension above a warning level): nothing to say, and the call goes ahead as below.
        if hits.iter().all(|h| {
            h.level == Level::Warning
                && !rules::novelty::said_once(h.rule)
                && acct.is_quiet(h.rule as u8, at)
        }) {
            learn_attempt(acct, d, class, at, &m);
            if watched {
                ten.watched_hours.learn(m.hour, m.day);
            }
            calls.entry(hasher.one(KeyKind::Call, a.call_id), || LiveCall {
                state: call,
                acct_at,
                ten_at,
            });
            self.last_watched = watched;
            return Verdict::Warn;
        }

        // Something fired: decide, explain, escalate.
        let blocking = hits.iter().any(|h| h.level == Level::Critical && !h.shadow);
        let ctx = explain::CallContext {
            attempt: a,
            claimed: (a.account == UNKNOWN_ACCOUNT).then_some(self.claimed.as_str()),
            class,
            moment: m,
            rate,
            currency: policy.site.currency,
            at_stake_millis: acct_money[1],
            blocked: blocking,
        };
        let escalation = rules::combine::explain_hits(
            hits,
            &ctx,
            acct,
            rules::combine::Counters {
                tenant_recent: ten.recent,
                numbers,
                ranges,
                number_key,
                range_key,
                call_log: &self.call_log,
            },
            at,
            out,
        );
        if blocking {
            if let Some(i) = escalation.account {
                let why = out.get(i).map(|d| d.reason.clone()).unwrap_or_default();
                let scope = BarScope::Account {
                    tenant: a.tenant.to_owned(),
                    account: a.account.to_owned(),
                };
                self.escalate(scope, at, why, out);
            }
            if let Some(i) = escalation.tenant {
                let why = out.get(i).map(|d| d.reason.clone()).unwrap_or_default();
                self.escalate(
                    BarScope::Tenant {
                        tenant: a.tenant.to_owned(),
                    },
                    at,
                    why,
                    out,
                );
            }
            Verdict::Block { sip_status: 403 }
        } else {
            // Warned (most warnings are repeats, kept quiet above): the call goes ahead like an allowed one.
            learn_attempt(acct, d, class, at, &m);
            if watched {
                ten.watched_hours.learn(m.hour, m.day);
            }
            calls.entry(hasher.one(KeyKind::Call, a.call_id), || LiveCall {
                state: call,
                acct_at,
                ten_at,
            });
            self.last_watched = watched;
            Verdict::Warn
        }
    }

    fn on_answered(&mut self, e: &CallAnswered<'_>) -> Verdict {
        let key = self.hasher.one(KeyKind::Call, e.call_id);
        let Some(call) = self.calls.get_mut(key) else {
            self.stats.unknown_calls += 1;
            return Verdict::Allow;
        };
        if call.state.answered.is_some() {
            return Verdict::Allow;
        }
        call.state.answered = Some(e.at);
        if !call.state.watched {
            return Verdict::Allow;
        }
        let (account, tenant, rate) = (call.state.account, call.state.tenant, call.state.rate);
        let (acct_at, ten_at) = (call.acct_at, call.ten_at);
        if let Some((_, a)) = self.accounts.get_mut_hinted(account, acct_at) {
            a.calls.add(rate.per_minute_millis, rate.setup_millis, e.at);
        }
        if let Some((_, t)) = self.tenants.get_mut_hinted(tenant, ten_at) {
            t.calls.add(rate.per_minute_millis, rate.setup_millis, e.at);
        }
        Verdict::Allow
    }

    fn on_ended(&mut self, e: &CallEnded<'_>, out: &mut Vec<Decision>) -> Verdict {
        let key = self.hasher.one(KeyKind::Call, e.call_id);
        let Some(live) = self.calls.remove(key) else {
            self.stats.unknown_calls += 1;
            return Verdict::Allow;
        };
        let c = &live.state;
        let at = e.at;
        let cost = if c.watched {
            c.rate.cost(e.billable_secs)
        } else {
            0
        };
        let m = self.policy.site.calendar.moment(at, &mut self.day_cache);
        // Short answered watched calls of the tenant to this country in the last hour (`pumping_tenant`).
        let mut short = None;
        // Only watched calls were counted in progress when answered (on_answered): only they leave it.
        if let Some((_, t)) = self.tenants.get_mut_hinted(c.tenant, live.ten_at) {
            let r = &self.policy.profile(t.profile).rules.pumping_tenant;
            if c.watched && r.enabled && (r.min_secs.max(1)..=r.max_secs).contains(&e.billable_secs)
            {
                let d = Duration {
                    at,
                    secs: e.billable_secs,
                    cc: c.cc,
                    seq: c.seq,
                };
                let n = t.push_short(d, at - 3_600_000, &mut self.short_calls);
                short = Some((n, t.profile));
            }
            if let Some(ans) = c.answered.filter(|_| c.watched) {
                t.calls
                    .remove(c.rate.per_minute_millis, c.rate.setup_millis, ans);
            }
            if cost != 0 {
                t.cost_hour.add(Span::Hour, at, cost);
                t.cost_day.add(Span::Day, at, cost);
                t.cost_month.add(m.month, cost);
            }
            t.last_seen = t.last_seen.max(at);
        }
        let Engine {
            policy,
            floors,
            accounts,
            tenants,
            hits,
            cluster,
            short_calls,
            call_log,
            country_names,
            ..
        } = self;
        let Some((_, acct)) = accounts.get_mut_hinted(c.account, live.acct_at) else {
            return Verdict::Allow;
        };
        if let Some(ans) = c.answered.filter(|_| c.watched) {
            acct.calls
                .remove(c.rate.per_minute_millis, c.rate.setup_millis, ans);
        }
        acct.last_seen = acct.last_seen.max(at);
        if cost != 0 {
            acct.cost_hour.add(Span::Hour, at, cost);
            acct.cost_day.add(Span::Day, at, cost);
            acct.cost_month.add(m.month, cost);
        }
        acct.baseline.add_spend(m.day, cost);
        // An unwatched call cost nothing and is not looked at by pumping: it can only count as failed, and no
        // rule below can fire.
        if !c.watched {
            if e.billable_secs == 0 {
                acct.failed_hour.add(Span::Hour, at, 1);
            }
            return Verdict::Allow;
        }
        let prof = policy.profile(acct.profile);
        let rules = &prof.rules;
        let off = m.off_hours;
        let afl = floors.row(acct.profile, off);
        hits.clear();
        cluster.clear();
        if e.billable_secs == 0 {
            acct.failed_hour.add(Span::Hour, at, 1);
        } else if c.watched && rules.pumping.enabled && e.billable_secs >= rules.pumping.min_secs {
            acct.push_duration(Duration {
                at,
                secs: e.billable_secs,
                cc: c.cc,
                seq: c.seq,
            });
            let n = pumping_cluster(
                acct,
                c.cc,
                e.billable_secs,
                rules.pumping.jitter_secs,
                at - 3_600_000,
                cluster,
            );
            push_level(
                hits,
                RuleId::Pumping,
                &rules.pumping,
                n,
                off,
                Unit::SimilarCalls,
                Span::Hour.secs(),
                Counted::Account,
                false,
            );
        }
        if let Some((n, profile)) = &short {
            push_level(
                hits,
                RuleId::PumpingTenant,
                &policy.profile(*profile).rules.pumping_tenant,
                *n,
                off,
                Unit::SimilarCalls,
                Span::Hour.secs(),
                Counted::Tenant,
                false,
            );
        }
        // Settled money, so that a cap fires even when no new call follows (only a call that cost money can
        // change it).
        if cost != 0 {
            // Settled money, so that a cap fires even when no new call follows.
            check(
                hits,
                afl,
                RuleId::MoneyAccountHour,
                &rules.money_account_hour,
                (acct.cost_hour.total(Span::Hour, at) + acct.calls.accrued(at)) / 1000,
                off,
                Unit::Money,
                Span::Hour.secs(),
                Counted::Account,
                None,
            );
            check(
                hits,
                afl,
                RuleId::MoneyAccountDay,
                &rules.money_account_day,
                (acct.cost_day.total(Span::Day, at) + acct.calls.accrued(at)) / 1000,
                off,
                Unit::Money,
                Span::Day.secs(),
                Counted::Account,
                None,
            );
            check(
                hits,
                afl,
                RuleId::MoneyAccountMonth,
                &rules.money_account_month,
                (acct.cost_month.total(m.month) + acct.calls.accrued(at)) / 1000,
                off,
                Unit::Money,
                0,
                Counted::Account,
                None,
            );
            let b = acct.baseline;
            let day_spend = acct.cost_day.total(Span::Day, at);
            // A relative rule needs an absolute floor: 11× a usual 95 JPY is 1,045 JPY, not fraud.
            let floor = rules.novelty_spend.floor.unwrap_or(policy.site.spend_floor);
            if b.spend_days >= 3 && day_spend > floor.saturating_mul(1000) {
                let pct = day_spend.saturating_mul(100) / b.spend_avg.max(1);
                check(
                    hits,
                    afl,
                    RuleId::NoveltySpend,
                    &rules.novelty_spend,
                    pct,
                    off,
                    Unit::Percent,
                    Span::Day.secs(),
                    Counted::Account,
                    None,
                );
            }
            if let Some(t) = tenants.get(c.tenant) {
                let tr = &policy.profile(t.profile).rules;
                let tfl = floors.row(t.profile, off);
                let acc = t.calls.accrued(at);
                check(
                    hits,
                    tfl,
                    RuleId::MoneyTenantHour,
                    &tr.money_tenant_hour,
                    (t.cost_hour.total(Span::Hour, at) + acc) / 1000,
                    off,
                    Unit::Money,
                    Span::Hour.secs(),
                    Counted::Tenant,
                    None,
                );
                check(
                    hits,
                    tfl,
                    RuleId::MoneyTenantDay,
                    &tr.money_tenant_day,
                    (t.cost_day.total(Span::Day, at) + acc) / 1000,
                    off,
                    Unit::Money,
                    Span::Day.secs(),
                    Counted::Tenant,
                    None,
                );
                check(
                    hits,
                    tfl,
                    RuleId::MoneyTenantMonth,
                    &tr.money_tenant_month,
                    (t.cost_month.total(m.month) + acc) / 1000,
                    off,
                    Unit::Money,
                    0,
                    Counted::Tenant,
                    None,
                );
            }
        }
        if hits.is_empty() {
            return Verdict::Allow;
        }
        let (tenant_name, account_name) = (acct.tenant.clone(), acct.account.clone());
        let ctx = explain::EndContext {
            call_id: e.call_id,
            tenant: &tenant_name,
            account: &account_name,
            cc: c.cc,
            country: country_names.get(&c.cc).copied(),
            rate: c.rate,
            secs: e.billable_secs,
            jitter: rules.pumping.jitter_secs,
            currency: policy.site.currency,
            at,
            off_hours: off,
            short_secs: short
                .as_ref()
                .map_or(0, |(_, p)| policy.profile(*p).rules.pumping_tenant.max_secs),
            spent_day_millis: acct.cost_day.total(Span::Day, at) + acct.calls.accrued(at),
            usual_day_millis: acct.baseline.spend_avg,
        };
        let mut escalate: Option<(BarScope, String)> = None;
        let mut any = false;
        for h in hits.iter() {
            if h.level == Level::Warning
                && !acct.should_warn(h.rule as u8, at, i64::from(h.window_secs.max(600)) * 1000)
            {
                continue;
            }
            let since = at - i64::from(h.window_secs.max(60)) * 1000;
            let contributing = if h.rule == RuleId::Pumping {
                call_log.ids(cluster.iter().copied())
            } else if h.rule == RuleId::PumpingTenant {
                call_log.ids(short_calls.iter().copied())
            } else if h.subject == Counted::Tenant {
                tenants
                    .get(c.tenant)
                    .map(|t| call_log.ids(t.recent.since(since)))
                    .unwrap_or_default()
            } else {
                call_log.ids(acct.recent.since(since))
            };
            let dec = explain::end_decision(h, &ctx, contributing);
            if h.level == Level::Critical && !h.shadow && h.escalate && escalate.is_none() {
                let scope = match h.subject {
                    Counted::Tenant => BarScope::Tenant {
                        tenant: tenant_name.clone(),
                    },
                    _ => BarScope::Account {
                        tenant: tenant_name.clone(),
                        account: account_name.clone(),
                    },
                };
                escalate = Some((scope, dec.reason.clone()));
            }
            out.push(dec);
            any = true;
        }
        if let Some((scope, why)) = escalate {
            self.escalate(scope, at, why, out);
        }
        if any { Verdict::Warn } else { Verdict::Allow }
    }

    /// A critical decision on an account (or tenant) bars its international calling and ends such calls in
    /// progress, not just the one call.
    fn escalate(&mut self, scope: BarScope, at: Millis, why: String, out: &mut Vec<Decision>) {
        let classes = ClassSet::INTERNATIONAL;
        let already = self
            .barred
            .get(&self.scope_key(&scope))
            .is_some_and(|c| c.union(classes) == *c);
        if already {
            return;
        }
        let ks = self.add_switch(scope.clone(), classes, at, "tollguard", &why);
        out.push(explain::bar_decision(&ks, at));
        let ids = self.calls_in_progress(&scope, classes);
        if !ids.is_empty() {
            out.push(explain::end_calls_decision(&scope, ids, at));
        }
    }

    /// Call ids in progress (started, not ended) of a scope to some destination classes, oldest first.
    pub fn calls_in_progress(&self, scope: &BarScope, classes: ClassSet) -> Vec<String> {
        let mut v: Vec<(u64, &str)> = self
            .calls
            .iter()
            .map(|(_, c)| &c.state)
            .filter(|c| classes.contains(c.class))
            .filter_map(|c| {
                let (t, a) = match self.accounts.get(c.account) {
                    Some(s) => (s.tenant.as_str(), s.account.as_str()),
                    None => return None,
                };
                scope
                    .covers(t, a)
                    .then_some((c.seq, self.call_log.get(c.seq)?))
            })
            .collect();
        v.sort_unstable();
        v.into_iter().map(|(_, id)| id.to_owned()).collect()
    }

    // ----- sources and authentication ----------------------------------------------------------------------

    /// Bans and scanner User-Agents: checked before anything else from a source (`key`: its source key).
    fn source_gate(
        &mut self,
        key: IpAddr,
        at: Millis,
        user_agent: &str,
        tenant: &str,
        call_id: Option<&str>,
        out: &mut Vec<Decision>,
    ) -> Option<Verdict> {
        if !self.bans.is_empty()
            && let Some(b) = self.bans.get(self.source_hash(key))
            && b.until > at
        {
            if let Some(id) = call_id {
                out.push(explain::banned(b, self.source_words(key), at, id));
            }
            return Some(Verdict::Block { sip_status: 403 });
        }
        if let Some(scanner) = scanner_in(user_agent) {
            let rule = self
                .policy
                .profile(self.policy.tenant_profile(tenant))
                .rules
                .scanner_user_agent;
            if rule.enabled {
                let dec =
                    explain::scanner(key, self.source_words(key), scanner, at, &rule, call_id);
                let until = at + i64::from(rule.ban_secs) * 1000;
                let reason = dec.reason.clone();
                out.push(dec);
                if !rule.shadow {
                    self.apply_ban(
                        key,
                        at,
                        until,
                        RuleId::ScannerUserAgent.as_str(),
                        "tollguard",
                        &reason,
                    );
                    return Some(Verdict::Block { sip_status: 403 });
                }
            }
        }
        None
    }

    /// The map key of a source key (for IPv4, the hash the source maps always used).
    fn source_hash(&self, key: IpAddr) -> u64 {
        match key {
            IpAddr::V4(v4) => self.hasher.bytes(KeyKind::Username, &v4.octets(), 4),
            IpAddr::V6(v6) => self.hasher.bytes(KeyKind::Username, &v6.octets(), 6),
        }
    }

    /// The hash of the network of a source key that links failures to a success (/24, /64).
    fn link_hash(&self, key: IpAddr) -> u64 {
        match network_of(key) {
            IpAddr::V4(v4) => self.hasher.bytes(KeyKind::Country, &v4.octets(), 124),
            IpAddr::V6(v6) => self.hasher.bytes(KeyKind::Country, &v6.octets(), 164),
        }
    }

    pub(crate) fn source_words(&self, key: IpAddr) -> SourceWords {
        SourceWords {
            key,
            ipv6_prefix: self.policy.sources.ipv6_prefix,
        }
    }

    /// The network (hashed /24 or /48) a source key registers from, for `auth_new_network`.
    fn network_key(&self, key: IpAddr) -> u64 {
        match key {
            IpAddr::V4(v4) => {
                let o = v4.octets();
                self.hasher.bytes(KeyKind::Country, &[o[0], o[1], o[2]], 24)
            }
            IpAddr::V6(v6) => {
                let o = v6.octets();
                self.hasher
                    .bytes(KeyKind::Country, o.get(..6).unwrap_or(&o), 48)
            }
        }
    }

    pub(crate) fn apply_ban(
        &mut self,
        key: IpAddr,
        at: Millis,
        until: Millis,
        rule: &str,
        by: &str,
        why: &str,
    ) {
        if self.site.protects(key) {
            return; // reported by apply_site
        }
        let hash = self.source_hash(key);
        let dropped = self.bans.insert(
            hash,
            Ban {
                source: key,
                since: at,
                until,
                rule: rule.to_owned(),
                by: by.to_owned(),
                why: why.to_owned(),
            },
        );
        self.stats.bans += 1;
        self.stats.bans_evicted += dropped;
    }

    #[inline(never)]
    fn on_auth(&mut self, e: &AuthAttempt<'_>, out: &mut Vec<Decision>) -> Verdict {
        let at = e.at;
        let src = self.policy.source_key(e.source);
        if let Some(v) = self.source_gate(src, at, e.user_agent, e.tenant, None, out) {
            return v;
        }
        if e.outcome == AuthOutcome::Challenge {
            return Verdict::Allow;
        }
        let ctx = explain::AuthContext {
            attempt: e,
            source: self.source_words(src),
        };
        let skey = self.source_hash(src);
        let net = self.link_hash(src);
        let since = at - 3_600_000;
        let prof_idx = self.policy.account_profile(e.tenant, e.username);
        let rules = self.policy.profile(prof_idx).rules.clone();
        // Criticals that ask for a ban of the source: (the rule, its decision).
        let mut bans: Vec<(Rule, RuleId, Decision)> = Vec::new();
        let mut bars: Vec<Decision> = Vec::new();
        let mut warn = false;
        if e.outcome == AuthOutcome::Success {
            let akey = self.hasher.two(KeyKind::Account, e.tenant, e.username);
            let netkey = self.network_key(src);
            let (_, acct) = self.accounts.entry(akey, || {
                AccountState::new(e.tenant, e.username, prof_idx, at)
            });
            acct.last_seen = acct.last_seen.max(at);
            let failures = acct.auth_fail_hour.total(Span::Hour, at);
            let new_network = if e.kind == AuthKind::Register {
                let known = acct.n_networks == 0 || acct.knows_network(netkey);
                acct.learn_network(netkey);
                !known
            } else {
                false
            };
            let logins = self.logins.entry(akey, || AccountLogins::new(at));
            logins.last_seen = logins.last_seen.max(at);
            // Failures count against the login only when they came from its source or network: failures of
            // outsiders elsewhere must not get the real phone's account barred.
            let linked = logins.linked_failures(skey, net, since);
            let mut suspicious = false;
            let rule = rules.auth_success_after_failures;
            if let Some((Level::Critical, th)) = rule.level(linked, false) {
                let d = explain::auth_success(
                    &ctx,
                    Level::Critical,
                    linked,
                    failures,
                    linked,
                    th,
                    &rule,
                );
                suspicious = true;
                if !rule.shadow && rule.escalate {
                    bars.push(d);
                } else {
                    out.push(d);
                    warn = true;
                }
            } else if let Some((_, th)) = rule.level(failures, false) {
                out.push(explain::auth_success(
                    &ctx,
                    Level::Warning,
                    failures,
                    failures,
                    linked,
                    th,
                    &rule,
                ));
                warn = true;
            }
            if let Some(country) = e.country.and_then(country_code) {
                let before = logins.countries();
                let rule = rules.auth_new_country;
                if logins.login_country(country, at)
                    && let Some((level, th)) = rule.level(1, false)
                {
                    let d = explain::auth_new_country(&ctx, level, th, &rule, country, &before);
                    if level == Level::Critical && !rule.shadow {
                        suspicious = true;
                    }
                    if level == Level::Critical && !rule.shadow && rule.escalate {
                        bars.push(d);
                    } else {
                        out.push(d);
                        warn = true;
                    }
                }
            }
            // A login that looked like a guessed password or a stolen one does not make its source trusted.
            if !suspicious {
                logins.learn_known(skey, at);
            }
            let rule = rules.auth_new_network;
            if new_network && let Some((level, th)) = rule.level(1, false) {
                out.push(explain::auth_new_network(&ctx, level, th, &rule));
                warn = true;
            }
        } else {
            let uname = self.hasher.one(KeyKind::Username, e.username) as u32;
            let s = self.sources.entry(skey, || SourceState::new(at));
            s.last_seen = s.last_seen.max(at);
            let per_minute = s.auth_fail_min.add_total(Span::Minute, at, 1);
            let per_hour = s.auth_fail_hour.add_total(Span::Hour, at, 1);
            let users = s.try_username(uname, at, since);
            let checks = [
                (
                    RuleId::AuthSourceMinute,
                    rules.auth_source_minute,
                    per_minute,
                    Span::Minute.secs(),
                    Unit::Failures,
                ),
                (
                    RuleId::AuthSourceHour,
                    rules.auth_source_hour,
                    per_hour,
                    Span::Hour.secs(),
                    Unit::Failures,
                ),
                (
                    RuleId::AuthUsernamesSource,
                    rules.auth_usernames_source,
                    users,
                    Span::Hour.secs(),
                    Unit::DistinctUsernames,
                ),
            ];
            for (id, rule, measured, window, unit) in checks {
                match rule.level(measured, false) {
                    Some((Level::Critical, th)) => bans.push((
                        rule,
                        id,
                        explain::auth_source(
                            id,
                            &ctx,
                            Level::Critical,
                            measured,
                            th,
                            window,
                            unit,
                            &rule,
                        ),
                    )),
                    // Counters rise one by one: warn once, when the threshold is first crossed.
                    Some((Level::Warning, th)) if measured == th + 1 => {
                        out.push(explain::auth_source(
                            id,
                            &ctx,
                            Level::Warning,
                            measured,
                            th,
                            window,
                            unit,
                            &rule,
                        ));
                        warn = true;
                    }
                    _ => {}
                }
            }
            if e.outcome == AuthOutcome::Failure {
                let akey = self.hasher.two(KeyKind::Account, e.tenant, e.username);
                let (_, acct) = self.accounts.entry(akey, || {
                    AccountState::new(e.tenant, e.username, prof_idx, at)
                });
                acct.last_seen = acct.last_seen.max(at);
                let failures = acct.auth_fail_hour.add_total(Span::Hour, at, 1);
                let logins = self.logins.entry(akey, || AccountLogins::new(at));
                logins.last_seen = logins.last_seen.max(at);
                let sources = logins.fail(skey, net, at, since);
                // The account's own phones are never banned by the account's rules: an outsider failing on the
                // account must not lock the real phone out.
                let known = logins.is_known(skey);
                for (id, rule, measured) in [
                    (RuleId::AuthAccountHour, rules.auth_account_hour, failures),
                    (
                        RuleId::AuthAccountSources,
                        rules.auth_account_sources,
                        sources,
                    ),
                ] {
                    match rule.level(measured, false) {
                        Some((Level::Critical, th)) if !known => bans.push((
                            rule,
                            id,
                            explain::auth_account(
                                id,
                                &ctx,
                                Level::Critical,
                                measured,
                                th,
                                &rule,
                                false,
                            ),
                        )),
                        Some((Level::Critical, th)) if measured == th + 1 => {
                            out.push(explain::auth_account(
                                id,
                                &ctx,
                                Level::Warning,
                                measured,
                                th,
                                &rule,
                                true,
                            ));
                            warn = true;
                        }
                        Some((Level::Warning, th)) if measured == th + 1 => {
                            out.push(explain::auth_account(
                                id,
                                &ctx,
                                Level::Warning,
                                measured,
                                th,
                                &rule,
                                false,
                            ));
                            warn = true;
                        }
                        _ => {}
                    }
                }
            }
        }
        // One ban per event: the longest any enforcing critical asks for (the first such on a tie).
        let ban = bans.iter().filter(|(_, _, d)| !d.shadow).fold(
            None::<(u32, RuleId, String)>,
            |best, (rule, id, d)| match best {
                Some(b) if b.0 >= rule.ban_secs => Some(b),
                _ => Some((rule.ban_secs, *id, d.reason.clone())),
            },
        );
        for (_, _, d) in bans {
            warn |= d.shadow;
            out.push(d);
        }
        let blocked = ban.is_some();
        if let Some((secs, id, why)) = ban {
            let until = at + i64::from(secs) * 1000;
            self.apply_ban(src, at, until, id.as_str(), "tollguard", &why);
            out.push(explain::ban_decision(src, ctx.source, at, until, &why));
        }
        let mut bars = bars.into_iter();
        if let Some(d) = bars.next() {
            let why = d.reason.clone();
            out.push(d);
            out.extend(bars);
            let scope = BarScope::Account {
                tenant: e.tenant.to_owned(),
                account: e.username.to_owned(),
            };
            self.escalate(scope, at, why, out);
            warn = true;
        }
        if blocked {
            Verdict::Block { sip_status: 403 }
        } else if warn {
            Verdict::Warn
        } else {
            Verdict::Allow
        }
    }

    #[inline(never)]
    fn on_requests(&mut self, r: &RequestCount, out: &mut Vec<Decision>) -> Verdict {
        let at = r.at;
        let src = self.policy.source_key(r.source);
        if let Some(v) = self.source_gate(src, at, "", "", None, out) {
            return v;
        }
        let key = self.source_hash(src);
        let words = self.source_words(src);
        let rule = self.policy.profile(0).rules.request_rate_source;
        let s = self.sources.entry(key, || SourceState::new(at));
        s.last_seen = s.last_seen.max(at);
        let before = s.requests_min.total(Span::Minute, at);
        s.requests_min.add(Span::Minute, at, i64::from(r.requests));
        let measured = s.requests_min.total(Span::Minute, at);
        match rule.level(measured, false) {
            Some((Level::Critical, th)) => {
                let d = explain::requests(r, words, Level::Critical, measured, th, &rule);
                let reason = d.reason.clone();
                let shadow = d.shadow;
                out.push(d);
                if !shadow {
                    let until = at + i64::from(rule.ban_secs) * 1000;
                    self.apply_ban(
                        src,
                        at,
                        until,
                        RuleId::RequestRateSource.as_str(),
                        "tollguard",
                        &reason,
                    );
                    out.push(explain::ban_decision(src, words, at, until, &reason));
                    return Verdict::Block { sip_status: 403 };
                }
                Verdict::Warn
            }
            Some((Level::Warning, th)) if before <= th => {
                out.push(explain::requests(
                    r,
                    words,
                    Level::Warning,
                    measured,
                    th,
                    &rule,
                ));
                Verdict::Warn
            }
            _ => Verdict::Allow,
        }
    }

    // ----- operator actions --------------------------------------------------------------------------------

    fn add_switch(
        &mut self,
        scope: BarScope,
        classes: ClassSet,
        at: Millis,
        by: &str,
        why: &str,
    ) -> KillSwitch {
        let ks = KillSwitch {
            id: self.next_switch_id,
            scope,
            classes,
            since: at,
            by: by.to_owned(),
            why: why.to_owned(),
        };
        self.next_switch_id += 1;
        self.stats.kill_switches_set += 1;
        self.switches.push(ks.clone());
        self.reindex_switches();
        ks
    }

    fn scope_key(&self, scope: &BarScope) -> u64 {
        match scope {
            BarScope::All => ALL_SCOPE,
            BarScope::Tenant { tenant } => self.hasher.one(KeyKind::Tenant, tenant),
            BarScope::Account { tenant, account } => {
                self.hasher.two(KeyKind::Account, tenant, account)
            }
        }
    }

    fn reindex_switches(&mut self) {
        let mut idx = crate::keys::IdMap::default();
        for k in &self.switches {
            let e: &mut ClassSet = idx.entry(self.scope_key(&k.scope)).or_default();
            *e = e.union(k.classes);
        }
        self.barred = idx;
    }

    /// Sets a kill switch by an operator: the scope is barred from the classes until lifted. Emergency numbers
    /// stay reachable. Returns the switch (with its id) and the calls in progress that should be ended.
    pub fn set_kill_switch(
        &mut self,
        scope: BarScope,
        classes: ClassSet,
        at: Millis,
        by: &str,
        why: &str,
    ) -> (KillSwitch, Vec<String>) {
        let ks = self.add_switch(scope.clone(), classes, at, by, why);
        let ids = self.calls_in_progress(&scope, classes);
        (ks, ids)
    }

    /// Lifts a kill switch by id. Returns it, or None when there is no such switch.
    pub fn lift_kill_switch(&mut self, id: u64) -> Option<KillSwitch> {
        let i = self.switches.iter().position(|k| k.id == id)?;
        let ks = self.switches.remove(i);
        self.kill_switch_words.clear();
        self.reindex_switches();
        Some(ks)
    }

    /// Kill switches in force, oldest first.
    pub fn kill_switches(&self) -> &[KillSwitch] {
        &self.switches
    }

    /// Bans a source by an operator until `until`: its source key (an IPv6 address bans its network, see
    /// `[sources] ipv6_prefix`).
    pub fn ban(&mut self, source: IpAddr, at: Millis, until: Millis, by: &str, why: &str) {
        let key = self.policy.source_key(source);
        self.apply_ban(key, at, until, "operator", by, why);
    }

    /// Lifts the ban of a source's key. Returns it, or None when the source was not banned.
    pub fn lift_ban(&mut self, source: IpAddr) -> Option<Ban> {
        let key = self.source_hash(self.policy.source_key(source));
        self.bans.remove(key)
    }

    /// The ban of a source's key, in force or not yet forgotten (one lookup: the decision layer asks it for
    /// every ban it carries out, and a spoofed flood sets thousands).
    pub fn ban_of(&self, source: IpAddr) -> Option<&Ban> {
        self.bans
            .get(self.source_hash(self.policy.source_key(source)))
    }

    /// Bans in force at `now`, sorted by source key.
    pub fn bans(&self, now: Millis) -> Vec<Ban> {
        let mut v: Vec<Ban> = self
            .bans
            .iter()
            .map(|(_, b)| b)
            .filter(|b| b.until > now)
            .cloned()
            .collect();
        v.sort_by_key(|b| b.source);
        v
    }

    /// Forgets idle keys and lost calls. Called automatically every 10 minutes of event time.
    pub fn expire(&mut self, now: Millis) {
        self.last_expire = now;
        self.expire_due = now.saturating_add(EXPIRE_EVERY);
        let l = self.policy.limits;
        let hours = i64::from(l.idle_hours) * 3_600_000;
        self.accounts
            .expire(now, i64::from(l.account_idle_days) * 86_400_000);
        self.tenants
            .expire(now, i64::from(l.account_idle_days) * 86_400_000);
        self.sources.expire(now, hours);
        self.bans.expire(now);
        self.logins
            .expire(now, i64::from(l.account_idle_days) * 86_400_000);
        self.numbers.expire(now, hours);
        self.ranges.expire(now, hours);
        let max_call = i64::from(l.max_call_hours) * 3_600_000;
        let lost: Vec<u64> = self
            .calls
            .iter()
            .filter(|(_, c)| now.saturating_sub(c.state.started) >= max_call)
            .map(|(k, _)| *k)
            .collect();
        for k in lost {
            if let Some(c) = self.calls.remove(k).map(|c| c.state)
                && let Some(ans) = c.answered.filter(|_| c.watched)
            {
                if let Some(a) = self.accounts.get_mut(c.account) {
                    a.calls
                        .remove(c.rate.per_minute_millis, c.rate.setup_millis, ans);
                }
                if let Some(t) = self.tenants.get_mut(c.tenant) {
                    t.calls
                        .remove(c.rate.per_minute_millis, c.rate.setup_millis, ans);
                }
            }
        }
    }

    // ----- snapshot ----------------------------------------------------------------------------------------

    /// The state to persist for a restart (serde; deterministic order).
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            version: 1,
            seed: self.hasher.seed(),
            accounts: self.accounts.to_sorted(),
            tenants: self.tenants.to_sorted(),
            sources: self.sources.to_sorted(),
            numbers: self.numbers.to_sorted(),
            ranges: self.ranges.to_sorted(),
            calls: self
                .calls
                .to_sorted()
                .into_iter()
                .map(|(k, c)| (k, c.state))
                .collect(),
            call_log: self.call_log.clone(),
            bans: self.bans.to_sorted(),
            logins: self.logins.to_sorted(),
            kill_switches: self.switches.clone(),
            next_switch_id: self.next_switch_id,
            last_expire: self.last_expire,
            stats: self.stats,
        }
    }

    /// An engine resuming from a snapshot, under a (possibly edited) policy.
    pub fn restore(policy: Policy, rates: Arc<dyn RateTable>, snap: Snapshot) -> Engine {
        let mut e = Engine::with_seed(policy, rates, snap.seed);
        let l = e.policy.limits;
        let mut accounts = snap.accounts;
        for (_, a) in accounts.iter_mut() {
            a.profile = e.policy.account_profile(&a.tenant, &a.account);
        }
        let mut tenants = snap.tenants;
        for (_, t) in tenants.iter_mut() {
            t.profile = e.policy.tenant_profile(&t.tenant);
        }
        e.accounts = SlabMap::from_entries(l.max_accounts, accounts);
        e.tenants = SlabMap::from_entries(l.max_tenants, tenants);
        // Bans of snapshots written before they had their own table are inside the sources.
        let mut sources = snap.sources;
        let mut bans = snap.bans;
        for (_, s) in sources.iter_mut() {
            if let Some(mut b) = s.legacy_ban.take() {
                b.source = e.policy.source_key(b.source);
                bans.push((e.source_hash(b.source), b));
            }
        }
        e.sources = BoundedMap::from_entries(l.max_sources, sources);
        for (k, b) in bans {
            let dropped = e.bans.insert(k, b);
            e.stats.bans_evicted += dropped;
        }
        e.logins = BoundedMap::from_entries(l.max_accounts, snap.logins);
        e.numbers = BoundedMap::from_entries(l.max_numbers, snap.numbers);
        e.ranges = BoundedMap::from_entries(l.max_ranges, snap.ranges);
        let calls = snap
            .calls
            .into_iter()
            .map(|(k, state)| {
                let live = LiveCall {
                    state,
                    acct_at: usize::MAX,
                    ten_at: usize::MAX,
                };
                (k, live)
            })
            .collect();
        e.calls = BoundedMap::from_entries(l.max_calls_in_progress, calls);
        e.call_log = snap.call_log;
        e.switches = snap.kill_switches;
        e.reindex_switches();
        e.next_switch_id = snap.next_switch_id;
        e.last_expire = snap.last_expire;
        e.expire_due = snap.last_expire.saturating_add(EXPIRE_EVERY);
        let evicted = e.stats.bans_evicted;
        e.stats = snap.stats;
        e.stats.bans_evicted += evicted;
        e
    }
}

/// The largest group of answered calls to country `cc` since `since` whose durations lie within a span of
/// 2 × `jitter` seconds and include the current call's `secs`. Fills `members` with their sequence numbers.
fn pumping_cluster(
    acct: &AccountState,
    cc: u16,
    secs: u32,
    jitter: u32,
    since: Millis,
    members: &mut Vec<u64>,
) -> i64 {
    let width = 2 * jitter;
    let mut best = 0i64;
    let mut best_lo = secs;
    let candidates = acct
        .durations
        .iter()
        .filter(|d| d.cc == cc && d.at >= since && d.at != 0);
    for lo_d in candidates.clone() {
        let lo = lo_d.secs;
        if lo > secs || secs - lo > width {
            continue;
        }
        let count = candidates
            .clone()
            .filter(|d| d.secs >= lo && d.secs <= lo + width)
            .count() as i64;
        if count > best {
            best = count;
            best_lo = lo;
        }
    }
    members.clear();
    let mut m: Vec<(Millis, u64)> = candidates
        .filter(|d| d.secs >= best_lo && d.secs <= best_lo + width)
        .map(|d| (d.at, d.seq))
        .collect();
    m.sort_unstable();
    members.extend(m.into_iter().map(|(_, s)| s));
    best
}

fn learn_attempt(
    acct: &mut AccountState,
    d: &Destination,
    class: DestClass,
    _at: Millis,
    m: &LocalMoment,
) {
    let b = &mut acct.baseline;
    b.calls = b.calls.saturating_add(1);
    b.hours |= 1u32 << (u32::from(m.hour) % 24);
    if is_international(class) {
        b.ever_international = true;
        if let Some(c) = d.country {
            b.learn_country(c.calling_code);
        }
    }
    b.max_risk = b.max_risk.max(risk_rank(d.risk));
}

/// An ISO 3166 alpha-2 code as the guard reports it ("jp" → `*b"JP"`); None for anything else.
fn country_code(s: &str) -> Option<[u8; 2]> {
    match s.trim().as_bytes() {
        [a, b] if a.is_ascii_alphabetic() && b.is_ascii_alphabetic() => {
            Some([a.to_ascii_uppercase(), b.to_ascii_uppercase()])
        }
        _ => None,
    }
}

/// An amount in the site currency, for decisions.
pub(crate) fn amount(millis: i64, currency: numbering::Currency) -> Amount {
    Amount::new(millis, currency)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::MONEY_RULES;

    /// An unwatched (domestic) answered call that ends must not take an international call out of the calls in
    /// progress: its accruing cost keeps counting towards the money rules.
    #[test]
    fn a_domestic_call_ending_leaves_international_calls_in_progress() {
        let numbering = Arc::new(numbering::Numbering::japan_defaults());
        let policy = Policy::from_toml_str("[defaults.destinations]\nallow_countries = [\"US\"]\n")
            .expect("policy");
        let mut e = Engine::new(policy, numbering.clone());
        let mut out = Vec::new();
        let t0 = 1_748_826_000_000; // a Monday, 10:00 in Tokyo
        let intl = numbering.classify("01012125550100");
        let dom = numbering.classify("0312345678");
        for (at, id, dest, dialed) in [
            (t0, "intl", &intl, "01012125550100"),
            (t0 + 1_000, "dom", &dom, "0312345678"),
        ] {
            let v = e.on_event(
                &Event::CallAttempt(CallAttempt {
                    at,
                    call_id: id,
                    tenant: "",
                    account: "205",
                    source: None,
                    user_agent: "",
                    authenticated: true,
                    caller_id_foreign: false,
                    dialed,
                    destination: dest,
                    route: "",
                    leg: crate::Leg::Direct,
                    forwarded_from: None,
                }),
                &mut out,
            );
            assert!(!v.is_block(), "{out:?}");
            e.on_event(
                &Event::CallAnswered(CallAnswered {
                    at: at + 5_000,
                    call_id: id,
                }),
                &mut out,
            );
        }
        let akey = e.hasher.two(KeyKind::Account, "", "205");
        let in_progress = |e: &Engine| e.accounts.get(akey).map(|a| a.calls);
        let before = in_progress(&e).expect("account");
        assert_eq!(before.count, 1);
        e.on_event(
            &Event::CallEnded(CallEnded {
                at: t0 + 60_000,
                call_id: "dom",
                duration_secs: 59,
                billable_secs: 54,
                cause: crate::event::EndCause::Normal,
            }),
            &mut out,
        );
        let after = in_progress(&e).expect("account");
        assert_eq!(after, before);
        assert!(after.accrued(t0 + 600_000) > 0);
    }

    /// A replay may leave out the answers [`Engine::answer_matters`] says do not matter: the decisions and the
    /// state afterwards are those of the engine that saw every answer.
    #[test]
    fn answers_that_do_not_matter_can_be_left_out() {
        let numbering = Arc::new(numbering::Numbering::japan_defaults());
        let policy = Policy::from_toml_str("[defaults.destinations]\nallow_countries = [\"US\"]\n")
            .expect("policy");
        let mut all = Engine::new(policy.clone(), numbering.clone());
        let mut some = Engine::new(policy, numbering.clone());
        let (mut out_all, mut out_some) = (Vec::new(), Vec::new());
        let t0 = 1_748_826_000_000; // a Monday, 10:00 in Tokyo
        let dialed = [
            "0312345678",
            "01012125550100",
            "09012345678",
            "0990123456",
            "0102327612345",
            "01012125550101",
        ];
        let (mut kept, mut left) = (0, 0);
        let mut ends: Vec<(Millis, String, u32)> = Vec::new();
        for i in 0..60i64 {
            let dial = dialed[(i % 6) as usize];
            let dest = numbering.classify(dial);
            let id = format!("c{i}");
            let at = t0 + i * 20_000;
            // Ends due before this attempt happen first, in both engines.
            ends.sort_by_key(|&(t, _, _)| std::cmp::Reverse(t));
            while ends.last().is_some_and(|&(t, _, _)| t <= at) {
                let Some((t, id, secs)) = ends.pop() else {
                    break;
                };
                for (e, out) in [(&mut all, &mut out_all), (&mut some, &mut out_some)] {
                    e.on_event(
                        &Event::CallEnded(CallEnded {
                            at: t,
                            call_id: &id,
                            duration_secs: secs + 5,
                            billable_secs: secs,
                            cause: crate::event::EndCause::Normal,
                        }),
                        out,
                    );
                }
            }
            let attempt = CallAttempt {
                at,
                call_id: &id,
                tenant: "",
                account: if i % 2 == 0 { "205" } else { "206" },
                source: None,
                user_agent: "",
                authenticated: true,
                caller_id_foreign: false,
                dialed: dial,
                destination: &dest,
                route: "",
                leg: crate::Leg::Direct,
                forwarded_from: None,
            };
            let v = all.on_event(&Event::CallAttempt(attempt), &mut out_all);
            let v2 = some.on_event(&Event::CallAttempt(attempt), &mut out_some);
            assert_eq!(v, v2);
            if v.is_block() {
                continue;
            }
            let answer = Event::CallAnswered(CallAnswered {
                at: at + 3_000,
                call_id: &id,
            });
            all.on_event(&answer, &mut out_all);
            if some.answer_matters() {
                some.on_event(&answer, &mut out_some);
                kept += 1;
            } else {
                left += 1;
            }
            ends.push((
                at + 3_000 + 30_000 + (i % 7) * 1_000,
                id.clone(),
                30 + (i % 7) as u32,
            ));
            // Calls in progress (what answers feed: concurrency and money accruing) are the same at every step.
            for account in ["205", "206"] {
                let key = all.hasher.two(KeyKind::Account, "", account);
                let progress = |e: &Engine| e.accounts.get(key).map(|a| a.calls);
                assert_eq!(progress(&all), progress(&some), "call {i}");
            }
        }
        assert!(kept > 0 && left > 0, "kept {kept}, left out {left}");
        assert_eq!(out_all, out_some);
        assert!(!out_all.is_empty(), "the mix raises alerts");
        let state = |e: &Engine| {
            let mut v = serde_json::to_value(e.snapshot()).expect("json");
            // Only the number of events fed differs.
            v["stats"]["events"] = serde_json::Value::Null;
            v
        };
        assert_eq!(state(&all), state(&some));
    }

    /// Sweeps run at the same events as with the old test (`at - last_expire >= EXPIRE_EVERY`, saturating), with
    /// gaps shorter and longer than the period, late events, and across a snapshot and restore.
    #[test]
    fn sweeps_run_when_the_period_has_passed_and_after_a_restore() {
        let numbering = Arc::new(numbering::Numbering::japan_defaults());
        let policy = Policy::default();
        let mut e = Engine::new(policy.clone(), numbering.clone());
        let mut out = Vec::new();
        let dest = numbering.classify("0312345678");
        let mut last = Millis::MIN;
        let mut t: Millis = 1_748_826_000_000;
        let mut sweeps = 0;
        for i in 0..400i64 {
            t += [1_000, 59_000, 240_000, 599_999, 1, 600_000, 3_600_000][(i % 7) as usize];
            let at = if i % 11 == 0 { t - 700_000 } else { t };
            if i == 200 {
                let snap = serde_json::to_value(e.snapshot()).expect("snapshot");
                let back: Snapshot = serde_json::from_value(snap).expect("read back");
                e = Engine::restore(policy.clone(), numbering.clone(), back);
            }
            let id = format!("s{i}");
            e.on_event(
                &Event::CallAttempt(CallAttempt {
                    at,
                    call_id: &id,
                    tenant: "t",
                    account: "a",
                    source: None,
                    user_agent: "",
                    authenticated: true,
                    caller_id_foreign: false,
                    dialed: "0312345678",
                    destination: &dest,
                    route: "",
                    leg: crate::Leg::Direct,
                    forwarded_from: None,
                }),
                &mut out,
            );
            if at.saturating_sub(last) >= EXPIRE_EVERY {
                last = at;
                sweeps += 1;
            }
            assert_eq!(e.last_expire, last, "event {i} at {at}");
        }
        assert!(sweeps > 100 && sweeps < 390, "{sweeps}");
    }

    /// An unpaid call skips the money checks only where none of them can fire on 0: with the floors of a policy
    /// file (never negative) and with a negative threshold set by hand, business and off hours.
    #[test]
    fn money_checks_are_skipped_only_where_zero_cannot_fire() {
        let mut policy = Policy::from_toml_str(
            r#"
[tenants.acme.rules.money_tenant_day]
warning = 0
[tenants.beta.rules.money_account_month]
off_hours_warning = 5
"#,
        )
        .expect("policy");
        let n = policy.profile_count();
        assert!(n >= 3);
        if let Some(p) = policy.profile_mut(1) {
            p.rules.money_account_hour.off_hours_warning = Some(-1);
        }
        if let Some(p) = policy.profile_mut(2) {
            p.rules.money_tenant_month.critical = Some(-5);
        }
        let floors = Floors::of(&policy);
        let mut fired = 0;
        for idx in 0..n + 2 {
            let rules = &policy.profile(idx).rules;
            for off in [false, true] {
                let row = floors.row(idx, off);
                let mut hits = Vec::new();
                for id in MONEY_RULES {
                    if let Some(r) = id.settings(rules) {
                        check(
                            &mut hits,
                            row,
                            id,
                            r,
                            0,
                            off,
                            Unit::Money,
                            0,
                            Counted::Account,
                            None,
                        );
                    }
                }
                fired += hits.len();
                assert_eq!(
                    floors.money_fires_at_zero(idx, off),
                    !hits.is_empty(),
                    "profile {idx} off {off}"
                );
            }
        }
        // The hand-set thresholds fire on 0 (profile 1 off hours, profile 2 always).
        assert_eq!(fired, 3);
    }

    /// A rule fires through `check` exactly when it did with the floor worked out per call: for every profile
    /// (tenant and account overrides, a disabled rule, an index out of range), time of day and rule.
    #[test]
    fn floors_decide_like_each_rules_own_floor() {
        let policy = Policy::from_toml_str(
            r#"
[defaults.rules.velocity_account_minute]
enabled = false
[tenants.acme.rules.velocity_account_hour]
warning = 7
off_hours_critical = 3
[tenants.acme.accounts."205".rules.failed_account_hour]
warning = 2
critical = 4
"#,
        )
        .expect("policy");
        assert!(policy.profile_count() >= 3);
        let floors = Floors::of(&policy);
        for idx in 0..policy.profile_count() + 2 {
            let rules = &policy.profile(idx).rules;
            for off in [false, true] {
                let row = floors.row(idx, off);
                for &id in RuleId::ALL {
                    let Some(r) = id.settings(rules) else {
                        continue;
                    };
                    for measured in -2..700 {
                        let before = measured > r.floor(off) && r.level(measured, off).is_some();
                        let mut hits = Vec::new();
                        check(
                            &mut hits,
                            row,
                            id,
                            r,
                            measured,
                            off,
                            Unit::Calls,
                            0,
                            Counted::Account,
                            None,
                        );
                        assert_eq!(!hits.is_empty(), before, "{id:?} profile {idx} off {off}");
                    }
                }
            }
        }
    }
}
