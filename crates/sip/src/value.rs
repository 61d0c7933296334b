//! Typed views of header values: methods, Via, name-addr (From/To/Contact/Route/P-Asserted-Identity/
//! Diversion), CSeq, credentials and challenges. Every view borrows from the message; the parsers here are
//! the grammar checks that `Message::parse` runs eagerly on the headers a guard decides on.

use crate::chars::{self, TOKEN};
use crate::error::ValueError;
use crate::uri::{self, Host, Params, Uri};

/// A request method. Methods are case-sensitive; anything else is kept as `Other`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method<'a> {
    Invite,
    Ack,
    Bye,
    Cancel,
    Register,
    Options,
    Info,
    Update,
    Prack,
    Subscribe,
    Notify,
    Refer,
    Message,
    Publish,
    Other(&'a str),
}

impl<'a> Method<'a> {
    pub fn parse(s: &'a str) -> Method<'a> {
        match s {
            "INVITE" => Method::Invite,
            "ACK" => Method::Ack,
            "BYE" => Method::Bye,
            "CANCEL" => Method::Cancel,
            "REGISTER" => Method::Register,
            "OPTIONS" => Method::Options,
            "INFO" => Method::Info,
            "UPDATE" => Method::Update,
            "PRACK" => Method::Prack,
            "SUBSCRIBE" => Method::Subscribe,
            "NOTIFY" => Method::Notify,
            "REFER" => Method::Refer,
            "MESSAGE" => Method::Message,
            "PUBLISH" => Method::Publish,
            other => Method::Other(other),
        }
    }
    pub fn as_str(&self) -> &'a str {
        match self {
            Method::Invite => "INVITE",
            Method::Ack => "ACK",
            Method::Bye => "BYE",
            Method::Cancel => "CANCEL",
            Method::Register => "REGISTER",
            Method::Options => "OPTIONS",
            Method::Info => "INFO",
            Method::Update => "UPDATE",
            Method::Prack => "PRACK",
            Method::Subscribe => "SUBSCRIBE",
            Method::Notify => "NOTIFY",
            Method::Refer => "REFER",
            Method::Message => "MESSAGE",
            Method::Publish => "PUBLISH",
            Method::Other(s) => s,
        }
    }
}

impl std::fmt::Display for Method<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Via transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport<'a> {
    Udp,
    Tcp,
    Tls,
    Sctp,
    Ws,
    Wss,
    Other(&'a str),
}

impl<'a> Transport<'a> {
    pub fn parse(s: &'a str) -> Transport<'a> {
        for (name, t) in [
            ("UDP", Transport::Udp),
            ("TCP", Transport::Tcp),
            ("TLS", Transport::Tls),
            ("SCTP", Transport::Sctp),
            ("WS", Transport::Ws),
            ("WSS", Transport::Wss),
        ] {
            if s.eq_ignore_ascii_case(name) {
                return t;
            }
        }
        Transport::Other(s)
    }
    /// True for transports whose messages need Content-Length framing.
    pub fn is_stream(&self) -> bool {
        matches!(
            self,
            Transport::Tcp | Transport::Tls | Transport::Ws | Transport::Wss
        )
    }
}

/// One Via entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Via<'a> {
    text: &'a str,
    transport: &'a str,
    sent_by: &'a str,
    host: Host<'a>,
    port: Option<u16>,
    params: Params<'a>,
    /// `branch` found while the parameters were validated (what `params.get("branch")` returns).
    branch: Option<&'a str>,
}

/// RFC 3261 branch magic cookie.
pub const MAGIC_COOKIE: &str = "z9hG4bK";

impl<'a> Via<'a> {
    /// Parses one via-parm (one comma-separated element of a Via header).
    pub fn parse(s: &'a str) -> Result<Via<'a>, ValueError> {
        let b = s.as_bytes();
        let mut i = chars::skip_lws(b, 0);
        let mut parts = [""; 3];
        for (k, part) in parts.iter_mut().enumerate() {
            if k > 0 {
                i = chars::skip_lws(b, i);
                if b.get(i) != Some(&b'/') {
                    return Err(ValueError::BadProtocol);
                }
                i = chars::skip_lws(b, i + 1);
            }
            let n = chars::run(b, i, &TOKEN);
            if n == 0 {
                return Err(ValueError::BadProtocol);
            }
            *part = &s[i..i + n];
            i += n;
        }
        if !parts[0].eq_ignore_ascii_case("SIP") || parts[1] != "2.0" {
            return Err(ValueError::BadProtocol);
        }
        let after = chars::skip_lws(b, i);
        if after == i {
            return Err(ValueError::BadHost);
        }
        i = after;
        let hs = i;
        let hl = if b.get(i) == Some(&b'[') {
            chars::find_byte(b']', &b[i..])
                .map(|c| c + 1)
                .ok_or(ValueError::BadHost)?
        } else {
            chars::run(b, i, &chars::HOSTNAME)
        };
        let host = Host::parse(&s[hs..hs + hl]).ok_or(ValueError::BadHost)?;
        i += hl;
        let mut port = None;
        let mut sb_end = i;
        let j = chars::skip_lws(b, i);
        if b.get(j) == Some(&b':') {
            let ps = chars::skip_lws(b, j + 1);
            let n = b[ps..].iter().take_while(|c| c.is_ascii_digit()).count();
            port = Some(uri::parse_port(&s[ps..ps + n]).ok_or(ValueError::BadPort)?);
            i = ps + n;
            sb_end = i;
        }
        i = chars::skip_lws(b, i);
        let (params, branch) = match b.get(i) {
            None => ("", None),
            Some(b';') => {
                let p = &s[i + 1..];
                (p, uri::check_header_params_find(p, b"branch")?)
            }
            Some(_) => return Err(ValueError::BadHost),
        };
        Ok(Via {
            text: s,
            transport: parts[2],
            sent_by: &s[hs..sb_end],
            host,
            port,
            params: Params::new(params),
            branch,
        })
    }

    /// The whole via-parm as received.
    pub fn as_str(&self) -> &'a str {
        self.text
    }
    pub fn transport(&self) -> Transport<'a> {
        Transport::parse(self.transport)
    }
    /// Transport token as received (`UDP`, `tcp`, ...).
    pub fn transport_str(&self) -> &'a str {
        self.transport
    }
    /// `host[:port]` as received (white space around ':' possible only in folded, odd messages).
    pub fn sent_by(&self) -> &'a str {
        self.sent_by
    }
    pub fn host(&self) -> Host<'a> {
        self.host
    }
    pub fn port(&self) -> Option<u16> {
        self.port
    }
    pub fn params(&self) -> Params<'a> {
        self.params
    }
    #[inline]
    pub fn branch(&self) -> Option<&'a str> {
        self.branch
    }
    /// True when the branch starts with the RFC 3261 magic cookie and has something after it.
    pub fn has_rfc3261_branch(&self) -> bool {
        self.branch()
            .is_some_and(|b| b.len() > MAGIC_COOKIE.len() && b.starts_with(MAGIC_COOKIE))
    }
    pub fn received(&self) -> Option<&'a str> {
        self.params.get("received")
    }
    /// `None`: no rport; `Some(None)`: rport requested (flag); `Some(Some(p))`: filled in.
    pub fn rport(&self) -> Option<Option<u16>> {
        self.params.get("rport").map(uri::parse_port)
    }
    pub fn maddr(&self) -> Option<&'a str> {
        self.params.get("maddr")
    }
    pub fn ttl(&self) -> Option<u8> {
        self.params.get("ttl").and_then(|v| v.parse().ok())
    }
}

/// A name-addr or addr-spec with header parameters: From, To, Contact, Route, Record-Route,
/// P-Asserted-Identity, Diversion, Refer-To...
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NameAddr<'a> {
    text: &'a str,
    display: Option<&'a str>,
    uri: Uri<'a>,
    params: Params<'a>,
    /// `tag` found while the parameters were validated (what `params.get("tag")` returns).
    tag: Option<&'a str>,
}

impl<'a> NameAddr<'a> {
    /// Parses one element (already split on commas where the header allows several).
    pub fn parse(s: &'a str) -> Result<NameAddr<'a>, ValueError> {
        let s = chars::trim_lws(s);
        let b = s.as_bytes();
        if b.is_empty() {
            return Err(ValueError::Empty);
        }
        let mut display = None;
        let lt;
        if b[0] == b'"' {
            let e = chars::quoted_end(b, 0).ok_or(ValueError::UnterminatedQuote)?;
            display = Some(&s[1..e - 1]);
            let i = chars::skip_lws(b, e);
            if b.get(i) != Some(&b'<') {
                return Err(ValueError::BadDisplayName);
            }
            lt = Some(i);
        } else {
            lt = chars::find_byte(b'<', b);
            if let Some(l) = lt {
                let d = chars::trim_lws(&s[..l]);
                if !d.bytes().all(|c| TOKEN[c as usize] || chars::is_lws(c)) {
                    return Err(if d.contains('"') {
                        ValueError::UnterminatedQuote
                    } else {
                        ValueError::BadDisplayName
                    });
                }
                if !d.is_empty() {
                    display = Some(d);
                }
            }
        }
        let (uri_text, rest_at) = match lt {
            Some(l) => {
                let g = chars::find_byte(b'>', &b[l..])
                    .map(|g| g + l)
                    .ok_or(ValueError::UnterminatedAngle)?;
                let inner = &s[l + 1..g];
                if inner.starts_with(|c: char| c.is_ascii_whitespace())
                    || inner.ends_with(|c: char| c.is_ascii_whitespace())
                {
                    return Err(ValueError::SpaceInAngleBrackets);
                }
                (inner, g + 1)
            }
            None => {
                let end = chars::find_byte(b';', b).unwrap_or(b.len());
                let u = chars::trim_lws(&s[..end]);
                if chars::find_byte(b'?', u.as_bytes()).is_some() {
                    return Err(ValueError::UnbracketedUri);
                }
                if chars::find_byte(b',', u.as_bytes()).is_some() {
                    return Err(ValueError::MultipleValues);
                }
                (u, end)
            }
        };
        let uri = Uri::parse(uri_text)?;
        let i = chars::skip_lws(b, rest_at);
        let (params, tag) = match b.get(i) {
            None => ("", None),
            Some(b';') => {
                let p = &s[i + 1..];
                (p, uri::check_header_params_find(p, b"tag")?)
            }
            Some(b',') => return Err(ValueError::MultipleValues),
            Some(_) => return Err(ValueError::TrailingGarbage),
        };
        Ok(NameAddr {
            text: s,
            display,
            uri,
            params: Params::new(params),
            tag,
        })
    }

    /// The element as received.
    pub fn as_str(&self) -> &'a str {
        self.text
    }
    /// Display name without its quotes (escapes kept as received).
    pub fn display_name(&self) -> Option<&'a str> {
        self.display
    }
    pub fn uri(&self) -> Uri<'a> {
        self.uri
    }
    pub fn params(&self) -> Params<'a> {
        self.params
    }
    #[inline]
    pub fn tag(&self) -> Option<&'a str> {
        self.tag
    }
    pub fn param(&self, name: &str) -> Option<&'a str> {
        self.params.get(name)
    }
}

/// A Contact element: an address or the `*` of a REGISTER that removes all bindings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Contact<'a> {
    Wildcard,
    Addr(NameAddr<'a>),
}

impl<'a> Contact<'a> {
    pub fn parse(s: &'a str) -> Result<Contact<'a>, ValueError> {
        if chars::trim_lws(s) == "*" {
            Ok(Contact::Wildcard)
        } else {
            NameAddr::parse(s).map(Contact::Addr)
        }
    }
    pub fn addr(&self) -> Option<&NameAddr<'a>> {
        match self {
            Contact::Addr(a) => Some(a),
            Contact::Wildcard => None,
        }
    }
    /// `expires` parameter in seconds.
    pub fn expires(&self) -> Option<u32> {
        self.addr()
            .and_then(|a| a.param("expires"))
            .and_then(|v| v.parse().ok())
    }
}

/// CSeq: sequence number and method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CSeq<'a> {
    pub seq: u32,
    pub method: Method<'a>,
}

impl<'a> CSeq<'a> {
    /// `1*DIGIT LWS Method`; the number must be below 2^31 (RFC 3261 section 8.1.1.5).
    pub fn parse(s: &'a str) -> Result<CSeq<'a>, ValueError> {
        let s = chars::trim_lws(s);
        let b = s.as_bytes();
        let n = b.iter().take_while(|c| !chars::is_lws(**c)).count();
        let num = &b[..n];
        let seq = chars::parse_u64(num).ok_or_else(|| chars::number_error(num))?;
        if seq >= 1 << 31 {
            return Err(ValueError::Overflow);
        }
        let ms = chars::skip_lws(b, n);
        if ms == n {
            return Err(ValueError::BadMethod);
        }
        let m = &s[ms..];
        if m.is_empty() || !m.bytes().all(|c| TOKEN[c as usize]) {
            return Err(ValueError::BadMethod);
        }
        Ok(CSeq {
            seq: seq as u32,
            method: Method::parse(m),
        })
    }
}

/// Parses `1*DIGIT` with an upper bound.
pub(crate) fn parse_bounded(s: &str, max: u64) -> Result<u64, ValueError> {
    let b = chars::trim_lws(s).as_bytes();
    let v = chars::parse_u64(b).ok_or_else(|| chars::number_error(b))?;
    if v > max {
        Err(ValueError::Overflow)
    } else {
        Ok(v)
    }
}

/// Validates a Call-ID: `word ["@" word]`, no white space.
pub(crate) fn check_call_id(s: &str) -> Result<&str, ValueError> {
    let s = chars::trim_lws(s);
    if s.is_empty() {
        return Err(ValueError::Empty);
    }
    // `word ["@" word]`: WORD has no '@', so the first run stops at the separator if there is one.
    let b = s.as_bytes();
    let a = chars::run(b, 0, &chars::WORD);
    let ok = match b.get(a) {
        None => a > 0,
        Some(b'@') => {
            let r = chars::run(b, a + 1, &chars::WORD);
            a > 0 && r > 0 && a + 1 + r == b.len()
        }
        Some(_) => false,
    };
    if ok {
        Ok(s)
    } else {
        Err(ValueError::BadCallId)
    }
}

/// Validates an RFC 1123 date in GMT (`Sat, 13 Nov 2010 23:29:00 GMT`).
pub(crate) fn check_date(s: &str) -> Result<(), ValueError> {
    let b = chars::trim_lws(s).as_bytes();
    let pat = b"Aaa, 00 Aaa 0000 00:00:00 GMT";
    if b.len() != pat.len() {
        return Err(ValueError::BadDate);
    }
    for (&c, &p) in b.iter().zip(pat.iter()) {
        let ok = match p {
            b'A' | b'a' => c.is_ascii_alphabetic(),
            b'0' => c.is_ascii_digit(),
            _ => c == p,
        };
        if !ok {
            return Err(ValueError::BadDate);
        }
    }
    Ok(())
}

/// Comma-separated `name=value` parameters of credentials and challenges (values unquoted, escapes kept).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthParams<'a> {
    s: &'a str,
}

impl<'a> AuthParams<'a> {
    pub fn get(&self, name: &str) -> Option<&'a str> {
        self.iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }
    pub fn iter(&self) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
        chars::CommaSplit::new(self.s).filter_map(|item| {
            let (n, v) = item.split_once('=')?;
            let v = chars::trim_lws(v);
            let v = v
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(v);
            Some((chars::trim_lws(n), v))
        })
    }
    pub fn as_str(&self) -> &'a str {
        self.s
    }
}

/// Authorization / Proxy-Authorization (credentials) or WWW-/Proxy-Authenticate (challenge): a scheme and
/// its parameters. Digest accessors return `None` when the parameter is absent (scanners often omit nc and
/// cnonce).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Auth<'a> {
    scheme: &'a str,
    params: AuthParams<'a>,
}

impl<'a> Auth<'a> {
    pub fn parse(s: &'a str) -> Result<Auth<'a>, ValueError> {
        let s = chars::trim_lws(s);
        let b = s.as_bytes();
        let n = chars::run(b, 0, &TOKEN);
        if n == 0 {
            return Err(ValueError::BadAuthParams);
        }
        let rest = &s[n..];
        if !rest.is_empty() && !rest.starts_with(|c: char| c.is_ascii_whitespace()) {
            return Err(ValueError::BadAuthParams);
        }
        let rest = chars::trim_lws(rest);
        for item in chars::CommaSplit::new(rest) {
            if item.is_empty() && rest.is_empty() {
                break;
            }
            let (name, v) = item.split_once('=').ok_or(ValueError::BadAuthParams)?;
            let name = chars::trim_lws(name);
            let v = chars::trim_lws(v);
            let vb = v.as_bytes();
            let ok_v = if vb.first() == Some(&b'"') {
                chars::quoted_end(vb, 0) == Some(vb.len())
            } else {
                !vb.is_empty()
                    && vb
                        .iter()
                        .all(|c| TOKEN[*c as usize] || *c == b'/' || *c == b'=')
            };
            if name.is_empty() || !name.bytes().all(|c| TOKEN[c as usize]) || !ok_v {
                return Err(ValueError::BadAuthParams);
            }
        }
        Ok(Auth {
            scheme: &s[..n],
            params: AuthParams { s: rest },
        })
    }
    pub fn scheme(&self) -> &'a str {
        self.scheme
    }
    pub fn is_digest(&self) -> bool {
        self.scheme.eq_ignore_ascii_case("Digest")
    }
    pub fn params(&self) -> AuthParams<'a> {
        self.params
    }
    pub fn param(&self, name: &str) -> Option<&'a str> {
        self.params.get(name)
    }
    pub fn username(&self) -> Option<&'a str> {
        self.param("username")
    }
    pub fn realm(&self) -> Option<&'a str> {
        self.param("realm")
    }
    pub fn nonce(&self) -> Option<&'a str> {
        self.param("nonce")
    }
    pub fn uri(&self) -> Option<&'a str> {
        self.param("uri")
    }
    pub fn response(&self) -> Option<&'a str> {
        self.param("response")
    }
    pub fn qop(&self) -> Option<&'a str> {
        self.param("qop")
    }
    pub fn nc(&self) -> Option<&'a str> {
        self.param("nc")
    }
    pub fn cnonce(&self) -> Option<&'a str> {
        self.param("cnonce")
    }
    pub fn algorithm(&self) -> Option<&'a str> {
        self.param("algorithm")
    }
    pub fn opaque(&self) -> Option<&'a str> {
        self.param("opaque")
    }
    pub fn stale(&self) -> Option<bool> {
        self.param("stale").map(|v| v.eq_ignore_ascii_case("true"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn via_with_folding_and_lws() {
        let v = Via::parse("SIP  /   2.0\r\n /UDP\r\n    192.0.2.2;branch=390skdjuw").unwrap();
        assert_eq!(v.transport(), Transport::Udp);
        assert_eq!(v.sent_by(), "192.0.2.2");
        assert_eq!(v.branch(), Some("390skdjuw"));
        assert!(!v.has_rfc3261_branch());
        let v = Via::parse(
            "SIP/2.0/UDP [2001:db8::9:1]:6050;branch=z9hG4bKas3-111;rport;received=192.0.2.1",
        )
        .unwrap();
        assert_eq!(v.port(), Some(6050));
        assert_eq!(v.rport(), Some(None));
        assert_eq!(v.received(), Some("192.0.2.1"));
        assert_eq!(
            Via::parse("SIP/2.0/UDP 192.0.2.15;;"),
            Err(ValueError::EmptyParameter)
        );
        assert_eq!(Via::parse("SIP/7.0/UDP host"), Err(ValueError::BadProtocol));
    }

    #[test]
    fn name_addr_forms() {
        let n = NameAddr::parse(
            r#""J Rosenberg \\\""       <sip:jdrosen@example.com>  ;  tag = 98asjd8"#,
        )
        .unwrap();
        assert_eq!(n.display_name(), Some(r#"J Rosenberg \\\""#));
        assert_eq!(n.tag(), Some("98asjd8"));
        let n =
            NameAddr::parse("sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n").unwrap();
        assert_eq!(n.uri().as_str(), "sip:vivekg@chair-dnrc.example.com");
        assert_eq!(n.tag(), Some("1918181833n"));
        assert_eq!(
            NameAddr::parse("\"Mr. J. User <sip:j.user@example.com>"),
            Err(ValueError::UnterminatedQuote)
        );
        assert_eq!(
            NameAddr::parse("\"W\" < sip:t@example.org >"),
            Err(ValueError::SpaceInAngleBrackets)
        );
        assert_eq!(
            NameAddr::parse("Bell, Alexander <sip:a@b>;tag=43"),
            Err(ValueError::BadDisplayName)
        );
        assert_eq!(
            NameAddr::parse("sip:user@example.com?Route=%3Csip:x%3E"),
            Err(ValueError::UnbracketedUri)
        );
        assert_eq!(
            NameAddr::parse("<sip:a@b>;;;"),
            Err(ValueError::EmptyParameter)
        );
    }

    #[test]
    fn cseq_rules() {
        assert_eq!(
            CSeq::parse("0009\r\n  INVITE").unwrap(),
            CSeq {
                seq: 9,
                method: Method::Invite
            }
        );
        assert_eq!(
            CSeq::parse("36893488147419103232 REGISTER"),
            Err(ValueError::Overflow)
        );
        assert_eq!(CSeq::parse("2147483648 INVITE"), Err(ValueError::Overflow));
        assert_eq!(CSeq::parse("-1 INVITE"), Err(ValueError::Negative));
        assert_eq!(CSeq::parse("1"), Err(ValueError::BadMethod));
    }

    #[test]
    fn digest_credentials() {
        let a = Auth::parse(r#"Digest username="100",realm="asterisk",nonce="1f",uri="sip:100@1.1.1.1",response="ab12",algorithm=MD5"#).unwrap();
        assert!(a.is_digest());
        assert_eq!(a.username(), Some("100"));
        assert_eq!(a.uri(), Some("sip:100@1.1.1.1"));
        assert_eq!(a.algorithm(), Some("MD5"));
        assert_eq!(a.nc(), None);
        let u = Auth::parse("NoOneKnowsThisScheme opaque-data=here").unwrap();
        assert_eq!(u.scheme(), "NoOneKnowsThisScheme");
        assert_eq!(u.param("opaque-data"), Some("here"));
    }

    proptest::proptest! {
        /// The `branch` and `tag` cached while the parameters are validated are exactly what a search of
        /// the parameter list finds (first match, any case, quotes stripped, "" for a flag).
        #[test]
        fn cached_branch_and_tag_equal_params_get(
            items in proptest::collection::vec(
                (
                    proptest::prop_oneof!["tag", "TAG", "Tag", "branch", "BRANCH", "rport", "[a-z]{1,7}"],
                    proptest::option::of(proptest::prop_oneof!["[a-zA-Z0-9.]{1,8}", "\"[a-z ;,=]{0,6}\""]),
                ),
                1..5,
            ),
            ws in "[ ]{0,2}",
        ) {
            let list = items
                .iter()
                .map(|(n, v)| match v {
                    Some(v) => format!("{n}{ws}={ws}{v}"),
                    None => n.clone(),
                })
                .collect::<Vec<_>>()
                .join(&format!("{ws};{ws}"));
            let via = format!("SIP/2.0/UDP host;{list}");
            let v = Via::parse(&via);
            proptest::prop_assert!(v.is_ok(), "{via}: {v:?}");
            if let Ok(v) = v {
                proptest::prop_assert_eq!(v.branch(), v.params().get("branch"));
            }
            let na = format!("<sip:a@b>;{list}");
            let n = NameAddr::parse(&na);
            proptest::prop_assert!(n.is_ok(), "{na}: {n:?}");
            if let Ok(n) = n {
                proptest::prop_assert_eq!(n.tag(), n.params().get("tag"));
            }
        }
    }

    #[test]
    fn dates_and_call_ids() {
        assert!(check_date("Sat, 15 Oct 2005 04:44:56 GMT").is_ok());
        assert_eq!(
            check_date("Fri, 01 Jan 2010 16:00:00 EST"),
            Err(ValueError::BadDate)
        );
        assert!(check_call_id("intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{").is_ok());
        assert_eq!(check_call_id("a b"), Err(ValueError::BadCallId));
        for bad in ["@b", "a@", "a@b@c", "@", "a@@b"] {
            assert_eq!(check_call_id(bad), Err(ValueError::BadCallId), "{bad}");
        }
        assert_eq!(check_call_id(" a@b "), Ok("a@b"));
    }
}
