//! Nothing to learn by scanning: many PBXs answer a login for a user they do not know with 404 (or 403),
//! and a wrong password with a fresh 401/407 challenge, so a scanner learns which extensions exist before it
//! guesses a single password. The guard learns the PBX's own challenge (status, reason phrase, header set
//! and order, realm, nonce format) from its answers to logins, and answers "no such user" to an outsider
//! with that challenge and a fresh nonce of the same form. The request still goes to the PBX and the
//! answer comes back through it, so the timing is the PBX's own round trip, the same as for a real user.

use super::*;

/// One learned answer of the PBX.
#[derive(Debug, Clone)]
struct Template {
    status: u16,
    phrase: String,
    /// Header lines in order: name as written and value. Via, From, To, Call-ID and CSeq are taken from
    /// the answer being replaced; Content-Length is written as 0.
    headers: Vec<(String, String)>,
}

/// Challenges learned: `[kind][credentials]`, kind 0 for REGISTER, 1 for other requests.
#[derive(Debug, Default)]
pub(super) struct Templates {
    learned: [[Option<Template>; 2]; 2],
}

fn kind_index(kind: AuthKind) -> usize {
    usize::from(kind != AuthKind::Register)
}

impl Templates {
    /// Remembers the PBX's challenge (or wrong-password answer, `credentials`) to a login of this kind.
    pub(super) fn learn(&mut self, kind: AuthKind, credentials: bool, msg: &Message<'_>) {
        let (Some(status), Some(phrase)) = (msg.status(), msg.reason_phrase()) else {
            return;
        };
        let headers = msg
            .headers()
            .take(64)
            .map(|h| (h.name_text.to_owned(), h.value.to_owned()))
            .collect();
        let t = Template {
            status,
            phrase: phrase.to_owned(),
            headers,
        };
        if let Some(slot) = self
            .learned
            .get_mut(kind_index(kind))
            .and_then(|k| k.get_mut(usize::from(credentials)))
        {
            *slot = Some(t);
        }
    }

    /// Whether the PBX's challenge to a REGISTER is known yet.
    pub(super) fn knows_register(&self) -> bool {
        self.learned
            .first()
            .is_some_and(|k| k.iter().any(Option::is_some))
    }

    /// The best template for this login: same kind and credentials, else the challenge of the same
    /// kind (most PBXs answer a wrong password with a new challenge), else the REGISTER ones.
    fn pick(&self, kind: AuthKind, credentials: bool) -> Option<&Template> {
        let k = kind_index(kind);
        let c = usize::from(credentials);
        let at = |k: usize, c: usize| {
            self.learned
                .get(k)
                .and_then(|x| x.get(c))
                .and_then(Option::as_ref)
        };
        at(k, c).or(at(k, 0)).or(at(k, 1)).or(at(0, c)).or(at(0, 0))
    }

    /// The PBX's wrong-password answer in place of `answer` (its "no such user"), with a fresh nonce.
    pub(super) fn disguise(
        &self,
        kind: AuthKind,
        credentials: bool,
        answer: &Message<'_>,
        wall: Millis,
        seed: u64,
    ) -> Option<Vec<u8>> {
        use std::fmt::Write as _;
        let t = self.pick(kind, credentials)?;
        let mut s = format!("SIP/2.0 {} {}\r\n", t.status, t.phrase);
        let mut vias_done = false;
        for (name, value) in &t.headers {
            let hn = HeaderName::parse(name.as_bytes());
            match hn {
                HeaderName::Via if !vias_done => {
                    vias_done = true;
                    for v in answer.via().skip(1) {
                        let _ = write!(s, "{name}: {}\r\n", v.as_str().trim());
                    }
                }
                HeaderName::Via => {}
                HeaderName::From | HeaderName::To | HeaderName::CallId | HeaderName::CSeq => {
                    let _ = write!(s, "{name}: {}\r\n", answer.header(hn)?);
                }
                HeaderName::ContentLength => {
                    let _ = write!(s, "{name}: 0\r\n");
                }
                HeaderName::WwwAuthenticate | HeaderName::ProxyAuthenticate => {
                    let _ = write!(s, "{name}: {}\r\n", fresh_nonce_in(value, wall, seed));
                }
                _ => {
                    let _ = write!(s, "{name}: {value}\r\n");
                }
            }
        }
        s.push_str("\r\n");
        Some(s.into_bytes())
    }
}

/// The challenge header value with its nonce replaced by a fresh one of the same form.
fn fresh_nonce_in(value: &str, wall: Millis, seed: u64) -> String {
    let lower = value.to_ascii_lowercase();
    let Some(at) = find_param(&lower, "nonce") else {
        return value.to_owned();
    };
    let rest = value.get(at..).unwrap_or("");
    let (quoted, body) = match rest.strip_prefix('"') {
        Some(r) => (true, r),
        None => (false, rest),
    };
    let end = body
        .find(if quoted {
            &['"'][..]
        } else {
            &[',', ' ', ';'][..]
        })
        .unwrap_or(body.len());
    let old = body.get(..end).unwrap_or("");
    let start = at + usize::from(quoted);
    format!(
        "{}{}{}",
        value.get(..start).unwrap_or(""),
        same_form(old, wall, seed),
        value.get(start + old.len()..).unwrap_or("")
    )
}

/// Where the value of parameter `name` starts (after `name=`), matched as a whole word.
fn find_param(lower: &str, name: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(i) = lower.get(from..)?.find(name) {
        let at = from + i;
        let before_ok = at == 0
            || lower
                .as_bytes()
                .get(at - 1)
                .is_some_and(|b| matches!(b, b' ' | b',' | b'\t'));
        let after = lower.get(at + name.len()..)?.trim_start();
        if before_ok && let Some(v) = after.strip_prefix('=') {
            let v = v.trim_start();
            return Some(lower.len() - v.len());
        }
        from = at + name.len();
    }
    None
}

/// A random string shaped like `template`: hex digits stay hex (same case), letters and digits stay
/// alphanumeric, other characters stay; a leading run of ten digits (a Unix time, as Asterisk writes) is
/// the current time.
fn same_form(template: &str, wall: Millis, seed: u64) -> String {
    const HEX_LOWER: &[u8] = b"0123456789abcdef";
    const HEX_UPPER: &[u8] = b"0123456789ABCDEF";
    const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let all_hex = template
        .bytes()
        .all(|b| b.is_ascii_hexdigit() || !b.is_ascii_alphanumeric());
    let upper = template.bytes().any(|b| b.is_ascii_uppercase());
    let digits = template.bytes().take_while(u8::is_ascii_digit).count();
    let time = (digits == 10).then(|| (wall / 1000).to_string());
    let mut x = seed | 1;
    let mut next = || {
        // xorshift64: enough to make nonces unpredictable to an observer who does not know the seed.
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut out = String::with_capacity(template.len());
    for (i, b) in template.bytes().enumerate() {
        if let Some(t) = &time
            && i < 10
        {
            out.push(char::from(*t.as_bytes().get(i).unwrap_or(&b'0')));
            continue;
        }
        let table = match b {
            _ if !b.is_ascii_alphanumeric() => None,
            _ if all_hex && upper => Some(HEX_UPPER),
            _ if all_hex => Some(HEX_LOWER),
            _ => Some(ALNUM),
        };
        match table {
            Some(t) => {
                let r = usize::try_from(next() % t.len() as u64).unwrap_or(0);
                out.push(char::from(*t.get(r).unwrap_or(&b'0')));
            }
            None => out.push(char::from(b)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonces_keep_their_form_and_change() {
        let v = r#"Digest realm="asterisk",nonce="1733561234/0fb7e2c5a1d94e2b8c1f",opaque="5f0b",algorithm=MD5"#;
        let a = fresh_nonce_in(v, 1_765_000_000_000, 7);
        let b = fresh_nonce_in(v, 1_765_000_000_000, 8);
        assert_ne!(a, b);
        assert!(
            a.starts_with(r#"Digest realm="asterisk",nonce="1765000000/"#),
            "{a}"
        );
        assert!(a.ends_with(r#"",opaque="5f0b",algorithm=MD5"#), "{a}");
        let nonce = a
            .split("nonce=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap();
        assert_eq!(nonce.len(), "1733561234/0fb7e2c5a1d94e2b8c1f".len());
        assert!(
            nonce[11..]
                .bytes()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
        // cnonce and a nonce-count are not the nonce.
        let w = r#"Digest cnonce="x", nonce=ABCDEF12, realm=r"#;
        let f = fresh_nonce_in(w, 0, 3);
        assert!(
            f.starts_with(r#"Digest cnonce="x", nonce="#) && f.ends_with(", realm=r"),
            "{f}"
        );
        assert_ne!(f, w);
    }
}
