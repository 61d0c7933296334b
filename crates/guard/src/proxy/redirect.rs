//! The SIP redirect front end (`role = "redirect"`): an SBC or PBX that keeps its own call path asks by
//! sending the INVITE here. The decision layer decides it as it would an INVITE through the inline proxy; the
//! answer is a 302 whose Contact sends the call to the `[redirect] target` (the trunk), or the refusal status
//! (603 by default) with a Reason and a Warning in words. Nothing is forwarded and no dialog is kept: the
//! querier reports answers and ends through the HTTP API or its CDRs, and a kill switch reaches its calls
//! through an end-call adapter (docs/integrations/).

use super::*;

/// Headers of the query the 302 carries back, so that the querier's next INVITE can keep them (Diversion and
/// History-Info for forwarded calls, the querier's own X- headers).
fn kept(name: &str) -> bool {
    name.eq_ignore_ascii_case("Diversion")
        || name.eq_ignore_ascii_case("History-Info")
        || name.get(..2).is_some_and(|p| p.eq_ignore_ascii_case("X-"))
}

impl Core {
    /// Answers a request on a redirect listener (the source is a configured PBX or SBC).
    pub(super) fn redirect(
        &mut self,
        msg: &Message<'_>,
        method: Method<'_>,
        inb: &Inbound,
        now: Now,
        out: &mut Output,
    ) {
        let back = inb.hop();
        match method {
            Method::Invite if msg.to_tag().is_none() => {}
            Method::Ack => return,
            Method::Options | Method::Cancel => {
                self.respond(msg, back, 200, None, false, now.wall, out);
                return;
            }
            _ => {
                let why = "tollguard's redirect server answers INVITE and OPTIONS only";
                self.respond(msg, back, 405, Some(why), true, now.wall, out);
                return;
            }
        }
        let Some(cfg) = self.settings.redirect.clone() else {
            return;
        };
        let waited = inb.received.elapsed().as_millis();
        if waited > u128::from(cfg.max_wait_ms) {
            self.stats.redirect_overload += 1;
            tracing::warn!(
                waited_ms = waited as u64,
                "redirect query answered 503: tollguard is overloaded"
            );
            self.respond_with(
                msg,
                back,
                503,
                "tollguard is overloaded: retry later",
                &[("Retry-After", "5")],
                now.wall,
                out,
            );
            return;
        }
        match self.decide_call(msg, inb, now, out) {
            super::phases::CallFate::Pass { tenant, .. } => {
                // The querier carries the call: its answer and end may come over HTTP.
                let call_id = msg.call_id().unwrap_or("");
                self.shared
                    .decider
                    .lock()
                    .remember_call(call_id, &tenant, false, now);
                let user = msg.request_uri().and_then(|u| u.user()).unwrap_or("");
                let user = user.split(';').next().unwrap_or(user);
                let contact = cfg.contact_for(user);
                let mut headers: Vec<(&str, &str)> = vec![("Contact", contact.as_str())];
                headers.extend(
                    msg.headers()
                        .filter(|h| kept(h.name_text) && !h.value.contains(['\r', '\n']))
                        .map(|h| (h.name_text, h.value)),
                );
                self.stats.redirect_allowed += 1;
                self.respond_with(msg, back, 302, "", &headers, now.wall, out);
            }
            super::phases::CallFate::Block { reason, .. } => {
                let status = cfg.refuse_status;
                self.respond(msg, back, status, Some(&reason), true, now.wall, out);
            }
        }
    }

    /// A response with extra headers, remembered for retransmissions. `why`, when not empty, goes in a Reason
    /// and a Warning.
    #[allow(clippy::too_many_arguments)]
    fn respond_with(
        &mut self,
        msg: &Message<'_>,
        back: Hop,
        code: u16,
        why: &str,
        headers: &[(&str, &str)],
        wall: Millis,
        out: &mut Output,
    ) {
        let tag = self.to_tag(msg.call_id().unwrap_or(""));
        let words = why.replace(['\r', '\n'], " ");
        let mut b = ResponseBuilder::new(msg, code).to_tag(tag.as_str());
        if !words.is_empty() {
            b = b.reason(&words).warning("tollguard", &words);
        }
        for (n, v) in headers {
            b = b.header(n, v);
        }
        let mut data = Vec::with_capacity(640);
        if b.write_to(&mut data).is_ok() {
            self.remember_answer(msg, &data, wall);
            out.sends.push(Outgoing { data, hop: back });
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn diversion_history_and_x_headers_are_kept() {
        assert!(super::kept("Diversion") && super::kept("history-info"));
        assert!(super::kept("X-Account") && super::kept("x-carrier"));
        assert!(!super::kept("Via") && !super::kept("Contact") && !super::kept("X"));
    }
}
