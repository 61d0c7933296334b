//! Kamailio/OpenSIPS `acc` exports (CSV or tab-separated `mysql -B` output of the `acc` table): one row per
//! accounted SIP transaction, turned into one [`CallRecord`] per call.
//!
//! Core columns (the `acc` table of both projects): `id`, `method`, `from_tag`, `to_tag`, `callid`, `sip_code`,
//! `sip_reason`, `time`. Common extra columns (`acc` `db_extra`/`log_extra`) are used when present: `src_user`,
//! `src_domain`, `src_ip`, `dst_ouser` (the user part as dialed), `dst_user`, `dst_domain`, `ua`/`user_agent`,
//! `src_uri`/`dst_uri`; OpenSIPS adds `duration`, `setuptime`, `created` (CDR mode: one complete row per call).
//!
//! Pairing: an INVITE with a 2xx code is the answer (`time` is when the 200 OK passed, so start = answer unless
//! `setuptime`/`created` say otherwise); the BYE with the same Call-ID ends it. A failed INVITE (≥ 300, logged with
//! acc's failed-transaction flag) is an unanswered call right away. Provisional replies, re-INVITEs of an open call,
//! and other methods are ignored. Open calls are capped (`max_open_calls`): when the cap is hit, or at the end of
//! the input, calls whose BYE never came are emitted ending at their answer (billable 0). Records therefore come
//! out in BYE order, not file order; each carries its INVITE's line number.

use std::collections::{BTreeMap, HashMap, VecDeque};

use chrono::{DateTime, Duration, Utc};

use crate::csv::Field;
use crate::error::{CdrLineError, CdrLineErrorKind, excerpt};
use crate::flat::field;
use crate::generic::{any_time, parse_ip};
use crate::record::{CallRecord, Disposition};
use crate::time::SiteClock;

#[derive(Clone, Debug, Default)]
struct AccLayout {
    method: usize,
    callid: usize,
    sip_code: usize,
    sip_reason: Option<usize>,
    time: usize,
    duration: Option<usize>,
    setuptime: Option<usize>,
    created: Option<usize>,
    src_user: Option<usize>,
    src_domain: Option<usize>,
    src_ip: Option<usize>,
    dst_ouser: Option<usize>,
    dst_user: Option<usize>,
    user_agent: Option<usize>,
    src_uri: Option<usize>,
    dst_uri: Option<usize>,
}

impl AccLayout {
    fn from_header(names: &[String]) -> Result<AccLayout, String> {
        let find = |aliases: &[&str]| names.iter().position(|n| aliases.contains(&n.as_str()));
        let need = |name: &str| {
            find(&[name])
                .ok_or_else(|| format!("Kamailio/OpenSIPS acc export without a {name} column"))
        };
        Ok(AccLayout {
            method: need("method")?,
            callid: need("callid")?,
            sip_code: need("sip_code")?,
            time: need("time")?,
            sip_reason: find(&["sip_reason"]),
            duration: find(&["duration"]),
            setuptime: find(&["setuptime"]),
            created: find(&["created"]),
            src_user: find(&["src_user", "from_user", "caller"]),
            src_domain: find(&["src_domain", "from_domain", "caller_domain"]),
            src_ip: find(&["src_ip", "source_ip", "srcip", "received_ip"]),
            dst_ouser: find(&["dst_ouser", "ruri_user_orig"]),
            dst_user: find(&["dst_user", "ruri_user", "callee"]),
            user_agent: find(&["ua", "user_agent", "useragent"]),
            src_uri: find(&["src_uri", "from_uri"]),
            dst_uri: find(&["dst_uri", "ruri", "to_uri"]),
        })
    }

    /// The `acc` table's own order, optionally after a numeric `id` column.
    fn canonical(id_first: bool) -> AccLayout {
        let o = usize::from(id_first);
        AccLayout {
            method: o,
            callid: o + 3,
            sip_code: o + 4,
            sip_reason: Some(o + 5),
            time: o + 6,
            ..AccLayout::default()
        }
    }
}

/// User part of a SIP URI: `sip:205@pbx.example` → `205`.
fn uri_user(uri: &str) -> &str {
    let u = uri.trim().trim_start_matches('<');
    let u = u
        .strip_prefix("sips:")
        .or_else(|| u.strip_prefix("sip:"))
        .or_else(|| u.strip_prefix("tel:"))
        .unwrap_or(u);
    let end = u.find(['@', ';', '>', '?']).unwrap_or(u.len());
    u.get(..end).unwrap_or("")
}

struct OpenCall {
    seq: u64,
    record: CallRecord,
}

/// Pairs INVITE and BYE rows into calls, with bounded memory.
pub(crate) struct AccPairing {
    layout: Option<AccLayout>,
    pub delim: Option<u8>,
    open: HashMap<String, OpenCall>,
    order: BTreeMap<u64, String>,
    seq: u64,
    max_open: usize,
}

fn secs(a: DateTime<Utc>, b: DateTime<Utc>) -> u32 {
    u32::try_from((b - a).num_seconds().max(0)).unwrap_or(u32::MAX)
}

impl AccPairing {
    pub fn new(max_open: usize) -> AccPairing {
        AccPairing {
            layout: None,
            delim: None,
            open: HashMap::new(),
            order: BTreeMap::new(),
            seq: 0,
            max_open: max_open.max(1),
        }
    }

    /// The delimiter of this export, decided on its first line (tab for `mysql -B`, else comma).
    pub fn choose_delim(&mut self, first_line: &[u8]) -> u8 {
        *self.delim.get_or_insert_with(|| {
            let tabs = first_line.iter().filter(|&&b| b == b'\t').count();
            let commas = first_line.iter().filter(|&&b| b == b',').count();
            if tabs > commas { b'\t' } else { b',' }
        })
    }

    /// Feeds one split line; finished calls and line errors go to `out`.
    pub fn line(
        &mut self,
        text: &str,
        fields: &[Field],
        clock: &mut SiteClock,
        line: u64,
        out: &mut VecDeque<Result<CallRecord, CdrLineError>>,
    ) {
        let get = |i: usize| field(text, fields, i).trim();
        if self.layout.is_none() {
            let names: Vec<String> = (0..fields.len())
                .map(|i| get(i).to_ascii_lowercase())
                .collect();
            if names.iter().any(|n| n == "callid") {
                match AccLayout::from_header(&names) {
                    Ok(l) => self.layout = Some(l),
                    Err(e) => out.push_back(Err(CdrLineError {
                        line,
                        kind: CdrLineErrorKind::Header(e),
                    })),
                }
                return;
            }
            let id_first = get(0).bytes().all(|b| b.is_ascii_digit()) && !get(0).is_empty();
            self.layout = Some(AccLayout::canonical(id_first));
        }
        let Some(l) = self.layout.as_ref() else {
            return;
        };
        let err = |kind| Err(CdrLineError { line, kind });
        if fields.len() <= l.time.max(l.sip_code).max(l.callid).max(l.method) {
            out.push_back(err(CdrLineErrorKind::ColumnCount {
                found: fields.len(),
                expected: "at least method, callid, sip_code and time",
                format: "Kamailio/OpenSIPS acc",
            }));
            return;
        }
        let method = get(l.method).to_ascii_uppercase();
        if method != "INVITE" && method != "BYE" {
            return;
        }
        let callid = get(l.callid);
        if callid.is_empty() {
            out.push_back(err(CdrLineErrorKind::MissingValue { column: "callid" }));
            return;
        }
        let code_text = get(l.sip_code);
        let Ok(code) = code_text.parse::<u16>() else {
            out.push_back(err(CdrLineErrorKind::BadNumber {
                column: "sip_code",
                value: excerpt(code_text.as_bytes()),
            }));
            return;
        };
        let time_text = get(l.time);
        let Some(time) = any_time(clock, time_text) else {
            out.push_back(err(CdrLineErrorKind::BadTime {
                column: "time",
                value: excerpt(time_text.as_bytes()),
            }));
            return;
        };
        let opt = |i: Option<usize>| i.map(get).unwrap_or("");
        let num = |i: Option<usize>| opt(i).parse::<u32>().ok();

        if method == "BYE" {
            if let Some(open) = self.open.remove(callid) {
                self.order.remove(&open.seq);
                let mut r = open.record;
                r.end = time.max(r.start);
                r.duration_secs = secs(r.start, r.end);
                r.billable_secs = r.answer.map(|a| secs(a, r.end)).unwrap_or(0);
                out.push_back(Ok(r));
            }
            return;
        }
        if code < 200 {
            return;
        }
        if code < 300 && self.open.contains_key(callid) {
            return; // re-INVITE inside an open call
        }
        let caller = match opt(l.src_user) {
            "" => uri_user(opt(l.src_uri)),
            u => u,
        };
        let dialed = [opt(l.dst_ouser), opt(l.dst_user), uri_user(opt(l.dst_uri))]
            .into_iter()
            .find(|s| !s.is_empty())
            .unwrap_or("");
        let reason = opt(l.sip_reason);
        let mut r = CallRecord::empty(line, time);
        r.call_id = callid.to_owned();
        r.caller = caller.to_owned();
        r.dialed = dialed.to_owned();
        r.account = caller.to_owned();
        r.tenant = Some(opt(l.src_domain))
            .filter(|s| !s.is_empty())
            .map(str::to_owned);
        r.source_ip = parse_ip(opt(l.src_ip));
        r.user_agent = Some(opt(l.user_agent))
            .filter(|s| !s.is_empty())
            .map(str::to_owned);
        r.hangup_cause = if reason.is_empty() {
            code.to_string()
        } else {
            format!("{code} {reason}")
        };
        r.disposition = Disposition::from_sip_code(code);
        let setup = num(l.setuptime).unwrap_or(0);
        let created = Some(opt(l.created))
            .filter(|s| !s.is_empty() && !s.starts_with("0000"))
            .and_then(|c| any_time(clock, c));
        r.start = created.unwrap_or(time - Duration::seconds(i64::from(setup)));
        if code >= 300 {
            r.end = time.max(r.start);
            r.duration_secs = secs(r.start, r.end);
            out.push_back(Ok(r));
            return;
        }
        r.answer = Some(time);
        let duration = num(l.duration).unwrap_or(0);
        if duration > 0 || created.is_some() {
            // OpenSIPS CDR mode: the row is the whole call.
            r.end = time + Duration::seconds(i64::from(duration));
            r.billable_secs = duration;
            r.duration_secs = secs(r.start, r.end);
            out.push_back(Ok(r));
            return;
        }
        r.end = time;
        r.duration_secs = secs(r.start, time);
        self.seq += 1;
        self.order.insert(self.seq, callid.to_owned());
        self.open.insert(
            callid.to_owned(),
            OpenCall {
                seq: self.seq,
                record: r,
            },
        );
        while self.open.len() > self.max_open {
            let Some((_, oldest)) = self.order.pop_first() else {
                break;
            };
            if let Some(c) = self.open.remove(&oldest) {
                tracing::debug!(callid = %oldest, "acc: too many open calls, emitting the oldest without its BYE");
                out.push_back(Ok(c.record));
            }
        }
    }

    /// End of input: calls still waiting for a BYE are emitted as they are, oldest first.
    pub fn finish(&mut self, out: &mut VecDeque<Result<CallRecord, CdrLineError>>) {
        while let Some((_, callid)) = self.order.pop_first() {
            if let Some(c) = self.open.remove(&callid) {
                out.push_back(Ok(c.record));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uri_users() {
        assert_eq!(uri_user("sip:205@pbx.example"), "205");
        assert_eq!(uri_user("<sips:alice@example.com;transport=tls>"), "alice");
        assert_eq!(uri_user("tel:+81312345678"), "+81312345678");
        assert_eq!(uri_user(""), "");
    }
}
