//! Typed errors and flags. A [`ParseError`] means the bytes are not a SIP message we will forward (the guard
//! answers 400/505 or drops). An [`Anomaly`] means the message parsed but carries an ambiguity or a defect that
//! the RFC tells a proxy to notice; the guard decides, nothing is silently normalised.

use thiserror::Error;

/// Why a URI was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum UriError {
    #[error("URI is empty")]
    Empty,
    #[error("URI has no scheme")]
    MissingScheme,
    #[error("URI scheme has characters a scheme may not have")]
    BadScheme,
    #[error("URI user part has a character that must be escaped")]
    BadUser,
    #[error("URI password has a character that must be escaped")]
    BadPassword,
    #[error("URI host is missing")]
    EmptyHost,
    #[error("URI host is not a host name, IPv4 address or bracketed IPv6 address")]
    BadHost,
    #[error("URI port is not a number from 0 to 65535")]
    BadPort,
    #[error("URI parameter is empty or has a character that must be escaped")]
    BadParam,
    #[error("URI header part is malformed")]
    BadHeaders,
    #[error("URI has a bad percent escape")]
    BadEscape,
    #[error("URI contains white space or a control character")]
    Whitespace,
    #[error("tel URI number is empty or malformed")]
    BadTelNumber,
}

/// Why a header value was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum ValueError {
    #[error("value is empty")]
    Empty,
    #[error("not a number")]
    NotANumber,
    #[error("negative number")]
    Negative,
    #[error("number too large")]
    Overflow,
    #[error("quoted string is not terminated")]
    UnterminatedQuote,
    #[error("white space inside <...> around the URI")]
    SpaceInAngleBrackets,
    #[error("display name must be a quoted string or tokens")]
    BadDisplayName,
    #[error("'<' without matching '>'")]
    UnterminatedAngle,
    #[error("URI with ',', '?' or ';' must be enclosed in <...>")]
    UnbracketedUri,
    #[error("bad URI: {0}")]
    Uri(UriError),
    #[error("empty parameter (stray ';')")]
    EmptyParameter,
    #[error("malformed parameter")]
    BadParameter,
    #[error("sent-protocol is not SIP/2.0/<transport>")]
    BadProtocol,
    #[error("Via sent-by host is malformed")]
    BadHost,
    #[error("port is not a number from 0 to 65535")]
    BadPort,
    #[error("more than one value in a single-value header")]
    MultipleValues,
    #[error("unexpected characters after the value")]
    TrailingGarbage,
    #[error("method is not a token")]
    BadMethod,
    #[error("Call-ID has white space or characters outside `word`")]
    BadCallId,
    #[error("date is not an RFC 1123 date in GMT")]
    BadDate,
    #[error("control character outside a quoted-pair")]
    ControlCharacter,
    #[error("authorization parameters are malformed")]
    BadAuthParams,
}

impl From<UriError> for ValueError {
    fn from(e: UriError) -> Self {
        ValueError::Uri(e)
    }
}

/// Why bytes could not be taken as a SIP message. Line numbers count from 1 (the start line).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ParseError {
    #[error("empty message")]
    Empty,
    #[error("message of {len} bytes exceeds the limit of {max}")]
    TooLarge { len: usize, max: usize },
    #[error("white space or an empty line before the start line")]
    LeadingWhitespace,
    #[error("line {line}: line ends with a bare LF (CRLF required)")]
    BareLf { line: usize },
    #[error("line {line}: CR not followed by LF")]
    BareCr { line: usize },
    #[error("line {line}: control character 0x{byte:02x}")]
    ControlCharacter { line: usize, byte: u8 },
    #[error("line {line}: longer than the limit of {max} bytes")]
    LineTooLong { line: usize, max: usize },
    #[error("start line or headers are not valid UTF-8")]
    InvalidUtf8,
    #[error("start line is neither a request line nor a status line")]
    BadStartLine,
    #[error("start line elements must be separated by exactly one SP, with none at the end")]
    StartLineWhitespace,
    #[error("method is not a token")]
    BadMethod,
    #[error("Request-URI must not be enclosed in <...>")]
    RequestUriInAngleBrackets,
    #[error("Request-URI must not contain URI headers ('?...')")]
    RequestUriWithHeaders,
    #[error("bad Request-URI: {0}")]
    BadRequestUri(UriError),
    #[error("unsupported SIP version (only SIP/2.0)")]
    UnsupportedVersion,
    #[error("status code must be three digits from 100 to 699")]
    BadStatusCode,
    #[error("line {line}: continuation line before any header")]
    UnexpectedFold { line: usize },
    #[error("line {line}: header name is empty or not a token")]
    BadHeaderName { line: usize },
    #[error("line {line}: header line without a colon")]
    MissingColon { line: usize },
    #[error("more than {max} header lines")]
    TooManyHeaders { max: usize },
    #[error("more than {max} Via entries")]
    TooManyVias { max: usize },
    #[error("line {line}: more than {max} continuation lines in one header")]
    TooManyFoldedLines { line: usize, max: usize },
    #[error("line {line}: {header} header: {reason}")]
    BadHeader {
        header: &'static str,
        line: usize,
        reason: ValueError,
    },
    #[error("CSeq method does not match the request method")]
    CSeqMethodMismatch,
    #[error("headers not terminated by an empty line")]
    Unterminated,
    #[error("Content-Length {declared} is larger than the {available} body bytes present")]
    ContentLengthExceedsBody { declared: u64, available: usize },
    #[error("stream message without Content-Length")]
    MissingContentLength,
    #[error("conflicting Content-Length values on a stream")]
    ConflictingContentLength,
}

impl ParseError {
    /// The SIP status a server answers with, when it answers at all (505 for a bad version, else 400).
    pub fn status_code(&self) -> u16 {
        match self {
            ParseError::UnsupportedVersion => 505,
            ParseError::TooLarge { .. } => 513,
            _ => 400,
        }
    }
}

/// A flagged (not rejected) property of a parsed message. See the crate README for the policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Anomaly {
    /// Two or more Content-Length headers with the same value.
    DuplicateContentLength = 0,
    /// Two or more Content-Length headers with different values (datagram only; a stream is rejected).
    ConflictingContentLength,
    /// No Content-Length (legal on UDP only).
    MissingContentLength,
    /// Bytes after the Content-Length body in a datagram (discarded from `body()`).
    TrailingBytes,
    /// To, From, Call-ID, CSeq or Max-Forwards appears more than once.
    DuplicateSingleValueHeader,
    /// A mandatory header (To, From, Call-ID, CSeq, Via, and Max-Forwards in requests) is missing.
    MissingMandatoryHeader,
    /// Max-Forwards is 0 on a request: a proxy answers 483.
    MaxForwardsExhausted,
    /// Request-URI scheme is not sip, sips or tel: a proxy answers 416.
    UnsupportedUriScheme,
    /// Top Via branch lacks the RFC 3261 magic cookie `z9hG4bK` (RFC 2543 peer).
    NoMagicCookie,
    /// Top Via branch is exactly the magic cookie with nothing after it.
    BareMagicCookie,
    /// Top Via has no branch at all.
    MissingBranch,
    /// Expires is not a number or larger than 2^32-1 (treat as default expiry).
    BadExpires,
}

impl Anomaly {
    pub const ALL: [Anomaly; 12] = [
        Anomaly::DuplicateContentLength,
        Anomaly::ConflictingContentLength,
        Anomaly::MissingContentLength,
        Anomaly::TrailingBytes,
        Anomaly::DuplicateSingleValueHeader,
        Anomaly::MissingMandatoryHeader,
        Anomaly::MaxForwardsExhausted,
        Anomaly::UnsupportedUriScheme,
        Anomaly::NoMagicCookie,
        Anomaly::BareMagicCookie,
        Anomaly::MissingBranch,
        Anomaly::BadExpires,
    ];

    /// What a proxy should answer if it refuses a request because of this flag, or None when the flag is
    /// informational.
    pub fn status_code(self) -> Option<u16> {
        match self {
            Anomaly::ConflictingContentLength
            | Anomaly::DuplicateSingleValueHeader
            | Anomaly::MissingMandatoryHeader
            | Anomaly::BareMagicCookie => Some(400),
            Anomaly::MaxForwardsExhausted => Some(483),
            Anomaly::UnsupportedUriScheme => Some(416),
            _ => None,
        }
    }

    /// A sentence a PBX admin understands.
    pub fn describe(self) -> &'static str {
        match self {
            Anomaly::DuplicateContentLength => "Content-Length appears more than once (same value)",
            Anomaly::ConflictingContentLength => {
                "Content-Length appears more than once with different values: body length is ambiguous"
            }
            Anomaly::MissingContentLength => "no Content-Length header",
            Anomaly::TrailingBytes => {
                "bytes after the body declared by Content-Length were discarded"
            }
            Anomaly::DuplicateSingleValueHeader => {
                "To, From, Call-ID, CSeq or Max-Forwards appears more than once"
            }
            Anomaly::MissingMandatoryHeader => {
                "a mandatory header (To, From, Call-ID, CSeq, Via, Max-Forwards) is missing"
            }
            Anomaly::MaxForwardsExhausted => "Max-Forwards reached 0: too many hops",
            Anomaly::UnsupportedUriScheme => "Request-URI scheme is not sip, sips or tel",
            Anomaly::NoMagicCookie => {
                "Via branch without the RFC 3261 magic cookie (old RFC 2543 client)"
            }
            Anomaly::BareMagicCookie => "Via branch is only the magic cookie z9hG4bK",
            Anomaly::MissingBranch => "top Via has no branch parameter",
            Anomaly::BadExpires => "Expires is not a number or exceeds 2^32-1",
        }
    }
}

/// A set of [`Anomaly`] flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct Anomalies(u32);

impl Anomalies {
    pub fn contains(self, a: Anomaly) -> bool {
        self.0 & (1 << a as u32) != 0
    }
    pub(crate) fn insert(&mut self, a: Anomaly) {
        self.0 |= 1 << a as u32;
    }
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
    pub fn iter(self) -> impl Iterator<Item = Anomaly> {
        Anomaly::ALL.into_iter().filter(move |a| self.contains(*a))
    }
    /// The first flag that makes a proxy refuse the request, with the status to answer.
    pub fn refusal(self) -> Option<(Anomaly, u16)> {
        self.iter().find_map(|a| a.status_code().map(|s| (a, s)))
    }
}
