//! The engine side of the proxy: call attempts decided, authentication outcomes and call ends fed,
//! decisions logged, persisted and enforced (bans, kill switches, calls ended).

use super::request::user_of;
use super::*;

/// Who places an outbound call, as far as the PBX's request and the configuration say.
struct Identity {
    tenant: String,
    account: String,
    /// The account is in the tenant's `accounts` (or no list is configured); calls from others share one
    /// strict bucket in the engine, so rotating the From user resets nothing.
    authenticated: bool,
    /// The caller number (P-Asserted-Identity, else From) is a public number outside the tenant's own.
    caller_id_foreign: bool,
}

impl Core {
    /// Tenant (by the PBX's source network), account (From, P-Asserted-Identity or a named header) and
    /// the identity checks of an outbound call.
    fn identify(&self, msg: &Message<'_>, ip: IpAddr) -> Identity {
        let ip = ip.to_canonical();
        let t = self
            .settings
            .tenants
            .iter()
            .find(|t| t.pbx_sources.iter().any(|n| n.contains(ip)))
            .or_else(|| self.settings.tenants.first());
        let from_user = || msg.from().and_then(|f| f.uri().user().map(str::to_owned));
        let pai_user = || {
            msg.p_asserted_identity()
                .filter_map(Result::ok)
                .find_map(|n| n.uri().user().map(str::to_owned))
        };
        let account = match t.map(|t| (t.account_from, t.account_header.as_deref())) {
            Some((AccountFrom::PAssertedIdentity, _)) => pai_user(),
            Some((AccountFrom::Header, Some(h))) => msg.headers_named(h).next().and_then(user_of),
            _ => None,
        }
        .or_else(from_user)
        .unwrap_or_default();
        let caller_id_foreign = t.is_some_and(|t| {
            !t.numbers.is_empty()
                && pai_user()
                    .or_else(from_user)
                    .is_some_and(|c| self.foreign_number(&c, &t.numbers))
        });
        Identity {
            tenant: t.map(|t| t.name.clone()).unwrap_or_default(),
            authenticated: t.is_none_or(|t| t.accounts.is_empty() || t.accounts.contains(&account)),
            account,
            caller_id_foreign,
        }
    }

    /// A caller number that is a public number (not an extension) outside the tenant's own prefixes.
    fn foreign_number(&self, caller: &str, own: &[String]) -> bool {
        let d = self.numbering.classify(&dialed_as_dialed(caller));
        let Some(e164) = d.e164 else {
            return false;
        };
        let digits = e164.to_string();
        let digits = digits.trim_start_matches('+');
        !own.iter().any(|p| digits.starts_with(p.as_str()))
    }

    /// The tenant whose PBX the access side reaches: logins on the access side belong to it.
    pub(super) fn tenant_of_pbx(&self) -> Option<&crate::config::Tenant> {
        let pbx = self.settings.pbx.address.ip();
        self.settings
            .tenants
            .iter()
            .find(|t| t.pbx_sources.iter().any(|n| n.contains(pbx)))
            .or_else(|| self.settings.tenants.first())
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
        let Some(tenant) = self
            .tenant_of_pbx()
            .filter(|t| self.settings.limits_apply(t))
        else {
            return false;
        };
        let Some(p) = self.auth_probe(msg, method, ip) else {
            return false;
        };
        if !p.credentials {
            return false;
        }
        let Err(refusal) = self.settings.check_login(tenant, &p.username, ip) else {
            return false;
        };
        tracing::warn!(source = %ip, account = %p.username, why = refusal.message(), "login refused by the login limits");
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

    pub(super) fn auth_probe(
        &self,
        msg: &Message<'_>,
        method: Method<'_>,
        source: IpAddr,
    ) -> Option<AuthProbe> {
        let kind = match method {
            Method::Register => AuthKind::Register,
            Method::Invite => AuthKind::Call,
            Method::Options | Method::Subscribe | Method::Message | Method::Refer => {
                AuthKind::Other
            }
            _ => return None,
        };
        let creds = msg
            .authorization()
            .or_else(|| msg.proxy_authorization())
            .and_then(Result::ok);
        let username = creds
            .and_then(|a| a.username().map(|u| u.trim_matches('"').to_owned()))
            .or_else(|| {
                let na = if method == Method::Register {
                    msg.to()
                } else {
                    msg.from()
                };
                na.and_then(|n| n.uri().user().map(str::to_owned))
            })
            .unwrap_or_default();
        Some(AuthProbe {
            tenant: self
                .tenant_of_pbx()
                .map(|t| t.name.clone())
                .unwrap_or_default(),
            username,
            credentials: creds.is_some(),
            country: self
                .tenant_of_pbx()
                .filter(|t| self.settings.limits_apply(t))
                .and_then(|_| self.settings.country_of(source)),
            user_agent: msg.user_agent().unwrap_or("").to_owned(),
            kind,
            source,
        })
    }

    pub(super) fn decide_call(
        &mut self,
        msg: &Message<'_>,
        inb: &Inbound,
        now: Now,
        out: &mut Output,
    ) -> CallFate {
        let Identity {
            tenant: tenant_name,
            account,
            authenticated,
            caller_id_foreign,
        } = self.identify(msg, inb.source.ip());
        let (dialed, destination) = dial_target(&self.numbering, msg)
            .unwrap_or_else(|| (String::new(), numbering::Destination::unknown()));
        let call_id = msg.call_id().unwrap_or("");
        let attempt = CallAttempt {
            at: now.engine,
            call_id,
            tenant: &tenant_name,
            account: &account,
            source: Some(inb.source),
            user_agent: msg.user_agent().unwrap_or(""),
            authenticated,
            dialed: &dialed,
            destination: &destination,
            route: "trunk",
            caller_id_foreign,
        };
        self.decisions.clear();
        let verdict = self
            .engine
            .on_event(&Event::CallAttempt(attempt), &mut self.decisions);
        self.stats.calls_decided += 1;
        let decisions = std::mem::take(&mut self.decisions);
        let reason = decisions
            .iter()
            .find(|d| d.level == Level::Critical && !d.shadow)
            .or_else(|| decisions.first())
            .map(|d| d.reason.clone());
        tracing::info!(
            call_id,
            tenant = %tenant_name,
            account = %account,
            dialed = %dialed,
            emergency = destination.is_emergency(),
            verdict = ?verdict,
            "outbound call decided"
        );
        if self.live {
            let (verdict_word, sip_status) = match verdict {
                Verdict::Block { sip_status } => {
                    ("blocked", self.settings.block_status.unwrap_or(sip_status))
                }
                _ if destination.is_emergency() => ("emergency", 0),
                _ => ("allowed", 0),
            };
            out.events.push(LiveEvent::Call {
                at: now.engine,
                tenant: tenant_name.clone(),
                account: account.clone(),
                call_id: call_id.to_owned(),
                dialed: dialed.clone(),
                e164: destination.e164.map(|e| e.to_string()),
                country: destination.country.map(|c| c.name.to_owned()),
                class: engine::DestClass::of(&destination).as_str().to_owned(),
                verdict: verdict_word.to_owned(),
                sip_status,
                reason: if sip_status != 0 {
                    reason.clone()
                } else {
                    None
                },
            });
        }
        self.apply_decisions(&tenant_name, decisions, now, out);
        self.latency.record(inb.received.elapsed());
        match verdict {
            Verdict::Block { sip_status } => {
                self.stats.calls_blocked += 1;
                CallFate::Block {
                    status: self.settings.block_status.unwrap_or(sip_status),
                    reason: reason.unwrap_or_else(|| {
                        format!("call from ext {account} to {dialed} blocked by tollguard policy")
                    }),
                }
            }
            Verdict::Allow | Verdict::Warn => CallFate::Pass {
                tenant: tenant_name,
                account,
                dialed,
                emergency: destination.is_emergency(),
            },
        }
    }

    pub(super) fn ban_scanner(
        &mut self,
        ip: IpAddr,
        rule_name: &str,
        why: &str,
        now: Now,
        out: &mut Output,
    ) {
        let rule = self.engine.policy().profile(0).rules.scanner_user_agent;
        if !rule.enabled {
            return;
        }
        let until = now.engine + i64::from(rule.ban_secs) * 1000;
        let reason = format!("source {ip} banned for {} min: {why}", rule.ban_secs / 60);
        let d = Decision {
            at: now.engine,
            rule: rule_name.to_owned(),
            level: Level::Critical,
            action: Action::Ban { source: ip, until },
            shadow: rule.shadow,
            key: format!("source {ip}"),
            measured: 1,
            threshold: 0,
            unit: Unit::Flag,
            window_secs: 0,
            call_id: None,
            calls: Vec::new(),
            at_stake: None,
            reason,
        };
        if !rule.shadow {
            self.engine
                .ban(ip, now.engine, until, "tollguard", &d.reason);
        }
        self.apply_decisions("", vec![d], now, out);
    }

    /// Logs, persists and enforces decisions.
    pub(super) fn apply_decisions(
        &mut self,
        tenant: &str,
        decisions: Vec<Decision>,
        now: Now,
        out: &mut Output,
    ) {
        if decisions.is_empty() {
            return;
        }
        if self.live {
            out.events
                .extend(decisions.iter().map(|d| LiveEvent::Decision {
                    tenant: tenant.to_owned(),
                    decision: d.clone(),
                }));
        }
        for d in &decisions {
            tracing::warn!(
                rule = %d.rule,
                level = ?d.level,
                shadow = d.shadow,
                key = %d.key,
                measured = d.measured,
                threshold = d.threshold,
                action = ?d.action,
                reason = %d.reason,
                "decision"
            );
            if d.shadow {
                continue;
            }
            match &d.action {
                Action::Ban { source, until } => {
                    if !self.put_ban(*source, *until) {
                        // Configured peers, tenants' PBX networks and trusted networks are never banned.
                        self.engine.lift_ban(*source);
                        tracing::warn!(source = %source, "protected source not banned");
                        continue;
                    }
                    self.stats.scanners_banned += 1;
                    // The engine's own record names the rule that triggered the ban.
                    let ban = self
                        .engine
                        .bans(d.at)
                        .into_iter()
                        .find(|b| b.source == *source && b.rule != "operator")
                        .unwrap_or_else(|| Ban {
                            source: *source,
                            since: d.at,
                            until: *until,
                            rule: d.rule.clone(),
                            by: "tollguard".into(),
                            why: d.reason.clone(),
                        });
                    out.persist.push(Persist::Ban(ban));
                }
                Action::Bar { scope, classes } => {
                    if let Some(ks) = self
                        .engine
                        .kill_switches()
                        .iter()
                        .rev()
                        .find(|k| &k.scope == scope && k.classes == *classes)
                    {
                        out.persist.push(Persist::KillSwitch(ks.clone()));
                    }
                }
                Action::EndCalls { call_ids, .. } => {
                    for id in call_ids {
                        self.end_call(id, &d.reason, now, out);
                    }
                }
                Action::Warn | Action::Block { .. } => {}
            }
        }
        out.persist.push(Persist::Alerts {
            tenant: tenant.to_owned(),
            decisions,
        });
    }

    pub(super) fn feed_end(
        &mut self,
        call_id: &str,
        started: Millis,
        answered: Option<Millis>,
        cause: EndCause,
        now: Now,
        out: &mut Output,
    ) {
        let secs = |from: Millis| {
            u32::try_from(now.engine.saturating_sub(from).max(0) / 1000).unwrap_or(u32::MAX)
        };
        let ev = CallEnded {
            at: now.engine,
            call_id,
            duration_secs: secs(started),
            billable_secs: answered.map(secs).unwrap_or(0),
            cause,
        };
        let billable_secs = answered.map(secs).unwrap_or(0);
        self.feed_call(call_id, &Event::CallEnded(ev), now, out, |tenant| {
            LiveEvent::CallEnded {
                at: now.engine,
                tenant,
                call_id: call_id.to_owned(),
                billable_secs,
                by_guard: cause == EndCause::Terminated,
            }
        });
    }

    /// Feeds an answer or end of a decided call to the engine, publishes it live and enforces what the
    /// engine decided, under the call's tenant.
    pub(super) fn feed_call(
        &mut self,
        call_id: &str,
        ev: &Event<'_>,
        now: Now,
        out: &mut Output,
        live: impl FnOnce(String) -> LiveEvent,
    ) {
        let mut ds = Vec::new();
        self.engine.on_event(ev, &mut ds);
        let tenant = self
            .dialogs
            .get(call_id)
            .map(|d| d.tenant.clone())
            .unwrap_or_default();
        if self.live {
            out.events.push(live(tenant.clone()));
        }
        self.apply_decisions(&tenant, ds, now, out);
    }

    /// Feeds the PBX's final answer to a login to the engine (challenge, failure, unknown user, success).
    /// `stale`: a 401/407 that only says the nonce expired (`stale=true`): the phone's password was right,
    /// so it is a challenge, not a failure (a phone re-registering must never earn a ban).
    pub(super) fn count_auth(
        &mut self,
        p: &AuthProbe,
        status: u16,
        stale: bool,
        now: Now,
        out: &mut Output,
    ) {
        let outcome = match status {
            401 | 407 if p.credentials && !stale => AuthOutcome::Failure,
            401 | 407 => AuthOutcome::Challenge,
            403 => AuthOutcome::Failure,
            404 => AuthOutcome::UnknownUser,
            200..=299 if p.credentials || p.kind == AuthKind::Register => AuthOutcome::Success,
            _ => return,
        };
        let ev = AuthAttempt {
            at: now.engine,
            tenant: &p.tenant,
            username: &p.username,
            source: p.source,
            user_agent: &p.user_agent,
            kind: p.kind,
            outcome,
            country: p.country.as_ref().map(crate::geo::Country::as_str),
        };
        let mut ds = Vec::new();
        self.engine.on_event(&Event::Auth(ev), &mut ds);
        tracing::debug!(source = %p.source, username = %p.username, ?outcome, status, "authentication outcome counted");
        let tenant = p.tenant.clone();
        self.apply_decisions(&tenant, ds, now, out);
    }
}
