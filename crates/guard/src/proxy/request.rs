//! Requests: the trust model (which listener a source may use, where a request may go), Route and Via
//! handling, transactions, and the hand-off of outbound calls to the decision.

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

pub(super) fn user_of(value: &str) -> Option<String> {
    let v = value.trim();
    match sip::NameAddr::parse(v) {
        Ok(na) => na.uri().user().map(str::to_owned),
        Err(_) => (!v.is_empty()).then(|| v.to_owned()),
    }
}

/// The top Via with `received` and `rport` filled in from the transport source (RFC 3261 18.2.1, RFC 3581).
pub(super) fn stamped_via(via: &sip::Via<'_>, source: SocketAddr) -> String {
    let text = via.as_str().trim();
    let mut out = String::with_capacity(text.len() + 40);
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
        out.push_str(&source.ip().to_string());
    }
    if rport {
        out.push_str(";rport=");
        out.push_str(&source.port().to_string());
    }
    out
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
        let ip = inb.source.ip();
        let Some(listener) = self.settings.listeners.get(inb.listener).cloned() else {
            return;
        };
        let trusted = self.settings.is_trusted(ip);
        let back = inb.hop();

        if !trusted {
            if self.is_banned(ip, now.engine) {
                self.stats.dropped_banned += 1;
                if self.settings.banned == BannedAction::Reject && method != Method::Ack {
                    self.respond(
                        msg,
                        back,
                        403,
                        Some("your address is banned by tollguard"),
                        false,
                        now.wall,
                        out,
                    );
                }
                return;
            }
            if self.requests.len() < MAX_COUNTED_SOURCES || self.requests.contains_key(&ip) {
                let n = self.requests.entry(ip).or_default();
                *n += 1;
                // A flooding source is reported at once rather than at the end of the window, so that its
                // ban comes after a few hundred requests, not after seconds of flood.
                if *n >= EARLY_REPORT {
                    let requests = std::mem::take(n);
                    let mut ds = Vec::new();
                    self.engine.on_event(
                        &Event::Requests(RequestCount {
                            at: now.engine,
                            source: ip,
                            requests,
                        }),
                        &mut ds,
                    );
                    self.apply_decisions("", ds, now, out);
                    if self.is_banned(ip, now.engine) {
                        return;
                    }
                }
            }
            if let Some(mark) = scanner_mark(msg, self.settings.scanner_fingerprints) {
                self.ban_scanner(ip, mark.rule, &mark.reason, now, out);
                if self.settings.banned == BannedAction::Reject && method != Method::Ack {
                    self.respond(msg, back, 403, Some(&mark.reason), false, now.wall, out);
                }
                return;
            }
        }

        // A retransmission of a request the guard answered itself, its ACK, or a CANCEL of it.
        if let Some(v) = msg.top_via() {
            let key = format!("{}|{}", v.branch().unwrap_or(""), v.sent_by());
            if let Some(a) = self.answered.get(&key) {
                match method {
                    Method::Ack => {}
                    Method::Cancel => self.respond(msg, back, 200, None, false, now.wall, out),
                    _ => out.sends.push(Outgoing {
                        data: a.response.clone(),
                        hop: back,
                    }),
                }
                return;
            }
        }
        if method == Method::Ack
            && msg
                .to_tag()
                .is_some_and(|t| t == self.to_tag(msg.call_id().unwrap_or("")))
        {
            return;
        }

        if msg.max_forwards() == Some(0) {
            if method != Method::Ack {
                self.respond(
                    msg,
                    back,
                    483,
                    Some("Max-Forwards reached zero"),
                    true,
                    now.wall,
                    out,
                );
            }
            return;
        }

        // Route: drop the Route entries that name us (one, or two after double Record-Route).
        let routes: Vec<sip::NameAddr<'_>> = msg.routes().collect();
        let n_ours = routes
            .iter()
            .take_while(|r| uri_addr(&r.uri()).is_some_and(|(a, _)| self.is_ours(a)))
            .count();
        let remaining = routes.get(n_ours..).unwrap_or(&[]);

        // Loop: our own address in Via while the request was not routed back to us on purpose.
        if n_ours == 0
            && msg.via().skip(1).any(|v| {
                v.host()
                    .ip()
                    .is_some_and(|ip| self.is_ours(SocketAddr::new(ip, v.port().unwrap_or(5060))))
                    && v.branch().is_some_and(|b| b.starts_with("z9hG4bKtg"))
            })
        {
            if method != Method::Ack {
                self.respond(
                    msg,
                    back,
                    482,
                    Some("the request came back to tollguard"),
                    true,
                    now.wall,
                    out,
                );
            }
            return;
        }

        let in_dialog = msg.to_tag().is_some();
        // The carrier may send its inbound calls to the same listener the PBX uses for its trunk.
        let from_carrier = self.settings.trunk.is_some_and(|t| t.address.ip() == ip);
        let by_role = match listener.role {
            Role::Pbx if !from_carrier => self.settings.trunk.map(|t| (t.address, t.transport)),
            _ => Some((self.settings.pbx.address, self.settings.pbx.transport)),
        };
        let target = if let Some(r) = remaining.first() {
            uri_addr(&r.uri())
        } else if in_dialog || n_ours > 0 {
            msg.request_uri().and_then(|u| uri_addr(&u))
        } else {
            by_role
        }
        // A host name where an address is needed (no DNS here): the side's default next hop.
        .or(by_role);
        let Some((dest, transport)) = target else {
            self.stats.unroutable += 1;
            if method != Method::Ack {
                self.respond(
                    msg,
                    back,
                    404,
                    Some("tollguard has no route for this request"),
                    false,
                    now.wall,
                    out,
                );
            }
            return;
        };
        if self.is_ours(dest) {
            self.stats.unroutable += 1;
            if method != Method::Ack {
                self.respond(
                    msg,
                    back,
                    482,
                    Some("the next hop is tollguard itself"),
                    true,
                    now.wall,
                    out,
                );
            }
            return;
        }

        let top = msg.top_via();
        let in_branch = top.and_then(|v| v.branch()).unwrap_or("");
        let sent_by = top.map(|v| v.sent_by()).unwrap_or("");
        let call_id = msg.call_id().unwrap_or("");
        let cseq_num = msg.cseq().map(|c| c.seq).unwrap_or(0).to_string();
        let branch = if top.is_some_and(|v| v.has_rfc3261_branch()) {
            let src = inb.source.to_string();
            // ACK of a 2xx has its own branch from the UAC, so it gets its own here too.
            self.branch_for(&[in_branch, sent_by, &src])
        } else {
            self.branch_for(&[call_id, &cseq_num, msg.from_tag().unwrap_or(""), sent_by])
        };
        let tx_method = match method {
            Method::Ack => None,
            m => Some(m.as_str().to_owned()),
        };
        let tx_key = tx_method.clone().map(|m| (branch.clone(), m));
        let retransmission = tx_key.as_ref().is_some_and(|k| self.txs.contains_key(k));
        if retransmission
            && let Some(k) = &tx_key
            && let Some(t) = self.txs.get(k)
        {
            // Answered already (at least 100 Trying): absorb and repeat the answer. Otherwise (a non-INVITE
            // not answered yet) forward it: the sender's timer then drives the retransmission downstream.
            if let Some(r) = &t.last_response {
                out.sends.push(Outgoing {
                    data: r.clone(),
                    hop: back,
                });
                return;
            }
        }

        // Outbound calls are decided before they leave.
        let mut tracked_call = None;
        if method == Method::Invite
            && !in_dialog
            && listener.role == Role::Pbx
            && !from_carrier
            && !retransmission
        {
            match self.decide_call(msg, inb, now, out) {
                CallFate::Block { status, reason } => {
                    self.respond(msg, back, status, Some(&reason), true, now.wall, out);
                    return;
                }
                CallFate::Pass {
                    tenant,
                    account,
                    dialed,
                } => {
                    tracked_call = Some((tenant, account, dialed));
                }
            }
        }

        // In-dialog BYE of a tracked call: the call ends now.
        if method == Method::Bye
            && let Some(d) = self.dialogs.get_mut(call_id)
            && !d.ended
        {
            d.ended = true;
            let (started, answered) = (d.started, d.answered);
            let cause = if answered.is_some() {
                EndCause::Normal
            } else {
                EndCause::Cancelled
            };
            self.feed_end(call_id, started, answered, cause, now, out);
        }

        let out_l = self.out_listener(transport, dest, inb.listener);
        let adv = self.advertise(out_l).to_owned();
        let our_via = match top {
            Some(v) => format!(
                "SIP/2.0/{} {adv};branch={branch}, {}",
                transport.as_str(),
                stamped_via(v, inb.source)
            ),
            None => return,
        };
        let rr = if matches!(method, Method::Invite | Method::Subscribe) && !in_dialog {
            let in_adv = self.advertise(inb.listener).to_owned();
            if out_l == inb.listener {
                Some(format!("<sip:{adv};transport={};lr>", transport.param()))
            } else {
                Some(format!(
                    "<sip:{adv};transport={};lr>, <sip:{in_adv};transport={};lr>",
                    transport.param(),
                    listener.transport.param()
                ))
            }
        } else {
            None
        };
        let route_rest: String = remaining
            .iter()
            .map(|r| r.as_str().trim())
            .collect::<Vec<_>>()
            .join(", ");
        let mut f = Forward::new(msg)
            .pop_via()
            .push_via(&our_via)
            .decrement_max_forwards();
        if let Some(rr) = &rr {
            f = f.record_route(rr);
        }
        let path =
            (method == Method::Register && listener.role == Role::Access && self.settings.pbx.path)
                .then(|| format!("<sip:{adv};transport={};lr>", transport.param()));
        if let Some(p) = &path {
            f = f.add_header("Path", p);
        }
        if n_ours > 0 {
            f = if route_rest.is_empty() {
                f.remove_header("Route")
            } else {
                f.replace_header("Route", &route_rest)
            };
        }
        if transport != TransportKind::Udp || listener.transport != TransportKind::Udp {
            f = f.fix_content_length();
        }
        let mut data = Vec::with_capacity(msg.as_bytes().len() + 200);
        if let Err(e) = f.write_to(&mut data) {
            tracing::info!(source = %inb.source, error = %e, "request could not be forwarded");
            if method != Method::Ack {
                self.respond(
                    msg,
                    back,
                    400,
                    Some("tollguard could not forward this request"),
                    false,
                    now.wall,
                    out,
                );
            }
            return;
        }
        let hop = Hop {
            dest,
            listener: out_l,
            transport,
            conn: None,
        };

        if let Some((tenant, account, dialed)) = tracked_call {
            let d = Dialog {
                call_id: call_id.to_owned(),
                tenant,
                account,
                dialed,
                started: now.engine,
                answered: None,
                started_wall: now.wall,
                caller: back,
                callee: hop,
                caller_contact: msg
                    .contacts()
                    .next()
                    .and_then(|c| c.addr().map(|a| a.uri().as_str().to_owned()))
                    .unwrap_or_default(),
                from: msg.header(HeaderName::From).unwrap_or("").to_owned(),
                to: msg.header(HeaderName::To).unwrap_or("").to_owned(),
                callee_contact: None,
                callee_to: None,
                invite_cseq: msg.cseq().map(|c| c.seq).unwrap_or(1),
                branch: branch.clone(),
                request_uri: msg
                    .request_uri()
                    .map(|u| u.as_str().to_owned())
                    .unwrap_or_default(),
                ended: false,
            };
            self.dialogs.insert(d);
        }

        if let Some(key) = tx_key
            && !retransmission
        {
            let auth = (listener.role == Role::Access && !trusted)
                .then(|| self.auth_probe(msg, method, ip))
                .flatten();
            let call = (method == Method::Invite && self.dialogs.get(call_id).is_some())
                .then(|| call_id.to_owned());
            let mut last_response = None;
            let mut pending = None;
            if method == Method::Invite {
                // 100 Trying at once stops the caller's retransmissions (RFC 3261 section 16.2).
                let mut trying = Vec::with_capacity(400);
                if ResponseBuilder::new(msg, 100).write_to(&mut trying).is_ok() {
                    out.sends.push(Outgoing {
                        data: trying.clone(),
                        hop: back,
                    });
                    last_response = Some(trying);
                }
                if transport == TransportKind::Udp {
                    pending = Some(Pending {
                        data: data.clone(),
                        hop,
                        next_at: now.wall + T1_MS,
                        interval: T1_MS,
                    });
                    self.pending_invites.push(key.clone());
                }
            }
            self.add_tx(
                key,
                Tx {
                    back,
                    created: now.wall,
                    local: false,
                    call,
                    auth,
                    auth_done: false,
                    last_response,
                    pending,
                },
                now.wall,
            );
        }
        out.sends.push(Outgoing { data, hop });
    }
}
