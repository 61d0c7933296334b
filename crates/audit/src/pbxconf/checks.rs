//! The checks that need the whole PBX: secrets against the candidate lists and each other, and which dial
//! strings reach the trunk from the contexts guests, inbound calls and phones land in — including the
//! prefixes (`#`, `*`, `184`, a carrier code) that slip past a block on `010`.

use std::collections::{BTreeMap, BTreeSet};

use numbering::{NumberClass, Numbering, Scope};

use super::dialplan::Reach;
use super::model::{Caller, Model, Secret};
use crate::candidates::CandidateLists;
use crate::finding::{Finding, Severity};

/// A dial string an attacker tries, and whether it is a way around a plain block.
#[derive(Debug, Clone)]
pub struct Probe {
    pub dial: String,
    pub what: &'static str,
    pub slips: bool,
}

/// The 2015 destination dialed plainly and in the forms that slip past a block on the international prefix,
/// and a premium-rate number; kept only where the numbering plan (Japan) says they are international or
/// premium, so that the plan decides, not this list.
pub fn probes(numbering: &Numbering) -> Vec<Probe> {
    let base = "01023276123456";
    let all = [
        (base.to_owned(), "international (010)", false),
        (format!("#{base}"), "international after #", true),
        (format!("*{base}"), "international after *", true),
        (
            format!("184{base}"),
            "international after 184 (caller ID withheld)",
            true,
        ),
        (
            format!("0033{base}"),
            "international after a carrier code (0033)",
            true,
        ),
        (
            "00123276123456".to_owned(),
            "international through carrier 001",
            true,
        ),
        ("0990500123".to_owned(), "premium rate (0990)", false),
    ];
    all.into_iter()
        .filter(|(d, _, _)| {
            let dest = numbering.classify(d);
            dest.scope == Scope::International || dest.class == NumberClass::PremiumRate
        })
        .map(|(dial, what, slips)| Probe { dial, what, slips })
        .collect()
}

/// Secrets: empty, equal to the user, on a candidate list, short, shared; trunk secrets stored.
pub fn secret_findings(secrets: &[Secret], lists: &CandidateLists) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut by_password: BTreeMap<&str, Vec<&Secret>> = BTreeMap::new();
    for s in secrets {
        if s.trunk {
            out.push(trunk_secret(s));
            continue;
        }
        by_password.entry(&s.password).or_default().push(s);
        if let Some(f) = weak_secret(s, lists) {
            out.push(f);
        }
    }
    for (_, group) in by_password.into_iter().filter(|(p, _)| !p.is_empty()) {
        // The same account listed twice (a phone file and a subscriber export) shares nothing.
        let mut users: Vec<&str> = group.iter().map(|s| s.user.as_str()).collect();
        users.sort_unstable();
        users.dedup();
        if users.len() < 2 {
            continue;
        }
        for s in &group {
            out.push(Finding::new(
                "shared-secret",
                Severity::Warning,
                s.loc.to_string(),
                format!(
                    "{} shares its secret with {}",
                    s.user,
                    others(&users, &s.user)
                ),
                "one leaked or guessed secret opens every account that shares it",
                "give every account its own random secret",
            ));
        }
    }
    out
}

fn others(users: &[&str], me: &str) -> String {
    users
        .iter()
        .filter(|u| **u != me)
        .copied()
        .collect::<Vec<_>>()
        .join(", ")
}

fn weak_secret(s: &Secret, lists: &CandidateLists) -> Option<Finding> {
    let at = s.loc.to_string();
    let fix = "a random secret of 16+ characters per account (e.g. `openssl rand -base64 18`)";
    if s.password.is_empty() {
        return Some(Finding::new(
            "empty-secret",
            Severity::Critical,
            at,
            format!("{} has an empty secret", s.user),
            "anyone can log in as this account",
            fix,
        ));
    }
    if s.password == s.user {
        return Some(Finding::new(
            "secret-equals-user",
            Severity::Critical,
            at,
            format!("the secret of {} is its own user name", s.user),
            "the extension number is the first password every scanner tries",
            fix,
        ));
    }
    if let Some(c) = lists
        .for_account(&s.user)
        .into_iter()
        .find(|c| c.password == s.password)
    {
        let kind = if c.origin == crate::Origin::VendorDefault {
            "default-secret"
        } else {
            "weak-secret"
        };
        return Some(Finding::new(
            kind,
            Severity::Critical,
            at,
            format!(
                "the secret of {} is list entry {} ({})",
                s.user, c.id, c.source
            ),
            "attackers try this list before anything else; the 2015 hijackings began with such defaults",
            fix,
        ));
    }
    let short = s.password.chars().count() < 10 || s.password.chars().all(|c| c.is_ascii_digit());
    short.then(|| {
        Finding::new(
            "short-secret",
            Severity::Warning,
            at,
            format!("the secret of {} is short or digits only", s.user),
            "short secrets fall to a brute force in days at a few attempts per second",
            fix,
        )
    })
}

fn trunk_secret(s: &Secret) -> Finding {
    Finding::new(
        "trunk-secret",
        Severity::Info,
        s.loc.to_string(),
        format!(
            "the carrier credentials of {} are stored in clear on the PBX",
            s.user
        ),
        "whoever reads this file (a backup, a hijacked web page) can call through your carrier from anywhere",
        "keep the file readable by the PBX only (chmod 640), out of backups sent off site, and ask the carrier \
         to bind the account to your address",
    )
}

/// Which contexts reach the trunk with which probes, by who lands there.
pub fn dialplan_findings(m: &Model, probes: &[Probe]) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut seen: BTreeSet<(String, &'static str)> = BTreeSet::new();
    for (context, caller, origin) in entry_contexts(m) {
        for f in context_findings(m, &context, caller, &origin, probes) {
            if seen.insert((f.location.clone(), f.kind)) {
                out.push(f);
            }
        }
    }
    out.extend(ivr_and_operator(m, probes));
    out
}

/// Contexts calls enter from endpoints (each with its most exposed caller), or every context when no endpoint
/// file was given.
fn entry_contexts(m: &Model) -> Vec<(String, Caller, String)> {
    let mut by: BTreeMap<String, (Caller, String)> = BTreeMap::new();
    for e in &m.endpoints {
        let rank = |c: Caller| match c {
            Caller::Guest => 0,
            Caller::Inbound => 1,
            Caller::Phone => 2,
        };
        let entry = by
            .entry(e.context.clone())
            .or_insert((e.caller, e.name.clone()));
        if rank(e.caller) < rank(entry.0) {
            *entry = (e.caller, e.name.clone());
        }
    }
    if m.endpoints.is_empty() {
        for c in m.dialplan.contexts.keys() {
            by.insert(c.clone(), (Caller::Phone, "any endpoint using it".into()));
        }
    }
    by.into_iter()
        .map(|(c, (caller, origin))| (c, caller, origin))
        .collect()
}

fn context_findings(
    m: &Model,
    context: &str,
    caller: Caller,
    origin: &str,
    probes: &[Probe],
) -> Vec<Finding> {
    let mut out = Vec::new();
    let plain = probes
        .iter()
        .find(|p| !p.slips)
        .map(|p| m.dialplan.reach(context, &p.dial));
    for p in probes {
        let Reach::Out {
            pattern,
            pattern_loc,
            ..
        } = m.dialplan.reach(context, &p.dial)
        else {
            continue;
        };
        if let (
            true,
            Some(Reach::Blocked {
                pattern: blocked,
                pattern_loc: bl,
            }),
        ) = (p.slips, &plain)
        {
            out.push(Finding::new(
                "block-bypass",
                Severity::Critical,
                pattern_loc.to_string(),
                format!(
                    "context {context:?} blocks {blocked} ({bl}) but {} ({}) reaches the trunk through {pattern}",
                    p.dial, p.what
                ),
                "attackers dial the same destination with a prefix the block does not cover (the 2015 calls were \
                 dialed with # in front)",
                "block by destination, not by prefix: strip # * 184 and carrier codes before matching, or allow \
                 only the national patterns you need (e.g. _0[1-9]XXXXXXXX) and block everything else",
            ));
            continue;
        }
        let (kind, sev, who) = match caller {
            Caller::Guest => (
                "guest-reaches-trunk",
                Severity::Critical,
                "unauthenticated callers",
            ),
            Caller::Inbound => (
                "inbound-reaches-trunk",
                Severity::Critical,
                "calls coming in from outside",
            ),
            Caller::Phone => (
                "international-from-phones",
                Severity::Warning,
                "every phone in it",
            ),
        };
        out.push(Finding::new(
            kind,
            sev,
            pattern_loc.to_string(),
            format!(
                "from context {context:?} ({origin}), {who} reach the trunk with {} ({}) through {pattern}",
                p.dial, p.what
            ),
            "one hijacked account or one unauthenticated call is enough to dial abroad all weekend",
            "allow international dialling only in a separate context, for the phones that need it, behind a PIN \
             (Authenticate) and a call limit; route unauthenticated and inbound calls to your extensions only",
        ));
    }
    out
}

/// IVRs that fall through to a pattern reaching the trunk, and voicemail operator exits (`o`) that dial out.
fn ivr_and_operator(m: &Model, probes: &[Probe]) -> Vec<Finding> {
    let mut out = Vec::new();
    for c in m.dialplan.contexts.values() {
        if let Some(ivr) = &c.ivr
            && let Some((p, pattern)) =
                probes
                    .iter()
                    .find_map(|p| match m.dialplan.reach(&c.name, &p.dial) {
                        Reach::Out { pattern, .. } => Some((p, pattern)),
                        _ => None,
                    })
        {
            out.push(Finding::new(
                    "ivr-fallthrough",
                    Severity::Critical,
                    ivr.to_string(),
                    format!("the menu of context {:?} lets a caller dial {} ({}) out through {pattern}", c.name, p.dial, p.what),
                    "a caller typing digits into your menu gets an outside line",
                    "accept only the menu's own choices in an IVR context (no includes of dialing contexts, no _X.)",
                ));
        }
        if let Some(loc) = operator_exit_out(m, &c.name, probes) {
            out.push(Finding::new(
                "voicemail-operator-exit",
                Severity::Critical,
                loc.to_string(),
                format!("the operator exit (o) of context {:?} leads to the trunk", c.name),
                "a caller who reaches voicemail presses 0 and gets an outside line",
                "point the o extension at an internal extension (the reception), never at a context that dials out",
            ));
        }
    }
    out
}

/// The `o` extension of a context, when it dials out itself or jumps to a context from which a probe dials out.
fn operator_exit_out(m: &Model, context: &str, probes: &[Probe]) -> Option<super::model::Loc> {
    use super::dialplan::Step;
    let c = m.dialplan.contexts.get(context)?;
    let o = c.extens.iter().find(|e| e.pattern.text() == "o")?;
    if matches!(m.dialplan.reach(context, "o"), Reach::Out { .. }) {
        return Some(o.loc.clone());
    }
    o.steps.iter().find_map(|(step, loc)| match step {
        Step::Goto { context: to, .. }
            if probes
                .iter()
                .any(|p| matches!(m.dialplan.reach(to, &p.dial), Reach::Out { .. })) =>
        {
            Some(loc.clone())
        }
        _ => None,
    })
}

/// No call limit anywhere in the dial plan (and the endpoint files did not set one).
pub fn call_limit_finding(m: &Model) -> Option<Finding> {
    let first = m.dialplan.contexts.values().next()?;
    (!m.limits_calls && m.has_dialplan && m.endpoints.iter().any(|e| e.caller == Caller::Phone)).then(|| {
        Finding::new(
            "no-call-limit",
            Severity::Info,
            first.loc.to_string(),
            "the dial plan limits no concurrent outside calls (no GROUP_COUNT / limit)",
            "a hijacked account places dozens of calls at once: the 2015 bills came from parallel calls",
            "count outside calls per account and in total before Dial (Set(GROUP()=out) with GROUP_COUNT, or \
             FreeSWITCH limit)",
        )
    })
}
