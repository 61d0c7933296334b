//! Ending calls from the middle: BYE to both sides of an answered call (each with the next CSeq of the side
//! it impersonates), CANCEL before the answer, and ACK + BYE when the answer crosses that CANCEL. Emergency
//! calls are never ended.

use super::*;

impl Core {
    /// Ends a call in progress from the middle: BYE to both sides once answered, CANCEL towards the callee
    /// before (the callee's 487 then reaches the caller). Returns whether the call was in progress (and is
    /// now being ended).
    pub fn end_call(&mut self, call_id: &str, why: &str, now: Now, out: &mut Output) -> bool {
        let Some(d) = self.dialogs.get(call_id).cloned() else {
            tracing::info!(
                call_id,
                "kill switch: call not (or no longer) in progress here"
            );
            return false;
        };
        if d.ended || d.emergency {
            return false;
        }
        if let Some(x) = self.dialogs.get_mut(call_id) {
            x.ended = true;
            x.killed = true;
        }
        self.stats.calls_ended_by_guard += 1;
        let words = why.replace(['\r', '\n', '"'], " ");
        match (&d.callee_to, &d.callee_contact) {
            (Some(callee_to), Some(callee_contact)) => {
                // To the callee: as if from the caller.
                self.local_request(
                    "BYE",
                    callee_contact,
                    &d.from,
                    callee_to,
                    &d.call_id,
                    d.caller_cseq.saturating_add(1),
                    None,
                    &words,
                    d.callee,
                    now,
                    out,
                );
                // To the caller: as if from the callee.
                self.local_request(
                    "BYE",
                    &d.caller_contact,
                    callee_to,
                    &d.from,
                    &d.call_id,
                    d.callee_cseq.unwrap_or(0).saturating_add(1),
                    None,
                    &words,
                    d.caller,
                    now,
                    out,
                );
            }
            _ => {
                self.local_request(
                    "CANCEL",
                    &d.request_uri,
                    &d.from,
                    &d.to,
                    &d.call_id,
                    d.invite_cseq,
                    Some(&d.branch),
                    &words,
                    d.callee,
                    now,
                    out,
                );
            }
        }
        tracing::warn!(call_id, account = %d.account, dialed = %d.dialed, reason = %why, "call ended by tollguard");
        self.feed_end(
            &d.call_id,
            d.started,
            d.answered,
            EndCause::Terminated,
            now,
            out,
        );
        true
    }

    /// The callee answered a call the guard was cancelling: ACK its 2xx and BYE it at once, and give the
    /// caller the 487 it waits for instead of the answer.
    pub(super) fn answered_after_cancel(
        &mut self,
        call_id: &str,
        msg: &Message<'_>,
        inb: &Inbound,
        now: Now,
        out: &mut Output,
    ) -> super::response::Pass {
        let why = "call ended by tollguard: answered while tollguard was cancelling it";
        let Some(d) = self.dialogs.get_mut(call_id) else {
            return super::response::Pass::Forward;
        };
        d.answered = Some(now.engine);
        let d = d.clone();
        let to = msg.header(HeaderName::To).unwrap_or("").to_owned();
        let contact = msg
            .contacts()
            .next()
            .and_then(|c| c.addr().map(|a| a.uri().as_str().to_owned()))
            .unwrap_or_else(|| d.request_uri.clone());
        let callee = Hop {
            conn: inb.conn,
            ..d.callee
        };
        for (method, cseq) in [
            ("ACK", d.invite_cseq),
            ("BYE", d.caller_cseq.saturating_add(1)),
        ] {
            self.local_request(
                method, &contact, &d.from, &to, call_id, cseq, None, why, callee, now, out,
            );
        }
        tracing::warn!(
            call_id,
            "answer crossed the kill switch's CANCEL: ACK and BYE sent"
        );
        match super::response::final_from(msg, 487, "Request Terminated", why) {
            Some(r) => super::response::Pass::Replace(r),
            None => super::response::Pass::Forward,
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn local_request(
        &mut self,
        method: &str,
        ruri: &str,
        from: &str,
        to: &str,
        call_id: &str,
        cseq: u32,
        branch: Option<&str>,
        why: &str,
        hop: Hop,
        now: Now,
        out: &mut Output,
    ) {
        self.local_seq += 1;
        let ours;
        let branch = match branch {
            Some(b) => b,
            None => {
                ours = BranchText::new(self.branch_for((call_id, method, self.local_seq)));
                ours.as_str()
            }
        };
        let adv = self.advertise(hop.listener).to_owned();
        let data = format!(
            "{method} {ruri} SIP/2.0\r\nVia: SIP/2.0/{} {adv};branch={branch}\r\nMax-Forwards: 70\r\n\
From: {from}\r\nTo: {to}\r\nCall-ID: {call_id}\r\nCSeq: {cseq} {method}\r\n\
Reason: SIP;cause=603;text=\"{why}\"\r\nUser-Agent: tollguard\r\nContent-Length: 0\r\n\r\n",
            hop.transport.as_str()
        )
        .into_bytes();
        self.add_tx(
            TxKey::new(branch, Method::parse(method)),
            Tx {
                back: hop,
                fwd: hop,
                created: now.wall,
                local: true,
                call: None,
                probe: false,
                contacts: None,
                auth: None,
                digest: None,
                auth_done: true,
                last_response: None,
                pending: None,
            },
            now.wall,
        );
        out.sends.push(Outgoing {
            data,
            hop: Hop { conn: None, ..hop },
        });
    }
}
