//! Editing for forwarding and building responses, written into a caller-provided `Vec<u8>` so that a proxy
//! can reuse one output buffer. Only the lines an edit names change; every other byte (header order, case,
//! folding, body) is copied as received. Values given by the caller are checked for CR/LF so that an edit can
//! never inject a header.

use std::io::Write;

use thiserror::Error;

use crate::chars::CommaSplit;
use crate::header::HeaderName;
use crate::message::{Entry, HEADER_CAPACITY, Message};

/// Why an edit or a response could not be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum EditError {
    #[error("value contains CR, LF or another control character")]
    BadValue,
    #[error("more than {0} header edits")]
    TooManyEdits(usize),
    #[error("Max-Forwards is already 0: answer 483 instead of forwarding")]
    MaxForwardsExhausted,
    #[error("this edit applies to requests only")]
    NotARequest,
    #[error("the response would have more than {0} header lines (the request's Vias are copied)")]
    TooManyHeaders(usize),
}

const MAX_EDITS: usize = 8;

#[derive(Debug, Clone, Copy)]
enum Op<'e> {
    Replace(&'e str, &'e str),
    Remove(&'e str),
    Add(&'e str, &'e str),
}

fn clean(v: &str) -> Result<&str, EditError> {
    if has_control(v.as_bytes()) {
        Err(EditError::BadValue)
    } else {
        Ok(v)
    }
}

/// A control byte other than tab (a header value may not carry one).
fn has_control(b: &[u8]) -> bool {
    b.iter().any(|&c| c < 0x20 && c != b'\t' || c == 0x7f)
}

/// [`clean`] for the values the guard adds to every message (its Via, Record-Route): eight bytes at a
/// time, and byte by byte only in a word that holds a control byte or a tab.
fn clean_fast(v: &str) -> Result<&str, EditError> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let b = v.as_bytes();
    let mut i = 0;
    while let Some(w) = b.get(i..i + 8) {
        let Ok(arr) = <[u8; 8]>::try_from(w) else {
            break;
        };
        let x = u64::from_le_bytes(arr);
        // A byte below 0x20 (the borrow flags it, and never a byte of 0x80 or more), or 0x7f.
        let low = x.wrapping_sub(ONES * 0x20) & !x & HIGH;
        let y = x ^ (ONES * 0x7f);
        let del = y.wrapping_sub(ONES) & !y & HIGH;
        if low | del != 0 && has_control(w) {
            return Err(EditError::BadValue);
        }
        i += 8;
    }
    if has_control(b.get(i..).unwrap_or(&[])) {
        return Err(EditError::BadValue);
    }
    Ok(v)
}

/// A set of forwarding edits over a parsed message.
#[derive(Debug, Clone)]
pub struct Forward<'m, 'a, 'e> {
    msg: &'m Message<'a>,
    request_uri: Option<&'e str>,
    push_via: Option<&'e str>,
    pop_via: bool,
    record_route: Option<&'e str>,
    decrement_max_forwards: bool,
    fix_content_length: bool,
    ops: [Option<Op<'e>>; MAX_EDITS],
    n_ops: usize,
    error: Option<EditError>,
}

impl<'m, 'a, 'e> Forward<'m, 'a, 'e> {
    pub fn new(msg: &'m Message<'a>) -> Self {
        Forward {
            msg,
            request_uri: None,
            push_via: None,
            pop_via: false,
            record_route: None,
            decrement_max_forwards: false,
            fix_content_length: false,
            ops: [None; MAX_EDITS],
            n_ops: 0,
            error: None,
        }
    }
    fn note(&mut self, r: Result<&'e str, EditError>) -> Option<&'e str> {
        match r {
            Ok(v) => Some(v),
            Err(e) => {
                self.error.get_or_insert(e);
                None
            }
        }
    }
    /// Adds a Via on top; `value` is the via-parm, e.g. `SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK...`.
    pub fn push_via(mut self, value: &'e str) -> Self {
        self.push_via = self.note(clean_fast(value));
        self
    }
    /// Removes the topmost Via entry (only that element when the line holds several).
    pub fn pop_via(mut self) -> Self {
        self.pop_via = true;
        self
    }
    /// Adds a Record-Route on top; `value` is e.g. `<sip:192.0.2.1;lr>`.
    pub fn record_route(mut self, value: &'e str) -> Self {
        self.record_route = self.note(clean_fast(value));
        self
    }
    pub fn request_uri(mut self, uri: &'e str) -> Self {
        if uri.contains(' ') {
            self.error.get_or_insert(EditError::BadValue);
        }
        self.request_uri = self.note(clean(uri));
        self
    }
    /// Decrements Max-Forwards (adds `Max-Forwards: 70` when absent, as RFC 3261 section 16.6 says).
    pub fn decrement_max_forwards(mut self) -> Self {
        self.decrement_max_forwards = true;
        self
    }
    /// Writes one Content-Length with the real body length (replacing all present ones, adding if absent).
    pub fn fix_content_length(mut self) -> Self {
        self.fix_content_length = true;
        self
    }
    fn push_op(mut self, op: Op<'e>) -> Self {
        match self.ops.get_mut(self.n_ops) {
            Some(slot) => {
                *slot = Some(op);
                self.n_ops += 1;
            }
            None => {
                self.error.get_or_insert(EditError::TooManyEdits(MAX_EDITS));
            }
        }
        self
    }
    /// Replaces every line of header `name` (any form, any case) with one `name: value` at the first one.
    pub fn replace_header(mut self, name: &'e str, value: &'e str) -> Self {
        match (clean(name), clean(value)) {
            (Ok(n), Ok(v)) => self.push_op(Op::Replace(n, v)),
            _ => {
                self.error.get_or_insert(EditError::BadValue);
                self
            }
        }
    }
    pub fn remove_header(self, name: &'e str) -> Self {
        self.push_op(Op::Remove(name))
    }
    /// Appends a header line after the existing ones.
    pub fn add_header(mut self, name: &'e str, value: &'e str) -> Self {
        match (clean(name), clean(value)) {
            (Ok(n), Ok(v)) => self.push_op(Op::Add(n, v)),
            _ => {
                self.error.get_or_insert(EditError::BadValue);
                self
            }
        }
    }

    /// The kind of header each edit names (parsed once per message, not once per header line).
    fn op_kinds(&self) -> [HeaderName; MAX_EDITS] {
        let mut kinds = [HeaderName::Other; MAX_EDITS];
        for (k, op) in kinds.iter_mut().zip(&self.ops) {
            if let Some(Op::Replace(n, _) | Op::Remove(n)) = op {
                *k = HeaderName::parse(n.as_bytes());
            }
        }
        kinds
    }

    fn op_for(
        &self,
        kinds: &[HeaderName; MAX_EDITS],
        e: &Entry,
        name_text: &str,
    ) -> Option<Op<'e>> {
        if self.n_ops == 0 {
            return None;
        }
        self.ops
            .iter()
            .zip(kinds)
            .take(self.n_ops)
            .filter_map(|(op, &kind)| op.map(|op| (op, kind)))
            .find(|&(op, kind)| {
                let n = match op {
                    Op::Replace(n, _) | Op::Remove(n) => n,
                    Op::Add(..) => return false,
                };
                if kind == HeaderName::Other {
                    name_text.eq_ignore_ascii_case(n)
                } else {
                    kind == e.name
                }
            })
            .map(|(op, _)| op)
    }

    /// Appends the edited message to `out` (which the caller clears and reuses).
    pub fn write_to(&self, out: &mut Vec<u8>) -> Result<(), EditError> {
        if let Some(e) = self.error {
            return Err(e);
        }
        let m = self.msg;
        let raw = m.as_bytes();
        if self.request_uri.is_some() && !m.is_request() {
            return Err(EditError::NotARequest);
        }
        let mf_value = if self.decrement_max_forwards && m.is_request() {
            match m.max_forwards() {
                Some(0) => return Err(EditError::MaxForwardsExhausted),
                Some(n) => Some(n - 1),
                None => None,
            }
        } else {
            None
        };
        match (self.request_uri, m.method()) {
            (Some(uri), Some(method)) => {
                out.extend_from_slice(method.as_str().as_bytes());
                out.push(b' ');
                out.extend_from_slice(uri.as_bytes());
                out.extend_from_slice(b" SIP/2.0\r\n");
            }
            _ => out.extend_from_slice(raw.get(..m.start_line_len()).unwrap_or(&[])),
        }
        if let Some(v) = self.push_via {
            line(out, "Via", v);
        }
        if let Some(rr) = self.record_route {
            line(out, "Record-Route", rr);
        }
        let mut via_popped = !self.pop_via;
        let mut mf_done = false;
        let mut cl_done = false;
        let mut replaced = [false; MAX_EDITS];
        let kinds = self.op_kinds();
        // Header lines passed on as they are go out in runs: one copy per run of adjacent lines, not per line.
        let mut run = 0..0;
        for e in m.entries() {
            let (ns, le) = (usize::from(e.ns), usize::from(e.le));
            let (name_text, value) = m.entry_text(e);
            if let Some(op) = self.op_for(&kinds, e, name_text) {
                flush(out, raw, &mut run);
                if let Op::Replace(n, v) = op {
                    let idx = self
                        .ops
                        .iter()
                        .position(|o| matches!(o, Some(Op::Replace(a, _)) if *a == n))
                        .unwrap_or(0);
                    if !replaced[idx] {
                        replaced[idx] = true;
                        line(out, n, v);
                    }
                }
                continue;
            }
            match e.name {
                HeaderName::Via if !via_popped => {
                    flush(out, raw, &mut run);
                    via_popped = true;
                    let mut parts = CommaSplit::new(value);
                    parts.next();
                    if let Some(rest_at) = parts
                        .next()
                        .map(|p| p.as_ptr() as usize - value.as_ptr() as usize)
                    {
                        line(out, name_text, value.get(rest_at..).unwrap_or(""));
                    }
                }
                HeaderName::MaxForwards if mf_value.is_some() => {
                    flush(out, raw, &mut run);
                    if !mf_done {
                        mf_done = true;
                        number_line(out, name_text, mf_value.unwrap_or(0).into());
                    }
                }
                HeaderName::ContentLength if self.fix_content_length => {
                    flush(out, raw, &mut run);
                    if !cl_done {
                        cl_done = true;
                        number_line(out, name_text, m.body().len() as u64);
                    }
                }
                _ if run.end == ns && run.start < run.end => run.end = le,
                _ => {
                    flush(out, raw, &mut run);
                    run = ns..le;
                }
            }
        }
        flush(out, raw, &mut run);
        if self.decrement_max_forwards && m.is_request() && m.max_forwards().is_none() {
            out.extend_from_slice(b"Max-Forwards: 70\r\n");
        }
        if self.fix_content_length && !cl_done {
            number_line(out, "Content-Length", m.body().len() as u64);
        }
        for op in self.ops.iter().take(self.n_ops).flatten() {
            if let Op::Add(n, v) = op {
                line(out, n, v);
            }
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(m.body());
        Ok(())
    }
}

/// Copies a run of header lines passed on unchanged, and empties it.
fn flush(out: &mut Vec<u8>, raw: &[u8], run: &mut std::ops::Range<usize>) {
    if run.start < run.end {
        out.extend_from_slice(raw.get(run.clone()).unwrap_or(&[]));
        *run = 0..0;
    }
}

/// `name: n` and CRLF, without the formatting machinery (Max-Forwards and Content-Length of every message).
fn number_line(out: &mut Vec<u8>, name: &str, n: u64) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    push_decimal(out, n);
    out.extend_from_slice(b"\r\n");
}

/// Appends `n` in decimal.
pub(crate) fn push_decimal(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

fn line(out: &mut Vec<u8>, name: &str, value: &str) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value.as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// Writes `text` as the inside of a quoted string: quotes and backslashes escaped, controls replaced.
fn quoted(out: &mut Vec<u8>, text: &str) {
    out.push(b'"');
    for &c in text.as_bytes() {
        match c {
            b'"' | b'\\' => {
                out.push(b'\\');
                out.push(c);
            }
            c if c < 0x20 || c == 0x7f => out.push(b' '),
            c => out.push(c),
        }
    }
    out.push(b'"');
}

/// Standard reason phrase of a status code.
pub fn reason_phrase(code: u16) -> &'static str {
    match code {
        100 => "Trying",
        180 => "Ringing",
        183 => "Session Progress",
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        413 => "Request Entity Too Large",
        415 => "Unsupported Media Type",
        416 => "Unsupported URI Scheme",
        420 => "Bad Extension",
        480 => "Temporarily Unavailable",
        481 => "Call/Transaction Does Not Exist",
        482 => "Loop Detected",
        483 => "Too Many Hops",
        484 => "Address Incomplete",
        486 => "Busy Here",
        487 => "Request Terminated",
        488 => "Not Acceptable Here",
        500 => "Server Internal Error",
        503 => "Service Unavailable",
        505 => "Version Not Supported",
        513 => "Message Too Large",
        603 => "Decline",
        604 => "Does Not Exist Anywhere",
        _ => "Unknown",
    }
}

/// A response to a parsed request: Via, From, To (with a tag added when asked), Call-ID and CSeq copied as
/// received, plus a Reason and/or Warning header saying why in words.
#[derive(Debug, Clone)]
pub struct ResponseBuilder<'m, 'a, 'e> {
    req: &'m Message<'a>,
    code: u16,
    reason: &'e str,
    to_tag: Option<&'e str>,
    warning: Option<(&'e str, &'e str)>,
    reason_text: Option<&'e str>,
    extra: [Option<(&'e str, &'e str)>; 4],
}

impl<'m, 'a, 'e> ResponseBuilder<'m, 'a, 'e> {
    pub fn new(req: &'m Message<'a>, code: u16) -> Self {
        ResponseBuilder {
            req,
            code,
            reason: reason_phrase(code),
            to_tag: None,
            warning: None,
            reason_text: None,
            extra: [None; 4],
        }
    }
    pub fn reason_phrase(mut self, phrase: &'e str) -> Self {
        self.reason = phrase;
        self
    }
    /// Tag added to To when the request has none (never on 100 Trying, RFC 3261 section 8.2.6.2).
    pub fn to_tag(mut self, tag: &'e str) -> Self {
        self.to_tag = Some(tag);
        self
    }
    /// `Warning: 399 <agent> "<text>"`.
    pub fn warning(mut self, agent: &'e str, text: &'e str) -> Self {
        self.warning = Some((agent, text));
        self
    }
    /// `Reason: SIP ;cause=<code> ;text="<text>"` (RFC 3326).
    pub fn reason(mut self, text: &'e str) -> Self {
        self.reason_text = Some(text);
        self
    }
    /// Extra header (up to four), e.g. Proxy-Authenticate on a 407.
    pub fn header(mut self, name: &'e str, value: &'e str) -> Self {
        if let Some(slot) = self.extra.iter_mut().find(|s| s.is_none()) {
            *slot = Some((name, value));
        }
        self
    }

    pub fn write_to(&self, out: &mut Vec<u8>) -> Result<(), EditError> {
        let m = self.req;
        if !m.is_request() {
            return Err(EditError::NotARequest);
        }
        clean(self.reason)?;
        for (n, v) in self.extra.iter().flatten() {
            clean(n)?;
            clean(v)?;
        }
        if let Some(t) = self.to_tag
            && (t.is_empty() || !t.bytes().all(|c| crate::chars::TOKEN[c as usize]))
        {
            return Err(EditError::BadValue);
        }
        if let Some((a, _)) = self.warning {
            clean(a)?;
        }
        if self.header_lines() > HEADER_CAPACITY {
            // A request can carry up to HEADER_CAPACITY lines, nearly all of them Vias: copied with ours, they
            // would make a response that no parser of this crate (nor the peer's, likely) would read.
            return Err(EditError::TooManyHeaders(HEADER_CAPACITY));
        }
        out.extend_from_slice(b"SIP/2.0 ");
        push_decimal(out, self.code.into());
        out.push(b' ');
        out.extend_from_slice(self.reason.as_bytes());
        out.extend_from_slice(b"\r\n");
        let raw = m.as_bytes();
        for e in m.entries().iter().filter(|e| copied_to_response(e.name)) {
            let span = raw.get(usize::from(e.ns)..usize::from(e.le)).unwrap_or(&[]);
            match e.name {
                HeaderName::To => {
                    let add_tag = self.code > 100 && m.to_tag().is_none();
                    match self.to_tag.filter(|_| add_tag) {
                        Some(tag) => {
                            let value_end = usize::from(e.ve);
                            out.extend_from_slice(
                                raw.get(usize::from(e.ns)..value_end).unwrap_or(&[]),
                            );
                            out.extend_from_slice(b";tag=");
                            out.extend_from_slice(tag.as_bytes());
                            out.extend_from_slice(b"\r\n");
                        }
                        None => out.extend_from_slice(span),
                    }
                }
                _ => out.extend_from_slice(span),
            }
        }
        if let Some(text) = self.reason_text {
            let _ = write!(out, "Reason: SIP ;cause={} ;text=", self.code);
            quoted(out, text);
            out.extend_from_slice(b"\r\n");
        }
        if let Some((agent, text)) = self.warning {
            let _ = write!(out, "Warning: 399 {agent} ");
            quoted(out, text);
            out.extend_from_slice(b"\r\n");
        }
        for (n, v) in self.extra.iter().flatten() {
            line(out, n, v);
        }
        out.extend_from_slice(b"Content-Length: 0\r\n\r\n");
        Ok(())
    }

    /// Header lines the response would have: the request's Via, From, To, Call-ID and CSeq lines, Reason,
    /// Warning, the extra headers and Content-Length.
    fn header_lines(&self) -> usize {
        let copied = self
            .req
            .entries()
            .iter()
            .filter(|e| copied_to_response(e.name))
            .count();
        copied
            + usize::from(self.reason_text.is_some())
            + usize::from(self.warning.is_some())
            + self.extra.iter().flatten().count()
            + 1
    }
}

/// The request's headers a response copies (RFC 3261 section 8.2.6.2).
fn copied_to_response(name: HeaderName) -> bool {
    matches!(
        name,
        HeaderName::Via | HeaderName::From | HeaderName::To | HeaderName::CallId | HeaderName::CSeq
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const REQ: &[u8] = b"INVITE sip:+81312345678@pbx.example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP 203.0.113.9:5060;branch=z9hG4bKa1, SIP/2.0/UDP 10.0.0.2;branch=z9hG4bKb2\r\n\
Via: SIP/2.0/UDP 10.0.0.3;branch=z9hG4bKc3\r\n\
max-forwards: 7\r\n\
To: <sip:+81312345678@pbx.example.com>\r\n\
From: \"Alice\" <sip:alice@example.com>;tag=88\r\n\
Call-ID: c1\r\n\
CSeq: 2 INVITE\r\n\
X-Odd:  kept\r\n  folded\r\n\
Content-Length: 3\r\n\
\r\n\
abc";

    /// A request of 60 Via lines parses (64 lines at most); the response would copy them and add its own:
    /// refused, where writing it made a response that our own parser rejects (found by the fuzz target
    /// `parse_message`). With fewer Vias the response is written and parses.
    #[test]
    fn a_response_that_would_exceed_the_header_lines_is_refused() {
        let request = |vias: usize| {
            let mut r = b"OPTIONS sip:pbx.example.com SIP/2.0\r\n".to_vec();
            for i in 0..vias {
                r.extend_from_slice(
                    format!("Via: SIP/2.0/UDP 10.0.0.{i};branch=z9hG4bK{i}\r\n").as_bytes(),
                );
            }
            r.extend_from_slice(
                b"To: <sip:pbx.example.com>\r\nFrom: <sip:a@example.com>;tag=1\r\n\
Call-ID: c\r\nCSeq: 1 OPTIONS\r\n\r\n",
            );
            r
        };
        let big = request(60);
        let m = Message::parse(&big).expect("64 header lines parse");
        let mut out = Vec::new();
        let answer = ResponseBuilder::new(&m, 403)
            .to_tag("t")
            .reason("scanner")
            .warning("tollguard", "scanner")
            .write_to(&mut out);
        assert_eq!(answer, Err(EditError::TooManyHeaders(HEADER_CAPACITY)));
        assert!(out.is_empty(), "nothing written");
        let small = request(57);
        let m = Message::parse(&small).unwrap();
        ResponseBuilder::new(&m, 403)
            .to_tag("t")
            .reason("scanner")
            .warning("tollguard", "scanner")
            .write_to(&mut out)
            .expect("57 Vias and 7 more lines: 64");
        Message::parse(&out).expect("our own response parses");
    }

    #[test]
    fn forward_edits_touch_only_named_lines() {
        let m = Message::parse(REQ).unwrap();
        let mut out = Vec::new();
        Forward::new(&m)
            .pop_via()
            .push_via("SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKnew")
            .record_route("<sip:192.0.2.1;lr>")
            .decrement_max_forwards()
            .request_uri("sip:+81312345678@10.0.0.50")
            .write_to(&mut out)
            .unwrap();
        let text = String::from_utf8(out.clone()).unwrap();
        assert!(text.starts_with("INVITE sip:+81312345678@10.0.0.50 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKnew\r\nRecord-Route: <sip:192.0.2.1;lr>\r\nVia: SIP/2.0/UDP 10.0.0.2;branch=z9hG4bKb2\r\n"), "{text}");
        assert!(text.contains("max-forwards: 6\r\n"));
        assert!(text.contains("X-Odd:  kept\r\n  folded\r\n"));
        let again = Message::parse(&out).unwrap();
        assert_eq!(again.via_count(), 3);
        assert_eq!(again.top_via().unwrap().branch(), Some("z9hG4bKnew"));
        assert_eq!(again.body(), b"abc");
    }

    #[test]
    fn header_injection_is_refused() {
        let m = Message::parse(REQ).unwrap();
        let mut out = Vec::new();
        assert_eq!(
            Forward::new(&m).push_via("x\r\nEvil: 1").write_to(&mut out),
            Err(EditError::BadValue)
        );
        assert_eq!(
            Forward::new(&m)
                .replace_header("Subject", "a\nb")
                .write_to(&mut out),
            Err(EditError::BadValue)
        );
    }

    #[test]
    fn response_with_tag_and_reason() {
        let m = Message::parse(REQ).unwrap();
        let mut out = Vec::new();
        ResponseBuilder::new(&m, 403)
            .to_tag("tg1")
            .reason("premium-rate destination \"900\" blocked")
            .warning("tollguard", "rule premium: 12 calls in 60 s (limit 5)")
            .write_to(&mut out)
            .unwrap();
        let r = Message::parse(&out).unwrap();
        assert_eq!(r.status(), Some(403));
        assert_eq!(r.reason_phrase(), Some("Forbidden"));
        assert_eq!(r.to_tag(), Some("tg1"));
        assert_eq!(r.via_count(), 3);
        assert_eq!(r.cseq().unwrap().seq, 2);
        assert_eq!(
            r.header(HeaderName::Reason),
            Some("SIP ;cause=403 ;text=\"premium-rate destination \\\"900\\\" blocked\"")
        );
        assert!(
            r.header(HeaderName::Warning)
                .unwrap()
                .starts_with("399 tollguard \"rule premium")
        );
        let mut trying = Vec::new();
        ResponseBuilder::new(&m, 100)
            .to_tag("x")
            .write_to(&mut trying)
            .unwrap();
        assert_eq!(Message::parse(&trying).unwrap().to_tag(), None);
    }

    #[test]
    fn the_fast_control_check_agrees_with_the_byte_loop() {
        let mut samples = vec![
            "SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKtg0123456789abcdef".to_owned(),
            "a\tb c".to_owned(),
            "ünïcödé <sip:x@y>".to_owned(),
        ];
        for bad in [0u8, 1, 0x0a, 0x0d, 0x1f, 0x7f] {
            for at in [0, 5, 7, 8, 15, 16, 30] {
                let mut s: Vec<u8> = b"SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKx".to_vec();
                s.insert(at.min(s.len()), bad);
                samples.push(String::from_utf8(s).unwrap());
            }
        }
        for c in [0x20u8, 0x21, 0x7e, 0x09] {
            samples.push(format!("abcdefg{}hijklmno", c as char));
        }
        for s in &samples {
            assert_eq!(clean_fast(s).is_ok(), clean(s).is_ok(), "{s:?}");
        }
    }

    #[test]
    fn exhausted_max_forwards_is_an_error() {
        let zero = String::from_utf8_lossy(REQ).replace("max-forwards: 7", "max-forwards: 0");
        let m = Message::parse(zero.as_bytes()).unwrap();
        assert_eq!(
            Forward::new(&m)
                .decrement_max_forwards()
                .write_to(&mut Vec::new()),
            Err(EditError::MaxForwardsExhausted)
        );
    }
}
