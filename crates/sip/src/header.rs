//! Header names: the known ones as an enum (long and compact forms, matched case-insensitively), anything
//! else as `Other`, whose text stays in the message buffer.

/// A header name. `Other` covers every extension header; compare those by text with
/// [`crate::Message::headers_named`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[repr(u8)]
pub enum HeaderName {
    Via = 0,
    From,
    To,
    CallId,
    CSeq,
    MaxForwards,
    ContentLength,
    ContentType,
    Contact,
    Route,
    RecordRoute,
    UserAgent,
    Server,
    Authorization,
    ProxyAuthorization,
    WwwAuthenticate,
    ProxyAuthenticate,
    PAssertedIdentity,
    PPreferredIdentity,
    Diversion,
    Expires,
    Date,
    Subject,
    Supported,
    Require,
    ProxyRequire,
    Allow,
    Accept,
    ContentEncoding,
    Event,
    AllowEvents,
    ReferTo,
    ReferredBy,
    SessionExpires,
    Identity,
    AcceptContact,
    RequestDisposition,
    Reason,
    Warning,
    RetryAfter,
    #[default]
    Other,
}

/// Number of known names (the index space of per-name tables).
pub(crate) const KNOWN: usize = HeaderName::Other as usize + 1;

impl HeaderName {
    /// Canonical long form, as written by this crate.
    pub fn as_str(self) -> &'static str {
        use HeaderName::*;
        match self {
            Via => "Via",
            From => "From",
            To => "To",
            CallId => "Call-ID",
            CSeq => "CSeq",
            MaxForwards => "Max-Forwards",
            ContentLength => "Content-Length",
            ContentType => "Content-Type",
            Contact => "Contact",
            Route => "Route",
            RecordRoute => "Record-Route",
            UserAgent => "User-Agent",
            Server => "Server",
            Authorization => "Authorization",
            ProxyAuthorization => "Proxy-Authorization",
            WwwAuthenticate => "WWW-Authenticate",
            ProxyAuthenticate => "Proxy-Authenticate",
            PAssertedIdentity => "P-Asserted-Identity",
            PPreferredIdentity => "P-Preferred-Identity",
            Diversion => "Diversion",
            Expires => "Expires",
            Date => "Date",
            Subject => "Subject",
            Supported => "Supported",
            Require => "Require",
            ProxyRequire => "Proxy-Require",
            Allow => "Allow",
            Accept => "Accept",
            ContentEncoding => "Content-Encoding",
            Event => "Event",
            AllowEvents => "Allow-Events",
            ReferTo => "Refer-To",
            ReferredBy => "Referred-By",
            SessionExpires => "Session-Expires",
            Identity => "Identity",
            AcceptContact => "Accept-Contact",
            RequestDisposition => "Request-Disposition",
            Reason => "Reason",
            Warning => "Warning",
            RetryAfter => "Retry-After",
            Other => "",
        }
    }

    /// Headers that RFC 3261 allows only once (more is flagged, never merged).
    pub fn is_single_value(self) -> bool {
        matches!(
            self,
            HeaderName::From
                | HeaderName::To
                | HeaderName::CallId
                | HeaderName::CSeq
                | HeaderName::MaxForwards
                | HeaderName::ContentLength
        )
    }

    /// Recognises a header name (long or compact form), ignoring ASCII case.
    pub fn parse(name: &[u8]) -> HeaderName {
        use HeaderName::*;
        if name.len() == 1 {
            return match name[0] | 0x20 {
                b'i' => CallId,
                b'm' => Contact,
                b'e' => ContentEncoding,
                b'l' => ContentLength,
                b'f' => From,
                b't' => To,
                b'v' => Via,
                b's' => Subject,
                b'k' => Supported,
                b'c' => ContentType,
                b'o' => Event,
                b'u' => AllowEvents,
                b'r' => ReferTo,
                b'b' => ReferredBy,
                b'x' => SessionExpires,
                b'y' => Identity,
                b'a' => AcceptContact,
                b'd' => RequestDisposition,
                _ => Other,
            };
        }
        let first = name.first().map_or(0, |b| b | 0x20);
        // One or two candidates per (length, first letter); each is checked with a word-wise case-folding
        // compare against the lower-case canonical name.
        let hit = |h: HeaderName, lower: &'static [u8]| eq_fold(name, lower).then_some(h);
        let found = match (name.len(), first) {
            (2, b't') => hit(To, b"to"),
            (3, b'v') => hit(Via, b"via"),
            (4, b'f') => hit(From, b"from"),
            (4, b'c') => hit(CSeq, b"cseq"),
            (4, b'd') => hit(Date, b"date"),
            (5, b'r') => hit(Route, b"route"),
            (5, b'a') => hit(Allow, b"allow"),
            (5, b'e') => hit(Event, b"event"),
            (6, b's') => hit(Server, b"server"),
            (6, b'a') => hit(Accept, b"accept"),
            (6, b'r') => hit(Reason, b"reason"),
            (7, b'c') => hit(CallId, b"call-id").or_else(|| hit(Contact, b"contact")),
            (7, b'e') => hit(Expires, b"expires"),
            (7, b's') => hit(Subject, b"subject"),
            (7, b'r') => hit(Require, b"require"),
            (7, b'w') => hit(Warning, b"warning"),
            (8, b'r') => hit(ReferTo, b"refer-to"),
            (8, b'i') => hit(Identity, b"identity"),
            (9, b's') => hit(Supported, b"supported"),
            (9, b'd') => hit(Diversion, b"diversion"),
            (10, b'u') => hit(UserAgent, b"user-agent"),
            (11, b'r') => {
                hit(ReferredBy, b"referred-by").or_else(|| hit(RetryAfter, b"retry-after"))
            }
            (12, b'm') => hit(MaxForwards, b"max-forwards"),
            (12, b'c') => hit(ContentType, b"content-type"),
            (12, b'r') => hit(RecordRoute, b"record-route"),
            (12, b'a') => hit(AllowEvents, b"allow-events"),
            (13, b'a') => hit(Authorization, b"authorization"),
            (13, b'p') => hit(ProxyRequire, b"proxy-require"),
            (14, b'c') => hit(ContentLength, b"content-length"),
            (14, b'a') => hit(AcceptContact, b"accept-contact"),
            (15, b's') => hit(SessionExpires, b"session-expires"),
            (16, b'w') => hit(WwwAuthenticate, b"www-authenticate"),
            (16, b'c') => hit(ContentEncoding, b"content-encoding"),
            (18, b'p') => hit(ProxyAuthenticate, b"proxy-authenticate"),
            (19, b'p') => hit(ProxyAuthorization, b"proxy-authorization")
                .or_else(|| hit(PAssertedIdentity, b"p-asserted-identity")),
            (19, b'r') => hit(RequestDisposition, b"request-disposition"),
            (20, b'p') => hit(PPreferredIdentity, b"p-preferred-identity"),
            _ => None,
        };
        found.unwrap_or(Other)
    }
}

/// Case-insensitive equality with a lower-case canonical name, eight bytes at a time. Canonical names hold
/// only letters and '-', so OR-ing 0x20 into the received bytes is an exact comparison for token bytes: no
/// other token byte maps onto a lower-case letter or '-' (the same rule the byte-wise compare used before).
#[inline(always)]
fn eq_fold(name: &[u8], lower: &[u8]) -> bool {
    if name.len() != lower.len() {
        return false;
    }
    const FOLD: u64 = 0x2020_2020_2020_2020;
    let mut a = name.chunks_exact(8);
    let mut b = lower.chunks_exact(8);
    for (x, y) in (&mut a).zip(&mut b) {
        let (Ok(x), Ok(y)) = (<[u8; 8]>::try_from(x), <[u8; 8]>::try_from(y)) else {
            return false;
        };
        if u64::from_le_bytes(x) | FOLD != u64::from_le_bytes(y) {
            return false;
        }
    }
    a.remainder()
        .iter()
        .zip(b.remainder())
        .all(|(x, y)| (x | 0x20) == *y)
}

#[cfg(test)]
mod tests {
    use super::HeaderName::{self, *};

    #[test]
    fn every_long_form_round_trips_in_any_case() {
        for h in ALL_KNOWN {
            assert_eq!(
                HeaderName::parse(h.as_str().as_bytes()),
                h,
                "{}",
                h.as_str()
            );
            assert_eq!(
                HeaderName::parse(h.as_str().to_ascii_uppercase().as_bytes()),
                h
            );
            assert_eq!(
                HeaderName::parse(h.as_str().to_ascii_lowercase().as_bytes()),
                h
            );
        }
    }

    #[test]
    fn compact_forms() {
        assert_eq!(HeaderName::parse(b"i"), CallId);
        assert_eq!(HeaderName::parse(b"M"), Contact);
        assert_eq!(HeaderName::parse(b"l"), ContentLength);
        assert_eq!(HeaderName::parse(b"v"), Via);
        assert_eq!(HeaderName::parse(b"q"), Other);
        assert_eq!(HeaderName::parse(b"C%6Fntact"), Other);
    }

    const ALL_KNOWN: [HeaderName; super::KNOWN - 1] = [
        Via,
        From,
        To,
        CallId,
        CSeq,
        MaxForwards,
        ContentLength,
        ContentType,
        Contact,
        Route,
        RecordRoute,
        UserAgent,
        Server,
        Authorization,
        ProxyAuthorization,
        WwwAuthenticate,
        ProxyAuthenticate,
        PAssertedIdentity,
        PPreferredIdentity,
        Diversion,
        Expires,
        Date,
        Subject,
        Supported,
        Require,
        ProxyRequire,
        Allow,
        Accept,
        ContentEncoding,
        Event,
        AllowEvents,
        ReferTo,
        ReferredBy,
        SessionExpires,
        Identity,
        AcceptContact,
        RequestDisposition,
        Reason,
        Warning,
        RetryAfter,
    ];
}
