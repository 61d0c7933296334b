//! What a replay knows of the site: the numbering that classifies and prices its calls, the policy that judges
//! them, its tenants and the sources it never bans. `tollguard analyze --config` fills it from the guard's own
//! configuration, so that a backtest judges the calls as `serve` would have.

use std::net::IpAddr;
use std::sync::Arc;

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
    /// Sources never banned: trusted networks, the PBX and the trunk, the tenants' PBX networks. A ban the
    /// engine records for one of them is lifted again, as the guard's decision layer does.
    pub protected: Vec<Network>,
}

impl Site {
    /// A site with this numbering and policy, no tenants and no protected sources.
    pub fn new(numbering: Arc<Numbering>, policy: Policy) -> Site {
        Site {
            numbering,
            policy,
            tenants: Vec::new(),
            protected: Vec::new(),
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

    pub fn with_protected(mut self, protected: Vec<Network>) -> Site {
        self.protected = protected;
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

/// An IPv4 or IPv6 network: an address and the number of leading bits that must match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Network {
    pub addr: IpAddr,
    pub prefix: u8,
}

impl Network {
    /// `10.0.0.0/8`, `2001:db8::/32`, or one address.
    pub fn parse(s: &str) -> Option<Network> {
        let (a, p) = match s.trim().split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s.trim(), None),
        };
        let addr: IpAddr = a.parse().ok()?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match p {
            Some(p) => p.parse::<u8>().ok().filter(|p| *p <= max)?,
            None => max,
        };
        Some(Network { addr, prefix })
    }

    /// Whether the address is in the network (an IPv4-mapped IPv6 address counts as its IPv4 address).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip.to_canonical()) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix.min(32)))
                    .unwrap_or(0);
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix.min(128)))
                    .unwrap_or(0);
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        }
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

    #[test]
    fn networks_match_v4_v6_and_mapped() {
        let n = Network::parse("10.1.0.0/16").unwrap();
        assert!(n.contains("10.1.200.3".parse().unwrap()));
        assert!(!n.contains("10.2.0.1".parse().unwrap()));
        assert!(n.contains("::ffff:10.1.0.9".parse().unwrap()));
        assert!(
            Network::parse("0.0.0.0/0")
                .unwrap()
                .contains("8.8.8.8".parse().unwrap())
        );
        let v6 = Network::parse("2001:db8::/32").unwrap();
        assert!(v6.contains("2001:db8:1::5".parse().unwrap()));
        assert!(!v6.contains("10.0.0.1".parse().unwrap()));
        assert!(Network::parse("10.0.0.0/40").is_none());
    }
}
