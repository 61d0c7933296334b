//! Numbering: from a dialed string to a destination, its risk and its price.
//!
//! This file is the crate's public contract (types used by `engine`, `guard` and the CLI). The numbering
//! implementation fills in the bodies; names and meanings of the public items below are shared with other crates
//! and change only together with them.

mod types;

pub use types::*;

/// Everything the crate needs to turn a dialed string into a priced, risk-rated destination:
/// the site's dial plan, risk lists and tariffs. Cheap to share between threads (`Send + Sync`).
#[derive(Debug)]
pub struct Numbering {
    plan: DialPlan,
}

impl Numbering {
    /// Japanese site with the embedded defaults (dial plan JP, default risk list, default JPY tariffs).
    pub fn japan_defaults() -> Self {
        Self {
            plan: DialPlan::japan(),
        }
    }

    /// The site's dial plan.
    pub fn plan(&self) -> &DialPlan {
        &self.plan
    }

    /// Classifies what was dialed (a bare dial string, a `tel:` URI, or the user part of a `sip:` URI with
    /// `user=phone`). Never fails: what cannot be understood is `NumberClass::Unknown` with flags saying why.
    pub fn classify(&self, dialed: &str) -> Destination {
        let _ = dialed;
        Destination::unknown()
    }

    /// The tariff that applies to a destination (longest-prefix match over the active rate table).
    pub fn tariff(&self, dest: &Destination) -> Option<&Tariff> {
        let _ = dest;
        None
    }
}
