//! The proxy's calls into the decision layer at its phases — a call attempt, an answer, an end, an
//! authentication result — and the carrying out of what comes back (answers, calls ended, records).

use super::*;

/// What the decision layer said of an outbound INVITE.
pub(super) enum CallFate {
    Block {
        status: u16,
        reason: String,
    },
    Pass {
        tenant: String,
        account: String,
        dialed: String,
        emergency: bool,
    },
}

impl Core {
    /// The tenant whose PBX the access side reaches: logins on the access side belong to it.
    pub(super) fn tenant_of_pbx(&self) -> Option<decide::Tenant> {
        self.shared.decider.lock().tenant_of_pbx().cloned()
    }

    /// Login limits of the tenant (networks, countries): a login from elsewhere is refused with 403 and
    /// counted as a failed login; the admin's log says why. True when refused.
    pub(super) fn login_refused(
        &mut self,
        msg: &Message<'_>,
        method: Method<'_>,
        ip: IpAddr,
        back: Hop,
        now: Now,
        out: &mut Output,
    ) -> bool {
        let Some(p) = self.auth_probe(msg, method, ip) else {
            return false;
        };
        if self.shared.decider.lock().login_refusal(&p).is_none() {
            return false;
        }
        self.respond(msg, back, 403, None, false, now.wall, out);
        self.count_auth(&p, 403, false, now, out);
        true
    }

    /// A request refused for its source or route, counted as a failed login of the user it names, so that
    /// an outsider who keeps trying is banned like a password guesser.
    pub(super) fn count_refusal(
        &mut self,
        msg: &Message<'_>,
        method: Method<'_>,
        ip: IpAddr,
        now: Now,
        out: &mut Output,
    ) {
        if self.is_protected(ip) || method == Method::Ack {
            return;
        }
        if let Some(mut p) = self
            .auth_probe(msg, method, ip)
            .or_else(|| self.auth_probe(msg, Method::Options, ip))
        {
            p.credentials = true;
            self.count_auth(&p, 403, false, now, out);
        }
    }

    /// The facts of a login read off a request (None for requests that are no login).
    pub(super) fn auth_probe(
        &self,
        msg: &Message<'_>,
        method: Method<'_>,
        source: IpAddr,
    ) -> Option<AuthProbe> {
        let (kind, username, credentials) = decide::facts::login_of(msg, method)?;
        let ua = msg.user_agent().unwrap_or("");
        Some(
            self.shared
                .decider
                .lock()
                .auth_facts(kind, username, credentials, ua, source),
        )
    }

    /// Phase "call attempt": the layer decides an outbound INVITE towards the trunk.
    pub(super) fn decide_call(
        &mut self,
        msg: &Message<'_>,
        inb: &Inbound,
        now: Now,
        out: &mut Output,
    ) -> CallFate {
        // One lock for the phase: the tenant, the call's facts and the decision.
        let v = {
            let mut decider = self.shared.decider.lock();
            let cfg = decider.config_arc();
            let tenant = cfg.tenants.resolve(None, Some(inb.source.ip()));
            let call = decide::SipCall::read(msg, tenant);
            let q = call.query(msg, inb.source);
            decider.call_attempt(&q, Some(inb.received), now, &mut self.fx)
        };
        self.stats.calls_decided += 1;
        self.carry_out(now, out);
        if v.allowed {
            CallFate::Pass {
                tenant: v.tenant,
                account: v.account,
                dialed: v.dialed,
                emergency: v.emergency,
            }
        } else {
            self.stats.calls_blocked += 1;
            CallFate::Block {
                status: v.status,
                reason: v.reason.unwrap_or_default(),
            }
        }
    }

    /// Phase "call attempt" for a querier that carries the call itself (HTTP): decided like an INVITE, and
    /// remembered for the querier's later answer and end.
    pub fn decide_query(
        &mut self,
        q: &decide::CallQuery<'_>,
        received: std::time::Instant,
        now: Now,
        out: &mut Output,
    ) -> decide::CallVerdict {
        let v = self
            .shared
            .decider
            .lock()
            .call_attempt(q, Some(received), now, &mut self.fx);
        self.stats.calls_decided += 1;
        if !v.allowed {
            self.stats.calls_blocked += 1;
        }
        if v.allowed {
            self.shared
                .decider
                .lock()
                .remember_call(q.call_id, &v.tenant, false, now);
        }
        self.carry_out(now, out);
        v
    }

    /// Phases "answered" and "ended" reported by a querier. False when it may not see such a call.
    pub fn query_progress(
        &mut self,
        call_id: &str,
        tenants: Option<&[String]>,
        progress: decide::control::Progress,
        now: Now,
        out: &mut Output,
    ) -> bool {
        let known = match progress {
            decide::control::Progress::Answered => {
                self.shared
                    .decider
                    .lock()
                    .queried_answered(call_id, tenants, now, &mut self.fx)
            }
            decide::control::Progress::Ended {
                billable_secs,
                cause,
            } => self.shared.decider.lock().queried_ended(
                call_id,
                tenants,
                billable_secs,
                cause,
                now,
                &mut self.fx,
            ),
        };
        self.carry_out(now, out);
        known
    }

    /// An operator ends a call another system carries (redirect, HTTP, mirror): handed to the end-call
    /// adapters. False when no such call (of that tenant) is known.
    pub fn end_queried_call(
        &mut self,
        call_id: &str,
        tenant: Option<&str>,
        why: &str,
        out: &mut Output,
    ) -> bool {
        match self.shared.decider.lock().tenant_of_queried(call_id) {
            Some(t) if tenant.is_none_or(|x| x == t) => {
                let c = decide::EndCall {
                    call_id: call_id.to_owned(),
                    why: why.to_owned(),
                };
                out.end_elsewhere.push((c, t));
                true
            }
            _ => false,
        }
    }

    /// A scanner's fingerprint on a request of an outsider: the layer bans it unless it logged in lately.
    /// True when banned.
    pub(super) fn ban_scanner(
        &mut self,
        ip: IpAddr,
        rule_name: engine::RuleId,
        why: &str,
        now: Now,
        out: &mut Output,
    ) -> bool {
        let o = self
            .shared
            .decider
            .lock()
            .scanner_seen(ip, rule_name, why, now, &mut self.fx);
        self.carry_out(now, out);
        o != decide::ScannerOutcome::Vouched
    }

    /// Counts a request of an outsider; a flood is reported at once. True when the source is now banned.
    pub(super) fn count_request(&mut self, ip: IpAddr, now: Now, out: &mut Output) -> bool {
        let banned = self
            .shared
            .decider
            .lock()
            .request_received(ip, now, &mut self.fx);
        self.carry_out(now, out);
        banned
    }

    /// Phase "ended": a decided call ended.
    pub(super) fn feed_end(
        &mut self,
        call_id: &str,
        started: Millis,
        answered: Option<Millis>,
        cause: EndCause,
        now: Now,
        out: &mut Output,
    ) {
        let tenant = self.tenant_of_call(call_id);
        self.shared.decider.lock().call_ended(
            call_id,
            &tenant,
            started,
            answered,
            cause,
            now,
            &mut self.fx,
        );
        self.carry_out(now, out);
    }

    /// Phase "answered": a decided call was answered.
    pub(super) fn feed_answer(&mut self, call_id: &str, now: Now, out: &mut Output) {
        let tenant = self.tenant_of_call(call_id);
        self.shared
            .decider
            .lock()
            .call_answered(call_id, &tenant, now, &mut self.fx);
        self.carry_out(now, out);
    }

    fn tenant_of_call(&self, call_id: &str) -> String {
        self.dialogs
            .get(call_id)
            .map(|d| d.tenant.clone())
            .unwrap_or_default()
    }

    /// Phase "auth result": the PBX's final answer to a login (challenge, failure, unknown user, success).
    /// `stale`: a 401/407 that only says the nonce expired (`stale=true`).
    pub(super) fn count_auth(
        &mut self,
        p: &AuthProbe,
        status: u16,
        stale: bool,
        now: Now,
        out: &mut Output,
    ) {
        self.shared
            .decider
            .lock()
            .auth_result(p, status, stale, now, &mut self.fx);
        self.carry_out(now, out);
    }
}
