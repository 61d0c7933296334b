//! Explanations: turns a rule that fired into a [`Decision`] with the key, the numbers and one sentence a PBX
//! admin understands ("ext 205 made 5 answered calls of 30±2 s to Sierra Leone in 1 h: looks like traffic
//! pumping; 525 JPY at stake"). Only runs when something fired, so it may allocate freely.

use std::net::IpAddr;

use numbering::{Currency, Destination, Money, RiskTier};

use crate::CallIds;
use crate::calendar::{LocalMoment, SiteCalendar};
use crate::cost::Rate;
use crate::decision::{
    Action, BarScope, CallFacts, CallLength, Decision, DestClass, Level, Subject, Unit,
    account_words,
};
use crate::engine::amount;
use crate::event::{AuthAttempt, CallAttempt, Millis, RequestCount};
use crate::policy::Rule;
use crate::rule_id::RuleId;
use crate::rules::{Hit, is_international};
use crate::source::SourceWords;
use crate::state::{Ban, KillSwitch};

/// What a hit was counted on (the decision's [`Subject`] is made from it and the call).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Counted {
    Account,
    Tenant,
    Number,
    Range,
    Destination,
}

pub(crate) struct CallContext<'a, 'b> {
    pub attempt: &'a CallAttempt<'b>,
    /// The account name claimed by a call counted under [`crate::UNKNOWN_ACCOUNT`].
    pub claimed: Option<&'a str>,
    pub class: DestClass,
    pub moment: LocalMoment,
    pub rate: Rate,
    pub currency: Currency,
    /// Spent by the account in 24 h, plus calls in progress, plus this call's least charge.
    pub at_stake_millis: i64,
    pub blocked: bool,
}

fn money(millis: i64, c: Currency) -> Money {
    Money {
        millis,
        currency: c,
    }
}

fn window_words(secs: u32) -> &'static str {
    match secs {
        60 => "1 min",
        600 => "10 min",
        3600 => "1 h",
        86_400 => "24 h",
        _ => "this month",
    }
}

fn tier_words(r: RiskTier) -> &'static str {
    match r {
        RiskTier::Low => "low",
        RiskTier::Medium => "medium",
        RiskTier::High => "high",
        RiskTier::Critical => "critical",
    }
}

/// "Sierra Leone (+23276123456)", "a premium-rate number (+81990123456)", "\"*99#\" (unrecognised)".
pub fn destination_words(d: &Destination, dialed: &str, class: DestClass) -> String {
    let mut s = String::with_capacity(48);
    push_destination_words(&mut s, d, dialed, class);
    s
}

/// [`destination_words`] appended to `s` (string pushes, no formatting machinery: kill switches explain every
/// refused call with it).
fn push_destination_words(s: &mut String, d: &Destination, dialed: &str, class: DestClass) {
    let number = |s: &mut String| match d.e164 {
        Some(e) => {
            s.push('+');
            s.push_str(e.digits());
        }
        None => {
            s.push('"');
            s.push_str(dialed);
            s.push('"');
        }
    };
    push_class_words(s, class, d.country.map(|c| c.name), number);
}

/// The destination words of a [`Subject::Destination`]: [`push_destination_words`] from the number alone
/// ("+E.164", its country from the calling code; or a dial string numbering could not read).
pub(crate) fn push_number_words(s: &mut String, number: &str, class: DestClass) {
    let digits = number.strip_prefix('+');
    let country = digits.and_then(numbering::country_of);
    let push_number = |s: &mut String| match digits {
        Some(_) => s.push_str(number),
        None => {
            s.push('"');
            s.push_str(number);
            s.push('"');
        }
    };
    push_class_words(s, class, country.map(|c| c.name), push_number);
}

/// The words of a destination of `class` in `country`, with `number` written by the caller: "Sierra Leone
/// (+232…)", "a premium-rate number in X (…)", "\"*99#\" (a number the dial plan does not recognise)".
fn push_class_words(
    s: &mut String,
    class: DestClass,
    country: Option<&str>,
    number: impl Fn(&mut String),
) {
    match (class, country) {
        (DestClass::Premium | DestClass::Satellite, Some(c)) => {
            s.push_str("a ");
            s.push_str(class.as_str());
            s.push_str(" number in ");
            s.push_str(c);
            s.push_str(" (");
            number(s);
            s.push(')');
        }
        (DestClass::International, Some(c)) => {
            s.push_str(c);
            s.push_str(" (");
            number(s);
            s.push(')');
        }
        (DestClass::Unknown, _) => {
            number(s);
            s.push_str(" (a number the dial plan does not recognise)");
        }
        _ => {
            s.push_str("a ");
            s.push_str(class.as_str());
            s.push_str(" number (");
            number(s);
            s.push(')');
        }
    }
}

/// "+E.164" of a destination, or the dial string as dialed when numbering could not read it.
fn number_text(d: &Destination, dialed: &str) -> String {
    match d.e164 {
        Some(e) => {
            let mut s = String::with_capacity(e.digits().len() + 1);
            s.push('+');
            s.push_str(e.digits());
            s
        }
        None => dialed.to_owned(),
    }
}

/// The facts of a call attempt a decision keeps.
fn call_facts(a: &CallAttempt<'_>, class: DestClass) -> CallFacts {
    CallFacts {
        tenant: a.tenant.to_owned(),
        account: a.account.to_owned(),
        number: Some(number_text(a.destination, a.dialed)),
        class: Some(class),
        length: None,
    }
}

fn country_code(d: &Destination) -> Option<String> {
    d.country.map(|c| c.iso2.to_owned())
}

/// [`account_words`] appended to `s`.
fn push_account_words(s: &mut String, tenant: &str, account: &str) {
    if account == crate::event::UNKNOWN_ACCOUNT {
        s.push_str(&account_words(tenant, account));
        return;
    }
    s.push_str("ext ");
    s.push_str(account);
    if !tenant.is_empty() {
        s.push_str(" of ");
        s.push_str(tenant);
    }
}

/// "tenant acme", or "the site" for a single-site installation (no tenant name).
fn tenant_words(tenant: &str) -> String {
    if tenant.is_empty() {
        "the site".to_owned()
    } else {
        format!("tenant {tenant}")
    }
}

fn subject_of(s: Counted, a: &CallAttempt<'_>, d: &Destination) -> Subject {
    match s {
        Counted::Tenant => Subject::Tenant {
            tenant: a.tenant.to_owned(),
        },
        Counted::Number => Subject::Number {
            number: d.e164.map(|e| e.to_string()).unwrap_or_default(),
        },
        Counted::Range => {
            let digits = d.e164.map(|e| e.digits().to_owned()).unwrap_or_default();
            let cut = digits.len().saturating_sub(3);
            Subject::Range {
                prefix: digits.get(..cut).unwrap_or("").to_owned(),
            }
        }
        Counted::Destination => Subject::Destination {
            number: number_text(d, a.dialed),
            class: DestClass::of(d),
        },
        Counted::Account => Subject::Account {
            tenant: a.tenant.to_owned(),
            account: a.account.to_owned(),
        },
    }
}

fn call_reason(h: &Hit, ctx: &CallContext<'_, '_>) -> String {
    let a = ctx.attempt;
    let d = a.destination;
    let who = match ctx.claimed {
        Some(c) => format!("{} (last as \"{c}\")", account_words(a.tenant, a.account)),
        None => account_words(a.tenant, a.account),
    };
    let dest = destination_words(d, a.dialed, ctx.class);
    let n = h.measured;
    let th = h.threshold;
    let w = window_words(h.window_secs);
    let off = if ctx.moment.off_hours {
        ", outside business hours"
    } else {
        ""
    };
    let cur = ctx.currency.as_str();
    let country = d.country.map(|c| c.name).unwrap_or("an unknown country");
    match h.rule {
        RuleId::DestinationClass if ctx.class == DestClass::Unknown => format!(
            "{who}: the dialed string \"{}\" could not be read as a number; tollguard refuses unreadable \
             numbers — add the pattern to destinations.allow_patterns if your site uses it",
            a.dialed
        ),
        RuleId::DestinationClass => format!(
            "{who} called {dest}: {} calls are not allowed by the policy",
            ctx.class.as_str()
        ),
        RuleId::CallerIdForeign => format!(
            "{who} called {dest} presenting a caller ID (From/P-Asserted-Identity) that is not one of {}'s own \
             numbers: a hijacked account or PBX often sends someone else's number",
            if a.tenant.is_empty() {
                "the site"
            } else {
                a.tenant
            }
        ),
        RuleId::ForwardedInternational => format!(
            "{who} passed on a call that came in{} ({}) to {dest}: an outside caller reaching {} through the PBX \
             (call forwarding, transfer, DISA) is a classic hijack — if the site forwards there on purpose, set \
             rules.forwarded_international critical = \"off\"",
            a.forwarded_from
                .map(|f| format!(" from {f}"))
                .unwrap_or_default(),
            a.leg.as_str(),
            if is_international(ctx.class) {
                "abroad"
            } else {
                "a premium or satellite number"
            }
        ),
        RuleId::DestinationCountry => {
            format!("{who} called {dest}: {country} is not an allowed destination in the policy")
        }
        RuleId::DenyPrefix => {
            format!("{who} called {dest}: the number is on the policy's deny list")
        }
        RuleId::RiskTier => {
            let why = if d.risk_reason.is_empty() {
                String::new()
            } else {
                format!(" ({})", d.risk_reason)
            };
            format!(
                "{who} called {dest}: a {}-risk destination for toll fraud{why}",
                tier_words(d.risk)
            )
        }
        RuleId::OffHoursInternational => {
            format!("{who} made an international call to {dest} outside business hours")
        }
        RuleId::Obfuscated => format!(
            "{who} dialed \"{}\": an obfuscated dial string, a trick used to slip past dial-plan filters",
            a.dialed
        ),
        RuleId::PrefixProbe => format!(
            "{who} tried the same number with {n} different prefixes within 1 min (limit {th}), last \"{}\": prefix probing, a known attacker habit",
            a.dialed
        ),
        RuleId::VelocityAccountMinute
        | RuleId::VelocityAccountHour
        | RuleId::VelocityAccountDay => {
            format!(
                "{who} made {n} call attempts in {w}{off} (limit {th}): unusual call rate, last to {dest}"
            )
        }
        RuleId::VelocityTenantMinute | RuleId::VelocityTenantHour | RuleId::VelocityTenantDay => {
            format!(
                "{} made {n} call attempts in {w}{off} (limit {th}), last by {who} to {dest}",
                tenant_words(a.tenant)
            )
        }
        RuleId::ConcurrentAccount => format!(
            "{who} would have {n} calls in progress at once{off} (limit {th}), new call to {dest}"
        ),
        RuleId::ConcurrentTenant => format!(
            "{} would have {n} calls in progress at once{off} (limit {th})",
            tenant_words(a.tenant)
        ),
        RuleId::FailedAccountHour => format!(
            "{who} had {n} unanswered calls in 1 h{off} (limit {th}): someone may be probing routes"
        ),
        RuleId::DeniedAccountHour => format!(
            "{who} tried {n} barred destinations in 1 h (limit {th}), last {dest}: someone is trying what the policy forbids"
        ),
        RuleId::RepeatNumberHour => {
            format!("{dest} was called {n} times in 1 h{off} (limit {th}), last by {who}")
        }
        RuleId::RangeWalkHour => format!(
            "{n} different numbers under {} were dialed in 1 h{off} (limit {th}), last by {who}: looks like a number-range walk",
            subject_of(Counted::Range, a, d)
                .to_string()
                .trim_start_matches("range ")
        ),
        RuleId::MoneyAccountHour | RuleId::MoneyAccountDay | RuleId::MoneyAccountMonth => format!(
            "{who} would reach {n} {cur} of calls in {w} with this call to {dest}{off} (limit {th} {cur})"
        ),
        RuleId::MoneyTenantHour | RuleId::MoneyTenantDay | RuleId::MoneyTenantMonth => format!(
            "{} would reach {n} {cur} of calls in {w}{off} (limit {th} {cur}), last by {who} to {dest}",
            tenant_words(a.tenant)
        ),
        RuleId::NoveltyFirstInternational => {
            format!("{who} made its first international call ever, to {dest}")
        }
        RuleId::NoveltyCountry => format!("{who} called {country} for the first time ({dest})"),
        RuleId::NoveltyRisk => format!(
            "{who} called a {}-risk destination for the first time: {dest}",
            tier_words(d.risk)
        ),
        RuleId::NoveltyHours => format!(
            "{who} called {dest} at {:02}:xx outside business hours, an hour at which it never calls",
            ctx.moment.hour
        ),
        RuleId::NoveltyHoursTenant => format!(
            "{} made {n} calls abroad in 1 h outside business hours at {:02}:xx, an hour at which the site does not \
             call abroad (limit {th}), the last by {who} to {dest}",
            tenant_words(a.tenant),
            ctx.moment.hour
        ),
        other => format!(
            "{who} called {dest}: rule {} fired (measured {n}, limit {th})",
            other.as_str()
        ),
    }
}

pub(crate) fn call_decision(h: &Hit, ctx: &CallContext<'_, '_>, calls: CallIds) -> Decision {
    let a = ctx.attempt;
    let action = if h.level == Level::Critical && !h.shadow {
        Action::Block { sip_status: 403 }
    } else {
        Action::Warn
    };
    let stake = ctx.at_stake_millis.max(0);
    let mut reason = call_reason(h, ctx);
    if stake > 0 {
        reason.push_str(&format!("; {} at stake", money(stake, ctx.currency)));
    }
    if h.shadow && h.level == Level::Critical {
        reason.push_str(" (shadow mode: would have been blocked)");
    } else if ctx.blocked && h.level == Level::Critical {
        reason.push_str(". Call blocked");
    }
    let _ = ctx.rate;
    Decision {
        at: a.at,
        rule: h.rule,
        level: h.level,
        action,
        shadow: h.shadow,
        subject: subject_of(h.subject, a, a.destination),
        country: country_code(a.destination),
        call: Some(call_facts(a, ctx.class)),
        measured: h.measured,
        threshold: h.threshold,
        unit: h.unit,
        window_secs: h.window_secs,
        call_id: Some(a.call_id.to_owned()),
        calls,
        at_stake: (stake > 0).then(|| amount(stake, ctx.currency)),
        reason,
    }
}

pub(crate) struct EndContext<'a> {
    pub call_id: &'a str,
    pub tenant: &'a str,
    pub account: &'a str,
    /// ISO code and English name of the destination's country.
    pub country: Option<(&'static str, &'static str)>,
    pub cc: u16,
    pub secs: u32,
    pub jitter: u32,
    pub rate: Rate,
    pub currency: Currency,
    pub at: Millis,
    /// The call ended outside business hours.
    pub off_hours: bool,
    /// `pumping_tenant`'s longest short call.
    pub short_secs: u32,
    pub spent_day_millis: i64,
    pub usual_day_millis: i64,
}

pub(crate) fn end_decision(h: &Hit, ctx: &EndContext<'_>, calls: CallIds) -> Decision {
    let who = account_words(ctx.tenant, ctx.account);
    let cur = ctx.currency.as_str();
    let n = h.measured;
    let th = h.threshold;
    let w = window_words(h.window_secs);
    let country = ctx
        .country
        .map(|(_, name)| name.to_owned())
        .unwrap_or_else(|| {
            if ctx.cc == 0 {
                "the same destination".into()
            } else {
                format!("country code +{}", ctx.cc)
            }
        });
    let (mut reason, stake) = match h.rule {
        RuleId::Pumping => (
            format!(
                "{who} made {n} answered calls of {}±{} s to {country} in 1 h (limit {th}): looks like traffic pumping",
                ctx.secs, ctx.jitter
            ),
            ctx.rate.cost(ctx.secs).saturating_mul(n),
        ),
        RuleId::PumpingTenant => (
            format!(
                "{} had {n} short answered calls (under {} s) to {country} in 1 h{} (limit {th}), the last by {who} \
                 ({} s): looks like traffic pumping spread over the site's extensions",
                tenant_words(ctx.tenant),
                ctx.short_secs,
                if ctx.off_hours {
                    ", outside business hours"
                } else {
                    ""
                },
                ctx.secs
            ),
            ctx.rate.cost(ctx.secs).saturating_mul(n),
        ),
        RuleId::MoneyAccountHour | RuleId::MoneyAccountDay | RuleId::MoneyAccountMonth => (
            format!("{who} has spent {n} {cur} on calls in {w} (limit {th} {cur})"),
            n.saturating_mul(1000),
        ),
        RuleId::MoneyTenantHour | RuleId::MoneyTenantDay | RuleId::MoneyTenantMonth => (
            format!(
                "{} has spent {n} {cur} on calls in {w} (limit {th} {cur})",
                tenant_words(ctx.tenant)
            ),
            n.saturating_mul(1000),
        ),
        RuleId::NoveltySpend => (
            format!(
                "{who} spent {} in 24 h, {n}% of its usual {} a day (limit {th}%)",
                money(ctx.spent_day_millis, ctx.currency),
                money(ctx.usual_day_millis, ctx.currency)
            ),
            ctx.spent_day_millis,
        ),
        other => (
            format!(
                "{who}: rule {} fired (measured {n}, limit {th})",
                other.as_str()
            ),
            0,
        ),
    };
    if stake > 0 {
        reason.push_str(&format!("; {} at stake", money(stake, ctx.currency)));
    }
    if h.shadow && h.level == Level::Critical {
        reason.push_str(" (shadow mode: nothing enforced)");
    }
    Decision {
        at: ctx.at,
        rule: h.rule,
        level: h.level,
        action: Action::Warn,
        shadow: h.shadow,
        subject: if h.subject == Counted::Tenant {
            Subject::Tenant {
                tenant: ctx.tenant.to_owned(),
            }
        } else {
            Subject::Account {
                tenant: ctx.tenant.to_owned(),
                account: ctx.account.to_owned(),
            }
        },
        country: ctx.country.map(|(iso, _)| iso.to_owned()),
        call: Some(CallFacts {
            tenant: ctx.tenant.to_owned(),
            account: ctx.account.to_owned(),
            number: None,
            class: None,
            length: (h.rule == RuleId::Pumping).then_some(CallLength {
                secs: ctx.secs,
                jitter_secs: ctx.jitter,
            }),
        }),
        measured: n,
        threshold: th,
        unit: h.unit,
        window_secs: h.window_secs,
        call_id: Some(ctx.call_id.to_owned()),
        calls,
        at_stake: (stake > 0).then(|| amount(stake, ctx.currency)),
        reason,
    }
}

fn plain(
    at: Millis,
    rule: RuleId,
    level: Level,
    action: Action,
    subject: Subject,
    reason: String,
) -> Decision {
    Decision {
        at,
        rule,
        level,
        action,
        shadow: false,
        subject,
        country: None,
        call: None,
        measured: 1,
        threshold: 0,
        unit: Unit::Flag,
        window_secs: 0,
        call_id: None,
        calls: CallIds::default(),
        at_stake: None,
        reason,
    }
}

fn local_time(cal: &SiteCalendar, at: Millis) -> String {
    chrono::DateTime::from_timestamp_millis(at)
        .map(|t| {
            t.with_timezone(&cal.tz)
                .format("%Y-%m-%d %H:%M")
                .to_string()
        })
        .unwrap_or_default()
}

/// The parts of a kill switch's explanation that do not depend on the call, per (switch id, class): its key
/// and the end of its sentence. A switch refuses every call of its scope, often thousands in a row, and its local
/// time and reason are the costly part to format.
#[derive(Debug, Clone, Default)]
pub(crate) struct KillSwitchWords(Vec<(u64, DestClass, String)>);

impl KillSwitchWords {
    /// Forgets everything (a switch was lifted: its words are never needed again).
    pub(crate) fn clear(&mut self) {
        self.0.clear();
    }

    fn get(&mut self, ks: &KillSwitch, class: DestClass, cal: &SiteCalendar) -> &str {
        let i = match self
            .0
            .iter()
            .position(|(id, c, ..)| *id == ks.id && *c == class)
        {
            Some(i) => i,
            None => {
                let tail = format!(
                    "{} calls of {} are barred since {} by {} ({}). Call blocked",
                    class.as_str(),
                    ks.scope,
                    local_time(cal, ks.since),
                    ks.by,
                    ks.why
                );
                self.0.push((ks.id, class, tail));
                self.0.len() - 1
            }
        };
        self.0.get(i).map_or("", |(.., tail)| tail.as_str())
    }
}

pub(crate) fn kill_switch(
    ks: &KillSwitch,
    a: &CallAttempt<'_>,
    class: DestClass,
    cal: &SiteCalendar,
    words: &mut KillSwitchWords,
) -> Decision {
    let tail = words.get(ks, class, cal);
    let mut reason =
        String::with_capacity(a.tenant.len() + a.account.len() + a.dialed.len() + tail.len() + 64);
    push_account_words(&mut reason, a.tenant, a.account);
    reason.push_str(" called ");
    push_destination_words(&mut reason, a.destination, a.dialed, class);
    reason.push_str(": ");
    reason.push_str(tail);
    let mut d = plain(
        a.at,
        RuleId::KillSwitch,
        Level::Critical,
        Action::Block { sip_status: 403 },
        Subject::KillSwitch { id: ks.id },
        reason,
    );
    d.country = country_code(a.destination);
    d.call = Some(call_facts(a, class));
    d.call_id = Some(a.call_id.to_owned());
    d
}

pub(crate) fn bar_decision(ks: &KillSwitch, at: Millis) -> Decision {
    plain(
        at,
        RuleId::KillSwitch,
        Level::Critical,
        Action::Bar {
            scope: ks.scope.clone(),
            classes: ks.classes,
        },
        Subject::KillSwitch { id: ks.id },
        format!(
            "{} barred from {} calls until an operator lifts it, because {}",
            ks.scope, ks.classes, ks.why
        ),
    )
}

pub(crate) fn end_calls_decision(scope: &BarScope, ids: Vec<String>, at: Millis) -> Decision {
    let reason = format!(
        "end {} call(s) in progress of {} to barred destinations",
        ids.len(),
        scope
    );
    plain(
        at,
        RuleId::KillSwitch,
        Level::Critical,
        Action::EndCalls {
            scope: scope.clone(),
            call_ids: ids,
        },
        Subject::of_scope(scope),
        reason,
    )
}

/// "24 h", "10 min", "90 s".
fn duration_words(secs: u32) -> String {
    if secs >= 3600 && secs.is_multiple_of(3600) {
        format!("{} h", secs / 3600)
    } else if secs >= 60 && secs.is_multiple_of(60) {
        format!("{} min", secs / 60)
    } else {
        format!("{secs} s")
    }
}

pub(crate) fn banned(b: &Ban, source: SourceWords, at: Millis, call_id: &str) -> Decision {
    let mut d = plain(
        at,
        RuleId::Ban,
        Level::Critical,
        Action::Block { sip_status: 403 },
        source.subject(),
        format!(
            "{source} is banned for {} more min by {}: {}. Call blocked",
            (b.until - at + 59_999) / 60_000,
            b.by,
            b.why
        ),
    );
    d.call_id = Some(call_id.to_owned());
    d
}

/// `key`: the source key banned (what the adapters look bans up by); `source`: the same in words.
pub(crate) fn ban_decision(
    key: IpAddr,
    source: SourceWords,
    at: Millis,
    until: Millis,
    why: &str,
) -> Decision {
    plain(
        at,
        RuleId::Ban,
        Level::Critical,
        Action::Ban { source: key, until },
        source.subject(),
        format!("ban {source} for {} min: {why}", (until - at) / 60_000),
    )
}

/// A scanner's fingerprint beyond its User-Agent (a front end's mark), under the `scanner_user_agent` rule's
/// settings.
pub(crate) fn scanner_mark(
    key: IpAddr,
    source: SourceWords,
    m: &crate::event::ScannerMark<'_>,
    rule: &Rule,
) -> Decision {
    let until = m.at + i64::from(rule.ban_secs) * 1000;
    let mut d = plain(
        m.at,
        m.rule,
        Level::Critical,
        if rule.shadow {
            Action::Warn
        } else {
            Action::Ban { source: key, until }
        },
        source.subject(),
        format!(
            "{source} banned for {}: {}",
            duration_words(rule.ban_secs),
            m.why
        ),
    );
    d.shadow = rule.shadow;
    d
}

pub(crate) fn scanner(
    key: IpAddr,
    source: SourceWords,
    scanner: &str,
    at: Millis,
    rule: &Rule,
    call_id: Option<&str>,
) -> Decision {
    let mut d = plain(
        at,
        RuleId::ScannerUserAgent,
        Level::Critical,
        if rule.shadow {
            Action::Warn
        } else {
            Action::Ban {
                source: key,
                until: at + i64::from(rule.ban_secs) * 1000,
            }
        },
        source.subject(),
        format!(
            "{source} uses the User-Agent of a known SIP scanner ({scanner}); banned for {}",
            duration_words(rule.ban_secs)
        ),
    );
    d.shadow = rule.shadow;
    d.call_id = call_id.map(str::to_owned);
    d
}

/// The account a login was for.
fn login_subject(e: &AuthAttempt<'_>) -> Subject {
    Subject::Account {
        tenant: e.tenant.to_owned(),
        account: e.username.to_owned(),
    }
}

/// An authentication event and its source key in words.
pub(crate) struct AuthContext<'a, 'b> {
    pub attempt: &'a AuthAttempt<'b>,
    pub source: SourceWords,
}

/// "; the 3rd within 1 h bans it for 24 h" after a warning of a rule that bans at critical.
fn ban_ahead(rule: &Rule, level: Level, what: &str, w: &str) -> String {
    match (level, rule.critical) {
        (Level::Warning, Some(c)) if !rule.shadow && rule.ban_secs > 0 => format!(
            "; at {} {what} within {w} it is banned for {}",
            c.saturating_add(1),
            duration_words(rule.ban_secs)
        ),
        _ => String::new(),
    }
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn auth_source(
    id: RuleId,
    ctx: &AuthContext<'_, '_>,
    level: Level,
    n: i64,
    th: i64,
    window: u32,
    unit: Unit,
    rule: &Rule,
) -> Decision {
    let e = ctx.attempt;
    let src = ctx.source;
    let w = window_words(window);
    let reason = match id {
        RuleId::AuthUsernamesSource => format!(
            "{src} tried {n} different user names in {w} (limit {th}), last \"{}\": extension scanning{}",
            e.username,
            ban_ahead(rule, level, "user names", w)
        ),
        _ => format!(
            "{src} failed to log in {n} times in {w} (limit {th}), last as \"{}\" ({}): password guessing{}",
            e.username,
            if e.outcome == crate::event::AuthOutcome::UnknownUser {
                "no such user"
            } else {
                "wrong password"
            },
            ban_ahead(rule, level, "failures", w)
        ),
    };
    Decision {
        at: e.at,
        rule: id,
        level,
        action: Action::Warn,
        shadow: rule.shadow,
        subject: src.subject(),
        country: None,
        call: None,
        measured: n,
        threshold: th,
        unit,
        window_secs: window,
        call_id: None,
        calls: CallIds::default(),
        at_stake: None,
        reason,
    }
}

/// A per-account login rule (`auth_account_hour`, `auth_account_sources`). `known`: the failing source is one the
/// account logged in from, so it is not banned (the decision is a warning).
pub(crate) fn auth_account(
    id: RuleId,
    ctx: &AuthContext<'_, '_>,
    level: Level,
    n: i64,
    th: i64,
    rule: &Rule,
    known: bool,
) -> Decision {
    let e = ctx.attempt;
    let src = ctx.source;
    let who = account_words(e.tenant, e.username);
    let mut reason = match id {
        RuleId::AuthAccountSources => format!(
            "{n} different sources failed to log in to {who} in 1 h (limit {th}), last {src}: a password guess \
             spread over many addresses"
        ),
        _ => format!(
            "{who} had {n} failed logins in 1 h (limit {th}), last from {src}: someone is guessing its password"
        ),
    };
    if known {
        reason.push_str(&format!(
            "; {src} is not banned: {who} logged in from there before, and an outsider must not lock out the real phone"
        ));
    } else if level == Level::Critical && !rule.shadow && id == RuleId::AuthAccountSources {
        reason.push_str(&format!(
            "; every source not known to {who} that fails on it within the hour is banned for {}",
            duration_words(rule.ban_secs)
        ));
    } else if level == Level::Warning
        && !rule.shadow
        && id == RuleId::AuthAccountSources
        && let Some(c) = rule.critical
    {
        reason.push_str(&format!(
            "; from {} sources on, each that fails on it is banned",
            c.saturating_add(1)
        ));
    }
    Decision {
        at: e.at,
        rule: id,
        level,
        action: Action::Warn,
        shadow: rule.shadow,
        subject: login_subject(e),
        country: None,
        call: None,
        measured: n,
        threshold: th,
        unit: Unit::Failures,
        window_secs: 3600,
        call_id: None,
        calls: CallIds::default(),
        at_stake: None,
        reason,
    }
}

/// `auth_success_after_failures`: a login after `failures` failures in the hour, `linked` of them from the login's
/// own source key or network. Only a critical on linked failures bars the account.
pub(crate) fn auth_success(
    ctx: &AuthContext<'_, '_>,
    level: Level,
    measured: i64,
    failures: i64,
    linked: i64,
    th: i64,
    rule: &Rule,
) -> Decision {
    let e = ctx.attempt;
    let src = ctx.source;
    let who = account_words(e.tenant, e.username);
    let net = crate::source::network_words(crate::source::network_of(src.key));
    let reason = if level == Level::Critical {
        let then = if !rule.shadow && rule.escalate {
            "; its international calling is barred until an operator lifts it"
        } else {
            ""
        };
        format!(
            "{who} logged in from {src} after {linked} failed attempts in 1 h from that address or its network \
             {net} (limit {th}): the password was probably guessed{then}"
        )
    } else if linked == 0 {
        format!(
            "{who} logged in from {src} after {failures} failed attempts in 1 h (limit {th}), none of them from that \
             address or its network {net}: someone elsewhere may be guessing its password; not barred, as this \
             login may be the real phone"
        )
    } else {
        format!(
            "{who} logged in from {src} after {failures} failed attempts in 1 h (limit {th}), {linked} of them from \
             that address or its network {net}: the password may have been guessed"
        )
    };
    Decision {
        at: e.at,
        rule: RuleId::AuthSuccessAfterFailures,
        level,
        action: Action::Warn,
        shadow: rule.shadow,
        subject: login_subject(e),
        country: None,
        call: None,
        measured,
        threshold: th,
        unit: Unit::Failures,
        window_secs: 3600,
        call_id: None,
        calls: CallIds::default(),
        at_stake: None,
        reason,
    }
}

pub(crate) fn auth_new_network(
    ctx: &AuthContext<'_, '_>,
    level: Level,
    th: i64,
    rule: &Rule,
) -> Decision {
    let e = ctx.attempt;
    let who = account_words(e.tenant, e.username);
    Decision {
        at: e.at,
        rule: RuleId::AuthNewNetwork,
        level,
        action: Action::Warn,
        shadow: rule.shadow,
        subject: login_subject(e),
        country: None,
        call: None,
        measured: 1,
        threshold: th,
        unit: Unit::Flag,
        window_secs: 0,
        call_id: None,
        calls: CallIds::default(),
        at_stake: None,
        reason: format!(
            "{who} registered from {}, a network it never registered from before",
            ctx.source
        ),
    }
}

fn country_words(c: [u8; 2]) -> String {
    String::from_utf8_lossy(&c).into_owned()
}

/// `auth_new_country`: a login from `country`, never seen for the account, which logged in from `before`.
pub(crate) fn auth_new_country(
    ctx: &AuthContext<'_, '_>,
    level: Level,
    th: i64,
    rule: &Rule,
    country: [u8; 2],
    before: &[[u8; 2]],
) -> Decision {
    let e = ctx.attempt;
    let who = account_words(e.tenant, e.username);
    let seen: Vec<String> = before.iter().map(|c| country_words(*c)).collect();
    let then = if level == Level::Critical && !rule.shadow && rule.escalate {
        "; its international calling is barred until an operator lifts it"
    } else {
        ""
    };
    Decision {
        at: e.at,
        rule: RuleId::AuthNewCountry,
        level,
        action: Action::Warn,
        shadow: rule.shadow,
        subject: login_subject(e),
        country: Some(country_words(country)),
        call: None,
        measured: 1,
        threshold: th,
        unit: Unit::Flag,
        window_secs: 0,
        call_id: None,
        calls: CallIds::default(),
        at_stake: None,
        reason: format!(
            "{who} logged in from {} in {}, a country it never logged in from (before: {}): its password may be \
             in someone else's hands{then}",
            ctx.source,
            country_words(country),
            seen.join(", ")
        ),
    }
}

pub(crate) fn requests(
    r: &RequestCount,
    source: SourceWords,
    level: Level,
    n: i64,
    th: i64,
    rule: &Rule,
) -> Decision {
    Decision {
        at: r.at,
        rule: RuleId::RequestRateSource,
        level,
        action: Action::Warn,
        shadow: rule.shadow,
        subject: source.subject(),
        country: None,
        call: None,
        measured: n,
        threshold: th,
        unit: Unit::Requests,
        window_secs: 60,
        call_id: None,
        calls: CallIds::default(),
        at_stake: None,
        reason: format!("{source} sent {n} requests in 1 min (limit {th}): a scanner or a flood"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use numbering::{Country, DialFlags, E164, NumberClass, Scope};

    fn dest(e164: Option<&str>, country: Option<Country>, class: NumberClass) -> Destination {
        Destination {
            e164: e164.and_then(E164::from_digits),
            country,
            scope: Scope::International,
            class,
            risk: RiskTier::Low,
            risk_reason: "".into(),
            flags: DialFlags::default(),
        }
    }

    /// The sentence as it was first written with `format!`: the pushes must give the same bytes.
    fn destination_words_reference(d: &Destination, dialed: &str, class: DestClass) -> String {
        let number = d
            .e164
            .map(|e| e.to_string())
            .unwrap_or_else(|| format!("\"{dialed}\""));
        match (class, d.country) {
            (DestClass::Premium | DestClass::Satellite, Some(c)) => {
                format!("a {} number in {} ({number})", class.as_str(), c.name)
            }
            (DestClass::International, Some(c)) => format!("{} ({number})", c.name),
            (DestClass::Unknown, _) => {
                format!("{number} (a number the dial plan does not recognise)")
            }
            _ => format!("a {} number ({number})", class.as_str()),
        }
    }

    const SL: Country = Country {
        iso2: "SL",
        name: "Sierra Leone",
        calling_code: 232,
    };

    #[test]
    fn destination_words_match_the_formatted_sentence() {
        let dests = [
            dest(Some("23276123456"), Some(SL), NumberClass::Mobile),
            dest(None, Some(SL), NumberClass::Mobile),
            dest(Some("881649797782"), None, NumberClass::Satellite),
            dest(None, None, NumberClass::Unknown),
        ];
        for d in &dests {
            for class in DestClass::ALL {
                for dialed in ["", "*99#", "01023276123456"] {
                    assert_eq!(
                        destination_words(d, dialed, class),
                        destination_words_reference(d, dialed, class)
                    );
                }
            }
        }
    }

    #[test]
    fn kill_switch_explanation_is_the_formatted_one_and_words_are_per_switch_and_class() {
        let cal = SiteCalendar::japan();
        let d = dest(Some("23276123456"), Some(SL), NumberClass::Mobile);
        let mut words = KillSwitchWords::default();
        for (id, tenant, account) in [(1, "", "204"), (2, "acme", "205"), (1, "", "204")] {
            let ks = KillSwitch {
                id,
                scope: BarScope::Account {
                    tenant: tenant.into(),
                    account: account.into(),
                },
                classes: crate::decision::ClassSet::INTERNATIONAL,
                since: 1_749_205_813_000 + id as i64,
                by: "tollguard".into(),
                why: format!("reason {id}"),
            };
            for class in [DestClass::International, DestClass::Premium] {
                let a = CallAttempt {
                    at: 1_749_205_900_000,
                    call_id: "c1",
                    tenant,
                    account,
                    source: None,
                    user_agent: "",
                    authenticated: true,
                    caller_id_foreign: false,
                    dialed: "01023276123456",
                    destination: &d,
                    route: "",
                    leg: crate::Leg::Direct,
                    forwarded_from: None,
                };
                let got = kill_switch(&ks, &a, class, &cal, &mut words);
                let reason = format!(
                    "{} called {}: {} calls of {} are barred since {} by {} ({}). Call blocked",
                    account_words(tenant, account),
                    destination_words_reference(&d, a.dialed, class),
                    class.as_str(),
                    ks.scope,
                    local_time(&cal, ks.since),
                    ks.by,
                    ks.why
                );
                assert_eq!(got.reason, reason);
                assert_eq!(got.key(), format!("kill switch {id}"));
                assert_eq!(got.subject, Subject::KillSwitch { id });
                assert_eq!(got.call_id.as_deref(), Some("c1"));
                assert_eq!(got.rule, RuleId::KillSwitch);
            }
        }
        // One entry per (switch, class) seen, however many calls; cleared on demand.
        assert_eq!(words.0.len(), 4);
        words.clear();
        assert!(words.0.is_empty());
    }
}
