//! The tally of a replay: every call's outcome counted by account, destination and hour, the alerts grouped,
//! ground truth scored when the CDRs carry it, and the evidence the verdict is built from ([`super::verdict`]).

use std::collections::{BTreeMap, HashMap};

use engine::{Action, Decision, DestClass, FindingKind, Level, Millis, Policy, Verdict};
use numbering::{Currency, Scope};
use replay::{Call, Label, LaterDecisions, Outcome, Sink};
use serde_json::Value;

use super::Mode;
use super::json::{DecisionLog, LoggedDecision};
use super::verdict::{Findings, Refusal, Resolved, is_evidence, masked_risk};

/// The report's per-call maps (looked up for every call): foldhash instead of SipHash, which cost ~250
/// instructions per lookup here. Their contents are sorted before they are shown, so their order never matters.
pub(super) type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

#[derive(Debug, Default)]
pub(super) struct FileStat {
    pub(super) path: String,
    pub(super) format: String,
    pub(super) records: u64,
    pub(super) errors: u64,
    pub(super) first_errors: Vec<String>,
}

/// Calls and money.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Count {
    pub(super) calls: u64,
    pub(super) millis: i64,
}

impl Count {
    pub(super) fn add(&mut self, millis: i64) {
        self.calls += 1;
        self.millis += millis;
    }
}

#[derive(Debug, Default)]
pub(super) struct AccountTally {
    pub(super) tenant: String,
    pub(super) account: String,
    pub(super) all: Count,
    pub(super) blocked: Count,
    pub(super) first_alert: Option<Millis>,
    pub(super) first_block: Option<Millis>,
    /// Calls that passed between the first alert and the first block.
    pub(super) before_block: Count,
}

#[derive(Debug, Default)]
pub(super) struct AttackTally {
    pub(super) all: Count,
    pub(super) blocked: Count,
    pub(super) first_call: Option<Millis>,
    pub(super) first_block: Option<Millis>,
    /// Fraud calls that passed before the first block.
    pub(super) before_block: Count,
}

/// Alerts with the same rule, key and action, collapsed.
#[derive(Debug)]
pub(super) struct AlertGroup {
    /// (rule, tenant/account or the decision's key, action): what groups the alerts, and their last sort key.
    pub(super) key: (String, String, &'static str),
    pub(super) first: Decision,
    /// The account of the calls alerted on (index into the tally's accounts), when the alert is about calls.
    pub(super) account: Option<u32>,
    pub(super) count: u64,
    pub(super) last_at: Millis,
    pub(super) stake_max: i64,
}

/// One call the report lists individually (a legitimate-looking call that was blocked).
#[derive(Debug, Clone)]
pub(super) struct ListedCall {
    pub(super) at: Millis,
    pub(super) file: u16,
    pub(super) line: u64,
    pub(super) call_id: String,
    pub(super) account: String,
    pub(super) dialed: String,
    pub(super) destination: String,
    pub(super) rule: String,
    pub(super) reason: String,
    /// The reason in Japanese, written from the decision's data.
    pub(super) reason_ja: String,
}

pub(super) const GROUPS: [&str; 4] = ["domestic", "international", "premium/satellite", "other"];

pub(super) fn group_of(class: DestClass) -> usize {
    match class {
        DestClass::Domestic | DestClass::Mobile | DestClass::TollFree | DestClass::SharedCost => 0,
        DestClass::International => 1,
        DestClass::Premium | DestClass::Satellite => 2,
        _ => 3,
    }
}

#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Hour {
    pub(super) calls: [u64; 4],
    pub(super) millis: [i64; 4],
    pub(super) blocked: u64,
    pub(super) blocked_millis: i64,
}

impl Hour {
    pub(super) fn merge(&mut self, o: &Hour) {
        for i in 0..4 {
            self.calls[i] += o.calls[i];
            self.millis[i] += o.millis[i];
        }
        self.blocked += o.blocked;
        self.blocked_millis += o.blocked_millis;
    }
}

pub(super) struct Report {
    pub(super) mode: Mode,
    /// The guard configuration the site's settings came from (`--config`), and what the text report says of it.
    pub(super) config: Option<String>,
    pub(super) settings_note: Option<String>,
    pub(super) tz: cdr::Tz,
    pub(super) currency: Currency,
    pub(super) files: Vec<FileStat>,
    pub(super) late_records: u64,
    pub(super) all: Count,
    pub(super) answered: u64,
    pub(super) first_at: Option<Millis>,
    pub(super) last_at: Option<Millis>,
    pub(super) blocked: u64,
    pub(super) blocked_money: i64,
    pub(super) warned: u64,
    pub(super) emergency: u64,
    pub(super) emergency_blocked: u64,
    pub(super) first_critical: Option<Millis>,
    /// The policy the calls were judged by: which profile applies to an account, what it refuses.
    pub(super) policy: Policy,
    /// Evidence of attacks and the calls around it, call by call; resolved into `verdict` at the end.
    pub(super) findings: Findings,
    pub(super) verdict: Resolved,
    /// Calls (file, line) that were allowed and already belong to an attack: a later decision on them must not
    /// count them twice. Bounded like the cells.
    pub(super) allowed_attack_calls: FastMap<(u16, u64), ()>,
    /// "tenant\u{1f}account" → index into `account_list`; looked up through `key_buf` without allocating.
    pub(super) accounts: FastMap<String, usize>,
    pub(super) account_list: Vec<AccountTally>,
    /// The index last found for each of [`ACCOUNT_MEMO`] slots of a (tenant, account) hash, checked against
    /// `account_list` before use: calls come from a few dozen accounts, and the memo spares the joined key and
    /// the map's hashing and probe for nearly all of them.
    pub(super) account_memo: Vec<u32>,
    pub(super) key_buf: String,
    pub(super) blocked_destinations: FastMap<DestKey, Count>,
    pub(super) destinations: FastMap<DestKey, Count>,
    pub(super) hours: BTreeMap<i64, Hour>,
    /// The hour being tallied: calls come in start order, so nearly every call falls in it (a map lookup per call
    /// was 2 % of a run). Merged into `hours` when another hour comes, and at the end ([`Report::close_hour`]).
    pub(super) open_hour: Option<(i64, Hour)>,
    /// Alert groups by their key joined with U+001F (see `AlertGroup::key`), looked up through `alert_key_buf`
    /// without allocating: most calls of a busy site carry a decision.
    pub(super) alerts: FastMap<String, AlertGroup>,
    pub(super) alert_key_buf: String,
    /// Every decision, for `--format json`: streamed to a spool file, not kept in memory.
    pub(super) log: Option<DecisionLog>,
    pub(super) labelled: bool,
    pub(super) attacks: BTreeMap<String, AttackTally>,
    pub(super) legit: Count,
    pub(super) legit_blocked: Count,
    /// Legitimate (labelled) or legitimate-looking (domestic, not obfuscated) calls that were blocked.
    pub(super) listed: Vec<ListedCall>,
    pub(super) listed_total: u64,
    /// Most calls the replay held in memory at once (bounded by the reorder window, not the file size).
    pub(super) peak_held: usize,
    pub(super) engine_state: Value,
}

pub(super) const MAX_ACCOUNTS: usize = 100_000;
pub(super) const MAX_DESTINATIONS: usize = 10_000;
pub(super) const MAX_LISTED: usize = 200;
/// Most allowed attack calls remembered (see `Report::allowed_attack_calls`).
const MAX_ALLOWED_ATTACK_CALLS: usize = 1_000_000;

pub(super) fn action_kind(a: &Action) -> &'static str {
    match a {
        Action::Warn => "warn",
        Action::Block { .. } => "block",
        Action::Ban { .. } => "ban",
        Action::Bar { .. } => "bar",
        Action::EndCalls { .. } => "end_calls",
    }
}

/// Where calls went, as the report groups them: a country, or a class at home. Copy, so counting a call
/// allocates nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(super) enum DestKey {
    /// ISO code, English name, calling code.
    Country(&'static str, &'static str, u16),
    Home(DestClass),
    Emergency,
}

impl DestKey {
    pub(super) fn of(d: &numbering::Destination) -> DestKey {
        if d.is_emergency() {
            return DestKey::Emergency;
        }
        match (&d.country, d.scope) {
            (Some(c), Scope::International) => DestKey::Country(c.iso2, c.name, c.calling_code),
            _ => DestKey::Home(DestClass::of(d)),
        }
    }
}

impl std::fmt::Display for DestKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DestKey::Country(_, name, code) => write!(f, "{name} +{code}"),
            DestKey::Home(DestClass::Domestic) => f.write_str("domestic fixed"),
            DestKey::Home(DestClass::International) => f.write_str("international"),
            DestKey::Home(c) => write!(f, "domestic {}", c.as_str()),
            DestKey::Emergency => f.write_str("emergency"),
        }
    }
}

impl Report {
    pub(super) fn new(
        mode: Mode,
        tz: cdr::Tz,
        currency: Currency,
        keep_log: bool,
    ) -> anyhow::Result<Report> {
        let log = if keep_log {
            Some(DecisionLog::create()?)
        } else {
            None
        };
        Ok(Report {
            mode,
            config: None,
            settings_note: None,
            tz,
            currency,
            files: Vec::new(),
            late_records: 0,
            all: Count::default(),
            answered: 0,
            first_at: None,
            last_at: None,
            blocked: 0,
            blocked_money: 0,
            warned: 0,
            emergency: 0,
            emergency_blocked: 0,
            first_critical: None,
            policy: Policy::default(),
            findings: Findings::default(),
            verdict: Resolved::default(),
            allowed_attack_calls: FastMap::default(),
            accounts: FastMap::default(),
            account_list: Vec::new(),
            account_memo: vec![u32::MAX; ACCOUNT_MEMO],
            key_buf: String::new(),
            blocked_destinations: FastMap::default(),
            destinations: FastMap::default(),
            hours: BTreeMap::new(),
            open_hour: None,
            alerts: FastMap::default(),
            alert_key_buf: String::new(),
            labelled: false,
            attacks: BTreeMap::new(),
            legit: Count::default(),
            legit_blocked: Count::default(),
            listed: Vec::new(),
            listed_total: 0,
            peak_held: 0,
            engine_state: Value::Null,
            log,
        })
    }

    /// Hit: some call shows fraud or compromise (a refusal by the policy alone never makes a hit).
    pub(super) fn hit(&self) -> bool {
        self.verdict.hit()
    }

    pub(super) fn set_policy(&mut self, policy: Policy) {
        self.policy = policy;
    }

    /// Sorts the calls around the evidence into the attack and the policy's refusals, once all calls are in.
    pub(super) fn resolve(&mut self) {
        self.verdict = self.findings.resolve(&self.account_list, &self.policy);
    }

    /// The call's share of the verdict: evidence of an attack, or a call kept for the bursts and the policy
    /// section (calls abroad and refused calls), or nothing.
    fn note_finding(
        &mut self,
        acct: usize,
        o: &Outcome<'_>,
        cost: i64,
        blocked: bool,
        watched: bool,
    ) {
        let call = o.call;
        let who = (call.tenant(), call.account());
        let refusal = o.decisions.iter().find(|d| {
            d.rule.kind() == FindingKind::Policy && d.level == Level::Critical && !d.shadow
        });
        let evidence = o.decisions.iter().any(is_evidence)
            // Refused with no decision of its own: the account was barred earlier, after a fraud finding.
            || (blocked && o.decisions.is_empty())
            || (blocked && refusal.is_some() && masked_risk(&self.policy, who, o.destination));
        let key = (
            u32::try_from(acct).unwrap_or(u32::MAX),
            DestKey::of(o.destination),
            call.start.div_euclid(3_600_000),
        );
        if evidence {
            self.findings.evidence_call(key, call.start, cost, blocked);
            if !blocked && self.allowed_attack_calls.len() < MAX_ALLOWED_ATTACK_CALLS {
                self.allowed_attack_calls.insert((call.file, call.line), ());
            }
            return;
        }
        if o.decisions
            .iter()
            .any(|d| d.rule.kind() == FindingKind::Fraud && d.level == Level::Warning)
        {
            self.findings.fraud_warned += 1;
        }
        let refusal = refusal
            .filter(|_| blocked)
            .map(|d| Refusal::of(d, o.destination, &self.policy, who));
        if watched || refusal.is_some() {
            self.findings.other_call(key, call.start, cost, refusal);
        }
    }

    pub(super) fn money(&self, millis: i64) -> String {
        format!(
            "{} {}",
            numbering::group_thousands((millis + 500).div_euclid(1000)),
            self.currency.as_str()
        )
    }

    pub(super) fn local(&self, at: Millis) -> String {
        chrono::DateTime::from_timestamp_millis(at)
            .map(|t| {
                t.with_timezone(&self.tz)
                    .format("%a %Y-%m-%d %H:%M:%S")
                    .to_string()
            })
            .unwrap_or_else(|| at.to_string())
    }

    pub(super) fn local_iso(&self, at: Millis) -> String {
        chrono::DateTime::from_timestamp_millis(at)
            .map(|t| t.with_timezone(&self.tz).to_rfc3339())
            .unwrap_or_else(|| at.to_string())
    }

    pub(super) fn note_decisions(&mut self, call: &Call, decisions: &[Decision]) {
        for d in decisions {
            if d.level == Level::Critical && !d.shadow {
                self.first_critical.get_or_insert(d.at);
            }
            // One line per rule, account and action: 10,000 blocked calls of one pump are one alert, counted.
            let by_call = !(call.account().is_empty() && call.tenant().is_empty());
            let action = action_kind(&d.action);
            let buf = &mut self.alert_key_buf;
            buf.clear();
            buf.push_str(d.rule.as_str());
            buf.push('\u{1f}');
            if by_call {
                buf.push_str(call.tenant());
                buf.push('/');
                buf.push_str(call.account());
            } else {
                use std::fmt::Write as _;
                let _ = write!(buf, "{}", d.subject);
            }
            buf.push('\u{1f}');
            buf.push_str(action);
            let stake = d.at_stake.map_or(0, |a| a.millis);
            let room = self.alerts.len() < 100_000;
            match self.alerts.get_mut(self.alert_key_buf.as_str()) {
                Some(g) => {
                    g.count += 1;
                    g.last_at = g.last_at.max(d.at);
                    g.stake_max = g.stake_max.max(stake);
                }
                None if room => {
                    let account = if by_call {
                        self.account_index(call.tenant(), call.account(), false)
                            .and_then(|i| u32::try_from(i).ok())
                    } else {
                        None
                    };
                    let who = if by_call {
                        format!("{}/{}", call.tenant(), call.account())
                    } else {
                        d.key()
                    };
                    self.alerts.insert(
                        self.alert_key_buf.clone(),
                        AlertGroup {
                            key: (d.rule.as_str().to_owned(), who, action),
                            first: d.clone(),
                            account,
                            count: 1,
                            last_at: d.at,
                            stake_max: stake,
                        },
                    );
                }
                None => {}
            }
            if let Some(log) = self.log.as_mut() {
                log.write(&LoggedDecision {
                    account: call.account(),
                    at: d.at,
                    at_local: chrono::DateTime::from_timestamp_millis(d.at)
                        .map(|t| t.with_timezone(&self.tz).to_rfc3339()),
                    call_id: call.call_id(),
                    decision: d,
                    dialed: call.dialed(),
                    file: call.file,
                    line: call.line,
                    tenant: call.tenant(),
                });
            }
        }
    }
}

impl Sink for Report {
    fn call(&mut self, o: Outcome<'_>) {
        let call = o.call;
        let cost = o.cost.map_or(0, |m| m.millis);
        self.all.add(cost);
        if call.answered() {
            self.answered += 1;
        }
        self.first_at = Some(self.first_at.map_or(call.start, |t| t.min(call.start)));
        self.last_at = Some(self.last_at.map_or(call.start, |t| t.max(call.start)));
        let class = DestClass::of(o.destination);
        let key = call.start.div_euclid(3_600_000);
        if self.open_hour.is_some_and(|(k, _)| k != key) {
            self.close_hour();
        }
        let (_, hour) = self.open_hour.get_or_insert((key, Hour::default()));
        let g = group_of(class);
        hour.calls[g] += 1;
        hour.millis[g] += cost;
        let blocked = o.verdict.is_block();
        if blocked {
            hour.blocked += 1;
            hour.blocked_millis += cost;
        }
        if o.destination.is_emergency() {
            self.emergency += 1;
            if blocked {
                self.emergency_blocked += 1;
            }
        }
        let dest = DestKey::of(o.destination);
        if matches!(dest, DestKey::Country(..)) {
            bump(&mut self.destinations, dest, cost);
        }
        match o.verdict {
            Verdict::Block { .. } => {
                self.blocked += 1;
                self.blocked_money += cost;
                bump(&mut self.blocked_destinations, dest, cost);
            }
            Verdict::Warn => self.warned += 1,
            Verdict::Allow => {}
        }

        // Per account: where the first alert and the first block fell.
        let acct = self.account_index(call.tenant(), call.account(), true);
        if let Some(i) = acct {
            let a = &mut self.account_list[i];
            a.all.add(cost);
            if !o.decisions.is_empty() || blocked {
                a.first_alert.get_or_insert(call.start);
            }
            if blocked {
                a.blocked.add(cost);
                a.first_block.get_or_insert(call.start);
            } else if a.first_alert.is_some() && a.first_block.is_none() {
                a.before_block.add(cost);
            }
        }

        if let Some(i) = acct {
            self.note_finding(i, &o, cost, blocked, g != 0);
        }

        // Ground truth, when the CDRs carry it.
        let label = call.label();
        // The strongest decision, worded only for a call that gets listed.
        let top_rule = || o.decisions.iter().max_by_key(|d| d.level);
        match label {
            Label::Unknown => {
                let looks_legit =
                    matches!(group_of(class), 0) && !o.destination.flags.is_obfuscated();
                if blocked && looks_legit && !self.labelled {
                    self.list(call, o.destination, top_rule());
                }
            }
            Label::Legit => {
                self.labelled = true;
                self.legit.add(cost);
                if blocked {
                    self.legit_blocked.add(cost);
                    self.list(call, o.destination, top_rule());
                }
            }
            Label::Fraud(name) => {
                self.labelled = true;
                if !self.attacks.contains_key(name) {
                    self.attacks
                        .insert(name.to_string(), AttackTally::default());
                }
                let Some(t) = self.attacks.get_mut(name) else {
                    return;
                };
                t.all.add(cost);
                t.first_call.get_or_insert(call.start);
                if blocked {
                    t.blocked.add(cost);
                    t.first_block.get_or_insert(call.start);
                } else if t.first_block.is_none() {
                    t.before_block.add(cost);
                }
            }
        }
        self.note_decisions(call, o.decisions);
    }

    fn later(&mut self, l: LaterDecisions<'_>) {
        let acct = self.account_index(l.call.tenant(), l.call.account(), false);
        if let Some(i) = acct {
            self.account_list[i]
                .first_alert
                .get_or_insert(l.decisions.first().map_or(l.call.start, |d| d.at));
            if l.decisions.iter().any(is_evidence) {
                let key = (
                    u32::try_from(i).unwrap_or(u32::MAX),
                    DestKey::of(l.destination),
                    l.call.start.div_euclid(3_600_000),
                );
                if self
                    .allowed_attack_calls
                    .contains_key(&(l.call.file, l.call.line))
                {
                    self.findings.mark(key);
                } else {
                    let cost = l.cost.map_or(0, |m| m.millis);
                    let in_cell = group_of(DestClass::of(l.destination)) != 0;
                    self.findings
                        .later_evidence(key, l.call.start, cost, in_cell);
                    if self.allowed_attack_calls.len() < MAX_ALLOWED_ATTACK_CALLS {
                        self.allowed_attack_calls
                            .insert((l.call.file, l.call.line), ());
                    }
                }
            }
        }
        self.note_decisions(l.call, l.decisions);
    }
}

/// Slots of `Report::account_memo` (a power of two).
pub(super) const ACCOUNT_MEMO: usize = 256;

/// A cheap hash of an account (its last bytes) and its tenant (its length) to a memo slot; a collision only costs
/// the map lookup.
pub(super) fn account_memo_slot(tenant: &str, account: &str) -> usize {
    let mut h = tenant.len() as u64;
    for &b in account.as_bytes().iter().rev().take(8) {
        h = (h << 8) | u64::from(b);
    }
    // Fibonacci hashing: the multiply carries every byte into the top bits, which pick the slot.
    (h.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 56) as usize & (ACCOUNT_MEMO - 1)
}

pub(super) fn bump(m: &mut FastMap<DestKey, Count>, k: DestKey, millis: i64) {
    if let Some(c) = m.get_mut(&k) {
        c.add(millis);
    } else if m.len() < MAX_DESTINATIONS {
        m.entry(k).or_default().add(millis);
    }
}

impl Report {
    /// The tally of an account, created when `create` and there is room (the cap keeps memory bounded).
    /// Moves the hour being tallied into `hours`.
    pub(super) fn close_hour(&mut self) {
        if let Some((k, h)) = self.open_hour.take() {
            self.hours.entry(k).or_default().merge(&h);
        }
    }

    pub(super) fn account_index(
        &mut self,
        tenant: &str,
        account: &str,
        create: bool,
    ) -> Option<usize> {
        let slot = account_memo_slot(tenant, account);
        if let Some(&i) = self.account_memo.get(slot)
            && let Some(a) = self.account_list.get(i as usize)
            && a.account == account
            && a.tenant == tenant
        {
            return Some(i as usize);
        }
        let found = self.account_index_slow(tenant, account, create);
        if let (Some(i), Some(m)) = (found, self.account_memo.get_mut(slot)) {
            *m = u32::try_from(i).unwrap_or(u32::MAX);
        }
        found
    }

    pub(super) fn account_index_slow(
        &mut self,
        tenant: &str,
        account: &str,
        create: bool,
    ) -> Option<usize> {
        self.key_buf.clear();
        self.key_buf.push_str(tenant);
        self.key_buf.push('\u{1f}');
        self.key_buf.push_str(account);
        if let Some(&i) = self.accounts.get(self.key_buf.as_str()) {
            return Some(i);
        }
        if !create || self.account_list.len() >= MAX_ACCOUNTS {
            return None;
        }
        let i = self.account_list.len();
        self.account_list.push(AccountTally {
            tenant: tenant.to_string(),
            account: account.to_string(),
            ..AccountTally::default()
        });
        self.accounts.insert(self.key_buf.clone(), i);
        Some(i)
    }

    pub(super) fn list(
        &mut self,
        call: &Call,
        dest: &numbering::Destination,
        top: Option<&Decision>,
    ) {
        self.listed_total += 1;
        if self.listed.len() >= MAX_LISTED {
            return;
        }
        let (rule, reason, reason_ja) = match top {
            Some(d) => (
                d.rule.as_str().to_owned(),
                d.reason.clone(),
                api::notify::sentence(d, api::notify::Lang::Ja),
            ),
            None => (
                "barred".into(),
                "the account was barred earlier".into(),
                "このアカウントは先に発信を停止されていました。".into(),
            ),
        };
        self.listed.push(ListedCall {
            at: call.start,
            file: call.file,
            line: call.line,
            call_id: call.call_id().to_string(),
            account: call.account().to_string(),
            dialed: call.dialed().to_string(),
            destination: DestKey::of(dest).to_string(),
            rule,
            reason,
            reason_ja,
        });
    }

    pub(super) fn sorted_alerts(&self) -> Vec<&AlertGroup> {
        let mut v: Vec<(&(String, String, &'static str), &AlertGroup)> =
            self.alerts.values().map(|g| (&g.key, g)).collect();
        // The group's key last: two accounts alerted at the same instant by the same rule must not come out
        // in the hash map's (random) order, or two runs over one file differ.
        v.sort_by(|(ka, a), (kb, b)| {
            b.first
                .level
                .cmp(&a.first.level)
                .then(a.first.at.cmp(&b.first.at))
                .then(a.first.rule.as_str().cmp(b.first.rule.as_str()))
                .then_with(|| ka.cmp(kb))
        });
        v.into_iter().map(|(_, g)| g).collect()
    }

    pub(super) fn top(&self, m: &FastMap<DestKey, Count>, n: usize) -> Vec<(DestKey, Count)> {
        let mut v: Vec<(DestKey, Count)> = m.iter().map(|(k, c)| (*k, *c)).collect();
        v.sort_by(|a, b| {
            b.1.millis
                .cmp(&a.1.millis)
                .then(b.1.calls.cmp(&a.1.calls))
                .then(a.0.cmp(&b.0))
        });
        v.truncate(n);
        v
    }

    pub(super) fn hit_accounts(&self) -> Vec<&AccountTally> {
        let mut v: Vec<&AccountTally> = self
            .account_list
            .iter()
            .filter(|a| a.blocked.calls > 0)
            .collect();
        v.sort_by(|a, b| {
            b.blocked
                .millis
                .cmp(&a.blocked.millis)
                .then_with(|| (&a.tenant, &a.account).cmp(&(&b.tenant, &b.account)))
        });
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_account_memo_never_mixes_up_accounts() {
        let mut r = Report::new(
            Mode::Backtest,
            cdr::Tz::Asia__Tokyo,
            Currency(*b"JPY"),
            false,
        )
        .expect("report");
        // Accounts that share a memo slot with extension 340 of tenant "acme" (same tenant length), and one of
        // another tenant with the same extension.
        let slot = account_memo_slot("acme", "340");
        let mut same_slot: Vec<String> = (0..100_000)
            .map(|n| n.to_string())
            .filter(|a| a != "340" && account_memo_slot("acme", a) == slot)
            .take(3)
            .collect();
        assert_eq!(same_slot.len(), 3, "the test needs colliding accounts");
        same_slot.push("340".into());
        let mut keys: Vec<(&str, &str)> = same_slot.iter().map(|a| ("acme", a.as_str())).collect();
        keys.push(("beta", "340"));
        keys.push(("", "340"));
        let first: Vec<usize> = keys
            .iter()
            .map(|(t, a)| r.account_index(t, a, true).expect("created"))
            .collect();
        let mut distinct = first.clone();
        distinct.sort_unstable();
        distinct.dedup();
        assert_eq!(distinct.len(), keys.len(), "each account has its own tally");
        // In any order, again and again, every key finds its own tally.
        for round in 0..3 {
            for (k, (t, a)) in keys.iter().enumerate().rev() {
                let i = r.account_index(t, a, round == 1).expect("known");
                assert_eq!(i, first[k], "{t}/{a}");
                assert_eq!(
                    (
                        r.account_list[i].tenant.as_str(),
                        r.account_list[i].account.as_str()
                    ),
                    (*t, *a)
                );
            }
        }
        assert_eq!(r.account_index("acme", "999999", false), None);
    }

    #[test]
    fn the_account_memo_spreads_extensions() {
        // A site's extensions (200-299) and a call centre's agents (300-359) must land in different slots nearly
        // always, or the memo would miss and cost more than the map alone.
        let mut slots: Vec<usize> = (200..360)
            .map(|n| account_memo_slot("callcentre", &n.to_string()))
            .collect();
        slots.sort_unstable();
        slots.dedup();
        assert!(slots.len() >= 100, "{} distinct slots of 160", slots.len());
    }
}
