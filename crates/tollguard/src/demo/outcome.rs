//! What the demo observed, and the outcome computed from it: the same numbers for the terminal summary, the
//! JSON document and the HTML report. Everything is measured on the wire by the simulated peers (what the
//! PBX got back, what the carrier will bill); the guard's own decisions are added from its live stream.

use serde::Serialize;

use super::internet::ScanResult;
use super::pbx::{CallEnd, CallResult};

/// Who placed a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Caller {
    /// An employee at an extension of the office.
    Office,
    /// The attacker, through the hijacked ext 205.
    Attacker,
    /// The emergency call (110) from the hijacked extension's phone.
    Emergency,
}

/// One call attempt through the guard's trunk side.
#[derive(Debug, Clone, Serialize)]
pub struct Attempt {
    pub caller: Caller,
    pub ext: String,
    pub dialed: String,
    pub e164: Option<String>,
    pub country: Option<String>,
    pub placed_ms: i64,
    pub answered_ms: Option<i64>,
    pub ended_ms: i64,
    /// "completed", "ended_by_guard", "refused", "no_answer".
    pub result: &'static str,
    pub sip_status: u16,
    /// The guard's words: why it refused or ended the call.
    pub reason: Option<String>,
    pub billable_secs: u32,
    pub cost_jpy: i64,
}

impl Attempt {
    pub fn new(
        caller: Caller,
        ext: &str,
        dialed: &str,
        r: &CallResult,
        numbering: &numbering::Numbering,
    ) -> Attempt {
        let dest = numbering.classify(dialed);
        let (result, sip_status, reason) = match &r.end {
            CallEnd::Completed => ("completed", 200, None),
            CallEnd::EndedByGuard(why) => ("ended_by_guard", 200, why.clone()),
            CallEnd::Refused(s, why) => ("refused", *s, why.clone()),
            CallEnd::NoAnswer => ("no_answer", 0, None),
        };
        let billable_secs = r
            .answered_ms
            .map(|a| u32::try_from(((r.ended_ms - a).max(0) + 999) / 1000).unwrap_or(u32::MAX))
            .unwrap_or(0);
        let cost_jpy = if billable_secs > 0 {
            numbering
                .cost(&dest, billable_secs)
                .map(|m| m.millis / 1000)
                .unwrap_or(0)
        } else {
            0
        };
        Attempt {
            caller,
            ext: ext.to_owned(),
            dialed: dialed.to_owned(),
            e164: dest.e164.as_ref().map(|e| format!("+{}", e.digits())),
            country: dest.country.map(|c| c.name.to_owned()),
            placed_ms: r.placed_ms,
            answered_ms: r.answered_ms,
            ended_ms: r.ended_ms,
            result,
            sip_status,
            reason,
            billable_secs,
            cost_jpy,
        }
    }

    /// The call reached the carrier and was answered (it costs money).
    pub fn passed(&self) -> bool {
        self.answered_ms.is_some()
    }
}

/// A decision of the guard (from its live stream, when available).
#[derive(Debug, Clone, Serialize)]
pub struct GuardDecision {
    pub at: i64,
    pub rule: String,
    pub action: String,
    pub key: String,
    pub reason: String,
}

/// An alert as the webhook receiver got it.
#[derive(Debug, Clone, Serialize)]
pub struct DeliveredAlert {
    pub received_ms: i64,
    pub body: serde_json::Value,
}

#[derive(Debug, Clone, Serialize)]
pub struct AttackOutcome {
    pub attempts: usize,
    /// Answered calls: they reached the carrier and cost money.
    pub passed: usize,
    pub refused: usize,
    pub ended_by_guard: usize,
    /// The attack was stopped: after its last passed call, at least 3 attempts were all refused.
    pub stopped: bool,
    /// Simulated time of the first refused attempt after which no attack call passed.
    pub stopped_at_ms: Option<i64>,
    pub stopped_after_calls: usize,
    pub money_lost_jpy: i64,
    pub first_attempt_ms: Option<i64>,
    pub countries: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct OfficeOutcome {
    pub attempts: usize,
    pub passed: usize,
    /// Legitimate calls the guard refused or ended (should be none).
    pub blocked: Vec<Attempt>,
    pub international_passed: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct EmergencyOutcome {
    pub dialed: String,
    pub ext: String,
    pub passed: bool,
    pub sip_status: u16,
    /// The extension was already barred from international calls when it called 110.
    pub while_barred: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Unprotected2015 {
    /// What the same attack cost an unprotected office: ~10,000 calls of 30 s over a weekend.
    pub calls: u32,
    pub secs_each: u32,
    pub cost_jpy: i64,
    /// The per-company bills reported in 2015 (carriers' tariffs were higher than this estimate).
    pub reported_bill_jpy: i64,
    pub days_to_bar: u32,
}

#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub tenant: String,
    pub speed: f64,
    pub start_ms: i64,
    pub end_ms: i64,
    pub policy: &'static str,
    pub wall_secs: f64,
    pub attack: AttackOutcome,
    pub office: OfficeOutcome,
    pub emergency: Option<EmergencyOutcome>,
    pub scanners: Vec<ScanResult>,
    pub attacker_login_status: Option<u16>,
    /// Every call that reached the carrier, and those of the attacker among them (as the carrier counted).
    pub carrier_calls: usize,
    pub carrier_attack_calls: usize,
    pub carrier_byes_from_guard: usize,
    pub unprotected_2015: Unprotected2015,
    pub decisions: Vec<GuardDecision>,
    pub alerts_delivered: Vec<DeliveredAlert>,
    /// Every call attempt, in the order placed.
    pub calls: Vec<Attempt>,
}

pub fn attack_outcome(calls: &[Attempt]) -> AttackOutcome {
    let mut attack: Vec<&Attempt> = calls
        .iter()
        .filter(|a| a.caller == Caller::Attacker)
        .collect();
    attack.sort_by_key(|a| a.placed_ms);
    let passed = attack.iter().filter(|a| a.passed()).count();
    let last_passed = attack.iter().rposition(|a| a.passed());
    let after = match last_passed {
        Some(i) => attack.get(i + 1..).unwrap_or(&[]),
        None => &attack[..],
    };
    let stopped = after.len() >= 3 && after.iter().all(|a| !a.passed());
    let mut countries: Vec<String> = attack.iter().filter_map(|a| a.country.clone()).collect();
    countries.sort();
    countries.dedup();
    AttackOutcome {
        attempts: attack.len(),
        passed,
        refused: attack.iter().filter(|a| a.result == "refused").count(),
        ended_by_guard: attack
            .iter()
            .filter(|a| a.result == "ended_by_guard")
            .count(),
        stopped,
        stopped_at_ms: if stopped {
            after.first().map(|a| a.placed_ms)
        } else {
            None
        },
        stopped_after_calls: passed,
        money_lost_jpy: attack.iter().map(|a| a.cost_jpy).sum(),
        first_attempt_ms: attack.first().map(|a| a.placed_ms),
        countries,
    }
}

pub fn office_outcome(calls: &[Attempt]) -> OfficeOutcome {
    let office: Vec<&Attempt> = calls
        .iter()
        .filter(|a| a.caller == Caller::Office)
        .collect();
    OfficeOutcome {
        attempts: office.len(),
        passed: office
            .iter()
            .filter(|a| a.passed() && a.result == "completed")
            .count(),
        blocked: office
            .iter()
            .filter(|a| a.result == "refused" || a.result == "ended_by_guard")
            .map(|a| (*a).clone())
            .collect(),
        international_passed: office
            .iter()
            .filter(|a| a.passed() && a.dialed.starts_with("010"))
            .count(),
    }
}
