//! Source keys: what a request's address is counted and banned as. An IPv4 address (or an IPv4-mapped IPv6 one,
//! `::ffff:a.b.c.d`) is itself; an IPv6 address is its network of `ipv6_prefix` bits, since one subscriber gets a
//! whole /64 and an attacker could otherwise take a fresh address, and fresh counters, for every guess.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The key `ip` is counted and banned under: the IPv4 address itself (IPv4-mapped IPv6 included), or the network
/// address of the IPv6 address's first `ipv6_prefix` bits (at most 128). Applying it to a key gives the key.
pub fn source_key(ip: IpAddr, ipv6_prefix: u8) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(mask_v6(v6, ipv6_prefix)),
        },
    }
}

fn mask_v6(a: Ipv6Addr, bits: u8) -> Ipv6Addr {
    let bits = u32::from(bits.min(128));
    let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
    Ipv6Addr::from(u128::from(a) & mask)
}

/// The network a source key belongs to when failures and a success are linked: the /24 of an IPv4 key, the /64 of
/// an IPv6 key (the key itself with the usual prefix).
pub(crate) fn network_of(key: IpAddr) -> IpAddr {
    match key {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            IpAddr::V4(Ipv4Addr::new(a, b, c, 0))
        }
        IpAddr::V6(v6) => IpAddr::V6(mask_v6(v6, 64)),
    }
}

/// A source key in sentences: "198.51.100.7", or an IPv6 network as "2001:db8:1:2::/64".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SourceWords {
    pub key: IpAddr,
    pub ipv6_prefix: u8,
}

impl fmt::Display for SourceWords {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.key {
            IpAddr::V6(v6) if self.ipv6_prefix < 128 => write!(f, "{v6}/{}", self.ipv6_prefix),
            key => write!(f, "{key}"),
        }
    }
}

impl SourceWords {
    /// The decision's subject for this source key.
    pub(crate) fn subject(self) -> crate::decision::Subject {
        crate::decision::Subject::Source {
            source: self.key,
            ipv6_prefix: self.ipv6_prefix,
        }
    }
}

/// A network of [`network_of`] in sentences: "198.51.100.0/24", "2001:db8:1:2::/64".
pub(crate) fn network_words(net: IpAddr) -> String {
    match net {
        IpAddr::V4(v4) => format!("{v4}/24"),
        IpAddr::V6(v6) => format!("{v6}/64"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("address")
    }

    #[test]
    fn ipv4_and_mapped_ipv4_are_the_same_key() {
        assert_eq!(source_key(ip("198.51.100.7"), 64), ip("198.51.100.7"));
        assert_eq!(
            source_key(ip("::ffff:198.51.100.7"), 64),
            ip("198.51.100.7")
        );
        assert_eq!(
            source_key(ip("::ffff:198.51.100.7"), 128),
            ip("198.51.100.7")
        );
    }

    #[test]
    fn ipv6_is_keyed_by_its_network() {
        let a = source_key(ip("2001:db8:1:2:aaaa:bbbb:cccc:dddd"), 64);
        let b = source_key(ip("2001:db8:1:2::5"), 64);
        assert_eq!(a, ip("2001:db8:1:2::"));
        assert_eq!(a, b);
        assert_ne!(a, source_key(ip("2001:db8:1:3::5"), 64));
        assert_eq!(
            source_key(ip("2001:db8:1:2::5"), 128),
            ip("2001:db8:1:2::5")
        );
        assert_eq!(source_key(ip("2001:db8:1:2::5"), 48), ip("2001:db8:1::"));
        assert_eq!(
            source_key(ip("2001:db8:ffff:2::5"), 33),
            ip("2001:db8:8000::")
        );
        // A key is its own key.
        for p in [32u8, 48, 56, 64, 100, 128] {
            let k = source_key(ip("2001:db8:abcd:ef01:2345:6789:abcd:ef01"), p);
            assert_eq!(source_key(k, p), k, "/{p}");
        }
    }

    #[test]
    fn keys_are_named_as_networks() {
        let w = |key: &str, p| {
            SourceWords {
                key: source_key(ip(key), p),
                ipv6_prefix: p,
            }
            .to_string()
        };
        assert_eq!(w("2001:db8:1:2::5", 64), "2001:db8:1:2::/64");
        assert_eq!(w("2001:db8:1:2::5", 128), "2001:db8:1:2::5");
        assert_eq!(w("::ffff:198.51.100.7", 64), "198.51.100.7");
        assert_eq!(
            network_words(network_of(ip("198.51.100.7"))),
            "198.51.100.0/24"
        );
        assert_eq!(
            network_words(network_of(source_key(ip("2001:db8:1:2::5"), 128))),
            "2001:db8:1:2::/64"
        );
    }
}
