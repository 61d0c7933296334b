//! The parsed message: start line, an index of header lines kept in a fixed-size array inside the message
//! (no heap allocation per parse), the body, the eagerly validated headers a guard decides on (Via, From, To,
//! Call-ID, CSeq, Max-Forwards, Content-Length, Contact, Route, Record-Route, Date) and the ambiguity flags.
//! Limits are checked before anything is indexed.

use crate::chars::{self, CommaSplit, TOKEN};
use crate::error::{Anomalies, Anomaly, ParseError, ValueError};
use crate::header::{HeaderName, KNOWN};
use crate::uri::Uri;
use crate::value::{self, Auth, CSeq, Contact, Method, NameAddr, Via};

/// Capacity of the header index inside a [`Message`].
pub const HEADER_CAPACITY: usize = 64;
/// Largest message accepted (64 KiB − 1, so that offsets fit in 16 bits).
pub const MAX_MESSAGE: usize = 65_535;

/// Limits applied before anything is indexed. Values above the built-in capacities are clamped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Whole message (headers and body), at most [`MAX_MESSAGE`].
    pub max_message: usize,
    /// Header lines, at most [`HEADER_CAPACITY`].
    pub max_headers: usize,
    /// One header line including its continuation lines.
    pub max_line: usize,
    /// Via entries over all Via headers.
    pub max_vias: usize,
    /// Continuation (folded) lines in one header.
    pub max_folds: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_message: MAX_MESSAGE,
            max_headers: HEADER_CAPACITY,
            max_line: 8192,
            max_vias: 64,
            max_folds: 16,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Entry {
    pub(crate) name: HeaderName,
    pub(crate) line: u16,
    /// Start of the header name (start of the line).
    pub(crate) ns: u16,
    pub(crate) ne: u16,
    /// Value, trimmed of surrounding white space (continuation line breaks stay inside).
    pub(crate) vs: u16,
    pub(crate) ve: u16,
    /// Start of the next line.
    pub(crate) le: u16,
}

impl Entry {
    /// Filler for the slots past `count` (never read). All-zero bytes (`Via` is discriminant 0), so the
    /// 64-slot index is initialised by one memset instead of a loop storing `HeaderName::Other`.
    const UNUSED: Entry = Entry {
        name: HeaderName::Via,
        line: 0,
        ns: 0,
        ne: 0,
        vs: 0,
        ve: 0,
        le: 0,
    };
}

/// Request line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestLine<'a> {
    pub method: Method<'a>,
    pub uri: Uri<'a>,
}

/// Status line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusLine<'a> {
    pub code: u16,
    pub reason: &'a str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartLine<'a> {
    Request(RequestLine<'a>),
    Response(StatusLine<'a>),
}

/// One header line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header<'a> {
    pub name: HeaderName,
    /// Name as received (`v`, `VIA`, `X-Foo`).
    pub name_text: &'a str,
    /// Value as received, trimmed; continuation line breaks are kept.
    pub value: &'a str,
}

/// What identifies the server transaction of a request (RFC 3261 section 17.2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TransactionKey<'a> {
    pub branch: &'a str,
    pub sent_by: &'a str,
    pub method: Method<'a>,
}

/// What identifies a dialog: Call-ID and the two tags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DialogId<'a> {
    pub call_id: &'a str,
    pub from_tag: Option<&'a str>,
    pub to_tag: Option<&'a str>,
}

/// A parsed SIP message borrowing the receive buffer.
#[derive(Debug, Clone)]
pub struct Message<'a> {
    raw: &'a [u8],
    start_text: &'a str,
    hdr_text: &'a str,
    /// Offset of `hdr_text` in `raw`.
    hdr_base: usize,
    head_len: usize,
    body: &'a [u8],
    start: StartLine<'a>,
    entries: [Entry; HEADER_CAPACITY],
    count: usize,
    first: [u8; KNOWN],
    top_via: Option<Via<'a>>,
    via_count: usize,
    contact: Option<Contact<'a>>,
    contact_count: usize,
    from: Option<NameAddr<'a>>,
    to: Option<NameAddr<'a>>,
    call_id: Option<&'a str>,
    cseq: Option<CSeq<'a>>,
    max_forwards: Option<u8>,
    content_length: Option<u32>,
    anomalies: Anomalies,
}

/// How the end of the body is found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    Datagram,
    Stream,
}

impl<'a> Message<'a> {
    /// Parses one UDP datagram (or any buffer holding exactly one message) with default limits.
    #[inline]
    pub fn parse(buf: &'a [u8]) -> Result<Message<'a>, ParseError> {
        Self::parse_with(buf, &Limits::default())
    }

    /// Parses one datagram with explicit limits.
    #[inline]
    pub fn parse_with(buf: &'a [u8], limits: &Limits) -> Result<Message<'a>, ParseError> {
        let max = limits.max_message.min(MAX_MESSAGE);
        if buf.len() > max {
            return Err(ParseError::TooLarge {
                len: buf.len(),
                max,
            });
        }
        parse_head(buf, limits, true)
    }

    /// Parses a message whose header block is known to end inside `buf` (stream framing).
    pub(crate) fn parse_stream_head(
        buf: &'a [u8],
        limits: &Limits,
    ) -> Result<Message<'a>, ParseError> {
        parse_head(buf, limits, false)
    }

    /// Completes body framing. For a stream, `raw` must already hold head + body (checked by the caller).
    pub(crate) fn finish(&mut self, framing: Framing) -> Result<(), ParseError> {
        let rest = self.raw.get(self.head_len..).unwrap_or(&[]);
        let conflicting = self.anomalies.contains(Anomaly::ConflictingContentLength);
        match (framing, self.content_length) {
            (Framing::Stream, None) => return Err(ParseError::MissingContentLength),
            (Framing::Stream, Some(_)) if conflicting => {
                return Err(ParseError::ConflictingContentLength);
            }
            (Framing::Datagram, None) => {
                self.anomalies.insert(Anomaly::MissingContentLength);
                self.body = rest;
            }
            (Framing::Datagram, Some(_)) if conflicting => self.body = rest,
            (_, Some(n)) => {
                let n = n as usize;
                match rest.get(..n) {
                    Some(b) => self.body = b,
                    None => {
                        return Err(ParseError::ContentLengthExceedsBody {
                            declared: n as u64,
                            available: rest.len(),
                        });
                    }
                }
                if framing == Framing::Datagram && rest.len() > n {
                    self.anomalies.insert(Anomaly::TrailingBytes);
                }
                self.raw = self.raw.get(..self.head_len + n).unwrap_or(self.raw);
            }
        }
        Ok(())
    }

    /// Length of the start line, headers and the empty line (the body starts here).
    pub fn head_len(&self) -> usize {
        self.head_len
    }
    pub(crate) fn set_raw(&mut self, raw: &'a [u8]) {
        self.raw = raw;
    }
    pub(crate) fn entries(&self) -> &[Entry] {
        self.entries.get(..self.count).unwrap_or(&[])
    }
    pub(crate) fn start_line_len(&self) -> usize {
        self.hdr_base
    }

    /// The name and value of a header line, as text (the head was checked to be UTF-8 at parse time).
    #[inline]
    pub(crate) fn entry_text(&self, e: &Entry) -> (&'a str, &'a str) {
        (self.text(e.ns, e.ne), self.text(e.vs, e.ve))
    }

    #[inline]
    fn text(&self, s: u16, e: u16) -> &'a str {
        let (s, e) = (usize::from(s), usize::from(e));
        self.hdr_text
            .get(s.saturating_sub(self.hdr_base)..e.saturating_sub(self.hdr_base))
            .unwrap_or("")
    }

    // ----- start line -----

    pub fn start_line(&self) -> &StartLine<'a> {
        &self.start
    }
    /// The start line as received, without CRLF.
    pub fn start_line_text(&self) -> &'a str {
        self.start_text
    }
    pub fn is_request(&self) -> bool {
        matches!(self.start, StartLine::Request(_))
    }
    pub fn method(&self) -> Option<Method<'a>> {
        match self.start {
            StartLine::Request(r) => Some(r.method),
            StartLine::Response(_) => None,
        }
    }
    pub fn request_uri(&self) -> Option<Uri<'a>> {
        match self.start {
            StartLine::Request(r) => Some(r.uri),
            StartLine::Response(_) => None,
        }
    }
    pub fn status(&self) -> Option<u16> {
        match self.start {
            StartLine::Response(s) => Some(s.code),
            StartLine::Request(_) => None,
        }
    }
    pub fn reason_phrase(&self) -> Option<&'a str> {
        match self.start {
            StartLine::Response(s) => Some(s.reason),
            StartLine::Request(_) => None,
        }
    }

    // ----- raw headers -----

    /// All header lines in order.
    pub fn headers(&self) -> impl Iterator<Item = Header<'a>> + '_ {
        self.entries().iter().map(|e| Header {
            name: e.name,
            name_text: self.text(e.ns, e.ne),
            value: self.text(e.vs, e.ve),
        })
    }
    /// Number of header lines.
    pub fn header_count(&self) -> usize {
        self.count
    }
    /// Value of the first header line of this name (use `headers_named` for extension headers).
    pub fn header(&self, name: HeaderName) -> Option<&'a str> {
        if name == HeaderName::Other {
            return None;
        }
        let i = *self.first.get(name as usize)?;
        let e = self.entries.get(usize::from(i).checked_sub(1)?)?;
        Some(self.text(e.vs, e.ve))
    }
    /// Values of every header line of this name, in order.
    pub fn header_all(&self, name: HeaderName) -> impl Iterator<Item = &'a str> + '_ {
        self.entries()
            .iter()
            .filter(move |e| e.name == name)
            .map(|e| self.text(e.vs, e.ve))
    }
    /// Values of every header line whose name (long or compact form of a known header, or the exact text of
    /// an extension header) matches, ignoring case.
    pub fn headers_named<'n>(&'n self, name: &'n str) -> impl Iterator<Item = &'a str> + 'n {
        let kind = HeaderName::parse(name.as_bytes());
        self.entries()
            .iter()
            .filter(move |e| {
                if kind == HeaderName::Other {
                    self.text(e.ns, e.ne).eq_ignore_ascii_case(name)
                } else {
                    e.name == kind
                }
            })
            .map(|e| self.text(e.vs, e.ve))
    }
    /// Comma-separated elements over every line of a multi-value header.
    pub fn header_values(&self, name: HeaderName) -> impl Iterator<Item = &'a str> + '_ {
        self.header_all(name).flat_map(CommaSplit::new)
    }

    // ----- typed headers -----

    /// Every Via entry, top first (validated at parse time).
    pub fn via(&self) -> impl Iterator<Item = Via<'a>> + '_ {
        // The top entry was kept at parse time; only further entries (rare) are parsed again.
        self.top_via.into_iter().chain(
            self.header_values(HeaderName::Via)
                .skip(1)
                .take(self.via_count.saturating_sub(1))
                .filter_map(|v| Via::parse(v).ok()),
        )
    }
    pub fn top_via(&self) -> Option<&Via<'a>> {
        self.top_via.as_ref()
    }
    pub fn via_count(&self) -> usize {
        self.via_count
    }
    pub fn from(&self) -> Option<&NameAddr<'a>> {
        self.from.as_ref()
    }
    pub fn to(&self) -> Option<&NameAddr<'a>> {
        self.to.as_ref()
    }
    pub fn from_tag(&self) -> Option<&'a str> {
        self.from.and_then(|f| f.tag())
    }
    pub fn to_tag(&self) -> Option<&'a str> {
        self.to.and_then(|t| t.tag())
    }
    pub fn call_id(&self) -> Option<&'a str> {
        self.call_id
    }
    pub fn cseq(&self) -> Option<&CSeq<'a>> {
        self.cseq.as_ref()
    }
    pub fn max_forwards(&self) -> Option<u8> {
        self.max_forwards
    }
    /// Declared Content-Length (the first one when flagged as duplicated).
    pub fn content_length(&self) -> Option<u32> {
        self.content_length
    }
    pub fn content_type(&self) -> Option<&'a str> {
        self.header(HeaderName::ContentType)
    }
    /// Contact elements over every Contact line (validated at parse time).
    pub fn contacts(&self) -> impl Iterator<Item = Contact<'a>> + '_ {
        // The first element was kept at parse time; only further elements are parsed again.
        self.contact.into_iter().chain(
            self.header_values(HeaderName::Contact)
                .skip(1)
                .take(self.contact_count.saturating_sub(1))
                .filter_map(|v| Contact::parse(v).ok()),
        )
    }
    /// Route elements, topmost first (validated at parse time).
    pub fn routes(&self) -> impl Iterator<Item = NameAddr<'a>> + '_ {
        self.header_values(HeaderName::Route)
            .filter_map(|v| NameAddr::parse(v).ok())
    }
    /// Record-Route elements, topmost first (validated at parse time).
    pub fn record_routes(&self) -> impl Iterator<Item = NameAddr<'a>> + '_ {
        self.header_values(HeaderName::RecordRoute)
            .filter_map(|v| NameAddr::parse(v).ok())
    }
    pub fn user_agent(&self) -> Option<&'a str> {
        self.header(HeaderName::UserAgent)
    }
    pub fn server(&self) -> Option<&'a str> {
        self.header(HeaderName::Server)
    }
    /// First Authorization header, parsed on demand.
    pub fn authorization(&self) -> Option<Result<Auth<'a>, ValueError>> {
        self.header(HeaderName::Authorization).map(Auth::parse)
    }
    pub fn proxy_authorization(&self) -> Option<Result<Auth<'a>, ValueError>> {
        self.header(HeaderName::ProxyAuthorization).map(Auth::parse)
    }
    pub fn www_authenticate(&self) -> Option<Result<Auth<'a>, ValueError>> {
        self.header(HeaderName::WwwAuthenticate).map(Auth::parse)
    }
    pub fn proxy_authenticate(&self) -> Option<Result<Auth<'a>, ValueError>> {
        self.header(HeaderName::ProxyAuthenticate).map(Auth::parse)
    }
    /// Every credentials/challenge line of one of the four auth headers.
    pub fn auths(
        &self,
        name: HeaderName,
    ) -> impl Iterator<Item = Result<Auth<'a>, ValueError>> + '_ {
        self.header_all(name).map(Auth::parse)
    }
    pub fn p_asserted_identity(
        &self,
    ) -> impl Iterator<Item = Result<NameAddr<'a>, ValueError>> + '_ {
        self.header_values(HeaderName::PAssertedIdentity)
            .map(NameAddr::parse)
    }
    pub fn diversion(&self) -> impl Iterator<Item = Result<NameAddr<'a>, ValueError>> + '_ {
        self.header_values(HeaderName::Diversion)
            .map(NameAddr::parse)
    }
    /// Expires in seconds (`Err` for non-numbers and values above 2^32-1, flagged as `BadExpires`).
    pub fn expires(&self) -> Option<Result<u32, ValueError>> {
        self.header(HeaderName::Expires)
            .map(|v| value::parse_bounded(v, u64::from(u32::MAX)).map(|n| n as u32))
    }

    // ----- body, bytes, flags -----

    pub fn body(&self) -> &'a [u8] {
        self.body
    }
    /// The whole message as framed (start line to the end of the Content-Length body).
    pub fn as_bytes(&self) -> &'a [u8] {
        self.raw
    }
    pub fn anomalies(&self) -> Anomalies {
        self.anomalies
    }

    /// Server transaction key from the top Via and CSeq (None without an RFC 3261 branch).
    pub fn transaction_key(&self) -> Option<TransactionKey<'a>> {
        let v = self.top_via.as_ref()?;
        if !v.has_rfc3261_branch() {
            return None;
        }
        Some(TransactionKey {
            branch: v.branch()?,
            sent_by: v.sent_by(),
            method: self.cseq?.method,
        })
    }
    pub fn dialog_id(&self) -> Option<DialogId<'a>> {
        Some(DialogId {
            call_id: self.call_id?,
            from_tag: self.from_tag(),
            to_tag: self.to_tag(),
        })
    }
}

fn bad(header: HeaderName, line: u16) -> impl Fn(ValueError) -> ParseError {
    move |reason| ParseError::BadHeader {
        header: header.as_str(),
        line: usize::from(line),
        reason,
    }
}

fn parse_start_line(line: &str) -> Result<StartLine<'_>, ParseError> {
    let b = line.as_bytes();
    if b.len() >= 4 && b[..4].eq_ignore_ascii_case(b"SIP/") {
        let sp = chars::find_byte(b' ', b).ok_or(ParseError::BadStartLine)?;
        check_version(&line[..sp])?;
        let rest = &line[sp + 1..];
        let rb = rest.as_bytes();
        if rb.first() == Some(&b' ') {
            return Err(ParseError::StartLineWhitespace);
        }
        let n = rb.iter().take_while(|c| c.is_ascii_digit()).count();
        if n != 3 || !matches!(rb.get(3), None | Some(b' ')) {
            return Err(ParseError::BadStatusCode);
        }
        let code = rest[..3]
            .parse::<u16>()
            .map_err(|_| ParseError::BadStatusCode)?;
        if !(100..=699).contains(&code) {
            return Err(ParseError::BadStatusCode);
        }
        let reason = rest.get(4..).unwrap_or("");
        return Ok(StartLine::Response(StatusLine { code, reason }));
    }
    let sp1 = chars::find_byte(b' ', b).ok_or(ParseError::BadStartLine)?;
    let method = &line[..sp1];
    if method.is_empty() || !method.bytes().all(|c| TOKEN[c as usize]) {
        return Err(ParseError::BadMethod);
    }
    // The version is the last few bytes: a short backward loop beats a memrchr call.
    let sp2 = b
        .iter()
        .rposition(|&c| c == b' ')
        .ok_or(ParseError::BadStartLine)?;
    if sp2 == sp1 {
        return Err(ParseError::BadStartLine);
    }
    let uri = &line[sp1 + 1..sp2];
    let version = &line[sp2 + 1..];
    if version.is_empty() || uri.starts_with(' ') || uri.ends_with(' ') {
        return Err(ParseError::StartLineWhitespace);
    }
    check_version(version)?;
    if uri.starts_with('<') {
        return Err(ParseError::RequestUriInAngleBrackets);
    }
    let parsed = Uri::parse(uri).map_err(ParseError::BadRequestUri)?;
    if parsed.as_sip().is_some_and(|s| s.headers().is_some()) {
        return Err(ParseError::RequestUriWithHeaders);
    }
    Ok(StartLine::Request(RequestLine {
        method: Method::parse(method),
        uri: parsed,
    }))
}

fn check_version(v: &str) -> Result<(), ParseError> {
    let b = v.as_bytes();
    if b.len() < 5 || !b[..4].eq_ignore_ascii_case(b"SIP/") {
        return Err(ParseError::BadStartLine);
    }
    if &b[4..] == b"2.0" {
        Ok(())
    } else if b[4..].iter().all(|c| c.is_ascii_digit() || *c == b'.') {
        Err(ParseError::UnsupportedVersion)
    } else {
        Err(ParseError::BadStartLine)
    }
}

/// Index of the first byte at or after `from` that is below 0x20 or DEL (line ends, HT, other controls), or
/// `s.len()`. One pass finds both the end of a header line and any control byte in it. SWAR, eight bytes at
/// a time: `x - 0x20..` borrows out of exactly the bytes below 0x20, and the lowest flagged byte of a word is
/// always exact (a borrow only runs towards higher bytes), which is the one taken.
#[inline]
fn next_special(s: &[u8], from: usize) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    #[inline(always)]
    fn flags(w: &[u8]) -> u64 {
        // Always 8 bytes by construction; the fallback only avoids a panic path.
        let x = <[u8; 8]>::try_from(w).map_or(0x2020_2020_2020_2020, u64::from_le_bytes);
        let lt = x.wrapping_sub(0x20 * ONES) & !x & HIGH;
        let y = x ^ (0x7f * ONES);
        lt | (y.wrapping_sub(ONES) & !y & HIGH)
    }
    let mut i = from;
    // Header lines are 20-80 bytes: two words per step, one branch.
    while let Some(w) = s.get(i..i + 16) {
        let (lo, hi) = w.split_at(8);
        let (a, b) = (flags(lo), flags(hi));
        if (a | b) != 0 {
            return i + if a != 0 {
                (a.trailing_zeros() / 8) as usize
            } else {
                8 + (b.trailing_zeros() / 8) as usize
            };
        }
        i += 16;
    }
    if let Some(w) = s.get(i..i + 8) {
        let hit = flags(w);
        if hit != 0 {
            return i + (hit.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while let Some(&c) = s.get(i) {
        if c < 0x20 || c == 0x7f {
            return i;
        }
        i += 1;
    }
    s.len()
}

/// True when `s` holds a control byte other than HT, CR and LF (the reference the line scan is tested by).
#[cfg(test)]
fn has_ctl(s: &[u8]) -> bool {
    let mut i = 0;
    loop {
        let p = next_special(s, i);
        match s.get(p) {
            None => return false,
            Some(b'\t' | b'\r' | b'\n') => i = p + 1,
            Some(_) => return true,
        }
    }
}

fn first_ctl(s: &[u8]) -> u8 {
    s.iter()
        .copied()
        .find(|&c| chars::is_ctl(c) && c != b'\r' && c != b'\n')
        .unwrap_or(0)
}

/// Parses the start line and headers; with `datagram`, also frames the body (done here so that the large
/// message is built once in place instead of being moved through several `Result`s).
#[inline]
fn parse_head<'a>(b: &'a [u8], limits: &Limits, datagram: bool) -> Result<Message<'a>, ParseError> {
    // The ~1.8 KB message is built inside the very `Result` that is returned (one return place, no move of
    // a finished message into an `Ok`), and filled in place.
    let mut out = Ok(Message {
        raw: b,
        start_text: "",
        hdr_text: "",
        hdr_base: 0,
        head_len: 0,
        body: &[],
        start: StartLine::Response(StatusLine {
            code: 0,
            reason: "",
        }),
        entries: [Entry::UNUSED; HEADER_CAPACITY],
        count: 0,
        first: [0u8; KNOWN],
        top_via: None,
        via_count: 0,
        contact: None,
        contact_count: 0,
        from: None,
        to: None,
        call_id: None,
        cseq: None,
        max_forwards: None,
        content_length: None,
        anomalies: Anomalies::default(),
    });
    if let Ok(m) = &mut out
        && let Err(e) = fill_head(m, b, limits, datagram)
    {
        out = Err(e);
    }
    out
}

fn fill_head<'a>(
    m: &mut Message<'a>,
    b: &'a [u8],
    limits: &Limits,
    datagram: bool,
) -> Result<(), ParseError> {
    let max_line = limits.max_line;
    match b.first() {
        None => return Err(ParseError::Empty),
        Some(b' ' | b'\t' | b'\r' | b'\n') => return Err(ParseError::LeadingWhitespace),
        _ => {}
    }
    // Start line.
    let lf = memchr::memchr(b'\n', b).ok_or(ParseError::Unterminated)?;
    if lf == 0 || b[lf - 1] != b'\r' {
        return Err(ParseError::BareLf { line: 1 });
    }
    let sl = &b[..lf - 1];
    if sl.len() > max_line {
        return Err(ParseError::LineTooLong {
            line: 1,
            max: max_line,
        });
    }
    let mut k = next_special(sl, 0);
    while sl.get(k) == Some(&b'\t') {
        k = next_special(sl, k + 1);
    }
    if let Some(&c) = sl.get(k) {
        return Err(if c == b'\r' {
            ParseError::BareCr { line: 1 }
        } else {
            ParseError::ControlCharacter { line: 1, byte: c }
        });
    }
    let start_text = std::str::from_utf8(sl).map_err(|_| ParseError::InvalidUtf8)?;
    let start = parse_start_line(start_text)?;

    // Header lines, indexed straight into the message (built once, in place).
    let max_headers = limits.max_headers.min(HEADER_CAPACITY);
    let hdr_base = lf + 1;
    m.start_text = start_text;
    m.hdr_base = hdr_base;
    m.start = start;
    let mut count = 0usize;
    let mut pos = hdr_base;
    let mut line = 2usize;
    let mut unterminated = false;
    let head_end;
    loop {
        let Some(&c) = b.get(pos) else {
            unterminated = true;
            head_end = b.len();
            break;
        };
        match c {
            b'\r' => {
                if b.get(pos + 1) == Some(&b'\n') {
                    head_end = pos + 2;
                    break;
                }
                if pos + 1 == b.len() {
                    unterminated = true;
                    head_end = b.len();
                    break;
                }
                return Err(ParseError::BareCr { line });
            }
            b'\n' => return Err(ParseError::BareLf { line }),
            b' ' | b'\t' => return Err(ParseError::UnexpectedFold { line }),
            _ => {}
        }
        let this_line = line;
        let ns = pos;
        let nlen = chars::run(b, pos, &TOKEN);
        if nlen == 0 {
            return Err(ParseError::BadHeaderName { line });
        }
        let mut i = pos + nlen;
        while matches!(b.get(i), Some(b' ' | b'\t')) {
            i += 1;
        }
        if b.get(i) != Some(&b':') {
            return Err(ParseError::MissingColon { line });
        }
        i += 1;
        let vs_raw = i;
        let mut folds = 0usize;
        let mut j = i;
        let mut ctl = false;
        let (ve_raw, le) = loop {
            let p = next_special(b, j);
            match b.get(p) {
                None => {
                    unterminated = true;
                    break (b.len(), b.len());
                }
                Some(b'\t') => j = p + 1,
                Some(b'\n') => return Err(ParseError::BareLf { line }),
                Some(b'\r') => {
                    match b.get(p + 1) {
                        Some(b'\n') => {}
                        None => {
                            unterminated = true;
                            break (p, b.len());
                        }
                        Some(_) => return Err(ParseError::BareCr { line }),
                    }
                    line += 1;
                    if matches!(b.get(p + 2), Some(b' ' | b'\t')) {
                        folds += 1;
                        if folds > limits.max_folds {
                            return Err(ParseError::TooManyFoldedLines {
                                line: this_line,
                                max: limits.max_folds,
                            });
                        }
                        j = p + 2;
                        continue;
                    }
                    break (p, p + 2);
                }
                Some(_) => {
                    // A control byte: judged once the whole line is known (line-end errors come first).
                    ctl = true;
                    j = p + 1;
                }
            }
        };
        if le - ns > max_line {
            return Err(ParseError::LineTooLong {
                line: this_line,
                max: max_line,
            });
        }
        let name = HeaderName::parse(&b[ns..ns + nlen]);
        let raw_value = &b[vs_raw..ve_raw];
        if ctl {
            let strict = matches!(
                name,
                HeaderName::CallId
                    | HeaderName::CSeq
                    | HeaderName::MaxForwards
                    | HeaderName::ContentLength
                    | HeaderName::Via
            );
            if strict || !chars::controls_only_escaped(raw_value) {
                return Err(ParseError::ControlCharacter {
                    line: this_line,
                    byte: first_ctl(raw_value),
                });
            }
        }
        let mut vs = vs_raw;
        let mut ve = ve_raw;
        while vs < ve && chars::is_lws(b[vs]) {
            vs += 1;
        }
        while ve > vs && chars::is_lws(b[ve - 1]) {
            ve -= 1;
        }
        if count >= max_headers {
            return Err(ParseError::TooManyHeaders { max: max_headers });
        }
        // Offsets fit: the caller bounded the buffer to MAX_MESSAGE.
        let off = |x: usize| u16::try_from(x).unwrap_or(u16::MAX);
        m.entries[count] = Entry {
            name,
            line: off(this_line),
            ns: off(ns),
            ne: off(ns + nlen),
            vs: off(vs),
            ve: off(ve),
            le: off(le),
        };
        if name != HeaderName::Other && m.first[name as usize] == 0 {
            m.first[name as usize] = (count + 1) as u8;
        }
        count += 1;
        pos = le;
    }
    m.hdr_text =
        std::str::from_utf8(&b[hdr_base..head_end]).map_err(|_| ParseError::InvalidUtf8)?;
    m.count = count;
    m.head_len = head_end;
    m.validate(limits)?;
    if unterminated {
        return Err(ParseError::Unterminated);
    }
    if datagram {
        m.finish(Framing::Datagram)?;
    }
    Ok(())
}

impl<'a> Message<'a> {
    /// Eager grammar checks of the headers a guard decides on, in message order, and the flags.
    fn validate(&mut self, limits: &Limits) -> Result<(), ParseError> {
        let mut seen_single = [false; 6];
        for k in 0..self.count {
            let e = self.entries[k];
            let v = self.text(e.vs, e.ve);
            let err = bad(e.name, e.line);
            let single_slot = match e.name {
                HeaderName::From => Some(0),
                HeaderName::To => Some(1),
                HeaderName::CallId => Some(2),
                HeaderName::CSeq => Some(3),
                HeaderName::MaxForwards => Some(4),
                _ => None,
            };
            if let Some(s) = single_slot {
                if seen_single[s] {
                    self.anomalies.insert(Anomaly::DuplicateSingleValueHeader);
                }
                seen_single[s] = true;
            }
            match e.name {
                HeaderName::Via => {
                    for part in CommaSplit::new(v) {
                        self.via_count += 1;
                        if self.via_count > limits.max_vias {
                            return Err(ParseError::TooManyVias {
                                max: limits.max_vias,
                            });
                        }
                        let via = Via::parse(part).map_err(&err)?;
                        if self.top_via.is_none() {
                            self.top_via = Some(via);
                        }
                    }
                }
                HeaderName::From | HeaderName::To => {
                    let na = NameAddr::parse(v).map_err(&err)?;
                    let slot = if e.name == HeaderName::From {
                        &mut self.from
                    } else {
                        &mut self.to
                    };
                    if slot.is_none() {
                        *slot = Some(na);
                    }
                }
                HeaderName::CallId => {
                    let id = value::check_call_id(v).map_err(&err)?;
                    self.call_id.get_or_insert(id);
                }
                HeaderName::CSeq => {
                    let c = CSeq::parse(v).map_err(&err)?;
                    self.cseq.get_or_insert(c);
                }
                HeaderName::MaxForwards => {
                    let n = value::parse_bounded(v, 255).map_err(&err)?;
                    self.max_forwards.get_or_insert(n as u8);
                }
                HeaderName::ContentLength => {
                    let n = value::parse_bounded(v, u64::from(u32::MAX)).map_err(&err)? as u32;
                    match self.content_length {
                        None => self.content_length = Some(n),
                        Some(prev) if prev == n => {
                            self.anomalies.insert(Anomaly::DuplicateContentLength)
                        }
                        Some(_) => self.anomalies.insert(Anomaly::ConflictingContentLength),
                    }
                }
                HeaderName::Contact => {
                    for part in CommaSplit::new(v) {
                        let c = Contact::parse(part).map_err(&err)?;
                        self.contact_count += 1;
                        self.contact.get_or_insert(c);
                    }
                }
                HeaderName::Route | HeaderName::RecordRoute => {
                    for part in CommaSplit::new(v) {
                        NameAddr::parse(part).map_err(&err)?;
                    }
                }
                HeaderName::Date => value::check_date(v).map_err(&err)?,
                HeaderName::Expires if value::parse_bounded(v, u64::from(u32::MAX)).is_err() => {
                    self.anomalies.insert(Anomaly::BadExpires);
                }
                _ => {}
            }
        }
        let request = match self.start {
            StartLine::Request(r) => Some(r),
            StartLine::Response(_) => None,
        };
        if let (Some(r), Some(c)) = (request, self.cseq)
            && r.method != c.method
        {
            return Err(ParseError::CSeqMethodMismatch);
        }
        let missing = self.from.is_none()
            || self.to.is_none()
            || self.call_id.is_none()
            || self.cseq.is_none()
            || self.top_via.is_none()
            || (request.is_some() && self.max_forwards.is_none());
        if missing {
            self.anomalies.insert(Anomaly::MissingMandatoryHeader);
        }
        if let Some(r) = request {
            if self.max_forwards == Some(0) {
                self.anomalies.insert(Anomaly::MaxForwardsExhausted);
            }
            if !r.uri.is_supported() {
                self.anomalies.insert(Anomaly::UnsupportedUriScheme);
            }
        }
        if let Some(v) = &self.top_via {
            match v.branch() {
                None => self.anomalies.insert(Anomaly::MissingBranch),
                Some(b) if b == value::MAGIC_COOKIE => {
                    self.anomalies.insert(Anomaly::BareMagicCookie)
                }
                Some(b) if !b.starts_with(value::MAGIC_COOKIE) => {
                    self.anomalies.insert(Anomaly::NoMagicCookie)
                }
                Some(_) => {}
            }
        }
        Ok(())
    }
}

/// True for a datagram that is only CRLFs (an RFC 5626 keep-alive ping), which is not a message.
pub fn is_keepalive(datagram: &[u8]) -> bool {
    !datagram.is_empty() && datagram.iter().all(|c| matches!(c, b'\r' | b'\n'))
}

#[cfg(test)]
mod tests {
    use super::*;

    const INVITE: &[u8] = b"INVITE sip:bob@example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP pc33.example.com;branch=z9hG4bK776asdhds\r\n\
Max-Forwards: 70\r\n\
To: Bob <sip:bob@example.com>\r\n\
From: Alice <sip:alice@example.com>;tag=1928301774\r\n\
Call-ID: a84b4c76e66710@pc33.example.com\r\n\
CSeq: 314159 INVITE\r\n\
Contact: <sip:alice@pc33.example.com>\r\n\
Content-Type: application/sdp\r\n\
Content-Length: 4\r\n\
\r\n\
v=0\n";

    #[test]
    fn parses_basic_invite() {
        let m = Message::parse(INVITE).unwrap();
        assert_eq!(m.method(), Some(Method::Invite));
        assert_eq!(m.request_uri().unwrap().as_str(), "sip:bob@example.com");
        assert_eq!(m.top_via().unwrap().branch(), Some("z9hG4bK776asdhds"));
        assert_eq!(m.from_tag(), Some("1928301774"));
        assert_eq!(m.to_tag(), None);
        assert_eq!(m.call_id(), Some("a84b4c76e66710@pc33.example.com"));
        assert_eq!(m.cseq().unwrap().seq, 314159);
        assert_eq!(m.max_forwards(), Some(70));
        assert_eq!(m.body(), b"v=0\n");
        assert!(m.anomalies().is_empty(), "{:?}", m.anomalies());
        assert_eq!(m.header(HeaderName::ContentType), Some("application/sdp"));
        let k = m.transaction_key().unwrap();
        assert_eq!(
            (k.branch, k.sent_by, k.method),
            ("z9hG4bK776asdhds", "pc33.example.com", Method::Invite)
        );
    }

    #[test]
    fn rejects_bare_lf_and_controls() {
        let lf = String::from_utf8_lossy(INVITE).replace("\r\n", "\n");
        assert_eq!(
            Message::parse(lf.as_bytes()).unwrap_err(),
            ParseError::BareLf { line: 1 }
        );
        let nul = String::from_utf8_lossy(INVITE).replace("a84b4c76", "a84b\x004c76");
        assert!(matches!(
            Message::parse(nul.as_bytes()),
            Err(ParseError::ControlCharacter { line: 6, byte: 0 })
        ));
        let mut lead = b"\r\n".to_vec();
        lead.extend_from_slice(INVITE);
        assert_eq!(
            Message::parse(&lead).unwrap_err(),
            ParseError::LeadingWhitespace
        );
    }

    #[test]
    fn limits_are_enforced() {
        let l = Limits {
            max_headers: 3,
            ..Limits::default()
        };
        assert_eq!(
            Message::parse_with(INVITE, &l).unwrap_err(),
            ParseError::TooManyHeaders { max: 3 }
        );
        let l = Limits {
            max_line: 20,
            ..Limits::default()
        };
        assert!(matches!(
            Message::parse_with(INVITE, &l),
            Err(ParseError::LineTooLong { .. })
        ));
        let l = Limits {
            max_message: 100,
            ..Limits::default()
        };
        assert!(matches!(
            Message::parse_with(INVITE, &l),
            Err(ParseError::TooLarge { .. })
        ));
        let l = Limits {
            max_vias: 0,
            ..Limits::default()
        };
        assert_eq!(
            Message::parse_with(INVITE, &l).unwrap_err(),
            ParseError::TooManyVias { max: 0 }
        );
    }

    #[test]
    fn control_check_finds_every_control_at_every_position() {
        for len in 1..20 {
            for pos in 0..len {
                for c in (0u8..0x20).chain([0x7f, 0x80, 0xff, b' ', b'~']) {
                    let mut v = vec![b'a'; len];
                    v[pos] = c;
                    let expect = (c < 0x20 && !matches!(c, b'\t' | b'\r' | b'\n')) || c == 0x7f;
                    assert_eq!(has_ctl(&v), expect, "len {len} pos {pos} byte {c:#x}");
                }
            }
        }
        assert!(!has_ctl("üñí€ text\twith tab".as_bytes()));
    }

    #[test]
    fn keepalive() {
        assert!(is_keepalive(b"\r\n\r\n"));
        assert!(!is_keepalive(b""));
        assert!(!is_keepalive(INVITE));
    }
}
