//! The engine alone over a real Asterisk Master.csv: every record is read and classified up front, turned into
//! attempt / answer / end events in time order, and then only the engine's work is timed. It also prints a
//! digest of every verdict and decision and of the final snapshot, so that two builds of the engine can be
//! checked to decide exactly alike on the same file.
//!
//! ```text
//! cargo run --release -p engine --example replay_cdr -- bench/analyze/policy.toml cdr.csv [runs]
//! ```

use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::Instant;

use chrono::NaiveDateTime;
use engine::{CallAnswered, CallAttempt, CallEnded, EndCause, Engine, Event, Policy};
use numbering::{Destination, Numbering};

/// One record; its strings share one buffer (as in a replay's reorder ring) so that reading them does not
/// cost the engine a cache miss per field.
struct Call {
    text: String,
    /// Ends of id, tenant, account (dialed runs to the end).
    cut: [usize; 3],
    dest: Destination,
    start: i64,
    answer: Option<i64>,
    end: i64,
    billable: u32,
    cause: EndCause,
}

/// Splits one CSV line with quoted fields ("" inside quotes is a quote).
fn fields(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => out.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    out.push(cur);
    out
}

/// Site-local "YYYY-MM-DD HH:MM:SS" at UTC+9 (the bench files are Asia/Tokyo) to epoch millis.
fn local_ms(s: &str) -> Option<i64> {
    let t = NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").ok()?;
    Some(t.and_utc().timestamp_millis() - 9 * 3_600_000)
}

impl Call {
    fn part(&self, k: usize) -> &str {
        let from = if k == 0 { 0 } else { self.cut[k - 1] };
        let to = self.cut.get(k).copied().unwrap_or(self.text.len());
        &self.text[from..to]
    }
}

fn read(path: &str, numbering: &Numbering) -> Vec<Call> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut calls = Vec::new();
    for line in text.lines() {
        let f = fields(line);
        let get = |i: usize| f.get(i).map(String::as_str).unwrap_or("");
        let Some(start) = local_ms(get(9)) else {
            continue;
        };
        let answer = local_ms(get(10));
        let end = local_ms(get(11)).unwrap_or(start).max(start);
        let answered = get(14) == "ANSWERED" && answer.is_some();
        let mut text = String::new();
        let mut cut = [0; 3];
        for (k, s) in [get(16), get(0), get(1)].into_iter().enumerate() {
            text.push_str(s);
            cut[k] = text.len();
        }
        text.push_str(get(2));
        calls.push(Call {
            text,
            cut,
            dest: numbering.classify(get(2)),
            start,
            answer: if answered { answer } else { None },
            end,
            billable: if answered {
                get(13).parse().unwrap_or(0)
            } else {
                0
            },
            cause: match get(14) {
                "ANSWERED" => EndCause::Normal,
                "NO ANSWER" => EndCause::NoAnswer,
                "BUSY" => EndCause::Busy,
                _ => EndCause::Failed,
            },
        });
    }
    calls
}

/// (time, 0 = answer/end before 1 = attempts at the same time, call index, 0 answer / 1 end / 2 attempt).
fn schedule(calls: &[Call]) -> Vec<(i64, u8, u32, u8)> {
    let mut v = Vec::with_capacity(calls.len() * 3);
    for (i, c) in calls.iter().enumerate() {
        let i = i as u32;
        v.push((c.start, 1, i, 2));
        if let Some(a) = c.answer {
            v.push((a.max(c.start), 0, i, 0));
        }
        v.push((c.end.max(c.answer.unwrap_or(c.start)), 0, i, 1));
    }
    v.sort_unstable();
    v
}

fn run(
    engine: &mut Engine,
    calls: &[Call],
    order: &[(i64, u8, u32, u8)],
    mut each: impl FnMut(&engine::Verdict, &[engine::Decision]),
) {
    let mut out = Vec::with_capacity(64);
    for &(at, _, i, kind) in order {
        let Some(c) = calls.get(i as usize) else {
            continue;
        };
        out.clear();
        let ev = match kind {
            2 => Event::CallAttempt(CallAttempt {
                at,
                call_id: c.part(0),
                tenant: c.part(1),
                account: c.part(2),
                source: None,
                user_agent: "",
                authenticated: true,
                caller_id_foreign: false,
                dialed: c.part(3),
                destination: &c.dest,
                route: "",
                leg: engine::Leg::Direct,
                forwarded_from: None,
            }),
            0 => Event::CallAnswered(CallAnswered {
                at,
                call_id: c.part(0),
            }),
            _ => Event::CallEnded(CallEnded {
                at,
                call_id: c.part(0),
                duration_secs: ((c.end - c.start) / 1000) as u32,
                billable_secs: c.billable,
                cause: c.cause,
            }),
        };
        let v = engine.on_event(&ev, &mut out);
        each(&v, &out);
    }
}

/// A decision as one line of its fields' words (not its `Debug`, so that a change of the struct's shape alone
/// does not change the digest).
fn decision_line(d: &engine::Decision) -> String {
    format!(
        "{} {} {:?} {:?} {} {} {} {} {:?} {} {:?} {:?} {:?} {}",
        d.at,
        d.rule,
        d.level,
        d.action,
        d.shadow,
        d.key(),
        d.measured,
        d.threshold,
        d.unit,
        d.window_secs,
        d.call_id,
        d.calls,
        d.at_stake.map(|a| a.to_string()),
        d.reason
    )
}

fn digest(
    policy: &Policy,
    numbering: &Arc<Numbering>,
    calls: &[Call],
    order: &[(i64, u8, u32, u8)],
) {
    let mut e = Engine::new(policy.clone(), numbering.clone());
    let mut h = std::collections::hash_map::DefaultHasher::new();
    let mut decisions = 0usize;
    // With REPLAY_DUMP=FILE, every decision is also written there (one Debug line each), to see what differs
    // when two digests do.
    let mut dump = std::env::var_os("REPLAY_DUMP")
        .map(|p| std::io::BufWriter::new(std::fs::File::create(p).expect("REPLAY_DUMP file")));
    run(&mut e, calls, order, |v, out| {
        format!("{v:?}").hash(&mut h);
        for d in out {
            let line = decision_line(d);
            if let Some(f) = dump.as_mut() {
                use std::io::Write;
                writeln!(f, "{line}").expect("REPLAY_DUMP write");
            }
            line.hash(&mut h);
            decisions += 1;
        }
    });
    let decisions_digest = h.finish();
    let snap = serde_json::to_string(&e.snapshot()).expect("snapshot");
    // With REPLAY_SNAPSHOT=FILE, the final snapshot is written there too.
    if let Some(p) = std::env::var_os("REPLAY_SNAPSHOT") {
        std::fs::write(p, &snap).expect("REPLAY_SNAPSHOT write");
    }
    snap.hash(&mut h);
    println!(
        "calls {} events {} decisions {} digest {:016x} (decisions alone {decisions_digest:016x}) stats {:?}",
        calls.len(),
        order.len(),
        decisions,
        h.finish(),
        e.stats()
    );
}

/// The timed replay (a function of its own, so that `valgrind --toggle-collect=*replay_once*` counts only it).
#[inline(never)]
fn replay_once(engine: &mut Engine, calls: &[Call], order: &[(i64, u8, u32, u8)]) {
    run(engine, calls, order, |v, out| {
        std::hint::black_box((v, out));
    });
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(policy), Some(csv)) = (args.get(1), args.get(2)) else {
        eprintln!("usage: replay_cdr POLICY.toml MASTER.csv [runs]");
        std::process::exit(2);
    };
    let runs: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(5);
    let policy = Policy::from_toml_str(&std::fs::read_to_string(policy).expect("policy file"))
        .expect("policy");
    let numbering = Arc::new(Numbering::japan_defaults());
    let calls = read(csv, &numbering);
    let order = schedule(&calls);

    // Digest of everything the engine said, and of its final state (skipped with REPLAY_NO_DIGEST set, to
    // count the timed runs alone under valgrind).
    if std::env::var_os("REPLAY_NO_DIGEST").is_none() {
        digest(&policy, &numbering, &calls, &order);
    }
    let mut best = f64::MAX;
    for _ in 0..runs {
        let mut e = Engine::new(policy.clone(), numbering.clone());
        let t = Instant::now();
        replay_once(&mut e, &calls, &order);
        let ns = t.elapsed().as_nanos() as f64 / calls.len() as f64;
        best = best.min(ns);
        println!("run: {ns:.0} ns per call");
    }
    println!(
        "best: {best:.0} ns per call ({:.2} M calls/s)",
        1000.0 / best
    );
}
