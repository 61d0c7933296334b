//! Generic CSV: any one-call-per-line CSV export, read through a column mapping given in config (TOML or JSON).
//!
//! ```toml
//! delimiter = ","          # one ASCII character; default ","
//! has_header = true        # default true; columns may then be named, else 0-based indexes
//! time_zone = "Asia/Tokyo" # optional: overrides the reader's site time zone for this file
//! [columns]
//! start = "start_time"     # required
//! dialed = "called"        # required
//! end = "end_time"         # at least one of end / duration is recommended
//! duration = 7
//! caller = "calling"
//! account = "account"
//! disposition = "status"   # Asterisk words, FreeSWITCH causes, or SIP codes
//! ```
//! Times may be local `YYYY-MM-DD HH:MM:SS`, RFC 3339 with an offset, or Unix seconds/ms/µs.

use std::net::{IpAddr, SocketAddr};

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::csv::Field;
use crate::error::{CdrConfigError, CdrLineErrorKind, excerpt};
use crate::flat::{field, number};
use crate::record::{CallRecordRef, Disposition};
use crate::time::{SiteClock, parse_epoch};

/// A column given by header name or by 0-based index.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ColumnRef {
    /// 0-based column index.
    Index(usize),
    /// Header name (case-insensitive); needs `has_header = true`.
    Name(String),
}

/// Which column holds what. Only `start` and `dialed` are required.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenericColumns {
    pub start: Option<ColumnRef>,
    pub dialed: Option<ColumnRef>,
    pub call_id: Option<ColumnRef>,
    pub answer: Option<ColumnRef>,
    pub end: Option<ColumnRef>,
    pub duration: Option<ColumnRef>,
    pub billsec: Option<ColumnRef>,
    pub caller: Option<ColumnRef>,
    pub caller_name: Option<ColumnRef>,
    pub account: Option<ColumnRef>,
    pub tenant: Option<ColumnRef>,
    pub disposition: Option<ColumnRef>,
    pub source_ip: Option<ColumnRef>,
    pub user_agent: Option<ColumnRef>,
    pub context: Option<ColumnRef>,
    pub channel: Option<ColumnRef>,
    pub dst_channel: Option<ColumnRef>,
    pub last_app: Option<ColumnRef>,
    pub last_data: Option<ColumnRef>,
    pub userfield: Option<ColumnRef>,
    pub hangup_cause: Option<ColumnRef>,
    pub linked_id: Option<ColumnRef>,
}

fn default_delimiter() -> char {
    ','
}
fn default_true() -> bool {
    true
}

/// The mapping of a generic CSV file (see the module doc for an example).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenericCsvMapping {
    #[serde(default = "default_delimiter")]
    pub delimiter: char,
    #[serde(default = "default_true")]
    pub has_header: bool,
    /// IANA zone of zone-less times in this file; default: the reader's site zone.
    #[serde(default)]
    pub time_zone: Option<String>,
    pub columns: GenericColumns,
}

impl GenericCsvMapping {
    /// Checks what can be checked before reading (delimiter, time zone, required columns, names without header).
    pub fn validate(&self) -> Result<(), CdrConfigError> {
        let bad = |m: String| Err(CdrConfigError::Mapping(m));
        if !self.delimiter.is_ascii() || self.delimiter == '"' || self.delimiter == '\n' {
            return bad(format!(
                "delimiter {:?} must be one ASCII character other than a quote or newline",
                self.delimiter
            ));
        }
        if let Some(tz) = &self.time_zone
            && tz.parse::<Tz>().is_err()
        {
            return Err(CdrConfigError::UnknownTimeZone(tz.clone()));
        }
        if self.columns.start.is_none() {
            return bad("columns.start is required".into());
        }
        if self.columns.dialed.is_none() {
            return bad("columns.dialed is required".into());
        }
        if !self.has_header && self.named().next().is_some() {
            return bad("columns are named but has_header = false: use 0-based indexes".into());
        }
        Ok(())
    }

    fn all(&self) -> [&Option<ColumnRef>; 22] {
        let c = &self.columns;
        [
            &c.start,
            &c.dialed,
            &c.call_id,
            &c.answer,
            &c.end,
            &c.duration,
            &c.billsec,
            &c.caller,
            &c.caller_name,
            &c.account,
            &c.tenant,
            &c.disposition,
            &c.source_ip,
            &c.user_agent,
            &c.context,
            &c.channel,
            &c.dst_channel,
            &c.last_app,
            &c.last_data,
            &c.userfield,
            &c.hangup_cause,
            &c.linked_id,
        ]
    }

    fn named(&self) -> impl Iterator<Item = &str> {
        self.all().into_iter().filter_map(|c| match c {
            Some(ColumnRef::Name(n)) => Some(n.as_str()),
            _ => None,
        })
    }

    pub(crate) fn delimiter_byte(&self) -> u8 {
        u8::try_from(self.delimiter).unwrap_or(b',')
    }

    /// Resolves names against the header row (or just indexes when there is none).
    pub(crate) fn resolve(
        &self,
        header: Option<(&str, &[Field])>,
    ) -> Result<GenericLayout, String> {
        let names: Vec<String> = match header {
            Some((text, fields)) => (0..fields.len())
                .map(|i| field(text, fields, i).trim().to_ascii_lowercase())
                .collect(),
            None => Vec::new(),
        };
        let mut missing = Vec::new();
        let mut idx = |c: &Option<ColumnRef>| -> Option<usize> {
            match c {
                None => None,
                Some(ColumnRef::Index(i)) => Some(*i),
                Some(ColumnRef::Name(n)) => {
                    let want = n.trim().to_ascii_lowercase();
                    let found = names.iter().position(|h| *h == want);
                    if found.is_none() {
                        missing.push(n.clone());
                    }
                    found
                }
            }
        };
        let c = &self.columns;
        let layout = GenericLayout {
            start: idx(&c.start),
            dialed: idx(&c.dialed),
            call_id: idx(&c.call_id),
            answer: idx(&c.answer),
            end: idx(&c.end),
            duration: idx(&c.duration),
            billsec: idx(&c.billsec),
            caller: idx(&c.caller),
            caller_name: idx(&c.caller_name),
            account: idx(&c.account),
            tenant: idx(&c.tenant),
            disposition: idx(&c.disposition),
            source_ip: idx(&c.source_ip),
            user_agent: idx(&c.user_agent),
            context: idx(&c.context),
            channel: idx(&c.channel),
            dst_channel: idx(&c.dst_channel),
            last_app: idx(&c.last_app),
            last_data: idx(&c.last_data),
            userfield: idx(&c.userfield),
            hangup_cause: idx(&c.hangup_cause),
            linked_id: idx(&c.linked_id),
        };
        if missing.is_empty() {
            Ok(layout)
        } else {
            Err(format!(
                "the header has no column named {}",
                missing.join(", ")
            ))
        }
    }
}

/// A mapping resolved to column indexes.
#[derive(Clone, Debug)]
pub(crate) struct GenericLayout {
    start: Option<usize>,
    dialed: Option<usize>,
    call_id: Option<usize>,
    answer: Option<usize>,
    end: Option<usize>,
    duration: Option<usize>,
    billsec: Option<usize>,
    caller: Option<usize>,
    caller_name: Option<usize>,
    account: Option<usize>,
    tenant: Option<usize>,
    disposition: Option<usize>,
    source_ip: Option<usize>,
    user_agent: Option<usize>,
    context: Option<usize>,
    channel: Option<usize>,
    dst_channel: Option<usize>,
    last_app: Option<usize>,
    last_data: Option<usize>,
    userfield: Option<usize>,
    hangup_cause: Option<usize>,
    linked_id: Option<usize>,
}

/// A time in any of the accepted shapes: local datetime, RFC 3339 with offset, or Unix epoch.
pub(crate) fn any_time(clock: &mut SiteClock, value: &str) -> Option<DateTime<Utc>> {
    let value = value.trim();
    if value.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return parse_epoch(value);
    }
    if let Some(t) = clock.parse_local(value.as_bytes()) {
        return Some(t);
    }
    DateTime::parse_from_rfc3339(value)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// An IP address, also from `ip:port` / `[v6]:port`.
pub(crate) fn parse_ip(value: &str) -> Option<IpAddr> {
    let value = value.trim();
    value
        .parse::<IpAddr>()
        .ok()
        .or_else(|| value.parse::<SocketAddr>().ok().map(|s| s.ip()))
}

/// A disposition column of unknown origin: SIP code, Asterisk word or FreeSWITCH cause.
pub(crate) fn any_disposition(value: &str, answered: bool) -> Disposition {
    let v = value.trim();
    if let Ok(code) = v.parse::<u16>() {
        return Disposition::from_sip_code(code);
    }
    let upper = v.to_ascii_uppercase();
    match upper.as_str() {
        "ANSWERED" | "NO ANSWER" | "NOANSWER" | "BUSY" | "FAILED" | "CONGESTION" => {
            Disposition::from_asterisk(&upper)
        }
        "" | "UNKNOWN" if answered => Disposition::Answered,
        "" | "UNKNOWN" => Disposition::Unknown,
        _ => Disposition::from_freeswitch_cause(&upper, Some(answered)),
    }
}

pub(crate) fn generic_line<'a>(
    text: &'a str,
    fields: &[Field],
    l: &GenericLayout,
    clock: &mut SiteClock,
    line: u64,
) -> Result<CallRecordRef<'a>, CdrLineErrorKind> {
    let get = |i: Option<usize>| i.map(|i| field(text, fields, i).trim()).unwrap_or("");
    let time = |clock: &mut SiteClock,
                i: Option<usize>,
                column: &'static str|
     -> Result<Option<DateTime<Utc>>, CdrLineErrorKind> {
        let v = get(i);
        if v.is_empty() || v.starts_with("0000-00-00") || v == "0" {
            return Ok(None);
        }
        any_time(clock, v)
            .map(Some)
            .ok_or_else(|| CdrLineErrorKind::BadTime {
                column,
                value: excerpt(v.as_bytes()),
            })
    };
    let start =
        time(clock, l.start, "start")?.ok_or(CdrLineErrorKind::MissingValue { column: "start" })?;
    let dialed = get(l.dialed);
    if dialed.is_empty() {
        return Err(CdrLineErrorKind::MissingValue { column: "dialed" });
    }
    let mut answer = time(clock, l.answer, "answer")?;
    let end_col = time(clock, l.end, "end")?;
    let duration_col = match get(l.duration) {
        "" => None,
        v => Some(number(v, "duration")?),
    };
    let billsec_col = match get(l.billsec) {
        "" => None,
        v => Some(number(v, "billsec")?),
    };
    let end = match (end_col, duration_col) {
        (Some(e), _) => e,
        (None, Some(d)) => start + Duration::seconds(i64::from(d)),
        (None, None) => start,
    };
    let secs_between = |a: DateTime<Utc>, b: DateTime<Utc>| {
        u32::try_from((b - a).num_seconds().max(0)).unwrap_or(u32::MAX)
    };
    let duration_secs = duration_col.unwrap_or_else(|| secs_between(start, end));
    let billable_secs =
        billsec_col.unwrap_or_else(|| answer.map(|a| secs_between(a, end)).unwrap_or(0));
    if answer.is_none() && l.answer.is_none() && billable_secs > 0 {
        answer = Some(end - Duration::seconds(i64::from(billable_secs)));
    }
    let answered = answer.is_some() || billable_secs > 0;
    let disposition = match l.disposition {
        Some(_) => any_disposition(get(l.disposition), answered),
        None if answered => Disposition::Answered,
        None => Disposition::NoAnswer,
    };
    let caller = get(l.caller);
    let account = match get(l.account) {
        "" => caller,
        a => a,
    };
    let opt = |i: Option<usize>| Some(get(i)).filter(|s| !s.is_empty());
    Ok(CallRecordRef {
        line,
        call_id: get(l.call_id),
        start,
        answer,
        end,
        duration_secs,
        billable_secs,
        caller,
        caller_name: get(l.caller_name),
        dialed,
        account,
        tenant: opt(l.tenant),
        disposition,
        source_ip: opt(l.source_ip).and_then(parse_ip),
        user_agent: opt(l.user_agent),
        context: get(l.context),
        channel: get(l.channel),
        dst_channel: get(l.dst_channel),
        last_app: get(l.last_app),
        last_data: get(l.last_data),
        userfield: get(l.userfield),
        hangup_cause: get(l.hangup_cause),
        linked_id: get(l.linked_id),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapping_from_toml_rejects_unknown_fields() {
        let ok: GenericCsvMapping =
            toml::from_str("delimiter = ';'\n[columns]\nstart = 'begin'\ndialed = 3\n").unwrap();
        assert_eq!(ok.delimiter, ';');
        assert!(ok.has_header);
        assert_eq!(ok.columns.dialed, Some(ColumnRef::Index(3)));
        assert!(ok.validate().is_ok());
        let typo = toml::from_str::<GenericCsvMapping>("[columns]\nstart = 'a'\ndialled = 'b'\n");
        assert!(typo.is_err());
        let top_typo = toml::from_str::<GenericCsvMapping>(
            "delim = ','\n[columns]\nstart = 'a'\ndialed = 'b'\n",
        );
        assert!(top_typo.is_err());
    }

    #[test]
    fn validation_explains() {
        let m = GenericCsvMapping {
            delimiter: ',',
            has_header: false,
            time_zone: None,
            columns: GenericColumns {
                start: Some(ColumnRef::Name("x".into())),
                dialed: Some(ColumnRef::Index(1)),
                ..GenericColumns::default()
            },
        };
        assert!(
            matches!(m.validate(), Err(CdrConfigError::Mapping(s)) if s.contains("has_header"))
        );
        let m = GenericCsvMapping {
            columns: GenericColumns::default(),
            has_header: true,
            ..m
        };
        assert!(matches!(m.validate(), Err(CdrConfigError::Mapping(s)) if s.contains("start")));
    }

    #[test]
    fn ips_and_dispositions() {
        assert_eq!(parse_ip("192.0.2.7:5060"), "192.0.2.7".parse().ok());
        assert_eq!(parse_ip("[2001:db8::1]:5060"), "2001:db8::1".parse().ok());
        assert_eq!(parse_ip("nope"), None);
        assert_eq!(any_disposition("486", false), Disposition::Busy);
        assert_eq!(any_disposition("answered", true), Disposition::Answered);
        assert_eq!(
            any_disposition("NORMAL_CLEARING", true),
            Disposition::Answered
        );
        assert_eq!(any_disposition("", true), Disposition::Answered);
        assert_eq!(
            any_disposition("NORMAL_CLEARING", false),
            Disposition::NoAnswer
        );
    }
}
