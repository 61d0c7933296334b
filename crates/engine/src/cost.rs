//! Call cost: the per-call rate the engine keeps for a call and where it comes from (a [`RateTable`], normally
//! `numbering`'s tariffs, else the policy's fallback estimates). Billable seconds become money by numbering's one
//! formula, [`numbering::call_cost_millis`], the one its tariffs and the reports use.

use numbering::{Destination, Numbering, Tariff};
use serde::{Deserialize, Serialize};

use crate::decision::DestClass;
use crate::policy::FallbackRates;

/// How a call is charged, in thousandths of the site currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Rate {
    pub per_minute_millis: i64,
    pub setup_millis: i64,
    /// First billing increment in seconds.
    pub first_increment: u32,
    /// Following increments in seconds.
    pub next_increment: u32,
}

impl Rate {
    pub fn from_tariff(t: &Tariff) -> Rate {
        Rate {
            per_minute_millis: t.per_minute.millis,
            setup_millis: t.setup.millis,
            first_increment: t.first_increment,
            next_increment: t.next_increment,
        }
    }

    /// A per-minute estimate in currency units, charged 60/60.
    pub fn estimate(units_per_minute: i64) -> Rate {
        Rate {
            per_minute_millis: units_per_minute.saturating_mul(1000),
            setup_millis: 0,
            first_increment: 60,
            next_increment: 60,
        }
    }

    /// Cost of an answered call of `billable_secs`, by numbering's formula ([`numbering::call_cost_millis`]):
    /// setup plus the per-minute rate over the seconds charged (rounded up to the first and then the following
    /// increments), rounded half up to the thousandth. Nothing for an unanswered call.
    pub fn cost(&self, billable_secs: u32) -> i64 {
        numbering::call_cost_millis(
            self.per_minute_millis,
            self.setup_millis,
            self.first_increment,
            self.next_increment,
            billable_secs,
        )
    }

    /// Money accrued by an answered call after `elapsed_ms` (no rounding to increments: an estimate for calls
    /// still in progress).
    pub fn accrued(&self, elapsed_ms: i64) -> i64 {
        self.setup_millis
            .saturating_add(self.per_minute_millis.saturating_mul(elapsed_ms.max(0)) / 60_000)
    }

    /// The least a call costs once answered (setup plus the first increment).
    pub fn minimum(&self) -> i64 {
        self.cost(1)
    }
}

/// Where the engine finds the price of a destination. `numbering::Numbering` is one; tests and backtests with
/// a carrier's own rate sheet can supply another.
pub trait RateTable: Send + Sync {
    fn rate(&self, dest: &Destination) -> Option<Rate>;
}

impl RateTable for Numbering {
    fn rate(&self, dest: &Destination) -> Option<Rate> {
        self.tariff(dest).map(Rate::from_tariff)
    }
}

/// The policy's estimate when the rate table knows no tariff.
pub(crate) fn fallback_rate(f: &FallbackRates, class: DestClass) -> Rate {
    Rate::estimate(match class {
        DestClass::Internal | DestClass::TollFree | DestClass::Service => 0,
        DestClass::Domestic | DestClass::SharedCost => f.domestic,
        DestClass::Mobile => f.mobile,
        DestClass::International => f.international,
        DestClass::Premium => f.premium,
        DestClass::Satellite => f.satellite,
        DestClass::Unknown => f.unknown,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cost_rounds_to_increments() {
        let r = Rate {
            per_minute_millis: 60_000,
            setup_millis: 5_000,
            first_increment: 30,
            next_increment: 6,
        };
        assert_eq!(r.cost(0), 0);
        assert_eq!(r.cost(1), 5_000 + 30_000);
        assert_eq!(r.cost(30), 5_000 + 30_000);
        assert_eq!(r.cost(31), 5_000 + 36_000);
        assert_eq!(r.cost(36), 5_000 + 36_000);
        assert_eq!(r.cost(37), 5_000 + 42_000);
        let m = Rate::estimate(175);
        assert_eq!(m.cost(30), 175_000);
        assert_eq!(m.cost(61), 350_000);
        assert_eq!(m.accrued(30_000), 87_500);
    }

    /// A rate from a tariff costs what the tariff costs, to the thousandth, where the old engine formula
    /// truncated (1 JPY a minute for 31 s at 1/1 is 516.67 thousandths: 517, not 516).
    #[test]
    fn a_rate_costs_what_its_tariff_costs() {
        use numbering::{Currency, Money, TariffSource};
        let r = Rate {
            per_minute_millis: 1_000,
            setup_millis: 0,
            first_increment: 1,
            next_increment: 1,
        };
        assert_eq!(r.cost(31), 517);
        for (per_minute, setup, first, next) in [
            (1_000, 0, 1, 1),
            (175_000, 0, 60, 60),
            (2_917, 10_000, 30, 6),
            (123_457, 5, 6, 6),
            (80_000, 0, 0, 0),
        ] {
            let t = Tariff {
                prefix: "232".into(),
                name: "Sierra Leone".into(),
                per_minute: Money {
                    millis: per_minute,
                    currency: Currency::JPY,
                },
                setup: Money {
                    millis: setup,
                    currency: Currency::JPY,
                },
                first_increment: first,
                next_increment: next,
                source: TariffSource::DefaultEstimate,
            };
            let r = Rate::from_tariff(&t);
            for secs in 0..400 {
                assert_eq!(r.cost(secs), t.cost(secs).millis, "{t:?} {secs} s");
            }
        }
    }

    #[test]
    fn zero_increments_do_not_divide_by_zero() {
        let r = Rate {
            per_minute_millis: 60_000,
            setup_millis: 0,
            first_increment: 0,
            next_increment: 0,
        };
        assert_eq!(r.cost(10), 10_000);
    }
}
