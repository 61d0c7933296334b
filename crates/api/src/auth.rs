//! Who may do what: API tokens (`tg_<id>_<secret>`, 256-bit random secret, only its SHA-256 kept), roles
//! (viewer < operator < admin; decider apart), tenant scopes, and the per-address limit on failed authentications.
//!
//! A token is found by its public id and its secret compared in constant time (`subtle`), so neither a
//! timing difference nor a database lookup by secret tells an attacker anything. An unknown id is compared
//! against a dummy hash for the same reason.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Mutex, RwLock};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use utoipa::ToSchema;

/// What a token may do. Each role includes the ones below it.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Decide calls and report their answer and end (`/api/v1/decide`, `/api/v1/calls/{id}/answered`,
    /// `/ended`), nothing else: the token an SBC or PBX holds.
    Decider,
    /// Read: status, alerts, kill switches, calls, counters, events.
    Viewer,
    /// Act: acknowledge alerts, ban/lift, set/lift kill switches, end calls, validate/reload the policy.
    Operator,
    /// Manage tokens.
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Decider => "decider",
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Admin => "admin",
        }
    }
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "decider" => Some(Role::Decider),
            "viewer" => Some(Role::Viewer),
            "operator" => Some(Role::Operator),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

/// The authenticated caller of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// Token id (public part), recorded in the audit log.
    pub id: String,
    pub label: String,
    pub role: Role,
    /// `None`: every tenant.
    pub tenants: Option<Vec<String>>,
}

impl Principal {
    /// Whether this caller may see data of `tenant` (data of no tenant, "", only unscoped callers).
    pub fn sees(&self, tenant: &str) -> bool {
        match &self.tenants {
            None => true,
            Some(list) => list.iter().any(|t| t == tenant),
        }
    }
    pub fn is_unscoped(&self) -> bool {
        self.tenants.is_none()
    }
    /// "token 1a2b… (label)" for `by` fields of bans and kill switches.
    pub fn who(&self) -> String {
        if self.label.is_empty() {
            format!("token {}", self.id)
        } else {
            format!("{} (token {})", self.label, self.id)
        }
    }
}

/// A token as the API keeps it in memory (loaded from the store, updated on create/revoke).
#[derive(Debug, Clone)]
pub(crate) struct TokenEntry {
    pub hash: [u8; 32],
    pub principal: Principal,
    pub revoked: bool,
}

/// A freshly made token: the full text (shown once) and what is stored.
#[derive(Debug, Clone)]
pub(crate) struct NewToken {
    pub id: String,
    pub text: String,
    pub hash_hex: String,
}

/// Makes a new random token: 8-byte id, 32-byte (256-bit) secret, both hex.
pub(crate) fn new_token() -> Result<NewToken, getrandom::Error> {
    let mut id = [0u8; 8];
    let mut secret = [0u8; 32];
    getrandom::fill(&mut id)?;
    getrandom::fill(&mut secret)?;
    let id = hex::encode(id);
    let secret = hex::encode(secret);
    let hash_hex = hex::encode(hash_secret(&secret));
    Ok(NewToken {
        text: format!("tg_{id}_{secret}"),
        id,
        hash_hex,
    })
}

pub(crate) fn hash_secret(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// Splits `tg_<16 hex>_<64 hex>` into id and secret.
pub(crate) fn split_token(text: &str) -> Option<(&str, &str)> {
    let rest = text.strip_prefix("tg_")?;
    let (id, secret) = rest.split_once('_')?;
    let hex = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit());
    (hex(id, 16) && hex(secret, 64)).then_some((id, secret))
}

/// Why a presented token was refused (for the log; the caller only ever hears "not valid").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    Malformed,
    UnknownId,
    WrongSecret,
    Revoked,
}

impl Refusal {
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::Malformed => "not a tollguard token",
            Refusal::UnknownId => "unknown token id",
            Refusal::WrongSecret => "wrong secret",
            Refusal::Revoked => "revoked token",
        }
    }
}

/// The tokens, in memory; the store holds the same (hashes only).
#[derive(Debug, Default)]
pub(crate) struct TokenBook {
    tokens: RwLock<HashMap<String, TokenEntry>>,
}

impl TokenBook {
    pub fn replace_all(&self, entries: Vec<TokenEntry>) {
        let map = entries
            .into_iter()
            .map(|e| (e.principal.id.clone(), e))
            .collect();
        if let Ok(mut t) = self.tokens.write() {
            *t = map;
        }
    }

    pub fn insert(&self, e: TokenEntry) {
        if let Ok(mut t) = self.tokens.write() {
            t.insert(e.principal.id.clone(), e);
        }
    }

    pub fn revoke(&self, id: &str) {
        if let Ok(mut t) = self.tokens.write()
            && let Some(e) = t.get_mut(id)
        {
            e.revoked = true;
        }
    }

    /// Checks a presented token.
    pub fn verify(&self, text: &str) -> Result<Principal, (Refusal, Option<String>)> {
        let Some((id, secret)) = split_token(text) else {
            return Err((Refusal::Malformed, None));
        };
        let presented = hash_secret(secret);
        let found = self.tokens.read().ok().and_then(|t| t.get(id).cloned());
        // Compare even when the id is unknown, so that both paths cost the same.
        let expected = found.as_ref().map(|e| e.hash).unwrap_or([0u8; 32]);
        let equal: bool = presented.ct_eq(&expected).into();
        match found {
            None => Err((Refusal::UnknownId, Some(id.to_owned()))),
            Some(_) if !equal => Err((Refusal::WrongSecret, Some(id.to_owned()))),
            Some(e) if e.revoked => Err((Refusal::Revoked, Some(id.to_owned()))),
            Some(e) => Ok(e.principal),
        }
    }
}

/// Per-source-address limit on failed authentications: a token bucket of `per_minute` failures refilled
/// at `per_minute` per minute. While the bucket is empty every authenticated request from the address is
/// refused with 429 (also those with a valid token: otherwise guessing would go on at full speed).
#[derive(Debug)]
pub(crate) struct LoginLimiter {
    per_minute: u32,
    buckets: Mutex<HashMap<IpAddr, Bucket>>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Addresses remembered at most; beyond, full buckets are forgotten first.
const MAX_TRACKED: usize = 100_000;

impl LoginLimiter {
    pub fn new(per_minute: u32) -> Self {
        LoginLimiter {
            per_minute: per_minute.max(1),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    fn refill(&self, b: &mut Bucket, now: Instant) {
        let cap = f64::from(self.per_minute);
        let rate = cap / 60.0;
        let dt = now.saturating_duration_since(b.at).as_secs_f64();
        b.tokens = (b.tokens + dt * rate).min(cap);
        b.at = now;
    }

    /// `Err(wait)`: the address must wait that long before trying again.
    pub fn check(&self, ip: IpAddr, now: Instant) -> Result<(), Duration> {
        let Ok(mut m) = self.buckets.lock() else {
            return Ok(());
        };
        let Some(b) = m.get_mut(&ip) else {
            return Ok(());
        };
        self.refill(b, now);
        if b.tokens >= 1.0 {
            Ok(())
        } else {
            let rate = f64::from(self.per_minute) / 60.0;
            Err(Duration::from_secs_f64(((1.0 - b.tokens) / rate).max(0.0)))
        }
    }

    /// Counts one failure of `ip`.
    pub fn failed(&self, ip: IpAddr, now: Instant) {
        let Ok(mut m) = self.buckets.lock() else {
            return;
        };
        if m.len() >= MAX_TRACKED && !m.contains_key(&ip) {
            let cap = f64::from(self.per_minute);
            let per = self.per_minute;
            m.retain(|_, b| {
                let dt = now.saturating_duration_since(b.at).as_secs_f64();
                b.tokens + dt * f64::from(per) / 60.0 < cap
            });
            if m.len() >= MAX_TRACKED {
                return;
            }
        }
        let cap = f64::from(self.per_minute);
        let b = m.entry(ip).or_insert(Bucket {
            tokens: cap,
            at: now,
        });
        self.refill(b, now);
        b.tokens = (b.tokens - 1.0).max(0.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(t: &NewToken, role: Role) -> TokenEntry {
        let mut hash = [0u8; 32];
        hex::decode_to_slice(&t.hash_hex, &mut hash).unwrap();
        TokenEntry {
            hash,
            principal: Principal {
                id: t.id.clone(),
                label: "x".into(),
                role,
                tenants: None,
            },
            revoked: false,
        }
    }

    #[test]
    fn tokens_verify_only_with_their_secret() {
        let book = TokenBook::default();
        let t = new_token().unwrap();
        assert_eq!(t.text.len(), 3 + 16 + 1 + 64);
        book.insert(entry(&t, Role::Admin));
        assert_eq!(book.verify(&t.text).unwrap().role, Role::Admin);
        let mut wrong = t.text.clone();
        let last = if wrong.ends_with('0') { "1" } else { "0" };
        wrong.replace_range(wrong.len() - 1.., last);
        assert_eq!(book.verify(&wrong).unwrap_err().0, Refusal::WrongSecret);
        let other = new_token().unwrap();
        assert_eq!(book.verify(&other.text).unwrap_err().0, Refusal::UnknownId);
        assert_eq!(book.verify("hunter2").unwrap_err().0, Refusal::Malformed);
        assert_eq!(book.verify("tg_x_y").unwrap_err().0, Refusal::Malformed);
        book.revoke(&t.id);
        assert_eq!(book.verify(&t.text).unwrap_err().0, Refusal::Revoked);
    }

    #[test]
    fn two_tokens_never_share_an_id_or_secret() {
        let a = new_token().unwrap();
        let b = new_token().unwrap();
        assert_ne!(a.id, b.id);
        assert_ne!(a.text, b.text);
        assert!(!a.text.contains(&a.hash_hex));
    }

    #[test]
    fn limiter_refuses_after_the_burst_and_recovers_with_time() {
        let l = LoginLimiter::new(3);
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let other: IpAddr = "192.0.2.2".parse().unwrap();
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(l.check(ip, t0).is_ok());
            l.failed(ip, t0);
        }
        let wait = l.check(ip, t0).unwrap_err();
        assert!(
            wait > Duration::from_secs(19) && wait <= Duration::from_secs(20),
            "{wait:?}"
        );
        assert!(
            l.check(other, t0).is_ok(),
            "other addresses are not affected"
        );
        assert!(l.check(ip, t0 + Duration::from_secs(21)).is_ok());
    }

    #[test]
    fn roles_are_ordered() {
        assert!(Role::Viewer < Role::Operator && Role::Operator < Role::Admin);
        for r in [Role::Viewer, Role::Operator, Role::Admin] {
            assert_eq!(Role::parse(r.as_str()), Some(r));
        }
    }
}
