//! The HEP mirror front end (`role = "hep"`): capture agents (Kamailio `siptrace`, heplify, OpenSIPS
//! `proto_hep`, FreeSWITCH) send copies of the SIP a PBX or SBC exchanges. The guard reads only agents in
//! `[hep] sources` (with the HEPv3 auth key when one is set), never answers, and feeds what it sees to the
//! decision layer: an INVITE from a PBX side to anywhere else is a call attempt, its 2xx an answer, its BYE,
//! CANCEL or final failure an end. Decisions alert; they ban and end calls only with `[hep] enforce`.

use subtle::ConstantTimeEq;

use super::*;

impl Core {
    /// One HEP packet from a capture agent.
    pub(super) fn on_hep(&mut self, inb: &Inbound, now: Now, out: &mut Output) {
        self.stats.hep_packets += 1;
        let Some(cfg) = self.settings.hep.as_ref() else {
            return;
        };
        let agent = inb.source.ip().to_canonical();
        if !cfg.sources.iter().any(|n| n.contains(agent)) {
            self.stats.hep_dropped += 1;
            tracing::debug!(source = %inb.source, "HEP from a source not in [hep] sources dropped");
            return;
        }
        let packet = match hep::decode(&inb.data) {
            Ok(p) => p,
            Err(e) => {
                self.stats.hep_dropped += 1;
                tracing::debug!(source = %inb.source, error = %e, "undecodable HEP packet dropped");
                return;
            }
        };
        if let Some(key) = cfg.auth_key.as_deref() {
            let sent = packet.auth_key.unwrap_or(&[]);
            // Agents differ on a trailing NUL; compare without it.
            let sent = sent.strip_suffix(&[0]).unwrap_or(sent);
            if !bool::from(sent.ct_eq(key.as_bytes())) {
                self.stats.hep_dropped += 1;
                tracing::info!(source = %inb.source, "HEP packet with a wrong or missing auth key dropped");
                return;
            }
        }
        let Some(sip) = packet.sip() else {
            return;
        };
        let Ok(msg) = Message::parse(sip) else {
            self.stats.hep_dropped += 1;
            return;
        };
        self.observe(&msg, (packet.src, packet.dst), inb.received, now, out);
    }

    /// A SIP message the mirror shows going from `src` to `dst`, read off the socket at `received`.
    fn observe(
        &mut self,
        msg: &Message<'_>,
        (src, dst): (SocketAddr, SocketAddr),
        received: std::time::Instant,
        now: Now,
        out: &mut Output,
    ) {
        let call_id = msg.call_id().unwrap_or("");
        let enforce = self.settings.hep.as_ref().is_some_and(|h| h.enforce);
        let tenants = None;
        match (msg.method(), msg.status()) {
            (Some(Method::Invite), _) if msg.to_tag().is_none() => {
                let outbound =
                    self.side_of(src.ip()) == Side::Pbx && self.side_of(dst.ip()) != Side::Pbx;
                if !outbound || self.shared.decider.lock().knows_call(call_id) {
                    return;
                }
                let v = {
                    let mut decider = self.shared.decider.lock();
                    let cfg = decider.config_arc();
                    let tenant = cfg.tenants.resolve(None, Some(src.ip()));
                    let call = decide::SipCall::read(msg, tenant);
                    let mut q = call.query(msg, src);
                    q.observe = !enforce;
                    decider.call_attempt(&q, Some(received), now, &mut self.fx)
                };
                self.stats.hep_calls += 1;
                self.shared
                    .decider
                    .lock()
                    .remember_call(call_id, &v.tenant, !enforce, now);
            }
            (Some(Method::Bye), _) => {
                self.shared.decider.lock().queried_ended(
                    call_id,
                    tenants,
                    None,
                    EndCause::Normal,
                    now,
                    &mut self.fx,
                );
            }
            (Some(Method::Cancel), _) => {
                self.shared.decider.lock().queried_ended(
                    call_id,
                    tenants,
                    Some(0),
                    EndCause::Cancelled,
                    now,
                    &mut self.fx,
                );
            }
            (None, Some(status)) if msg.cseq().is_some_and(|c| c.method == Method::Invite) => {
                if (200..300).contains(&status) {
                    self.shared.decider.lock().queried_answered(
                        call_id,
                        tenants,
                        now,
                        &mut self.fx,
                    );
                } else if status >= 300 {
                    let cause = match status {
                        487 => EndCause::Cancelled,
                        486 | 600 => EndCause::Busy,
                        408 | 480 => EndCause::NoAnswer,
                        _ => EndCause::Failed,
                    };
                    self.shared.decider.lock().queried_ended(
                        call_id,
                        tenants,
                        Some(0),
                        cause,
                        now,
                        &mut self.fx,
                    );
                }
            }
            _ => {}
        }
        self.carry_out(now, out);
    }
}
