//! The verdict summary of a replay: calls, what the policy did with them and what they cost, and against the
//! records' labels (`legit…`/`fraud…` in the userfield) how many of each it blocked. A [`Sink`] that keeps no
//! per-call state, for a caller that wants the figures without a report (the operator API, tests); the CLI's
//! report tallies much more from the same outcomes.

use engine::Verdict;
use serde::Serialize;

use crate::replay::{Label, LaterDecisions, Outcome, Sink};

/// Counts of one replay. Money in thousandths of the site's currency, at the site's tariffs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Totals {
    pub calls: u64,
    pub answered: u64,
    pub allowed: u64,
    pub warned: u64,
    pub blocked: u64,
    /// What every call really cost (answered calls, their billable seconds).
    pub money_millis: i64,
    /// What the blocked calls would have cost: the money the policy saves.
    pub blocked_money_millis: i64,
    pub emergency: u64,
    /// Must stay 0: emergency calls are never blocked.
    pub emergency_blocked: u64,
    /// Decisions raised, at attempts and later (answers, ends).
    pub decisions: u64,
    pub legit: u64,
    pub legit_blocked: u64,
    pub fraud: u64,
    pub fraud_blocked: u64,
}

impl Sink for Totals {
    fn call(&mut self, o: Outcome<'_>) {
        self.calls += 1;
        if o.call.answered() {
            self.answered += 1;
        }
        let cost = o.cost.map_or(0, |m| m.millis);
        self.money_millis += cost;
        let blocked = o.verdict.is_block();
        match o.verdict {
            Verdict::Allow => self.allowed += 1,
            Verdict::Warn => self.warned += 1,
            Verdict::Block { .. } => {
                self.blocked += 1;
                self.blocked_money_millis += cost;
            }
        }
        if o.destination.is_emergency() {
            self.emergency += 1;
            self.emergency_blocked += u64::from(blocked);
        }
        match o.call.label() {
            Label::Legit => {
                self.legit += 1;
                self.legit_blocked += u64::from(blocked);
            }
            Label::Fraud(_) => {
                self.fraud += 1;
                self.fraud_blocked += u64::from(blocked);
            }
            Label::Unknown => {}
        }
        self.decisions += o.decisions.len() as u64;
    }

    fn later(&mut self, l: LaterDecisions<'_>) {
        self.decisions += l.decisions.len() as u64;
    }
}
