//! The one ban table (source key → until), bounded, and the sources that logged in (vouched for against
//! one-packet fingerprint bans). The decision layer is their only writer; front ends ask it or keep read
//! copies fed by [`crate::Effects::bans`].

use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;

use engine::Millis;

/// Most sources remembered as having logged in.
const MAX_KNOWN_SOURCES: usize = 100_000;
/// How long a successful login vouches for its source against one-packet fingerprint bans.
const KNOWN_SOURCE_MS: Millis = 24 * 3_600_000;

/// What a ban rests on. When the table is full, the bans that rest on least go first: a spoofed flood (one
/// forged packet per address is enough to carry a scanner's mark) must not push out the bans of sources that
/// attacked with many requests, nor an operator's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Evidence {
    /// One packet was enough: a scanner's fingerprint (`scanner_*` rules).
    OnePacket,
    /// Counted requests or failures: floods, request rates, failed logins, calls.
    Counted,
    /// Set by an operator.
    Operator,
}

impl Evidence {
    /// The evidence behind a ban of this rule.
    pub fn of_rule(rule: &str) -> Evidence {
        if rule == "operator" {
            Evidence::Operator
        } else if rule.starts_with("scanner") {
            Evidence::OnePacket
        } else {
            Evidence::Counted
        }
    }
}

/// Bans by source key (the engine's: IPv4 address or IPv6 network). Bounded: when full, the ban with the
/// least evidence, and among those the one that ends soonest, goes first, so a flood of sources cannot grow
/// it nor push out the bans that matter.
#[derive(Debug, Default)]
pub struct BanTable {
    bans: HashMap<IpAddr, (Millis, Evidence)>,
    /// Bans in order of eviction: least evidence first, then soonest end.
    order: BTreeSet<(Evidence, Millis, IpAddr)>,
    /// Bans in order of expiry.
    expiry: BTreeSet<(Millis, IpAddr)>,
    /// Bans dropped to stay within the cap.
    pub evicted: u64,
}

impl BanTable {
    pub fn is_banned(&self, key: IpAddr, now: Millis) -> bool {
        !self.bans.is_empty() && self.bans.get(&key).is_some_and(|(u, _)| *u > now)
    }

    /// Bans in force.
    pub fn active(&self, now: Millis) -> usize {
        self.bans.values().filter(|(u, _)| *u > now).count()
    }

    /// Bans held (in force or run out and not yet forgotten).
    pub fn len(&self) -> usize {
        self.bans.len()
    }

    pub fn is_empty(&self) -> bool {
        self.bans.is_empty()
    }

    /// Sets or moves a ban; keeps at most `max`.
    pub fn put(&mut self, key: IpAddr, until: Millis, evidence: Evidence, max: usize) {
        self.lift(key);
        self.bans.insert(key, (until, evidence));
        self.order.insert((evidence, until, key));
        self.expiry.insert((until, key));
        while self.bans.len() > max.max(1) {
            let Some((_, _, k)) = self.order.first().copied() else {
                break;
            };
            self.lift(k);
            self.evicted += 1;
        }
    }

    pub fn lift(&mut self, key: IpAddr) {
        if let Some((u, e)) = self.bans.remove(&key) {
            self.expiry.remove(&(u, key));
            self.order.remove(&(e, u, key));
        }
    }

    /// Forgets bans that ended (O(ended)).
    pub fn expire(&mut self, now: Millis) {
        while let Some(&(u, k)) = self.expiry.first() {
            if u > now {
                break;
            }
            self.lift(k);
        }
    }
}

/// Sources that logged in successfully, with when: a scanner fingerprint does not ban them (an outsider can
/// spoof one UDP packet from a phone's address). Bounded.
#[derive(Debug, Default)]
pub struct KnownSources(HashMap<IpAddr, Millis>);

impl KnownSources {
    pub fn vouch(&mut self, ip: IpAddr, now: Millis) {
        if self.0.len() >= MAX_KNOWN_SOURCES && !self.0.contains_key(&ip) {
            self.0
                .retain(|_, at| now.saturating_sub(*at) < KNOWN_SOURCE_MS);
            if self.0.len() >= MAX_KNOWN_SOURCES {
                return;
            }
        }
        self.0.insert(ip, now);
    }

    pub fn is_vouched(&self, ip: IpAddr, now: Millis) -> bool {
        self.0
            .get(&ip)
            .is_some_and(|at| now.saturating_sub(*at) < KNOWN_SOURCE_MS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(n: u8) -> IpAddr {
        IpAddr::from([203, 0, 113, n])
    }

    #[test]
    fn a_full_table_drops_the_ban_ending_soonest() {
        let mut t = BanTable::default();
        t.put(ip(1), 5_000, Evidence::Counted, 2);
        t.put(ip(2), 1_000, Evidence::Counted, 2);
        t.put(ip(3), 9_000, Evidence::Counted, 2);
        assert!(!t.is_banned(ip(2), 0), "the one ending soonest went");
        assert!(t.is_banned(ip(1), 0) && t.is_banned(ip(3), 0));
        t.expire(6_000);
        assert!(!t.is_banned(ip(1), 0));
        assert_eq!(t.active(0), 1);
        t.lift(ip(3));
        assert_eq!(t.active(0), 0);
        assert!(t.order.is_empty() && t.expiry.is_empty());
    }

    /// A spoofed flood: far more one-packet bans than the table holds, each ending later than the real ones.
    /// The table stays at its cap, and the bans of sources that attacked with many requests, and the
    /// operator's, are still there at the end; the spoofed singletons went first.
    #[test]
    fn spoofed_singletons_beyond_the_cap_never_push_out_real_bans() {
        let cap = 1_000;
        let mut t = BanTable::default();
        let real = IpAddr::from([198, 51, 100, 1]);
        let operator = IpAddr::from([198, 51, 100, 2]);
        t.put(real, 600_000, Evidence::of_rule("request_rate_source"), cap);
        t.put(operator, 60_000, Evidence::of_rule("operator"), cap);
        for n in 0..50_000u32 {
            let spoofed = IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + n));
            t.put(
                spoofed,
                86_400_000,
                Evidence::of_rule("scanner_user_agent"),
                cap,
            );
            assert!(t.len() <= cap);
        }
        assert_eq!(t.len(), cap);
        assert_eq!(t.evicted, 50_002 - 1_000);
        assert!(t.is_banned(real, 0) && t.is_banned(operator, 0));
        assert_eq!((t.order.len(), t.expiry.len()), (cap, cap));
    }

    #[test]
    fn a_login_vouches_for_a_day() {
        let mut k = KnownSources::default();
        k.vouch(ip(1), 0);
        assert!(k.is_vouched(ip(1), KNOWN_SOURCE_MS - 1));
        assert!(!k.is_vouched(ip(1), KNOWN_SOURCE_MS));
        assert!(!k.is_vouched(ip(2), 0));
    }
}
