//! The holdout backtest: the calls a policy was not learned from, replayed with it. What it would have blocked,
//! how many of those calls look legitimate (by their `legit`/`fraud:<name>` labels when the records carry them,
//! else: calls the observer replay found no attack in), and for each attack how far it got before the first block.

use std::collections::BTreeMap;

use engine::{FindingKind, Verdict};

use crate::replay::{LaterDecisions, Outcome, Sink};
use crate::{Label, Site};

/// How one attack (the calls of one `fraud:<name>` label) fared.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct AttackStop {
    pub name: String,
    pub calls: u64,
    pub blocked: u64,
    /// Calls that went through before the first block (all of them when none was blocked).
    pub passed_before_first_block: u64,
    /// Money of the calls that went through, thousandths.
    pub money_passed_millis: i64,
    /// The rule of the first block.
    pub first_rule: Option<String>,
}

/// The backtest's figures.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct HoldoutReport {
    pub calls: u64,
    pub blocked: u64,
    /// Money of the blocked calls: what the policy would have saved (thousandths).
    pub blocked_money_millis: i64,
    /// Whether the records carried `legit`/`fraud` labels (else "legitimate" means: not labelled fraud).
    pub labelled: bool,
    pub legit: u64,
    pub legit_blocked: u64,
    /// The first few legitimate calls blocked: (local time in ms, account, dialed, rule).
    pub legit_blocked_examples: Vec<(i64, String, String, String)>,
    /// Blocks by rule name.
    pub blocked_by_rule: BTreeMap<String, u64>,
    /// Blocks by fraud-kind rules (the rest are the policy's own lists).
    pub blocked_fraud_kind: u64,
    pub attacks: Vec<AttackStop>,
    pub emergency_blocked: u64,
}

impl Sink for HoldoutReport {
    fn call(&mut self, o: Outcome<'_>) {
        self.calls += 1;
        let cost = o.cost.map_or(0, |m| m.millis);
        let blocked = matches!(o.verdict, Verdict::Block { .. });
        let rule = o
            .decisions
            .iter()
            .find(|d| matches!(d.action, engine::Action::Block { .. }) && !d.shadow)
            .or_else(|| o.decisions.first());
        if blocked {
            self.blocked += 1;
            self.blocked_money_millis += cost;
            if let Some(d) = rule {
                *self.blocked_by_rule.entry(d.rule.to_string()).or_default() += 1;
                self.blocked_fraud_kind += u64::from(d.rule.kind() == FindingKind::Fraud);
            }
            self.emergency_blocked += u64::from(o.destination.is_emergency());
        }
        match o.call.label() {
            Label::Fraud(name) => {
                self.labelled = true;
                let a = match self.attacks.iter_mut().position(|a| a.name == name) {
                    Some(i) => &mut self.attacks[i],
                    None => {
                        self.attacks.push(AttackStop {
                            name: name.to_owned(),
                            ..AttackStop::default()
                        });
                        let last = self.attacks.len() - 1;
                        &mut self.attacks[last]
                    }
                };
                a.calls += 1;
                if blocked {
                    a.blocked += 1;
                    if a.first_rule.is_none() {
                        a.first_rule = Some(rule.map_or_else(String::new, |d| d.rule.to_string()));
                    }
                } else {
                    a.money_passed_millis += cost;
                    if a.first_rule.is_none() {
                        a.passed_before_first_block += 1;
                    }
                }
            }
            label => {
                self.labelled |= label == Label::Legit;
                self.legit += 1;
                if blocked {
                    self.legit_blocked += 1;
                    if self.legit_blocked_examples.len() < 10 {
                        self.legit_blocked_examples.push((
                            o.call.start,
                            o.call.account().to_owned(),
                            o.call.dialed().to_owned(),
                            rule.map_or_else(String::new, |d| d.reason.clone()),
                        ));
                    }
                }
            }
        }
    }

    fn later(&mut self, _: LaterDecisions<'_>) {}
}

/// Replays `records` (the holdout, in file order) through a new engine with `site` (whose policy is the learned
/// one) and tallies what it did.
pub fn holdout<'r, S: AsRef<str> + 'r>(
    site: Site,
    records: impl IntoIterator<Item = &'r cdr::CallRecord<S>>,
) -> HoldoutReport {
    let mut report = HoldoutReport::default();
    crate::replay_records(site, records, 4 * 3600, &mut report);
    report
}
