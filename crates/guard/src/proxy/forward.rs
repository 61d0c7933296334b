//! Forwarding a request the trust model let through: the decision of a call to the trunk, the dialog and
//! transaction it creates, in-dialog bookkeeping (each side's CSeq, the BYE that ends a call), and the
//! message itself (Via, Record-Route, Path, Route, Max-Forwards).

use super::phases::CallFate;
use super::request::Next;
use super::request::{contact_key, stamp_via_into};
use super::*;

/// What an initial INVITE or SUBSCRIBE forwarded will be tracked as.
struct NewDialog {
    tenant: String,
    account: String,
    dialed: String,
    decided: bool,
    emergency: bool,
}

impl Core {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn forward(
        &mut self,
        msg: &Message<'_>,
        method: Method<'_>,
        inb: &Inbound,
        next: Next,
        now: Now,
        out: &mut Output,
    ) {
        let back = inb.hop();
        let call_id = msg.call_id().unwrap_or("");
        let branch_n = self.out_branch(msg, inb.source);
        let branch = BranchText::new(branch_n);
        let branch = branch.as_str();
        let tx_key = (method != Method::Ack).then(|| TxKey::ours(branch_n, method));
        let tx = tx_key.as_ref().and_then(|k| self.txs.get(k));
        let retransmission = tx.is_some();
        // Answered already (at least 100 Trying): absorb and repeat the answer. Otherwise (a non-INVITE not
        // answered yet) forward it: the sender's timer then drives the retransmission downstream.
        if let Some(r) = tx.and_then(|t| t.last_response.clone()) {
            out.sends.push(Outgoing { data: r, hop: back });
            return;
        }
        let initial = msg.to_tag().is_none();
        let creates =
            initial && !retransmission && matches!(method, Method::Invite | Method::Subscribe);
        let mut new_dialog = None;
        if creates {
            match self.admit_dialog(msg, method, inb, &next, now, out) {
                Some(d) => new_dialog = Some(d),
                None => return,
            }
        }
        if let Some((decided, party)) = next.dialog {
            self.in_dialog(msg, method, call_id, decided, party, now, out);
        }
        let Some(data) = self.forwarded(msg, method, inb, &next, branch, now, out) else {
            return;
        };
        if let Some(nd) = new_dialog {
            self.track_dialog(msg, nd, back, next.hop, branch, now);
        }
        if let Some(key) = tx_key
            && !retransmission
        {
            self.open_tx(
                msg,
                method,
                key,
                inb,
                &next,
                new_dialog_call(msg, creates, &next),
                &data,
                now,
                out,
            );
        }
        out.sends.push(Outgoing {
            data,
            hop: next.hop,
        });
    }

    /// A new dialog: decided by the engine when it goes to the trunk, refused when its Call-ID is taken
    /// by a call in progress (a new INVITE must never overwrite a tracked call). None when refused.
    fn admit_dialog(
        &mut self,
        msg: &Message<'_>,
        method: Method<'_>,
        inb: &Inbound,
        next: &Next,
        now: Now,
        out: &mut Output,
    ) -> Option<NewDialog> {
        let back = inb.hop();
        let call_id = msg.call_id().unwrap_or("");
        if self.dialogs.in_progress_with(call_id, next.to_trunk) {
            self.stats.refused_route += 1;
            let why = "this Call-ID belongs to a call in progress";
            self.respond(msg, back, 400, Some(why), true, now.wall, out);
            return None;
        }
        if method == Method::Invite && next.to_trunk {
            return match self.decide_call(msg, inb, now, out) {
                CallFate::Block { status, reason } => {
                    self.respond(msg, back, status, Some(&reason), true, now.wall, out);
                    None
                }
                CallFate::Pass {
                    tenant,
                    account,
                    dialed,
                    emergency,
                } => Some(NewDialog {
                    tenant,
                    account,
                    dialed,
                    decided: true,
                    emergency,
                }),
            };
        }
        Some(NewDialog {
            tenant: String::new(),
            account: msg
                .from()
                .and_then(|f| f.uri().user().map(str::to_owned))
                .unwrap_or_default(),
            dialed: msg
                .request_uri()
                .and_then(|u| u.user().map(str::to_owned))
                .unwrap_or_default(),
            decided: false,
            emergency: method == Method::Invite && self.emergency_call(msg, method),
        })
    }

    /// An in-dialog request from a party: its CSeq is remembered (the guard's own BYE uses the next one),
    /// and a BYE ends the call.
    #[allow(clippy::too_many_arguments)]
    fn in_dialog(
        &mut self,
        msg: &Message<'_>,
        method: Method<'_>,
        call_id: &str,
        decided: bool,
        party: Party,
        now: Now,
        out: &mut Output,
    ) {
        let cseq = msg.cseq().map(|c| c.seq).unwrap_or(0);
        let Some(d) = self.dialogs.leg_mut(call_id, decided) else {
            return;
        };
        if method != Method::Ack {
            d.saw_cseq(party, cseq);
        }
        if method == Method::Bye && !d.ended {
            d.ended = true;
            let (started, answered) = (d.started, d.answered);
            let cause = if answered.is_some() {
                EndCause::Normal
            } else {
                EndCause::Cancelled
            };
            if decided {
                self.feed_end(call_id, started, answered, cause, now, out);
            }
        }
    }

    /// The message to send: the guard's Via on top, Record-Route on dialog-creating requests, Path on
    /// REGISTERs from phones, the guard's Route entries removed, Max-Forwards decremented.
    #[allow(clippy::too_many_arguments)]
    fn forwarded(
        &mut self,
        msg: &Message<'_>,
        method: Method<'_>,
        inb: &Inbound,
        next: &Next,
        branch: &str,
        now: Now,
        out: &mut Output,
    ) -> Option<Vec<u8>> {
        let top = msg.top_via()?;
        let in_l = self.settings.listeners.get(inb.listener)?;
        let (in_role, in_transport) = (in_l.role, in_l.transport);
        let transport = next.hop.transport;
        let out_l = next.hop.listener;
        // Every added value is written into one buffer (one allocation per forwarded request), then sliced.
        let mut text = String::with_capacity(top.as_str().len() + 256);
        let adv = self.advertise(out_l);
        text.push_str("SIP/2.0/");
        text.push_str(transport.as_str());
        text.push(' ');
        text.push_str(adv);
        text.push_str(";branch=");
        text.push_str(branch);
        text.push_str(", ");
        stamp_via_into(&mut text, top, inb.source);
        let via_end = text.len();
        if matches!(method, Method::Invite | Method::Subscribe) && msg.to_tag().is_none() {
            push_lr_uri(&mut text, adv, transport);
            if out_l != inb.listener {
                text.push_str(", ");
                push_lr_uri(&mut text, self.advertise(inb.listener), in_transport);
            }
        }
        let rr_end = text.len();
        if method == Method::Register && in_role == Role::Access && self.settings.pbx.path {
            push_lr_uri(&mut text, adv, transport);
        }
        let path_end = text.len();
        if next.n_ours > 0 {
            for (i, r) in msg.routes().skip(next.n_ours).enumerate() {
                if i > 0 {
                    text.push_str(", ");
                }
                text.push_str(r.as_str().trim());
            }
        }
        let slice = |a: usize, b: usize| text.get(a..b).unwrap_or("");
        let (our_via, rr, path) = (
            slice(0, via_end),
            slice(via_end, rr_end),
            slice(rr_end, path_end),
        );
        let route_rest = slice(path_end, text.len());
        let mut f = Forward::new(msg)
            .pop_via()
            .push_via(our_via)
            .decrement_max_forwards();
        if !rr.is_empty() {
            f = f.record_route(rr);
        }
        if !path.is_empty() {
            f = f.add_header("Path", path);
        }
        if next.n_ours > 0 {
            f = if route_rest.is_empty() {
                f.remove_header("Route")
            } else {
                f.replace_header("Route", route_rest)
            };
        }
        if transport != TransportKind::Udp || in_transport != TransportKind::Udp {
            f = f.fix_content_length();
        }
        let mut data = Vec::with_capacity(msg.as_bytes().len() + 200);
        if let Err(e) = f.write_to(&mut data) {
            tracing::info!(source = %inb.source, error = %e, "request could not be forwarded");
            let why = "tollguard could not forward this request";
            self.refuse(msg, method, inb.hop(), 400, why, now, out);
            return None;
        }
        Some(data)
    }

    fn track_dialog(
        &mut self,
        msg: &Message<'_>,
        nd: NewDialog,
        caller: Hop,
        callee: Hop,
        branch: &str,
        now: Now,
    ) {
        let cseq = msg.cseq().map(|c| c.seq).unwrap_or(1);
        let d = Dialog {
            call_id: msg.call_id().unwrap_or("").to_owned(),
            tenant: nd.tenant,
            account: nd.account,
            dialed: nd.dialed,
            decided: nd.decided,
            emergency: nd.emergency,
            started: now.engine,
            answered: None,
            started_wall: now.wall,
            caller,
            callee,
            caller_contact: msg
                .contacts()
                .next()
                .and_then(|c| c.addr().map(|a| a.uri().as_str().to_owned()))
                .unwrap_or_default(),
            from: msg.header(HeaderName::From).unwrap_or("").to_owned(),
            to: msg.header(HeaderName::To).unwrap_or("").to_owned(),
            caller_tag: msg.from_tag().unwrap_or("").to_owned(),
            callee_tag: None,
            callee_contact: None,
            callee_to: None,
            invite_cseq: cseq,
            branch: branch.to_owned(),
            caller_cseq: cseq,
            callee_cseq: None,
            request_uri: msg
                .request_uri()
                .map(|u| u.as_str().to_owned())
                .unwrap_or_default(),
            ended: false,
            killed: false,
            restored: false,
        };
        self.dialogs.insert(d);
    }

    /// The transaction of a forwarded request: where answers go back, what to count, Timer A.
    #[allow(clippy::too_many_arguments)]
    fn open_tx(
        &mut self,
        msg: &Message<'_>,
        method: Method<'_>,
        key: TxKey,
        inb: &Inbound,
        next: &Next,
        call: Option<(String, bool)>,
        data: &[u8],
        now: Now,
        out: &mut Output,
    ) {
        let back = inb.hop();
        let ip = inb.source.ip().to_canonical();
        let role = self.settings.listeners.get(inb.listener).map(|l| l.role);
        let outsider = self.side_of(ip) == Side::Outside && !self.settings.is_trusted(ip);
        let auth = (outsider && role != Some(Role::Pbx))
            .then(|| self.auth_probe(msg, method, ip))
            .flatten();
        let digest = auth
            .as_ref()
            .and_then(|p| self.weak_digest(msg, method, p, now));
        let contacts = (method == Method::Register && outsider).then(|| {
            msg.contacts()
                .filter_map(|c| c.addr().map(|a| contact_key(a.uri().as_str())))
                .collect()
        });
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
            if next.hop.transport == TransportKind::Udp {
                pending = Some(Pending {
                    data: data.to_vec(),
                    hop: next.hop,
                    next_at: now.wall + T1_MS,
                    interval: T1_MS,
                });
                self.pending_invites.push(key.clone());
            }
        }
        let tx = Tx {
            back,
            fwd: next.hop,
            created: now.wall,
            local: false,
            call,
            probe: false,
            contacts,
            auth,
            digest,
            auth_done: false,
            last_response,
            pending,
        };
        self.add_tx(key, tx, now.wall);
    }
}

/// Appends `<sip:ADDRESS;transport=T;lr>`: the guard's Record-Route and Path entry.
fn push_lr_uri(out: &mut String, adv: &str, transport: TransportKind) {
    out.push_str("<sip:");
    out.push_str(adv);
    out.push_str(";transport=");
    out.push_str(transport.param());
    out.push_str(";lr>");
}

/// The dialog an initial INVITE creates, for its transaction (answers and failures feed it).
fn new_dialog_call(msg: &Message<'_>, creates: bool, next: &Next) -> Option<(String, bool)> {
    (creates && msg.method() == Some(Method::Invite))
        .then(|| (msg.call_id().unwrap_or("").to_owned(), next.to_trunk))
}
