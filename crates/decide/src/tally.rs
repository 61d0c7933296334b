//! What the layer decided, counted where it decides: call attempts by verdict, alerts by rule and severity,
//! money at stake by tenant and currency. The decider adds to relaxed atomics (and, for money, a map of the
//! configured tenants behind an uncontended lock); the operator API reads a [`TallySnapshot`] at each scrape.
//! Counting here rather than from the live events keeps those events off when nobody watches them: building,
//! broadcasting and dropping an event per call and per alert cost more than the decision's own rules.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use engine::{Decision, Level, RuleId};

/// A call attempt's outcome, as `tollguard_calls_total{verdict}` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallOutcome {
    Allowed,
    Blocked,
    Emergency,
}

impl CallOutcome {
    pub const ALL: [CallOutcome; 3] = [
        CallOutcome::Allowed,
        CallOutcome::Blocked,
        CallOutcome::Emergency,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            CallOutcome::Allowed => "allowed",
            CallOutcome::Blocked => "blocked",
            CallOutcome::Emergency => "emergency",
        }
    }

    /// The outcome of a verdict: a refused call is blocked, an allowed emergency call is counted apart.
    pub const fn of(allowed: bool, emergency: bool) -> CallOutcome {
        match (allowed, emergency) {
            (false, _) => CallOutcome::Blocked,
            (true, true) => CallOutcome::Emergency,
            (true, false) => CallOutcome::Allowed,
        }
    }
}

/// A currency (ISO 4217 letters) and a sum in thousandths of its unit.
type CurrencySum = ([u8; 3], u64);

/// The counters, shared (`Arc`) between the decider that adds and the handles that read.
#[derive(Debug)]
pub struct DecisionTally {
    calls: [AtomicU64; 3],
    /// Per rule (`RuleId as usize`), warnings then critical.
    alerts: Box<[[AtomicU64; 2]]>,
    /// Thousandths of the currency unit, per tenant and currency. Tenants are the configured ones (a call of
    /// an unknown tenant is refused before any rule runs), so the map stays as small as the configuration.
    at_stake: Mutex<HashMap<String, Vec<CurrencySum>>>,
}

impl Default for DecisionTally {
    fn default() -> Self {
        Self {
            calls: Default::default(),
            alerts: RuleId::ALL.iter().map(|_| Default::default()).collect(),
            at_stake: Mutex::default(),
        }
    }
}

impl DecisionTally {
    pub fn call(&self, outcome: CallOutcome) {
        if let Some(c) = self.calls.get(outcome as usize) {
            c.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Counts one decision (an alert) of `tenant`.
    pub fn decision(&self, tenant: &str, d: &Decision) {
        let level = usize::from(d.level == Level::Critical);
        if let Some(c) = self
            .alerts
            .get(d.rule as usize)
            .and_then(|per| per.get(level))
        {
            c.fetch_add(1, Ordering::Relaxed);
        }
        let Some(a) = d.at_stake.filter(|a| a.millis > 0) else {
            return;
        };
        let millis = u64::try_from(a.millis).unwrap_or(0);
        let Ok(mut map) = self.at_stake.lock() else {
            return;
        };
        if let Some(per) = map.get_mut(tenant) {
            match per.iter_mut().find(|(c, _)| *c == a.currency.0) {
                Some((_, sum)) => *sum = sum.saturating_add(millis),
                None => per.push((a.currency.0, millis)),
            }
        } else {
            map.insert(tenant.to_owned(), vec![(a.currency.0, millis)]);
        }
    }

    /// The counters now (only the non-zero ones of alerts and money).
    pub fn snapshot(&self) -> TallySnapshot {
        let calls = CallOutcome::ALL.map(|o| {
            let n = self
                .calls
                .get(o as usize)
                .map_or(0, |c| c.load(Ordering::Relaxed));
            (o, n)
        });
        let mut alerts = Vec::new();
        for (rule, per) in RuleId::ALL.iter().zip(self.alerts.iter()) {
            for (level, c) in [Level::Warning, Level::Critical].into_iter().zip(per) {
                let n = c.load(Ordering::Relaxed);
                if n > 0 {
                    alerts.push((*rule, level, n));
                }
            }
        }
        let mut at_stake: Vec<(String, String, u64)> = self
            .at_stake
            .lock()
            .map(|m| {
                m.iter()
                    .flat_map(|(t, per)| {
                        per.iter().map(|(c, sum)| {
                            (t.clone(), String::from_utf8_lossy(c).into_owned(), *sum)
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        at_stake.sort();
        TallySnapshot {
            calls,
            alerts,
            at_stake,
        }
    }
}

/// What [`DecisionTally::snapshot`] read.
#[derive(Debug, Clone, PartialEq)]
pub struct TallySnapshot {
    pub calls: [(CallOutcome, u64); 3],
    /// Rule, severity, count — non-zero only, in rule order.
    pub alerts: Vec<(RuleId, Level, u64)>,
    /// Tenant, currency, thousandths of the currency unit — sorted.
    pub at_stake: Vec<(String, String, u64)>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_index_their_own_counter() {
        for (i, o) in CallOutcome::ALL.iter().enumerate() {
            assert_eq!(*o as usize, i);
        }
        let t = DecisionTally::default();
        t.call(CallOutcome::of(false, true));
        t.call(CallOutcome::of(true, true));
        t.call(CallOutcome::of(true, false));
        t.call(CallOutcome::of(true, false));
        let s = t.snapshot();
        assert_eq!(
            s.calls,
            [
                (CallOutcome::Allowed, 2),
                (CallOutcome::Blocked, 1),
                (CallOutcome::Emergency, 1)
            ]
        );
    }
}
