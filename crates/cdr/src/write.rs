//! Writes call records as Asterisk `cdr_csv` `Master.csv` lines, exactly as Asterisk does (strings and times
//! double-quoted with `"` doubled inside, integers bare, an unanswered call's `answer` empty and unquoted), in the
//! site's local time. Used by the scenario generator and by the write→read round-trip tests.

use std::fmt::Write as _;

use chrono::{DateTime, Datelike, Timelike, Utc};
use chrono_tz::Tz;

use crate::record::{CallRecord, extension_from_channel};

/// Formats records as `Master.csv` lines for one `cdr.conf` column set.
#[derive(Clone, Debug)]
pub struct AsteriskCsvWriter {
    tz: Tz,
    uniqueid: bool,
    userfield: bool,
    new_columns: bool,
    sequence: u64,
}

impl AsteriskCsvWriter {
    /// A writer for `loguniqueid`, `loguserfield` and `newcdrcolumns` as given, times in `tz`.
    pub fn new(tz: Tz, uniqueid: bool, userfield: bool, new_columns: bool) -> AsteriskCsvWriter {
        AsteriskCsvWriter {
            tz,
            uniqueid,
            userfield,
            new_columns,
            sequence: 0,
        }
    }

    /// The column count of the lines this writer produces (16 to 21).
    pub fn column_count(&self) -> usize {
        16 + usize::from(self.uniqueid)
            + usize::from(self.userfield)
            + 3 * usize::from(self.new_columns)
    }

    /// Appends one line (with its `\n`) to `out`. `accountcode` is written empty when the account is the
    /// channel's extension (as on a FreePBX box with no account codes), so that reading it back gives the same
    /// account. Newlines inside fields are replaced by spaces.
    pub fn format_line<S: AsRef<str>>(&mut self, r: &CallRecord<S>, out: &mut String) {
        let account = r.account.as_ref();
        let accountcode = if extension_from_channel(r.channel.as_ref()) == Some(account)
            || (r.channel.as_ref().is_empty() && account == r.caller.as_ref())
        {
            ""
        } else {
            account
        };
        quoted(out, accountcode);
        quoted(out, r.caller.as_ref());
        quoted(out, r.dialed.as_ref());
        quoted(out, r.context.as_ref());
        let name = r.caller_name.as_ref();
        let clid = if name.is_empty() {
            format!("<{}>", r.caller.as_ref())
        } else {
            format!("\"{}\" <{}>", name.replace('"', ""), r.caller.as_ref())
        };
        quoted(out, &clid);
        quoted(out, r.channel.as_ref());
        quoted(out, r.dst_channel.as_ref());
        quoted(out, r.last_app.as_ref());
        quoted(out, r.last_data.as_ref());
        self.time(out, Some(r.start));
        self.time(out, r.answer);
        self.time(out, Some(r.end));
        let _ = write!(out, "{},{},", r.duration_secs, r.billable_secs);
        quoted(out, r.disposition.as_asterisk());
        quoted(out, "DOCUMENTATION");
        if self.uniqueid {
            quoted(out, r.call_id.as_ref());
        }
        if self.userfield {
            quoted(out, r.userfield.as_ref());
        }
        if self.new_columns {
            quoted(out, "");
            quoted(out, r.linked_id.as_ref());
            self.sequence += 1;
            let _ = write!(out, "{},", self.sequence);
        }
        // Asterisk trims the trailing comma and ends the record with a newline.
        if out.ends_with(',') {
            out.pop();
        }
        out.push('\n');
    }

    fn time(&self, out: &mut String, t: Option<DateTime<Utc>>) {
        match t {
            None => out.push(','),
            Some(t) => {
                let l = t.with_timezone(&self.tz);
                let _ = write!(
                    out,
                    "\"{:04}-{:02}-{:02} {:02}:{:02}:{:02}\",",
                    l.year(),
                    l.month(),
                    l.day(),
                    l.hour(),
                    l.minute(),
                    l.second()
                );
            }
        }
    }
}

fn quoted(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\"\""),
            '\n' | '\r' => out.push(' '),
            c => out.push(c),
        }
    }
    out.push_str("\",");
}
