//! Admission of what the sockets read. Nothing that reads a socket waits for room: each message goes ahead or
//! is shed at once, and as the guard falls behind what matters least goes first — OPTIONS and other requests
//! outside a dialog, then REGISTERs, then new calls (answered 503 with Retry-After) — while responses,
//! requests inside a dialog, CANCEL/ACK/BYE and emergency calls are kept to the very last. How far behind
//! is a [`Load`]: a shard queue's fill (stream messages), or for a UDP reader that runs datagrams to
//! completion how long the datagram waited in the socket (its kernel timestamp against the clock). A message
//! is only parsed here from half full: below that, admission is one comparison.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use numbering::Numbering;
use sip::{Message, Method, ResponseBuilder};

/// How much a message matters under overload, most first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Class {
    /// Responses, requests inside a dialog (To tag), CANCEL/ACK/BYE/PRACK, emergency INVITEs, keep-alives and
    /// mirrored packets: shed never (lost only when the queue is completely full, and counted).
    Keep,
    /// A new call (INVITE without To tag).
    Call,
    /// REGISTER (refreshes included: a phone retries, a call does not come back).
    Register,
    /// OPTIONS and any other request outside a dialog; also what does not parse.
    Least,
}

impl Class {
    /// The queue's fill (in eighths of its size) from which messages of this class are shed.
    fn shed_from_eighths(self) -> Option<usize> {
        match self {
            Class::Keep => None,
            Class::Call => Some(7),
            Class::Register => Some(6),
            Class::Least => Some(4),
        }
    }
}

/// The default wait budget of a datagram ([`Load::Waited`], `[transport] max_wait_ms`): OPTIONS are shed from
/// half of it (200 ms), REGISTERs from 3/4 (300 ms), new calls from 7/8 (350 ms) — all before SIP's first
/// retransmission (T1, 500 ms), which would add the waiting requests a second time to the load that delays
/// them.
pub const MAX_WAIT: Duration = Duration::from_millis(400);

/// How far behind the guard is when a message arrives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Load {
    /// `used` of a queue's `size` slots are taken.
    Queue { used: usize, size: usize },
    /// How long the datagram waited in its socket (a UDP reader), against the wait budget.
    Waited(Duration),
}

impl Load {
    /// (used, size) in the same unit: messages, or microseconds of `max_wait`.
    fn fill(self, max_wait: Duration) -> (usize, usize) {
        match self {
            Load::Queue { used, size } => (used, size),
            Load::Waited(d) => (micros(d), micros(max_wait)),
        }
    }
}

fn micros(d: Duration) -> usize {
    usize::try_from(d.as_micros()).unwrap_or(usize::MAX)
}

/// What to do with a message read off a socket.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Into the core's queue.
    Admit,
    /// Not queued; the answer to send back, if any (503 with Retry-After).
    Shed(Option<Vec<u8>>),
}

/// Counters of shedding (since start), for [`decide::control::GuardStats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct ShedStats {
    /// OPTIONS and other requests outside a dialog shed.
    pub least: u64,
    pub registers: u64,
    /// New calls answered 503 (or dropped once the answers' budget of the second is spent).
    pub calls: u64,
    /// Messages that are never shed but found the queue completely full (should stay 0).
    pub lost: u64,
    /// 503 answers sent.
    pub answered: u64,
}

/// The To tag of the guard's overload answers: their ACK is absorbed on receipt.
const SHED_TAG: &str = "tgoverload";
/// Retry-After of the overload answers, in seconds.
const RETRY_AFTER: &str = "5";
/// Most overload answers per second (beyond, shed requests are dropped silently: a flood is not answered
/// at its own rate).
const ANSWERS_PER_SECOND: u64 = 2000;
/// Overload is logged at most this often.
const LOG_EVERY_MS: u64 = 1000;

/// Decides, per message, whether it goes into the core's queue. Shared by every receive task.
#[derive(Debug)]
pub struct Admission {
    /// Tells emergency numbers in a Request-URI (None: no INVITE is recognised as an emergency call).
    numbering: Option<Arc<Numbering>>,
    /// The wait budget of a datagram ([`MAX_WAIT`] by default).
    max_wait: Duration,
    epoch: Instant,
    least: AtomicU64,
    registers: AtomicU64,
    calls: AtomicU64,
    lost: AtomicU64,
    answered: AtomicU64,
    /// Milliseconds since `epoch` of the last shed (0: never) and of the last log line.
    last_shed: AtomicU64,
    last_log: AtomicU64,
    /// The second (since `epoch`) the answers' budget counts, and the answers sent in it.
    budget_second: AtomicU64,
    budget_used: AtomicU64,
}

impl Admission {
    pub fn new(numbering: Option<Arc<Numbering>>) -> Admission {
        Admission {
            numbering,
            max_wait: MAX_WAIT,
            epoch: Instant::now(),
            least: AtomicU64::new(0),
            registers: AtomicU64::new(0),
            calls: AtomicU64::new(0),
            lost: AtomicU64::new(0),
            answered: AtomicU64::new(0),
            last_shed: AtomicU64::new(0),
            last_log: AtomicU64::new(0),
            budget_second: AtomicU64::new(0),
            budget_used: AtomicU64::new(0),
        }
    }

    /// With another wait budget for datagrams (`[transport] max_wait_ms`).
    pub fn with_max_wait(mut self, max_wait: Duration) -> Admission {
        self.max_wait = max_wait;
        self
    }

    pub fn stats(&self) -> ShedStats {
        ShedStats {
            least: self.least.load(Ordering::Relaxed),
            registers: self.registers.load(Ordering::Relaxed),
            calls: self.calls.load(Ordering::Relaxed),
            lost: self.lost.load(Ordering::Relaxed),
            answered: self.answered.load(Ordering::Relaxed),
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis())
            .unwrap_or(u64::MAX)
            .max(1)
    }

    /// The class of a SIP message.
    pub fn classify(&self, data: &[u8]) -> Class {
        if data.starts_with(b"SIP/") || sip::is_keepalive(data) {
            return Class::Keep;
        }
        let Ok(msg) = Message::parse(data) else {
            return Class::Least;
        };
        self.class_of(&msg)
    }

    fn class_of(&self, msg: &Message<'_>) -> Class {
        let Some(method) = msg.method() else {
            return Class::Keep;
        };
        match method {
            Method::Ack | Method::Bye | Method::Cancel | Method::Prack => Class::Keep,
            _ if msg.to_tag().is_some() => Class::Keep,
            Method::Invite if self.is_emergency(msg) => Class::Keep,
            Method::Invite => Class::Call,
            Method::Register => Class::Register,
            _ => Class::Least,
        }
    }

    fn is_emergency(&self, msg: &Message<'_>) -> bool {
        let Some(n) = &self.numbering else {
            return false;
        };
        msg.request_uri()
            .and_then(|u| u.user().map(decide::facts::dialed_as_dialed))
            .is_some_and(|d| n.classify(&d).is_emergency())
    }

    /// Whether a message read off a socket goes ahead, with the guard at `load`. `mirrored`: a HEP packet
    /// (not SIP to answer: kept).
    pub fn admit(&self, data: &[u8], load: Load, mirrored: bool) -> Verdict {
        let (used, size) = load.fill(self.max_wait);
        let half = size / 2;
        if mirrored {
            return Verdict::Admit;
        }
        if used < half {
            // The ACK of an overload answer has nowhere to go: absorbed, while answers are recent.
            if data.starts_with(b"ACK ") && self.shed_recently() && is_ack_of_shed(data) {
                return Verdict::Shed(None);
            }
            return Verdict::Admit;
        }
        let parsed = if data.starts_with(b"SIP/") || sip::is_keepalive(data) {
            None
        } else {
            Message::parse(data).ok()
        };
        let class = match &parsed {
            None if data.starts_with(b"SIP/") || sip::is_keepalive(data) => Class::Keep,
            None => Class::Least,
            Some(m) => self.class_of(m),
        };
        if class == Class::Keep {
            if parsed
                .as_ref()
                .is_some_and(|m| m.method() == Some(Method::Ack) && m.to_tag() == Some(SHED_TAG))
            {
                return Verdict::Shed(None);
            }
            return Verdict::Admit;
        }
        let from = class.shed_from_eighths().unwrap_or(8);
        if used.saturating_mul(8) < size.saturating_mul(from) {
            return Verdict::Admit;
        }
        let counter = match class {
            Class::Call => &self.calls,
            Class::Register => &self.registers,
            _ => &self.least,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        let now = self.now_ms();
        self.last_shed.store(now, Ordering::Relaxed);
        self.log(load, class, now);
        let answer = parsed
            .filter(|m| m.method() != Some(Method::Ack) && self.take_budget(now))
            .and_then(|m| overload_answer(&m));
        if answer.is_some() {
            self.answered.fetch_add(1, Ordering::Relaxed);
        }
        Verdict::Shed(answer)
    }

    /// A message that is never shed found the queue full.
    pub fn lost(&self, load: Load) {
        self.lost.fetch_add(1, Ordering::Relaxed);
        let now = self.now_ms();
        self.log(load, Class::Keep, now);
    }

    fn shed_recently(&self) -> bool {
        let last = self.last_shed.load(Ordering::Relaxed);
        last != 0 && self.now_ms().saturating_sub(last) < 64_000
    }

    fn take_budget(&self, now: u64) -> bool {
        let second = now / 1000;
        if self.budget_second.swap(second, Ordering::Relaxed) != second {
            self.budget_used.store(0, Ordering::Relaxed);
        }
        self.budget_used.fetch_add(1, Ordering::Relaxed) < ANSWERS_PER_SECOND
    }

    fn log(&self, load: Load, class: Class, now: u64) {
        let last = self.last_log.load(Ordering::Relaxed);
        if last != 0 && now.saturating_sub(last) < LOG_EVERY_MS {
            return;
        }
        if self
            .last_log
            .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_err()
        {
            return;
        }
        let s = self.stats();
        let shedding = "OPTIONS, then REGISTERs, then new calls (503 Retry-After) are shed, calls in progress and emergency calls are kept";
        match load {
            Load::Queue { used, size } => tracing::warn!(
                queued = used,
                queue = size,
                shedding = ?class,
                shed_options = s.least,
                shed_registers = s.registers,
                shed_calls = s.calls,
                lost = s.lost,
                "overload: a shard's queue is filling up ([transport] inbound_queue); {shedding}"
            ),
            Load::Waited(d) => tracing::warn!(
                waited_ms = d.as_millis(),
                max_wait_ms = self.max_wait.as_millis(),
                shedding = ?class,
                shed_options = s.least,
                shed_registers = s.registers,
                shed_calls = s.calls,
                "overload: datagrams wait in a UDP socket because the guard cannot keep up ([transport] max_wait_ms); {shedding}"
            ),
        }
    }
}

/// Whether an ACK answers one of the guard's overload answers (its To tag).
fn is_ack_of_shed(data: &[u8]) -> bool {
    Message::parse(data).is_ok_and(|m| m.to_tag() == Some(SHED_TAG))
}

/// 503 Service Unavailable with Retry-After.
fn overload_answer(msg: &Message<'_>) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(512);
    ResponseBuilder::new(msg, 503)
        .to_tag(SHED_TAG)
        .header("Retry-After", RETRY_AFTER)
        .reason("tollguard overloaded")
        .write_to(&mut out)
        .ok()?;
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(used: usize) -> Load {
        Load::Queue { used, size: 8 }
    }

    fn request(method: &str, user: &str, to_tag: bool) -> Vec<u8> {
        let tag = if to_tag { ";tag=t2" } else { "" };
        format!(
            "{method} sip:{user}@127.0.0.1 SIP/2.0\r\n\
             Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-{method}-{user}\r\n\
             From: <sip:200@127.0.0.1>;tag=t1\r\n\
             To: <sip:{user}@127.0.0.1>{tag}\r\n\
             Call-ID: c-{method}-{user}@x\r\n\
             CSeq: 1 {method}\r\n\
             Max-Forwards: 70\r\n\
             Content-Length: 0\r\n\r\n"
        )
        .into_bytes()
    }

    #[test]
    fn messages_are_classified_by_what_they_cost_a_call_if_lost() {
        let a = Admission::new(Some(Arc::new(Numbering::japan_defaults())));
        assert_eq!(a.classify(&request("OPTIONS", "x", false)), Class::Least);
        assert_eq!(
            a.classify(&request("REGISTER", "200", false)),
            Class::Register
        );
        assert_eq!(
            a.classify(&request("INVITE", "0312345678", false)),
            Class::Call
        );
        assert_eq!(a.classify(&request("INVITE", "110", false)), Class::Keep);
        assert_eq!(
            a.classify(&request("INVITE", "0312345678", true)),
            Class::Keep
        );
        assert_eq!(a.classify(&request("BYE", "0312345678", true)), Class::Keep);
        assert_eq!(
            a.classify(&request("CANCEL", "0312345678", false)),
            Class::Keep
        );
        assert_eq!(a.classify(b"SIP/2.0 200 OK\r\n\r\n"), Class::Keep);
        assert_eq!(a.classify(b"\r\n\r\n"), Class::Keep);
        assert_eq!(a.classify(b"garbage"), Class::Least);
    }

    #[test]
    fn shedding_follows_the_queue_fill_least_first_and_answers_503() {
        let a = Admission::new(Some(Arc::new(Numbering::japan_defaults())));
        let (opt, reg, inv) = (
            request("OPTIONS", "x", false),
            request("REGISTER", "200", false),
            request("INVITE", "0312345678", false),
        );
        // Below half full everything goes in, unparsed.
        for m in [&opt, &reg, &inv] {
            assert_eq!(a.admit(m, q(3), false), Verdict::Admit);
        }
        // Half full: OPTIONS shed; three quarters: REGISTER; seven eighths: new calls.
        assert!(matches!(a.admit(&opt, q(4), false), Verdict::Shed(Some(_))));
        assert_eq!(a.admit(&reg, q(5), false), Verdict::Admit);
        assert!(matches!(a.admit(&reg, q(6), false), Verdict::Shed(Some(_))));
        assert_eq!(a.admit(&inv, q(6), false), Verdict::Admit);
        let Verdict::Shed(Some(answer)) = a.admit(&inv, q(7), false) else {
            panic!("a new call at seven eighths is shed with an answer");
        };
        let answer = String::from_utf8(answer).unwrap();
        assert!(answer.starts_with("SIP/2.0 503 "), "{answer}");
        assert!(answer.contains("Retry-After: 5\r\n"), "{answer}");
        // What matters is admitted up to the last slot.
        for m in [
            request("INVITE", "110", false),
            request("BYE", "0312345678", true),
        ] {
            assert_eq!(a.admit(&m, q(7), false), Verdict::Admit);
        }
        let s = a.stats();
        assert_eq!((s.least, s.registers, s.calls, s.answered), (1, 1, 1, 3));
        // The ACK of an overload answer is absorbed, full queue or not.
        let ack = answer
            .lines()
            .find(|l| l.starts_with("To:"))
            .map(|to| {
                String::from_utf8(request("ACK", "0312345678", false))
                    .unwrap()
                    .replace("To: <sip:0312345678@127.0.0.1>", to)
            })
            .unwrap();
        assert_eq!(a.admit(ack.as_bytes(), q(0), false), Verdict::Shed(None));
        assert_eq!(a.admit(ack.as_bytes(), q(8), false), Verdict::Shed(None));
    }

    #[test]
    fn a_reader_sheds_by_how_long_each_datagram_waited() {
        let a = Admission::new(Some(Arc::new(Numbering::japan_defaults())));
        let waited = |ms| Load::Waited(Duration::from_millis(ms));
        let (opt, reg, inv, sos) = (
            request("OPTIONS", "x", false),
            request("REGISTER", "200", false),
            request("INVITE", "0312345678", false),
            request("INVITE", "110", false),
        );
        assert_eq!(a.admit(&opt, waited(199), false), Verdict::Admit);
        assert!(matches!(
            a.admit(&opt, waited(200), false),
            Verdict::Shed(Some(_))
        ));
        assert_eq!(a.admit(&reg, waited(299), false), Verdict::Admit);
        assert!(matches!(
            a.admit(&reg, waited(300), false),
            Verdict::Shed(Some(_))
        ));
        assert_eq!(a.admit(&inv, waited(349), false), Verdict::Admit);
        assert!(matches!(
            a.admit(&inv, waited(350), false),
            Verdict::Shed(Some(_))
        ));
        // An emergency call and a BYE go ahead however far behind.
        assert_eq!(a.admit(&sos, waited(10_000), false), Verdict::Admit);
        let bye = request("BYE", "0312345678", true);
        assert_eq!(a.admit(&bye, waited(10_000), false), Verdict::Admit);
    }
}
