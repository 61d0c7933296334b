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

/// Bans by source key (the engine's: IPv4 address or IPv6 network). When full, the ban that ends soonest
/// goes first, so a flood of sources cannot grow it.
#[derive(Debug, Default)]
pub struct BanTable {
    bans: HashMap<IpAddr, Millis>,
    /// Bans in order of expiry.
    expiry: BTreeSet<(Millis, IpAddr)>,
}

impl BanTable {
    pub fn is_banned(&self, key: IpAddr, now: Millis) -> bool {
        !self.bans.is_empty() && self.bans.get(&key).is_some_and(|u| *u > now)
    }

    /// Bans in force.
    pub fn active(&self, now: Millis) -> usize {
        self.bans.values().filter(|u| **u > now).count()
    }

    /// Sets or moves a ban; keeps at most `max`.
    pub fn put(&mut self, key: IpAddr, until: Millis, max: usize) {
        if let Some(old) = self.bans.insert(key, until) {
            self.expiry.remove(&(old, key));
        }
        self.expiry.insert((until, key));
        while self.bans.len() > max {
            let Some((u, k)) = self.expiry.pop_first() else {
                break;
            };
            if self.bans.get(&k) == Some(&u) {
                self.bans.remove(&k);
            }
        }
    }

    pub fn lift(&mut self, key: IpAddr) {
        if let Some(u) = self.bans.remove(&key) {
            self.expiry.remove(&(u, key));
        }
    }

    /// Forgets bans that ended (O(ended)).
    pub fn expire(&mut self, now: Millis) {
        while let Some(&(u, k)) = self.expiry.first() {
            if u > now {
                break;
            }
            self.expiry.pop_first();
            if self.bans.get(&k) == Some(&u) {
                self.bans.remove(&k);
            }
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
        t.put(ip(1), 5_000, 2);
        t.put(ip(2), 1_000, 2);
        t.put(ip(3), 9_000, 2);
        assert!(!t.is_banned(ip(2), 0), "the one ending soonest went");
        assert!(t.is_banned(ip(1), 0) && t.is_banned(ip(3), 0));
        t.expire(6_000);
        assert!(!t.is_banned(ip(1), 0));
        assert_eq!(t.active(0), 1);
        t.lift(ip(3));
        assert_eq!(t.active(0), 0);
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
