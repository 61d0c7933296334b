//! Call cost: the per-call rate the engine keeps for a call, where it comes from (a [`RateTable`], normally
//! `numbering`'s tariffs, else the policy's fallback estimates), and the one formula that turns billable seconds
//! into money.

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

    /// Cost of an answered call of `billable_secs`: setup plus the per-minute rate over the seconds charged,
    /// rounded up to the first and then the following increments. Nothing for an unanswered call.
    pub fn cost(&self, billable_secs: u32) -> i64 {
        if billable_secs == 0 {
            return 0;
        }
        let first = i64::from(self.first_increment.max(1));
        let next = i64::from(self.next_increment.max(1));
        let secs = i64::from(billable_secs);
        let charged = if secs <= first {
            first
        } else {
            first + (secs - first + next - 1) / next * next
        };
        self.setup_millis
            .saturating_add(self.per_minute_millis.saturating_mul(charged) / 60)
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
pub fn fallback_rate(f: &FallbackRates, class: DestClass) -> Rate {
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
