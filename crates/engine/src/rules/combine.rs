//! Combining an attempt's hits: each hit becomes a decision explained with the calls that contributed (a
//! warning already raised for the account within its window is not repeated), and the first critical hit that
//! escalates names the account or tenant to bar.

use super::{Counted, Hit, novelty};
use crate::decision::{Decision, Level};
use crate::event::Millis;
use crate::explain::{self, CallContext};
use crate::keys::{BoundedMap, CallLog};
use crate::state::{AccountState, NumberState, RangeState};
use crate::window::Recent;

/// Where the decisions that escalate are in `out`: the account's first, the tenant's first.
pub(crate) struct Escalation {
    pub account: Option<usize>,
    pub tenant: Option<usize>,
}

/// The state the hits of an attempt were counted on, to name the calls that contributed to each.
pub(crate) struct Counters<'a> {
    pub tenant_recent: Recent,
    pub numbers: &'a BoundedMap<NumberState>,
    pub ranges: &'a BoundedMap<RangeState>,
    pub number_key: u64,
    pub range_key: u64,
    pub call_log: &'a CallLog,
}

/// Turns the hits into decisions in `out`.
pub(crate) fn explain_hits(
    hits: &[Hit],
    ctx: &CallContext<'_, '_>,
    acct: &mut AccountState,
    counters: Counters<'_>,
    at: Millis,
    out: &mut Vec<Decision>,
) -> Escalation {
    let mut escalation = Escalation {
        account: None,
        tenant: None,
    };
    for h in hits.iter() {
        // A warning already raised for this account within its window is not repeated; the novelty rules said
        // once are remembered instead.
        if novelty::said_once(h.rule) {
            novelty::told(&mut acct.baseline, h.rule, ctx.attempt.destination);
        } else if h.level == Level::Warning
            && !acct.should_warn(h.rule as u8, at, i64::from(h.window_secs.max(600)) * 1000)
        {
            continue;
        }
        let recent = match h.subject {
            Counted::Tenant => counters.tenant_recent,
            Counted::Number => counters
                .numbers
                .get(counters.number_key)
                .map(|n| n.recent)
                .unwrap_or(acct.recent),
            Counted::Range => counters
                .ranges
                .get(counters.range_key)
                .map(|r| r.recent)
                .unwrap_or(acct.recent),
            _ => acct.recent,
        };
        let since = at - i64::from(h.window_secs.max(60)) * 1000;
        let contributing = counters.call_log.ids(recent.since(since));
        out.push(explain::call_decision(h, ctx, contributing));
        if h.level == Level::Critical && !h.shadow && h.escalate {
            match h.subject {
                Counted::Tenant => escalation.tenant = escalation.tenant.or(Some(out.len() - 1)),
                _ => escalation.account = escalation.account.or(Some(out.len() - 1)),
            }
        }
    }
    escalation
}
