//! One-line-one-call CSV formats with a fixed column order: Asterisk `cdr_csv` (16–21 columns), Asterisk
//! `cdr_custom` (sample mapping), FreeSWITCH `mod_cdr_csv` (default `example` template). Each line becomes a
//! borrowed [`CallRecordRef`] pointing into the reader's line buffer.
//!
//! Column orders (0-based), from the Asterisk and FreeSWITCH sources:
//! - `cdr_csv` (`build_csv_record`): accountcode, src, dst, dcontext, clid, channel, dstchannel, lastapp, lastdata,
//!   start, answer, end, duration, billsec, disposition, amaflags, then `[uniqueid]` (loguniqueid), `[userfield]`
//!   (loguserfield), `[peeraccount, linkedid, sequence]` (newcdrcolumns). Strings and times quoted, integers bare,
//!   an unset time (unanswered `answer`) is an empty unquoted field.
//! - `cdr_custom` sample `Master.csv`: clid, src, dst, dcontext, channel, dstchannel, lastapp, lastdata, start,
//!   answer, end, duration, billsec, disposition, amaflags, accountcode, uniqueid, userfield, sequence.
//! - FreeSWITCH `example`: caller_id_name, caller_id_number, destination_number, context, start_stamp,
//!   answer_stamp, end_stamp, duration, billsec, hangup_cause, uuid, bleg_uuid, accountcode, read_codec,
//!   write_codec; the `snom`/`linksys` templates add sip_user_agent at 15.

use chrono::{DateTime, Utc};

use crate::csv::{Field, parse_u32};
use crate::error::{CdrLineErrorKind, excerpt};
use crate::format::AsteriskColumns;
use crate::record::{CallRecordRef, Disposition, extension_from_channel, name_from_clid};
use crate::time::SiteClock;

/// Text of field `i`, `""` when absent.
#[inline]
pub(crate) fn field<'a>(text: &'a str, fields: &[Field], i: usize) -> &'a str {
    fields
        .get(i)
        .and_then(|f| text.get(f.start..f.end))
        .unwrap_or("")
}

/// A required time column.
pub(crate) fn required_time(
    clock: &mut SiteClock,
    value: &str,
    column: &'static str,
) -> Result<DateTime<Utc>, CdrLineErrorKind> {
    required_time_bytes(clock, value.as_bytes(), column)
}

#[inline(always)]
fn required_time_bytes(
    clock: &mut SiteClock,
    value: &[u8],
    column: &'static str,
) -> Result<DateTime<Utc>, CdrLineErrorKind> {
    if value.is_empty() {
        return Err(CdrLineErrorKind::MissingValue { column });
    }
    clock
        .parse_local(value)
        .ok_or_else(|| CdrLineErrorKind::BadTime {
            column,
            value: excerpt(value),
        })
}

/// An optional time column: empty (or MySQL's zero date) means "never happened".
pub(crate) fn optional_time(
    clock: &mut SiteClock,
    value: &str,
    column: &'static str,
) -> Result<Option<DateTime<Utc>>, CdrLineErrorKind> {
    optional_time_bytes(clock, value.as_bytes(), column)
}

#[inline(always)]
fn optional_time_bytes(
    clock: &mut SiteClock,
    value: &[u8],
    column: &'static str,
) -> Result<Option<DateTime<Utc>>, CdrLineErrorKind> {
    if value.is_empty() || value.starts_with(b"0000-00-00") {
        return Ok(None);
    }
    required_time_bytes(clock, value, column).map(Some)
}

pub(crate) fn number(value: &str, column: &'static str) -> Result<u32, CdrLineErrorKind> {
    number_bytes(value.as_bytes(), column)
}

#[inline(always)]
fn number_bytes(value: &[u8], column: &'static str) -> Result<u32, CdrLineErrorKind> {
    parse_u32(value).ok_or_else(|| CdrLineErrorKind::BadNumber {
        column,
        value: excerpt(value),
    })
}

/// The columns of one line as the Asterisk record builder reads them: column `i` as text, `""` when absent,
/// or as bytes for the columns it only parses (times, numbers), which need no `str`.
pub(crate) trait Columns<'a> {
    fn text(&self, i: usize) -> &'a str;
    fn bytes(&self, i: usize) -> &'a [u8] {
        self.text(i).as_bytes()
    }
}

/// Columns read by a function.
struct ByFn<F>(F);

impl<'a, F: Fn(usize) -> &'a str> Columns<'a> for ByFn<F> {
    #[inline(always)]
    fn text(&self, i: usize) -> &'a str {
        (self.0)(i)
    }
}

/// Where each column sits in one Asterisk line (`cdr_csv` or `cdr_custom`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct AsteriskLayout {
    accountcode: usize,
    src: usize,
    dst: usize,
    dcontext: usize,
    clid: usize,
    channel: usize,
    dstchannel: usize,
    lastapp: usize,
    lastdata: usize,
    start: usize,
    answer: usize,
    end: usize,
    duration: usize,
    billsec: usize,
    disposition: usize,
    uniqueid: Option<usize>,
    userfield: Option<usize>,
    linkedid: Option<usize>,
}

const CDR_CSV_BASE: AsteriskLayout = AsteriskLayout {
    accountcode: 0,
    src: 1,
    dst: 2,
    dcontext: 3,
    clid: 4,
    channel: 5,
    dstchannel: 6,
    lastapp: 7,
    lastdata: 8,
    start: 9,
    answer: 10,
    end: 11,
    duration: 12,
    billsec: 13,
    disposition: 14,
    uniqueid: None,
    userfield: None,
    linkedid: None,
};

const CDR_CUSTOM: AsteriskLayout = AsteriskLayout {
    clid: 0,
    src: 1,
    dst: 2,
    dcontext: 3,
    channel: 4,
    dstchannel: 5,
    lastapp: 6,
    lastdata: 7,
    start: 8,
    answer: 9,
    end: 10,
    duration: 11,
    billsec: 12,
    disposition: 13,
    accountcode: 15,
    uniqueid: Some(16),
    userfield: Some(17),
    linkedid: None,
};

/// `[system-]1717390800.42`: what Asterisk's uniqueid looks like (systemname prefix optional).
pub(crate) fn looks_like_uniqueid(value: &str) -> bool {
    let tail = value.rsplit('-').next().unwrap_or(value);
    match tail.split_once('.') {
        Some((a, b)) => {
            !a.is_empty()
                && !b.is_empty()
                && a.bytes().all(|c| c.is_ascii_digit())
                && b.bytes().all(|c| c.is_ascii_digit())
        }
        None => false,
    }
}

const CDR_CSV_EXPECTED: &str = "16 to 21";

/// The `cdr_csv` layout of a line of `n` columns; `column_16` gives the text of column 16 (0-based) when the
/// count leaves its meaning open.
fn cdr_csv_layout<'a>(
    n: usize,
    column_16: impl Fn() -> &'a str,
    columns: AsteriskColumns,
) -> Result<AsteriskLayout, CdrLineErrorKind> {
    let mut l = CDR_CSV_BASE;
    let (uniqueid, userfield, new_columns) = match columns {
        AsteriskColumns::Fixed {
            uniqueid,
            userfield,
            new_columns,
        } => {
            let want =
                16 + usize::from(uniqueid) + usize::from(userfield) + 3 * usize::from(new_columns);
            if n != want {
                return Err(CdrLineErrorKind::ColumnCount {
                    found: n,
                    expected: "as configured",
                    format: "Asterisk cdr_csv",
                });
            }
            (uniqueid, userfield, new_columns)
        }
        AsteriskColumns::Auto => match n {
            16 => (false, false, false),
            17 => {
                let id = looks_like_uniqueid(column_16());
                (id, !id, false)
            }
            18 => (true, true, false),
            19 => (false, false, true),
            20 => {
                let id = looks_like_uniqueid(column_16());
                (id, !id, true)
            }
            21 => (true, true, true),
            _ => {
                return Err(CdrLineErrorKind::ColumnCount {
                    found: n,
                    expected: CDR_CSV_EXPECTED,
                    format: "Asterisk cdr_csv",
                });
            }
        },
    };
    let mut next = 16;
    if uniqueid {
        l.uniqueid = Some(next);
        next += 1;
    }
    if userfield {
        l.userfield = Some(next);
        next += 1;
    }
    if new_columns {
        // peeraccount at `next`, linkedid after it, sequence last.
        l.linkedid = Some(next + 1);
    }
    Ok(l)
}

/// The columns of an Asterisk record that can fail to read: its times and numbers.
pub(crate) struct Timing {
    start: DateTime<Utc>,
    answer: Option<DateTime<Utc>>,
    end: DateTime<Utc>,
    duration_secs: u32,
    billable_secs: u32,
}

/// Reads the times and numbers of one Asterisk line (the errors of [`build_asterisk`], in its order).
#[inline(always)]
fn asterisk_timing<'a>(
    cols: &impl Columns<'a>,
    l: &AsteriskLayout,
    clock: &mut SiteClock,
) -> Result<Timing, CdrLineErrorKind> {
    Ok(Timing {
        start: required_time_bytes(clock, cols.bytes(l.start), "start")?,
        answer: optional_time_bytes(clock, cols.bytes(l.answer), "answer")?,
        end: required_time_bytes(clock, cols.bytes(l.end), "end")?,
        duration_secs: number_bytes(cols.bytes(l.duration), "duration")?,
        billable_secs: number_bytes(cols.bytes(l.billsec), "billsec")?,
    })
}

/// The record of one Asterisk line whose times and numbers are read: text columns only, cannot fail.
#[inline(always)]
fn asterisk_record<'a>(
    cols: &impl Columns<'a>,
    l: &AsteriskLayout,
    t: Timing,
    line: u64,
) -> CallRecordRef<'a> {
    let get = |i: usize| cols.text(i);
    let get_opt = |i: Option<usize>| match i {
        Some(i) => cols.text(i),
        None => "",
    };
    let disposition_text = get(l.disposition);
    let src = get(l.src);
    let channel = get(l.channel);
    let accountcode = get(l.accountcode);
    let account = if !accountcode.is_empty() {
        accountcode
    } else {
        extension_from_channel(channel).unwrap_or(src)
    };
    let uniqueid = get_opt(l.uniqueid);
    let linked_id = get_opt(l.linkedid);
    let clid = get(l.clid);
    CallRecordRef {
        line,
        call_id: if uniqueid.is_empty() {
            linked_id
        } else {
            uniqueid
        },
        start: t.start,
        answer: t.answer,
        end: t.end,
        duration_secs: t.duration_secs,
        billable_secs: t.billable_secs,
        caller: src,
        caller_name: name_from_clid(clid),
        dialed: get(l.dst),
        account,
        tenant: None,
        disposition: Disposition::from_asterisk(disposition_text),
        source_ip: None,
        user_agent: None,
        context: get(l.dcontext),
        channel,
        dst_channel: get(l.dstchannel),
        last_app: get(l.lastapp),
        last_data: get(l.lastdata),
        userfield: get_opt(l.userfield),
        hangup_cause: disposition_text,
        linked_id,
    }
}

/// Builds the record of one Asterisk line whose column `i` reads `cols.text(i)` (`""` when absent).
#[inline(always)]
fn build_asterisk<'a>(
    cols: &impl Columns<'a>,
    l: &AsteriskLayout,
    clock: &mut SiteClock,
    line: u64,
) -> Result<CallRecordRef<'a>, CdrLineErrorKind> {
    let t = asterisk_timing(cols, l, clock)?;
    Ok(asterisk_record(cols, l, t, line))
}

/// The usual Master.csv line (`cdr_csv`, 18 columns, see [`usual_18`]) in two steps, so that the caller can
/// build the record where it returns it: the times and numbers (which may fail), then the record.
#[inline(always)]
pub(crate) fn asterisk_18_timing<'a>(
    cols: &impl Columns<'a>,
    clock: &mut SiteClock,
) -> Result<Timing, CdrLineErrorKind> {
    asterisk_timing(cols, &CDR_CSV_18, clock)
}

/// The record of a usual 18-column line whose [`asterisk_18_timing`] read `t`.
#[inline(always)]
pub(crate) fn asterisk_18_record<'a>(
    cols: &impl Columns<'a>,
    t: Timing,
    line: u64,
) -> CallRecordRef<'a> {
    asterisk_record(cols, &CDR_CSV_18, t, line)
}

/// A `cdr_csv` line of `n` columns has the usual 18-column layout (uniqueid and userfield) under `columns`:
/// what [`cdr_csv_layout`] answers for 18 columns, without building and comparing the layout.
#[inline(always)]
pub(crate) fn usual_18(n: usize, columns: AsteriskColumns) -> bool {
    n == 18
        && matches!(
            columns,
            AsteriskColumns::Auto
                | AsteriskColumns::Fixed {
                    uniqueid: true,
                    userfield: true,
                    new_columns: false,
                }
        )
}

/// One Asterisk `cdr_csv` line.
pub(crate) fn asterisk_csv<'a>(
    text: &'a str,
    fields: &[Field],
    columns: AsteriskColumns,
    clock: &mut SiteClock,
    line: u64,
) -> Result<CallRecordRef<'a>, CdrLineErrorKind> {
    let get = |i: usize| field(text, fields, i);
    let layout = cdr_csv_layout(fields.len(), || get(16), columns)?;
    build_asterisk(&ByFn(get), &layout, clock, line)
}

/// One Asterisk line (`cdr_csv` when `custom` is false, else `cdr_custom`) of `n` columns whose column `i`
/// reads `get(i)`: the reader's scalar fast path, which hands over fields without a `Field` table over one
/// string. Same checks and same record as [`asterisk_csv`] / [`asterisk_custom`].
pub(crate) fn asterisk_with<'a>(
    n: usize,
    get: impl Fn(usize) -> &'a str,
    custom: bool,
    columns: AsteriskColumns,
    clock: &mut SiteClock,
    line: u64,
) -> Result<CallRecordRef<'a>, CdrLineErrorKind> {
    asterisk_columns(n, &ByFn(get), custom, columns, clock, line)
}

/// `cdr_csv` with `loguniqueid` and `loguserfield` (18 columns), the usual Master.csv.
const CDR_CSV_18: AsteriskLayout = AsteriskLayout {
    uniqueid: Some(16),
    userfield: Some(17),
    ..CDR_CSV_BASE
};

/// [`asterisk_with`] over any [`Columns`]. Inlined, so that the record is built where the reader returns it;
/// the usual 18-column layout has a copy of the builder of its own, where every column index is a constant.
#[inline(always)]
pub(crate) fn asterisk_columns<'a>(
    n: usize,
    cols: &impl Columns<'a>,
    custom: bool,
    columns: AsteriskColumns,
    clock: &mut SiteClock,
    line: u64,
) -> Result<CallRecordRef<'a>, CdrLineErrorKind> {
    if custom {
        custom_count(n)?;
        return build_asterisk(cols, &CDR_CUSTOM, clock, line);
    }
    if usual_18(n, columns) {
        return build_asterisk(cols, &CDR_CSV_18, clock, line);
    }
    let layout = cdr_csv_layout(n, || cols.text(16), columns)?;
    build_asterisk(cols, &layout, clock, line)
}

fn custom_count(n: usize) -> Result<(), CdrLineErrorKind> {
    if !(18..=19).contains(&n) {
        return Err(CdrLineErrorKind::ColumnCount {
            found: n,
            expected: "19",
            format: "Asterisk cdr_custom sample mapping",
        });
    }
    Ok(())
}

/// One Asterisk `cdr_custom` line (sample mapping; the trailing `sequence` may be absent).
pub(crate) fn asterisk_custom<'a>(
    text: &'a str,
    fields: &[Field],
    clock: &mut SiteClock,
    line: u64,
) -> Result<CallRecordRef<'a>, CdrLineErrorKind> {
    custom_count(fields.len())?;
    build_asterisk(&ByFn(|i| field(text, fields, i)), &CDR_CUSTOM, clock, line)
}

/// One FreeSWITCH `mod_cdr_csv` line (`example` template and its longer `snom`/`linksys` siblings).
pub(crate) fn freeswitch_csv<'a>(
    text: &'a str,
    fields: &[Field],
    clock: &mut SiteClock,
    line: u64,
) -> Result<CallRecordRef<'a>, CdrLineErrorKind> {
    if !(13..=20).contains(&fields.len()) {
        return Err(CdrLineErrorKind::ColumnCount {
            found: fields.len(),
            expected: "13 to 20 (15 for the example template)",
            format: "FreeSWITCH mod_cdr_csv",
        });
    }
    let get = |i: usize| field(text, fields, i).trim();
    let start = required_time(clock, get(4), "start_stamp")?;
    let answer = optional_time(clock, get(5), "answer_stamp")?;
    let end = required_time(clock, get(6), "end_stamp")?;
    let duration_secs = number(get(7), "duration")?;
    let billable_secs = number(get(8), "billsec")?;
    let cause = get(9);
    let caller = get(1);
    let accountcode = get(12);
    let user_agent = if fields.len() >= 16 {
        Some(get(15)).filter(|s| !s.is_empty())
    } else {
        None
    };
    Ok(CallRecordRef {
        line,
        call_id: get(10),
        start,
        answer,
        end,
        duration_secs,
        billable_secs,
        caller,
        caller_name: get(0),
        dialed: get(2),
        account: if accountcode.is_empty() {
            caller
        } else {
            accountcode
        },
        tenant: None,
        disposition: Disposition::from_freeswitch_cause(cause, Some(answer.is_some())),
        source_ip: None,
        user_agent,
        context: get(3),
        channel: "",
        dst_channel: "",
        last_app: "",
        last_data: "",
        userfield: "",
        hangup_cause: cause,
        linked_id: get(11),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `usual_18` holds exactly when `cdr_csv_layout` gives the usual 18-column layout.
    #[test]
    fn the_usual_18_columns() {
        let mut all = vec![AsteriskColumns::Auto];
        for bits in 0..8 {
            all.push(AsteriskColumns::Fixed {
                uniqueid: bits & 1 != 0,
                userfield: bits & 2 != 0,
                new_columns: bits & 4 != 0,
            });
        }
        for columns in all {
            for n in 0..25 {
                for column_16 in ["", "1748822416.1", "legit"] {
                    let layout = cdr_csv_layout(n, || column_16, columns);
                    assert_eq!(
                        usual_18(n, columns),
                        layout == Ok(CDR_CSV_18),
                        "{n} {columns:?} {column_16}"
                    );
                }
            }
        }
    }

    #[test]
    fn uniqueid_shapes() {
        assert!(looks_like_uniqueid("1717390800.42"));
        assert!(looks_like_uniqueid("pbx01-1717390800.42"));
        assert!(!looks_like_uniqueid("legit"));
        assert!(!looks_like_uniqueid(""));
        assert!(!looks_like_uniqueid("1.2.3"));
        assert!(!looks_like_uniqueid("fraud:weekend_pump"));
    }
}
