//! HTTP/SIP Digest authentication (RFC 2617, RFC 7616, RFC 8760 for SIP): the response a client computes
//! from a challenge and a password, and the Authorization header it sends. Used both to log in (active
//! audit) and to recompute a response seen on the wire (passive detection).

use md5::Md5;
use sha2::{Digest as _, Sha256};

/// The hash of a digest challenge. `-sess` variants are not offered by the PBXs this audits and are refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Algorithm {
    Md5,
    Sha256,
}

impl Algorithm {
    /// Reads the `algorithm` parameter; absent means MD5 (RFC 2617 §3.2.1).
    pub fn parse(value: Option<&str>) -> Option<Algorithm> {
        match value.map(str::trim) {
            None => Some(Algorithm::Md5),
            Some(v) if v.eq_ignore_ascii_case("MD5") => Some(Algorithm::Md5),
            Some(v) if v.eq_ignore_ascii_case("SHA-256") => Some(Algorithm::Sha256),
            Some(_) => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Md5 => "MD5",
            Algorithm::Sha256 => "SHA-256",
        }
    }

    /// Lower-case hex of the hash of `text`.
    pub fn hex(self, text: &str) -> String {
        match self {
            Algorithm::Md5 => hex(&Md5::digest(text.as_bytes())),
            Algorithm::Sha256 => hex(&Sha256::digest(text.as_bytes())),
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// Everything a digest response is computed from except the password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestParams {
    pub algorithm: Algorithm,
    pub username: String,
    pub realm: String,
    pub nonce: String,
    pub method: String,
    pub uri: String,
    /// `Some("auth")` with `nc` and `cnonce`, or `None` for the RFC 2069 form.
    pub qop: Option<String>,
    pub nc: String,
    pub cnonce: String,
    pub opaque: Option<String>,
}

impl DigestParams {
    /// The `response` value for `password`.
    pub fn response(&self, password: &str) -> String {
        let a = self.algorithm;
        let ha1 = a.hex(&format!("{}:{}:{password}", self.username, self.realm));
        let ha2 = a.hex(&format!("{}:{}", self.method, self.uri));
        match &self.qop {
            Some(qop) => a.hex(&format!(
                "{ha1}:{}:{}:{}:{qop}:{ha2}",
                self.nonce, self.nc, self.cnonce
            )),
            None => a.hex(&format!("{ha1}:{}:{ha2}", self.nonce)),
        }
    }

    /// The value of an Authorization / Proxy-Authorization header carrying the response for `password`.
    pub fn authorization(&self, password: &str) -> String {
        let mut v = format!(
            "Digest username=\"{}\", realm=\"{}\", nonce=\"{}\", uri=\"{}\", response=\"{}\", algorithm={}",
            self.username,
            self.realm,
            self.nonce,
            self.uri,
            self.response(password),
            self.algorithm.name()
        );
        if let Some(qop) = &self.qop {
            v.push_str(&format!(
                ", qop={qop}, nc={}, cnonce=\"{}\"",
                self.nc, self.cnonce
            ));
        }
        if let Some(o) = &self.opaque {
            v.push_str(&format!(", opaque=\"{o}\""));
        }
        v
    }
}

/// A challenge (WWW-Authenticate / Proxy-Authenticate) the client can answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    pub algorithm: Algorithm,
    pub realm: String,
    pub nonce: String,
    pub opaque: Option<String>,
    /// Whether `qop=auth` was offered (then the client must use it).
    pub qop_auth: bool,
}

impl Challenge {
    /// Parses one challenge header value; `None` for another scheme, an unsupported algorithm, or a challenge
    /// offering only `auth-int`.
    pub fn parse(value: &str) -> Option<Challenge> {
        let auth = sip::Auth::parse(value).ok()?;
        if !auth.is_digest() {
            return None;
        }
        let qop = auth.qop();
        let qop_auth = qop.is_some_and(|q| q.split(',').any(|t| t.trim() == "auth"));
        if qop.is_some() && !qop_auth {
            return None;
        }
        Some(Challenge {
            algorithm: Algorithm::parse(auth.algorithm())?,
            realm: auth.realm()?.to_owned(),
            nonce: auth.nonce()?.to_owned(),
            opaque: auth.opaque().map(str::to_owned),
            qop_auth,
        })
    }

    /// The strongest challenge of several (RFC 8760 §2.4: SHA-256 before MD5).
    pub fn best<'a>(values: impl IntoIterator<Item = &'a str>) -> Option<Challenge> {
        values
            .into_iter()
            .filter_map(Challenge::parse)
            .max_by_key(|c| c.algorithm == Algorithm::Sha256)
    }

    /// The parameters of an answer by `username` to this challenge for `method uri`, with a fresh cnonce.
    pub fn answer(&self, username: &str, method: &str, uri: &str) -> DigestParams {
        DigestParams {
            algorithm: self.algorithm,
            username: username.to_owned(),
            realm: self.realm.clone(),
            nonce: self.nonce.clone(),
            method: method.to_owned(),
            uri: uri.to_owned(),
            qop: self.qop_auth.then(|| "auth".to_owned()),
            nc: "00000001".to_owned(),
            cnonce: random_token(8),
            opaque: self.opaque.clone(),
        }
    }
}

/// `2 * bytes` random hex characters (cnonce, tags, branches, Call-IDs).
pub fn random_token(bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    // A failing OS random source leaves zeros: still valid tokens, only less unique.
    let _ = getrandom::fill(&mut b);
    hex(&b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(alg: Algorithm, realm: &str, nonce: &str, cnonce: &str) -> DigestParams {
        DigestParams {
            algorithm: alg,
            username: "Mufasa".into(),
            realm: realm.into(),
            nonce: nonce.into(),
            method: "GET".into(),
            uri: "/dir/index.html".into(),
            qop: Some("auth".into()),
            nc: "00000001".into(),
            cnonce: cnonce.into(),
            opaque: None,
        }
    }

    #[test]
    fn rfc2617_section_3_5_example() {
        let p = params(
            Algorithm::Md5,
            "testrealm@host.com",
            "dcd98b7102dd2f0e8b11d0f600bfb0c093",
            "0a4f113b",
        );
        assert_eq!(
            p.response("Circle Of Life"),
            "6629fae49393a05397450978507c4ef1"
        );
    }

    #[test]
    fn rfc7616_section_3_9_1_md5_and_sha256() {
        let nonce = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v";
        let cnonce = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ";
        let md5 = params(Algorithm::Md5, "http-auth@example.org", nonce, cnonce);
        assert_eq!(
            md5.response("Circle of Life"),
            "8ca523f5e9506fed4657c9700eebdbec"
        );
        let sha = params(Algorithm::Sha256, "http-auth@example.org", nonce, cnonce);
        assert_eq!(
            sha.response("Circle of Life"),
            "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"
        );
    }

    #[test]
    fn challenge_prefers_sha256_and_requires_qop_auth() {
        let md5 = r#"Digest realm="pbx", nonce="n1", qop="auth", algorithm=MD5"#;
        let sha = r#"Digest realm="pbx", nonce="n2", qop="auth,auth-int", algorithm=SHA-256"#;
        let c = Challenge::best([md5, sha]).unwrap();
        assert_eq!((c.algorithm, c.nonce.as_str()), (Algorithm::Sha256, "n2"));
        assert!(c.qop_auth);
        assert!(Challenge::parse(r#"Digest realm="r", nonce="n", qop="auth-int""#).is_none());
        assert!(Challenge::parse(r#"Basic realm="r""#).is_none());
        let plain = Challenge::parse(r#"Digest realm="r", nonce="n""#).unwrap();
        let a = plain.answer("201", "REGISTER", "sip:pbx");
        assert_eq!(a.qop, None);
        assert!(!a.authorization("x").contains("qop="));
    }
}
