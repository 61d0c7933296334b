//! `CdrReader`: the one entry point over any `BufRead`, whatever the format: detects the format if asked, reads
//! line by line in constant memory, and yields calls or line errors, never stopping at a broken line.
//!
//! Two ways to consume it:
//! - `next_ref()` lends a [`CallRecordRef`] borrowing the reader's buffers: no allocation per line for the
//!   line-per-call CSV formats (Asterisk, FreeSWITCH CSV, generic). This is the fast path for `analyze`.
//! - `Iterator<Item = Result<CallRecord, CdrLineError>>`: owned records, simpler, one allocation per text field.
//!
//! Error policy: a broken line yields `Err(CdrLineError { line, kind })` and reading goes on with the next line;
//! blank lines are skipped; a first line that holds no time at all is taken as a header row and skipped; invalid
//! UTF-8 is replaced by U+FFFD and the record kept. Fatal errors (I/O, unusable header, unknown format) end the
//! iteration after being yielded; see [`CdrLineError::is_fatal`].

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::path::Path;

use crate::csv::{Field, LineRead, LineSource, Span, collapse_quotes, scan_fields, split_in_place};
use crate::error::{CdrConfigError, CdrLineError, CdrLineErrorKind};
use crate::flat;
use crate::format::{CdrFormat, ReadOptions, detect_format};
use crate::generic::{GenericLayout, generic_line};
use crate::json::{Feed, JsonDocs, freeswitch_record};
use crate::kamailio::AccPairing;
use crate::marks::{AsciiLine, Cols, MAX_COLS, Marked, split_marked};
use crate::record::{CallRecord, CallRecordRef};
use crate::time::{SiteClock, parse_datetime_fields};

/// Errors opening a CDR file.
#[derive(Debug, thiserror::Error)]
pub enum CdrOpenError {
    #[error("cannot open {path}: {source}")]
    Io { path: String, source: io::Error },
    #[error(transparent)]
    Config(#[from] CdrConfigError),
}

/// Counters of what a reader has seen so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReadStats {
    /// Input lines consumed.
    pub lines: u64,
    /// Records yielded.
    pub records: u64,
    /// Line errors yielded.
    pub errors: u64,
}

/// Streaming CDR reader. See the module documentation.
pub struct CdrReader<R> {
    src: LineSource<R>,
    opts: ReadOptions,
    format: Option<CdrFormat>,
    clock: SiteClock,
    fields: Vec<Field>,
    lossy: String,
    /// Field ranges of the Asterisk fast path ([`scan_fields`]).
    spans: Vec<Span>,
    /// Field ranges of the Asterisk fast path's bitmask split ([`split_marked`]).
    cols: Cols,
    /// Text of the fast path's fields that held doubled quotes, collapsed.
    unquoted: String,
    /// A copy of a lent line that needs editing (the general path for a line with invalid UTF-8).
    copy: Vec<u8>,
    queue: VecDeque<Result<CallRecord, CdrLineError>>,
    slot: Option<CallRecord>,
    acc: AccPairing,
    json: JsonDocs,
    generic: Option<GenericLayout>,
    first_data_line: bool,
    finished: bool,
    stats: ReadStats,
}

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Column names that mark a first line as a header row added by an export tool.
const HEADER_WORDS: [&str; 10] = [
    "accountcode",
    "src",
    "dst",
    "clid",
    "start",
    "calldate",
    "caller_id_name",
    "caller_id_number",
    "destination_number",
    "uuid",
];

impl CdrReader<BufReader<File>> {
    /// Opens a file with a 64 KiB buffer.
    pub fn open(
        path: impl AsRef<Path>,
        opts: ReadOptions,
    ) -> Result<CdrReader<BufReader<File>>, CdrOpenError> {
        let path = path.as_ref();
        let file = File::open(path).map_err(|source| CdrOpenError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Ok(CdrReader::new(
            BufReader::with_capacity(64 * 1024, file),
            opts,
        )?)
    }
}

impl<R: BufRead> CdrReader<R> {
    /// A reader over `input`. Fails only on unusable options (generic format without a valid mapping, bad zone).
    pub fn new(input: R, mut opts: ReadOptions) -> Result<CdrReader<R>, CdrConfigError> {
        if opts.format.is_none() && opts.generic.is_some() {
            opts.format = Some(CdrFormat::GenericCsv);
        }
        let mut tz = opts.site_tz;
        if opts.format == Some(CdrFormat::GenericCsv) {
            let Some(mapping) = &opts.generic else {
                return Err(CdrConfigError::Mapping(
                    "the generic-csv format needs a column mapping".into(),
                ));
            };
            mapping.validate()?;
            if let Some(name) = &mapping.time_zone {
                tz = name
                    .parse()
                    .map_err(|_| CdrConfigError::UnknownTimeZone(name.clone()))?;
            }
        }
        let mut src = LineSource::new(input, opts.max_line_bytes.max(64));
        if opts.format == Some(CdrFormat::FreeSwitchJson) {
            src.max_len = opts.max_json_bytes.max(64);
        }
        Ok(CdrReader {
            src,
            format: opts.format,
            clock: SiteClock::new(tz),
            fields: Vec::with_capacity(32),
            lossy: String::new(),
            spans: Vec::with_capacity(32),
            cols: Cols::new(),
            unquoted: String::new(),
            copy: Vec::new(),
            queue: VecDeque::new(),
            slot: None,
            acc: AccPairing::new(opts.max_open_calls),
            json: JsonDocs::new(opts.max_json_bytes.max(64)),
            generic: None,
            first_data_line: true,
            finished: false,
            stats: ReadStats::default(),
            opts,
        })
    }

    /// The format being read: the explicit one, or the detected one once the first record was asked for.
    pub fn format(&self) -> Option<CdrFormat> {
        self.format
    }

    /// Counters so far.
    pub fn stats(&self) -> ReadStats {
        ReadStats {
            lines: self.src.line_no,
            ..self.stats
        }
    }

    /// Detects the format now (normally done on the first `next_ref`). `Ok(None)` for empty input.
    pub fn detect(&mut self) -> Result<Option<CdrFormat>, CdrLineError> {
        if let Some(f) = self.format {
            return Ok(Some(f));
        }
        let sample = match self.src.peek() {
            Ok(s) => s,
            Err(e) => {
                self.finished = true;
                return Err(CdrLineError {
                    line: 1,
                    kind: CdrLineErrorKind::Io(e.to_string()),
                });
            }
        };
        if sample.iter().all(u8::is_ascii_whitespace) {
            self.finished = true;
            return Ok(None);
        }
        match detect_format(sample) {
            Some(f) => {
                tracing::debug!(format = %f, "CDR format detected");
                if f == CdrFormat::FreeSwitchJson {
                    self.src.max_len = self.opts.max_json_bytes.max(64);
                }
                self.format = Some(f);
                Ok(Some(f))
            }
            None => {
                self.finished = true;
                Err(CdrLineError {
                    line: 1,
                    kind: CdrLineErrorKind::UnknownFormat,
                })
            }
        }
    }

    /// The next record, borrowed from the reader (valid until the next call), or a line error; `None` at the end.
    pub fn next_ref(&mut self) -> Option<Result<CallRecordRef<'_>, CdrLineError>> {
        let format = match self.format {
            Some(f) => f,
            None if self.finished => return None,
            None => match self.detect() {
                Ok(Some(f)) => f,
                Ok(None) => return None,
                Err(e) => return Some(Err(self.count_err(e))),
            },
        };
        match format {
            CdrFormat::KamailioAcc | CdrFormat::FreeSwitchJson => match self.next_queued(format)? {
                Ok(r) => {
                    self.stats.records += 1;
                    self.slot = Some(r);
                    self.slot.as_ref().map(|r| Ok(r.as_borrowed()))
                }
                Err(e) => Some(Err(self.count_err(e))),
            },
            _ => self.next_flat(format),
        }
    }

    fn count_err(&mut self, e: CdrLineError) -> CdrLineError {
        self.stats.errors += 1;
        if e.is_fatal() {
            self.finished = true;
            self.queue.clear();
        }
        e
    }

    /// Reads the next non-blank line into `src.buf`. `Ok(false)` at the end of input.
    fn read_line(&mut self) -> Result<bool, CdrLineError> {
        self.read_line_mode(false)
    }

    /// Reads the next non-blank line, into `src.buf` or (`borrow`) lent from the input's buffer when it lies
    /// whole in it: see [`LineSource::current`]. `Ok(false)` at the end of input.
    fn read_line_mode(&mut self, borrow: bool) -> Result<bool, CdrLineError> {
        loop {
            if self.finished {
                return Ok(false);
            }
            let read = if borrow {
                self.src.next_line_borrowed()
            } else {
                self.src.next_line()
            };
            match read {
                Err(e) => {
                    self.finished = true;
                    return Err(CdrLineError {
                        line: self.src.line_no + 1,
                        kind: CdrLineErrorKind::Io(e.to_string()),
                    });
                }
                Ok(LineRead::Eof) => {
                    self.finished = true;
                    return Ok(false);
                }
                Ok(LineRead::TooLong) => {
                    return Err(CdrLineError {
                        line: self.src.line_no,
                        kind: CdrLineErrorKind::LineTooLong {
                            limit: self.src.max_len,
                        },
                    });
                }
                Ok(LineRead::Line) => {}
            }
            if self.src.line_no == 1 {
                self.src.materialize();
                if self.src.buf.starts_with(BOM) {
                    self.src.buf.drain(..BOM.len());
                }
            }
            if !self.src.current().iter().all(u8::is_ascii_whitespace) {
                return Ok(true);
            }
        }
    }

    /// The Asterisk fast path, once the first data line is behind (header row and BOM handled by `next_flat`):
    /// the line is read in place from the input's buffer when it lies whole in it and split without being
    /// edited: by bitmasks ([`split_marked`], which also proves it ASCII), else by [`scan_fields`] (only fields
    /// holding doubled quotes are collapsed, into `unquoted`) with one UTF-8 check. A line with invalid UTF-8
    /// takes the general path (copy, [`split_in_place`], lossy conversion) on a copy, so the records and errors
    /// are those of the general path.
    ///
    /// After the line is lent by `src`, only other fields of the reader are touched: the record borrows the line.
    fn next_asterisk(
        &mut self,
        format: CdrFormat,
    ) -> Option<Result<CallRecordRef<'_>, CdrLineError>> {
        // The usual line (whole in the input's buffer, not blank) is lent without `read_line_mode`'s checks:
        // they all pass for it (the first line is behind, so it is not line 1).
        if self.finished || !self.src.lend_usual_line() {
            match self.read_line_mode(true) {
                Ok(true) => {}
                Ok(false) => return None,
                Err(e) => return Some(Err(self.count_err(e))),
            }
        }
        let line = self.src.line_no;
        let custom = format == CdrFormat::AsteriskCustom;
        let CdrReader {
            src,
            cols,
            spans,
            unquoted,
            copy,
            fields,
            lossy,
            clock,
            opts,
            stats,
            ..
        } = self;
        let (buf, len) = src.current_with_tail();
        if let Marked::Fields(ascii) = split_marked(buf, len, b',', cols) {
            return marked_record(ascii, cols, unquoted, custom, opts, clock, stats, line);
        }
        let bytes = buf.get(..len).unwrap_or(&[]);
        let text = match scan_fields(bytes, b',', spans) {
            Ok(_) => std::str::from_utf8(bytes).ok(),
            Err(kind) => {
                // Quoting errors, never fatal.
                stats.errors += 1;
                return Some(Err(CdrLineError { line, kind }));
            }
        };
        let Some(text) = text else {
            copy.clear();
            copy.extend_from_slice(bytes);
            let built = match split_in_place(copy, b',', fields) {
                Ok(len) => {
                    let text = line_text(copy, len, fields, lossy);
                    flat_record(format, text, fields, opts, None, clock, line)
                }
                Err(kind) => Err(kind),
            };
            return counted(stats, line, built);
        };
        unquoted.clear();
        for sp in spans.iter_mut().filter(|sp| sp.doubled) {
            let start = unquoted.len();
            collapse_quotes(text.get(sp.start..sp.end).unwrap_or(""), unquoted);
            sp.start = start;
            sp.end = unquoted.len();
            sp.unquoted = true;
        }
        let unquoted = unquoted.as_str();
        let spans = spans.as_slice();
        let get = |i: usize| match spans.get(i) {
            Some(sp) if sp.unquoted => unquoted.get(sp.start..sp.end).unwrap_or(""),
            Some(sp) => text.get(sp.start..sp.end).unwrap_or(""),
            None => "",
        };
        counted(
            stats,
            line,
            flat::asterisk_with(spans.len(), get, custom, opts.asterisk_columns, clock, line),
        )
    }

    fn next_flat(&mut self, format: CdrFormat) -> Option<Result<CallRecordRef<'_>, CdrLineError>> {
        if !self.first_data_line
            && matches!(format, CdrFormat::AsteriskCsv | CdrFormat::AsteriskCustom)
        {
            return self.next_asterisk(format);
        }
        let delim = match (&self.opts.generic, format) {
            (Some(m), CdrFormat::GenericCsv) => m.delimiter_byte(),
            _ => b',',
        };
        let len = loop {
            match self.read_line() {
                Ok(true) => {}
                Ok(false) => return None,
                Err(e) => return Some(Err(self.count_err(e))),
            }
            let line = self.src.line_no;
            let len = match split_in_place(&mut self.src.buf, delim, &mut self.fields) {
                Ok(len) => len,
                Err(kind) => return Some(Err(self.count_err(CdrLineError { line, kind }))),
            };
            if format == CdrFormat::GenericCsv && self.generic.is_none() {
                let Some(mapping) = &self.opts.generic else {
                    return None;
                };
                let header = String::from_utf8_lossy(&self.src.buf[..len]);
                let resolved = if mapping.has_header {
                    let r = mapping.resolve(Some((&header, &self.fields)));
                    self.first_data_line = false;
                    r
                } else {
                    mapping.resolve(None)
                };
                match resolved {
                    Ok(layout) => self.generic = Some(layout),
                    Err(msg) => {
                        return Some(Err(self.count_err(CdrLineError {
                            line,
                            kind: CdrLineErrorKind::Header(msg),
                        })));
                    }
                }
                if mapping.has_header {
                    continue;
                }
            }
            if self.first_data_line {
                self.first_data_line = false;
                let buf = &self.src.buf[..len];
                let value = |f: &Field| buf.get(f.start..f.end).unwrap_or(&[]);
                let has_time = self
                    .fields
                    .iter()
                    .any(|f| parse_datetime_fields(value(f)).is_some());
                let has_column_name = self.fields.iter().any(|f| {
                    HEADER_WORDS
                        .iter()
                        .any(|w| value(f).eq_ignore_ascii_case(w.as_bytes()))
                });
                if !has_time && has_column_name && format != CdrFormat::GenericCsv {
                    tracing::debug!(line, "first line holds no time: taken as a header row");
                    continue;
                }
            }
            break len;
        };
        let line = self.src.line_no;
        self.build_flat(format, line, len)
    }

    /// The record of the split line `src.buf[..len]`.
    fn build_flat(
        &mut self,
        format: CdrFormat,
        line: u64,
        len: usize,
    ) -> Option<Result<CallRecordRef<'_>, CdrLineError>> {
        let text = line_text(&self.src.buf, len, &mut self.fields, &mut self.lossy);
        let result = flat_record(
            format,
            text,
            &self.fields,
            &self.opts,
            self.generic.as_ref(),
            &mut self.clock,
            line,
        );
        counted(&mut self.stats, line, result)
    }

    /// Formats that may turn several lines into one call (or one line into several): records go through a queue.
    fn next_queued(&mut self, format: CdrFormat) -> Option<Result<CallRecord, CdrLineError>> {
        loop {
            if let Some(x) = self.queue.pop_front() {
                return Some(x);
            }
            if self.finished {
                return None;
            }
            match self.read_line() {
                Ok(true) => {}
                Ok(false) => {
                    self.end_of_input(format);
                    continue;
                }
                Err(e) => {
                    if matches!(e.kind, CdrLineErrorKind::LineTooLong { .. })
                        && format == CdrFormat::FreeSwitchJson
                    {
                        self.json = JsonDocs::new(self.opts.max_json_bytes.max(64));
                    }
                    if self.finished {
                        self.end_of_input(format);
                    }
                    self.queue.push_front(Err(e));
                    continue;
                }
            }
            let line = self.src.line_no;
            match format {
                CdrFormat::FreeSwitchJson => self.json_line(line),
                _ => self.acc_line(line),
            }
        }
    }

    fn end_of_input(&mut self, format: CdrFormat) {
        match format {
            CdrFormat::KamailioAcc => self.acc.finish(&mut self.queue),
            CdrFormat::FreeSwitchJson if self.json.in_document() => {
                self.queue.push_back(Err(CdrLineError {
                    line: self.json.start_line,
                    kind: CdrLineErrorKind::Json(
                        "document not closed before the end of the input".into(),
                    ),
                }));
                self.json = JsonDocs::new(self.opts.max_json_bytes.max(64));
            }
            _ => {}
        }
    }

    fn acc_line(&mut self, line: u64) {
        let delim = self.acc.choose_delim(&self.src.buf);
        let len = match split_in_place(&mut self.src.buf, delim, &mut self.fields) {
            Ok(len) => len,
            Err(kind) => {
                self.queue.push_back(Err(CdrLineError { line, kind }));
                return;
            }
        };
        let text: &str = match std::str::from_utf8(&self.src.buf[..len]) {
            Ok(t) => t,
            Err(_) => {
                make_lossy(&self.src.buf[..len], &mut self.fields, &mut self.lossy);
                self.lossy.as_str()
            }
        };
        self.acc
            .line(text, &self.fields, &mut self.clock, line, &mut self.queue);
    }

    fn json_line(&mut self, line: u64) {
        let feed = self.json.feed(&self.src.buf, line);
        if let Some(start) = self.json.abandoned {
            self.queue.push_back(Err(CdrLineError {
                line: start,
                kind: CdrLineErrorKind::Json(
                    "document cut short: a new one starts before it is closed".into(),
                ),
            }));
        }
        match feed {
            Feed::More => {}
            Feed::Stray => self.queue.push_back(Err(CdrLineError {
                line,
                kind: CdrLineErrorKind::Json("text outside any JSON document".into()),
            })),
            Feed::TooLarge => self.queue.push_back(Err(CdrLineError {
                line: self.json.start_line,
                kind: CdrLineErrorKind::Json(format!(
                    "document larger than {} bytes, skipped",
                    self.opts.max_json_bytes
                )),
            })),
            Feed::Complete => {
                let start_line = self.json.start_line;
                let err = |m: String| {
                    Err(CdrLineError {
                        line: start_line,
                        kind: CdrLineErrorKind::Json(m),
                    })
                };
                match serde_json::from_slice::<serde_json::Value>(&self.json.doc) {
                    Err(e) => self.queue.push_back(err(e.to_string())),
                    Ok(serde_json::Value::Array(items)) => {
                        for item in &items {
                            self.queue.push_back(
                                freeswitch_record(item, start_line, &mut self.clock).or_else(err),
                            );
                        }
                    }
                    Ok(v) => self
                        .queue
                        .push_back(freeswitch_record(&v, start_line, &mut self.clock).or_else(err)),
                }
            }
        }
    }
}

/// The text of the line `buf[..len]` split by [`split_in_place`] into `fields`: the line itself when it is
/// UTF-8, else each field converted lossily into `lossy` (and `fields` re-pointed there).
fn line_text<'a>(
    buf: &'a [u8],
    len: usize,
    fields: &mut [Field],
    lossy: &'a mut String,
) -> &'a str {
    let bytes = buf.get(..len).unwrap_or(&[]);
    match std::str::from_utf8(bytes) {
        Ok(t) => t,
        Err(_) => {
            make_lossy(bytes, fields, lossy);
            lossy.as_str()
        }
    }
}

/// The record of a line-per-call CSV line whose fields are `fields` over `text`.
fn flat_record<'a>(
    format: CdrFormat,
    text: &'a str,
    fields: &[Field],
    opts: &ReadOptions,
    generic: Option<&GenericLayout>,
    clock: &mut SiteClock,
    line: u64,
) -> Result<CallRecordRef<'a>, CdrLineErrorKind> {
    match format {
        CdrFormat::AsteriskCsv => {
            flat::asterisk_csv(text, fields, opts.asterisk_columns, clock, line)
        }
        CdrFormat::AsteriskCustom => flat::asterisk_custom(text, fields, clock, line),
        CdrFormat::FreeSwitchCsv => flat::freeswitch_csv(text, fields, clock, line),
        CdrFormat::GenericCsv => match generic {
            Some(layout) => generic_line(text, fields, layout, clock, line),
            None => Err(CdrLineErrorKind::Header(
                "generic mapping not resolved".into(),
            )),
        },
        CdrFormat::KamailioAcc | CdrFormat::FreeSwitchJson => Err(CdrLineErrorKind::Header(
            "internal: not a line-per-call format".into(),
        )),
    }
}

/// The record of a line split by [`split_marked`] (so all ASCII and well formed): same record and errors as
/// the scalar path of [`CdrReader::next_asterisk`]. Fields with doubled quotes are collapsed into `unquoted`,
/// except a caller id of the usual `"""Name"" <ext>"` shape: only its name is used
/// ([`name_from_clid`](crate::record::name_from_clid)), and the raw text from its second quote on has the same
/// name as the collapsed text (both read up to the first quote after the leading one).
///
/// The usual 18-column line reads its times and numbers first, and its record is then built where it is
/// returned (no copy of the record through an intermediate `Result`).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn marked_record<'a>(
    line_text: AsciiLine<'a>,
    cols: &'a mut Cols,
    unquoted: &'a mut String,
    custom: bool,
    opts: &ReadOptions,
    clock: &mut SiteClock,
    stats: &mut ReadStats,
    line: u64,
) -> Option<Result<CallRecordRef<'a>, CdrLineError>> {
    let clid = if custom { 0 } else { 4 };
    unquoted.clear();
    let mut collapsed = 0u32;
    let mut doubled = cols.doubled;
    while doubled != 0 {
        let k = doubled.trailing_zeros() as usize;
        doubled &= doubled - 1;
        let Some(b) = cols.bounds.get_mut(k) else {
            break;
        };
        let raw = line_text.get(b.0 as usize, b.1 as usize).unwrap_or("");
        if k == clid && raw.starts_with("\"\"") {
            b.0 += 1;
            continue;
        }
        let start = unquoted.len();
        collapse_quotes(raw, unquoted);
        *b = (start as u32, unquoted.len() as u32);
        collapsed |= 1 << k;
    }
    let n = cols.n.min(MAX_COLS);
    let columns = MarkedColumns {
        text: line_text,
        unquoted: unquoted.as_str(),
        bounds: cols.bounds.get(..n).unwrap_or(&[]),
        collapsed,
    };
    if !custom && flat::usual_18(n, opts.asterisk_columns) {
        // No field collapsed (the usual line: a caller id's pairs need no collapsing): every column is a range
        // of the line, without a test per column.
        if collapsed == 0 {
            let plain = PlainColumns {
                text: line_text,
                bounds: columns.bounds,
            };
            return usual_record(&plain, clock, stats, line);
        }
        return usual_record(&columns, clock, stats, line);
    }
    counted(
        stats,
        line,
        flat::asterisk_columns(n, &columns, custom, opts.asterisk_columns, clock, line),
    )
}

/// The record of a usual 18-column line ([`flat::usual_18`]) whose column `i` reads `cols.text(i)`.
#[inline(always)]
fn usual_record<'a>(
    cols: &impl flat::Columns<'a>,
    clock: &mut SiteClock,
    stats: &mut ReadStats,
    line: u64,
) -> Option<Result<CallRecordRef<'a>, CdrLineError>> {
    match flat::asterisk_18_timing(cols, clock) {
        Ok(t) => {
            stats.records += 1;
            Some(Ok(flat::asterisk_18_record(cols, t, line)))
        }
        Err(kind) => {
            stats.errors += 1;
            Some(Err(CdrLineError { line, kind }))
        }
    }
}

/// The fields of a line split by [`split_marked`], none of them collapsed: all in the line.
struct PlainColumns<'a> {
    text: AsciiLine<'a>,
    bounds: &'a [(u32, u32)],
}

impl<'a> flat::Columns<'a> for PlainColumns<'a> {
    #[inline(always)]
    fn text(&self, i: usize) -> &'a str {
        self.bounds
            .get(i)
            .and_then(|&(s, e)| self.text.get(s as usize, e as usize))
            .unwrap_or("")
    }

    #[inline(always)]
    fn bytes(&self, i: usize) -> &'a [u8] {
        self.bounds
            .get(i)
            .and_then(|&(s, e)| self.text.bytes().get(s as usize..e as usize))
            .unwrap_or(&[])
    }
}

/// The fields of a line split by [`split_marked`]: in the line, or (bit set in `collapsed`) in the buffer of
/// collapsed fields.
struct MarkedColumns<'a> {
    text: AsciiLine<'a>,
    unquoted: &'a str,
    /// The line's fields.
    bounds: &'a [(u32, u32)],
    collapsed: u32,
}

impl<'a> flat::Columns<'a> for MarkedColumns<'a> {
    #[inline(always)]
    fn text(&self, i: usize) -> &'a str {
        let Some(&(s, e)) = self.bounds.get(i) else {
            return "";
        };
        let (s, e) = (s as usize, e as usize);
        if self.collapsed >> i & 1 != 0 {
            return self.unquoted.get(s..e).unwrap_or("");
        }
        self.text.get(s, e).unwrap_or("")
    }

    #[inline(always)]
    fn bytes(&self, i: usize) -> &'a [u8] {
        let Some(&(s, e)) = self.bounds.get(i) else {
            return &[];
        };
        let (s, e) = (s as usize, e as usize);
        let from = if self.collapsed >> i & 1 != 0 {
            self.unquoted.as_bytes()
        } else {
            self.text.bytes()
        };
        from.get(s..e).unwrap_or(&[])
    }
}

/// Slow path for a line with invalid UTF-8: each field is converted lossily into `out`, and `fields` re-pointed.
/// A record or the error of line `line`, counted in `stats`.
fn counted<'a>(
    stats: &mut ReadStats,
    line: u64,
    built: Result<CallRecordRef<'a>, CdrLineErrorKind>,
) -> Option<Result<CallRecordRef<'a>, CdrLineError>> {
    match built {
        Ok(r) => {
            stats.records += 1;
            Some(Ok(r))
        }
        Err(kind) => {
            stats.errors += 1;
            Some(Err(CdrLineError { line, kind }))
        }
    }
}

fn make_lossy(buf: &[u8], fields: &mut [Field], out: &mut String) {
    out.clear();
    for f in fields.iter_mut() {
        let start = out.len();
        out.push_str(&String::from_utf8_lossy(
            buf.get(f.start..f.end).unwrap_or(&[]),
        ));
        f.start = start;
        f.end = out.len();
    }
}

impl<R: BufRead> Iterator for CdrReader<R> {
    type Item = Result<CallRecord, CdrLineError>;

    fn next(&mut self) -> Option<Self::Item> {
        if matches!(
            self.format,
            Some(CdrFormat::KamailioAcc | CdrFormat::FreeSwitchJson)
        ) {
            let format = self.format?;
            let item = self.next_queued(format)?;
            return Some(match item {
                Ok(r) => {
                    self.stats.records += 1;
                    Ok(r)
                }
                Err(e) => Err(self.count_err(e)),
            });
        }
        self.next_ref().map(|r| r.map(|r| r.to_owned_record()))
    }
}

/// Reads a whole CDR text into records and errors (for tests and small files).
pub fn read_all(
    text: &str,
    opts: ReadOptions,
) -> Result<(Vec<CallRecord>, Vec<CdrLineError>), CdrConfigError> {
    let mut records = Vec::new();
    let mut errors = Vec::new();
    for item in CdrReader::new(text.as_bytes(), opts)? {
        match item {
            Ok(r) => records.push(r),
            Err(e) => errors.push(e),
        }
    }
    Ok((records, errors))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The general path every Asterisk line took before the fast path: copy, `split_in_place`, whole-line UTF-8
    /// check (lossy on failure), `asterisk_csv`.
    fn reference(text: &[u8]) -> Vec<Result<CallRecord, CdrLineError>> {
        let mut clock = SiteClock::new(ReadOptions::for_format(CdrFormat::AsteriskCsv).site_tz);
        let mut out = Vec::new();
        let mut fields = Vec::new();
        let mut lossy = String::new();
        for (i, raw) in text.split(|&b| b == b'\n').enumerate() {
            let line = i as u64 + 1;
            let mut buf = raw.strip_suffix(b"\r").unwrap_or(raw).to_vec();
            if buf.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let len = match split_in_place(&mut buf, b',', &mut fields) {
                Ok(len) => len,
                Err(kind) => {
                    out.push(Err(CdrLineError { line, kind }));
                    continue;
                }
            };
            let text: &str = match std::str::from_utf8(&buf[..len]) {
                Ok(t) => t,
                Err(_) => {
                    make_lossy(&buf[..len], &mut fields, &mut lossy);
                    lossy.as_str()
                }
            };
            out.push(
                flat::asterisk_csv(text, &fields, AsteriskColumns::Auto, &mut clock, line)
                    .map(|r| r.to_owned_record())
                    .map_err(|kind| CdrLineError { line, kind }),
            );
        }
        out
    }

    use crate::format::AsteriskColumns;

    const FIRST: &str = "\"\",\"201\",\"0312345678\",\"from-internal\",\"\"\"A\"\" <201>\",\"PJSIP/201-00000001\",\
        \"\",\"Dial\",\"PJSIP/0312345678@trunk,60\",\"2025-06-02 09:00:16\",,\"2025-06-02 09:00:18\",2,0,\
        \"NO ANSWER\",\"DOCUMENTATION\",\"1748822416.1\",\"legit\"";

    fn column() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            Just(b"\"ACME\"".to_vec()),
            Just(b"\"\"".to_vec()),
            Just(Vec::new()),
            Just(b"\"201\"".to_vec()),
            Just(b"\"\"\"Agent\"\" <340>\"".to_vec()),
            Just(b"\"\"\"Agent <340>\"".to_vec()),
            Just(b"\"\"\"\"\"\"\"".to_vec()),
            Just(b"\" \"\"A\"\" <1>\"".to_vec()),
            Just(b"\"Jo\"\"e <1>\"".to_vec()),
            Just(b"\"\"\"A\"\"\"\"B\"\" <1>\"".to_vec()),
            Just("\"Jos\u{e9}\"".as_bytes().to_vec()),
            Just(b"\"bad\xff\"".to_vec()),
            Just(b"\"PJSIP/340-00006dd2\"".to_vec()),
            Just(b"\"2025-06-02 09:00:16\"".to_vec()),
            Just(b"\"2025-06-02 10:00:17\"".to_vec()),
            Just(b"\"2025-02-30 10:00:17\"".to_vec()),
            Just(b"\"1748822416.28114\"".to_vec()),
            Just(b"\"legit\"".to_vec()),
            Just(b"\"ANSWERED\"".to_vec()),
            Just(b"32".to_vec()),
            Just(b"x\"y".to_vec()),
            Just(b"\"a,b\"".to_vec()),
            Just(b"\"open".to_vec()),
            Just(b"\"closed\"x".to_vec()),
        ]
    }

    /// A line of 15 to 22 columns built on a valid record so that many lines reach the record builder.
    fn line() -> impl Strategy<Value = Vec<u8>> {
        (
            15usize..23,
            proptest::collection::vec((0usize..22, column()), 0..4),
            prop_oneof![4 => Just(&b"\n"[..]), 1 => Just(&b"\r\n"[..]), 1 => Just(&b"\n \n"[..])],
        )
            .prop_map(|(n, edits, end)| {
                let mut buf = FIRST.as_bytes().to_vec();
                let mut cols = Vec::new();
                split_in_place(&mut buf, b',', &mut cols).expect("valid");
                let mut cols: Vec<Vec<u8>> = cols
                    .iter()
                    .map(|f| {
                        let v = &buf[f.start..f.end];
                        if f.quoted {
                            let mut q = vec![b'"'];
                            for &b in v {
                                q.push(b);
                                if b == b'"' {
                                    q.push(b'"');
                                }
                            }
                            q.push(b'"');
                            q
                        } else {
                            v.to_vec()
                        }
                    })
                    .collect();
                cols.resize(n, b"\"x\"".to_vec());
                for (i, v) in edits {
                    if let Some(c) = cols.get_mut(i) {
                        *c = v;
                    }
                }
                let mut l = cols.join(&b","[..]);
                l.extend_from_slice(end);
                l
            })
    }

    proptest! {
        #[test]
        fn fast_asterisk_path_reads_as_the_general_path(
            lines in proptest::collection::vec(line(), 0..12),
            cap in 1usize..700,
            last_newline in any::<bool>(),
        ) {
            let mut text = format!("{FIRST}\n").into_bytes();
            for l in &lines {
                text.extend_from_slice(l);
            }
            if !last_newline && text.last() == Some(&b'\n') {
                text.pop();
            }
            let want = reference(&text);
            let input = BufReader::with_capacity(cap, &text[..]);
            let reader = CdrReader::new(input, ReadOptions::for_format(CdrFormat::AsteriskCsv))
                .expect("options");
            let got: Vec<_> = reader.collect();
            prop_assert_eq!(got, want);
        }
    }

    #[test]
    fn fast_path_lines_keep_their_numbers_and_text() {
        let mut text = format!(
            "{FIRST}\n\n{}\r\n\"broken,\n",
            FIRST.replace("\"legit\"", "\"\"\"x\"\"y\"")
        )
        .into_bytes();
        text.extend_from_slice(
            FIRST
                .replace("\"201\",\"0312", "\"2\u{e9}\u{1}\",\"0312")
                .as_bytes(),
        );
        text.push(b'\n');
        let bad = text.iter().position(|&b| b == 1).expect("marker");
        text[bad] = 0xff;
        let reader = CdrReader::new(&text[..], ReadOptions::for_format(CdrFormat::AsteriskCsv))
            .expect("options");
        let (records, errors): (Vec<_>, Vec<_>) = reader.partition(Result::is_ok);
        let records: Vec<CallRecord> = records.into_iter().filter_map(Result::ok).collect();
        assert_eq!(records.len(), 3);
        assert_eq!(records[1].line, 3);
        assert_eq!(records[1].userfield, "\"x\"y");
        assert_eq!(records[1].caller_name, "A");
        assert_eq!(records[2].line, 5);
        assert_eq!(records[2].caller, "2\u{e9}\u{fffd}");
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].as_ref().err().map(|e| e.line), Some(4));
    }
}
