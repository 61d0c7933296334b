//! The engine's side of the site's facts ([`crate::Site`]) and of scanner marks: a front end's fingerprint of
//! a scanner is an event like any other, so that live traffic, replay and backtest ban alike; a protected
//! source is never banned (its ban decisions become warnings that say why); refusals carry the site's status.

use std::net::IpAddr;

use crate::decision::{Action, Decision, Level, Verdict};
use crate::engine::Engine;
use crate::event::ScannerMark;
use crate::explain;
use crate::site::Site;

impl Engine {
    /// Sets the site's facts (at start and on reload).
    pub fn set_site(&mut self, site: Site) {
        self.site = site;
    }

    pub fn site(&self) -> &Site {
        &self.site
    }

    /// A request carried a scanner's fingerprint: ban its source (the `scanner_user_agent` rule's settings).
    pub(crate) fn on_scanner_mark(
        &mut self,
        m: &ScannerMark<'_>,
        out: &mut Vec<Decision>,
    ) -> Verdict {
        let key = self.policy.source_key(m.source);
        let rule = self.policy.profile(0).rules.scanner_user_agent;
        if !rule.enabled {
            return Verdict::Allow;
        }
        let d = explain::scanner_mark(key, self.source_words(key), m, &rule);
        let (shadow, reason) = (d.shadow, d.reason.clone());
        out.push(d);
        if shadow {
            return Verdict::Warn;
        }
        let until = m.at + i64::from(rule.ban_secs) * 1000;
        self.apply_ban(key, m.at, until, m.rule.as_str(), "tollguard", &reason);
        Verdict::Block { sip_status: 403 }
    }

    /// After an event: the bans of protected sources among its decisions are reported, not enforced, and a
    /// refusal carries the site's status.
    pub(crate) fn apply_site(&self, decisions: &mut [Decision], v: Verdict) -> Verdict {
        let mut spared = false;
        for d in decisions.iter_mut() {
            if let Action::Ban { source, .. } = d.action
                && self.site.protects(source)
            {
                spare(d, source);
                spared = true;
            }
        }
        let enforced = |d: &Decision| {
            !d.shadow && matches!(d.action, Action::Block { .. } | Action::Ban { .. })
        };
        match v {
            Verdict::Block { .. } if spared && !decisions.iter().any(enforced) => Verdict::Warn,
            Verdict::Block { sip_status } => Verdict::Block {
                sip_status: self.site.block_status.unwrap_or(sip_status),
            },
            v => v,
        }
    }
}

/// A ban decision of a protected source, turned into a warning that says why it was not enforced.
fn spare(d: &mut Decision, source: IpAddr) {
    d.action = Action::Warn;
    d.level = Level::Warning;
    d.reason.push_str(&format!(
        " — not banned: {source} is the PBX, the trunk, a tenant's PBX network or a trusted network"
    ));
}
