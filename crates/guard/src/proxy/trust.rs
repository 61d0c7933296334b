//! Who a source is, and what the guard keeps about sources: the side a source address belongs to (the PBX,
//! the trunk, or the outside world), the read copy of the bans for the drop filter (by the engine's source key: IPv4 address or IPv6 /64; bounded like the engine's table),
//! the sources that logged in, and the rate limit on refusals to sources that may not use a listener.

use super::*;

/// The side a source address belongs to. Only configuration says so, never a header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The PBX (`[pbx]` address or a tenant's `pbx_sources`).
    Pbx,
    /// The carrier (`[trunk]` address).
    Trunk,
    /// Anybody else: phones and the internet.
    Outside,
}

/// Most sources remembered as having logged in.
const MAX_KNOWN_SOURCES: usize = 100_000;
/// How long a successful login vouches for its source against one-packet fingerprint bans.
const KNOWN_SOURCE_MS: Millis = 24 * 3_600_000;
/// Refusals answered per second to sources that may not use a listener; beyond, silent drops.
const REFUSALS_PER_SEC: u32 = 50;

impl Core {
    /// The side of a (canonical) source address.
    pub fn side_of(&self, ip: IpAddr) -> Side {
        let ip = ip.to_canonical();
        let s = &self.settings;
        if s.trunk.is_some_and(|t| t.address.ip().to_canonical() == ip) {
            Side::Trunk
        } else if s.pbx.address.ip().to_canonical() == ip
            || s.tenants
                .iter()
                .any(|t| t.pbx_sources.iter().any(|n| n.contains(ip)))
        {
            Side::Pbx
        } else {
            Side::Outside
        }
    }

    /// Whether a source may use a listener of this role: access from anyone, pbx from the PBX (and the
    /// carrier, which may send inbound calls to the trunk-side listener), carrier only from the trunk.
    pub(super) fn admits(role: Role, side: Side) -> bool {
        match role {
            Role::Access => true,
            Role::Pbx => side != Side::Outside,
            Role::Carrier => side == Side::Trunk,
        }
    }

    /// Never banned: configured peers, tenants' PBX networks, trusted networks.
    pub fn is_protected(&self, ip: IpAddr) -> bool {
        self.side_of(ip) != Side::Outside || self.settings.is_trusted(ip.to_canonical())
    }

    /// The key a source is counted and banned under (the engine's policy: IPv4 address, IPv6 network).
    pub(super) fn key(&self, ip: IpAddr) -> IpAddr {
        self.engine.policy().source_key(ip)
    }

    pub fn is_banned(&self, ip: IpAddr, now: Millis) -> bool {
        !self.bans.is_empty() && self.bans.get(&self.key(ip)).is_some_and(|u| *u > now)
    }

    /// Active bans (for the status page).
    pub fn bans_active(&self, now: Millis) -> usize {
        self.bans.values().filter(|u| **u > now).count()
    }

    /// Puts a ban in the table (by key); false for protected sources. A full table drops the ban that
    /// ends soonest.
    pub(super) fn put_ban(&mut self, source: IpAddr, until: Millis) -> bool {
        if self.is_protected(source) {
            return false;
        }
        let key = self.key(source);
        if let Some(old) = self.bans.insert(key, until) {
            self.ban_expiry.remove(&(old, key));
        }
        self.ban_expiry.insert((until, key));
        // Bounded like the engine's own table: the ban that ends soonest goes first.
        let max = self.engine.policy().sources.max_bans;
        while self.bans.len() > max {
            let Some((u, k)) = self.ban_expiry.pop_first() else {
                break;
            };
            if self.bans.get(&k) == Some(&u) {
                self.bans.remove(&k);
            }
        }
        true
    }

    pub(super) fn drop_ban(&mut self, source: IpAddr) {
        let key = self.key(source);
        if let Some(u) = self.bans.remove(&key) {
            self.ban_expiry.remove(&(u, key));
        }
    }

    pub(super) fn expire_bans(&mut self, now: Millis) {
        while let Some(&(u, k)) = self.ban_expiry.first() {
            if u > now {
                break;
            }
            self.ban_expiry.pop_first();
            if self.bans.get(&k) == Some(&u) {
                self.bans.remove(&k);
            }
        }
    }

    /// A source logged in: one spoofed packet with a scanner's mark must not ban it.
    pub(super) fn vouch(&mut self, ip: IpAddr, now: Millis) {
        if self.known_sources.len() >= MAX_KNOWN_SOURCES && !self.known_sources.contains_key(&ip) {
            self.known_sources
                .retain(|_, at| now.saturating_sub(*at) < KNOWN_SOURCE_MS);
            if self.known_sources.len() >= MAX_KNOWN_SOURCES {
                return;
            }
        }
        self.known_sources.insert(ip, now);
    }

    pub(super) fn is_vouched(&self, ip: IpAddr, now: Millis) -> bool {
        self.known_sources
            .get(&ip)
            .is_some_and(|at| now.saturating_sub(*at) < KNOWN_SOURCE_MS)
    }

    /// Whether another refusal may be sent this second (a flood of refused requests costs nothing).
    pub(super) fn may_refuse(&mut self, wall: Millis) -> bool {
        let sec = wall / 1000;
        if self.refusals.0 != sec {
            self.refusals = (sec, 0);
        }
        self.refusals.1 += 1;
        self.refusals.1 <= REFUSALS_PER_SEC
    }
}
