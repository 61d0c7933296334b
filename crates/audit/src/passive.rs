//! Passive detection: given a digest response a guard saw on the wire, which vendor default or weak password
//! produced it. No network; the guard can call this on every authenticated request it forwards.

use std::sync::OnceLock;

use serde::Serialize;

use crate::candidates::{CandidateLists, Origin};
use crate::digest::{Algorithm, DigestParams};

/// The list entry a seen response was computed from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Match {
    pub entry_id: String,
    pub origin: Origin,
    pub source: String,
}

impl Match {
    /// The kind of password in words ("a vendor-default password") and the entry itself ("Yealink
    /// default: SIP-T2x IP phones, web administrator", "the extension number reversed"): what an alert says,
    /// never the password.
    pub fn words(&self) -> (&'static str, String) {
        match self.origin {
            Origin::VendorDefault => {
                let what = lists()
                    .vendor
                    .iter()
                    .find(|e| e.id == self.entry_id)
                    .map_or_else(
                        || self.entry_id.clone(),
                        |e| format!("{} default: {}", e.vendor, e.product),
                    );
                ("a vendor-default password", what)
            }
            Origin::ExtensionVariant => {
                let what = match self.entry_id.trim_start_matches("variant:") {
                    "ext" => "the extension number itself",
                    "ext-twice" => "the extension number twice",
                    "ext-reversed" => "the extension number reversed",
                    "ext-123" => "the extension number followed by 123",
                    _ => "a simple variant of the extension number",
                };
                ("a password made from the extension number", what.to_owned())
            }
            Origin::Common => (
                "one of the most common passwords",
                format!("entry {} of the leaked-password top list", self.entry_id),
            ),
            Origin::UserList => ("a password of the operator's list", self.entry_id.clone()),
        }
    }
}

fn lists() -> &'static CandidateLists {
    static LISTS: OnceLock<CandidateLists> = OnceLock::new();
    LISTS.get_or_init(CandidateLists::shipped)
}

/// Tests the shipped vendor defaults, extension variants and common passwords against one digest response
/// (the parameters of an Authorization header and the request's method). `None` when none matches, when the
/// algorithm is not MD5/SHA-256, or when `qop` is given without `nc`/`cnonce`.
///
/// A match says which list entry *produced* the response, not that it was right: a scanner's wrong guess from
/// the same list matches too. Call it for logins the PBX accepted (a 2xx to the REGISTER or INVITE).
// The argument list mirrors the fields of an Authorization header one for one, which is what a caller has.
#[allow(clippy::too_many_arguments)]
pub fn weak_login(
    user: &str,
    realm: &str,
    nonce: &str,
    method: &str,
    uri: &str,
    response: &str,
    algorithm: Option<&str>,
    qop: Option<&str>,
    nc: Option<&str>,
    cnonce: Option<&str>,
) -> Option<Match> {
    let algorithm = Algorithm::parse(algorithm)?;
    let (nc, cnonce) = match qop {
        Some(_) => (nc?.to_owned(), cnonce?.to_owned()),
        None => (String::new(), String::new()),
    };
    let params = DigestParams {
        algorithm,
        username: user.to_owned(),
        realm: realm.to_owned(),
        nonce: nonce.to_owned(),
        method: method.to_owned(),
        uri: uri.to_owned(),
        qop: qop.map(str::to_owned),
        nc,
        cnonce,
        opaque: None,
    };
    let response = response.trim().to_ascii_lowercase();
    lists()
        .for_account(user)
        .into_iter()
        .find(|c| params.response(&c.password) == response)
        .map(|c| Match {
            entry_id: c.id,
            origin: c.origin,
            source: c.source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(password: &str, alg: Algorithm, qop: bool) -> DigestParams {
        DigestParams {
            algorithm: alg,
            username: "205".into(),
            realm: "asterisk".into(),
            nonce: "5f1e".into(),
            method: "INVITE".into(),
            uri: "sip:01023276123456@pbx".into(),
            qop: qop.then(|| "auth".into()),
            nc: if qop {
                "00000001".into()
            } else {
                String::new()
            },
            cnonce: if qop { "ab12".into() } else { String::new() },
            opaque: None,
        }
        .tap_response(password)
    }

    trait Tap {
        fn tap_response(self, pw: &str) -> DigestParams;
    }
    impl Tap for DigestParams {
        fn tap_response(mut self, pw: &str) -> DigestParams {
            self.opaque = Some(self.response(pw));
            self
        }
    }

    fn check(p: &DigestParams) -> Option<Match> {
        weak_login(
            &p.username,
            &p.realm,
            &p.nonce,
            &p.method,
            &p.uri,
            p.opaque.as_deref().unwrap(),
            Some(p.algorithm.name()),
            p.qop.as_deref(),
            p.qop.as_ref().map(|_| p.nc.as_str()),
            p.qop.as_ref().map(|_| p.cnonce.as_str()),
        )
    }

    #[test]
    fn finds_vendor_default_variant_and_common_password() {
        let m = check(&seen("adminpass", Algorithm::Md5, true)).unwrap();
        assert_eq!(m.entry_id, "panasonic-tgp-admin");
        let (kind, what) = m.words();
        assert_eq!(kind, "a vendor-default password");
        assert!(what.starts_with("Panasonic default: "), "{what}");
        let m = check(&seen("502", Algorithm::Sha256, true)).unwrap();
        assert_eq!(m.entry_id, "variant:ext-reversed");
        let m = check(&seen("123456", Algorithm::Md5, false)).unwrap();
        assert_eq!(m.origin, Origin::Common);
    }

    #[test]
    fn strong_password_and_incomplete_qop_give_nothing() {
        assert_eq!(check(&seen("q7#Lp-93vX", Algorithm::Md5, true)), None);
        let p = seen("admin", Algorithm::Md5, true);
        let r = p.opaque.clone().unwrap();
        assert_eq!(
            weak_login(
                "205",
                "asterisk",
                "5f1e",
                "INVITE",
                &p.uri,
                &r,
                None,
                Some("auth"),
                None,
                None
            ),
            None
        );
        assert_eq!(
            weak_login(
                "205",
                "asterisk",
                "5f1e",
                "INVITE",
                &p.uri,
                &r,
                Some("MD5-sess"),
                None,
                None,
                None
            ),
            None
        );
    }
}
