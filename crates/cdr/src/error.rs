//! Errors of the CDR readers: one per broken line (the reader goes on with the next line), plus the few errors
//! that stop a file (unreadable input, a header that does not fit the mapping, an unknown format).

use thiserror::Error;

/// What was wrong with one line (or, for JSON, one document) of a CDR file.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum CdrLineErrorKind {
    /// The line does not have the number of columns the format has.
    #[error("found {found} columns, expected {expected} ({format})")]
    ColumnCount {
        found: usize,
        expected: &'static str,
        format: &'static str,
    },
    /// A quoted field is never closed.
    #[error("column {column}: quote opened but never closed")]
    UnterminatedQuote { column: usize },
    /// Something follows a closing quote before the next separator (`"abc"x,`).
    #[error("column {column}: text after the closing quote")]
    TextAfterQuote { column: usize },
    /// A time column does not hold a time.
    #[error("{column}: not a time: {value:?}")]
    BadTime { column: &'static str, value: String },
    /// A number column does not hold a number.
    #[error("{column}: not a number: {value:?}")]
    BadNumber { column: &'static str, value: String },
    /// A required column is empty.
    #[error("{column} is empty")]
    MissingValue { column: &'static str },
    /// The line is longer than the configured limit (the rest of it was skipped up to the next newline).
    #[error("line longer than {limit} bytes, skipped")]
    LineTooLong { limit: usize },
    /// A JSON CDR that does not parse, or lacks what a call needs.
    #[error("JSON CDR: {0}")]
    Json(String),
    /// The header line does not provide the columns the format or mapping needs. Fatal: the file stops here.
    #[error("header: {0}")]
    Header(String),
    /// Reading the input failed. Fatal: the file stops here.
    #[error("read error: {0}")]
    Io(String),
    /// The first lines match none of the known formats. Fatal.
    #[error(
        "cannot tell which CDR format this is from its first lines; name the format explicitly"
    )]
    UnknownFormat,
}

/// A broken CDR line: where (1-based line number) and what was wrong.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[error("line {line}: {kind}")]
pub struct CdrLineError {
    /// Line number (1-based) in the input; for a multi-line JSON document, its first line.
    pub line: u64,
    /// What was wrong.
    pub kind: CdrLineErrorKind,
}

impl CdrLineError {
    /// True when the reader stops after this error (I/O, header, unknown format); otherwise it goes on with the
    /// next line.
    pub fn is_fatal(&self) -> bool {
        matches!(
            self.kind,
            CdrLineErrorKind::Io(_) | CdrLineErrorKind::Header(_) | CdrLineErrorKind::UnknownFormat
        )
    }
}

/// Errors in reader options (bad generic mapping, unknown time zone), found before any line is read.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum CdrConfigError {
    /// The site time zone is not an IANA name chrono-tz knows.
    #[error("unknown time zone {0:?} (use an IANA name such as Asia/Tokyo or UTC)")]
    UnknownTimeZone(String),
    /// The generic CSV mapping is not usable.
    #[error("generic CSV mapping: {0}")]
    Mapping(String),
}

/// Shortens a value quoted in an error message so that a megabyte of garbage does not end up in a log line.
pub(crate) fn excerpt(bytes: &[u8]) -> String {
    const MAX: usize = 64;
    let text = String::from_utf8_lossy(bytes);
    if text.chars().count() <= MAX {
        text.into_owned()
    } else {
        let mut s: String = text.chars().take(MAX).collect();
        s.push('…');
        s
    }
}
