//! Per-key state: what the engine remembers about each account, tenant, source address, dialed number and
//! number range, and about each call in progress. Every structure here has a fixed size (no growth per event), so
//! memory is bounded by the key caps of the policy.

use std::collections::BTreeSet;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::decision::{BarScope, ClassSet};
use crate::event::Millis;
use crate::keys::{IdMap, Idle};
use crate::window::{MonthSum, Recent, Ring};

/// What an account usually does, learned from its own allowed calls.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Baseline {
    pub first_seen: Millis,
    /// Allowed non-internal calls seen.
    pub calls: u32,
    /// Calling codes of the countries called (first 32).
    pub countries: [u16; 32],
    pub n_countries: u8,
    /// Highest risk tier called: 0 none, 1 low … 4 critical.
    pub max_risk: u8,
    pub ever_international: bool,
    /// Local hours of the day at which the account has called (bit per hour).
    pub hours: u32,
    /// Local day index of `day_spend`.
    pub day: i32,
    pub day_spend: i64,
    /// Usual daily spend (exponential average over days with calls), millis.
    pub spend_avg: i64,
    /// Days folded into `spend_avg`.
    pub spend_days: u16,
    /// "First international call ever" was said (the baseline learns only calls that went ahead: a refused
    /// one would otherwise be the first again at every try).
    #[serde(default)]
    pub told_international: bool,
    /// Calling codes of the countries "first call to" was said for (the last 8).
    #[serde(default)]
    pub told_countries: [u16; 8],
    #[serde(default)]
    pub n_told: u8,
}

/// An account needs this many allowed calls and days of history before novelty rules speak.
pub const LEARN_CALLS: u32 = 20;
pub const LEARN_MS: Millis = 3 * 86_400_000;

impl Baseline {
    pub fn mature(&self, now: Millis) -> bool {
        self.calls >= LEARN_CALLS && now - self.first_seen >= LEARN_MS
    }
    pub fn knows_country(&self, cc: u16) -> bool {
        self.countries
            .get(..self.n_countries as usize)
            .is_some_and(|c| c.contains(&cc))
    }
    pub fn learn_country(&mut self, cc: u16) {
        if !self.knows_country(cc)
            && let Some(slot) = self.countries.get_mut(self.n_countries as usize)
        {
            *slot = cc;
            self.n_countries += 1;
        }
    }
    /// "First call to" this country was said already.
    pub fn told_country(&self, cc: u16) -> bool {
        let n = usize::from(self.n_told).min(self.told_countries.len());
        self.told_countries
            .get(..n)
            .is_some_and(|c| c.contains(&cc))
    }
    /// Remembers that "first call to" this country was said (the oldest of 8 is forgotten).
    pub fn tell_country(&mut self, cc: u16) {
        if self.told_country(cc) {
            return;
        }
        let len = self.told_countries.len();
        let n = usize::from(self.n_told);
        if n < len {
            if let Some(slot) = self.told_countries.get_mut(n) {
                *slot = cc;
            }
            self.n_told += 1;
        } else {
            self.told_countries.rotate_left(1);
            if let Some(slot) = self.told_countries.last_mut() {
                *slot = cc;
            }
        }
    }
    /// Adds spend of a local day, folding the previous day into the average when the day changes.
    pub fn add_spend(&mut self, day: i32, millis: i64) {
        if day > self.day {
            if self.day != 0 {
                self.spend_avg = if self.spend_days == 0 {
                    self.day_spend
                } else {
                    (self.spend_avg * 7 + self.day_spend) / 8
                };
                self.spend_days = self.spend_days.saturating_add(1);
            }
            self.day = day;
            self.day_spend = 0;
        }
        if day == self.day {
            self.day_spend += millis;
        }
    }
}

/// Capacity of the duration and probe rings.
pub const DURATIONS: usize = 16;
pub const PROBES: usize = 8;
pub const NETWORKS: usize = 4;
pub const QUIET: usize = 8;

/// An answered call's duration, for the pumping rule.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Duration {
    pub at: Millis,
    pub secs: u32,
    pub cc: u16,
    pub seq: u64,
}

/// One dial string seen as (tail = national number, head = prefixes before it), for prefix probing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Probe {
    pub at: Millis,
    pub tail: u32,
    pub head: u32,
}

/// Everything about one account (extension).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccountState {
    pub tenant: String,
    pub account: String,
    #[serde(skip)]
    pub profile: usize,
    pub last_seen: Millis,
    pub attempts_min: Ring,
    pub attempts_hour: Ring,
    pub attempts_day: Ring,
    /// Attempts to international, premium-rate and satellite destinations in the last 24 h (for the operator's
    /// account summary; no rule reads it). Absent from older snapshots, hence the default.
    #[serde(default)]
    pub international_day: Ring,
    pub failed_hour: Ring,
    pub denied_hour: Ring,
    pub cost_hour: Ring,
    pub cost_day: Ring,
    pub cost_month: MonthSum,
    pub calls: CallsInProgress,
    pub recent: Recent,
    pub durations: [Duration; DURATIONS],
    pub next_duration: u8,
    pub probes: [Probe; PROBES],
    pub next_probe: u8,
    pub baseline: Baseline,
    pub auth_fail_hour: Ring,
    /// Networks (hashed /24 or /48) the account registered from.
    pub networks: [u64; NETWORKS],
    pub n_networks: u8,
    /// Warnings recently raised (rule, until): the same warning is not repeated within its window.
    pub quiet: [(u8, Millis); QUIET],
}

impl AccountState {
    pub fn new(tenant: &str, account: &str, profile: usize, now: Millis) -> Self {
        Self {
            tenant: tenant.to_owned(),
            account: account.to_owned(),
            profile,
            last_seen: now,
            attempts_min: Ring::default(),
            attempts_hour: Ring::default(),
            attempts_day: Ring::default(),
            international_day: Ring::default(),
            failed_hour: Ring::default(),
            denied_hour: Ring::default(),
            cost_hour: Ring::default(),
            cost_day: Ring::default(),
            cost_month: MonthSum::default(),
            calls: CallsInProgress::default(),
            recent: Recent::default(),
            durations: [Duration::default(); DURATIONS],
            next_duration: 0,
            probes: [Probe::default(); PROBES],
            next_probe: 0,
            baseline: Baseline {
                first_seen: now,
                ..Baseline::default()
            },
            auth_fail_hour: Ring::default(),
            networks: [0; NETWORKS],
            n_networks: 0,
            quiet: [(0, 0); QUIET],
        }
    }

    pub fn push_duration(&mut self, d: Duration) {
        let i = self.next_duration as usize % DURATIONS;
        if let Some(slot) = self.durations.get_mut(i) {
            *slot = d;
        }
        self.next_duration = ((i + 1) % DURATIONS) as u8;
    }

    pub fn push_probe(&mut self, p: Probe) {
        let i = self.next_probe as usize % PROBES;
        if let Some(slot) = self.probes.get_mut(i) {
            *slot = p;
        }
        self.next_probe = ((i + 1) % PROBES) as u8;
    }

    /// True when this warning was raised and its window has not run out: [`AccountState::should_warn`] would
    /// say false (and change nothing).
    #[inline]
    pub fn is_quiet(&self, rule: u8, now: Millis) -> bool {
        self.quiet
            .iter()
            .find(|q| q.0 == rule)
            .is_some_and(|q| now < q.1)
    }

    /// True (and remembered) when this warning was not raised within `window_ms`.
    pub fn should_warn(&mut self, rule: u8, now: Millis, window_ms: Millis) -> bool {
        if let Some(q) = self.quiet.iter_mut().find(|q| q.0 == rule) {
            if now < q.1 {
                return false;
            }
            q.1 = now + window_ms;
            return true;
        }
        // Replace the entry that expires first.
        if let Some(q) = self.quiet.iter_mut().min_by_key(|q| q.1) {
            *q = (rule, now + window_ms);
        }
        true
    }

    pub fn knows_network(&self, net: u64) -> bool {
        self.networks
            .get(..self.n_networks as usize)
            .is_some_and(|n| n.contains(&net))
    }

    pub fn learn_network(&mut self, net: u64) {
        if self.knows_network(net) {
            return;
        }
        if (self.n_networks as usize) < NETWORKS {
            if let Some(slot) = self.networks.get_mut(self.n_networks as usize) {
                *slot = net;
            }
            self.n_networks += 1;
        } else {
            self.networks.rotate_left(1);
            if let Some(last) = self.networks.last_mut() {
                *last = net;
            }
        }
    }
}

impl Idle for AccountState {
    fn last_seen(&self) -> Millis {
        self.last_seen
    }
}

/// Answered calls in progress of a key, summarised so that their accrued cost is O(1) to read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallsInProgress {
    pub count: u32,
    /// Σ per-minute rate (millis).
    pub rate: i64,
    /// Σ rate × answer time in seconds.
    pub weighted: i64,
    /// Σ setup charges.
    pub setup: i64,
}

impl CallsInProgress {
    pub fn add(&mut self, per_minute: i64, setup: i64, answered: Millis) {
        self.count += 1;
        self.rate += per_minute;
        self.weighted += per_minute.saturating_mul(answered / 1000);
        self.setup += setup;
    }
    pub fn remove(&mut self, per_minute: i64, setup: i64, answered: Millis) {
        self.count = self.count.saturating_sub(1);
        self.rate -= per_minute;
        self.weighted -= per_minute.saturating_mul(answered / 1000);
        self.setup -= setup;
        if self.count == 0 {
            *self = Self::default();
        }
    }
    /// Money accrued so far by the calls in progress.
    pub fn accrued(&self, now: Millis) -> i64 {
        let v = self
            .rate
            .saturating_mul(now / 1000)
            .saturating_sub(self.weighted)
            / 60;
        self.setup + v.max(0)
    }
}

/// Everything about one tenant (site).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TenantState {
    pub tenant: String,
    #[serde(skip)]
    pub profile: usize,
    pub last_seen: Millis,
    pub attempts_min: Ring,
    pub attempts_hour: Ring,
    pub attempts_day: Ring,
    pub cost_hour: Ring,
    pub cost_day: Ring,
    pub cost_month: MonthSum,
    pub calls: CallsInProgress,
    pub recent: Recent,
    /// When the tenant was first seen and how many call attempts it made since: novelty at tenant level waits
    /// for a history (the account's [`LEARN_MS`] and [`LEARN_CALLS`]).
    #[serde(default)]
    pub first_seen: Millis,
    #[serde(default)]
    pub attempts_seen: u32,
    /// The hours at which the site calls abroad (watched destinations).
    #[serde(default)]
    pub watched_hours: WatchedHours,
    /// Watched call attempts in the hour at hours the site does not call abroad (`novelty_hours_tenant`).
    #[serde(default)]
    pub novel_hour_attempts: Ring,
    /// The last short answered watched calls (`pumping_tenant`), any account.
    #[serde(default)]
    pub short_calls: [Duration; SHORT_CALLS],
    #[serde(default)]
    pub next_short: u8,
}

/// Capacity of a tenant's ring of short answered calls: above the highest default `pumping_tenant` level, so
/// the count in the hour reaches it.
pub const SHORT_CALLS: usize = 32;

/// The hours of the day at which a tenant calls watched destinations: for each local hour, on how many
/// different days it did (saturating) and the last such day. An hour is the site's own once seen on two
/// days, so that one night of an attack does not make its hours normal.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WatchedHours {
    days: [u8; 24],
    last: [i32; 24],
}

impl WatchedHours {
    /// Days needed before an hour is the site's own.
    pub const DAYS: u8 = 2;

    pub fn learn(&mut self, hour: u8, day: i32) {
        let h = usize::from(hour % 24);
        if let (Some(n), Some(last)) = (self.days.get_mut(h), self.last.get_mut(h))
            && (*n == 0 || *last != day)
        {
            *n = n.saturating_add(1);
            *last = day;
        }
    }

    pub fn known(&self, hour: u8) -> bool {
        self.days
            .get(usize::from(hour % 24))
            .is_some_and(|n| *n >= Self::DAYS)
    }
}

impl TenantState {
    /// Whether the tenant's history is long enough for novelty rules at tenant level.
    pub fn mature(&self, now: Millis) -> bool {
        self.attempts_seen >= LEARN_CALLS && now - self.first_seen >= LEARN_MS
    }

    /// Records a short answered call; the number of such calls to `cc` since `since` and their call numbers.
    pub fn push_short(&mut self, d: Duration, since: Millis, members: &mut Vec<u64>) -> i64 {
        let i = usize::from(self.next_short) % SHORT_CALLS;
        if let Some(slot) = self.short_calls.get_mut(i) {
            *slot = d;
        }
        self.next_short = ((i + 1) % SHORT_CALLS) as u8;
        members.clear();
        members.extend(
            self.short_calls
                .iter()
                .filter(|s| s.cc == d.cc && s.at >= since && s.at != 0)
                .map(|s| s.seq),
        );
        members.sort_unstable();
        members.len() as i64
    }

    pub fn new(tenant: &str, profile: usize, now: Millis) -> Self {
        Self {
            first_seen: now,
            attempts_seen: 0,
            watched_hours: WatchedHours::default(),
            novel_hour_attempts: Ring::default(),
            short_calls: [Duration::default(); SHORT_CALLS],
            next_short: 0,
            tenant: tenant.to_owned(),
            profile,
            last_seen: now,
            attempts_min: Ring::default(),
            attempts_hour: Ring::default(),
            attempts_day: Ring::default(),
            cost_hour: Ring::default(),
            cost_day: Ring::default(),
            cost_month: MonthSum::default(),
            calls: CallsInProgress::default(),
            recent: Recent::default(),
        }
    }
}

impl Idle for TenantState {
    fn last_seen(&self) -> Millis {
        self.last_seen
    }
}

pub const USERNAMES: usize = 8;

/// Everything about one source (a source key: an IPv4 address or an IPv6 network, see [`crate::source_key`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceState {
    pub last_seen: Millis,
    pub auth_fail_min: Ring,
    pub auth_fail_hour: Ring,
    /// Distinct user names tried (hash, last time).
    pub usernames: [(u32, Millis); USERNAMES],
    pub requests_min: Ring,
    /// A ban read from a snapshot written before bans had their own table; moved there on restore.
    #[serde(default, rename = "ban", skip_serializing)]
    pub(crate) legacy_ban: Option<Ban>,
}

impl SourceState {
    pub fn new(now: Millis) -> Self {
        Self {
            last_seen: now,
            auth_fail_min: Ring::default(),
            auth_fail_hour: Ring::default(),
            usernames: [(0, Millis::MIN); USERNAMES],
            requests_min: Ring::default(),
            legacy_ban: None,
        }
    }

    /// Records a user name and returns how many distinct names were tried since `since`.
    pub fn try_username(&mut self, name: u32, now: Millis, since: Millis) -> i64 {
        if let Some(e) = self
            .usernames
            .iter_mut()
            .find(|e| e.0 == name && e.1 >= since)
        {
            e.1 = now;
        } else if let Some(e) = self.usernames.iter_mut().min_by_key(|e| e.1) {
            *e = (name, now);
        }
        self.usernames.iter().filter(|e| e.1 >= since).count() as i64
    }
}

impl Idle for SourceState {
    fn last_seen(&self) -> Millis {
        self.last_seen
    }
}

/// A ban of a source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ban {
    /// The source key banned: an IPv4 address, or the network address of an IPv6 network of
    /// `sources.ipv6_prefix` bits (look an address up with [`crate::Policy::source_key`]).
    pub source: IpAddr,
    pub since: Millis,
    pub until: Millis,
    pub rule: String,
    pub by: String,
    pub why: String,
}

/// The bans in force, by source key hash, with a cap: when full, the ban that ends soonest is dropped, so a flood
/// of banned sources costs bounded memory and the longest bans stay.
#[derive(Debug, Clone, Default)]
pub(crate) struct BanTable {
    map: IdMap<Ban>,
    /// (end, key) of every ban, soonest first.
    by_end: BTreeSet<(Millis, u64)>,
    cap: usize,
    evicted: u64,
}

impl BanTable {
    pub fn new(cap: usize) -> Self {
        Self {
            cap: cap.max(1),
            ..Self::default()
        }
    }
    pub fn len(&self) -> usize {
        self.map.len()
    }
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
    /// Bans dropped to stay within the cap since start.
    pub fn evicted(&self) -> u64 {
        self.evicted
    }
    pub fn get(&self, key: u64) -> Option<&Ban> {
        self.map.get(&key)
    }
    /// Sets the ban of `key` (replacing any), then drops the bans that end soonest beyond the cap (the new one
    /// too, when it ends before every other). Returns how many were dropped.
    pub fn insert(&mut self, key: u64, ban: Ban) -> u64 {
        self.remove(key);
        self.by_end.insert((ban.until, key));
        self.map.insert(key, ban);
        let mut dropped = 0;
        while self.map.len() > self.cap {
            let Some((_, k)) = self.by_end.pop_first() else {
                break;
            };
            self.map.remove(&k);
            dropped += 1;
        }
        self.evicted += dropped;
        dropped
    }
    pub fn remove(&mut self, key: u64) -> Option<Ban> {
        let b = self.map.remove(&key)?;
        self.by_end.remove(&(b.until, key));
        Some(b)
    }
    /// Forgets bans that ended at or before `now`.
    pub fn expire(&mut self, now: Millis) {
        while let Some(&(until, k)) = self.by_end.first() {
            if until > now {
                break;
            }
            self.by_end.pop_first();
            self.map.remove(&k);
        }
    }
    pub fn iter(&self) -> impl Iterator<Item = (&u64, &Ban)> {
        self.map.iter()
    }
    /// Bans sorted by key, for a deterministic snapshot.
    pub fn to_sorted(&self) -> Vec<(u64, Ban)> {
        let mut v: Vec<(u64, Ban)> = self.map.iter().map(|(k, b)| (*k, b.clone())).collect();
        v.sort_unstable_by_key(|(k, _)| *k);
        v
    }
}

/// How many sources an account keeps as "known" (logged in from), failing, and how many login countries.
pub const KNOWN_SOURCES: usize = 8;
pub const FAILED_SOURCES: usize = 8;
pub const LOGIN_COUNTRIES: usize = 8;

/// A source that failed to log in to an account: its key and its network (hashed), its last failure, and its
/// failures in a run without a gap of the window (so the count may reach back up to twice the window).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailedSource {
    pub key: u64,
    pub net: u64,
    pub last: Millis,
    pub count: u32,
}

const NO_FAILURE: FailedSource = FailedSource {
    key: 0,
    net: 0,
    last: Millis::MIN,
    count: 0,
};

/// An account's logins, kept apart from [`AccountState`] (which every call attempt touches): the sources it
/// logged in from ("known": the per-account login rules never ban them), the sources that failed recently, and
/// the countries it logged in from. Fixed size.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountLogins {
    pub last_seen: Millis,
    /// Source keys (hashed) that logged in, with the last time; `Millis::MIN` marks an empty slot.
    pub known: [(u64, Millis); KNOWN_SOURCES],
    pub failed: [FailedSource; FAILED_SOURCES],
    /// Countries (ISO alpha-2) logged in from, with the last time; `Millis::MIN` marks an empty slot.
    pub countries: [([u8; 2], Millis); LOGIN_COUNTRIES],
}

impl AccountLogins {
    pub fn new(now: Millis) -> Self {
        Self {
            last_seen: now,
            known: [(0, Millis::MIN); KNOWN_SOURCES],
            failed: [NO_FAILURE; FAILED_SOURCES],
            countries: [([0; 2], Millis::MIN); LOGIN_COUNTRIES],
        }
    }

    pub fn is_known(&self, key: u64) -> bool {
        self.known.iter().any(|k| k.0 == key && k.1 != Millis::MIN)
    }

    /// Remembers a source the account logged in from (the least recently used one makes room).
    pub fn learn_known(&mut self, key: u64, now: Millis) {
        if let Some(k) = self
            .known
            .iter_mut()
            .find(|k| k.0 == key && k.1 != Millis::MIN)
        {
            k.1 = k.1.max(now);
        } else if let Some(k) = self.known.iter_mut().min_by_key(|k| k.1) {
            *k = (key, now);
        }
    }

    /// Records a failure from a source and returns how many distinct sources failed since `since`. A full table
    /// makes room by dropping a source idle since before `since`, else the one with the fewest failures (so that
    /// a flood of one-off sources does not wash out the source that failed most).
    pub fn fail(&mut self, key: u64, net: u64, now: Millis, since: Millis) -> i64 {
        if let Some(f) = self
            .failed
            .iter_mut()
            .find(|f| f.key == key && f.last != Millis::MIN)
        {
            f.count = if f.last >= since {
                f.count.saturating_add(1)
            } else {
                1
            };
            f.last = f.last.max(now);
        } else if let Some(f) = self
            .failed
            .iter_mut()
            .min_by_key(|f| (f.last >= since, f.count, f.last))
        {
            *f = FailedSource {
                key,
                net,
                last: now,
                count: 1,
            };
        }
        self.failed.iter().filter(|f| f.last >= since).count() as i64
    }

    /// Failures since `since` from the source `key` or its network `net`.
    pub fn linked_failures(&self, key: u64, net: u64, since: Millis) -> i64 {
        self.failed
            .iter()
            .filter(|f| f.last >= since && (f.key == key || f.net == net))
            .map(|f| i64::from(f.count))
            .sum()
    }

    /// The countries logged in from, least recently used first.
    pub fn countries(&self) -> Vec<[u8; 2]> {
        let mut v: Vec<([u8; 2], Millis)> = self
            .countries
            .iter()
            .filter(|c| c.1 != Millis::MIN)
            .copied()
            .collect();
        v.sort_by_key(|c| (c.1, c.0));
        v.into_iter().map(|c| c.0).collect()
    }

    /// Records a login from a country. True when the account had logged in from some country before, never
    /// from this one (as far as its last [`LOGIN_COUNTRIES`] countries tell).
    pub fn login_country(&mut self, country: [u8; 2], now: Millis) -> bool {
        if let Some(c) = self
            .countries
            .iter_mut()
            .find(|c| c.0 == country && c.1 != Millis::MIN)
        {
            c.1 = c.1.max(now);
            return false;
        }
        let before = self.countries.iter().any(|c| c.1 != Millis::MIN);
        if let Some(c) = self.countries.iter_mut().min_by_key(|c| c.1) {
            *c = (country, now);
        }
        before
    }
}

impl Idle for AccountLogins {
    fn last_seen(&self) -> Millis {
        self.last_seen
    }
}

/// One dialed number.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NumberState {
    pub last_seen: Millis,
    pub attempts_hour: Ring,
    pub recent: Recent,
}

impl Idle for NumberState {
    fn last_seen(&self) -> Millis {
        self.last_seen
    }
}

pub const RANGE_NUMBERS: usize = 16;

/// One number range (a number less its last 3 digits).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RangeState {
    pub last_seen: Millis,
    /// Distinct numbers dialed (hash, last time).
    pub numbers: [(u32, Millis); RANGE_NUMBERS],
    pub recent: Recent,
}

impl RangeState {
    pub fn new(now: Millis) -> Self {
        Self {
            last_seen: now,
            numbers: [(0, Millis::MIN); RANGE_NUMBERS],
            recent: Recent::default(),
        }
    }
    /// Records a number and returns how many distinct numbers were dialed since `since`.
    pub fn dial(&mut self, number: u32, now: Millis, since: Millis) -> i64 {
        if let Some(e) = self
            .numbers
            .iter_mut()
            .find(|e| e.0 == number && e.1 >= since)
        {
            e.1 = now;
        } else if let Some(e) = self.numbers.iter_mut().min_by_key(|e| e.1) {
            *e = (number, now);
        }
        self.numbers.iter().filter(|e| e.1 >= since).count() as i64
    }
}

impl Idle for RangeState {
    fn last_seen(&self) -> Millis {
        self.last_seen
    }
}

/// A call the engine let through and has not seen end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallState {
    pub started: Millis,
    pub seq: u64,
    pub account: u64,
    pub tenant: u64,
    pub rate: crate::cost::Rate,
    pub answered: Option<Millis>,
    pub class: crate::decision::DestClass,
    pub cc: u16,
    pub watched: bool,
}

impl Idle for CallState {
    fn last_seen(&self) -> Millis {
        self.started
    }
}

/// A kill switch: a scope barred from destination classes until an operator lifts it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KillSwitch {
    pub id: u64,
    pub scope: BarScope,
    pub classes: ClassSet,
    pub since: Millis,
    /// "tollguard" when set by a rule, else the operator's name.
    pub by: String,
    pub why: String,
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_hour_is_the_sites_own_only_after_two_days() {
        let mut h = WatchedHours::default();
        h.learn(2, 100);
        h.learn(2, 100);
        assert!(!h.known(2), "one night of calls does not make 02:00 normal");
        h.learn(2, 101);
        assert!(h.known(2));
        assert!(!h.known(3));
    }

    use super::*;

    fn ban(until: Millis) -> Ban {
        Ban {
            source: IpAddr::from([192, 0, 2, (until % 256) as u8]),
            since: 0,
            until,
            rule: "test".into(),
            by: "test".into(),
            why: String::new(),
        }
    }

    #[test]
    fn the_ban_table_keeps_the_longest_bans_and_forgets_ended_ones() {
        let mut t = BanTable::new(3);
        assert_eq!(t.insert(1, ban(50)), 0);
        assert_eq!(t.insert(2, ban(10)), 0);
        assert_eq!(t.insert(3, ban(30)), 0);
        assert_eq!(t.insert(4, ban(40)), 1);
        assert!(t.get(2).is_none());
        // Replacing a ban does not count as room made.
        assert_eq!(t.insert(3, ban(60)), 0);
        assert_eq!(t.insert(5, ban(5)), 1);
        assert!(t.get(5).is_none());
        assert_eq!((t.len(), t.evicted()), (3, 2));
        t.expire(50);
        let left: Vec<u64> = t.to_sorted().into_iter().map(|(k, _)| k).collect();
        assert_eq!(left, vec![3]);
        assert!(t.remove(3).is_some() && t.is_empty());
        t.expire(1000);
    }

    #[test]
    fn logins_remember_a_bounded_number_of_sources_and_countries() {
        let mut l = AccountLogins::new(0);
        let hour = 3_600_000;
        // The source that failed most survives a flood of one-off sources.
        for _ in 0..3 {
            l.fail(7, 70, 1000, 1000 - hour);
        }
        for k in 100..120u64 {
            l.fail(k, k * 10, 2000, 2000 - hour);
        }
        assert_eq!(l.linked_failures(7, 0, 2000 - hour), 3);
        assert_eq!(l.linked_failures(0, 70, 2000 - hour), 3);
        assert_eq!(l.fail(7, 70, 3000, 3000 - hour), FAILED_SOURCES as i64);
        // A run broken by an hour starts again.
        l.fail(7, 70, 3000 + 2 * hour, 3000 + hour);
        assert_eq!(l.linked_failures(7, 70, 3000 + hour), 1);
        for k in 0..20u64 {
            l.learn_known(k, k as Millis);
        }
        assert!(l.is_known(19) && l.is_known(12) && !l.is_known(11));
        let mut new = 0;
        for (i, c) in (b'A'..=b'J').enumerate() {
            new += usize::from(l.login_country([c, c], i as Millis));
        }
        assert_eq!(new, 9, "the first country is no news");
        assert_eq!(l.countries().len(), LOGIN_COUNTRIES);
        assert!(!l.login_country(*b"JJ", 100));
        assert!(l.login_country(*b"AA", 101), "forgotten");
    }

    /// `is_quiet` says exactly when `should_warn` would say false, and then `should_warn` changes nothing: the
    /// engine's shortcut for attempts whose only hits are quiet warnings decides as the loop over them did.
    #[test]
    fn quiet_is_should_warn_saying_no() {
        let mut a = AccountState::new("t", "a", 0, 0);
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let mut now: Millis = 0;
        let mut said_no = 0;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            now += (x % 200) as i64;
            let rule = (x >> 8) as u8 % 12;
            let window = ((x >> 16) % 3 + 1) as i64 * 600;
            let quiet = a.is_quiet(rule, now);
            let before = a.quiet;
            let warn = a.should_warn(rule, now, window);
            assert_eq!(quiet, !warn, "rule {rule} at {now}");
            if quiet {
                assert_eq!(a.quiet, before);
                said_no += 1;
            }
        }
        assert!(said_no > 1_000 && said_no < 19_000, "{said_no}");
    }
}
