//! Who a source is: the side a source address belongs to (the PBX, the trunk, or the outside world), whether
//! the decision layer bans it, and the rate limit on refusals to sources that may not use a listener.

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
            Role::Redirect => side == Side::Pbx,
            // HEP listeners carry no SIP of their own: the mirror front end reads them.
            Role::Hep => false,
        }
    }

    /// Never banned: configured peers, tenants' PBX networks, trusted networks.
    pub fn is_protected(&self, ip: IpAddr) -> bool {
        self.shared.decider.lock().is_protected(ip)
    }

    pub fn is_banned(&self, ip: IpAddr, now: Millis) -> bool {
        self.shared.decider.lock().is_banned(ip, now)
    }

    /// Active bans (for the status page).
    pub fn bans_active(&self, now: Millis) -> usize {
        self.shared.decider.lock().bans_active(now)
    }

    /// Whether another refusal may be sent this second (a flood of refused requests costs nothing).
    pub(super) fn may_refuse(&mut self, wall: Millis) -> bool {
        let sec = wall / 1000;
        let mut refusals = self.shared.refusals.lock();
        if refusals.0 != sec {
            *refusals = (sec, 0);
        }
        refusals.1 += 1;
        refusals.1 <= REFUSALS_PER_SEC
    }
}
