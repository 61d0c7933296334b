//! URIs as they appear on the wire: `sip:`/`sips:` (user, password, host, port, parameters, headers), `tel:`
//! (number and parameters such as `phone-context`), and any other scheme kept opaque. All views borrow from
//! the message; percent-decoding happens only when asked for.

use std::borrow::Cow;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::chars::{self, GEN_VALUE, HNV, HOSTNAME, OPAQUE, PARAM, PASSWORD, TEL, USER};
use crate::error::UriError;

/// A parsed URI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Uri<'a> {
    Sip(SipUri<'a>),
    Tel(TelUri<'a>),
    /// Any other scheme (`http:`, `urn:`, `soap.beep:`...): syntax-checked, otherwise opaque.
    Other {
        scheme: &'a str,
        text: &'a str,
    },
}

impl<'a> Uri<'a> {
    /// Parses a URI (no surrounding white space or angle brackets).
    pub fn parse(s: &'a str) -> Result<Uri<'a>, UriError> {
        // Every character class below excludes white space and controls; look for them only to name the
        // error precisely.
        Self::parse_inner(s).map_err(|e| {
            if s.bytes().any(|c| c <= b' ' || c == 0x7f) {
                UriError::Whitespace
            } else {
                e
            }
        })
    }

    fn parse_inner(s: &'a str) -> Result<Uri<'a>, UriError> {
        let b = s.as_bytes();
        if b.is_empty() {
            return Err(UriError::Empty);
        }
        let colon = chars::find_byte(b':', b).ok_or(UriError::MissingScheme)?;
        let scheme = &s[..colon];
        let rest = &s[colon + 1..];
        // Scheme by length, compared as one case-folded word (letters only, so OR 0x20 is exact).
        let folded = |n: usize| {
            b.iter()
                .take(n)
                .fold(0u32, |acc, &c| (acc << 8) | u32::from(c | 0x20))
        };
        let known = match colon {
            3 => match folded(3) {
                0x0073_6970 => Some(0u8), // "sip"
                0x0074_656c => Some(2),   // "tel"
                _ => None,
            },
            4 if folded(4) == 0x7369_7073 => Some(1), // "sips"
            _ => None,
        };
        if known == Some(0) {
            SipUri::parse_rest(s, false, rest).map(Uri::Sip)
        } else if known == Some(1) {
            SipUri::parse_rest(s, true, rest).map(Uri::Sip)
        } else if known == Some(2) {
            TelUri::parse_rest(s, rest).map(Uri::Tel)
        } else {
            let sb = scheme.as_bytes();
            let ok_scheme = sb.first().is_some_and(u8::is_ascii_alphabetic)
                && sb
                    .iter()
                    .all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-' | b'.'));
            if !ok_scheme {
                return Err(UriError::BadScheme);
            }
            if rest.is_empty() || !rest.bytes().all(|c| OPAQUE[c as usize] || c >= 0x80) {
                return Err(UriError::BadHeaders);
            }
            Ok(Uri::Other { scheme, text: s })
        }
    }

    /// The URI text as received.
    pub fn as_str(&self) -> &'a str {
        match self {
            Uri::Sip(u) => u.text,
            Uri::Tel(t) => t.text,
            Uri::Other { text, .. } => text,
        }
    }

    /// Scheme as received (`sip`, `SIPS`, `tel`, ...).
    pub fn scheme(&self) -> &'a str {
        let t = self.as_str();
        &t[..t.find(':').unwrap_or(0)]
    }

    /// True for `sip:`, `sips:` and `tel:`, the schemes a SIP proxy routes.
    pub fn is_supported(&self) -> bool {
        !matches!(self, Uri::Other { .. })
    }

    pub fn as_sip(&self) -> Option<&SipUri<'a>> {
        match self {
            Uri::Sip(u) => Some(u),
            _ => None,
        }
    }

    pub fn as_tel(&self) -> Option<&TelUri<'a>> {
        match self {
            Uri::Tel(t) => Some(t),
            _ => None,
        }
    }

    /// The dialed party as written: the user part of a sip/sips URI or the number of a tel URI.
    pub fn user(&self) -> Option<&'a str> {
        match self {
            Uri::Sip(u) => u.user,
            Uri::Tel(t) => Some(t.number),
            Uri::Other { .. } => None,
        }
    }
}

/// A `sip:` or `sips:` URI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SipUri<'a> {
    text: &'a str,
    secure: bool,
    user: Option<&'a str>,
    password: Option<&'a str>,
    host: Host<'a>,
    port: Option<u16>,
    params: &'a str,
    headers: Option<&'a str>,
}

/// One pass over a URI part: every byte in class `t` and every '%' followed by two hex digits.
fn scan_escaped(b: &[u8], t: &[bool; 256], err: UriError) -> Result<(), UriError> {
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'%' {
            let ok = b.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && b.get(i + 2).is_some_and(u8::is_ascii_hexdigit);
            if !ok {
                return Err(UriError::BadEscape);
            }
            i += 3;
        } else if t[c as usize] {
            i += 1;
        } else {
            return Err(err);
        }
    }
    Ok(())
}

fn check_escapes(s: &str) -> Result<(), UriError> {
    let b = s.as_bytes();
    // Most URI parts hold no escape at all: find the first '%' word-wise, then check from there.
    let Some(mut i) = chars::find_byte(b'%', b) else {
        return Ok(());
    };
    while i < b.len() {
        if b[i] == b'%' {
            let ok = b.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && b.get(i + 2).is_some_and(u8::is_ascii_hexdigit);
            if !ok {
                return Err(UriError::BadEscape);
            }
            i += 3;
        } else {
            i += 1;
        }
    }
    Ok(())
}

fn all_in(s: &str, t: &[bool; 256]) -> bool {
    s.bytes().all(|c| t[c as usize])
}

/// Validates a `;`-separated URI parameter list (without the leading ';').
fn check_uri_params(p: &str) -> Result<(), UriError> {
    let b = p.as_bytes();
    let mut i = 0;
    loop {
        let n = chars::run(b, i, &PARAM);
        if n == 0 {
            return Err(UriError::BadParam);
        }
        i += n;
        if b.get(i) == Some(&b'=') {
            let v = chars::run(b, i + 1, &PARAM);
            if v == 0 {
                return Err(UriError::BadParam);
            }
            i += 1 + v;
        }
        match b.get(i) {
            None => break,
            Some(b';') => i += 1,
            Some(_) => return Err(UriError::BadParam),
        }
    }
    check_escapes(p)
}

impl<'a> SipUri<'a> {
    fn parse_rest(text: &'a str, secure: bool, rest: &'a str) -> Result<SipUri<'a>, UriError> {
        let (userinfo, hostpart) = match chars::find_byte(b'@', rest.as_bytes()) {
            Some(at) => (Some(&rest[..at]), &rest[at + 1..]),
            None => (None, rest),
        };
        let (user, password) = match userinfo {
            None => (None, None),
            Some(ui) => {
                let (u, p) = match chars::find_byte(b':', ui.as_bytes()) {
                    Some(c) => (&ui[..c], Some(&ui[c + 1..])),
                    None => (ui, None),
                };
                if u.is_empty() {
                    return Err(UriError::BadUser);
                }
                scan_escaped(u.as_bytes(), &USER, UriError::BadUser)?;
                if let Some(p) = p {
                    scan_escaped(p.as_bytes(), &PASSWORD, UriError::BadPassword)?;
                }
                (Some(u), p)
            }
        };
        let hb = hostpart.as_bytes();
        let host_len = if hb.first() == Some(&b'[') {
            let close = chars::find_byte(b']', hb).ok_or(UriError::BadHost)?;
            close + 1
        } else {
            chars::run(hb, 0, &HOSTNAME)
        };
        if host_len == 0 {
            return Err(UriError::EmptyHost);
        }
        let host = if hb.first() == Some(&b'[') {
            Host::parse(&hostpart[..host_len]).ok_or(UriError::BadHost)?
        } else if matches!(hb.first(), Some(b'.' | b'-')) {
            return Err(UriError::BadHost);
        } else {
            // The run above already checked every byte against HOSTNAME.
            Host {
                text: &hostpart[..host_len],
            }
        };
        let mut i = host_len;
        let mut port = None;
        if hb.get(i) == Some(&b':') {
            let n = chars::run(hb, i + 1, &DIGITS);
            port = Some(parse_port(&hostpart[i + 1..i + 1 + n]).ok_or(UriError::BadPort)?);
            i += 1 + n;
        }
        let mut params = "";
        let mut headers = None;
        if hb.get(i) == Some(&b';') {
            let end = chars::find_byte(b'?', &hb[i..]).map_or(hb.len(), |q| i + q);
            params = &hostpart[i + 1..end];
            check_uri_params(params)?;
            i = end;
        }
        if hb.get(i) == Some(&b'?') {
            let h = &hostpart[i + 1..];
            for item in h.split('&') {
                let (n, v) = item.split_once('=').ok_or(UriError::BadHeaders)?;
                if n.is_empty() || !all_in(n, &HNV) || !all_in(v, &HNV) {
                    return Err(UriError::BadHeaders);
                }
            }
            check_escapes(h)?;
            headers = Some(h);
            i = hb.len();
        }
        if i != hb.len() {
            return Err(if i == host_len {
                UriError::BadHost
            } else {
                UriError::BadParam
            });
        }
        Ok(SipUri {
            text,
            secure,
            user,
            password,
            host,
            port,
            params,
            headers,
        })
    }

    /// The whole URI as received.
    pub fn as_str(&self) -> &'a str {
        self.text
    }
    /// True for `sips:`.
    pub fn is_secure(&self) -> bool {
        self.secure
    }
    /// User part as received (still percent-escaped).
    pub fn user(&self) -> Option<&'a str> {
        self.user
    }
    /// User part with percent escapes decoded (borrowed when there are none).
    pub fn user_decoded(&self) -> Option<Cow<'a, [u8]>> {
        self.user.map(percent_decode)
    }
    pub fn password(&self) -> Option<&'a str> {
        self.password
    }
    pub fn host(&self) -> Host<'a> {
        self.host
    }
    pub fn port(&self) -> Option<u16> {
        self.port
    }
    /// `host[:port]` as received.
    pub fn host_port(&self) -> &'a str {
        let start = self.host.as_str().as_ptr() as usize - self.text.as_ptr() as usize;
        let len = self.host.as_str().len()
            + self.port.map_or(0, |_| {
                1 + port_digits(self.text, start + self.host.as_str().len())
            });
        self.text.get(start..start + len).unwrap_or("")
    }
    /// URI parameters (`;transport=tcp;lr;user=phone`).
    pub fn params(&self) -> Params<'a> {
        Params::new(self.params)
    }
    /// Value of a URI parameter ("" when present without a value), name matched ignoring case.
    pub fn param(&self, name: &str) -> Option<&'a str> {
        self.params().get(name)
    }
    pub fn transport(&self) -> Option<&'a str> {
        self.param("transport")
    }
    /// True with `;user=phone` (the user part is a telephone number).
    pub fn is_phone(&self) -> bool {
        self.param("user")
            .is_some_and(|v| v.eq_ignore_ascii_case("phone"))
    }
    /// True with `;lr` (loose routing).
    pub fn is_loose_route(&self) -> bool {
        self.param("lr").is_some()
    }
    pub fn maddr(&self) -> Option<&'a str> {
        self.param("maddr")
    }
    /// URI headers after '?' (still escaped), if any.
    pub fn headers(&self) -> Option<&'a str> {
        self.headers
    }
}

fn port_digits(text: &str, colon_at: usize) -> usize {
    chars::run(text.as_bytes(), colon_at + 1, &DIGITS)
}

static DIGITS: [bool; 256] = {
    let mut t = [false; 256];
    let mut c = b'0';
    while c <= b'9' {
        t[c as usize] = true;
        c += 1;
    }
    t
};

pub(crate) fn parse_port(s: &str) -> Option<u16> {
    if s.is_empty() || s.len() > 5 {
        return None;
    }
    chars::parse_u64(s.as_bytes()).and_then(|v| u16::try_from(v).ok())
}

/// A host as received: a name, an IPv4 address or a bracketed IPv6 reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Host<'a> {
    text: &'a str,
}

impl<'a> Host<'a> {
    /// Checks the lexical form: `[` hex, ':' and '.' `]`, or host-name characters.
    pub fn parse(text: &'a str) -> Option<Host<'a>> {
        let b = text.as_bytes();
        if b.is_empty() {
            return None;
        }
        if b[0] == b'[' {
            let inner = text.strip_prefix('[')?.strip_suffix(']')?;
            // RFC 5118 section 4.9: a three-colon form from a bug in the ABNF is accepted as received.
            let ok = inner.contains(':')
                && inner
                    .bytes()
                    .all(|c| c.is_ascii_hexdigit() || c == b':' || c == b'.');
            return ok.then_some(Host { text });
        }
        let ok =
            b.iter().all(|&c| HOSTNAME[c as usize]) && !b.starts_with(b".") && !b.starts_with(b"-");
        ok.then_some(Host { text })
    }
    /// As received, brackets included for IPv6.
    pub fn as_str(&self) -> &'a str {
        self.text
    }
    /// True for a bracketed IPv6 reference.
    pub fn is_ipv6(&self) -> bool {
        self.text.starts_with('[')
    }
    /// The address when the host is a literal IPv4 or IPv6 address that std can read.
    pub fn ip(&self) -> Option<IpAddr> {
        if let Some(inner) = self
            .text
            .strip_prefix('[')
            .and_then(|t| t.strip_suffix(']'))
        {
            inner.parse::<Ipv6Addr>().ok().map(IpAddr::V6)
        } else {
            self.text.parse::<Ipv4Addr>().ok().map(IpAddr::V4)
        }
    }
    /// Host name (not an address literal).
    pub fn name(&self) -> Option<&'a str> {
        (!self.is_ipv6() && self.text.parse::<Ipv4Addr>().is_err()).then_some(self.text)
    }
}

/// A `tel:` URI (RFC 3966).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TelUri<'a> {
    text: &'a str,
    number: &'a str,
    params: &'a str,
}

impl<'a> TelUri<'a> {
    fn parse_rest(text: &'a str, rest: &'a str) -> Result<TelUri<'a>, UriError> {
        let (number, params) = rest.split_once(';').unwrap_or((rest, ""));
        let nb = number.as_bytes();
        let global = nb.first() == Some(&b'+');
        let digits = if global { &nb[1..] } else { nb };
        let ok = digits.iter().any(u8::is_ascii_hexdigit)
            && digits.iter().all(|&c| {
                c.is_ascii_hexdigit() || matches!(c, b'-' | b'.' | b'(' | b')' | b'*' | b'#')
            });
        if !ok {
            return Err(UriError::BadTelNumber);
        }
        if !params.is_empty() && (!all_in(params, &TEL) || params.split(';').any(str::is_empty)) {
            return Err(UriError::BadParam);
        }
        check_escapes(params)?;
        Ok(TelUri {
            text,
            number,
            params,
        })
    }
    pub fn as_str(&self) -> &'a str {
        self.text
    }
    /// Number as written, visual separators included.
    pub fn number(&self) -> &'a str {
        self.number
    }
    /// True for a global number (`+` and a country code).
    pub fn is_global(&self) -> bool {
        self.number.starts_with('+')
    }
    /// The number without visual separators (`-`, `.`, `(`, `)`), `+` kept.
    pub fn digits(&self) -> impl Iterator<Item = char> + 'a {
        self.number
            .chars()
            .filter(|c| !matches!(c, '-' | '.' | '(' | ')'))
    }
    pub fn params(&self) -> Params<'a> {
        Params::new(self.params)
    }
    /// `phone-context` of a local number.
    pub fn phone_context(&self) -> Option<&'a str> {
        self.params().get("phone-context")
    }
}

/// A parameter list: `name[=value]` items separated by ';', with optional linear white space around the
/// separators and quoted-string values (quotes are stripped, escapes are kept). Serves URI and header
/// parameters alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Params<'a> {
    s: &'a str,
}

impl<'a> Params<'a> {
    /// `s` is the text after the first ';'.
    pub fn new(s: &'a str) -> Self {
        Params { s }
    }
    /// The raw text (without the leading ';').
    pub fn as_str(&self) -> &'a str {
        self.s
    }
    /// Value of the first parameter with this name (case-insensitive); "" for a flag parameter.
    pub fn get(&self, name: &str) -> Option<&'a str> {
        self.iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.unwrap_or(""))
    }
    pub fn contains(&self, name: &str) -> bool {
        self.iter().any(|(n, _)| n.eq_ignore_ascii_case(name))
    }
    pub fn iter(&self) -> ParamIter<'a> {
        ParamIter { s: self.s, pos: 0 }
    }
}

impl<'a> IntoIterator for Params<'a> {
    type Item = (&'a str, Option<&'a str>);
    type IntoIter = ParamIter<'a>;
    fn into_iter(self) -> ParamIter<'a> {
        self.iter()
    }
}

/// Iterator over `(name, value)` of a [`Params`].
#[derive(Debug, Clone)]
pub struct ParamIter<'a> {
    s: &'a str,
    pos: usize,
}

impl<'a> Iterator for ParamIter<'a> {
    type Item = (&'a str, Option<&'a str>);
    fn next(&mut self) -> Option<Self::Item> {
        let b = self.s.as_bytes();
        loop {
            let mut i = chars::skip_lws(b, self.pos);
            if i >= b.len() {
                self.pos = i;
                return None;
            }
            let ns = i;
            while i < b.len() && !matches!(b[i], b'=' | b';') && !chars::is_lws(b[i]) {
                i += 1;
            }
            let name = self.s.get(ns..i)?;
            i = chars::skip_lws(b, i);
            let mut value = None;
            if b.get(i) == Some(&b'=') {
                i = chars::skip_lws(b, i + 1);
                if b.get(i) == Some(&b'"') {
                    let e = chars::quoted_end(b, i).unwrap_or(b.len());
                    value = self.s.get(i + 1..e.saturating_sub(1).max(i + 1));
                    i = e;
                } else {
                    let vs = i;
                    while i < b.len() && b[i] != b';' && !chars::is_lws(b[i]) {
                        i += 1;
                    }
                    value = self.s.get(vs..i);
                }
                i = chars::skip_lws(b, i);
            }
            // Skip anything up to the next separator (only present in unvalidated input).
            while i < b.len() && b[i] != b';' {
                i += 1;
            }
            self.pos = i + 1;
            if name.is_empty() {
                continue;
            }
            return Some((name, value));
        }
    }
}

/// Validates a header parameter list (after the first ';'): every item non-empty, names tokens, values
/// tokens/hosts or quoted strings. Also returns the value of the first parameter called `want` (lower-case
/// ASCII, matched ignoring case), exactly as [`Params::get`] would find it in the validated list: quotes
/// stripped, "" for a flag. Lets the parse-time check cache `branch` and `tag` without a second scan.
pub(crate) fn check_header_params_find<'s>(
    s: &'s str,
    want: &[u8],
) -> Result<Option<&'s str>, crate::error::ValueError> {
    use crate::error::ValueError;
    let b = s.as_bytes();
    let mut found: Option<&'s str> = None;
    let mut i = 0;
    loop {
        i = chars::skip_lws(b, i);
        let n = chars::run(b, i, &chars::TOKEN);
        if n == 0 {
            return Err(if i >= b.len() || b[i] == b';' {
                ValueError::EmptyParameter
            } else {
                ValueError::BadParameter
            });
        }
        let hit = found.is_none()
            && n == want.len()
            && b.get(i..i + n).is_some_and(|name| {
                name.iter()
                    .zip(want)
                    .all(|(a, w)| a.to_ascii_lowercase() == *w)
            });
        i = chars::skip_lws(b, i + n);
        let mut value = "";
        if b.get(i) == Some(&b'=') {
            i = chars::skip_lws(b, i + 1);
            if b.get(i) == Some(&b'"') {
                let e = chars::quoted_end(b, i).ok_or(ValueError::UnterminatedQuote)?;
                value = s.get(i + 1..e - 1).unwrap_or("");
                i = e;
            } else {
                let v = chars::run(b, i, &GEN_VALUE);
                if v == 0 {
                    return Err(ValueError::BadParameter);
                }
                value = s.get(i..i + v).unwrap_or("");
                i += v;
            }
            i = chars::skip_lws(b, i);
        }
        if hit {
            found = Some(value);
        }
        match b.get(i) {
            None => return Ok(found),
            Some(b';') => i += 1,
            Some(_) => return Err(ValueError::BadParameter),
        }
    }
}

/// Decodes `%XX` escapes; borrows when there are none. Bad escapes are kept literally.
pub fn percent_decode(s: &str) -> Cow<'_, [u8]> {
    let b = s.as_bytes();
    if memchr::memchr(b'%', b).is_none() {
        return Cow::Borrowed(b);
    }
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && let (Some(h), Some(l)) = (b.get(i + 1).and_then(hex), b.get(i + 2).and_then(hex))
        {
            out.push(h << 4 | l);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    Cow::Owned(out)
}

fn hex(c: &u8) -> Option<u8> {
    (*c as char).to_digit(16).map(|d| d as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sip_uri_parts() {
        let u = Uri::parse(
            "sips:alice:secret@[2001:db8::1]:5061;transport=tcp;lr?subject=x&priority=urgent",
        )
        .unwrap();
        let s = u.as_sip().unwrap();
        assert!(s.is_secure());
        assert_eq!(s.user(), Some("alice"));
        assert_eq!(s.password(), Some("secret"));
        assert_eq!(s.host().as_str(), "[2001:db8::1]");
        assert!(s.host().ip().is_some());
        assert_eq!(s.port(), Some(5061));
        assert_eq!(s.host_port(), "[2001:db8::1]:5061");
        assert_eq!(s.transport(), Some("tcp"));
        assert!(s.is_loose_route());
        assert_eq!(s.headers(), Some("subject=x&priority=urgent"));
    }

    #[test]
    fn tel_uri_with_context() {
        let u = Uri::parse("tel:7042;phone-context=example.com").unwrap();
        let t = u.as_tel().unwrap();
        assert_eq!(t.number(), "7042");
        assert!(!t.is_global());
        assert_eq!(t.phone_context(), Some("example.com"));
        let g = Uri::parse("tel:+1-201-555-0123").unwrap();
        assert_eq!(
            g.as_tel().unwrap().digits().collect::<String>(),
            "+12015550123"
        );
        assert_eq!(Uri::parse("tel:;x"), Err(UriError::BadTelNumber));
    }

    #[test]
    fn opaque_and_errors() {
        assert!(matches!(
            Uri::parse("soap.beep://192.0.2.103:3002"),
            Ok(Uri::Other {
                scheme: "soap.beep",
                ..
            })
        ));
        assert_eq!(
            Uri::parse("sip:user@example.com; lr"),
            Err(UriError::Whitespace)
        );
        assert_eq!(Uri::parse("sip:2001:db8::10"), Err(UriError::BadPort));
        assert_eq!(Uri::parse("sip:a@b;;x"), Err(UriError::BadParam));
        assert_eq!(Uri::parse("sip:a%zz@b"), Err(UriError::BadEscape));
        assert_eq!(Uri::parse("sip:a@b:70000"), Err(UriError::BadPort));
        assert_eq!(Uri::parse("nocolon"), Err(UriError::MissingScheme));
    }

    #[test]
    fn decoding() {
        let u = Uri::parse("sip:sips%3Auser%40example.com@example.net").unwrap();
        assert_eq!(
            &*u.as_sip().unwrap().user_decoded().unwrap(),
            b"sips:user@example.com"
        );
        assert!(matches!(percent_decode("plain"), Cow::Borrowed(_)));
        assert_eq!(&*percent_decode("null-%00-x"), b"null-\0-x");
    }

    #[test]
    fn params_with_lws_and_quotes() {
        let p = Params::new(" tag = 1918 ;  q = 0.33 ; x=\"a;b\" ; flag");
        assert_eq!(p.get("TAG"), Some("1918"));
        assert_eq!(p.get("q"), Some("0.33"));
        assert_eq!(p.get("x"), Some("a;b"));
        assert_eq!(p.get("flag"), Some(""));
        let list = " tag = 1918 ;  q = 0.33 ; x=\"a;b\" ; flag";
        assert_eq!(check_header_params_find(list, b""), Ok(None));
        for name in ["tag", "q", "x", "flag", "none"] {
            assert_eq!(
                check_header_params_find(list, name.as_bytes()),
                Ok(p.get(name)),
                "{name}"
            );
        }
        assert!(check_header_params_find(";", b"").is_err());
        assert!(check_header_params_find("a;;b", b"").is_err());
    }
}
