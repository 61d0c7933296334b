//! Responses: matched to the guard's transactions (never routed by a Via an outsider wrote), fed to the
//! engine as call progress and authentication outcomes.

use super::*;

impl Core {
    pub(super) fn on_response(
        &mut self,
        msg: &Message<'_>,
        inb: &Inbound,
        now: Now,
        out: &mut Output,
    ) {
        let Some(top) = msg.top_via() else { return };
        let ours = top
            .host()
            .ip()
            .is_some_and(|ip| self.is_ours(SocketAddr::new(ip, top.port().unwrap_or(5060))));
        if !ours {
            tracing::debug!(source = %inb.source, "response whose top Via is not ours dropped");
            return;
        }
        let Some(status) = msg.status() else { return };
        let branch = top.branch().unwrap_or("").to_owned();
        let method = msg
            .cseq()
            .map(|c| c.method.as_str().to_owned())
            .unwrap_or_default();
        let key = (branch, method);
        let tx = self.txs.get(&key).cloned();
        if tx.as_ref().is_some_and(|t| t.local) {
            return;
        }
        if let Some(t) = &tx {
            if status >= 200
                && !t.auth_done
                && let Some(p) = &t.auth
            {
                self.count_auth(p, status, now, out);
                if let Some(x) = self.txs.get_mut(&key) {
                    x.auth_done = true;
                }
            }
            if let Some(call_id) = &t.call {
                self.call_progress(call_id, msg, status, inb, now, out);
            }
        }
        let back = match tx {
            Some(t) => t.back,
            None => {
                // No transaction (expired or another node's): the next Via says where.
                let Some(v) = msg.via().nth(1) else { return };
                let host = v
                    .received()
                    .and_then(|r| r.parse::<IpAddr>().ok())
                    .or_else(|| v.host().ip());
                let Some(ip) = host else { return };
                let port = v.rport().flatten().or(v.port()).unwrap_or(5060);
                let dest = SocketAddr::new(ip, port);
                let transport = if matches!(v.transport(), sip::Transport::Tls) {
                    TransportKind::Tls
                } else if v.transport().is_stream() {
                    TransportKind::Tcp
                } else {
                    TransportKind::Udp
                };
                Hop {
                    dest,
                    listener: self.out_listener(transport, dest, inb.listener),
                    transport,
                    conn: None,
                }
            }
        };
        let mut f = Forward::new(msg).pop_via();
        if back.transport != TransportKind::Udp || inb.transport != TransportKind::Udp {
            f = f.fix_content_length();
        }
        let mut data = Vec::with_capacity(msg.as_bytes().len());
        if f.write_to(&mut data).is_ok() {
            if let Some(t) = self.txs.get_mut(&key) {
                t.pending = None;
                t.last_response = Some(data.clone());
            }
            out.sends.push(Outgoing { data, hop: back });
        }
    }

    pub(super) fn call_progress(
        &mut self,
        call_id: &str,
        msg: &Message<'_>,
        status: u16,
        inb: &Inbound,
        now: Now,
        out: &mut Output,
    ) {
        let Some(d) = self.dialogs.get_mut(call_id) else {
            return;
        };
        if d.ended {
            return;
        }
        if (200..300).contains(&status) {
            if d.answered.is_none() {
                d.answered = Some(now.engine);
                d.callee_to = msg.header(HeaderName::To).map(str::to_owned);
                d.callee_contact = msg
                    .contacts()
                    .next()
                    .and_then(|c| c.addr().map(|a| a.uri().as_str().to_owned()));
                // In-dialog requests to the callee go where its answer came from.
                d.callee = Hop {
                    conn: inb.conn,
                    ..d.callee
                };
                let ev = CallAnswered {
                    at: now.engine,
                    call_id,
                };
                let mut ds = Vec::new();
                self.engine.on_event(&Event::CallAnswered(ev), &mut ds);
                let tenant = d.tenant.clone();
                if self.live {
                    out.events.push(LiveEvent::CallAnswered {
                        at: now.engine,
                        tenant: tenant.clone(),
                        call_id: call_id.to_owned(),
                    });
                }
                self.apply_decisions(&tenant, ds, now, out);
            }
        } else if status >= 300 {
            d.ended = true;
            let (started, answered) = (d.started, d.answered);
            let cause = match status {
                487 => EndCause::Cancelled,
                486 | 600 => EndCause::Busy,
                408 | 480 => EndCause::NoAnswer,
                _ => EndCause::Failed,
            };
            self.feed_end(call_id, started, answered, cause, now, out);
        }
    }
}
