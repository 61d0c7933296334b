//! What a hijacked account would have cost at the 2015 pattern: 10,000 calls of 30 s to Sierra Leone
//! (+232, dialed 010 232 … from Japan) over one weekend, priced with the numbering crate's tariff.

use numbering::{Currency, Money, Numbering};
use serde::Serialize;

/// The dial string of the pattern (Japan's international prefix 010, Sierra Leone 232, a mobile number).
pub const DIALED: &str = "01023276123456";
pub const CALLS: i64 = 10_000;
pub const SECONDS: u32 = 30;
/// Used only when the tariff table has no price: 175 JPY per started minute, the embedded estimate for +232.
const FALLBACK_PER_CALL_JPY: i64 = 175;

/// The estimate and how it was made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Cost2015 {
    pub per_call: String,
    pub total: String,
    pub total_units: i64,
    pub currency: String,
    pub derivation: String,
}

/// The 2015 weekend's cost for one site.
pub fn weekend_2015(numbering: &Numbering) -> Cost2015 {
    let dest = numbering.classify(DIALED);
    let per_call = numbering
        .cost(&dest, SECONDS)
        .unwrap_or(Money::from_units(FALLBACK_PER_CALL_JPY, Currency::JPY));
    let total = Money::from_millis(per_call.millis.saturating_mul(CALLS), per_call.currency);
    let country = dest.country.map_or("Sierra Leone", |c| c.name);
    Cost2015 {
        per_call: per_call.to_string(),
        total: format!(
            "{} {}",
            numbering::group_thousands(total.units_rounded()),
            total.currency
        ),
        total_units: total.units_rounded(),
        currency: total.currency.to_string(),
        derivation: format!(
            "{} calls × {SECONDS} s to {country} ({DIALED}) over a weekend, as in the 2015 Japanese PBX \
             hijackings; {per_call} per call from the tariff table (carrier billing increments applied)",
            numbering::group_thousands(CALLS)
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ten_thousand_thirty_second_calls_to_sierra_leone() {
        let c = weekend_2015(&Numbering::japan_defaults());
        assert_eq!(c.currency, "JPY");
        assert_eq!(c.total_units, 10_000 * 175);
        assert!(c.derivation.contains("Sierra Leone"), "{}", c.derivation);
    }
}
