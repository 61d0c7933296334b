//! Requests, phase by phase: the gate for outsiders (bans, counts, scanner marks), admission to the listener
//! (the source decides which listener it may use), the next hop (the listener's role and the tracked dialogs
//! decide where a request may go — never a Route, Request-URI host or To-tag an outsider wrote), the
//! decision of calls to the trunk, and forwarding with the transaction and dialog it creates.

use super::*;

pub(super) fn uri_addr(u: &Uri<'_>) -> Option<(SocketAddr, TransportKind)> {
    let s = u.as_sip()?;
    let ip = s.host().ip()?;
    let t = match s.transport() {
        Some(t) if t.eq_ignore_ascii_case("tcp") => TransportKind::Tcp,
        Some(t) if t.eq_ignore_ascii_case("tls") => TransportKind::Tls,
        _ if s.is_secure() => TransportKind::Tls,
        _ => TransportKind::Udp,
    };
    Some((SocketAddr::new(ip, s.port().unwrap_or(5060)), t))
}

/// Appends the top Via with `received` and `rport` filled in from the transport source (RFC 3261 18.2.1,
/// RFC 3581).
pub(super) fn stamp_via_into(out: &mut String, via: &sip::Via<'_>, source: SocketAddr) {
    let text = via.as_str().trim();
    let mut parts = text.split(';');
    out.push_str(parts.next().unwrap_or("").trim_end());
    let rport = via.rport().is_some();
    for p in parts {
        let name = p.split('=').next().unwrap_or("").trim();
        if name.eq_ignore_ascii_case("received") || name.eq_ignore_ascii_case("rport") {
            continue;
        }
        out.push(';');
        out.push_str(p.trim());
    }
    let host_differs = via.host().ip() != Some(source.ip());
    if host_differs || rport {
        out.push_str(";received=");
        push_ip(out, source.ip());
    }
    if rport {
        out.push_str(";rport=");
        push_decimal(out, source.port().into());
    }
}

/// Appends an address as text (IPv4 without the formatting machinery: every forwarded request's Via).
pub(super) fn push_ip(out: &mut String, ip: IpAddr) {
    match ip {
        IpAddr::V4(v4) => {
            for (i, o) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    out.push('.');
                }
                push_decimal(out, o.into());
            }
        }
        IpAddr::V6(v6) => {
            use std::fmt::Write;
            let _ = write!(out, "{v6}");
        }
    }
}

/// Appends `n` in decimal.
pub(super) fn push_decimal(out: &mut String, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend(digits[i..].iter().map(|&d| char::from(d)));
}

/// Where a request goes, and why the guard may send it there.
pub(super) struct Next {
    pub hop: Hop,
    /// The carrier: only decided calls, their dialogs and the PBX's own non-call requests go there.
    pub to_trunk: bool,
    /// Route entries naming the guard at the top (removed when forwarding).
    pub n_ours: usize,
    /// The dialog leg an in-dialog request belongs to, and its sender.
    pub dialog: Option<(bool, Party)>,
}

/// What the guard answers instead of forwarding.
pub(super) struct Refusal {
    pub status: u16,
    pub why: &'static str,
}

const ONLY_THROUGH_US: Refusal = Refusal {
    status: 403,
    why: "an initial request may be routed only through tollguard itself",
};
const NO_DIALOG: Refusal = Refusal {
    status: 481,
    why: "no call with this Call-ID and these tags passes through tollguard from this address",
};
const NO_TRANSACTION: Refusal = Refusal {
    status: 481,
    why: "no request to cancel passes through tollguard",
};
const NO_REGISTRATION: Refusal = Refusal {
    status: 404,
    why: "no phone registered through tollguard at this address",
};
const NO_REFER_TO_TRUNK: Refusal = Refusal {
    status: 403,
    why: "tollguard passes no transfer (REFER) to the carrier: the call it asks for would not be decided",
};
const NO_TRUNK: Refusal = Refusal {
    status: 404,
    why: "tollguard has no trunk configured",
};

/// When a message was read off the socket, on the guard's clocks: a flood is counted at the rate it was sent,
/// not at the rate a busy guard gets to its queue (a burst handled late would look slower than it came).
fn arrived(now: Now, inb: &Inbound) -> Now {
    let waited = Millis::try_from(inb.received.elapsed().as_millis()).unwrap_or(Millis::MAX);
    Now {
        wall: now.wall.saturating_sub(waited),
        engine: now.engine.saturating_sub(waited),
    }
}

impl Core {
    pub(super) fn on_request(
        &mut self,
        msg: &Message<'_>,
        inb: &Inbound,
        now: Now,
        out: &mut Output,
    ) {
        let Some(method) = msg.method() else { return };
        let ip = inb.source.ip().to_canonical();
        let Some(role) = self.settings.listeners.get(inb.listener).map(|l| l.role) else {
            return;
        };
        let side = self.side_of(ip);
        let back = inb.hop();
        if side == Side::Outside
            && !self.settings.is_trusted(ip)
            && self.gate_outsider(msg, method, ip, back, (now, arrived(now, inb)), out)
        {
            return;
        }
        if !Core::admits(role, side) {
            self.refuse_source(msg, method, ip, role, back, now, out);
            return;
        }
        if self.answered_locally(msg, method, back, now, out) {
            return;
        }
        if side == Side::Outside
            && role != Role::Pbx
            && !self.settings.is_trusted(ip)
            && self.login_refused(msg, method, ip, back, now, out)
        {
            return;
        }
        if msg.max_forwards() == Some(0) {
            self.refuse(
                msg,
                method,
                back,
                483,
                "Max-Forwards reached zero",
                now,
                out,
            );
            return;
        }
        if role == Role::Redirect {
            self.redirect(msg, method, inb, now, out);
            return;
        }
        let next = match self.next_hop(msg, method, role, side, ip, inb) {
            Ok(Some(n)) => n,
            Ok(None) => return,
            Err(r) => {
                self.refused_route(msg, method, ip, &r, back, now, out);
                return;
            }
        };
        if self.is_ours(next.hop.dest) || self.came_back(msg, next.n_ours) {
            self.refuse(
                msg,
                method,
                back,
                482,
                "the request came back to tollguard",
                now,
                out,
            );
            return;
        }
        self.forward(msg, method, inb, next, now, out);
    }

    /// Bans, request counts and scanner marks of a source outside the configured peers. True when the
    /// request goes no further.
    fn gate_outsider(
        &mut self,
        msg: &Message<'_>,
        method: Method<'_>,
        ip: IpAddr,
        back: Hop,
        (now, arrived): (Now, Now),
        out: &mut Output,
    ) -> bool {
        if self.is_banned(ip, now.engine) {
            if self.emergency_call(msg, method) {
                self.stats.emergency_from_banned += 1;
                tracing::warn!(source = %ip, "emergency call from a banned source let through");
                return false;
            }
            self.stats.dropped_banned += 1;
            if self.settings.banned == BannedAction::Reject && method != Method::Ack {
                let why = "your address is banned by tollguard";
                self.respond(msg, back, 403, Some(why), false, now.wall, out);
            }
            return true;
        }
        if self.count_request(ip, arrived, out) {
            return true;
        }
        if let Some(mark) = scanner_mark(msg, self.settings.scanner_fingerprints) {
            if self.emergency_call(msg, method) {
                return false;
            }
            // One UDP packet can carry any source address: a source that logged in is not banned on it.
            if !self.ban_scanner(ip, mark.rule, &mark.reason, now, out) {
                return true;
            }
            if self.settings.banned == BannedAction::Reject && method != Method::Ack {
                self.respond(msg, back, 403, Some(&mark.reason), false, now.wall, out);
            }
            return true;
        }
        false
    }

    /// An INVITE to an emergency number, or a request of an emergency call the guard carries.
    pub(super) fn emergency_call(&self, msg: &Message<'_>, method: Method<'_>) -> bool {
        let call_id = msg.call_id().unwrap_or("");
        if method == Method::Invite && msg.to_tag().is_none() {
            let dialed = msg
                .request_uri()
                .and_then(|u| u.user().map(dialed_as_dialed));
            return dialed.is_some_and(|d| self.numbering.classify(&d).is_emergency());
        }
        self.dialogs.is_emergency(call_id)
    }

    /// A source that may not use this listener: 403 with the reason (rate-limited, then silence), counted
    /// as an attack (a failed login of the user it names, so that repeated tries end in a ban).
    #[allow(clippy::too_many_arguments)]
    fn refuse_source(
        &mut self,
        msg: &Message<'_>,
        method: Method<'_>,
        ip: IpAddr,
        role: Role,
        back: Hop,
        now: Now,
        out: &mut Output,
    ) {
        self.stats.refused_source += 1;
        tracing::info!(source = %ip, listener = role.as_str(), method = method.as_str(), "request from a source that may not use this listener refused");
        if self.may_refuse(now.wall) && method != Method::Ack {
            let why = match role {
                Role::Carrier => "this address is not the carrier configured in tollguard",
                _ => "this address is not a PBX configured in tollguard",
            };
            self.respond(msg, back, 403, Some(why), false, now.wall, out);
        }
        self.count_refusal(msg, method, ip, now, out);
    }

    /// A route the trust model refuses: the answer, and the attempt counted when an outsider made it.
    #[allow(clippy::too_many_arguments)]
    fn refused_route(
        &mut self,
        msg: &Message<'_>,
        method: Method<'_>,
        ip: IpAddr,
        r: &Refusal,
        back: Hop,
        now: Now,
        out: &mut Output,
    ) {
        if r.status == 481 {
            self.stats.refused_in_dialog += 1;
        } else {
            self.stats.refused_route += 1;
        }
        tracing::info!(source = %ip, method = method.as_str(), status = r.status, why = r.why, "request refused by the trust model");
        if self.side_of(ip) == Side::Outside {
            if !self.may_refuse(now.wall) {
                return;
            }
            if r.status == 403 {
                self.count_refusal(msg, method, ip, now, out);
            }
        }
        self.refuse(msg, method, back, r.status, r.why, now, out);
    }

    /// Answers a request the guard will not forward (never an ACK), remembering the answer.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn refuse(
        &mut self,
        msg: &Message<'_>,
        method: Method<'_>,
        back: Hop,
        status: u16,
        why: &str,
        now: Now,
        out: &mut Output,
    ) {
        if method != Method::Ack {
            self.respond(msg, back, status, Some(why), status != 481, now.wall, out);
        }
    }

    /// A retransmission of a request the guard answered itself, its ACK, or a CANCEL of it. True when
    /// handled.
    fn answered_locally(
        &mut self,
        msg: &Message<'_>,
        method: Method<'_>,
        back: Hop,
        now: Now,
        out: &mut Output,
    ) -> bool {
        if let Some(v) = msg.top_via()
            && let Some(a) = self.answered(v.branch().unwrap_or(""), v.sent_by())
        {
            match method {
                Method::Ack => {}
                Method::Cancel => self.respond(msg, back, 200, None, false, now.wall, out),
                _ => out.sends.push(Outgoing {
                    data: a.response.clone(),
                    hop: back,
                }),
            }
            return true;
        }
        method == Method::Ack
            && msg
                .to_tag()
                .is_some_and(|t| t == self.to_tag(msg.call_id().unwrap_or("")).as_str())
    }

    /// Loop: the guard's own Via (with its branch prefix) below the top while no Route brought it back.
    fn came_back(&self, msg: &Message<'_>, n_ours: usize) -> bool {
        n_ours == 0
            && msg.via().skip(1).any(|v| {
                v.host()
                    .ip()
                    .is_some_and(|ip| self.is_ours(SocketAddr::new(ip, v.port().unwrap_or(5060))))
                    && v.branch()
                        .is_some_and(|b| b.starts_with(super::ids::BRANCH_PREFIX))
            })
    }

    /// The branch the guard uses towards the next hop: derived from the incoming one (RFC 3261 16.11), so
    /// retransmissions, the CANCEL and the ACK of a non-2xx carry the INVITE's.
    pub(super) fn out_branch(&self, msg: &Message<'_>, source: SocketAddr) -> u64 {
        let top = msg.top_via();
        let in_branch = top.and_then(|v| v.branch()).unwrap_or("");
        let sent_by = top.map(|v| v.sent_by()).unwrap_or("");
        if top.is_some_and(|v| v.has_rfc3261_branch()) {
            self.branch_for((in_branch, sent_by, source))
        } else {
            let cseq = msg.cseq().map(|c| c.seq).unwrap_or(0);
            let call_id = msg.call_id().unwrap_or("");
            self.branch_for((call_id, cseq, msg.from_tag().unwrap_or(""), sent_by))
        }
    }

    /// Where a request may go. `Ok(None)`: dropped without an answer (an ACK of nothing).
    fn next_hop(
        &self,
        msg: &Message<'_>,
        method: Method<'_>,
        role: Role,
        side: Side,
        ip: IpAddr,
        inb: &Inbound,
    ) -> Result<Option<Next>, Refusal> {
        // One pass over the Route entries (each is parsed again): the guard's own at the top, and whether
        // another follows them.
        let mut n_ours = 0;
        let mut more_routes = false;
        for r in msg.routes() {
            if uri_addr(&r.uri()).is_some_and(|(a, _)| self.is_ours(a)) {
                n_ours += 1;
            } else {
                more_routes = true;
                break;
            }
        }
        if let Some(to_tag) = msg.to_tag() {
            return self.in_dialog_hop(msg, method, to_tag, side, ip, inb, n_ours);
        }
        if method == Method::Ack {
            return Ok(None);
        }
        if method == Method::Cancel {
            let key = TxKey::ours(self.out_branch(msg, inb.source), Method::Invite);
            let t = self.txs.get(&key).ok_or(NO_TRANSACTION)?;
            let hop = Hop {
                conn: None,
                ..t.fwd
            };
            let to_trunk = self.side_of(hop.dest.ip()) == Side::Trunk;
            return Ok(Some(Next {
                hop,
                to_trunk,
                n_ours,
                dialog: None,
            }));
        }
        if more_routes {
            return Err(ONLY_THROUGH_US);
        }
        let (hop, to_trunk) = match (role, side) {
            (Role::Pbx, Side::Pbx) => {
                let t = self.settings.trunk.ok_or(NO_TRUNK)?;
                (self.peer_hop(t.address, t.transport, inb.listener), true)
            }
            // The PBX reaching a phone registered through the guard (Path): the flow it registered over.
            (Role::Access, Side::Pbx) if n_ours > 0 => {
                let ruri = msg.request_uri().map(|u| u.as_str()).unwrap_or("");
                let (hop, _) = *self
                    .shared
                    .registrations
                    .lock()
                    .get(&contact_key(ruri))
                    .ok_or(NO_REGISTRATION)?;
                (hop, false)
            }
            _ => {
                let p = self.settings.pbx;
                (self.peer_hop(p.address, p.transport, inb.listener), false)
            }
        };
        if method == Method::Refer && to_trunk {
            return Err(NO_REFER_TO_TRUNK);
        }
        Ok(Some(Next {
            hop,
            to_trunk,
            n_ours,
            dialog: None,
        }))
    }

    /// An in-dialog request: only along a tracked dialog, from one of its parties. The ACK of a non-2xx
    /// answer follows its INVITE's transaction.
    #[allow(clippy::too_many_arguments)]
    fn in_dialog_hop(
        &self,
        msg: &Message<'_>,
        method: Method<'_>,
        to_tag: &str,
        side: Side,
        ip: IpAddr,
        inb: &Inbound,
        n_ours: usize,
    ) -> Result<Option<Next>, Refusal> {
        let call_id = msg.call_id().unwrap_or("");
        let from_tag = msg.from_tag().unwrap_or("");
        let found = self
            .dialogs
            .find(call_id, from_tag, to_tag)
            .filter(|(d, p)| self.same_party(d.hop_of(*p), ip, side));
        if let Some((d, p)) = found {
            let hop = d.peer_of(p);
            if method == Method::Refer && self.side_of(hop.dest.ip()) == Side::Trunk {
                return Err(NO_REFER_TO_TRUNK);
            }
            return Ok(Some(Next {
                hop,
                to_trunk: self.side_of(hop.dest.ip()) == Side::Trunk,
                n_ours,
                dialog: Some((d.decided, p)),
            }));
        }
        if method == Method::Ack {
            let key = TxKey::ours(self.out_branch(msg, inb.source), Method::Invite);
            return Ok(self.txs.get(&key).map(|t| Next {
                hop: Hop {
                    conn: None,
                    ..t.fwd
                },
                to_trunk: self.side_of(t.fwd.dest.ip()) == Side::Trunk,
                n_ours,
                dialog: None,
            }));
        }
        Err(NO_DIALOG)
    }

    /// Whether a source is the party of a dialog whose hop this is: the same address, or the same
    /// configured peer (a PBX with several addresses).
    fn same_party(&self, hop: Hop, ip: IpAddr, side: Side) -> bool {
        hop.dest.ip().to_canonical() == ip
            || (side != Side::Outside && self.side_of(hop.dest.ip()) == side)
    }

    fn peer_hop(&self, dest: SocketAddr, transport: TransportKind, inbound: usize) -> Hop {
        Hop {
            dest,
            listener: self.out_listener(transport, dest, inbound),
            transport,
            conn: None,
        }
    }
}

/// The key of a registered contact: the URI without parameters, lower case.
pub(super) fn contact_key(uri: &str) -> String {
    let u = uri.trim().trim_start_matches('<');
    let end = u.find([';', '>', '?']).unwrap_or(u.len());
    u.get(..end).unwrap_or(u).to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_and_numbers_read_as_their_display() {
        for ip in [
            "0.0.0.0",
            "127.0.0.1",
            "10.200.3.45",
            "255.255.255.255",
            "::1",
            "2001:db8::7",
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            let mut s = String::from("x");
            push_ip(&mut s, ip);
            assert_eq!(s, format!("x{ip}"));
        }
        for n in [0u64, 9, 10, 5060, 65535, u64::MAX] {
            let mut s = String::new();
            push_decimal(&mut s, n);
            assert_eq!(s, n.to_string());
        }
    }
}
