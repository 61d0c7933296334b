//! Phase "weak login": a login the PBX accepted was computed from a vendor default or a weak password (the
//! front end tested the digest response it forwarded against the audit's lists). What the site does about it
//! (`[enforce] weak_password`) and the one decision it raises.

use engine::{Action, BarScope, ClassSet, Decision, Level, Millis, RuleId, Unit};
use serde::Deserialize;

/// `[enforce] weak_password`: what an accepted login with a vendor-default or weak password sets off.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WeakPasswordPolicy {
    /// Critical alert, and the account barred from international, premium-rate and satellite calls until an
    /// operator lifts the kill switch (after the password changed). The default: the 2015 hijackings went
    /// from such a login to international calls within hours.
    #[default]
    Bar,
    /// Critical alert only.
    Alert,
    /// Nothing is checked.
    Off,
}

/// Which list entry produced the accepted login's response (never the password itself).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WeakLogin<'a> {
    /// The kind of password in words: "a vendor-default password", "a password made from the extension
    /// number", "one of the most common passwords".
    pub kind: &'a str,
    /// Stable id of the list entry ("yealink-admin", "variant:ext-reversed", "common:3").
    pub entry: &'a str,
    /// The entry in words: "Yealink default: SIP-T2x IP phones, web administrator", "the extension number reversed".
    pub what: &'a str,
    /// The public document the entry comes from.
    pub source: &'a str,
}

/// The classes a weak login bars: what the 2015 attackers called.
pub const BARRED: ClassSet = ClassSet::INTERNATIONAL;

/// The kill switch's own words (shown in each refused call's reason and in the kill-switch list).
pub fn kill_switch_why(login: &WeakLogin<'_>) -> String {
    format!(
        "its login used {} ({}): change the password, then lift this switch",
        login.kind, login.what
    )
}

/// The decision a weak login raises. Built here and only here (the engine's `Decision` is changing shape).
pub fn weak_password_decision(
    at: Millis,
    tenant: &str,
    account: &str,
    login: &WeakLogin<'_>,
    bar: bool,
) -> Decision {
    let tail = if bar {
        format!("; international calls from ext {account} are barred until then")
    } else {
        String::new()
    };
    Decision {
        at,
        rule: RuleId::WeakPassword,
        level: Level::Critical,
        action: if bar {
            Action::Bar {
                scope: BarScope::Account {
                    tenant: tenant.to_owned(),
                    account: account.to_owned(),
                },
                classes: BARRED,
            }
        } else {
            Action::Warn
        },
        shadow: false,
        subject: engine::Subject::Account {
            tenant: tenant.to_owned(),
            account: account.to_owned(),
        },
        country: None,
        call: None,
        measured: 1,
        threshold: 0,
        unit: Unit::Flag,
        window_secs: 0,
        call_id: None,
        calls: Default::default(),
        at_stake: None,
        reason: format!(
            "ext {account} of {tenant} logged in with {} ({}, {}; list entry {}): attackers try it first — \
             change it{tail}",
            login.kind, login.what, login.source, login.entry
        ),
    }
}
