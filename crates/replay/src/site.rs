//! What a replay knows of the site: the numbering that classifies and prices its calls, the policy that judges
//! them, its tenants and the sources it never bans. `tollguard analyze --config` fills it from the guard's own
//! configuration, so that a backtest judges the calls as `serve` would have.

use std::net::IpAddr;
use std::sync::Arc;

pub use engine::Network;
use engine::Policy;
use numbering::{Currency, Numbering};

/// The site's settings a replay runs with.
#[derive(Debug, Clone)]
pub struct Site {
    /// Dial plan, risk lists and tariffs.
    pub numbering: Arc<Numbering>,
    pub policy: Policy,
    /// The tenants, the first being the default one (as the guard's `[[tenant]]` sections). Empty: each call
    /// belongs to the tenant its record names (or the Asterisk accountcode that differs from the extension) and
    /// every account counts as known.
    pub tenants: Vec<Tenant>,
    /// The site's facts the engine decides with, as the guard gives them (`DecideConfig::site`): sources never
    /// banned (trusted networks, the PBX and the trunk, the tenants' PBX networks) and the refusal status.
    pub facts: engine::Site,
}

impl Site {
    /// A site with this numbering and policy, no tenants and no protected sources.
    pub fn new(numbering: Arc<Numbering>, policy: Policy) -> Site {
        Site {
            numbering,
            policy,
            tenants: Vec::new(),
            facts: engine::Site::default(),
        }
    }

    /// What a new site gets without configuration: a Japanese site with the embedded risk list and JPY tariff
    /// estimates, and the built-in policy.
    pub fn defaults() -> Site {
        Site::new(Arc::new(Numbering::japan_defaults()), Policy::default())
    }

    pub fn with_tenants(mut self, tenants: Vec<Tenant>) -> Site {
        self.tenants = tenants;
        self
    }

    pub fn with_facts(mut self, facts: engine::Site) -> Site {
        self.facts = facts;
        self
    }

    /// The site's time zone (the policy's calendar): CDR times without a zone are read in it.
    pub fn time_zone(&self) -> cdr::Tz {
        self.policy.site.calendar.tz
    }

    /// The currency the policy's money thresholds are in.
    pub fn currency(&self) -> Currency {
        self.policy.site.currency
    }
}

/// A tenant as a replay attributes calls to it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Tenant {
    pub name: String,
    /// Source networks of its PBX: a record with such a source address and no tenant of its own is this
    /// tenant's.
    pub pbx_sources: Vec<Network>,
    /// Its known accounts (extensions); calls from others are unauthenticated. Empty: every account is known.
    pub accounts: Vec<String>,
}

impl Tenant {
    pub fn knows_account(&self, account: &str) -> bool {
        self.accounts.is_empty() || self.accounts.iter().any(|a| a == account)
    }

    pub fn has_source(&self, ip: IpAddr) -> bool {
        self.pbx_sources.iter().any(|n| n.contains(ip))
    }
}

/// The tenant of a record and whether its account is one of that tenant's, as the guard resolves a call: the
/// tenant the record names when it is configured, else the one whose PBX networks hold the source, else the
/// default (first) tenant. A name no tenant has is an accountcode (a department, a customer's group of phones),
/// not a tenant of the configuration. Without tenants the record's own name stands and every account is known.
pub(crate) fn attribute<'a>(
    tenants: &'a [Tenant],
    named: &'a str,
    account: &str,
    source: Option<IpAddr>,
) -> (&'a str, bool) {
    if tenants.is_empty() {
        return (named, true);
    }
    let by_name = || {
        tenants
            .iter()
            .find(|t| !named.is_empty() && t.name == named)
    };
    let by_source = || source.and_then(|ip| tenants.iter().find(|t| t.has_source(ip)));
    match by_name().or_else(by_source).or_else(|| tenants.first()) {
        Some(t) => (t.name.as_str(), t.knows_account(account)),
        None => (named, true),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tenant(name: &str, net: &str, accounts: &[&str]) -> Tenant {
        Tenant {
            name: name.into(),
            pbx_sources: vec![Network::parse(net).unwrap_or(Network {
                addr: IpAddr::from([0, 0, 0, 0]),
                prefix: 32,
            })],
            accounts: accounts.iter().map(|a| a.to_string()).collect(),
        }
    }

    #[test]
    fn calls_go_to_the_named_tenant_then_by_source_then_to_the_default() {
        let ts = [
            tenant("acme", "10.0.0.0/8", &["201", "202"]),
            tenant("globex", "192.0.2.0/24", &[]),
        ];
        let ip = |s: &str| s.parse::<IpAddr>().ok();
        assert_eq!(
            attribute(&ts, "globex", "999", ip("10.1.1.1")),
            ("globex", true)
        );
        assert_eq!(attribute(&ts, "", "201", ip("10.1.1.1")), ("acme", true));
        assert_eq!(
            attribute(&ts, "sales", "5", ip("::ffff:192.0.2.9")),
            ("globex", true),
            "an accountcode that names no tenant is not one"
        );
        assert_eq!(
            attribute(&ts, "", "999", ip("203.0.113.1")),
            ("acme", false),
            "the default tenant, and an account it does not list"
        );
        assert_eq!(attribute(&[], "dept7", "201", None), ("dept7", true));
    }
}
