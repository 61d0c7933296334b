//! Per-key state: what the engine remembers about each account, tenant, source address, dialed number and
//! number range, and about each call in progress. Every structure here has a fixed size (no growth per event), so
//! memory is bounded by the key caps of the policy.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::decision::{BarScope, ClassSet};
use crate::event::Millis;
use crate::keys::Idle;
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
}

impl TenantState {
    pub fn new(tenant: &str, profile: usize, now: Millis) -> Self {
        Self {
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

/// Everything about one source address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceState {
    pub last_seen: Millis,
    pub auth_fail_min: Ring,
    pub auth_fail_hour: Ring,
    /// Distinct user names tried (hash, last time).
    pub usernames: [(u32, Millis); USERNAMES],
    pub requests_min: Ring,
    /// A ban, if any.
    pub ban: Option<Ban>,
}

impl SourceState {
    pub fn new(now: Millis) -> Self {
        Self {
            last_seen: now,
            auth_fail_min: Ring::default(),
            auth_fail_hour: Ring::default(),
            usernames: [(0, Millis::MIN); USERNAMES],
            requests_min: Ring::default(),
            ban: None,
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
        // A banned source stays while its ban runs.
        self.ban
            .as_ref()
            .map_or(self.last_seen, |b| b.until.max(self.last_seen))
    }
}

/// A ban of a source address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ban {
    pub source: IpAddr,
    pub since: Millis,
    pub until: Millis,
    pub rule: String,
    pub by: String,
    pub why: String,
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
    use super::*;

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
