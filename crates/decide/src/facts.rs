//! The facts a front end gives the layer, and how they are read off a SIP request: the call attempt (tenant
//! or source, account, caller, dialed string and its `phone-context`) and the login (user, credentials, kind).
//! The inline proxy, the redirect server and the HEP mirror read SIP; the HTTP front end fills the facts from
//! JSON. Nothing here trusts a header to say where a request came from: the source is the transport address.

use std::net::{IpAddr, SocketAddr};

use engine::AuthKind;
use sip::{Message, Method};

use crate::geo::Country;
use crate::tenant::{AccountFrom, Tenant};

/// The facts of an outbound call attempt, as any front end knows them.
#[derive(Debug, Clone, Copy, Default)]
pub struct CallQuery<'a> {
    pub call_id: &'a str,
    /// The tenant the querier names (HTTP, scoped by its token); None: found by `source`.
    pub tenant: Option<&'a str>,
    /// The transport address of the PBX or SBC that sent or asked.
    pub source: Option<SocketAddr>,
    pub account: &'a str,
    /// The caller number the PBX presents (P-Asserted-Identity, else From), for the caller-ID check.
    pub caller: Option<&'a str>,
    /// The dialed string as the user pressed it (`#010…` stays `#010…`).
    pub dialed: &'a str,
    /// A `phone-context` the dialed string is to be read in (`tel:110;phone-context=+1` is not Japan's police).
    pub phone_context: Option<&'a str>,
    pub user_agent: &'a str,
    /// Whether the call leaves because another came in (read off `Diversion`, `History-Info`,
    /// `Referred-By`; given by an HTTP querier), and the outside party whose call it continues.
    pub leg: engine::Leg,
    pub forwarded_from: Option<&'a str>,
    /// Seen on a mirror (HEP), not asked: the verdict and decisions are alerts; nothing is banned and no
    /// call is ended for it.
    pub observe: bool,
}

/// The parts of a SIP INVITE a call attempt needs, owned (the account may come from a header the tenant
/// names, so it is read once the tenant is known).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SipCall<'m> {
    pub account: String,
    pub caller: Option<String>,
    pub dialed: String,
    pub phone_context: Option<&'m str>,
    /// The leg the INVITE is and the outside party it continues (borrowed from the message).
    pub leg: engine::Leg,
    pub forwarded_from: Option<&'m str>,
}

impl<'m> SipCall<'m> {
    /// Reads a call attempt off an INVITE for a tenant (whose `account_from` says where the account is).
    pub fn read(msg: &Message<'m>, tenant: Option<&Tenant>) -> SipCall<'m> {
        let from_user = || msg.from().and_then(|f| f.uri().user().map(str::to_owned));
        let pai_user = || {
            msg.p_asserted_identity()
                .filter_map(Result::ok)
                .find_map(|n| n.uri().user().map(str::to_owned))
        };
        let account = match tenant.map(|t| (t.account_from, t.account_header.as_deref())) {
            Some((AccountFrom::PAssertedIdentity, _)) => pai_user(),
            Some((AccountFrom::Header, Some(h))) => msg.headers_named(h).next().and_then(user_of),
            _ => None,
        }
        .or_else(from_user)
        .unwrap_or_default();
        let (dialed, phone_context) = match dial_string(msg) {
            Some((number, context)) => (dialed_as_dialed(number), context),
            None => (String::new(), None),
        };
        let (leg, forwarded_from) = inbound_leg(msg);
        SipCall {
            account,
            caller: pai_user().or_else(from_user),
            dialed,
            phone_context,
            leg,
            forwarded_from,
        }
    }

    /// The query for this call.
    pub fn query<'a>(&'a self, msg: &'a Message<'m>, source: SocketAddr) -> CallQuery<'a> {
        CallQuery {
            call_id: msg.call_id().unwrap_or(""),
            tenant: None,
            source: Some(source),
            account: &self.account,
            caller: self.caller.as_deref(),
            dialed: &self.dialed,
            phone_context: self.phone_context,
            user_agent: msg.user_agent().unwrap_or(""),
            leg: self.leg,
            forwarded_from: self.forwarded_from,
            observe: false,
        }
    }
}

/// The leg an INVITE is, from the headers a PBX adds when a call leaves because another came in, and the
/// outside party it continues: `Referred-By` (RFC 3892, a transfer: the referrer), `Diversion` (RFC 5806, a
/// forwarding: the caller the INVITE presents, P-Asserted-Identity else From), `History-Info` (RFC 7044) with
/// an entry retargeted by mapping (`mp`) or carrying a `cause` URI parameter (RFC 4458): a forwarding as well.
/// Only borrows from the message; a header that does not parse says nothing.
pub fn inbound_leg<'m>(msg: &Message<'m>) -> (engine::Leg, Option<&'m str>) {
    let caller = || {
        msg.p_asserted_identity()
            .filter_map(Result::ok)
            .find_map(|n| n.uri().user())
            .or_else(|| msg.from().and_then(|f| f.uri().user()))
    };
    if let Some(by) = msg.header(sip::HeaderName::ReferredBy) {
        let referrer = sip::NameAddr::parse(by).ok().and_then(|n| n.uri().user());
        return (engine::Leg::Transferred, referrer.or_else(caller));
    }
    if msg.diversion().any(|d| d.is_ok()) {
        return (engine::Leg::Forwarded, caller());
    }
    let retargeted = msg
        .headers_named("History-Info")
        .flat_map(|line| line.split(','))
        .filter_map(|e| sip::NameAddr::parse(e).ok())
        .any(|e| {
            e.param("mp").is_some() || e.uri().as_sip().is_some_and(|u| u.param("cause").is_some())
        });
    if retargeted {
        return (engine::Leg::Forwarded, caller());
    }
    (engine::Leg::Direct, None)
}

/// The user part of a header value that holds a name-addr, or the value itself (a bare account).
pub fn user_of(value: &str) -> Option<String> {
    let v = value.trim();
    match sip::NameAddr::parse(v) {
        Ok(na) => na.uri().user().map(str::to_owned),
        Err(_) => (!v.is_empty()).then(|| v.to_owned()),
    }
}

/// What a request dials: the Request-URI's user (or tel: number) and the `phone-context` it names. None
/// when the Request-URI has no user.
pub fn dial_string<'m>(msg: &Message<'m>) -> Option<(&'m str, Option<&'m str>)> {
    let uri = msg.request_uri()?;
    match uri.as_tel() {
        Some(t) => Some((t.number(), t.phone_context())),
        None => {
            let user = uri.user()?;
            // sip:110;phone-context=+1@host;user=phone: the context is a parameter of the user part.
            let (number, params) = user.split_once(';').unwrap_or((user, ""));
            let context = params.split(';').find_map(|p| {
                let (k, v) = p.split_once('=')?;
                k.trim()
                    .eq_ignore_ascii_case("phone-context")
                    .then_some(v.trim())
            });
            Some((number, context))
        }
    }
}

/// The dialed string as the user pressed it, for reasons, logs and the call list: a PBX escapes `#` and `*` in
/// the Request-URI (`%23010232…`, RFC 3261 section 25.1), an admin reads `#010232…`. Escapes that would decode
/// to control characters or invalid UTF-8 are kept as received, so nothing odd reaches a log line.
pub fn dialed_as_dialed(user: &str) -> String {
    match sip::percent_decode(user) {
        std::borrow::Cow::Borrowed(_) => user.to_owned(),
        std::borrow::Cow::Owned(bytes) => match String::from_utf8(bytes) {
            Ok(s) if !s.chars().any(char::is_control) => s,
            _ => user.to_owned(),
        },
    }
}

/// A login or authenticated request seen on the access side, to be counted once the PBX answers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthFacts {
    pub tenant: String,
    pub username: String,
    /// The request carried credentials (Authorization / Proxy-Authorization).
    pub credentials: bool,
    pub user_agent: String,
    pub kind: AuthKind,
    pub source: IpAddr,
    /// The source's country in the operator's geo database (first login from a new country alerts).
    pub country: Option<Country>,
}

/// The kind of login a request is, and its user name: the digest username when it has credentials, else the
/// To user of a REGISTER or the From user of another request. None for requests that are no login.
pub fn login_of(msg: &Message<'_>, method: Method<'_>) -> Option<(AuthKind, String, bool)> {
    let kind = match method {
        Method::Register => AuthKind::Register,
        Method::Invite => AuthKind::Call,
        Method::Options | Method::Subscribe | Method::Message | Method::Refer => AuthKind::Other,
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
    Some((kind, username, creds.is_some()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaped_hash_and_star_read_as_dialed_but_control_characters_stay_escaped() {
        assert_eq!(dialed_as_dialed("%23010232761234"), "#010232761234");
        assert_eq!(dialed_as_dialed("%2A99%23"), "*99#");
        assert_eq!(dialed_as_dialed("0312345678"), "0312345678");
        assert_eq!(dialed_as_dialed("123%0A456"), "123%0A456");
        assert_eq!(dialed_as_dialed("%FF%FE"), "%FF%FE");
        assert_eq!(dialed_as_dialed("100%"), "100%");
    }

    #[test]
    fn the_account_comes_from_where_the_tenant_says() {
        let raw = b"INVITE sip:%23010232761234;phone-context=+81@pbx SIP/2.0\r\n\
Via: SIP/2.0/UDP 10.0.0.2;branch=z9hG4bK1\r\nFrom: <sip:201@pbx>;tag=a\r\nTo: <sip:x@pbx>\r\n\
Call-ID: c1\r\nCSeq: 1 INVITE\r\nP-Asserted-Identity: <sip:+81312345678@pbx>\r\n\
X-Account: <sip:205@pbx>\r\nContent-Length: 0\r\n\r\n";
        let msg = Message::parse(raw).unwrap();
        let mut t = crate::tenant::Tenant {
            name: "acme".into(),
            pbx_sources: vec![],
            accounts: vec![],
            account_from: AccountFrom::Header,
            account_header: Some("X-Account".into()),
            numbers: vec![],
            login: Default::default(),
        };
        let c = SipCall::read(&msg, Some(&t));
        assert_eq!(c.account, "205");
        assert_eq!(c.dialed, "#010232761234");
        assert_eq!(c.phone_context, Some("+81"));
        assert_eq!(c.caller.as_deref(), Some("+81312345678"));
        t.account_from = AccountFrom::PAssertedIdentity;
        assert_eq!(SipCall::read(&msg, Some(&t)).account, "+81312345678");
        assert_eq!(SipCall::read(&msg, None).account, "201");
    }
}
