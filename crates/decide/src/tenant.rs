//! Who a call or login belongs to: tenants (their PBX networks, accounts, own numbers, login limits) and the
//! one resolver that names the tenant of a call attempt and of a login, whatever front end saw it.

use std::net::IpAddr;

use serde::Deserialize;

/// Where the account of an outbound call is read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum AccountFrom {
    /// User part of the From URI (what most PBXs send).
    #[default]
    FromUser,
    /// User part of the first P-Asserted-Identity URI (falls back to From when absent).
    PAssertedIdentity,
    /// The value of the header named in `account_header` (falls back to From when absent).
    Header,
}

pub use engine::Network;

/// A tenant and how its calls are attributed.
#[derive(Debug, Clone, PartialEq)]
pub struct Tenant {
    pub name: String,
    pub pbx_sources: Vec<Network>,
    pub accounts: Vec<String>,
    pub account_from: AccountFrom,
    pub account_header: Option<String>,
    /// Its own numbers as E.164 digit prefixes without "+" (empty: not checked).
    pub numbers: Vec<String>,
    /// Where logins to its accounts may come from ([`crate::geo`]).
    pub login: crate::geo::LoginLimits,
}

impl Tenant {
    /// Whether the account is one of the tenant's own (`accounts`), or no list is configured. Calls from other
    /// accounts share one strict engine bucket, so rotating the From user resets nothing.
    pub fn knows_account(&self, account: &str) -> bool {
        self.accounts.is_empty() || self.accounts.iter().any(|a| a == account)
    }

    /// Whether a source address is one of the tenant's PBX networks.
    pub fn has_source(&self, ip: IpAddr) -> bool {
        self.pbx_sources.iter().any(|n| n.contains(ip))
    }
}

/// The configured tenants, the first being the default one.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tenants(pub Vec<Tenant>);

impl Tenants {
    /// The tenant of a call or query: the one named (None when no tenant has that name), else the one whose
    /// PBX networks hold the source, else the default tenant.
    pub fn resolve(&self, named: Option<&str>, source: Option<IpAddr>) -> Option<&Tenant> {
        if let Some(name) = named {
            return self.by_name(name);
        }
        let ip = source.map(|s| s.to_canonical());
        ip.and_then(|ip| self.0.iter().find(|t| t.has_source(ip)))
            .or_else(|| self.0.first())
    }

    pub fn by_name(&self, name: &str) -> Option<&Tenant> {
        self.0.iter().find(|t| t.name == name)
    }

    pub fn iter(&self) -> std::slice::Iter<'_, Tenant> {
        self.0.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tenant(name: &str, net: &str) -> Tenant {
        Tenant {
            name: name.into(),
            pbx_sources: vec![Network::parse(net).unwrap()],
            accounts: vec!["201".into()],
            account_from: AccountFrom::FromUser,
            account_header: None,
            numbers: vec![],
            login: Default::default(),
        }
    }

    #[test]
    fn a_named_tenant_wins_and_an_unknown_name_resolves_to_none() {
        let ts = Tenants(vec![tenant("a", "10.0.0.0/8"), tenant("b", "192.0.2.0/24")]);
        let ip = "192.0.2.7".parse().ok();
        assert_eq!(ts.resolve(None, ip).unwrap().name, "b");
        assert_eq!(ts.resolve(Some("a"), ip).unwrap().name, "a");
        assert!(ts.resolve(Some("zz"), ip).is_none());
        assert_eq!(
            ts.resolve(None, "203.0.113.1".parse().ok()).unwrap().name,
            "a"
        );
        let mapped = "::ffff:192.0.2.9".parse().ok();
        assert_eq!(ts.resolve(None, mapped).unwrap().name, "b");
        assert!(ts.0[0].knows_account("201") && !ts.0[0].knows_account("999"));
    }
}
