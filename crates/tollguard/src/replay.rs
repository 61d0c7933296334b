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

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use cdr::{CallRecordRef, Disposition};
use engine::{
    CallAnswered, CallAttempt, CallEnded, Decision, EndCause, Engine, Event, Millis, Verdict,
};
use numbering::{Destination, Money, Numbering};

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
    pub fn from_userfield(s: &str) -> Label<'_> {
        let t = s.trim();
        let lower = t.get(..5).map(str::to_ascii_lowercase);
        match lower.as_deref() {
            Some("legit") => Label::Legit,
            Some("fraud") => {
                let name = t[5..].trim_start_matches([':', '=', '/', ' ']).trim();
                Label::Fraud(if name.is_empty() { "fraud" } else { name })
            }
            _ => Label::Unknown,
        }
    }
}

/// One call as the replay keeps it while it waits: the strings packed into one allocation.
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
    text: String,
    // Ends of call_id, tenant, account, dialed, userfield, user_agent within `text`.
    cuts: [u32; 6],
}

impl Call {
    /// Fills this slot from a record, reusing its text buffer (no allocation once the slots are warm).
    fn fill(&mut self, file: u16, r: &CallRecordRef<'_>) {
        // The extension is what gets hijacked, so it is the account. An Asterisk accountcode that differs
        // from the extension names a group of phones (a customer of an installer, a department): the tenant.
        let account = cdr::extension_from_channel(r.channel)
            .filter(|e| !e.is_empty())
            .unwrap_or(r.account);
        let tenant = match r.tenant {
            Some(t) => t,
            None if r.account != account => r.account,
            None => "",
        };
        let ua = r.user_agent.unwrap_or("");
        // A 16-column Master.csv has no uniqueid: the file and line name the call instead, so that its answer
        // and end find it.
        self.text.clear();
        if r.call_id.is_empty() {
            use std::fmt::Write as _;
            let _ = write!(self.text, "{file}:{}", r.line);
        } else {
            self.text.push_str(r.call_id);
        }
        self.cuts[0] = u32::try_from(self.text.len()).unwrap_or(u32::MAX);
        for (i, p) in [tenant, account, r.dialed, r.userfield, ua]
            .iter()
            .enumerate()
        {
            self.text.push_str(p);
            self.cuts[i + 1] = u32::try_from(self.text.len()).unwrap_or(u32::MAX);
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
            text: String::new(),
            cuts: [0; 6],
        }
    }

    fn part(&self, i: usize) -> &str {
        let from = if i == 0 { 0 } else { self.cuts[i - 1] as usize };
        self.text.get(from..self.cuts[i] as usize).unwrap_or("")
    }
    pub fn call_id(&self) -> &str {
        self.part(0)
    }
    pub fn tenant(&self) -> &str {
        self.part(1)
    }
    pub fn account(&self) -> &str {
        self.part(2)
    }
    pub fn dialed(&self) -> &str {
        self.part(3)
    }
    pub fn userfield(&self) -> &str {
        self.part(4)
    }
    pub fn user_agent(&self) -> &str {
        self.part(5)
    }
    pub fn label(&self) -> Label<'_> {
        Label::from_userfield(self.userfield())
    }
    pub fn answered(&self) -> bool {
        self.answer.is_some() && self.disposition == Disposition::Answered
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
    pub decisions: &'a [Decision],
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

/// The replay of one or more CDR files through one engine.
pub struct Replay {
    engine: Engine,
    numbering: Arc<Numbering>,
    reorder_window: Millis,
    /// Calls read but not yet started, by start time (then arrival order).
    waiting: BinaryHeap<Reverse<(Millis, u64, usize)>>,
    /// Answers and ends to come, by time.
    steps: BinaryHeap<Reverse<(Millis, u64, Step, usize)>>,
    /// Calls held, by slot; a freed slot keeps its buffer for the next call.
    slots: Vec<Call>,
    free: Vec<usize>,
    seq: u64,
    latest_start: Millis,
    decisions: Vec<Decision>,
    /// Records whose start lies before calls already replayed (beyond the reorder window).
    pub late_records: u64,
    last_released: Millis,
}

impl Replay {
    pub fn new(engine: Engine, numbering: Arc<Numbering>, reorder_window_secs: u32) -> Replay {
        Replay {
            engine,
            numbering,
            reorder_window: i64::from(reorder_window_secs) * 1000,
            waiting: BinaryHeap::new(),
            steps: BinaryHeap::new(),
            slots: Vec::new(),
            free: Vec::new(),
            seq: 0,
            latest_start: Millis::MIN,
            decisions: Vec::new(),
            late_records: 0,
            last_released: Millis::MIN,
        }
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Calls held in memory right now (bounded by the reorder window).
    pub fn held(&self) -> usize {
        self.slots.len() - self.free.len()
    }

    /// Feeds one record; releases every call that can no longer be preceded by one still to come.
    pub fn push(&mut self, file: u16, record: &CallRecordRef<'_>, sink: &mut dyn Sink) {
        let slot = match self.free.pop() {
            Some(i) => i,
            None => {
                self.slots.push(Call::empty());
                self.slots.len() - 1
            }
        };
        self.slots[slot].fill(file, record);
        let start = self.slots[slot].start;
        if start < self.last_released {
            self.late_records += 1;
        }
        self.latest_start = self.latest_start.max(start);
        self.seq += 1;
        self.waiting.push(Reverse((start, self.seq, slot)));
        let watermark = self.latest_start.saturating_sub(self.reorder_window);
        self.release(Some(watermark), sink);
    }

    /// Replays everything still held (end of input).
    pub fn finish(&mut self, sink: &mut dyn Sink) {
        self.release(None, sink);
        self.run_steps(None, sink);
    }

    fn release(&mut self, watermark: Option<Millis>, sink: &mut dyn Sink) {
        while let Some(Reverse((start, _, slot))) = self.waiting.peek().copied() {
            if watermark.is_some_and(|w| start > w) {
                break;
            }
            self.waiting.pop();
            // Answers and ends due before this call starts happen first.
            self.run_steps(Some(start), sink);
            self.attempt(slot, sink);
        }
    }

    fn attempt(&mut self, slot: usize, sink: &mut dyn Sink) {
        let Some(call) = self.slots.get(slot) else {
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
                // A PBX wrote the record: it let the caller place the call.
                authenticated: true,
                dialed: call.dialed(),
                destination: &destination,
                route: "",
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
            self.free.push(slot);
            return;
        }
        let answered = call.answered();
        let (answer_at, end_at) = (call.answer.unwrap_or(call.start), call.end.max(call.start));
        if answered {
            self.seq += 1;
            self.steps
                .push(Reverse((answer_at, self.seq, Step::Answer, slot)));
        }
        self.seq += 1;
        self.steps
            .push(Reverse((end_at.max(answer_at), self.seq, Step::End, slot)));
    }

    fn run_steps(&mut self, until: Option<Millis>, sink: &mut dyn Sink) {
        while let Some(Reverse((at, _, step, slot))) = self.steps.peek().copied() {
            if until.is_some_and(|u| at > u) {
                break;
            }
            self.steps.pop();
            let Some(call) = self.slots.get(slot) else {
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
                sink.later(LaterDecisions {
                    call,
                    decisions: &self.decisions,
                });
            }
            if step == Step::End {
                self.free.push(slot);
            }
        }
    }
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
    }
}
