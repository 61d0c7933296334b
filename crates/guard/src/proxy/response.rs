//! Responses: matched to the guard's transactions (never routed by a Via an outsider wrote: a response that
//! matches none is dropped), fed to the engine as call progress and authentication outcomes. On the way back
//! an answer that would tell an outsider "no such user" becomes the PBX's wrong-password answer, a
//! redirection towards the carrier is refused, and a 2xx that crosses the guard's CANCEL is ended.

use std::borrow::Cow;

use super::*;

/// What a response needs of its transaction.
struct TxSeen<'m> {
    back: Hop,
    /// The login it answers (first final answer only) and its digest kept for the weak-password check.
    auth: Option<(AuthProbe, Option<Box<weak::SeenDigest>>)>,
    /// A phone's contacts, on a 2xx to its REGISTER.
    contacts: Option<Vec<String>>,
    /// The call the transaction's INVITE created: its Call-ID (the response's own when they are the same,
    /// so that nothing is copied), and whether the engine decided it.
    call: Option<(Cow<'m, str>, bool)>,
}

/// What to do with a response after the dialog saw it.
pub(super) enum Pass {
    Forward,
    /// Send this to the caller instead.
    Replace(Vec<u8>),
}

impl Core {
    pub(super) fn on_response(
        &mut self,
        msg: &Message<'_>,
        inb: &Inbound,
        now: Now,
        out: &mut Output,
    ) {
        let Some(top) = msg.top_via() else { return };
        let Some(status) = msg.status() else { return };
        let method = msg.cseq().map(|c| c.method).unwrap_or(Method::Other(""));
        let key = TxKey::new(top.branch().unwrap_or(""), method);
        let Some(t) = self.txs.get_mut(&key) else {
            self.stats.responses_unmatched += 1;
            tracing::debug!(source = %inb.source, status, "response of no transaction of tollguard dropped");
            return;
        };
        if t.local {
            if t.probe && matches!(status, 401 | 407) {
                self.shared
                    .challenges
                    .lock()
                    .learn(AuthKind::Register, false, msg);
            }
            return;
        }
        // What the rest needs of the transaction, taken without copying it (a response is the hot path; the
        // INVITE it answers may still be held for retransmission).
        let t = TxSeen {
            back: t.back,
            auth: (status >= 200 && !t.auth_done)
                .then(|| t.auth.clone().map(|a| (a, t.digest.take())))
                .flatten(),
            contacts: (200..300)
                .contains(&status)
                .then(|| t.contacts.clone())
                .flatten(),
            call: t.call.as_ref().map(|(id, decided)| {
                let id = match msg.call_id() {
                    Some(same) if same == id => Cow::Borrowed(same),
                    _ => Cow::Owned(id.clone()),
                };
                (id, *decided)
            }),
        };
        if t.auth.is_some()
            && let Some(x) = self.txs.get_mut(&key)
        {
            x.auth_done = true;
        }
        let mut pass = Pass::Forward;
        if let Some((p, digest)) = &t.auth {
            pass = self.login_answer(p, msg, status, now, out);
            if (200..300).contains(&status)
                && let Some(d) = digest
            {
                self.check_weak_login(p, d, now, out);
            }
        }
        if let Some(contacts) = &t.contacts {
            self.registered(contacts, t.back, now.wall);
        }
        if let Some((call_id, decided)) = &t.call
            && let Pass::Replace(r) =
                self.call_progress(call_id, *decided, msg, status, inb, now, out)
        {
            pass = Pass::Replace(r);
        }
        if (300..400).contains(&status) && self.side_of(t.back.dest.ip()) == Side::Trunk {
            // The carrier would follow the redirection and place a call nobody decided.
            let why = "tollguard passes no redirection (3xx) to the carrier: the call it asks for would not be decided";
            tracing::warn!(
                status,
                "redirection from the PBX towards the carrier refused"
            );
            if let Some(r) = final_from(msg, 480, "Temporarily Unavailable", why) {
                pass = Pass::Replace(r);
            }
        }
        let data = match pass {
            Pass::Replace(r) => r,
            Pass::Forward => {
                let mut f = Forward::new(msg).pop_via();
                if t.back.transport != TransportKind::Udp || inb.transport != TransportKind::Udp {
                    f = f.fix_content_length();
                }
                let mut data = Vec::with_capacity(msg.as_bytes().len());
                if f.write_to(&mut data).is_err() {
                    return;
                }
                data
            }
        };
        if let Some(x) = self.txs.get_mut(&key) {
            x.pending = None;
            // The buffer of the previous response is reused (a call's INVITE sees 100, 180 and 200).
            match &mut x.last_response {
                Some(last) => {
                    last.clear();
                    last.extend_from_slice(&data);
                }
                None => x.last_response = Some(data.clone()),
            }
        }
        out.sends.push(Outgoing { data, hop: t.back });
    }

    /// The PBX's final answer to an outsider's login: counted, its challenge learned, and an answer that
    /// says "no such user" replaced by the PBX's wrong-password answer.
    fn login_answer(
        &mut self,
        p: &AuthProbe,
        msg: &Message<'_>,
        status: u16,
        now: Now,
        out: &mut Output,
    ) -> Pass {
        let stale = msg
            .header_all(HeaderName::WwwAuthenticate)
            .chain(msg.header_all(HeaderName::ProxyAuthenticate))
            .any(|v| {
                v.to_ascii_lowercase()
                    .replace(' ', "")
                    .contains("stale=true")
            });
        self.count_auth(p, status, stale, now, out);
        if matches!(status, 401 | 407) {
            self.shared
                .challenges
                .lock()
                .learn(p.kind, p.credentials, msg);
            return Pass::Forward;
        }
        let unknown_by_list = self
            .tenant_of_pbx()
            .is_some_and(|t| !t.accounts.is_empty() && !t.accounts.contains(&p.username));
        let tells = matches!(status, 404 | 410 | 484 | 604) || (status == 403 && unknown_by_list);
        if !tells {
            return Pass::Forward;
        }
        let nonce_seed = self
            .shared
            .hasher
            .hash_one((now.wall, &p.username, self.local_seq));
        self.local_seq += 1;
        let disguised = self.shared.challenges.lock().disguise(
            p.kind,
            p.credentials,
            msg,
            now.wall,
            nonce_seed,
        );
        match disguised {
            Some(r) => {
                self.stats.unknown_user_disguised += 1;
                Pass::Replace(r)
            }
            None => Pass::Forward,
        }
    }

    /// A phone registered through the guard: the PBX may now reach its contacts through the guard.
    fn registered(&mut self, contacts: &[String], flow: Hop, wall: Millis) {
        const MAX_REGISTRATIONS: usize = 100_000;
        const LIFE_MS: Millis = 3_600_000;
        let mut registrations = self.shared.registrations.lock();
        if registrations.len() >= MAX_REGISTRATIONS {
            registrations.retain(|_, (_, at)| wall.saturating_sub(*at) < LIFE_MS);
        }
        for c in contacts {
            if registrations.len() < MAX_REGISTRATIONS || registrations.contains_key(c) {
                registrations.insert(c.clone(), (flow, wall));
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn call_progress(
        &mut self,
        call_id: &str,
        decided: bool,
        msg: &Message<'_>,
        status: u16,
        inb: &Inbound,
        now: Now,
        out: &mut Output,
    ) -> Pass {
        let Some(d) = self.dialogs.leg_mut(call_id, decided) else {
            return Pass::Forward;
        };
        if status > 100
            && status < 300
            && let Some(tag) = msg.to_tag()
            && (d.callee_tag.is_none() || status >= 200)
            && d.callee_tag.as_deref() != Some(tag)
        {
            d.callee_tag = Some(tag.to_owned());
        }
        if (200..300).contains(&status) && d.killed && d.answered.is_none() {
            // The callee answered while the guard's CANCEL was on its way: end it at once.
            return self.answered_after_cancel(call_id, msg, inb, now, out);
        }
        if d.ended {
            return Pass::Forward;
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
                if decided {
                    self.feed_answer(call_id, now, out);
                }
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
            if decided {
                self.feed_end(call_id, started, answered, cause, now, out);
            }
        }
        Pass::Forward
    }
}

/// A final response built from another response of the same transaction (our Via removed, no body):
/// Via, From, To, Call-ID and CSeq as they were, a Reason and a Warning in words.
pub(super) fn final_from(msg: &Message<'_>, code: u16, phrase: &str, why: &str) -> Option<Vec<u8>> {
    use std::fmt::Write as _;
    let words = why.replace(['\r', '\n', '"'], " ");
    let mut s = format!("SIP/2.0 {code} {phrase}\r\n");
    for v in msg.via().skip(1) {
        let _ = write!(s, "Via: {}\r\n", v.as_str().trim());
    }
    for name in [
        HeaderName::From,
        HeaderName::To,
        HeaderName::CallId,
        HeaderName::CSeq,
    ] {
        let _ = write!(s, "{}: {}\r\n", name.as_str(), msg.header(name)?);
    }
    let _ = write!(
        s,
        "Reason: SIP;cause={code};text=\"{words}\"\r\nWarning: 399 tollguard \"{words}\"\r\nContent-Length: 0\r\n\r\n"
    );
    Some(s.into_bytes())
}
