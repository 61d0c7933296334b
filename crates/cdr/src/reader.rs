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

use crate::csv::{Field, LineRead, LineSource, split_in_place};
use crate::error::{CdrConfigError, CdrLineError, CdrLineErrorKind};
use crate::flat;
use crate::format::{CdrFormat, ReadOptions, detect_format};
use crate::generic::{GenericLayout, generic_line};
use crate::json::{Feed, JsonDocs, freeswitch_record};
use crate::kamailio::AccPairing;
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
        loop {
            if self.finished {
                return Ok(false);
            }
            match self.src.next_line() {
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
            if self.src.line_no == 1 && self.src.buf.starts_with(BOM) {
                self.src.buf.drain(..BOM.len());
            }
            if !self.src.buf.iter().all(u8::is_ascii_whitespace) {
                return Ok(true);
            }
        }
    }

    fn next_flat(&mut self, format: CdrFormat) -> Option<Result<CallRecordRef<'_>, CdrLineError>> {
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
        let text: &str = match std::str::from_utf8(&self.src.buf[..len]) {
            Ok(t) => t,
            Err(_) => {
                make_lossy(&self.src.buf[..len], &mut self.fields, &mut self.lossy);
                self.lossy.as_str()
            }
        };
        let fields = &self.fields;
        let clock = &mut self.clock;
        let result = match format {
            CdrFormat::AsteriskCsv => {
                flat::asterisk_csv(text, fields, self.opts.asterisk_columns, clock, line)
            }
            CdrFormat::AsteriskCustom => flat::asterisk_custom(text, fields, clock, line),
            CdrFormat::FreeSwitchCsv => flat::freeswitch_csv(text, fields, clock, line),
            CdrFormat::GenericCsv => match &self.generic {
                Some(layout) => generic_line(text, fields, layout, clock, line),
                None => Err(CdrLineErrorKind::Header(
                    "generic mapping not resolved".into(),
                )),
            },
            CdrFormat::KamailioAcc | CdrFormat::FreeSwitchJson => Err(CdrLineErrorKind::Header(
                "internal: not a line-per-call format".into(),
            )),
        };
        match result {
            Ok(r) => {
                self.stats.records += 1;
                Some(Ok(r))
            }
            Err(kind) => {
                self.stats.errors += 1;
                Some(Err(CdrLineError { line, kind }))
            }
        }
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

/// Slow path for a line with invalid UTF-8: each field is converted lossily into `out`, and `fields` re-pointed.
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
