//! Per-account summaries for the operator (API, dashboard): what each account did in the last 24 h, what it
//! spent, what is in progress and what kill switches bar it from. Read-only views of the engine's state.

use serde::{Deserialize, Serialize};

use crate::calendar::DayCache;
use crate::decision::{Amount, ClassSet, DestClass};
use crate::engine::{ALL_SCOPE, Engine, amount};
use crate::event::Millis;
use crate::keys::KeyKind;
use crate::window::Span;

/// What one account did recently, as an operator sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccountSummary {
    pub tenant: String,
    pub account: String,
    /// Time of the account's latest event.
    pub last_seen: Millis,
    /// Call attempts (allowed or refused by a rule) in the last 24 h. Calls refused by a kill switch before the
    /// rules run and calls to internal extensions are not counted.
    pub attempts_24h: u32,
    /// Of those, attempts to international, premium-rate and satellite destinations.
    pub international_24h: u32,
    /// Money spent on watched destinations in the last 24 h, including what calls in progress have accrued.
    /// Always `Some` today (the site has a currency); `None` is kept for a store that cannot tell.
    pub spend_24h: Option<Amount>,
    /// Money spent in the site's current calendar month, including calls in progress.
    pub spend_month: Option<Amount>,
    /// Answered calls in progress.
    pub calls_in_progress: u32,
    /// Destination classes barred for this account by kill switches (its own, its tenant's or everyone's),
    /// by their API names ("international", "premium", "satellite"…).
    pub barred: Vec<String>,
}

impl Engine {
    /// Summaries of the accounts the engine remembers, of one tenant or all, as of `now`, sorted by 24 h spend
    /// (highest first), then tenant and account.
    pub fn account_summaries(&self, tenant: Option<&str>, now: Millis) -> Vec<AccountSummary> {
        let currency = self.policy.site.currency;
        let month = self
            .policy
            .site
            .calendar
            .moment(now, &mut DayCache::default())
            .month;
        let everyone = self.barred.get(&ALL_SCOPE).copied().unwrap_or_default();
        let mut v: Vec<AccountSummary> = self
            .accounts
            .iter()
            .filter(|(_, a)| tenant.is_none_or(|t| t == a.tenant))
            .map(|(key, a)| {
                let accrued = a.calls.accrued(now);
                let tkey = self.hasher.one(KeyKind::Tenant, &a.tenant);
                let barred = [tkey, *key]
                    .iter()
                    .filter_map(|k| self.barred.get(k))
                    .fold(everyone, |acc, c| acc.union(*c));
                AccountSummary {
                    tenant: a.tenant.clone(),
                    account: a.account.clone(),
                    last_seen: a.last_seen,
                    attempts_24h: count(a.attempts_day.total(Span::Day, now)),
                    international_24h: count(a.international_day.total(Span::Day, now)),
                    spend_24h: Some(amount(a.cost_day.total(Span::Day, now) + accrued, currency)),
                    spend_month: Some(amount(a.cost_month.total(month) + accrued, currency)),
                    calls_in_progress: a.calls.count,
                    barred: class_names(barred),
                }
            })
            .collect();
        v.sort_by(|x, y| {
            let spend = |s: &AccountSummary| s.spend_24h.map_or(i64::MIN, |a| a.millis);
            spend(y)
                .cmp(&spend(x))
                .then_with(|| x.tenant.cmp(&y.tenant))
                .then_with(|| x.account.cmp(&y.account))
        });
        v
    }
}

fn count(n: i64) -> u32 {
    u32::try_from(n.max(0)).unwrap_or(u32::MAX)
}

fn class_names(set: ClassSet) -> Vec<String> {
    DestClass::ALL
        .into_iter()
        .filter(|c| set.contains(*c))
        .map(|c| c.name().to_owned())
        .collect()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::decision::BarScope;
    use crate::event::{CallAnswered, CallAttempt, CallEnded, EndCause, Event};
    use crate::policy::Policy;

    const HOUR: Millis = 3_600_000;
    /// Monday 2025-06-02 10:00 JST.
    const T0: Millis = 1_748_826_000_000;

    struct Office {
        engine: Engine,
        numbering: Arc<numbering::Numbering>,
        n: u32,
    }

    impl Office {
        fn call(&mut self, at: Millis, tenant: &str, account: &str, dialed: &str) -> String {
            self.n += 1;
            let id = format!("c{}", self.n);
            let d = self.numbering.classify(dialed);
            let mut out = Vec::new();
            self.engine.on_event(
                &Event::CallAttempt(CallAttempt {
                    at,
                    call_id: &id,
                    tenant,
                    account,
                    source: None,
                    user_agent: "",
                    authenticated: true,
                    caller_id_foreign: false,
                    dialed,
                    destination: &d,
                    route: "",
                    leg: crate::Leg::Direct,
                    forwarded_from: None,
                }),
                &mut out,
            );
            id
        }
        fn answer(&mut self, at: Millis, id: &str) {
            self.engine.on_event(
                &Event::CallAnswered(CallAnswered { at, call_id: id }),
                &mut Vec::new(),
            );
        }
        fn end(&mut self, at: Millis, id: &str, billsec: u32) {
            self.engine.on_event(
                &Event::CallEnded(CallEnded {
                    at,
                    call_id: id,
                    duration_secs: billsec + 5,
                    billable_secs: billsec,
                    cause: EndCause::Normal,
                }),
                &mut Vec::new(),
            );
        }
    }

    fn office() -> Office {
        let policy = Policy::from_toml_str(
            "[defaults.destinations]\nallow_countries = [\"*\"]\nblock_risk_at = \"never\"\n",
        )
        .expect("test policy");
        let numbering = Arc::new(numbering::Numbering::japan_defaults());
        Office {
            engine: Engine::new(policy, numbering.clone()),
            numbering,
            n: 0,
        }
    }

    #[test]
    fn summaries_count_international_apart_and_filter_by_tenant() {
        let mut o = office();
        // Tenant "acme", extension 205: two calls to the US (one finished after 10 min, one still talking),
        // three domestic calls and one internal call (not counted).
        let us1 = o.call(T0, "acme", "205", "01012125550100");
        o.answer(T0 + 5_000, &us1);
        o.end(T0 + 605_000, &us1, 600);
        let us2 = o.call(T0 + HOUR, "acme", "205", "01012125550101");
        o.answer(T0 + HOUR + 5_000, &us2);
        for i in 0..3 {
            o.call(T0 + 2 * HOUR + i, "acme", "205", "0312345678");
        }
        o.call(T0 + 2 * HOUR + 10, "acme", "205", "206");
        // Tenant "beta", extension 300: one domestic call.
        o.call(T0 + HOUR, "beta", "300", "0612345678");
        o.engine.set_kill_switch(
            BarScope::Account {
                tenant: "acme".into(),
                account: "205".into(),
            },
            ClassSet::INTERNATIONAL,
            T0 + 3 * HOUR,
            "operator",
            "test",
        );

        let now = T0 + 3 * HOUR;
        let all = o.engine.account_summaries(None, now);
        assert_eq!(all.len(), 2, "{all:?}");
        let acme = &all[0];
        assert_eq!(
            (acme.tenant.as_str(), acme.account.as_str()),
            ("acme", "205")
        );
        assert_eq!(acme.attempts_24h, 5);
        assert_eq!(acme.international_24h, 2);
        assert_eq!(acme.calls_in_progress, 1);
        assert_eq!(acme.last_seen, T0 + 2 * HOUR + 2);
        assert_eq!(acme.barred, vec!["international", "premium", "satellite"]);
        let spend = acme.spend_24h.expect("spend");
        assert!(spend.millis > 0, "{spend:?}");
        assert_eq!(&spend.currency.0, b"JPY");
        // The month includes the day (same month, nothing earlier).
        assert_eq!(acme.spend_month, acme.spend_24h);

        let beta = &all[1];
        assert_eq!(
            (beta.tenant.as_str(), beta.account.as_str()),
            ("beta", "300")
        );
        assert_eq!(beta.attempts_24h, 1);
        assert_eq!(beta.international_24h, 0);
        assert_eq!(beta.calls_in_progress, 0);
        assert!(beta.barred.is_empty());
        assert_eq!(beta.spend_24h.map(|a| a.millis), Some(0));

        let only_beta = o.engine.account_summaries(Some("beta"), now);
        assert_eq!(only_beta, vec![beta.clone()]);
        assert!(o.engine.account_summaries(Some("nobody"), now).is_empty());

        // A day later the 24 h counters are empty; the kill switch still holds.
        let later = o.engine.account_summaries(Some("acme"), now + 25 * HOUR);
        assert_eq!(later.len(), 1);
        assert_eq!((later[0].attempts_24h, later[0].international_24h), (0, 0));
        assert_eq!(later[0].barred.len(), 3);

        // The summary round-trips through JSON as the API sends it.
        let json = serde_json::to_string(&all).expect("json");
        let back: Vec<AccountSummary> = serde_json::from_str(&json).expect("back");
        assert_eq!(back, all);
        assert!(json.contains("\"barred\":[\"international\",\"premium\",\"satellite\"]"));
    }

    #[test]
    fn class_names_are_the_serde_names() {
        for c in DestClass::ALL {
            assert_eq!(
                serde_json::to_string(&c).expect("json"),
                format!("\"{}\"", c.name())
            );
        }
    }

    #[test]
    fn snapshots_without_the_international_counter_restore() {
        let mut o = office();
        o.call(T0, "acme", "205", "01012125550100");
        let snap = o.engine.snapshot();
        let mut json: serde_json::Value = serde_json::to_value(&snap).expect("json");
        // Remove the field from every account, as a snapshot of an older version has none.
        let mut removed = 0;
        if let Some(accounts) = json.get_mut("accounts").and_then(|a| a.as_array_mut()) {
            for pair in accounts {
                if let Some(state) = pair.get_mut(1).and_then(|s| s.as_object_mut()) {
                    removed += usize::from(state.remove("international_day").is_some());
                }
            }
        }
        assert_eq!(removed, 1);
        let old: crate::Snapshot = serde_json::from_value(json).expect("old snapshot");
        let policy = o.engine.policy().clone();
        let e = Engine::restore(policy, o.numbering.clone(), old);
        let s = e.account_summaries(None, T0 + 1);
        assert_eq!((s[0].attempts_24h, s[0].international_24h), (1, 0));
    }
}
