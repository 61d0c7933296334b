//! Bounded line reading and in-place CSV field splitting: the hot path shared by every CSV-shaped format.
//!
//! Lines are read into one reused buffer with a length cap, so a file without newlines cannot make the reader
//! grow without bound. Fields are split *in place*: quotes are removed and doubled quotes collapsed by moving bytes
//! left inside the same buffer, so a line costs no allocation at all. RFC 4180 quoting as Asterisk writes it
//! (`"a ""quoted"" name"`) and unquoted fields (the integers) both work; a newline inside a quoted field is not
//! supported because Asterisk does not escape it either (such a record shows up as broken lines).

use std::io::{self, BufRead};

use crate::error::CdrLineErrorKind;

/// One field of the current line: a byte range into the (compacted) line buffer, and whether it was quoted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Field {
    pub start: usize,
    pub end: usize,
    pub quoted: bool,
}

/// Reads lines from any `BufRead` into a reused buffer, counting line numbers, capping line length.
pub(crate) struct LineSource<R> {
    input: R,
    pub buf: Vec<u8>,
    pub line_no: u64,
    pub max_len: usize,
    eof: bool,
    /// Bytes of `input` still to consume before the next line: the borrowed current line and its newline.
    pending: usize,
    /// Length of the current line when it is borrowed from `input`'s buffer instead of copied into `buf`.
    borrowed: Option<usize>,
    /// The newline search of [`LineSource::lend_usual_line`] (`memchr`'s AVX2 searcher, without its dispatch,
    /// when the CPU has AVX2).
    #[cfg(target_arch = "x86_64")]
    newline: Option<memchr::arch::x86_64::avx2::memchr::One>,
}

/// What one `next_line` call produced.
pub(crate) enum LineRead {
    /// A line is in `buf` (without its `\n` / `\r\n`).
    Line,
    /// The line was longer than the cap; it was skipped through its newline.
    TooLong,
    /// End of input.
    Eof,
}

impl<R: BufRead> LineSource<R> {
    pub fn new(input: R, max_len: usize) -> LineSource<R> {
        LineSource {
            input,
            buf: Vec::with_capacity(512),
            line_no: 0,
            max_len,
            eof: false,
            pending: 0,
            borrowed: None,
            #[cfg(target_arch = "x86_64")]
            newline: memchr::arch::x86_64::avx2::memchr::One::new(b'\n'),
        }
    }

    /// The first newline in `text`, with `searcher` when there is one.
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    fn find_newline(
        searcher: Option<&memchr::arch::x86_64::avx2::memchr::One>,
        text: &[u8],
    ) -> Option<usize> {
        match searcher {
            Some(s) => s.find(text),
            None => memchr::memchr(b'\n', text),
        }
    }

    /// Gives back a borrowed line to `input` (consumes it and its newline).
    fn release(&mut self) {
        if self.pending > 0 {
            self.input.consume(std::mem::take(&mut self.pending));
        }
        self.borrowed = None;
    }

    /// Like [`LineSource::next_line`], but when the whole line (and its newline) already lies in `input`'s buffer
    /// the line is left there and lent by [`LineSource::current`] instead of being copied into `buf`: it is
    /// consumed on the next call. Lines cut by the buffer's end, over-long lines, the last line without a newline
    /// and I/O errors take the copying path, so the outcome (lines, numbers, errors) is the same as `next_line`'s.
    pub fn next_line_borrowed(&mut self) -> io::Result<LineRead> {
        self.release();
        if !self.eof
            && let Ok(available) = self.input.fill_buf()
            && let Some(i) = memchr::memchr(b'\n', available)
            && i <= self.max_len
        {
            let len = if i > 0 && available.get(i - 1) == Some(&b'\r') {
                i - 1
            } else {
                i
            };
            self.buf.clear();
            self.line_no += 1;
            self.pending = i + 1;
            self.borrowed = Some(len);
            return Ok(LineRead::Line);
        }
        self.next_line()
    }

    /// [`LineSource::next_line_borrowed`] for the usual line only: lends the next line when it lies whole in
    /// `input`'s buffer (newline found, at most `max_len` bytes) and does not start with ASCII whitespace (so it
    /// is not blank), and returns `true`. Otherwise nothing but the previous line is consumed and `false`
    /// returned: `next_line_borrowed` then reads the line, with the same outcome (it finds the same newline).
    #[inline]
    pub fn lend_usual_line(&mut self) -> bool {
        self.release();
        if self.eof {
            return false;
        }
        let Ok(available) = self.input.fill_buf() else {
            return false;
        };
        if available.first().is_none_or(u8::is_ascii_whitespace) {
            return false;
        }
        #[cfg(target_arch = "x86_64")]
        let newline = Self::find_newline(self.newline.as_ref(), available);
        #[cfg(not(target_arch = "x86_64"))]
        let newline = memchr::memchr(b'\n', available);
        let Some(i) = newline else {
            return false;
        };
        if i > self.max_len {
            return false;
        }
        let len = if i > 0 && available.get(i - 1) == Some(&b'\r') {
            i - 1
        } else {
            i
        };
        self.buf.clear();
        self.line_no += 1;
        self.pending = i + 1;
        self.borrowed = Some(len);
        true
    }

    /// The current line: borrowed from `input`'s buffer (see [`LineSource::next_line_borrowed`]) or in `buf`.
    pub fn current(&mut self) -> &[u8] {
        match self.borrowed {
            // `fill_buf` returns the unconsumed buffer, which starts with the line, without reading.
            Some(len) => match self.input.fill_buf() {
                Ok(b) => b.get(..len).unwrap_or(&[]),
                Err(_) => &[],
            },
            None => &self.buf,
        }
    }

    /// The current line as `(buffer, length)`: the line is `buffer[..length]`, and the buffer may go on past it
    /// (the rest of `input`'s buffer for a borrowed line), for readers that take whole blocks at a time.
    pub fn current_with_tail(&mut self) -> (&[u8], usize) {
        match self.borrowed {
            Some(len) => match self.input.fill_buf() {
                Ok(b) if b.len() >= len => (b, len),
                _ => (&[], 0),
            },
            None => (&self.buf, self.buf.len()),
        }
    }

    /// Copies a borrowed current line into `buf` (for the paths that edit the line in place).
    pub fn materialize(&mut self) {
        if let Some(len) = self.borrowed.take() {
            self.buf.clear();
            if let Ok(b) = self.input.fill_buf() {
                self.buf.extend_from_slice(b.get(..len).unwrap_or(&[]));
            }
        }
    }

    /// Peeks at the start of the input without consuming it (for format detection).
    pub fn peek(&mut self) -> io::Result<&[u8]> {
        self.input.fill_buf()
    }

    pub fn next_line(&mut self) -> io::Result<LineRead> {
        self.release();
        self.buf.clear();
        if self.eof {
            return Ok(LineRead::Eof);
        }
        let mut too_long = false;
        let mut any = false;
        loop {
            let available = match self.input.fill_buf() {
                Ok(b) => b,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if available.is_empty() {
                self.eof = true;
                break;
            }
            any = true;
            let (chunk, used, done) = match memchr::memchr(b'\n', available) {
                Some(i) => (&available[..i], i + 1, true),
                None => (available, available.len(), false),
            };
            if !too_long {
                if self.buf.len() + chunk.len() > self.max_len {
                    too_long = true;
                    self.buf.clear();
                } else {
                    self.buf.extend_from_slice(chunk);
                }
            }
            self.input.consume(used);
            if done {
                break;
            }
        }
        if !any {
            return Ok(LineRead::Eof);
        }
        self.line_no += 1;
        if too_long {
            return Ok(LineRead::TooLong);
        }
        if self.buf.last() == Some(&b'\r') {
            self.buf.pop();
        }
        Ok(LineRead::Line)
    }
}

/// Splits `buf` into fields in place (see the module doc). Returns the length of `buf` the fields index into.
///
/// Fields are ranges into `buf` itself: a quoted field's range excludes its quotes, and only a field holding a
/// doubled quote (`""`) is rewritten (shifted left inside its own bytes), so the common line costs no copy.
/// Closing quotes and delimiters are found with `memchr`: a quoted field's end is found in one probe instead
/// of a byte-at-a-time loop (callgrind: fewer instructions per 270-byte Master.csv line than the loop).
pub(crate) fn split_in_place(
    buf: &mut [u8],
    delim: u8,
    fields: &mut Vec<Field>,
) -> Result<usize, CdrLineErrorKind> {
    fields.clear();
    let len = buf.len();
    let mut r = 0usize;
    loop {
        let column = fields.len() + 1;
        if r < len && buf[r] == b'"' {
            r += 1;
            let start = r;
            let mut w = r;
            loop {
                let Some(q) = memchr::memchr(b'"', &buf[r..len]) else {
                    return Err(CdrLineErrorKind::UnterminatedQuote { column });
                };
                let q = r + q;
                if w != r {
                    buf.copy_within(r..q, w);
                }
                w += q - r;
                r = q + 1;
                if r < len && buf[r] == b'"' {
                    buf[w] = b'"';
                    w += 1;
                    r += 1;
                } else {
                    break;
                }
            }
            fields.push(Field {
                start,
                end: w,
                quoted: true,
            });
            if r == len {
                return Ok(len);
            }
            if buf[r] != delim {
                return Err(CdrLineErrorKind::TextAfterQuote { column });
            }
        } else {
            let e = match memchr::memchr(delim, &buf[r..len]) {
                Some(i) => r + i,
                None => len,
            };
            fields.push(Field {
                start: r,
                end: e,
                quoted: false,
            });
            r = e;
            if r == len {
                return Ok(len);
            }
        }
        // buf[r] is the delimiter.
        r += 1;
        if r == len {
            fields.push(Field {
                start: r,
                end: r,
                quoted: false,
            });
            return Ok(len);
        }
    }
}

/// One field found by [`scan_fields`]: a byte range of the line, without its quotes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Span {
    pub start: usize,
    pub end: usize,
    /// The field was quoted.
    pub quoted: bool,
    /// The field holds doubled quotes (`""`) still to be collapsed (its range is still the raw text).
    pub doubled: bool,
    /// The range points into the caller's unquoting buffer instead of the line (set by the caller).
    pub unquoted: bool,
}

const LO7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
const ONES: u64 = 0x0101_0101_0101_0101;

/// 0x80 in every byte of `x` that is zero, 0 elsewhere (exact: no carry crosses bytes).
#[inline(always)]
fn zero_bytes(x: u64) -> u64 {
    !(((x & LO7).wrapping_add(LO7)) | x | LO7)
}

/// The first position at or after `from` of the byte repeated in `pat` (`ONES * byte`): eight bytes per step
/// (SWAR: a word compare gives a bit per matching byte), inline, instead of a `memchr` call for each short field.
/// Every byte it reads is OR-ed into `seen`, so that the caller learns whether the line is all ASCII for free.
#[inline(always)]
fn find_byte(line: &[u8], from: usize, pat: u64, seen: &mut u64) -> Option<usize> {
    let mut i = from;
    while let Some(word) = line.get(i..i + 8) {
        let w = u64::from_le_bytes(<[u8; 8]>::try_from(word).unwrap_or([0; 8]));
        *seen |= w;
        let m = zero_bytes(w ^ pat);
        if m != 0 {
            return Some(i + (m.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    let byte = pat as u8;
    for (k, &b) in line.get(i..)?.iter().enumerate() {
        *seen |= u64::from(b);
        if b == byte {
            return Some(i + k);
        }
    }
    None
}

/// Splits `line` into field ranges without touching it: the same fields and the same errors as
/// [`split_in_place`] (a proptest holds them equal), but a field holding doubled quotes is only marked
/// ([`Span::doubled`]) so that the line needs no copy and the caller collapses only those fields.
///
/// The closing quote of a quoted field, and the delimiter after an unquoted one, are found eight bytes at a
/// time inline ([`find_byte`]) instead of by one `memchr` call per field and per quote (most Master.csv fields
/// are 1 to 20 bytes, where the call costs more than the search). `delim` must not be `"`.
///
/// Returns whether the line is all ASCII (every byte is read once by the searches, or is a quote or `delim`).
pub(crate) fn scan_fields(
    line: &[u8],
    delim: u8,
    spans: &mut Vec<Span>,
) -> Result<bool, CdrLineErrorKind> {
    spans.clear();
    let mut seen = 0u64;
    let len = line.len();
    let dpat = ONES.wrapping_mul(u64::from(delim));
    let qpat = ONES.wrapping_mul(u64::from(b'"'));
    let mut r = 0usize;
    loop {
        let column = spans.len() + 1;
        if line.get(r) == Some(&b'"') {
            let start = r + 1;
            let mut i = start;
            let mut doubled = false;
            let end = loop {
                let Some(q) = find_byte(line, i, qpat, &mut seen) else {
                    return Err(CdrLineErrorKind::UnterminatedQuote { column });
                };
                if line.get(q + 1) == Some(&b'"') {
                    doubled = true;
                    i = q + 2;
                } else {
                    break q;
                }
            };
            spans.push(Span {
                start,
                end,
                quoted: true,
                doubled,
                unquoted: false,
            });
            r = end + 1;
            if r >= len {
                return Ok(seen & !LO7 == 0);
            }
            if line.get(r) != Some(&delim) {
                return Err(CdrLineErrorKind::TextAfterQuote { column });
            }
        } else {
            let e = find_byte(line, r, dpat, &mut seen).unwrap_or(len);
            spans.push(Span {
                start: r,
                end: e,
                quoted: false,
                doubled: false,
                unquoted: false,
            });
            r = e;
            if r >= len {
                return Ok(seen & !LO7 == 0);
            }
        }
        // line[r] is the delimiter.
        r += 1;
        if r == len {
            spans.push(Span {
                start: r,
                end: r,
                quoted: false,
                doubled: false,
                unquoted: false,
            });
            return Ok(seen & !LO7 == 0);
        }
    }
}

/// Appends the text of a quoted field with its doubled quotes collapsed (`a ""b""` → `a "b"`). `raw` is the text
/// between the field's quotes as [`scan_fields`] found it, where every quote is the first of a pair.
pub(crate) fn collapse_quotes(raw: &str, out: &mut String) {
    let bytes = raw.as_bytes();
    let mut from = 0usize;
    let mut i = 0usize;
    while let Some(k) = bytes
        .get(i..)
        .and_then(|t| t.iter().position(|&c| c == b'"'))
    {
        let q = i + k;
        // Keep the first quote of the pair, drop the second.
        out.push_str(raw.get(from..=q).unwrap_or(""));
        i = q + 2;
        from = i;
    }
    out.push_str(raw.get(from..).unwrap_or(""));
}

/// Parses an unsigned integer column (`duration`, `billsec`). Accepts a fractional part (cdr_custom's `billsec,f`)
/// and truncates it; surrounding spaces are allowed.
#[inline(always)]
pub(crate) fn parse_u32(text: &[u8]) -> Option<u32> {
    let digit = |b: u8| {
        let d = b.wrapping_sub(b'0');
        (d <= 9).then_some(u32::from(d))
    };
    // The most common lengths (durations under 100 s), without a loop.
    match *text {
        [a] => {
            if let Some(a) = digit(a) {
                return Some(a);
            }
        }
        [a, b] => {
            if let (Some(a), Some(b)) = (digit(a), digit(b)) {
                return Some(a * 10 + b);
            }
        }
        _ => {}
    }
    parse_u32_digits(text)
}

/// [`parse_u32`] past its one- and two-digit cases.
#[inline(never)]
fn parse_u32_digits(text: &[u8]) -> Option<u32> {
    // The common case, 1 to 9 digits and nothing else, in one pass.
    if (1..=9).contains(&text.len()) {
        let mut n = 0u32;
        let mut digits = true;
        for &b in text {
            let d = b.wrapping_sub(b'0');
            digits &= d <= 9;
            n = n.wrapping_mul(10).wrapping_add(u32::from(d));
        }
        if digits {
            return Some(n);
        }
    }
    parse_u32_general(text)
}

#[inline(never)]
fn parse_u32_general(text: &[u8]) -> Option<u32> {
    let text = text.trim_ascii();
    let int = match memchr::memchr(b'.', text) {
        Some(i) => {
            let frac = text.get(i + 1..)?;
            if !frac.iter().all(u8::is_ascii_digit) {
                return None;
            }
            text.get(..i)?
        }
        None => text,
    };
    if int.is_empty() || int.len() > 9 {
        return None;
    }
    let mut n = 0u32;
    for &b in int {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n * 10 + u32::from(b - b'0');
    }
    Some(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(line: &str) -> Result<Vec<(String, bool)>, CdrLineErrorKind> {
        let mut buf = line.as_bytes().to_vec();
        let mut fields = Vec::new();
        let len = split_in_place(&mut buf, b',', &mut fields)?;
        Ok(fields
            .iter()
            .map(|f| {
                (
                    String::from_utf8_lossy(&buf[..len][f.start..f.end]).into_owned(),
                    f.quoted,
                )
            })
            .collect())
    }

    #[test]
    fn asterisk_quoting() {
        let got = split(r#""","205","""Taro"" <205>",,12,"x,y""#).unwrap();
        let want = [
            ("", true),
            ("205", true),
            ("\"Taro\" <205>", true),
            ("", false),
            ("12", false),
            ("x,y", true),
        ];
        assert_eq!(got.len(), want.len());
        for (g, w) in got.iter().zip(want) {
            assert_eq!((g.0.as_str(), g.1), w);
        }
    }

    #[test]
    fn empty_and_trailing_fields() {
        assert_eq!(split("").unwrap().len(), 1);
        assert_eq!(split(",").unwrap().len(), 2);
        assert_eq!(split("a,").unwrap()[1].0, "");
        assert_eq!(split("\"a\",").unwrap().len(), 2);
        assert_eq!(split("\"\"\"\"").unwrap()[0].0, "\"");
    }

    #[test]
    fn broken_quotes_name_the_column() {
        assert_eq!(
            split(r#""a","b"#),
            Err(CdrLineErrorKind::UnterminatedQuote { column: 2 })
        );
        assert_eq!(
            split(r#""a"x,"b""#),
            Err(CdrLineErrorKind::TextAfterQuote { column: 1 })
        );
    }

    #[test]
    fn lines_are_capped_and_counted() {
        let data = b"short\r\nthis line is far too long\nok\nlast-no-newline";
        let mut src = LineSource::new(&data[..], 16);
        assert!(matches!(src.next_line().unwrap(), LineRead::Line));
        assert_eq!(src.buf, b"short");
        assert!(matches!(src.next_line().unwrap(), LineRead::TooLong));
        assert_eq!(src.line_no, 2);
        assert!(matches!(src.next_line().unwrap(), LineRead::Line));
        assert_eq!(src.buf, b"ok");
        assert!(matches!(src.next_line().unwrap(), LineRead::Line));
        assert_eq!(src.buf, b"last-no-newline");
        assert_eq!(src.line_no, 4);
        assert!(matches!(src.next_line().unwrap(), LineRead::Eof));
    }

    /// The one- and two-digit cases read as the general loop does.
    #[test]
    fn short_integers_read_as_the_loop() {
        let bytes = [b'0', b'5', b'9', b'/', b':', b' ', b'.', b'a', 0xff];
        for &a in &bytes {
            assert_eq!(parse_u32(&[a]), parse_u32_digits(&[a]), "{a}");
            for &b in &bytes {
                assert_eq!(parse_u32(&[a, b]), parse_u32_digits(&[a, b]), "{a} {b}");
            }
        }
        assert_eq!(parse_u32(b"7"), Some(7));
        assert_eq!(parse_u32(b"59"), Some(59));
        assert_eq!(parse_u32(b"7."), Some(7));
        assert_eq!(parse_u32(b" 7"), Some(7));
    }

    #[test]
    fn integers() {
        assert_eq!(parse_u32(b"42"), Some(42));
        assert_eq!(parse_u32(b" 7 "), Some(7));
        assert_eq!(parse_u32(b"12.345"), Some(12));
        assert_eq!(parse_u32(b"-1"), None);
        assert_eq!(parse_u32(b""), None);
        assert_eq!(parse_u32(b"1e3"), None);
        assert_eq!(parse_u32(b"9999999999"), None);
    }

    /// What `scan_fields` gives, with doubled quotes collapsed, as `split_in_place` gives it.
    fn scan(line: &[u8]) -> Result<Vec<(Vec<u8>, bool)>, CdrLineErrorKind> {
        let mut spans = Vec::new();
        let ascii = scan_fields(line, b',', &mut spans)?;
        assert_eq!(ascii, line.is_ascii(), "{}", String::from_utf8_lossy(line));
        let fields = spans
            .iter()
            .map(|sp| {
                let raw = &line[sp.start..sp.end];
                let mut v = Vec::new();
                let mut i = 0;
                while i < raw.len() {
                    v.push(raw[i]);
                    i += if sp.doubled && raw[i] == b'"' { 2 } else { 1 };
                }
                (v, sp.quoted)
            })
            .collect();
        Ok(fields)
    }

    fn split_bytes(line: &[u8]) -> Result<Vec<(Vec<u8>, bool)>, CdrLineErrorKind> {
        let mut buf = line.to_vec();
        let mut fields = Vec::new();
        let len = split_in_place(&mut buf, b',', &mut fields)?;
        Ok(fields
            .iter()
            .map(|f| (buf[..len][f.start..f.end].to_vec(), f.quoted))
            .collect())
    }

    #[test]
    fn scan_matches_split_on_asterisk_shapes() {
        for line in [
            &br#""","205","""Taro"" <205>",,12,"x,y""#[..],
            b"",
            b",",
            b"a,",
            b"\"a\",",
            b"\"\"\"\"",
            b"\"a\"\"",
            b"\"a\",\"b",
            b"\"a\"x,\"b\"",
            b"ab\"c,\"d\"",
            b"\"x\"\",\"y\"",
            b"\"0123456\",\"89abcdef\"\"\",,\"\"",
        ] {
            assert_eq!(
                scan(line),
                split_bytes(line),
                "{}",
                String::from_utf8_lossy(line)
            );
        }
        // A closing quote as the very last byte of a full 8-byte word, then nothing.
        assert_eq!(scan(b"\"abcdef\"").map(|f| f.len()), Ok(1));
    }

    fn field_text() -> impl proptest::strategy::Strategy<Value = Vec<u8>> {
        use proptest::prelude::*;
        prop_oneof![
            // Unquoted: digits, times, words, sometimes a stray quote or a non-ASCII/invalid byte.
            proptest::collection::vec(
                prop_oneof![
                    Just(b'1'),
                    Just(b'a'),
                    Just(b' '),
                    Just(b':'),
                    Just(b'"'),
                    Just(0xC3u8),
                    Just(0xFFu8)
                ],
                0..12
            ),
            // Quoted, with commas and doubled quotes inside; sometimes broken (no closing quote, text after it).
            (
                proptest::collection::vec(
                    prop_oneof![
                        Just(&b"x"[..]),
                        Just(&b","[..]),
                        Just(&b"\"\""[..]),
                        Just(&b"<340>"[..]),
                        Just("é".as_bytes()),
                        Just(&b"\x80"[..])
                    ],
                    0..8
                ),
                prop_oneof![
                    8 => Just(&b"\""[..]),
                    1 => Just(&b""[..]),
                    1 => Just(&b"\"x"[..]),
                    1 => Just(&b"\"\"\""[..])
                ]
            )
                .prop_map(|(parts, close)| {
                    let mut v = vec![b'"'];
                    for p in parts {
                        v.extend_from_slice(p);
                    }
                    v.extend_from_slice(close);
                    v
                }),
        ]
    }

    /// The fields `split_marked` (`version` 0: the CPU's best masks, 1: SSE2, 2: SWAR) gives for `line` followed in its buffer by `tail`, as
    /// `split_in_place` gives them, or `None` when it hands the line over to the scalar path.
    #[allow(clippy::type_complexity)]
    fn marked(line: &[u8], tail: &[u8], version: u8) -> Option<(usize, Vec<(Vec<u8>, bool)>)> {
        use crate::marks::{Cols, Marked, split_marked, split_marked_sse2, split_marked_swar};
        let mut buf = line.to_vec();
        buf.extend_from_slice(tail);
        let mut cols = Cols::new();
        let split = match version {
            0 => split_marked,
            1 => split_marked_sse2,
            _ => split_marked_swar,
        };
        if split(&buf, line.len(), b',', &mut cols) == Marked::Other {
            return None;
        }
        let fields = cols
            .bounds
            .iter()
            .take(cols.n)
            .enumerate()
            .map(|(k, &(s, e))| {
                let (s, e) = (s as usize, e as usize);
                let quoted = s > 0 && line[s - 1] == b'"';
                let raw = &line[s..e];
                let mut v = Vec::new();
                let mut i = 0;
                while i < raw.len() {
                    v.push(raw[i]);
                    i += if cols.doubled >> k & 1 == 1 && raw[i] == b'"' {
                        2
                    } else {
                        1
                    };
                }
                (v, quoted)
            })
            .collect();
        Some((cols.n, fields))
    }

    /// `marked` agrees with `split_in_place` whenever it takes a line (and with itself across mask versions).
    fn check_marked(
        line: &[u8],
        tail: &[u8],
    ) -> Result<bool, proptest::test_runner::TestCaseError> {
        let want = split_bytes(line);
        let got = marked(line, tail, 0);
        proptest::prop_assert_eq!(&got, &marked(line, tail, 1));
        proptest::prop_assert_eq!(&got, &marked(line, tail, 2));
        if let Some((n, fields)) = got {
            let want = want.map_err(|e| {
                proptest::test_runner::TestCaseError::fail(format!("split failed: {e:?}"))
            })?;
            proptest::prop_assert_eq!(n, want.len());
            proptest::prop_assert_eq!(&fields[..], &want[..n.min(crate::marks::MAX_COLS)]);
            return Ok(true);
        }
        Ok(false)
    }

    fn wellformed_field() -> impl proptest::strategy::Strategy<Value = Vec<u8>> {
        use proptest::prelude::*;
        prop_oneof![
            proptest::collection::vec(prop_oneof![Just(b'1'), Just(b' '), Just(b'x')], 0..70),
            proptest::collection::vec(
                prop_oneof![
                    Just(&b"x"[..]),
                    Just(&b","[..]),
                    Just(&b"\"\""[..]),
                    Just(&b"0123456789abcdef"[..]),
                ],
                0..10
            )
            .prop_map(|parts| {
                let mut v = vec![b'"'];
                for p in parts {
                    v.extend_from_slice(p);
                }
                v.push(b'"');
                v
            }),
        ]
    }

    #[test]
    fn marked_split_takes_asterisk_lines() {
        let line = br#""callcentre","340","09044645965","from-internal","""Agent"" <340>","PJSIP/340-00006dd2","","Dial","PJSIP/09044645965@ntt-trunk,60,T","2025-06-02 09:00:16",,"2025-06-02 09:00:18",2,0,"FAILED","DOCUMENTATION","1748822416.28114","legit""#;
        for tail in [&b""[..], b"\n", b"\n\"next\",\"line\"", &[b'"'; 70]] {
            let (n, fields) = marked(line, tail, 0).expect("taken");
            assert_eq!(n, 18);
            assert_eq!(fields[4], (b"\"Agent\" <340>".to_vec(), true));
            assert_eq!(fields[10], (Vec::new(), false));
            assert_eq!(fields[12], (b"2".to_vec(), false));
            assert_eq!(Ok(fields), split_bytes(line));
        }
        for line in [
            &b""[..],
            b",",
            b"\"\"",
            b"\"\"\"\"",
            b"a,\"b,c\",",
            &[b','; 31],
            &[b'x'; 64],
            &[b'x'; 63],
        ] {
            assert!(
                marked(line, b"", 0).is_some(),
                "{}",
                String::from_utf8_lossy(line)
            );
            assert!(check_marked(line, b"").is_ok());
        }
        // Handed over: stray quote, text after a quote, unterminated, non-ASCII, more than `MAX_COLS` fields.
        for line in [
            &b"ab\"c,\"d\""[..],
            b"\"a\"x",
            b"\"a,b",
            b"\"a\"\"",
            &[b','; 32],
            &[b','; 64],
            "\"é\"".as_bytes(),
        ] {
            assert_eq!(
                marked(line, b"", 0),
                None,
                "{}",
                String::from_utf8_lossy(line)
            );
        }
    }

    proptest::proptest! {
        #[test]
        fn scan_gives_the_fields_and_errors_of_split(
            fields in proptest::collection::vec(field_text(), 1..23),
            tail in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..80),
        ) {
            let line = fields.join(&b","[..]);
            proptest::prop_assert_eq!(scan(&line), split_bytes(&line));
            check_marked(&line, &tail)?;
        }

        /// Well-formed ASCII lines, long fields across the 64-byte blocks and the 8-block chunks, up to 40 fields:
        /// taken by the bitmask split when they have at most `MAX_COLS` fields, with the fields of
        /// `split_in_place`.
        #[test]
        fn marked_split_gives_the_fields_of_split(
            fields in proptest::collection::vec(wellformed_field(), 1..40),
            tail in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..80),
        ) {
            let line = fields.join(&b","[..]);
            let taken = check_marked(&line, &tail)?;
            proptest::prop_assert_eq!(taken, fields.len() <= crate::marks::MAX_COLS, "{}", String::from_utf8_lossy(&line));
        }

        /// Lending the usual line, else reading as usual, gives the lines, numbers and outcomes of reading as
        /// usual (blank and space-led lines, `\r\n`, lines cut by the buffer's end or over the cap).
        #[test]
        fn lent_usual_lines_are_the_borrowed_lines(
            text in proptest::collection::vec(
                proptest::prop_oneof![
                    proptest::strategy::Just(&b"a"[..]),
                    proptest::strategy::Just(&b" "[..]),
                    proptest::strategy::Just(&b"\n"[..]),
                    proptest::strategy::Just(&b"\r\n"[..]),
                    proptest::strategy::Just(&b"\r"[..]),
                    proptest::strategy::Just(&b"0123456789"[..])
                ],
                0..40
            ),
            cap in 1usize..40,
            max in 1usize..30,
        ) {
            let text = text.concat();
            let mut usual =
                LineSource::new(std::io::BufReader::with_capacity(cap, &text[..]), max);
            let mut lent =
                LineSource::new(std::io::BufReader::with_capacity(cap, &text[..]), max);
            let kind = |r: &LineRead| match r {
                LineRead::Line => 0,
                LineRead::TooLong => 1,
                LineRead::Eof => 2,
            };
            loop {
                let a = usual.next_line_borrowed()?;
                let b = if lent.lend_usual_line() {
                    proptest::prop_assert!(!usual.current().first().is_some_and(u8::is_ascii_whitespace));
                    LineRead::Line
                } else {
                    lent.next_line_borrowed()?
                };
                proptest::prop_assert_eq!(kind(&a), kind(&b));
                proptest::prop_assert_eq!(usual.line_no, lent.line_no);
                if matches!(a, LineRead::Eof) {
                    break;
                }
                if matches!(a, LineRead::Line) {
                    let want = usual.current().to_vec();
                    proptest::prop_assert_eq!(lent.current(), &want[..]);
                }
            }
        }

        #[test]
        fn borrowed_lines_are_the_copied_lines(
            text in proptest::collection::vec(
                proptest::prop_oneof![
                    proptest::strategy::Just(&b"a"[..]),
                    proptest::strategy::Just(&b"\n"[..]),
                    proptest::strategy::Just(&b"\r\n"[..]),
                    proptest::strategy::Just(&b"0123456789"[..])
                ],
                0..40
            ),
            cap in 1usize..40,
            max in 1usize..30,
        ) {
            let text = text.concat();
            let mut copied = LineSource::new(&text[..], max);
            let mut borrowed =
                LineSource::new(std::io::BufReader::with_capacity(cap, &text[..]), max);
            loop {
                let a = copied.next_line()?;
                let b = borrowed.next_line_borrowed()?;
                let kind = |r: &LineRead| match r {
                    LineRead::Line => 0,
                    LineRead::TooLong => 1,
                    LineRead::Eof => 2,
                };
                proptest::prop_assert_eq!(kind(&a), kind(&b));
                proptest::prop_assert_eq!(copied.line_no, borrowed.line_no);
                if matches!(a, LineRead::Eof) {
                    break;
                }
                if matches!(a, LineRead::Line) {
                    let want = copied.current().to_vec();
                    proptest::prop_assert_eq!(borrowed.current(), &want[..]);
                }
            }
        }
    }
}
