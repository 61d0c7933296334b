//! Money rules of a call attempt, per account and per tenant: spent in the hour, day and month on watched, paid
//! destinations, plus what calls in progress have accrued and this call's least charge. Free calls (toll-free,
//! service) are never refused by a money cap, and a busy domestic call centre is not fraud: only watched
//! destinations count.

use super::{Counted, Hit, ROW, check, money_fires_at_zero};
use crate::calendar::LocalMoment;
use crate::cost::Rate;
use crate::decision::Unit;
use crate::event::Millis;
use crate::policy::Rules;
use crate::rule_id::RuleId;
use crate::state::{AccountState, TenantState};
use crate::window::{Buckets, Span};

/// The account's money in the hour, day and month with this call (thousandths; zeros for an unpaid call), and
/// its money rules.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub(crate) fn account(
    hits: &mut Vec<Hit>,
    afl: &[i64; ROW],
    rules: &Rules,
    acct: &AccountState,
    rate: &Rate,
    paid: bool,
    bk: &Buckets,
    m: &LocalMoment,
    at: Millis,
    quiet: &mut bool,
) -> [i64; 3] {
    let off = m.off_hours;
    let acct_money = if paid {
        let extra = acct.calls.accrued(at) + rate.minimum();
        [
            acct.cost_hour.total_in(bk.hour) + extra,
            acct.cost_day.total_in(bk.day) + extra,
            acct.cost_month.total(m.month) + extra,
        ]
    } else {
        [0; 3]
    };
    // An unpaid call measures 0 on every money rule: below every floor a policy file can set.
    if paid || money_fires_at_zero(afl) {
        for ((rule, r, secs), spent) in [
            (
                RuleId::MoneyAccountHour,
                &rules.money_account_hour,
                Span::Hour.secs(),
            ),
            (
                RuleId::MoneyAccountDay,
                &rules.money_account_day,
                Span::Day.secs(),
            ),
            (RuleId::MoneyAccountMonth, &rules.money_account_month, 0),
        ]
        .into_iter()
        .zip(acct_money)
        {
            check(
                hits,
                afl,
                rule,
                r,
                spent / 1000,
                off,
                Unit::Money,
                secs,
                Counted::Account,
                Some((acct, at, &mut *quiet)),
            );
        }
    }
    acct_money
}

/// The tenant's money rules: its spend per window with calls in progress and this call's least charge; the
/// month window reports no length.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub(crate) fn tenant(
    hits: &mut Vec<Hit>,
    tfl: &[i64; ROW],
    trules: &Rules,
    ten: &TenantState,
    acct: &AccountState,
    rate: &Rate,
    paid: bool,
    bk: &Buckets,
    m: &LocalMoment,
    at: Millis,
    quiet: &mut bool,
) {
    let off = m.off_hours;
    let spent = if paid {
        let textra = ten.calls.accrued(at) + rate.minimum();
        [
            ten.cost_hour.total_in(bk.hour),
            ten.cost_day.total_in(bk.day),
            ten.cost_month.total(m.month),
        ]
        .map(|c| (c + textra) / 1000)
    } else {
        [0; 3]
    };
    if paid || money_fires_at_zero(tfl) {
        for ((rule, r, secs), measured) in [
            (
                RuleId::MoneyTenantHour,
                &trules.money_tenant_hour,
                Span::Hour.secs(),
            ),
            (
                RuleId::MoneyTenantDay,
                &trules.money_tenant_day,
                Span::Day.secs(),
            ),
            (RuleId::MoneyTenantMonth, &trules.money_tenant_month, 0),
        ]
        .into_iter()
        .zip(spent)
        {
            check(
                hits,
                tfl,
                rule,
                r,
                measured,
                off,
                Unit::Money,
                secs,
                Counted::Tenant,
                Some((acct, at, &mut *quiet)),
            );
        }
    }
}
