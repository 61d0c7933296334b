//! The history as `learn` sees it: every call with its destination and cost, and which calls look like an
//! attack. The history is replayed once through the engine with the site's policy turned into an observer:
//! destination lists opened and every rule in shadow mode, so that no call is cut short and the behaviour rules
//! (pumping, velocity, money, range walks, probing…) see all of them. A call the policy would merely refuse is
//! not suspect; a call a fraud-kind rule flags is, and so is the burst of its account around it.

use std::collections::HashMap;

use engine::{ClassSet, Decision, DestClass, FindingKind, Level, Millis, Policy, RuleId};
use numbering::{DialFlags, RiskTier};

use crate::replay::{LaterDecisions, Outcome, Sink};
use crate::{Label, Site};

/// Why a call was left out of the fitting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exclusion {
    /// The rule whose finding covered the call (or the call of its burst).
    pub rule: RuleId,
    /// Flagged itself (else: the same account within the burst window of a flagged call).
    pub direct: bool,
}

/// One call of the history.
#[derive(Debug, Clone, PartialEq)]
pub struct Observed {
    pub tenant: String,
    pub account: String,
    pub start: Millis,
    /// ISO code of the country called (international calls only).
    pub country: Option<&'static str>,
    pub country_name: &'static str,
    pub class: DestClass,
    pub risk: RiskTier,
    /// The risk tier is the country's own (not a number range's): an explicit allow outranks it.
    pub country_risk: bool,
    pub answered: bool,
    /// What the call cost at the site's tariffs, in thousandths of the currency.
    pub cost_millis: i64,
    pub emergency: bool,
    /// The record's ground-truth label is fraud (`fraud…` in the userfield): only reported, never used.
    pub labelled_fraud: bool,
    pub excluded: Option<Exclusion>,
}

impl Observed {
    /// What a policy lists this call's destination under: its country for calls abroad, else its class.
    pub fn destination_key(&self) -> String {
        match self.country {
            Some(c) if self.class == DestClass::International => c.to_owned(),
            _ => self.class.name().to_owned(),
        }
    }
}

/// The replayed history: its calls (in the order given) and the attack-looking findings.
pub(crate) struct Seen {
    pub calls: Vec<Observed>,
    /// (call index, rule) for each call an attack-looking finding covers.
    pub flags: Vec<(usize, RuleId)>,
}

/// The site's policy as an observer: nothing refused, every rule reporting only, and every hour a business
/// hour — the hours are what is being learned, so a call centre's evening is judged by the day's limits and
/// the pattern rules (pumping, range walks, night-time novelty of the site's own hours), not by a guess.
fn observer_policy(base: &Policy) -> Policy {
    let mut p = base.clone();
    let cal = &mut p.site.calendar;
    cal.open_minute = 0;
    cal.close_minute = 24 * 60;
    cal.open_days = [true; 7];
    cal.holidays = engine::Holidays::None;
    cal.extra_closed.clear();
    p.map_profiles(|prof| {
        prof.dest.allow_classes = ClassSet::of(&DestClass::ALL);
        prof.dest.allow_countries = vec!["*".to_owned()];
        prof.dest.deny_countries.clear();
        prof.dest.deny_prefixes.clear();
        prof.dest.shadow = true;
        prof.rules.set_all_shadow();
    });
    p
}

/// Whether a finding says the call looks like an attack (not merely unusual). Every fraud-kind critical does,
/// and every warning of the pattern rules; warnings of the volume rules (a busy day is what thresholds are
/// learned from), first-time novelty (every new supplier's first call) and risk tiers (a supplier in a risky
/// country) do not.
fn attack_looking(d: &Decision) -> bool {
    if d.rule.kind() != FindingKind::Fraud {
        return false;
    }
    use RuleId as R;
    match d.rule {
        // Where a call goes is not how it behaves: a supplier in a risky country is called like any other.
        // The engine keeps blocking number ranges on the IRSF lists whatever the learned policy allows.
        R::RiskTier => false,
        R::NoveltyCountry | R::NoveltyRisk | R::NoveltyFirstInternational | R::NoveltyHours => {
            false
        }
        R::VelocityAccountMinute
        | R::VelocityAccountHour
        | R::VelocityAccountDay
        | R::VelocityTenantMinute
        | R::VelocityTenantHour
        | R::VelocityTenantDay
        | R::ConcurrentAccount
        | R::ConcurrentTenant
        | R::MoneyAccountHour
        | R::MoneyAccountDay
        | R::MoneyAccountMonth
        | R::MoneyTenantHour
        | R::MoneyTenantDay
        | R::MoneyTenantMonth
        | R::NoveltySpend
        // Calls abroad at an hour the site does not call abroad yet: how a night caller's first nights look.
        | R::NoveltyHoursTenant => d.level == Level::Critical,
        _ => true,
    }
}

struct Observer {
    calls: Vec<Option<Observed>>,
    ids: HashMap<String, usize>,
    /// (call index, rule, contributing call ids) of each attack-looking finding.
    found: Vec<(usize, RuleId, engine::CallIds)>,
}

impl Observer {
    fn note(&mut self, idx: usize, decisions: &[Decision]) {
        for d in decisions.iter().filter(|d| attack_looking(d)) {
            self.found.push((idx, d.rule, d.calls.clone()));
        }
    }
}

impl Sink for Observer {
    fn call(&mut self, o: Outcome<'_>) {
        let idx = o.call.line as usize;
        let d = o.destination;
        let country_risk = d.flags.contains(DialFlags::COUNTRY_RISK);
        let obs = Observed {
            tenant: o.call.tenant().to_owned(),
            account: o.call.account().to_owned(),
            start: o.call.start,
            country: d.country.map(|c| c.iso2),
            country_name: d.country.map_or("", |c| c.name),
            class: DestClass::of(d),
            risk: d.risk,
            country_risk,
            answered: o.call.answered(),
            cost_millis: o.cost.map_or(0, |m| m.millis),
            emergency: d.is_emergency(),
            labelled_fraud: matches!(o.call.label(), Label::Fraud(_)),
            excluded: None,
        };
        if let Some(slot) = self.calls.get_mut(idx) {
            *slot = Some(obs);
        }
        self.ids.insert(o.call.call_id().to_owned(), idx);
        self.note(idx, o.decisions);
    }

    fn later(&mut self, l: LaterDecisions<'_>) {
        self.note(l.call.line as usize, l.decisions);
    }
}

/// Replays the history with the observer policy and records every call and every attack-looking finding.
pub(crate) fn observe<'r, S: AsRef<str> + 'r>(
    site: &Site,
    records: impl IntoIterator<Item = &'r cdr::CallRecord<S>>,
) -> Seen {
    let mut watch = site.clone();
    watch.policy = observer_policy(&site.policy);
    let mut replay = crate::Replay::new(watch, 4 * 3600);
    let mut obs = Observer {
        calls: Default::default(),
        ids: HashMap::new(),
        found: Vec::new(),
    };
    for (i, r) in records.into_iter().enumerate() {
        // The record's line becomes its index here, so that outcomes (in start order) find their call.
        let mut b = r.as_borrowed();
        b.line = i as u64;
        obs.calls.push(None);
        replay.push(0, &b, &mut obs);
    }
    replay.finish(&mut obs);
    // Every record comes out of the replay; should one not, the indices of the rest are mapped past it.
    let mut remap = Vec::with_capacity(obs.calls.len());
    let mut calls = Vec::with_capacity(obs.calls.len());
    for c in obs.calls {
        remap.push(c.is_some().then_some(calls.len()));
        calls.extend(c);
    }
    let at = |i: usize| remap.get(i).copied().flatten();
    let mut flags = Vec::new();
    for (idx, rule, contributing) in obs.found {
        flags.extend(at(idx).map(|i| (i, rule)));
        for id in contributing.iter() {
            if let Some(i) = obs.ids.get(id).and_then(|&i| at(i)) {
                flags.push((i, rule));
            }
        }
    }
    Seen { calls, flags }
}

/// Marks the flagged calls and, for each, the calls of the same account within `burst_secs` either side.
/// Returns the indices marked.
pub(crate) fn exclude(
    calls: &mut [Observed],
    flags: &[(usize, RuleId)],
    burst_secs: i64,
) -> Vec<usize> {
    let mut marked = Vec::new();
    for &(i, rule) in flags {
        if let Some(c) = calls.get_mut(i)
            && c.excluded.is_none_or(|e| !e.direct)
        {
            c.excluded = Some(Exclusion { rule, direct: true });
            marked.push(i);
        }
    }
    // Each account's calls by time, to find the bursts around its flagged calls.
    let mut by_account: HashMap<(&str, &str), Vec<usize>> = HashMap::new();
    for (i, c) in calls.iter().enumerate() {
        by_account
            .entry((c.tenant.as_str(), c.account.as_str()))
            .or_default()
            .push(i);
    }
    let mut burst: Vec<(usize, RuleId)> = Vec::new();
    let window = burst_secs * 1000;
    for idx in by_account.values_mut() {
        idx.sort_by_key(|&i| calls.get(i).map_or(0, |c| c.start));
        let direct: Vec<(Millis, RuleId)> = idx
            .iter()
            .filter_map(|&i| calls.get(i))
            .filter_map(|c| c.excluded.filter(|e| e.direct).map(|e| (c.start, e.rule)))
            .collect();
        if direct.is_empty() {
            continue;
        }
        let mut k = 0usize;
        for &i in idx.iter() {
            let Some(c) = calls.get(i) else { continue };
            while direct.get(k).is_some_and(|(t, _)| *t < c.start - window) {
                k += 1;
            }
            if c.excluded.is_none()
                && let Some((t, rule)) = direct.get(k)
                && *t <= c.start + window
            {
                burst.push((i, *rule));
            }
        }
    }
    for (i, rule) in burst {
        if let Some(c) = calls.get_mut(i) {
            c.excluded = Some(Exclusion {
                rule,
                direct: false,
            });
            marked.push(i);
        }
    }
    marked
}
