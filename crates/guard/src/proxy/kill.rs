//! Ending calls from the middle: BYE to both sides of an answered call, CANCEL before the answer.

use super::*;

impl Core {
    pub fn end_call(&mut self, call_id: &str, why: &str, now: Now, out: &mut Output) -> bool {
        let Some(d) = self.dialogs.get(call_id).cloned() else {
            tracing::info!(
                call_id,
                "kill switch: call not (or no longer) in progress here"
            );
            return false;
        };
        if d.ended {
            return false;
        }
        if let Some(x) = self.dialogs.get_mut(call_id) {
            x.ended = true;
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
                    d.invite_cseq.saturating_add(1),
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
                    d.invite_cseq.saturating_add(1000),
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
        let branch = match branch {
            Some(b) => b.to_owned(),
            None => self.branch_for(&[call_id, method, &self.local_seq.to_string()]),
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
            (branch, method.to_owned()),
            Tx {
                back: hop,
                created: now.wall,
                local: true,
                call: None,
                auth: None,
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
