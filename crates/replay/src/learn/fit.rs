//! The fitting: routine destinations per tenant and account, the site's hours, and thresholds from the busiest
//! windows of each day at a high quantile with headroom, never below a floor. Each result keeps its basis (how
//! many days, which quantile, what value) for the policy file's comments.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{Datelike, NaiveDate, Timelike};
use engine::{DestClass, Millis, Policy, RuleId};
use numbering::RiskTier;

use super::LearnOptions;
use super::observe::{Observed, Seen};
use crate::Site;

/// How a threshold was reached: the busiest window of each day (or month) of the history, a quantile of those,
/// and the headroom and floor applied.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Basis {
    /// Days (account-days for account rules, tenant-days for tenant rules; months for month rules) measured.
    pub samples: usize,
    pub quantile: f64,
    /// The quantile's value: calls, or whole currency units.
    pub value: i64,
    pub warning: i64,
    pub critical: i64,
    /// The floors applied (warning, critical).
    pub floor: (i64, i64),
}

/// One rule's fitted thresholds.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleFit {
    pub rule: RuleId,
    pub basis: Basis,
    /// Off-hours thresholds (minute and hour rules), from the windows of off-hours calls only.
    pub off_hours: Option<Basis>,
}

/// A destination (a country, or a class such as satellite) and how it was called.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fitted {
    /// ISO code of a country, or a class name ("premium", "satellite").
    pub key: String,
    pub name: String,
    pub days: usize,
    pub accounts: usize,
    pub calls: usize,
    pub risk: RiskTier,
    /// The risk tier is the country's own: an explicit allow makes its block a warning.
    pub country_risk: bool,
    /// Not learned because attack-looking calls went there (the rule that flagged them); None: allowed, or
    /// not routine.
    pub attacked: Option<RuleId>,
}

/// What is learned for one tenant (`account` None) or one account of it.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerFit {
    pub tenant: String,
    pub account: Option<String>,
    /// Destinations allowed at this layer (for an account: besides its tenant's).
    pub allowed: Vec<Fitted>,
    /// Destinations called but not learned (too rare, or attacked), for the comments.
    pub refused: Vec<Fitted>,
    /// `off_hours_international` learned for the layer ("block", or "allow" for an account that routinely calls
    /// abroad out of hours) and on how many days it did.
    pub off_hours_international: Option<(&'static str, usize)>,
    /// Thresholds (tenant layers only: account rules are fitted over the tenant's accounts pooled).
    pub rules: Vec<RuleFit>,
}

/// The site's business hours learned from its traffic.
#[derive(Debug, Clone, PartialEq)]
pub struct SiteHours {
    pub open_minute: u16,
    pub close_minute: u16,
    pub days: [bool; 7],
    /// The busiest hour's calls, and the first and last hour of the day with at least a tenth of it.
    pub busiest_hour_calls: usize,
    pub first_hour: u32,
    pub last_hour: u32,
    /// Per weekday (Monday first): dates in the history, dates with calls, calls.
    pub weekdays: [(usize, usize, usize); 7],
}

/// A learned policy with everything needed to write it and explain it.
#[derive(Debug, Clone)]
pub struct Learned {
    /// The policy the site ran with (safety settings and everything not fitted come from it).
    pub base: Policy,
    pub hours: Option<SiteHours>,
    pub layers: Vec<LayerFit>,
    pub calls: usize,
    /// Calls used for fitting (not excluded, not emergency).
    pub used: usize,
    /// Calls excluded as attack-looking, by the rule that flagged them (directly, in the burst).
    pub excluded: Vec<(RuleId, usize, usize)>,
    /// Of the excluded calls, those whose record was labelled fraud (scenario data), when any label was there.
    pub excluded_labelled_fraud: usize,
    /// Local dates of the first and last call.
    pub span: Option<(NaiveDate, NaiveDate)>,
    pub options: LearnOptions,
}

/// Floors (warning, critical) of a rule, and its off-hours floors when it has off-hours thresholds. Money
/// floors are in JPY and scaled for other currencies (see [`money_scale`]).
fn floors(rule: RuleId) -> ((i64, i64), Option<(i64, i64)>) {
    use RuleId as R;
    match rule {
        R::VelocityAccountMinute => ((3, 5), Some((2, 3))),
        R::VelocityAccountHour => ((15, 30), Some((5, 10))),
        R::VelocityAccountDay => ((60, 120), None),
        R::VelocityTenantMinute => ((5, 10), Some((3, 5))),
        R::VelocityTenantHour => ((60, 120), Some((10, 20))),
        R::VelocityTenantDay => ((300, 600), None),
        R::MoneyAccountHour => ((1000, 2000), Some((500, 1000))),
        R::MoneyAccountDay => ((2000, 5000), None),
        R::MoneyAccountMonth => ((10_000, 30_000), None),
        R::MoneyTenantHour => ((2000, 5000), Some((1000, 2000))),
        R::MoneyTenantDay => ((5000, 10_000), None),
        R::MoneyTenantMonth => ((30_000, 100_000), None),
        _ => ((0, 0), None),
    }
}

/// Money floors are written for yen: other currencies scale them by their spend floor against yen's 5,000.
fn money_scale(site: &Site) -> f64 {
    site.policy.site.spend_floor as f64 / 5000.0
}

/// The nearest-rank quantile of `v` (sorted here); 0 for no samples.
pub(crate) fn quantile(v: &mut [i64], q: f64) -> i64 {
    if v.is_empty() {
        return 0;
    }
    v.sort_unstable();
    let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
    v.get(rank - 1).copied().unwrap_or(0)
}

fn basis(mut samples: Vec<i64>, floor: (i64, i64), opts: &LearnOptions) -> Basis {
    let value = quantile(&mut samples, opts.quantile);
    let critical = floor.1.max((value as f64 * opts.headroom).ceil() as i64);
    let warning = floor
        .0
        .max((value as f64 * opts.warn_headroom).ceil() as i64);
    Basis {
        samples: samples.len(),
        quantile: opts.quantile,
        value,
        warning: warning.min(critical),
        critical,
        floor,
    }
}

/// A call as the fitting uses it: its local date and whether it fell outside the learned hours.
struct Use<'a> {
    call: &'a Observed,
    date: NaiveDate,
    off: bool,
    /// Cost counted by the money rules (watched classes only), thousandths.
    money: i64,
}

pub(crate) fn fit(site: &Site, seen: &Seen, _excluded: Vec<usize>, opts: &LearnOptions) -> Learned {
    let tz = site.time_zone();
    let local = |at: Millis| {
        chrono::DateTime::from_timestamp_millis(at)
            .unwrap_or_default()
            .with_timezone(&tz)
    };
    let usable: Vec<&Observed> = seen
        .calls
        .iter()
        .filter(|c| c.excluded.is_none() && !c.emergency && c.class != DestClass::Internal)
        .collect();
    let span = seen.calls.iter().map(|c| local(c.start).date_naive()).fold(
        None,
        |acc: Option<(NaiveDate, NaiveDate)>, d| {
            Some(acc.map_or((d, d), |(a, b)| (a.min(d), b.max(d))))
        },
    );
    let hours = span.and_then(|s| fit_hours(site, &usable, s, opts, &local));
    let mut calendar = site.policy.site.calendar.clone();
    if let Some(h) = &hours {
        calendar.open_minute = h.open_minute;
        calendar.close_minute = h.close_minute;
        calendar.open_days = h.days;
    }
    let uses: Vec<Use<'_>> = usable
        .iter()
        .map(|c| {
            let t = local(c.start);
            let date = t.date_naive();
            let minute = (t.hour() * 60 + t.minute()) as u16;
            let off = !(calendar.is_open_day(date)
                && minute >= calendar.open_minute
                && minute < calendar.close_minute);
            let watch = site
                .policy
                .profile(site.policy.tenant_profile(&c.tenant))
                .dest
                .watch_classes;
            let money = if watch.contains(c.class) {
                c.cost_millis
            } else {
                0
            };
            Use {
                call: c,
                date,
                off,
                money,
            }
        })
        .collect();

    let mut by_tenant: BTreeMap<&str, Vec<&Use<'_>>> = BTreeMap::new();
    for u in &uses {
        by_tenant.entry(u.call.tenant.as_str()).or_default().push(u);
    }
    let tainted = taints(&seen.calls, opts.routine_days);
    let mut layers = Vec::new();
    for (tenant, calls) in &by_tenant {
        layers.extend(fit_tenant(site, tenant, calls, &tainted, opts));
    }

    let mut excluded: BTreeMap<&str, (RuleId, usize, usize)> = BTreeMap::new();
    let mut excluded_labelled_fraud = 0;
    for c in &seen.calls {
        if let Some(e) = c.excluded {
            let slot = excluded.entry(e.rule.as_str()).or_insert((e.rule, 0, 0));
            if e.direct {
                slot.1 += 1;
            } else {
                slot.2 += 1;
            }
            excluded_labelled_fraud += usize::from(c.labelled_fraud);
        }
    }
    let mut excluded: Vec<_> = excluded.into_values().collect();
    excluded.sort_by_key(|(_, d, b)| std::cmp::Reverse(d + b));
    Learned {
        base: site.policy.clone(),
        hours,
        layers,
        calls: seen.calls.len(),
        used: uses.len(),
        excluded,
        excluded_labelled_fraud,
        span,
        options: *opts,
    }
}

/// Destinations (tenant, key) where attack-looking calls went, with the rule that flagged the first of them.
/// One exception: a destination the site already called routinely — clean calls on `routine_days` distinct
/// days — before its first flagged call, and flagged on one day only, keeps being learnable (the flagged calls
/// are still left out): a night caller's one busy night does not unlearn the US. A destination that first
/// shows up with an attack, or is flagged night after night as a slow ramp grows, is never learned.
fn taints(calls: &[Observed], routine_days: u32) -> HashMap<(String, String), RuleId> {
    const DAY_MS: Millis = 86_400_000;
    #[derive(Default)]
    struct Seen {
        clean_days: BTreeSet<Millis>,
        established_before_flag: Option<bool>,
        flagged_days: BTreeSet<Millis>,
        rule: Option<RuleId>,
    }
    // Only destinations a policy allows by name: domestic classes are the base policy's, never learned.
    let learnable = |c: &Observed| {
        matches!(
            c.class,
            DestClass::International | DestClass::Premium | DestClass::Satellite
        )
    };
    let mut order: Vec<&Observed> = calls.iter().filter(|c| learnable(c)).collect();
    order.sort_by_key(|c| c.start);
    let mut seen: HashMap<(String, String), Seen> = HashMap::new();
    for c in order {
        let s = seen
            .entry((c.tenant.clone(), c.destination_key()))
            .or_default();
        let day = c.start.div_euclid(DAY_MS);
        match c.excluded {
            Some(e) if e.direct => {
                s.established_before_flag
                    .get_or_insert(s.clean_days.len() >= routine_days as usize);
                s.flagged_days.insert(day);
                s.rule.get_or_insert(e.rule);
            }
            Some(_) => {}
            None => {
                s.clean_days.insert(day);
            }
        }
    }
    seen.into_iter()
        .filter_map(|(key, s)| {
            let rule = s.rule?;
            let spared = s.established_before_flag == Some(true) && s.flagged_days.len() == 1;
            (!spared).then_some((key, rule))
        })
        .collect()
}

/// Business hours: the first and last hour of the day with at least a tenth of the busiest hour's calls on the
/// days the site works, widened by the margin; business days: weekdays with calls on at least half their dates
/// and at least a fifth of the busiest weekday's calls per date.
fn fit_hours<T: Timelike + Datelike>(
    site: &Site,
    calls: &[&Observed],
    (first, last): (NaiveDate, NaiveDate),
    opts: &LearnOptions,
    local: &impl Fn(Millis) -> T,
) -> Option<SiteHours> {
    let cal = &site.policy.site.calendar;
    let mut weekdays = [(0usize, 0usize, 0usize); 7];
    let mut active: BTreeSet<NaiveDate> = BTreeSet::new();
    let mut per_date: HashMap<NaiveDate, usize> = HashMap::new();
    for c in calls {
        let t = local(c.start);
        if let Some(d) = NaiveDate::from_ymd_opt(t.year(), t.month(), t.day()) {
            active.insert(d);
            *per_date.entry(d).or_default() += 1;
        }
    }
    let mut d = first;
    while d <= last {
        let closed = cal.holidays.is_holiday(d) || cal.extra_closed.contains(&d);
        if !closed && let Some(w) = weekdays.get_mut(d.weekday().num_days_from_monday() as usize) {
            w.0 += 1;
            if active.contains(&d) {
                w.1 += 1;
                w.2 += per_date.get(&d).copied().unwrap_or(0);
            }
        }
        d = d.succ_opt()?;
    }
    let per_day = |w: &(usize, usize, usize)| {
        if w.0 == 0 {
            0.0
        } else {
            w.2 as f64 / w.0 as f64
        }
    };
    let busiest = weekdays.iter().map(per_day).fold(0.0, f64::max);
    if busiest <= 0.0 {
        return None;
    }
    let mut days = [false; 7];
    for (i, w) in weekdays.iter().enumerate() {
        if let Some(slot) = days.get_mut(i) {
            *slot = w.1 * 2 >= w.0 && per_day(w) * 5.0 >= busiest;
        }
    }
    let mut by_hour = [0usize; 24];
    for c in calls {
        let t = local(c.start);
        let wd = t.weekday_num();
        if days.get(wd).copied().unwrap_or(false)
            && let Some(h) = by_hour.get_mut(t.hour() as usize)
        {
            *h += 1;
        }
    }
    let top = by_hour.iter().copied().max().unwrap_or(0);
    let busy = |n: &usize| *n * 10 >= top && *n > 0;
    let first_hour = by_hour.iter().position(busy)? as u32;
    let last_hour = by_hour.iter().rposition(busy)? as u32;
    let open = (first_hour * 60).saturating_sub(u32::from(opts.hours_margin_min));
    let close = ((last_hour + 1) * 60 + u32::from(opts.hours_margin_min)).min(24 * 60);
    Some(SiteHours {
        open_minute: open as u16,
        close_minute: close as u16,
        days,
        busiest_hour_calls: top,
        first_hour,
        last_hour,
        weekdays,
    })
}

/// `Datelike::weekday` as an index from Monday.
trait WeekdayNum {
    fn weekday_num(&self) -> usize;
}
impl<T: Datelike> WeekdayNum for T {
    fn weekday_num(&self) -> usize {
        self.weekday().num_days_from_monday() as usize
    }
}

#[derive(Default)]
struct DestTally<'a> {
    days: BTreeSet<NaiveDate>,
    accounts: BTreeSet<&'a str>,
    calls: usize,
    by_account: BTreeMap<&'a str, BTreeSet<NaiveDate>>,
    first: Option<&'a Observed>,
}

/// The tenant's layer and the layers of its accounts that differ from it.
fn fit_tenant(
    site: &Site,
    tenant: &str,
    calls: &[&Use<'_>],
    tainted: &HashMap<(String, String), RuleId>,
    opts: &LearnOptions,
) -> Vec<LayerFit> {
    let mut dests: BTreeMap<String, DestTally<'_>> = BTreeMap::new();
    let mut off_abroad: BTreeMap<&str, BTreeSet<NaiveDate>> = BTreeMap::new();
    for u in calls {
        let c = u.call;
        let learnable = matches!(
            c.class,
            DestClass::International | DestClass::Premium | DestClass::Satellite
        );
        if !learnable {
            continue;
        }
        let t = dests.entry(c.destination_key()).or_default();
        t.days.insert(u.date);
        t.accounts.insert(c.account.as_str());
        t.calls += 1;
        t.by_account
            .entry(c.account.as_str())
            .or_default()
            .insert(u.date);
        t.first.get_or_insert(c);
        if u.off {
            off_abroad
                .entry(c.account.as_str())
                .or_default()
                .insert(u.date);
        }
    }
    // Destinations attacked but never called otherwise still get a comment.
    let mut refused_only: Vec<Fitted> = tainted
        .iter()
        .filter(|((t, k), _)| t == tenant && !dests.contains_key(k))
        .map(|((_, k), rule)| Fitted {
            key: k.clone(),
            name: k.clone(),
            days: 0,
            accounts: 0,
            calls: 0,
            risk: RiskTier::Medium,
            country_risk: false,
            attacked: Some(*rule),
        })
        .collect();
    refused_only.sort_by(|a, b| a.key.cmp(&b.key));

    let fitted = |key: &str, t: &DestTally<'_>, days: usize, accounts: usize| {
        let first = t.first;
        Fitted {
            key: key.to_owned(),
            name: first
                .map(|c| {
                    if c.class == DestClass::International {
                        c.country_name.to_owned()
                    } else {
                        c.class.as_str().to_owned()
                    }
                })
                .unwrap_or_default(),
            days,
            accounts,
            calls: t.calls,
            risk: first.map_or(RiskTier::Medium, |c| c.risk),
            country_risk: first.is_some_and(|c| c.country_risk),
            attacked: tainted.get(&(tenant.to_owned(), key.to_owned())).copied(),
        }
    };
    let mut tenant_layer = LayerFit {
        tenant: tenant.to_owned(),
        account: None,
        allowed: Vec::new(),
        refused: refused_only,
        off_hours_international: None,
        rules: fit_rules(site, calls, opts),
    };
    let mut accounts: BTreeMap<&str, LayerFit> = BTreeMap::new();
    let account_layer = |a: &str| LayerFit {
        tenant: tenant.to_owned(),
        account: Some(a.to_owned()),
        allowed: Vec::new(),
        refused: Vec::new(),
        off_hours_international: None,
        rules: Vec::new(),
    };
    for (key, t) in &dests {
        let f = fitted(key, t, t.days.len(), t.accounts.len());
        let routine =
            f.days >= opts.routine_days as usize && f.accounts >= opts.routine_accounts as usize;
        if f.attacked.is_some() {
            tenant_layer.refused.push(f);
            continue;
        }
        if routine {
            tenant_layer.allowed.push(f);
            continue;
        }
        let mut any = false;
        for (a, days) in &t.by_account {
            if days.len() >= opts.routine_days as usize {
                any = true;
                accounts
                    .entry(a)
                    .or_insert_with(|| account_layer(a))
                    .allowed
                    .push(fitted(key, t, days.len(), 1));
            }
        }
        if !any {
            tenant_layer.refused.push(f);
        }
    }
    // Out of hours abroad: blocked for the tenant unless its accounts do it routinely; allowed for those that do.
    tenant_layer.off_hours_international = Some(("block", 0));
    for (a, days) in &off_abroad {
        if days.len() >= opts.routine_days as usize {
            let layer = accounts.entry(a).or_insert_with(|| account_layer(a));
            layer.off_hours_international = Some(("allow", days.len()));
        }
    }
    let mut out = vec![tenant_layer];
    out.extend(accounts.into_values());
    out
}

const ACCOUNT_RULES: [(RuleId, i64); 3] = [
    (RuleId::VelocityAccountMinute, 60),
    (RuleId::VelocityAccountHour, 3600),
    (RuleId::VelocityAccountDay, 86_400),
];
const TENANT_RULES: [(RuleId, i64); 3] = [
    (RuleId::VelocityTenantMinute, 60),
    (RuleId::VelocityTenantHour, 3600),
    (RuleId::VelocityTenantDay, 86_400),
];
const ACCOUNT_MONEY: [(RuleId, i64); 2] = [
    (RuleId::MoneyAccountHour, 3600),
    (RuleId::MoneyAccountDay, 86_400),
];
const TENANT_MONEY: [(RuleId, i64); 2] = [
    (RuleId::MoneyTenantHour, 3600),
    (RuleId::MoneyTenantDay, 86_400),
];

/// The velocity and money thresholds of a tenant: account rules over its accounts' days pooled, tenant rules
/// over its own days.
fn fit_rules(site: &Site, calls: &[&Use<'_>], opts: &LearnOptions) -> Vec<RuleFit> {
    let mut per_account: BTreeMap<&str, Vec<&Use<'_>>> = BTreeMap::new();
    for u in calls {
        per_account
            .entry(u.call.account.as_str())
            .or_default()
            .push(u);
    }
    let mut all: Vec<&Use<'_>> = calls.to_vec();
    all.sort_by_key(|u| u.call.start);
    for v in per_account.values_mut() {
        v.sort_by_key(|u| u.call.start);
    }
    let groups: Vec<&Vec<&Use<'_>>> = per_account.values().collect();
    let scale = money_scale(site);
    let mut out = Vec::new();
    let mut push = |rule: RuleId, samples: (Vec<i64>, Vec<i64>), money: bool| {
        let ((w, c), off) = floors(rule);
        let s = |(w, c): (i64, i64)| {
            if money {
                (
                    (w as f64 * scale).ceil() as i64,
                    (c as f64 * scale).ceil() as i64,
                )
            } else {
                (w, c)
            }
        };
        out.push(RuleFit {
            rule,
            basis: basis(samples.0, s((w, c)), opts),
            off_hours: off.map(|f| basis(samples.1, s(f), opts)),
        });
    };
    for (rule, secs) in ACCOUNT_RULES {
        push(rule, peaks(&groups, secs, |_| 1), false);
    }
    for (rule, secs) in TENANT_RULES {
        push(rule, peaks(&[&all], secs, |_| 1), false);
    }
    let units = |u: &Use<'_>| u.money;
    for (rule, secs) in ACCOUNT_MONEY {
        push(rule, to_units(peaks(&groups, secs, units)), true);
    }
    push(
        RuleId::MoneyAccountMonth,
        (to_units((months(&groups), Vec::new())).0, Vec::new()),
        true,
    );
    for (rule, secs) in TENANT_MONEY {
        push(rule, to_units(peaks(&[&all], secs, units)), true);
    }
    push(
        RuleId::MoneyTenantMonth,
        (to_units((months(&[&all]), Vec::new())).0, Vec::new()),
        true,
    );
    out
}

/// Thousandths to whole currency units, rounded up.
fn to_units((a, b): (Vec<i64>, Vec<i64>)) -> (Vec<i64>, Vec<i64>) {
    let f = |v: Vec<i64>| v.into_iter().map(|m| (m + 999).div_euclid(1000)).collect();
    (f(a), f(b))
}

/// For each group (calls sorted by start) and each local day it has calls: the most `weight` within any
/// window of `secs` ending at one of its calls; and the same at off-hours calls only (days with any).
fn peaks(
    groups: &[&Vec<&Use<'_>>],
    secs: i64,
    weight: impl Fn(&Use<'_>) -> i64,
) -> (Vec<i64>, Vec<i64>) {
    let mut all = Vec::new();
    let mut off = Vec::new();
    for g in groups {
        let mut day_peak: BTreeMap<NaiveDate, (i64, Option<i64>)> = BTreeMap::new();
        let mut lo = 0usize;
        let mut sum = 0i64;
        for u in g.iter() {
            sum += weight(u);
            while let Some(old) = g.get(lo)
                && old.call.start <= u.call.start - secs * 1000
            {
                sum -= weight(old);
                lo += 1;
            }
            let p = day_peak.entry(u.date).or_insert((0, None));
            p.0 = p.0.max(sum);
            if u.off {
                p.1 = Some(p.1.unwrap_or(0).max(sum));
            }
        }
        for (a, o) in day_peak.into_values() {
            all.push(a);
            off.extend(o);
        }
    }
    (all, off)
}

/// Each group's money in each calendar month, scaled to a whole month where the history covers only part of it.
fn months(groups: &[&Vec<&Use<'_>>]) -> Vec<i64> {
    let mut out = Vec::new();
    for g in groups {
        let mut m: BTreeMap<(i32, u32), (i64, BTreeSet<u32>)> = BTreeMap::new();
        for u in g.iter() {
            let e = m.entry((u.date.year(), u.date.month())).or_default();
            e.0 += u.money;
            e.1.insert(u.date.day());
        }
        for ((y, mo), (sum, days)) in m {
            let len = days_in_month(y, mo);
            let span = match (days.first(), days.last()) {
                (Some(a), Some(b)) => (b - a + 1).max(7),
                _ => len,
            };
            out.push(sum * i64::from(len) / i64::from(span.min(len)));
        }
    }
    out
}

fn days_in_month(y: i32, m: u32) -> u32 {
    let next = if m == 12 {
        NaiveDate::from_ymd_opt(y + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(y, m + 1, 1)
    };
    next.and_then(|n| n.pred_opt()).map_or(31, |d| d.day())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantile_is_nearest_rank() {
        assert_eq!(quantile(&mut [], 0.999), 0);
        assert_eq!(quantile(&mut [5, 1, 3], 0.5), 3);
        let mut v: Vec<i64> = (1..=1000).collect();
        assert_eq!(quantile(&mut v, 0.999), 999);
        assert_eq!(quantile(&mut v, 1.0), 1000);
    }

    #[test]
    fn thresholds_take_headroom_and_never_go_below_the_floor() {
        let opts = LearnOptions::default();
        let b = basis(vec![10; 50], (3, 5), &opts);
        assert_eq!((b.value, b.warning, b.critical), (10, 12, 15));
        let b = basis(vec![1; 50], (3, 5), &opts);
        assert_eq!((b.warning, b.critical), (3, 5));
        let b = basis(Vec::new(), (3, 5), &opts);
        assert_eq!((b.samples, b.warning, b.critical), (0, 3, 5));
    }

    #[test]
    fn a_partial_month_is_scaled_to_a_whole_one() {
        assert_eq!(days_in_month(2025, 2), 28);
        assert_eq!(days_in_month(2024, 12), 31);
    }
}
