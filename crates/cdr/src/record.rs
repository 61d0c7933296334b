//! The call record every reader produces: one finished (or given-up) call, whatever switch wrote it.
//!
//! `CallRecord<S>` is generic over its text type so that the same shape serves both the owned form
//! (`CallRecord`, `S = String`, for storing and sending across threads) and the borrowed form
//! (`CallRecordRef<'a>`, `S = &'a str`, handed out by [`crate::CdrReader::next_ref`] without any allocation per
//! line: the hot path of `tollguard analyze`).

use std::fmt;
use std::net::IpAddr;

use chrono::{DateTime, Utc};
use serde::Serialize;

/// How a call ended, in the PBX admin's words (Asterisk's dispositions, which the other formats map onto).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Disposition {
    /// The far end answered (Asterisk `ANSWERED`, FreeSWITCH with an answer stamp, SIP 2xx).
    Answered,
    /// Rang out or was cancelled (Asterisk `NO ANSWER`, SIP 408/480/487, FreeSWITCH `NO_ANSWER`/`ORIGINATOR_CANCEL`).
    NoAnswer,
    /// Callee busy (Asterisk `BUSY`, SIP 486/600, FreeSWITCH `USER_BUSY`).
    Busy,
    /// Failed: rejected by the trunk, bad number, barred (Asterisk `FAILED`, other SIP 4xx-6xx).
    Failed,
    /// Network or trunk congestion (Asterisk `CONGESTION`, SIP 503, FreeSWITCH `*_CONGESTION`).
    Congestion,
    /// The CDR's disposition was missing or not recognised.
    Unknown,
}

impl Disposition {
    /// Asterisk's disposition text (`ANSWERED`, `NO ANSWER`, ...), as written by `ast_cdr_disp2str`. Also accepts
    /// FreeSWITCH hangup causes, because FreeSWITCH's Asterisk-compatible template puts them in that column.
    pub fn from_asterisk(text: &str) -> Disposition {
        match trim(text) {
            "ANSWERED" => Disposition::Answered,
            "NO ANSWER" | "NOANSWER" => Disposition::NoAnswer,
            "BUSY" => Disposition::Busy,
            "FAILED" => Disposition::Failed,
            "CONGESTION" => Disposition::Congestion,
            "" | "UNKNOWN" | "NULL" => Disposition::Unknown,
            other => Disposition::from_freeswitch_cause(other, None),
        }
    }

    /// A FreeSWITCH hangup cause (Q.850 name). `answered` is what the record's answer stamp says, when known:
    /// `NORMAL_CLEARING` alone does not tell whether the call was answered.
    pub fn from_freeswitch_cause(cause: &str, answered: Option<bool>) -> Disposition {
        if answered == Some(true) {
            return Disposition::Answered;
        }
        match cause.trim() {
            "NO_ANSWER"
            | "NO_USER_RESPONSE"
            | "ORIGINATOR_CANCEL"
            | "ALLOTTED_TIMEOUT"
            | "RECOVERY_ON_TIMER_EXPIRE"
            | "LOSE_RACE"
            | "PICKED_OFF" => Disposition::NoAnswer,
            "USER_BUSY" | "CALL_REJECTED" => Disposition::Busy,
            "NORMAL_CIRCUIT_CONGESTION"
            | "SWITCH_CONGESTION"
            | "NETWORK_OUT_OF_ORDER"
            | "REQUESTED_CHAN_UNAVAIL" => Disposition::Congestion,
            "NORMAL_CLEARING" | "SUCCESS" => match answered {
                Some(false) => Disposition::NoAnswer,
                _ => Disposition::Answered,
            },
            "" => Disposition::Unknown,
            _ => Disposition::Failed,
        }
    }

    /// A final SIP response code to an INVITE (Kamailio/OpenSIPS `acc`).
    pub fn from_sip_code(code: u16) -> Disposition {
        match code {
            200..=299 => Disposition::Answered,
            408 | 480 | 487 => Disposition::NoAnswer,
            486 | 600 => Disposition::Busy,
            503 => Disposition::Congestion,
            300..=699 => Disposition::Failed,
            _ => Disposition::Unknown,
        }
    }

    /// Asterisk's text for this disposition (what `cdr_csv` writes).
    pub fn as_asterisk(self) -> &'static str {
        match self {
            Disposition::Answered => "ANSWERED",
            Disposition::NoAnswer => "NO ANSWER",
            Disposition::Busy => "BUSY",
            Disposition::Failed => "FAILED",
            Disposition::Congestion => "CONGESTION",
            Disposition::Unknown => "UNKNOWN",
        }
    }
}

impl fmt::Display for Disposition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_asterisk())
    }
}

/// One call as read from a CDR. Text fields are `""` when the format does not carry them; fields that only some
/// formats have at all are `Option`s.
///
/// Times are UTC instants: local times in the file were converted with the site time zone given to the reader.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CallRecord<S = String> {
    /// Line (1-based) where the record starts in its file; for Kamailio/OpenSIPS the INVITE's line.
    pub line: u64,
    /// The CDR's own call id: Asterisk `uniqueid` (else `linkedid`), FreeSWITCH `uuid`, Kamailio/OpenSIPS `callid`.
    /// Empty when the file has none (Asterisk `cdr_csv` without `loguniqueid`): use `line` then.
    pub call_id: S,
    /// When the call started (Asterisk `start`: the channel was created, i.e. dialling began).
    pub start: DateTime<Utc>,
    /// When the far end answered; `None` for unanswered calls.
    pub answer: Option<DateTime<Utc>>,
    /// When the call ended. For a Kamailio INVITE never followed by a BYE in the file, the answer time.
    pub end: DateTime<Utc>,
    /// Whole call length in seconds, ringing included (the CDR's own figure, not recomputed).
    pub duration_secs: u32,
    /// Seconds from answer to hangup: what the carrier bills.
    pub billable_secs: u32,
    /// Calling number: Asterisk `src`, FreeSWITCH `caller_id_number`, Kamailio From user.
    pub caller: S,
    /// Caller's display name when the format has one (the name part of Asterisk `clid`).
    pub caller_name: S,
    /// The destination exactly as dialed (Asterisk `dst`), not normalised: `numbering` does that.
    pub dialed: S,
    /// Who is paying: `accountcode` when set, else the extension from the channel (`PJSIP/205-0000001a` → `205`),
    /// else the From user / caller.
    pub account: S,
    /// Tenant/site when the format carries one (FreeSWITCH `domain_name`, Kamailio From domain, generic mapping).
    pub tenant: Option<S>,
    /// How the call ended.
    pub disposition: Disposition,
    /// The caller's source IP when the format has it (FreeSWITCH JSON, Kamailio extra columns, generic mapping).
    pub source_ip: Option<IpAddr>,
    /// The caller's SIP User-Agent when the format has it.
    pub user_agent: Option<S>,
    /// Dialplan context (Asterisk `dcontext`, FreeSWITCH `context`).
    pub context: S,
    /// Calling channel (Asterisk `channel`, FreeSWITCH `channel_name`).
    pub channel: S,
    /// Called channel (Asterisk `dstchannel`): which trunk carried the call out.
    pub dst_channel: S,
    /// Last dialplan application (`Dial`, `Queue`...).
    pub last_app: S,
    /// Its argument (`PJSIP/0312345678@trunk,60`).
    pub last_data: S,
    /// Asterisk `userfield` (the scenario generator writes its ground-truth label here).
    pub userfield: S,
    /// Raw end cause: FreeSWITCH `hangup_cause`, Kamailio `"486 Busy Here"`, Asterisk disposition text.
    pub hangup_cause: S,
    /// Asterisk `linkedid` (ties the legs of one conversation together), FreeSWITCH `bleg_uuid`.
    pub linked_id: S,
}

/// A call record borrowing its text from the reader's line buffer: valid until the next call to the reader.
pub type CallRecordRef<'a> = CallRecord<&'a str>;

impl<S: AsRef<str>> CallRecord<S> {
    /// A borrowed view of this record.
    pub fn as_borrowed(&self) -> CallRecordRef<'_> {
        CallRecord {
            line: self.line,
            call_id: self.call_id.as_ref(),
            start: self.start,
            answer: self.answer,
            end: self.end,
            duration_secs: self.duration_secs,
            billable_secs: self.billable_secs,
            caller: self.caller.as_ref(),
            caller_name: self.caller_name.as_ref(),
            dialed: self.dialed.as_ref(),
            account: self.account.as_ref(),
            tenant: self.tenant.as_ref().map(AsRef::as_ref),
            disposition: self.disposition,
            source_ip: self.source_ip,
            user_agent: self.user_agent.as_ref().map(AsRef::as_ref),
            context: self.context.as_ref(),
            channel: self.channel.as_ref(),
            dst_channel: self.dst_channel.as_ref(),
            last_app: self.last_app.as_ref(),
            last_data: self.last_data.as_ref(),
            userfield: self.userfield.as_ref(),
            hangup_cause: self.hangup_cause.as_ref(),
            linked_id: self.linked_id.as_ref(),
        }
    }

    /// An owned copy (allocates one `String` per non-empty text field).
    pub fn to_owned_record(&self) -> CallRecord {
        let s = |v: &S| v.as_ref().to_owned();
        CallRecord {
            line: self.line,
            call_id: s(&self.call_id),
            start: self.start,
            answer: self.answer,
            end: self.end,
            duration_secs: self.duration_secs,
            billable_secs: self.billable_secs,
            caller: s(&self.caller),
            caller_name: s(&self.caller_name),
            dialed: s(&self.dialed),
            account: s(&self.account),
            tenant: self.tenant.as_ref().map(s),
            disposition: self.disposition,
            source_ip: self.source_ip,
            user_agent: self.user_agent.as_ref().map(s),
            context: s(&self.context),
            channel: s(&self.channel),
            dst_channel: s(&self.dst_channel),
            last_app: s(&self.last_app),
            last_data: s(&self.last_data),
            userfield: s(&self.userfield),
            hangup_cause: s(&self.hangup_cause),
            linked_id: s(&self.linked_id),
        }
    }

    /// True when the far end answered.
    pub fn is_answered(&self) -> bool {
        self.answer.is_some()
    }

    /// Start as Unix milliseconds (what the engine's clock uses).
    pub fn start_ms(&self) -> i64 {
        self.start.timestamp_millis()
    }

    /// Answer as Unix milliseconds.
    pub fn answer_ms(&self) -> Option<i64> {
        self.answer.map(|t| t.timestamp_millis())
    }

    /// End as Unix milliseconds.
    pub fn end_ms(&self) -> i64 {
        self.end.timestamp_millis()
    }
}

impl CallRecord {
    /// An empty record at `start` (all text empty, unanswered, zero length): a base for builders and tests.
    pub fn empty(line: u64, start: DateTime<Utc>) -> CallRecord {
        CallRecord {
            line,
            call_id: String::new(),
            start,
            answer: None,
            end: start,
            duration_secs: 0,
            billable_secs: 0,
            caller: String::new(),
            caller_name: String::new(),
            dialed: String::new(),
            account: String::new(),
            tenant: None,
            disposition: Disposition::Unknown,
            source_ip: None,
            user_agent: None,
            context: String::new(),
            channel: String::new(),
            dst_channel: String::new(),
            last_app: String::new(),
            last_data: String::new(),
            userfield: String::new(),
            hangup_cause: String::new(),
            linked_id: String::new(),
        }
    }
}

/// How an outbound call in a CDR came about, as far as the record shows (see [`CallRecord::leg`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CdrLeg {
    /// Placed by an extension (or nothing says otherwise).
    Direct,
    /// Came in from outside and was sent out again: an inbound or DISA context, a follow-me or forward.
    Forwarded,
    /// Sent out by a transfer (FreePBX's `from-internal-xfer` context).
    Transferred,
    /// Trunk to trunk: the calling and the called channel are the same non-extension endpoint.
    Hairpin,
}

/// Dialplan contexts where calls from outside enter (FreePBX, the Asterisk samples, common hand-written plans);
/// matched as a prefix, ignoring case.
const INBOUND_CONTEXTS: [&str; 7] = [
    "from-trunk",
    "from-pstn",
    "from-external",
    "from-did",
    "ext-did",
    "from-sip-external",
    "incoming",
];

impl<S: AsRef<str>> CallRecord<S> {
    /// Whether this outbound call continues a call that came in, from what an Asterisk CDR records: the
    /// dialplan context it ran in (an inbound context such as `from-trunk`/`from-pstn`, a `disa` context, or
    /// `lastapp` `DISA`: forwarded; `from-internal-xfer`: transferred) and its channels (the calling and the
    /// called channel on the same endpoint that is not an extension number, e.g. `PJSIP/ntt-trunk-…` to
    /// `PJSIP/ntt-trunk-…`: hairpin).
    ///
    /// Limits: a CDR has no SIP headers, so a forward the PBX places from an extension's own context (FreePBX
    /// follow-me, call-forward-unconditional dialled as `Local/…@from-internal`) shows as direct unless its
    /// context says otherwise; FreeSWITCH and Kamailio records carry no context of this kind and always read
    /// as direct here.
    pub fn leg(&self) -> CdrLeg {
        let context = self.context.as_ref();
        let starts = |p: &str| {
            context
                .get(..p.len())
                .is_some_and(|c| c.eq_ignore_ascii_case(p))
        };
        if starts("from-internal-xfer") {
            return CdrLeg::Transferred;
        }
        if INBOUND_CONTEXTS.iter().any(|p| starts(p))
            || context
                .as_bytes()
                .windows(4)
                .any(|w| w.eq_ignore_ascii_case(b"disa"))
            || self.last_app.as_ref().eq_ignore_ascii_case("DISA")
        {
            return CdrLeg::Forwarded;
        }
        fn endpoint(ch: &str) -> Option<&str> {
            extension_from_channel(ch)
                .filter(|e| !e.is_empty() && !e.bytes().all(|b| b.is_ascii_digit()))
        }
        // Most calls come from an extension (a number): the called channel is then not looked at.
        match endpoint(self.channel.as_ref()) {
            Some(a)
                if endpoint(self.dst_channel.as_ref())
                    .is_some_and(|b| a.eq_ignore_ascii_case(b)) =>
            {
                CdrLeg::Hairpin
            }
            _ => CdrLeg::Direct,
        }
    }
}

/// The extension (or peer name) inside an Asterisk channel name: `SIP/205-0000001a` → `205`,
/// `PJSIP/205-00000012` → `205`, `PJSIP/ntt-trunk-0000002f` → `ntt-trunk`, `Local/205@from-internal-00000001;1`
/// → `205`, `IAX2/205-1234` → `205`. Returns `None` when nothing sensible is left.
///
/// The text after the first `/`, cut at the first `@` or `;`, without a last `-` suffix of hex digits (when
/// something is left before it). The usual shape, `Tech/name-` and 8 lowercase hex digits (Asterisk's channel
/// counter) in at most 25 bytes, is read a few words at a time; any other in one pass.
pub fn extension_from_channel(channel: &str) -> Option<&str> {
    // Byte positions: '/', '@', ';' and '-' are ASCII, so every cut falls on a character boundary.
    match channel_fast(channel.as_bytes()) {
        Some((s, e)) => channel.get(s..e),
        None => extension_one_pass(channel),
    }
}

/// 0x80 in each byte of `x` (all bytes < 0x80) that lies in `lo..=hi` (`lo` ≥ 1, `hi` < 0x7f).
#[inline(always)]
fn bytes_in(x: u64, lo: u8, hi: u8) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    let above_lo = x.wrapping_add(ONES * u64::from(0x80 - lo));
    let above_hi = x.wrapping_add(ONES * u64::from(0x7f - hi));
    above_lo & !above_hi & (ONES * 0x80)
}

/// The eight bytes of `b` at `i` as a little-endian word, `None` past the end.
#[inline(always)]
fn word_at(b: &[u8], i: usize) -> Option<u64> {
    let w = b.get(i..i.checked_add(8)?)?;
    Some(u64::from_le_bytes(<[u8; 8]>::try_from(w).ok()?))
}

/// 0x80 in the first byte of `x` equal to `c` (and maybe in bytes after it), 0 when no byte is: the classic
/// "has zero byte" test on `x ^ c…c`, exact for "is there one" and "where is the first".
#[inline(always)]
fn first_byte(x: u64, c: u8) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    let y = x ^ (ONES * u64::from(c));
    y.wrapping_sub(ONES) & !y & (ONES * 0x80)
}

/// [`extension_from_channel`]'s usual case, `Tech/name-hhhhhhhh` (lowercase hex, as Asterisk writes its channel
/// counter) with the `/` among the first 8 bytes and the `-` among the first 17: the range of `name`, or `None`
/// for any other shape (then the one-pass reading answers).
#[inline(always)]
fn channel_fast(b: &[u8]) -> Option<(usize, usize)> {
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let n = b.len();
    let head = word_at(b, 0)?;
    let slashes = first_byte(head, b'/');
    if slashes == 0 {
        return None;
    }
    let start = (slashes.trailing_zeros() / 8) as usize + 1;
    // The last 8 bytes are hex digits after a '-', so that '-' is the last one and nothing is cut at '@'/';'
    // among them.
    let tail_at = n.checked_sub(8)?;
    let tail = word_at(b, tail_at)?;
    let hex = bytes_in(tail, b'0', b'9') | bytes_in(tail, b'a', b'f');
    let end = tail_at.checked_sub(1)?;
    if tail & HIGH != 0 || hex != HIGH || b.get(end) != Some(&b'-') || start >= end {
        return None;
    }
    // No '@' or ';' before the '-' (one in the name would cut it; one before the '/' only sends the channel to
    // the one-pass reading): the word at 0 and the one ending at the '-' cover them when the '-' is among the
    // first 16 bytes (longer channels take the one-pass reading), and read nothing else but the '-' and hex
    // digits. They are looked for as bytes in ';'..='@' (the few others there, `<=>?`, also only send the
    // channel to the one-pass reading), in ASCII words.
    if end > 16 {
        return None;
    }
    let last = word_at(b, end.saturating_sub(8))?;
    let found = (head | last) & HIGH | bytes_in(head, b';', b'@') | bytes_in(last, b';', b'@');
    (found == 0).then_some((start, end))
}

/// [`extension_from_channel`] for any shape: one pass over the bytes after the first '/', up to the first
/// '@' or ';', remembering the last '-' and whether only hex digits follow it. Out of line, so that the usual
/// case needs no registers saved.
#[cold]
#[inline(never)]
fn extension_one_pass(channel: &str) -> Option<&str> {
    let b = channel.as_bytes();
    let slash = b.iter().position(|&c| c == b'/')?;
    let start = slash + 1;
    let mut end = b.len();
    // The last '-' seen (absolute position) and whether every byte after it so far is a hex digit.
    let mut dash: Option<usize> = None;
    let mut hex_after = false;
    for (i, &c) in b.iter().enumerate().skip(start) {
        match c {
            b'@' | b';' => {
                end = i;
                break;
            }
            b'-' => {
                dash = Some(i);
                hex_after = true;
            }
            _ => hex_after &= c.is_ascii_hexdigit(),
        }
    }
    let end = match dash {
        Some(d) if d > start && d + 1 < end && hex_after => d,
        _ => end,
    };
    if end <= start {
        None
    } else {
        channel.get(start..end)
    }
}

/// `text.trim()`, without its scan when both ends are printable ASCII (then there is nothing to trim).
#[inline(always)]
fn trim(text: &str) -> &str {
    let printable = |b: Option<&u8>| b.is_some_and(|&b| (0x21..0x80).contains(&b));
    if printable(text.as_bytes().first()) && printable(text.as_bytes().last()) {
        text
    } else {
        text.trim()
    }
}

/// The display name inside an Asterisk caller id: `"Taro Tanaka" <205>` → `Taro Tanaka`, `Reception <200>` →
/// `Reception`, `205` → `` (no name).
#[inline]
pub fn name_from_clid(clid: &str) -> &str {
    // Byte searches ('"' and '<' are ASCII, so the cuts fall on character boundaries): a `str` pattern search
    // costs a searcher set-up per call on these short strings.
    let clid = trim(clid);
    let b = clid.as_bytes();
    if b.first() == Some(&b'"') {
        // A name of up to 7 bytes ends in the word after the quote (the usual case), else a byte search.
        if let Some(w) = word_at(b, 1) {
            let quotes = first_byte(w, b'"');
            if quotes != 0 {
                let i = (quotes.trailing_zeros() / 8) as usize;
                return clid.get(1..1 + i).unwrap_or("");
            }
        }
        return match b.iter().skip(1).position(|&c| c == b'"') {
            Some(i) => clid.get(1..1 + i).unwrap_or(""),
            None => "",
        };
    }
    match b.iter().position(|&c| c == b'<') {
        Some(i) => clid.get(..i).unwrap_or("").trim(),
        None => "",
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_leg_of_a_record_comes_from_its_context_and_channels() {
        let leg = |channel: &str, dst: &str, context: &str, app: &str| {
            let mut r = CallRecord::empty(1, chrono::DateTime::UNIX_EPOCH);
            r.channel = channel.into();
            r.dst_channel = dst.into();
            r.context = context.into();
            r.last_app = app.into();
            r.leg()
        };
        let trunk = "PJSIP/ntt-trunk-0000000a";
        assert_eq!(
            leg("PJSIP/201-00000001", trunk, "from-internal", "Dial"),
            CdrLeg::Direct
        );
        assert_eq!(
            leg(trunk, "PJSIP/201-00000002", "from-trunk", "Dial"),
            CdrLeg::Forwarded
        );
        assert_eq!(
            leg(trunk, trunk, "From-PSTN-custom", "Dial"),
            CdrLeg::Forwarded
        );
        assert_eq!(leg(trunk, trunk, "my-disa", "Dial"), CdrLeg::Forwarded);
        assert_eq!(leg(trunk, trunk, "default", "DISA"), CdrLeg::Forwarded);
        assert_eq!(
            leg("PJSIP/201-1", trunk, "from-internal-xfer", "Dial"),
            CdrLeg::Transferred
        );
        assert_eq!(
            leg("SIP/carrier-1", "SIP/carrier-2", "default", "Dial"),
            CdrLeg::Hairpin
        );
        assert_eq!(
            leg("SIP/carrier-1", "SIP/other-2", "default", "Dial"),
            CdrLeg::Direct
        );
        // Odd text says nothing and panics nowhere.
        assert_eq!(leg("", "", "", ""), CdrLeg::Direct);
        let _ = leg("é/ü-", "é/ü-\u{0}", "dís\r\n", "DIS\u{7f}");
    }

    use super::*;

    #[test]
    fn extension_from_common_channels() {
        assert_eq!(extension_from_channel("SIP/205-0000001a"), Some("205"));
        assert_eq!(extension_from_channel("PJSIP/205-00000012"), Some("205"));
        assert_eq!(
            extension_from_channel("PJSIP/ntt-trunk-0000002f"),
            Some("ntt-trunk")
        );
        assert_eq!(
            extension_from_channel("Local/205@from-internal-00000001;1"),
            Some("205")
        );
        assert_eq!(extension_from_channel("IAX2/205-1234"), Some("205"));
        assert_eq!(extension_from_channel("PJSIP/alice"), Some("alice"));
        assert_eq!(extension_from_channel(""), None);
        assert_eq!(extension_from_channel("PJSIP/"), None);
        assert_eq!(extension_from_channel("garbage"), None);
    }

    /// The byte-search version (several passes) the one-pass and word-at-a-time readings replaced.
    fn extension_by_byte_search(channel: &str) -> Option<&str> {
        let b = channel.as_bytes();
        let slash = b.iter().position(|&c| c == b'/')?;
        let rest = b.get(slash + 1..)?;
        let rest = match rest.iter().position(|&c| c == b'@' || c == b';') {
            Some(i) => rest.get(..i)?,
            None => rest,
        };
        let rest = match rest.iter().rposition(|&c| c == b'-') {
            Some(i)
                if i > 0
                    && i + 1 < rest.len()
                    && rest.get(i + 1..)?.iter().all(u8::is_ascii_hexdigit) =>
            {
                rest.get(..i)?
            }
            _ => rest,
        };
        if rest.is_empty() {
            None
        } else {
            let start = slash + 1;
            channel.get(start..start + rest.len())
        }
    }

    /// Channel-like strings: a technology, '/', a name with '-', '@', ';', hex digits and others, and often
    /// Asterisk's 8-hex-digit counter.
    fn channel_like() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let piece = prop_oneof![
            Just("-".to_string()),
            Just("@".to_string()),
            Just(";".to_string()),
            Just("/".to_string()),
            "[0-9a-fA-F]{1,9}",
            "[g-zG-Z0-9 é`ア:]{1,5}",
        ];
        (
            prop_oneof![
                Just(""),
                Just("PJSIP/"),
                Just("SIP/"),
                Just("Local/"),
                Just("IAX2/"),
                Just("x")
            ],
            proptest::collection::vec(piece, 0..6),
            prop_oneof![
                Just(String::new()),
                "-[0-9a-fA-F]{8}",
                "-[0-9a-fA-F]{1,9}",
                "-[0-9a-gA-G@;]{8}",
                Just(";1".to_string())
            ],
        )
            .prop_map(|(tech, parts, end)| format!("{tech}{}{end}", parts.concat()))
    }

    proptest::proptest! {
        #[test]
        fn channels_read_as_the_byte_search_did(channel in channel_like()) {
            proptest::prop_assert_eq!(
                extension_from_channel(&channel),
                extension_by_byte_search(&channel)
            );
        }

        /// The usual shape with names of every length the word path takes, '@', ';' and their neighbours
        /// anywhere in them.
        #[test]
        fn usual_channels_read_as_the_byte_search_did(
            tech in "(PJSIP|SIP|IAX2|x|Local)/",
            name in "[a-z0-9@;<?=>-]{0,12}",
            counter in "[0-9a-f]{8}",
        ) {
            let channel = format!("{tech}{name}-{counter}");
            proptest::prop_assert_eq!(
                extension_from_channel(&channel),
                extension_by_byte_search(&channel)
            );
        }

        #[test]
        fn any_text_reads_as_the_byte_search_did(channel in "[A-Fa-f0-9/@;\\-éア gx]{0,30}") {
            proptest::prop_assert_eq!(
                extension_from_channel(&channel),
                extension_by_byte_search(&channel)
            );
        }
    }

    #[test]
    fn the_usual_shape_takes_the_word_path() {
        for (channel, name) in [
            ("PJSIP/340-00006dd2", "340"),
            ("SIP/ntt-trunk-0000001b", "ntt-trunk"),
            ("IAX2/x-abcdef01", "x"),
            ("PJSIP/a-b-c-0-00006dd2", "a-b-c-0"),
            ("PJSIP/abcdefghij-00006dd2", "abcdefghij"),
        ] {
            let b = channel.as_bytes();
            assert_eq!(
                channel_fast(b).and_then(|(s, e)| channel.get(s..e)),
                Some(name)
            );
            assert_eq!(extension_one_pass(channel), Some(name));
        }
        for channel in [
            "Local/205@from-internal-00000001;1",
            "PJSIP/-00006dd2",
            "PJSIP/340-00006dg2",
            "PJSIP/3;0-00006dd2",
            "PJSIP/340-0006dd2",
            "VeryLongTech/340-00006dd2",
            "/-00006dd2",
            "PJSIP/340-\u{e9}006dd",
            "IAX2/x-ABCDEF01",
            "A@B/340-00006dd2",
            "PJSIP/abcdefghijk-00006dd2",
            "PJSIP/a-b-c-d-e-f-g-h-i-j-0000abcd",
            "PJSIP/a<b-00006dd2",
            "PJSIP/ab@cdefghi-00006dd2",
            "SIP/abc;defgh-00006dd2",
        ] {
            assert_eq!(channel_fast(channel.as_bytes()), None, "{channel}");
            assert_eq!(
                extension_from_channel(channel),
                extension_by_byte_search(channel),
                "{channel}"
            );
        }
    }

    /// The `str`-pattern version the byte search replaced.
    fn extension_by_str_search(channel: &str) -> Option<&str> {
        let (_, rest) = channel.split_once('/')?;
        let rest = match rest.find(['@', ';']) {
            Some(i) => rest.get(..i)?,
            None => rest,
        };
        let rest = match rest.rsplit_once('-') {
            Some((name, suffix))
                if !name.is_empty()
                    && !suffix.is_empty()
                    && suffix.bytes().all(|b| b.is_ascii_hexdigit()) =>
            {
                name
            }
            _ => rest,
        };
        if rest.is_empty() { None } else { Some(rest) }
    }

    proptest::proptest! {
        #[test]
        fn byte_search_reads_channels_as_the_str_search_did(
            channel in "[A-Za-z0-9/@;\\-éア ]{0,24}"
        ) {
            proptest::prop_assert_eq!(
                extension_from_channel(&channel),
                extension_by_str_search(&channel)
            );
        }
    }

    /// The `str`-pattern version the byte search replaced.
    fn name_by_str_search(clid: &str) -> &str {
        let clid = clid.trim();
        if let Some(rest) = clid.strip_prefix('"') {
            return match rest.find('"') {
                Some(i) => rest.get(..i).unwrap_or(""),
                None => "",
            };
        }
        match clid.find('<') {
            Some(i) => clid.get(..i).unwrap_or("").trim(),
            None => "",
        }
    }

    proptest::proptest! {
        #[test]
        fn byte_search_reads_clids_as_the_str_search_did(clid in "[ \"<>A-Za-z0-9éア]{0,16}") {
            proptest::prop_assert_eq!(name_from_clid(&clid), name_by_str_search(&clid));
        }

        /// Quoted names of every length around the word the name is first looked for in.
        #[test]
        fn quoted_names_read_as_the_str_search_did(name in "[ A-Za-z0-9é<]{0,12}", rest in "[\" <>0-9]{0,8}") {
            let clid = format!("\"{name}\"{rest}");
            proptest::prop_assert_eq!(name_from_clid(&clid), name_by_str_search(&clid));
        }
    }

    #[test]
    fn clid_names() {
        assert_eq!(name_from_clid("\"Taro Tanaka\" <205>"), "Taro Tanaka");
        assert_eq!(name_from_clid("Reception <200>"), "Reception");
        assert_eq!(name_from_clid("205"), "");
        assert_eq!(name_from_clid("\"broken"), "");
    }

    #[test]
    fn dispositions_map_from_every_format() {
        assert_eq!(
            Disposition::from_asterisk("NO ANSWER"),
            Disposition::NoAnswer
        );
        assert_eq!(
            Disposition::from_asterisk("ANSWERED"),
            Disposition::Answered
        );
        assert_eq!(Disposition::from_asterisk("USER_BUSY"), Disposition::Busy);
        assert_eq!(
            Disposition::from_freeswitch_cause("NORMAL_CLEARING", Some(false)),
            Disposition::NoAnswer
        );
        assert_eq!(
            Disposition::from_freeswitch_cause("NORMAL_CLEARING", Some(true)),
            Disposition::Answered
        );
        assert_eq!(
            Disposition::from_freeswitch_cause("UNALLOCATED_NUMBER", Some(false)),
            Disposition::Failed
        );
        assert_eq!(Disposition::from_sip_code(200), Disposition::Answered);
        assert_eq!(Disposition::from_sip_code(486), Disposition::Busy);
        assert_eq!(Disposition::from_sip_code(487), Disposition::NoAnswer);
        assert_eq!(Disposition::from_sip_code(503), Disposition::Congestion);
        assert_eq!(Disposition::from_sip_code(403), Disposition::Failed);
        assert_eq!(Disposition::from_sip_code(100), Disposition::Unknown);
    }
}
