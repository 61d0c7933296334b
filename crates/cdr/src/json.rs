//! FreeSWITCH `mod_json_cdr` documents → [`CallRecord`]s.
//!
//! A stream may hold one pretty-printed document (the `.cdr.json` file mod_json_cdr writes per call), one compact
//! document per line, several documents in a row, or an array of them. Documents are cut out of the line stream
//! by counting braces outside strings, bounded by `max_json_bytes`, so one broken document is reported with its
//! first line and the next one is still read.
//!
//! Fields used (from `variables`, falling back to `callflow[0].caller_profile` / `.times`): `uuid`,
//! `start_uepoch`/`start_epoch`, `answer_*` (0 = unanswered), `end_*`, `duration`, `billsec`, `caller_id_number`,
//! `caller_id_name`, `destination_number`, `accountcode` (else `sip_from_user`, `username`), `domain_name`
//! (tenant), `sip_network_ip`/`sip_received_ip`/`network_addr`, `sip_user_agent`, `hangup_cause`, `channel_name`,
//! `last_app`, `last_arg`, `bleg_uuid`. Values may be URL-encoded (mod_json_cdr's `encode-values`), so `%XX` is
//! decoded.

use std::borrow::Cow;

use chrono::{DateTime, Duration, Utc};
use serde_json::Value;

use crate::generic::{any_time, parse_ip};
use crate::record::{CallRecord, Disposition};
use crate::time::SiteClock;

/// What feeding one line produced.
pub(crate) enum Feed {
    /// Nothing complete yet (or a blank line).
    More,
    /// A document is complete in `JsonDocs::doc`, starting at `JsonDocs::start_line`.
    Complete,
    /// Text outside any document on this line.
    Stray,
    /// The current document exceeded the size limit and was dropped.
    TooLarge,
}

/// Cuts JSON documents out of a line stream.
pub(crate) struct JsonDocs {
    pub doc: Vec<u8>,
    pub start_line: u64,
    depth: u32,
    in_string: bool,
    escape: bool,
    max: usize,
    dropping: bool,
    /// Set by `feed` when an unfinished document was abandoned (its first line), see `feed`.
    pub abandoned: Option<u64>,
    /// The open document is a top-level array (its elements may start in the first column).
    array: bool,
}

impl JsonDocs {
    pub fn new(max: usize) -> JsonDocs {
        JsonDocs {
            doc: Vec::new(),
            start_line: 0,
            depth: 0,
            in_string: false,
            escape: false,
            max,
            dropping: false,
            abandoned: None,
            array: false,
        }
    }

    /// True when a document was started and not finished.
    pub fn in_document(&self) -> bool {
        self.depth > 0
    }

    /// Feeds one line (without its newline). Text after a document closes on the same line is ignored.
    ///
    /// A `{` in the first column while a document is still open means that document was cut short (one document
    /// per line, or a truncated file): it is abandoned (`abandoned` names its first line) and a new one starts, so
    /// one broken document cannot swallow the rest of the file. Pretty-printed documents indent their inner lines,
    /// so they are not affected.
    pub fn feed(&mut self, line: &[u8], line_no: u64) -> Feed {
        self.abandoned = None;
        if self.depth > 0 && !self.array && line.first() == Some(&b'{') {
            self.abandoned = Some(self.start_line);
            self.depth = 0;
            self.in_string = false;
            self.escape = false;
        }
        let mut i = 0;
        if self.depth == 0 {
            self.doc.clear();
            self.dropping = false;
            // Between documents: skip blanks and the commas of a hand-made list.
            while let Some(&b) = line.get(i) {
                if b.is_ascii_whitespace() || b == b',' {
                    i += 1;
                } else {
                    break;
                }
            }
            match line.get(i) {
                None => return Feed::More,
                Some(&b) if b == b'{' || b == b'[' => {
                    self.start_line = line_no;
                    self.array = b == b'[';
                }
                Some(_) => return Feed::Stray,
            }
        }
        let rest = line.get(i..).unwrap_or(&[]);
        let mut end = rest.len();
        for (k, &b) in rest.iter().enumerate() {
            if self.in_string {
                if self.escape {
                    self.escape = false;
                } else if b == b'\\' {
                    self.escape = true;
                } else if b == b'"' {
                    self.in_string = false;
                }
                continue;
            }
            match b {
                b'"' => self.in_string = true,
                b'{' | b'[' => self.depth += 1,
                b'}' | b']' => {
                    self.depth = self.depth.saturating_sub(1);
                    if self.depth == 0 {
                        end = k + 1;
                        break;
                    }
                }
                _ => {}
            }
        }
        if !self.dropping {
            if self.doc.len() + end + 1 > self.max {
                self.dropping = true;
                self.doc.clear();
            } else {
                self.doc.extend_from_slice(&rest[..end]);
                self.doc.push(b'\n');
            }
        }
        if self.depth == 0 {
            self.in_string = false;
            self.escape = false;
            if self.dropping {
                self.dropping = false;
                return Feed::TooLarge;
            }
            return Feed::Complete;
        }
        Feed::More
    }
}

/// Decodes `%XX` escapes (only valid ones; anything else is kept as is).
pub(crate) fn url_decode(s: &str) -> Cow<'_, str> {
    if !s.contains('%') {
        return Cow::Borrowed(s);
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%'
            && let (Some(h), Some(l)) = (
                bytes.get(i + 1).and_then(hex),
                bytes.get(i + 2).and_then(hex),
            )
        {
            out.push(h * 16 + l);
            i += 3;
            continue;
        }
        out.push(b);
        i += 1;
    }
    match String::from_utf8(out) {
        Ok(s) => Cow::Owned(s),
        Err(e) => Cow::Owned(String::from_utf8_lossy(e.as_bytes()).into_owned()),
    }
}

fn hex(b: &u8) -> Option<u8> {
    (*b as char).to_digit(16).and_then(|d| u8::try_from(d).ok())
}

fn text_of(v: Option<&Value>) -> Option<String> {
    let s = match v? {
        Value::String(s) => url_decode(s).into_owned(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        _ => return None,
    };
    let s = s.trim().to_owned();
    if s.is_empty() { None } else { Some(s) }
}

/// An epoch value where `0` means "never".
fn epoch_of(v: Option<String>) -> Option<Option<DateTime<Utc>>> {
    let s = v?;
    if s.bytes().all(|b| b == b'0' || b == b'.') {
        return Some(None);
    }
    crate::time::parse_epoch(&s).map(Some)
}

/// One parsed JSON CDR (an element of an array, or the whole document).
pub(crate) fn freeswitch_record(
    v: &Value,
    line: u64,
    clock: &mut SiteClock,
) -> Result<CallRecord, String> {
    let vars = v.get("variables").filter(|x| x.is_object());
    let flow = match v.get("callflow") {
        Some(Value::Array(a)) => a.first(),
        Some(o @ Value::Object(_)) => Some(o),
        _ => None,
    };
    let profile = flow.and_then(|f| f.get("caller_profile"));
    let times = flow.and_then(|f| f.get("times"));
    if vars.is_none() && profile.is_none() {
        return Err("no \"variables\" or \"callflow\" object: not a mod_json_cdr document".into());
    }
    let var = |k: &str| text_of(vars.and_then(|o| o.get(k)));
    let prof = |k: &str| text_of(profile.and_then(|o| o.get(k)));
    let first = |candidates: [Option<String>; 3]| candidates.into_iter().flatten().next();

    let time_of = |clock: &mut SiteClock,
                   name: &str,
                   times_key: &str|
     -> Result<Option<DateTime<Utc>>, String> {
        for key in [format!("{name}_uepoch"), format!("{name}_epoch")] {
            if let Some(t) = epoch_of(var(&key)) {
                return Ok(t);
            }
        }
        if let Some(t) = epoch_of(text_of(times.and_then(|o| o.get(times_key)))) {
            return Ok(t);
        }
        match var(&format!("{name}_stamp")) {
            Some(s) => any_time(clock, &s)
                .map(Some)
                .ok_or_else(|| format!("{name}_stamp is not a time: {s:?}")),
            None => Ok(None),
        }
    };
    let start = time_of(clock, "start", "created_time")?.ok_or("no start time (start_epoch)")?;
    let answer = time_of(clock, "answer", "answered_time")?;
    let end = time_of(clock, "end", "hangup_time")?.unwrap_or(start);
    let secs = |a: DateTime<Utc>, b: DateTime<Utc>| {
        u32::try_from((b - a).num_seconds().max(0)).unwrap_or(u32::MAX)
    };
    let num = |k: &str| var(k).and_then(|s| s.parse::<u32>().ok());
    let duration_secs = num("duration").unwrap_or_else(|| secs(start, end));
    let billable_secs = num("billsec").unwrap_or_else(|| answer.map(|a| secs(a, end)).unwrap_or(0));
    let answer = answer
        .or_else(|| (billable_secs > 0).then(|| end - Duration::seconds(i64::from(billable_secs))));
    let cause = var("hangup_cause").unwrap_or_default();
    let caller = first([
        var("caller_id_number"),
        prof("caller_id_number"),
        var("sip_from_user"),
    ])
    .unwrap_or_default();
    let mut r = CallRecord::empty(line, start);
    r.call_id = first([var("uuid"), prof("uuid"), var("call_uuid")]).unwrap_or_default();
    r.answer = answer;
    r.end = end;
    r.duration_secs = duration_secs;
    r.billable_secs = billable_secs;
    r.caller_name =
        first([var("caller_id_name"), prof("caller_id_name"), None]).unwrap_or_default();
    r.dialed = first([
        var("destination_number"),
        prof("destination_number"),
        var("sip_req_user"),
    ])
    .unwrap_or_default();
    r.account = first([var("accountcode"), var("sip_from_user"), prof("username")])
        .unwrap_or_else(|| caller.clone());
    r.caller = caller;
    r.tenant = var("domain_name");
    r.source_ip = first([
        var("sip_network_ip"),
        var("sip_received_ip"),
        prof("network_addr"),
    ])
    .and_then(|s| parse_ip(&s));
    r.user_agent = var("sip_user_agent");
    r.context = first([prof("context"), var("user_context"), None]).unwrap_or_default();
    r.channel = first([var("channel_name"), prof("chan_name"), None]).unwrap_or_default();
    r.dst_channel = var("bridge_channel").unwrap_or_default();
    r.last_app = var("last_app").unwrap_or_default();
    r.last_data = var("last_arg").unwrap_or_default();
    r.userfield = var("userfield").unwrap_or_default();
    r.linked_id = first([var("bleg_uuid"), var("signal_bond"), None]).unwrap_or_default();
    r.disposition = Disposition::from_freeswitch_cause(&cause, Some(answer.is_some()));
    r.hangup_cause = cause;
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_decoding() {
        assert_eq!(url_decode("Zoiper%20rv2.10"), "Zoiper rv2.10");
        assert_eq!(url_decode("%2B81312345678"), "+81312345678");
        assert_eq!(url_decode("100%"), "100%");
        assert_eq!(url_decode("%zz"), "%zz");
        assert_eq!(url_decode("%E6%9D%B1%E4%BA%AC"), "東京");
    }

    #[test]
    fn documents_are_cut_by_braces() {
        let mut d = JsonDocs::new(1 << 20);
        assert!(matches!(d.feed(b"{\"a\": \"}{\",", 1), Feed::More));
        assert!(matches!(d.feed(b" \"b\": {\"c\": 1}}", 2), Feed::Complete));
        assert_eq!(d.start_line, 1);
        let v: Value = serde_json::from_slice(&d.doc).unwrap();
        assert_eq!(v["b"]["c"], 1);
        assert!(matches!(d.feed(b"garbage", 3), Feed::Stray));
        assert!(matches!(d.feed(b"   ", 4), Feed::More));
        assert!(matches!(d.feed(b"{\"cut\": ", 5), Feed::More));
        assert!(matches!(d.feed(b"{}", 6), Feed::Complete));
        assert_eq!(d.abandoned, Some(5));
        let mut small = JsonDocs::new(8);
        assert!(matches!(
            small.feed(b"{\"long\": \"xxxxxxxxxxxxxxxx\"}", 1),
            Feed::TooLarge
        ));
        assert!(matches!(small.feed(b"{}", 2), Feed::Complete));
    }
}
