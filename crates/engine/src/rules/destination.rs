//! Destination rules of a call attempt: the destination judged by itself (deny lists, allowed classes and
//! countries, risk tiers, off-hours international), obfuscated dial strings, caller IDs that are not the
//! tenant's own, forwarded legs that reach abroad, and prefix probing (the same national number behind different prefixes).

use numbering::{Destination, DialFlags, Scope};

use super::{Counted, Hit, flag_hit, is_international, push_level};
use crate::decision::{DestClass, Level, Unit};
use crate::event::{CallAttempt, Leg, Millis};
use crate::keys::{KeyHasher, KeyKind};
use crate::policy::{DestPolicy, OffHoursAction, Rule, Rules};
use crate::rule_id::RuleId;
use crate::state::{AccountState, Probe};

/// The flag rules of an attempt: destination policy, an obfuscated dial string, a foreign caller ID.
#[inline(always)]
pub(crate) fn flags(
    hits: &mut Vec<Hit>,
    dp: &DestPolicy,
    rules: &Rules,
    a: &CallAttempt<'_>,
    class: DestClass,
    off: bool,
) {
    let d = a.destination;
    destination_hits(dp, d, class, a.dialed, off, hits);
    if rules.obfuscated.enabled && d.flags.is_obfuscated() {
        push_level(
            hits,
            RuleId::Obfuscated,
            &rules.obfuscated,
            1,
            off,
            Unit::Flag,
            0,
            Counted::Account,
            true,
        );
    }
    if a.leg != Leg::Direct
        && rules.forwarded_international.enabled
        && (is_international(class) || matches!(class, DestClass::Premium | DestClass::Satellite))
    {
        push_level(
            hits,
            RuleId::ForwardedInternational,
            &rules.forwarded_international,
            1,
            off,
            Unit::Flag,
            0,
            Counted::Account,
            false,
        );
    }
    if a.caller_id_foreign {
        push_level(
            hits,
            RuleId::CallerIdForeign,
            &rules.caller_id_foreign,
            1,
            off,
            Unit::Flag,
            0,
            Counted::Account,
            false,
        );
    }
}

/// Prefix probing: the same national number behind different prefixes within a minute (watched calls, rule
/// enabled).
#[inline(always)]
pub(crate) fn prefix_probe(
    hits: &mut Vec<Hit>,
    r: &Rule,
    acct: &mut AccountState,
    hasher: &KeyHasher,
    dialed: &str,
    at: Millis,
    off: bool,
) {
    let Some((head, tail)) = split_dialed(hasher, dialed) else {
        return;
    };
    acct.push_probe(Probe { at, tail, head });
    let since = at - 60_000;
    let mut heads = [0u32; crate::state::PROBES];
    let mut n = 0usize;
    for p in acct
        .probes
        .iter()
        .filter(|p| p.tail == tail && p.at >= since && p.at != 0)
    {
        if !heads.get(..n).is_some_and(|h| h.contains(&p.head))
            && let Some(slot) = heads.get_mut(n)
        {
            *slot = p.head;
            n += 1;
        }
    }
    push_level(
        hits,
        RuleId::PrefixProbe,
        r,
        n as i64,
        off,
        Unit::DistinctPrefixes,
        60,
        Counted::Account,
        false,
    );
}

/// Destination policy: deny lists, allowed classes and countries, risk tiers, off-hours international.
fn destination_hits(
    dp: &DestPolicy,
    d: &Destination,
    class: DestClass,
    dialed: &str,
    off: bool,
    hits: &mut Vec<Hit>,
) {
    let shadow = dp.shadow;
    if let Some(e) = d.e164
        && dp
            .deny_prefixes
            .iter()
            .any(|p| e.digits().starts_with(p.as_str()))
    {
        hits.push(flag_hit(RuleId::DenyPrefix, Level::Critical, shadow));
        return;
    }
    let iso = d.country.map(|c| c.iso2);
    if let Some(iso) = iso
        && dp.deny_countries.iter().any(|c| c == iso)
    {
        hits.push(flag_hit(
            RuleId::DestinationCountry,
            Level::Critical,
            shadow,
        ));
        return;
    }
    // An unreadable dial string passes only where the site allows its pattern.
    if !dp.allow_classes.contains(class) && !unreadable_allowed(dp, class, dialed) {
        hits.push(flag_hit(RuleId::DestinationClass, Level::Critical, shadow));
        return;
    }
    if d.scope == Scope::International && !iso.is_some_and(|i| dp.country_allowed(i)) {
        hits.push(flag_hit(
            RuleId::DestinationCountry,
            Level::Critical,
            shadow,
        ));
        return;
    }
    let exempt = iso.is_some_and(|i| dp.risk_exempt_countries.iter().any(|c| c == i));
    if !exempt {
        let blocks = dp.block_risk_at.is_some_and(|t| d.risk >= t);
        // A country the policy names in allow_countries (not "*") outranks that country's own risk tier: a
        // warning remains. A number range's tier (the IRSF range list, hot spots, user lists) still blocks.
        let allowed_by_name = d.flags.contains(DialFlags::COUNTRY_RISK)
            && iso.is_some_and(|i| dp.allow_countries.iter().any(|c| c == i));
        if blocks && !allowed_by_name {
            hits.push(flag_hit(RuleId::RiskTier, Level::Critical, shadow));
            return;
        }
        if blocks || dp.warn_risk_at.is_some_and(|t| d.risk >= t) {
            hits.push(flag_hit(RuleId::RiskTier, Level::Warning, shadow));
        }
    }
    if off && is_international(class) {
        match dp.off_hours_international {
            OffHoursAction::Allow => {}
            OffHoursAction::Warn => hits.push(flag_hit(
                RuleId::OffHoursInternational,
                Level::Warning,
                shadow,
            )),
            OffHoursAction::Block => hits.push(flag_hit(
                RuleId::OffHoursInternational,
                Level::Critical,
                shadow,
            )),
        }
    }
}

/// Whether an unreadable dial string is allowed by the site's `allow_patterns` (out of line: rare).
#[cold]
#[inline(never)]
fn unreadable_allowed(dp: &DestPolicy, class: DestClass, dialed: &str) -> bool {
    class == DestClass::Unknown && dp.pattern_allowed(dialed)
}

/// Splits a dial string's digits into (prefixes, national number) hashes: the last 8 digits are the national
/// number, whatever came before them the prefixes. None for strings of fewer than 10 digits.
fn split_dialed(h: &KeyHasher, dialed: &str) -> Option<(u32, u32)> {
    let mut buf = [0u8; 32];
    let mut n = 0usize;
    for b in dialed.bytes().filter(u8::is_ascii_digit) {
        *buf.get_mut(n)? = b;
        n += 1;
    }
    if n < 10 {
        return None;
    }
    let digits = buf.get(..n)?;
    let (head, tail) = digits.split_at(n - 8);
    Some((
        h.bytes(KeyKind::Range, head, 1) as u32,
        h.bytes(KeyKind::Number, tail, 1) as u32,
    ))
}
