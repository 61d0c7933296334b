//! `cdr`: streaming readers of real PBX/switch call detail record formats into one [`CallRecord`] shape, with
//! line-level errors, plus [`synth`], the project's labelled CDR scenario generator.
//!
//! ```
//! use cdr::{CdrReader, ReadOptions};
//! let master_csv = r#""","205","0312345678","from-internal","""Tanaka"" <205>","PJSIP/205-00000001","PJSIP/ntt-00000002","Dial","PJSIP/0312345678@ntt","2025-06-02 10:00:00","2025-06-02 10:00:05","2025-06-02 10:01:05",65,60,"ANSWERED","DOCUMENTATION"
//! "#;
//! let mut reader = CdrReader::new(master_csv.as_bytes(), ReadOptions::default()).unwrap();
//! while let Some(item) = reader.next_ref() {
//!     match item {
//!         Ok(call) => assert_eq!((call.account, call.dialed, call.billable_secs), ("205", "0312345678", 60)),
//!         Err(e) => eprintln!("skipped {e}"),
//!     }
//! }
//! ```

pub mod cache;
mod csv;
mod error;
mod flat;
mod format;
mod generic;
mod json;
mod kamailio;
mod marks;
mod reader;
mod record;
pub mod synth;
mod time;
mod write;

pub use error::{CdrConfigError, CdrLineError, CdrLineErrorKind};
pub use format::{AsteriskColumns, CdrFormat, ReadOptions, UnknownFormatName, detect_format};
pub use generic::{ColumnRef, GenericColumns, GenericCsvMapping};
pub use reader::{CdrOpenError, CdrReader, ReadStats, read_all};
pub use record::{
    CallRecord, CallRecordRef, CdrLeg, Disposition, extension_from_channel, name_from_clid,
};
pub use time::SiteClock;
pub use write::AsteriskCsvWriter;

/// Re-exported so that callers can name time zones without depending on chrono-tz themselves.
pub use chrono_tz::Tz;
