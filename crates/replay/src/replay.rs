//! Replays call detail records through the engine in the order the calls really happened.
//!
//! A CDR is written when a call ends, so a file is in end-time order while the engine must see each call's
//! attempt at its start, then its answer, then its end, interleaved with other calls. The replay keeps a
//! bounded reorder buffer: a record is released once no record still to come can start before it (records
//! arrive at most `reorder_window` after their start, the longest call a PBX allows), and answers and ends
//! wait in a time-ordered queue. Memory depends on the calls of that window, not on the file size.
//!
//! A call the engine blocks does not go on (no answer, no end): the replay shows what the policy would have
//! done, and the engine's state afterwards is the state it would have had.
//!
//! Calls are attributed as the guard attributes them (see [`Site`]): to a configured tenant, and unauthenticated
//! when that tenant lists its accounts and the call's is not one of them; the engine is given the site's facts
//! (protected sources, refusal status) as the guard's decision layer gives them.

use std::collections::{BinaryHeap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use arrayvec::ArrayString;

use cdr::{CallRecordRef, Disposition};
use engine::{
    CallAnswered, CallAttempt, CallEnded, Decision, EndCause, Engine, Event, Millis, Verdict,
};
use numbering::{Destination, Money, Numbering};

use crate::site::{Site, Tenant};

/// Ground truth written by the project's scenario generator (and by anyone who labels CDRs) in the
/// `userfield` column: `legit…` or `fraud…` (`fraud:pump-232`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Label<'a> {
    Unknown,
    Legit,
    /// Fraud, with the attack's name when given.
    Fraud(&'a str),
}

impl Label<'_> {
    // Inlined into the caller's crate, as the accessors of `Call`: the report calls them for every call.
    #[inline]
    pub fn from_userfield(s: &str) -> Label<'_> {
        // Only the start is trimmed before the word is matched (the same answers as trimming both ends: five
        // characters either are the word or are not), so a `legit` label costs no scan to its end.
        // A label starts with a letter: the trim's Unicode scan is only paid by a field that does not.
        let t = if s.as_bytes().first().is_some_and(u8::is_ascii_alphabetic) {
            s
        } else {
            s.trim_start()
        };
        // Bytes, not a `str` slice: no character-boundary check (a match is five ASCII letters anyway).
        let head = t.as_bytes().get(..5);
        if head.is_some_and(|h| h.eq_ignore_ascii_case(b"legit")) {
            Label::Legit
        } else if head.is_some_and(|h| h.eq_ignore_ascii_case(b"fraud")) {
            let name = t
                .get(5..)
                .unwrap_or("")
                .trim_start_matches([':', '=', '/', ' '])
                .trim();
            Label::Fraud(if name.is_empty() { "fraud" } else { name })
        } else {
            Label::Unknown
        }
    }
}

/// Text bytes a call keeps inline (call id, tenant, account, dialed, userfield, user agent); longer texts go
/// to the call's spill buffer. 112 holds the usual ~50–90 bytes, so a held call is one contiguous block.
const INLINE_TEXT: usize = 112;

/// One call as the replay keeps it while it waits: its strings packed inline (see [`INLINE_TEXT`]).
#[derive(Debug, Clone)]
pub struct Call {
    pub file: u16,
    pub line: u64,
    pub start: Millis,
    pub answer: Option<Millis>,
    pub end: Millis,
    pub duration_secs: u32,
    pub billable_secs: u32,
    pub disposition: Disposition,
    pub source_ip: Option<IpAddr>,
    /// The account is one of its tenant's own (always, when the site lists no accounts): what the guard passes
    /// to the engine as `authenticated`.
    authenticated: bool,
    /// Replayed to its end (or blocked): the ring may reuse its place.
    done: bool,
    /// Whether the call continues one that came in, as the record shows it ([`cdr::CallRecord::leg`]).
    leg: engine::Leg,
    /// The text spilled to `spill` (too long for `inline`).
    spilled: bool,
    // Ends of call_id, tenant, account, dialed, userfield, user_agent and the outside caller (only kept for a
    // call that continues one that came in) within the text.
    cuts: [u32; 7],
    inline: ArrayString<INLINE_TEXT>,
    spill: String,
}

impl Call {
    /// Fills this slot from a record, reusing its text buffer (no allocation once the slots are warm).
    fn fill(&mut self, file: u16, r: &CallRecordRef<'_>, tenants: &[Tenant]) {
        // The extension is what gets hijacked, so it is the account. An Asterisk accountcode that differs
        // from the extension names a group of phones (a customer of an installer, a department): the tenant.
        let account = cdr::extension_from_channel(r.channel)
            .filter(|e| !e.is_empty())
            .unwrap_or(r.account);
        let named = match r.tenant {
            Some(t) => t,
            None if r.account != account => r.account,
            None => "",
        };
        let (tenant, authenticated) = if tenants.is_empty() {
            (named, true)
        } else {
            crate::site::attribute(tenants, named, account, r.source_ip)
        };
        let ua = r.user_agent.unwrap_or("");
        // A 16-column Master.csv has no uniqueid: the file and line name the call instead, so that its answer
        // and end find it.
        let mut id_buf = ArrayString::<32>::new();
        let call_id = if r.call_id.is_empty() {
            use std::fmt::Write as _;
            let _ = write!(id_buf, "{file}:{}", r.line);
            id_buf.as_str()
        } else {
            r.call_id
        };
        let leg = match r.leg() {
            cdr::CdrLeg::Direct => engine::Leg::Direct,
            cdr::CdrLeg::Forwarded => engine::Leg::Forwarded,
            cdr::CdrLeg::Transferred => engine::Leg::Transferred,
            cdr::CdrLeg::Hairpin => engine::Leg::Hairpin,
        };
        let outside = if leg == engine::Leg::Direct {
            ""
        } else {
            r.caller
        };
        let parts = [call_id, tenant, account, r.dialed, r.userfield, ua, outside];
        let total: usize = parts.iter().map(|p| p.len()).sum();
        self.inline.clear();
        self.spill.clear();
        self.spilled = total > INLINE_TEXT;
        let mut end = 0usize;
        for (i, p) in parts.iter().enumerate() {
            if self.spilled {
                self.spill.push_str(p);
            } else {
                // Cannot fail: the parts fit (checked above).
                let _ = self.inline.try_push_str(p);
            }
            end += p.len();
            self.cuts[i] = u32::try_from(end).unwrap_or(u32::MAX);
        }
        self.file = file;
        self.line = r.line;
        self.start = r.start_ms();
        self.answer = r.answer_ms();
        self.end = r.end_ms();
        self.duration_secs = r.duration_secs;
        self.billable_secs = r.billable_secs;
        self.disposition = r.disposition;
        self.source_ip = r.source_ip;
        self.authenticated = authenticated;
        self.leg = leg;
    }

    fn empty() -> Call {
        Call {
            file: 0,
            line: 0,
            start: 0,
            answer: None,
            end: 0,
            duration_secs: 0,
            billable_secs: 0,
            disposition: Disposition::Unknown,
            source_ip: None,
            authenticated: true,
            done: true,
            leg: engine::Leg::Direct,
            spilled: false,
            cuts: [0; 7],
            inline: ArrayString::new(),
            spill: String::new(),
        }
    }

    #[inline]
    fn part(&self, i: usize) -> &str {
        let from = if i == 0 { 0 } else { self.cuts[i - 1] as usize };
        let text = if self.spilled {
            self.spill.as_str()
        } else {
            self.inline.as_str()
        };
        text.get(from..self.cuts[i] as usize).unwrap_or("")
    }
    #[inline]
    pub fn call_id(&self) -> &str {
        self.part(0)
    }
    #[inline]
    pub fn tenant(&self) -> &str {
        self.part(1)
    }
    #[inline]
    pub fn account(&self) -> &str {
        self.part(2)
    }
    #[inline]
    pub fn dialed(&self) -> &str {
        self.part(3)
    }
    #[inline]
    pub fn userfield(&self) -> &str {
        self.part(4)
    }
    #[inline]
    pub fn user_agent(&self) -> &str {
        self.part(5)
    }
    /// The outside party of a call that continues one that came in (its record's caller); None otherwise.
    #[inline]
    pub fn forwarded_from(&self) -> Option<&str> {
        Some(self.part(6)).filter(|c| !c.is_empty())
    }
    /// Whether the call continues one that came in (forwarded, transferred, hairpin).
    #[inline]
    pub fn leg(&self) -> engine::Leg {
        self.leg
    }
    #[inline]
    pub fn label(&self) -> Label<'_> {
        Label::from_userfield(self.userfield())
    }
    #[inline]
    pub fn answered(&self) -> bool {
        self.answer.is_some() && self.disposition == Disposition::Answered
    }
    /// Whether the engine saw the call as placed by one of its tenant's own accounts.
    #[inline]
    pub fn authenticated(&self) -> bool {
        self.authenticated
    }
}

/// What the engine made of one call, handed to the report.
pub struct Outcome<'a> {
    pub call: &'a Call,
    pub destination: &'a Destination,
    pub verdict: Verdict,
    /// Decisions raised at this call's attempt.
    pub decisions: &'a [Decision],
    /// What the call really cost (its billable seconds at the tariff); None when no tariff is known.
    pub cost: Option<Money>,
}

/// Decisions raised by an answer or an end (pumping is seen when calls end), tied to their call.
pub struct LaterDecisions<'a> {
    pub call: &'a Call,
    /// Where the call went (classified again: only calls with later decisions pay for it).
    pub destination: &'a Destination,
    pub decisions: &'a [Decision],
    /// What the call cost, as in its [`Outcome`]: a report that learns only now that the call belonged to an
    /// attack counts its money then.
    pub cost: Option<Money>,
}

/// Receives the replay's results in time order.
pub trait Sink {
    fn call(&mut self, outcome: Outcome<'_>);
    fn later(&mut self, later: LaterDecisions<'_>);
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Step {
    Answer,
    End,
}

/// An answer or end to come, for held call `call`. Steps run by time, then in the order they were scheduled (a
/// number no two steps share), so a replay is deterministic. Time and order are packed into one `u128` key,
/// smallest first: the heap compares two integers instead of a tuple (the heap's pops were 3 % of a run).
#[derive(Debug, Clone, Copy)]
struct Due {
    key: u128,
    call: u64,
}

impl Due {
    fn new(at: Millis, seq: u64, step: Step, call: u64) -> Due {
        // Flipping the sign bit orders i64 times as u64s; the step rides in the lowest bit (the order is unique
        // without it).
        let time = (at as u64) ^ (1 << 63);
        let order = (seq << 1) | u64::from(step == Step::End);
        Due {
            key: (u128::from(time) << 64) | u128::from(order),
            call,
        }
    }
    fn at(&self) -> Millis {
        (((self.key >> 64) as u64) ^ (1 << 63)) as Millis
    }
    fn step(&self) -> Step {
        if self.key & 1 == 1 {
            Step::End
        } else {
            Step::Answer
        }
    }
}

impl PartialEq for Due {
    fn eq(&self, other: &Due) -> bool {
        self.key == other.key
    }
}
impl Eq for Due {}
impl PartialOrd for Due {
    fn partial_cmp(&self, other: &Due) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Due {
    /// Reversed: `BinaryHeap` pops its greatest element, and the earliest step must come first.
    fn cmp(&self, other: &Due) -> std::cmp::Ordering {
        other.key.cmp(&self.key)
    }
}

/// The replay of one or more CDR files through one engine.
///
/// Held calls live in a ring in arrival order, each one contiguous block with its text inline. A CDR file is in
/// end-time order and a call leaves the ring when the replay reaches its end, so calls leave nearly in the order
/// they came and the ring stays dense. (Before: a free list reused places in any order and each call's text was
/// its own allocation, so releasing a call missed the cache twice; with the waiting heap's pops that was a
/// quarter of the run.) Waiting calls are a sorted deque: nearly every record goes at the back, and the next call
/// to release is at the front.
pub struct Replay {
    engine: Engine,
    numbering: Arc<Numbering>,
    /// The site's tenants (empty: each record's own tenant, every account its own).
    tenants: Vec<Tenant>,
    reorder_window: Millis,
    /// Calls read but not yet started, as (start, arrival number), sorted: nearly every record goes at the back.
    waiting: VecDeque<(Millis, u64)>,
    /// Answers and ends to come, earliest first (see [`Due`]).
    steps: BinaryHeap<Due>,
    step_seq: u64,
    /// Held calls by arrival number: the call numbered n is at `ring[n % ring.len()]` (a power of two).
    ring: Vec<Call>,
    /// Arrival number of the oldest call whose place is not free yet, and of the next call.
    oldest: u64,
    next: u64,
    /// Calls held (not replayed to their end yet).
    live: usize,
    latest_start: Millis,
    decisions: Vec<Decision>,
    /// Records whose start lies before calls already replayed (beyond the reorder window).
    pub late_records: u64,
    last_released: Millis,
}

impl Replay {
    /// A replay of the site's calls through a new engine with its policy. `reorder_window_secs`: the longest
    /// call, i.e. how long after its start a call's record may come (records are written at hang-up).
    pub fn new(site: Site, reorder_window_secs: u32) -> Replay {
        let Site {
            numbering,
            policy,
            tenants,
            facts,
        } = site;
        let mut engine = Engine::new(policy, numbering.clone());
        engine.set_site(facts);
        Replay {
            engine,
            numbering,
            tenants,
            reorder_window: i64::from(reorder_window_secs) * 1000,
            waiting: VecDeque::new(),
            steps: BinaryHeap::new(),
            step_seq: 0,
            ring: (0..64).map(|_| Call::empty()).collect(),
            oldest: 0,
            next: 0,
            live: 0,
            latest_start: Millis::MIN,
            decisions: Vec::new(),
            late_records: 0,
            last_released: Millis::MIN,
        }
    }

    /// The engine, with the state the replay left it in (its sizes, its bans, its kill switches).
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The numbering the calls are classified and priced with.
    pub fn numbering(&self) -> &Numbering {
        &self.numbering
    }

    /// Calls held in memory right now (bounded by the reorder window).
    pub fn held(&self) -> usize {
        self.live
    }

    fn index(&self, n: u64) -> usize {
        // The ring's length is a power of two.
        (n as usize) & (self.ring.len() - 1)
    }

    /// Starts loading held call `n` into the cache. The ring holds a reorder window of calls (megabytes): a call
    /// comes back to be replayed long after it was read, and waiting for that load was ~6 % of a run (perf); without
    /// the hint, `analyze` took 15 % more CPU time over 1 M lines (2026-12-07). The hint itself is
    /// [`cdr::cache::prefetch`], so that this crate needs no `unsafe`.
    #[inline(always)]
    fn prefetch(&self, n: u64) {
        if let Some(call) = self.ring.get(self.index(n)) {
            cdr::cache::prefetch(call);
        }
    }

    /// A place for the next call: the ring doubles when every place is taken (the calls keep their numbers).
    fn take_place(&mut self) -> u64 {
        if self.next - self.oldest == self.ring.len() as u64 {
            let len = self.ring.len() * 2;
            let mut ring: Vec<Call> = (0..len).map(|_| Call::empty()).collect();
            for n in self.oldest..self.next {
                let (from, to) = (self.index(n), (n as usize) & (len - 1));
                if let (Some(a), Some(b)) = (self.ring.get_mut(from), ring.get_mut(to)) {
                    std::mem::swap(a, b);
                }
            }
            self.ring = ring;
        }
        let n = self.next;
        self.next += 1;
        self.live += 1;
        n
    }

    /// The call is replayed to its end (or blocked): its place can be reused once the calls before it are done.
    fn done(&mut self, n: u64) {
        let i = self.index(n);
        if let Some(c) = self.ring.get_mut(i)
            && !c.done
        {
            c.done = true;
            self.live -= 1;
        }
        while self.oldest < self.next
            && self
                .ring
                .get(self.index(self.oldest))
                .is_some_and(|c| c.done)
        {
            self.oldest += 1;
        }
    }

    /// Feeds one record; releases every call that can no longer be preceded by one still to come.
    pub fn push(&mut self, file: u16, record: &CallRecordRef<'_>, sink: &mut dyn Sink) {
        let n = self.take_place();
        let i = self.index(n);
        let Some(call) = self.ring.get_mut(i) else {
            return;
        };
        call.fill(file, record, &self.tenants);
        call.done = false;
        let start = call.start;
        if start < self.last_released {
            self.late_records += 1;
        }
        self.latest_start = self.latest_start.max(start);
        // Sorted by (start, arrival): a record goes after every held record that starts no later than it.
        match self.waiting.back() {
            Some(&(last, _)) if last > start => {
                // Only the calls that started while this one lasted are behind it: a few, so the place is searched
                // from the back (`place_behind`); a binary search over thousands of held calls missed the cache
                // at every probe (2 % of the run in perf).
                let at = place_behind(&self.waiting, start);
                self.waiting.insert(at, (start, n));
            }
            _ => self.waiting.push_back((start, n)),
        }
        let watermark = self.latest_start.saturating_sub(self.reorder_window);
        self.release(Some(watermark), sink);
        // The next record's place was last used a reorder window ago.
        self.prefetch(self.next);
    }

    /// Replays everything still held (end of input).
    pub fn finish(&mut self, sink: &mut dyn Sink) {
        self.release(None, sink);
        self.run_steps(None, sink);
    }

    fn release(&mut self, watermark: Option<Millis>, sink: &mut dyn Sink) {
        while let Some(&(start, n)) = self.waiting.front() {
            if watermark.is_some_and(|w| start > w) {
                break;
            }
            self.waiting.pop_front();
            // The next call to start was read about a reorder window ago: ask for it now, while this one runs.
            if let Some(&(_, next)) = self.waiting.front() {
                self.prefetch(next);
            }
            // Answers and ends due before this call starts happen first.
            self.run_steps(Some(start), sink);
            self.attempt(n, sink);
        }
    }

    fn attempt(&mut self, n: u64, sink: &mut dyn Sink) {
        let Some(call) = self.ring.get(self.index(n)) else {
            return;
        };
        self.last_released = self.last_released.max(call.start);
        let destination = self.numbering.classify(call.dialed());
        self.decisions.clear();
        let verdict = self.engine.on_event(
            &Event::CallAttempt(CallAttempt {
                at: call.start,
                call_id: call.call_id(),
                tenant: call.tenant(),
                account: call.account(),
                source: call.source_ip.map(|ip| SocketAddr::new(ip, 0)),
                user_agent: call.user_agent(),
                // A PBX wrote the record: it let the caller place the call. Whether the account is one of its
                // tenant's own is what the guard checks too.
                authenticated: call.authenticated(),
                caller_id_foreign: false,
                dialed: call.dialed(),
                destination: &destination,
                route: "",
                leg: call.leg(),
                forwarded_from: call.forwarded_from(),
            }),
            &mut self.decisions,
        );
        let cost = if call.billable_secs > 0 {
            self.numbering.cost(&destination, call.billable_secs)
        } else {
            None
        };
        sink.call(Outcome {
            call,
            destination: &destination,
            verdict,
            decisions: &self.decisions,
            cost,
        });
        if verdict.is_block() {
            // The call would not have happened: it never answers nor ends.
            self.done(n);
            return;
        }
        let answered = call.answered();
        let (answer_at, end_at) = (call.answer.unwrap_or(call.start), call.end.max(call.start));
        // Most answers change nothing in the engine (a domestic call is not counted in progress): those are not
        // scheduled, which saves a step in the queue and a visit to the call when it comes due.
        if answered && self.engine.answer_matters() {
            self.step_seq += 1;
            self.steps
                .push(Due::new(answer_at, self.step_seq, Step::Answer, n));
        }
        self.step_seq += 1;
        self.steps
            .push(Due::new(end_at.max(answer_at), self.step_seq, Step::End, n));
    }

    fn run_steps(&mut self, until: Option<Millis>, sink: &mut dyn Sink) {
        while let Some(due) = self.steps.peek().copied() {
            let (at, step, n) = (due.at(), due.step(), due.call);
            if until.is_some_and(|u| at > u) {
                break;
            }
            self.steps.pop();
            if let Some(next) = self.steps.peek() {
                self.prefetch(next.call);
            }
            let Some(call) = self.ring.get(self.index(n)) else {
                continue;
            };
            self.decisions.clear();
            match step {
                Step::Answer => {
                    self.engine.on_event(
                        &Event::CallAnswered(CallAnswered {
                            at,
                            call_id: call.call_id(),
                        }),
                        &mut self.decisions,
                    );
                }
                Step::End => {
                    self.engine.on_event(
                        &Event::CallEnded(CallEnded {
                            at,
                            call_id: call.call_id(),
                            duration_secs: call.duration_secs,
                            billable_secs: if call.answered() {
                                call.billable_secs
                            } else {
                                0
                            },
                            cause: end_cause(call.disposition),
                        }),
                        &mut self.decisions,
                    );
                }
            }
            if !self.decisions.is_empty() {
                let destination = self.numbering.classify(call.dialed());
                let cost = if call.billable_secs > 0 {
                    self.numbering.cost(&destination, call.billable_secs)
                } else {
                    None
                };
                sink.later(LaterDecisions {
                    call,
                    destination: &destination,
                    decisions: &self.decisions,
                    cost,
                });
            }
            if step == Step::End {
                self.done(n);
            }
        }
    }
}

/// Where a record goes among the waiting calls (sorted by start): after every call that started no later than it.
/// Galloping back from the end (1, 2, 4… calls back), then a binary search between the last two probes: a record
/// usually goes a few calls from the back, a long call's a few hundred, and a binary search over the whole queue
/// (thousands) missed the cache at each of its first probes (1.4 % of a run in perf; a linear scan of the last
/// 64 cost ~120 instructions per record at busy hours).
fn place_behind(waiting: &VecDeque<(Millis, u64)>, start: Millis) -> usize {
    let len = waiting.len();
    let before = |i: usize| waiting.get(i).is_some_and(|&(s, _)| s <= start);
    // Every call from `hi` on started after `start`; every call before `lo` did not.
    let mut hi = len;
    let mut step = 1;
    let mut lo = loop {
        if step > len {
            break 0;
        }
        let probe = len - step;
        if before(probe) {
            break probe + 1;
        }
        hi = probe;
        step *= 2;
    };
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if before(mid) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo
}

fn end_cause(d: Disposition) -> EndCause {
    match d {
        Disposition::Answered => EndCause::Normal,
        Disposition::NoAnswer => EndCause::NoAnswer,
        Disposition::Busy => EndCause::Busy,
        _ => EndCause::Failed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Keeps what the sink saw: (start, call id, parts) per call, and the number of later decisions.
    #[derive(Default)]
    struct Seen {
        calls: Vec<(Millis, String, [String; 5])>,
    }

    impl Sink for Seen {
        fn call(&mut self, o: Outcome<'_>) {
            let c = o.call;
            self.calls.push((
                c.start,
                c.call_id().to_string(),
                [
                    c.tenant().to_string(),
                    c.account().to_string(),
                    c.dialed().to_string(),
                    c.userfield().to_string(),
                    c.user_agent().to_string(),
                ],
            ));
        }
        fn later(&mut self, _: LaterDecisions<'_>) {}
    }

    fn replay() -> Replay {
        Replay::new(Site::defaults(), 4 * 3600)
    }

    #[test]
    fn calls_come_out_in_start_order_and_the_ring_gives_every_place_back() {
        // 5,000 calls of 0 s to 3 h in end-time order (as a PBX writes them), several starting in the same
        // millisecond: they must reach the engine by start, ties in file order, each exactly once.
        let base = chrono::Utc::now().timestamp_millis() / 1000 * 1000;
        let mut x: u64 = 0x2545_F491_4F6C_DD1D;
        let mut rand = move |m: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % m
        };
        let mut records = Vec::new();
        for i in 0..5_000u64 {
            let start = base + (i as i64 / 3) * 1_000;
            let secs = if rand(10) == 0 {
                rand(3 * 3600)
            } else {
                rand(120)
            };
            let mut r = cdr::CallRecord::empty(
                i + 1,
                chrono::DateTime::from_timestamp_millis(start).unwrap_or_default(),
            );
            r.end = r.start + chrono::Duration::seconds(secs as i64);
            r.duration_secs = secs as u32;
            r.call_id = format!("id-{i}");
            r.account = format!("{}", 200 + i % 7);
            r.dialed = format!("03{:08}", rand(100_000_000));
            r.userfield = "legit".into();
            records.push(r);
        }
        records.sort_by_key(|r| r.end);
        let mut replay = replay();
        let mut seen = Seen::default();
        let mut peak = 0;
        for r in &records {
            replay.push(0, &r.as_borrowed(), &mut seen);
            peak = peak.max(replay.held());
        }
        replay.finish(&mut seen);
        assert_eq!(replay.held(), 0);
        assert!(
            peak > 64,
            "the ring must have grown past its first 64 places ({peak})"
        );
        assert_eq!(seen.calls.len(), 5_000);
        let mut ids: Vec<&str> = seen.calls.iter().map(|c| c.1.as_str()).collect();
        assert!(
            seen.calls.windows(2).all(|w| w[0].0 <= w[1].0),
            "not in start order"
        );
        // Ties: the same start comes out in file (end) order.
        let file_pos: std::collections::HashMap<&str, usize> = records
            .iter()
            .enumerate()
            .map(|(i, r)| (r.call_id.as_str(), i))
            .collect();
        assert!(
            seen.calls
                .windows(2)
                .all(|w| w[0].0 < w[1].0 || file_pos[w[0].1.as_str()] < file_pos[w[1].1.as_str()])
        );
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), 5_000);
        // Every call's text came back as it went in.
        for (_, id, parts) in &seen.calls {
            let r = &records[file_pos[id.as_str()]];
            assert_eq!(parts[2], r.dialed, "{id}");
            assert_eq!(parts[3], "legit");
        }
    }

    #[test]
    fn steps_come_due_by_time_then_in_the_order_they_were_scheduled() {
        let times = [i64::MIN, -86_400_000, -1, 0, 1, 1_750_000_000_000, i64::MAX];
        let mut heap = BinaryHeap::new();
        let mut want = Vec::new();
        let mut seq = 0;
        // Scheduled in an order unlike the due order: latest time first, an End before an Answer at equal times.
        for (k, &at) in times.iter().enumerate().rev() {
            for step in [Step::End, Step::Answer] {
                seq += 1;
                let call = (k * 2 + usize::from(step == Step::Answer)) as u64;
                heap.push(Due::new(at, seq, step, call));
                want.push((at, seq, step, call));
            }
        }
        want.sort_by_key(|&(at, seq, _, _)| (at, seq));
        let mut got = Vec::new();
        while let Some(d) = heap.pop() {
            got.push((d.at(), d.step(), d.call));
        }
        let want: Vec<_> = want
            .iter()
            .map(|&(at, _, step, call)| (at, step, call))
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn galloping_finds_the_place_a_binary_search_finds() {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut rand = move |m: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % m
        };
        for round in 0..300 {
            let len = rand(3_000) as usize;
            // Sorted starts with many ties; a deque whose contents wrap around its buffer half the time.
            let mut starts: Vec<Millis> = (0..len).map(|_| rand(500) as Millis).collect();
            starts.sort_unstable();
            let mut waiting = VecDeque::with_capacity(len);
            if round % 2 == 1 {
                for _ in 0..len / 2 {
                    waiting.push_back((0, 0));
                }
                for _ in 0..len / 2 {
                    waiting.pop_front();
                }
            }
            waiting.extend(starts.iter().map(|&s| (s, 0)));
            for start in [-1, 0, 250, 499, 500, rand(520) as Millis] {
                assert_eq!(
                    place_behind(&waiting, start),
                    waiting.partition_point(|&(s, _)| s <= start),
                    "len {len} start {start}"
                );
            }
        }
    }

    #[test]
    fn a_record_that_started_before_every_waiting_call_goes_first() {
        // Few calls waiting, the newest record started before all of them: its place is the front.
        let at = |secs: i64| {
            chrono::DateTime::from_timestamp(1_750_000_000 + secs, 0).unwrap_or_default()
        };
        let mut replay = replay();
        let mut seen = Seen::default();
        for (line, start, end) in [(1u64, 10, 30), (2, 20, 31), (3, 5, 32), (4, 20, 33)] {
            let mut r = cdr::CallRecord::empty(line, at(start));
            r.end = at(end);
            r.call_id = format!("c{line}");
            r.account = "201".into();
            r.dialed = "0312345678".into();
            replay.push(0, &r.as_borrowed(), &mut seen);
        }
        replay.finish(&mut seen);
        let order: Vec<&str> = seen.calls.iter().map(|c| c.1.as_str()).collect();
        assert_eq!(order, ["c3", "c1", "c2", "c4"]);
    }

    #[test]
    fn long_texts_spill_out_of_the_inline_buffer_intact() {
        let start = chrono::DateTime::from_timestamp(1_750_000_000, 0).unwrap_or_default();
        let mut long = cdr::CallRecord::empty(1, start);
        long.call_id = "c".repeat(40);
        long.tenant = Some("ténant-ü".repeat(10));
        long.account = "205".into();
        long.dialed = "010232761234567".into();
        long.userfield = "fraud:pump-232".into();
        long.user_agent = Some("friendly-scanner ".repeat(20));
        let mut short = cdr::CallRecord::empty(2, start);
        short.account = "206".into();
        short.dialed = "0312345678".into();
        let mut replay = replay();
        let mut seen = Seen::default();
        // The short one reuses nothing of the long one's text (the 16-column case: no call id, file:line names it).
        replay.push(3, &long.as_borrowed(), &mut seen);
        replay.push(3, &short.as_borrowed(), &mut seen);
        replay.finish(&mut seen);
        assert_eq!(seen.calls.len(), 2);
        let (_, id, parts) = &seen.calls[0];
        assert_eq!(id, &long.call_id);
        assert_eq!(parts[0], "ténant-ü".repeat(10));
        assert_eq!(parts[1], "205");
        assert_eq!(parts[2], "010232761234567");
        assert_eq!(parts[3], "fraud:pump-232");
        assert_eq!(parts[4], "friendly-scanner ".repeat(20));
        let (_, id, parts) = &seen.calls[1];
        assert_eq!(id, "3:2");
        assert_eq!(parts, &["", "206", "0312345678", "", ""].map(String::from));
    }

    #[test]
    fn labels_from_the_userfield() {
        assert_eq!(Label::from_userfield("legit:office"), Label::Legit);
        assert_eq!(
            Label::from_userfield("fraud:pump-232"),
            Label::Fraud("pump-232")
        );
        assert_eq!(Label::from_userfield("FRAUD"), Label::Fraud("fraud"));
        assert_eq!(Label::from_userfield(""), Label::Unknown);
        assert_eq!(Label::from_userfield("ü"), Label::Unknown);
        // Trimming only the start reads every label as trimming both ends did.
        for s in [
            " legit ",
            "legit\u{3000}",
            "\u{3000}legit",
            "leg ",
            "  fraud  ",
            "fraud: x ",
            "fraudster",
            " Legi",
            "legi\u{3000}",
            "\u{2003}FRAUD:pump",
            "fraud\t",
            "\t",
            "",
        ] {
            let t = s.trim();
            let old = match t.get(..5) {
                Some(h) if h.eq_ignore_ascii_case("legit") => Label::Legit,
                Some(h) if h.eq_ignore_ascii_case("fraud") => {
                    let name = t[5..].trim_start_matches([':', '=', '/', ' ']).trim();
                    Label::Fraud(if name.is_empty() { "fraud" } else { name })
                }
                _ => Label::Unknown,
            };
            assert_eq!(Label::from_userfield(s), old, "{s:?}");
        }
    }
}
