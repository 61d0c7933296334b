//! The verdict of a replay, with its two kinds of finding kept apart.
//!
//! *Fraud or compromise* makes the verdict: a call is evidence of an attack when a fraud-kind rule acted on it
//! at the critical level, when tollguard's own bar refused it (in a replay only tollguard sets bars, after a
//! fraud finding), or when the policy refused a destination whose risk tier the policy blocks (the engine stops at
//! the first refusal, so the risk finding is not reported beside it). The attack then takes in the calls of the
//! same account to the same destination in the same burst (cells of an hour, at most [`BURST_GAP_HOURS`] quiet
//! hours apart, touching an hour with evidence): the first refused calls of a pump before its fraud finding belong
//! to it, a legitimate call to the same country a month earlier does not.
//!
//! *Outside your policy* is every other call the policy refused: grouped by account and destination, with the
//! lines of the policy file (the section of the profile that applies to the account) that would let them through.

use std::collections::{BTreeMap, BTreeSet};

use engine::{Decision, DestClass, FindingKind, Level, Millis, Policy, RuleId};
use numbering::{Destination, DialFlags};

use super::report::{AccountTally, Count, DestKey};

/// Most cells (account, destination, hour) kept of calls and of evidence: bounds memory on any input. Beyond
/// it, refused calls still count in the totals of the policy section, without a group.
const MAX_CELLS: usize = 1_000_000;

/// Quiet hours allowed inside one burst of calls from an account to a destination.
pub(super) const BURST_GAP_HOURS: i64 = 1;

/// Where a call is counted: the account's index in the tally, the destination, the hour since the epoch.
pub(super) type CellKey = (u32, DestKey, i64);

/// Why the policy refused a call, in the terms of the policy file.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Refusal {
    /// The country is not in `allow_countries`, or is in `deny_countries` (`denied`).
    Country { iso: &'static str, denied: bool },
    /// The class is not in `allow_classes`.
    Class(DestClass),
    /// A `deny_prefixes` entry (E.164 digits).
    Prefix(String),
    /// `off_hours_international = "block"`.
    OffHours,
    /// Another policy-kind rule (an operator's kill switch): no policy line lets it through.
    /// The rule's name.
    Other(&'static str),
}

impl Refusal {
    /// The rule that refused, as in the policy file and decisions.
    pub(super) fn rule_name(&self) -> &'static str {
        match self {
            Refusal::Country { .. } => RuleId::DestinationCountry.as_str(),
            Refusal::Class(_) => RuleId::DestinationClass.as_str(),
            Refusal::Prefix(_) => RuleId::DenyPrefix.as_str(),
            Refusal::OffHours => RuleId::OffHoursInternational.as_str(),
            Refusal::Other(r) => r,
        }
    }

    /// What refused the call, from the first policy-kind decision on it.
    pub(super) fn of(
        d: &Decision,
        dest: &Destination,
        policy: &Policy,
        who: (&str, &str),
    ) -> Refusal {
        let dp = &policy.profile(policy.account_profile(who.0, who.1)).dest;
        match d.rule {
            RuleId::DestinationCountry => match dest.country {
                Some(c) => Refusal::Country {
                    iso: c.iso2,
                    denied: dp.deny_countries.iter().any(|x| x == c.iso2),
                },
                None => Refusal::Other(d.rule.as_str()),
            },
            RuleId::DestinationClass => Refusal::Class(DestClass::of(dest)),
            RuleId::DenyPrefix => dest
                .e164
                .and_then(|e| {
                    dp.deny_prefixes
                        .iter()
                        .find(|p| e.digits().starts_with(p.as_str()))
                        .cloned()
                })
                .map_or(Refusal::Other(d.rule.as_str()), Refusal::Prefix),
            RuleId::OffHoursInternational => Refusal::OffHours,
            rule => Refusal::Other(rule.as_str()),
        }
    }
}

/// Whether a decision is evidence of an attack by itself: a fraud finding at the critical level that was acted
/// on, or a refusal by a bar (in a replay, bars are only set by tollguard after a fraud finding).
pub(super) fn is_evidence(d: &Decision) -> bool {
    d.level == Level::Critical
        && !d.shadow
        && (d.rule.kind() == FindingKind::Fraud || d.rule == RuleId::KillSwitch)
}

/// Whether a call refused by the policy went to a destination the policy's risk tiers refuse too: the risk
/// finding the engine did not report because the policy refused first (a named country's own tier yields to the
/// name, as in the engine; a number range's tier does not).
pub(super) fn masked_risk(policy: &Policy, who: (&str, &str), dest: &Destination) -> bool {
    let dp = &policy.profile(policy.account_profile(who.0, who.1)).dest;
    let iso = dest.country.map(|c| c.iso2);
    let exempt = iso.is_some_and(|i| dp.risk_exempt_countries.iter().any(|c| c == i));
    let by_name = dest.flags.contains(DialFlags::COUNTRY_RISK)
        && iso.is_some_and(|i| dp.allow_countries.iter().any(|c| c == i));
    !exempt && !by_name && dp.block_risk_at.is_some_and(|t| dest.risk >= t)
}

/// Calls of one account to one destination in one hour that carried no evidence themselves.
#[derive(Debug, Clone, Default)]
pub(super) struct Cell {
    pub(super) calls: Count,
    /// The calls the policy refused, and why (the first refusal).
    pub(super) refused: Count,
    pub(super) refusal: Option<Refusal>,
    pub(super) first_at: Option<Millis>,
    pub(super) last_at: Option<Millis>,
}

/// An attacked account: its calls that belong to the attack.
#[derive(Debug, Clone, Default)]
pub(super) struct AttackAccount {
    pub(super) calls: Count,
    /// Of them, the calls tollguard would have refused.
    pub(super) blocked: Count,
    pub(super) first_at: Option<Millis>,
    pub(super) dests: BTreeMap<DestKey, Count>,
}

impl AttackAccount {
    fn add(&mut self, dest: DestKey, at: Millis, all: Count, blocked: Count) {
        self.calls.calls += all.calls;
        self.calls.millis += all.millis;
        self.blocked.calls += blocked.calls;
        self.blocked.millis += blocked.millis;
        self.first_at = Some(self.first_at.map_or(at, |f| f.min(at)));
        let d = self.dests.entry(dest).or_default();
        d.calls += all.calls;
        d.millis += all.millis;
    }
}

/// Refused calls of one account to one destination outside any attack.
#[derive(Debug, Clone)]
pub(super) struct OutsideGroup {
    pub(super) account: u32,
    pub(super) dest: DestKey,
    pub(super) refusal: Refusal,
    pub(super) refused: Count,
    pub(super) first_at: Millis,
    pub(super) last_at: Millis,
}

/// Policy lines that would let the refused calls of one profile through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Suggestion {
    /// "defaults", "tenants.acme", "tenants.acme.accounts.205": the profile's table, without ".destinations".
    pub(super) section: String,
    /// `key = value` lines of `[<section>.destinations]`.
    pub(super) lines: Vec<String>,
}

impl Suggestion {
    /// The TOML to put in a policy file.
    pub(super) fn toml(&self) -> String {
        let mut s = format!("[{}.destinations]\n", self.section);
        for l in &self.lines {
            s.push_str(l);
            s.push('\n');
        }
        s
    }
}

/// The verdict, once every call is in.
#[derive(Debug, Default)]
pub(super) struct Resolved {
    /// Attacked accounts (index into the tally's account list), most money first.
    pub(super) accounts: Vec<(u32, AttackAccount)>,
    /// The attack's first call.
    pub(super) since: Option<Millis>,
    pub(super) calls: Count,
    pub(super) blocked: Count,
    pub(super) dests: Vec<(DestKey, Count)>,
    /// Outside the policy, most calls first.
    pub(super) outside: Vec<OutsideGroup>,
    pub(super) outside_total: Count,
    pub(super) suggestions: Vec<Suggestion>,
}

impl Resolved {
    pub(super) fn hit(&self) -> bool {
        !self.accounts.is_empty()
    }
}

/// The evidence and the cells, gathered call by call.
#[derive(Debug, Default)]
pub(super) struct Findings {
    attack: BTreeMap<u32, AttackAccount>,
    evidence: BTreeSet<CellKey>,
    cells: BTreeMap<CellKey, Cell>,
    /// Refused calls beyond [`MAX_CELLS`].
    overflow: Count,
    /// Calls with a fraud-kind warning and no evidence (allowed, worth a look).
    pub(super) fraud_warned: u64,
}

impl Findings {
    /// A call with evidence of its own: it belongs to the attack of its account.
    pub(super) fn evidence_call(&mut self, key: CellKey, at: Millis, cost: i64, blocked: bool) {
        if self.evidence.len() < MAX_CELLS || self.evidence.contains(&key) {
            self.evidence.insert(key);
        }
        let one = Count {
            calls: 1,
            millis: cost,
        };
        let refused = if blocked { one } else { Count::default() };
        self.attack
            .entry(key.0)
            .or_default()
            .add(key.1, at, one, refused);
    }

    /// Evidence at a cell whose call is counted already.
    pub(super) fn mark(&mut self, key: CellKey) {
        if self.evidence.len() < MAX_CELLS {
            self.evidence.insert(key);
        }
    }

    /// Evidence raised after a call (pumping and money are seen when calls end) on a call already counted in a
    /// cell, if `in_cell`: it moves to the attack.
    pub(super) fn later_evidence(&mut self, key: CellKey, at: Millis, cost: i64, in_cell: bool) {
        if in_cell
            && let Some(c) = self.cells.get_mut(&key)
            && c.calls.calls > 0
        {
            c.calls.calls -= 1;
            c.calls.millis -= cost;
        }
        self.evidence_call(key, at, cost, false);
    }

    /// A call without evidence, kept when it went abroad (`watched`) or was refused.
    pub(super) fn other_call(
        &mut self,
        key: CellKey,
        at: Millis,
        cost: i64,
        refusal: Option<Refusal>,
    ) {
        let room = self.cells.len() < MAX_CELLS;
        let cell = match self.cells.get_mut(&key) {
            Some(c) => c,
            None if room => self.cells.entry(key).or_default(),
            None => {
                if refusal.is_some() {
                    self.overflow.add(cost);
                }
                return;
            }
        };
        cell.calls.add(cost);
        cell.first_at = Some(cell.first_at.map_or(at, |f| f.min(at)));
        cell.last_at = Some(cell.last_at.map_or(at, |l| l.max(at)));
        if let Some(r) = refusal {
            cell.refused.add(cost);
            cell.refusal.get_or_insert(r);
        }
    }

    /// Bursts of cells touching evidence join the attack; the refused rest is outside the policy.
    pub(super) fn resolve(&mut self, accounts: &[AccountTally], policy: &Policy) -> Resolved {
        let mut attack = std::mem::take(&mut self.attack);
        let mut outside: BTreeMap<(u32, DestKey), OutsideGroup> = BTreeMap::new();
        let cells = std::mem::take(&mut self.cells);
        let mut it = cells.into_iter().peekable();
        while let Some(((acct, dest, hour), cell)) = it.next() {
            let mut burst = vec![(hour, cell)];
            while let Some(((a, d, h), _)) = it.peek() {
                let last = burst.last().map_or(hour, |b| b.0);
                if *a != acct || *d != dest || *h > last + 1 + BURST_GAP_HOURS {
                    break;
                }
                if let Some((k, c)) = it.next() {
                    burst.push((k.2, c));
                }
            }
            let (start, end) = (hour, burst.last().map_or(hour, |b| b.0));
            let covered = self
                .evidence
                .range((acct, dest, start - 1)..=(acct, dest, end + 1))
                .next()
                .is_some();
            for (_, c) in burst {
                let Some(first) = c.first_at else { continue };
                if covered {
                    attack
                        .entry(acct)
                        .or_default()
                        .add(dest, first, c.calls, c.refused);
                } else if let Some(refusal) = c.refusal.filter(|_| c.refused.calls > 0) {
                    let g = outside.entry((acct, dest)).or_insert(OutsideGroup {
                        account: acct,
                        dest,
                        refusal,
                        refused: Count::default(),
                        first_at: first,
                        last_at: first,
                    });
                    g.refused.calls += c.refused.calls;
                    g.refused.millis += c.refused.millis;
                    g.first_at = g.first_at.min(first);
                    g.last_at = g.last_at.max(c.last_at.unwrap_or(first));
                }
            }
        }
        let mut r = Resolved::default();
        let mut dests: BTreeMap<DestKey, Count> = BTreeMap::new();
        for (i, a) in attack {
            r.calls.calls += a.calls.calls;
            r.calls.millis += a.calls.millis;
            r.blocked.calls += a.blocked.calls;
            r.blocked.millis += a.blocked.millis;
            r.since = match (r.since, a.first_at) {
                (Some(s), Some(f)) => Some(s.min(f)),
                (s, f) => s.or(f),
            };
            for (d, c) in &a.dests {
                let x = dests.entry(*d).or_default();
                x.calls += c.calls;
                x.millis += c.millis;
            }
            r.accounts.push((i, a));
        }
        r.accounts
            .sort_by(|a, b| b.1.calls.millis.cmp(&a.1.calls.millis).then(a.0.cmp(&b.0)));
        r.dests = dests.into_iter().collect();
        r.dests
            .sort_by(|a, b| b.1.millis.cmp(&a.1.millis).then(a.0.cmp(&b.0)));
        r.outside = outside.into_values().collect();
        r.outside.sort_by(|a, b| {
            b.refused
                .calls
                .cmp(&a.refused.calls)
                .then(a.account.cmp(&b.account))
                .then(a.dest.cmp(&b.dest))
        });
        r.outside_total = self.overflow;
        for g in &r.outside {
            r.outside_total.calls += g.refused.calls;
            r.outside_total.millis += g.refused.millis;
        }
        r.suggestions = suggestions(&r.outside, accounts, policy);
        r
    }
}

/// The policy lines that let the refused calls through: per profile that applies to their accounts, the
/// `[… .destinations]` keys with their new whole values (a layer's list replaces the inherited one, so the
/// lists keep what the profile allows already).
fn suggestions(
    outside: &[OutsideGroup],
    accounts: &[AccountTally],
    policy: &Policy,
) -> Vec<Suggestion> {
    let mut by_profile: BTreeMap<usize, (String, BTreeSet<Refusal>)> = BTreeMap::new();
    for g in outside {
        let Some(a) = accounts.get(g.account as usize) else {
            continue;
        };
        let idx = policy.account_profile(&a.tenant, &a.account);
        let section = if idx == 0 {
            "defaults".to_owned()
        } else if idx == policy.tenant_profile(&a.tenant) {
            format!("tenants.{}", toml_key(&a.tenant))
        } else {
            format!(
                "tenants.{}.accounts.{}",
                toml_key(&a.tenant),
                toml_key(&a.account)
            )
        };
        by_profile
            .entry(idx)
            .or_insert_with(|| (section, BTreeSet::new()))
            .1
            .insert(g.refusal.clone());
    }
    by_profile
        .into_iter()
        .filter_map(|(idx, (section, refusals))| {
            let lines = profile_lines(&policy.profile(idx).dest, &refusals);
            (!lines.is_empty()).then_some(Suggestion { section, lines })
        })
        .collect()
}

fn profile_lines(dp: &engine::policy::DestPolicy, refusals: &BTreeSet<Refusal>) -> Vec<String> {
    let mut allow: BTreeSet<String> = dp.allow_countries.iter().cloned().collect();
    let mut deny: BTreeSet<String> = dp.deny_countries.iter().cloned().collect();
    let mut classes: BTreeSet<DestClass> = dp.allow_classes.classes().into_iter().collect();
    let mut prefixes: BTreeSet<String> = dp.deny_prefixes.iter().cloned().collect();
    let (mut lines, mut off_hours) = (Vec::new(), false);
    let (allow0, deny0, classes0, prefixes0) =
        (allow.len(), deny.len(), classes.len(), prefixes.len());
    for r in refusals {
        match r {
            Refusal::Country { iso, denied: true } => {
                deny.remove(*iso);
            }
            Refusal::Country { iso, denied: false } => {
                allow.insert((*iso).to_owned());
            }
            // Premium-rate and satellite numbers are what attacks call: never suggested, an admin who needs
            // them adds them knowingly.
            Refusal::Class(DestClass::Premium | DestClass::Satellite) => {}
            Refusal::Class(c) => {
                classes.insert(*c);
            }
            Refusal::Prefix(p) => {
                prefixes.remove(p);
            }
            Refusal::OffHours => off_hours = true,
            Refusal::Other(_) => {}
        }
    }
    let list = |v: Vec<String>| {
        let quoted: Vec<String> = v.iter().map(|x| format!("\"{x}\"")).collect();
        format!("[{}]", quoted.join(", "))
    };
    if classes.len() != classes0 {
        let names = classes.iter().map(|c| c.name().to_owned()).collect();
        lines.push(format!("allow_classes = {}", list(names)));
    }
    if allow.len() != allow0 {
        lines.push(format!(
            "allow_countries = {}",
            list(allow.into_iter().collect())
        ));
    }
    if deny.len() != deny0 {
        lines.push(format!(
            "deny_countries = {}",
            list(deny.into_iter().collect())
        ));
    }
    if prefixes.len() != prefixes0 {
        let plus = prefixes.iter().map(|p| format!("+{p}")).collect();
        lines.push(format!("deny_prefixes = {}", list(plus)));
    }
    if off_hours {
        lines.push("off_hours_international = \"warn\"".to_owned());
    }
    lines
}

/// A TOML key: bare when it can be, else quoted.
fn toml_key(k: &str) -> String {
    let bare = !k.is_empty()
        && k.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if bare {
        k.to_owned()
    } else {
        let escaped: String = k
            .chars()
            .flat_map(|c| match c {
                '"' => vec!['\\', '"'],
                '\\' => vec!['\\', '\\'],
                c if c.is_control() => vec![],
                c => vec![c],
            })
            .collect();
        format!("\"{escaped}\"")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggested_lines_keep_what_the_profile_allows_and_load_as_a_policy() {
        let policy =
            Policy::from_toml_str("[defaults.destinations]\nallow_countries = [\"US\"]\n").unwrap();
        let refusals: BTreeSet<Refusal> = [
            Refusal::Country {
                iso: "CN",
                denied: false,
            },
            Refusal::Class(DestClass::Unknown),
            Refusal::Class(DestClass::Satellite),
            Refusal::OffHours,
        ]
        .into_iter()
        .collect();
        let lines = profile_lines(&policy.profile(0).dest, &refusals);
        let s = Suggestion {
            section: "defaults".into(),
            lines,
        };
        let toml = s.toml();
        assert!(
            toml.contains("allow_countries = [\"CN\", \"US\"]"),
            "{toml}"
        );
        let p = Policy::from_toml_str(&toml).expect("the suggestion is a valid policy");
        let d = &p.profile(0).dest;
        assert!(d.country_allowed("CN") && d.country_allowed("US"));
        assert!(d.allow_classes.contains(DestClass::Unknown));
        assert!(
            !d.allow_classes.contains(DestClass::Satellite),
            "never suggested"
        );
        assert!(d.allow_classes.contains(DestClass::Mobile), "kept");
        assert_eq!(
            d.off_hours_international,
            engine::policy::OffHoursAction::Warn
        );
    }

    const CHINA: DestKey = DestKey::Country("CN", "China", 86);
    const HOUR: i64 = 3_600_000;

    fn refused() -> Option<Refusal> {
        Some(Refusal::Country {
            iso: "CN",
            denied: false,
        })
    }

    /// A month of routine refused calls to China, then a burst to China whose fraud finding comes only at its
    /// fourth call: the burst is the attack from its first call, the routine calls stay outside the policy.
    #[test]
    fn the_attack_starts_at_its_bursts_first_call_not_at_an_earlier_routine_call() {
        let mut f = Findings::default();
        let burst = 20_000i64; // hours since the epoch
        for day in 0..30 {
            let h = burst - 24 * 40 + day * 24;
            f.other_call((0, CHINA, h), h * HOUR + 600_000, 100, refused());
        }
        // Ext 1 calls China routinely in the same hours: not part of ext 0's attack.
        f.other_call((1, CHINA, burst), burst * HOUR, 100, refused());
        for k in 0..3 {
            let at = burst * HOUR + 1_000 * k;
            f.other_call((0, CHINA, burst), at, 500, refused());
        }
        f.evidence_call((0, CHINA, burst), burst * HOUR + 5_000, 500, true);
        f.evidence_call((0, CHINA, burst + 1), (burst + 1) * HOUR, 500, true);
        let accounts = vec![AccountTally::default(), AccountTally::default()];
        let r = f.resolve(&accounts, &Policy::default());
        assert!(r.hit());
        assert_eq!(r.since, Some(burst * HOUR), "the burst's first call");
        assert_eq!(r.calls.calls, 5);
        assert_eq!(r.blocked.calls, 5);
        assert_eq!(r.accounts.len(), 1, "only ext 0 was attacked");
        let outside: Vec<(u32, u64)> = r
            .outside
            .iter()
            .map(|g| (g.account, g.refused.calls))
            .collect();
        assert_eq!(outside, [(0, 30), (1, 1)]);
        assert_eq!(
            r.suggestions,
            [Suggestion {
                section: "defaults".into(),
                lines: vec!["allow_countries = [\"CN\"]".into()],
            }]
        );
    }

    #[test]
    fn refusals_alone_make_no_hit() {
        let mut f = Findings::default();
        for h in 0..100 {
            f.other_call((0, CHINA, h), h * HOUR, 100, refused());
        }
        let r = f.resolve(&[AccountTally::default()], &Policy::default());
        assert!(!r.hit());
        assert_eq!(r.outside_total.calls, 100);
    }

    #[test]
    fn keys_that_are_not_bare_are_quoted() {
        assert_eq!(toml_key("acme"), "acme");
        assert_eq!(toml_key("a b\"c"), "\"a b\\\"c\"");
        assert_eq!(toml_key(""), "\"\"");
    }
}
