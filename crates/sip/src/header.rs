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
        let candidates: &[HeaderName] = match name.len() {
            2 => match first {
                b't' => &[To],
                _ => &[],
            },
            3 => match first {
                b'v' => &[Via],
                _ => &[],
            },
            4 => match first {
                b'f' => &[From],
                b'c' => &[CSeq],
                b'd' => &[Date],
                _ => &[],
            },
            5 => match first {
                b'r' => &[Route],
                b'a' => &[Allow],
                b'e' => &[Event],
                _ => &[],
            },
            6 => match first {
                b's' => &[Server],
                b'a' => &[Accept],
                b'r' => &[Reason],
                _ => &[],
            },
            7 => match first {
                b'c' => &[CallId, Contact],
                b'e' => &[Expires],
                b's' => &[Subject],
                b'r' => &[Require],
                b'w' => &[Warning],
                _ => &[],
            },
            8 => match first {
                b'r' => &[ReferTo],
                b'i' => &[Identity],
                _ => &[],
            },
            9 => match first {
                b's' => &[Supported],
                b'd' => &[Diversion],
                _ => &[],
            },
            10 => match first {
                b'u' => &[UserAgent],
                _ => &[],
            },
            11 => match first {
                b'r' => &[ReferredBy, RetryAfter],
                _ => &[],
            },
            12 => match first {
                b'm' => &[MaxForwards],
                b'c' => &[ContentType],
                b'r' => &[RecordRoute],
                b'a' => &[AllowEvents],
                _ => &[],
            },
            13 => match first {
                b'a' => &[Authorization],
                b'p' => &[ProxyRequire],
                _ => &[],
            },
            14 => match first {
                b'c' => &[ContentLength],
                b'a' => &[AcceptContact],
                _ => &[],
            },
            15 => match first {
                b's' => &[SessionExpires],
                _ => &[],
            },
            16 => match first {
                b'w' => &[WwwAuthenticate],
                b'c' => &[ContentEncoding],
                _ => &[],
            },
            18 => match first {
                b'p' => &[ProxyAuthenticate],
                _ => &[],
            },
            19 => match first {
                b'p' => &[ProxyAuthorization, PAssertedIdentity],
                b'r' => &[RequestDisposition],
                _ => &[],
            },
            20 => match first {
                b'p' => &[PPreferredIdentity],
                _ => &[],
            },
            _ => &[],
        };
        for &c in candidates {
            // Canonical names hold only letters and '-', so OR-ing 0x20 on both sides is an exact
            // case-insensitive comparison (no other token byte maps onto a letter or '-').
            let canon = c.as_str().as_bytes();
            if canon.len() == name.len()
                && canon
                    .iter()
                    .zip(name)
                    .all(|(a, b)| (a | 0x20) == (b | 0x20))
            {
                return c;
            }
        }
        Other
    }
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
