//! The engine side of the proxy: call attempts decided, authentication outcomes and call ends fed,
//! decisions logged, persisted and enforced (bans, kill switches, calls ended).

use super::request::user_of;
use super::*;

impl Core {
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
                .settings
                .tenants
                .first()
                .map(|t| t.name.clone())
                .unwrap_or_default(),
            username,
            credentials: creds.is_some(),
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
        let ip = inb.source.ip();
        let tenant = self
            .settings
            .tenants
            .iter()
            .find(|t| t.pbx_sources.iter().any(|n| n.contains(ip)))
            .or_else(|| self.settings.tenants.first())
            .cloned();
        let (tenant_name, account_from, header, known) = match &tenant {
            Some(t) => (
                t.name.clone(),
                t.account_from,
                t.account_header.clone(),
                t.accounts.clone(),
            ),
            None => (String::new(), AccountFrom::FromUser, None, Vec::new()),
        };
        let from_user = msg
            .from()
            .and_then(|f| f.uri().user().map(str::to_owned))
            .unwrap_or_default();
        let account = match account_from {
            AccountFrom::FromUser => None,
            AccountFrom::PAssertedIdentity => msg
                .p_asserted_identity()
                .filter_map(Result::ok)
                .find_map(|n| n.uri().user().map(str::to_owned)),
            AccountFrom::Header => header
                .as_deref()
                .and_then(|h| msg.headers_named(h).next())
                .and_then(user_of),
        }
        .unwrap_or(from_user);
        let dialed = msg
            .request_uri()
            .and_then(|u| u.user().map(dialed_as_dialed))
            .unwrap_or_default();
        let destination = self.numbering.classify(&dialed);
        let call_id = msg.call_id().unwrap_or("");
        let authenticated = known.is_empty() || known.contains(&account);
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
                    if self.settings.is_trusted(*source) {
                        // Trusted networks are never banned, whatever a rule says.
                        self.engine.lift_ban(*source);
                        tracing::warn!(source = %source, "trusted source not banned");
                        continue;
                    }
                    if !self.bans.contains_key(source) {
                        self.stats.scanners_banned += 1;
                    }
                    self.bans.insert(*source, *until);
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
        let mut ds = Vec::new();
        self.engine.on_event(&Event::CallEnded(ev), &mut ds);
        let tenant = self
            .dialogs
            .get(call_id)
            .map(|d| d.tenant.clone())
            .unwrap_or_default();
        if self.live {
            out.events.push(LiveEvent::CallEnded {
                at: now.engine,
                tenant: tenant.clone(),
                call_id: call_id.to_owned(),
                billable_secs: answered.map(secs).unwrap_or(0),
                by_guard: cause == EndCause::Terminated,
            });
        }
        self.apply_decisions(&tenant, ds, now, out);
    }

    /// Ends a call in progress from the middle: BYE to both sides once answered, CANCEL towards the callee
    /// before (the callee's 487 then reaches the caller).
    /// Returns whether the call was in progress (and is now being ended).

    pub(super) fn count_auth(&mut self, p: &AuthProbe, status: u16, now: Now, out: &mut Output) {
        let outcome = match status {
            401 | 407 if p.credentials => AuthOutcome::Failure,
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
        };
        let mut ds = Vec::new();
        self.engine.on_event(&Event::Auth(ev), &mut ds);
        tracing::debug!(source = %p.source, username = %p.username, ?outcome, status, "authentication outcome counted");
        let tenant = p.tenant.clone();
        self.apply_decisions(&tenant, ds, now, out);
    }
}
