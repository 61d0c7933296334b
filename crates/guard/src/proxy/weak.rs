//! Passive detection of weak passwords: the digest response of a login the guard forwards is kept until the
//! PBX answers; when the PBX accepts it (2xx), the response is tested against the audit's vendor-default,
//! extension-derived and common passwords (`audit::weak_login`), and a match goes to the decision layer's
//! phase "weak login". Nothing is sent: the response a phone computed is enough to tell which list entry
//! produced it.
//!
//! Cost: one check tries at most the shipped list (10 vendor entries, 5 extension variants, 11 common
//! passwords, fewer after de-duplication), three MD5 or SHA-256 hashes of under 200 bytes per candidate:
//! about 40 µs (MD5) or 60 µs (SHA-256) when nothing matches (bench/README.md). It runs once per account
//! per [`RECHECK_MS`]: a phone that re-registers every 60 s costs one check an hour, and its later logins
//! keep no digest fields at all.

use std::collections::HashMap;

use super::*;

/// How long an account's check stands before its next accepted login is checked again.
pub(super) const RECHECK_MS: Millis = 3_600_000;
/// Most accounts remembered as checked; beyond, expired marks are dropped, then all of them.
const MAX_CHECKED: usize = 100_000;
/// Longest digest field kept (a realm, nonce, cnonce or response longer than this is nobody's phone).
const MAX_FIELD: usize = 256;

/// The digest fields of a login's Authorization / Proxy-Authorization header, owned until the PBX answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct SeenDigest {
    method: String,
    user: String,
    realm: String,
    nonce: String,
    uri: String,
    response: String,
    algorithm: Option<String>,
    qop: Option<String>,
    nc: Option<String>,
    cnonce: Option<String>,
}

impl SeenDigest {
    /// The fields of the request's credentials; None without a complete digest or when a field is too long.
    fn read(msg: &Message<'_>, method: Method<'_>) -> Option<SeenDigest> {
        let a = msg
            .authorization()
            .or_else(|| msg.proxy_authorization())?
            .ok()?;
        if !a.is_digest() {
            return None;
        }
        let field = |v: Option<&str>| -> Option<String> {
            let v = v?.trim_matches('"');
            (v.len() <= MAX_FIELD).then(|| v.to_owned())
        };
        let optional = |v: Option<&str>| -> Result<Option<String>, ()> {
            match v {
                None => Ok(None),
                Some(_) => field(v).map(Some).ok_or(()),
            }
        };
        Some(SeenDigest {
            method: method.as_str().to_owned(),
            user: field(a.username())?,
            realm: field(a.realm())?,
            nonce: field(a.nonce())?,
            uri: a
                .uri()
                .map(|u| u.trim_matches('"'))
                .filter(|u| u.len() <= 2 * MAX_FIELD)
                .map(str::to_owned)?,
            response: field(a.response())?,
            algorithm: optional(a.algorithm()).ok()?,
            qop: optional(a.qop()).ok()?,
            nc: optional(a.nc()).ok()?,
            cnonce: optional(a.cnonce()).ok()?,
        })
    }

    fn weak_login(&self) -> Option<audit::Match> {
        audit::weak_login(
            &self.user,
            &self.realm,
            &self.nonce,
            &self.method,
            &self.uri,
            &self.response,
            self.algorithm.as_deref(),
            self.qop.as_deref(),
            self.nc.as_deref(),
            self.cnonce.as_deref(),
        )
    }
}

/// Accounts whose accepted login was checked lately: hash of (tenant, account) → when. A hash (of the core's
/// random hasher) so that the lookup on every login allocates nothing; two accounts sharing one would only
/// share a check's hour.
#[derive(Debug, Default)]
pub(super) struct WeakChecks {
    checked: HashMap<u64, Millis>,
}

impl WeakChecks {
    fn fresh(&self, key: u64, now: Millis) -> bool {
        self.checked
            .get(&key)
            .is_some_and(|at| now.saturating_sub(*at) < RECHECK_MS)
    }

    fn mark(&mut self, key: u64, now: Millis) {
        if self.checked.len() >= MAX_CHECKED {
            self.checked
                .retain(|_, at| now.saturating_sub(*at) < RECHECK_MS);
            if self.checked.len() >= MAX_CHECKED {
                self.checked.clear();
            }
        }
        self.checked.insert(key, now);
    }
}

impl Core {
    fn weak_key(&self, p: &AuthProbe) -> u64 {
        self.shared.hasher.hash_one((&p.tenant, &p.username))
    }

    /// The digest fields of a login with credentials, kept for the check once the PBX answers: None when
    /// the check is off or the account was checked within the last [`RECHECK_MS`] (the common case of a
    /// phone re-registering: nothing is allocated).
    pub(super) fn weak_digest(
        &self,
        msg: &Message<'_>,
        method: Method<'_>,
        p: &AuthProbe,
        now: Now,
    ) -> Option<Box<SeenDigest>> {
        if !p.credentials
            || self.settings.weak_password == decide::WeakPasswordPolicy::Off
            || self
                .shared
                .weak_checks
                .lock()
                .fresh(self.weak_key(p), now.wall)
        {
            return None;
        }
        SeenDigest::read(msg, method).map(Box::new)
    }

    /// The PBX accepted a login whose digest the guard kept: tested against the lists once, and a match
    /// reported to the decision layer (critical alert, and by default a kill switch on the account).
    pub(super) fn check_weak_login(
        &mut self,
        p: &AuthProbe,
        d: &SeenDigest,
        now: Now,
        out: &mut Output,
    ) {
        let key = self.weak_key(p);
        {
            let mut checks = self.shared.weak_checks.lock();
            if checks.fresh(key, now.wall) {
                return;
            }
            checks.mark(key, now.wall);
        }
        let Some(m) = d.weak_login() else {
            return;
        };
        let (kind, what) = m.words();
        tracing::warn!(tenant = %p.tenant, account = %p.username, source = %p.source, entry = %m.entry_id, "login accepted with a vendor-default or weak password");
        let login = decide::WeakLogin {
            kind,
            entry: &m.entry_id,
            what: &what,
            source: &m.source,
        };
        self.shared
            .decider
            .lock()
            .weak_login(&p.tenant, &p.username, &login, now, &mut self.fx);
        self.carry_out(now, out);
    }
}
