//! `--format json`: the summary object (the verdict, the attack, the calls outside the policy with the lines
//! to add, the alerts), with every decision streamed from a spool file so memory does not grow with them.

use std::fs::File;
use std::io::{BufReader, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use engine::{Decision, Millis};
use serde_json::{Value, json};

use super::Mode;
use super::report::Report;

pub(super) fn to_json(r: &Report) -> Value {
    let accounts: Vec<Value> = r
        .hit_accounts()
        .iter()
        .map(|x| {
            json!({
                "tenant": x.tenant, "account": x.account,
                "calls": x.all.calls, "blocked_calls": x.blocked.calls, "blocked_money_millis": x.blocked.millis,
                "first_alert": x.first_alert.map(|t| r.local_iso(t)), "first_block": x.first_block.map(|t| r.local_iso(t)),
                "calls_before_block": x.before_block.calls, "money_before_block_millis": x.before_block.millis,
            })
        })
        .collect();
    let attacks: Vec<Value> = r
        .attacks
        .iter()
        .map(|(name, t)| {
            json!({
                "name": name, "calls": t.all.calls, "money_millis": t.all.millis,
                "blocked_calls": t.blocked.calls, "saved_millis": t.blocked.millis,
                "first_call": t.first_call.map(|x| r.local_iso(x)), "first_block": t.first_block.map(|x| r.local_iso(x)),
                "calls_before_block": t.before_block.calls, "money_before_block_millis": t.before_block.millis,
            })
        })
        .collect();
    let listed: Vec<Value> = r
        .listed
        .iter()
        .map(|c| {
            json!({"at": r.local_iso(c.at), "file": c.file, "line": c.line, "call_id": c.call_id, "account": c.account,
                   "dialed": c.dialed, "destination": c.destination, "rule": c.rule, "reason": c.reason})
        })
        .collect();
    let alerts: Vec<Value> = r
        .sorted_alerts()
        .iter()
        .map(|g| json!({"count": g.count, "last_at": r.local_iso(g.last_at), "at_stake_max_millis": g.stake_max, "first": g.first}))
        .collect();
    let v = &r.verdict;
    let who = |i: u32| {
        r.account_list
            .get(i as usize)
            .map_or(("", ""), |a| (a.tenant.as_str(), a.account.as_str()))
    };
    let iso = |t: Option<Millis>| t.map(|t| r.local_iso(t));
    let fraud = json!({
        "kind": "fraud",
        "hit": v.hit(),
        "since": iso(v.since),
        "calls": v.calls.calls, "money_millis": v.calls.millis,
        "blocked_calls": v.blocked.calls, "blocked_money_millis": v.blocked.millis,
        "extensions": v.accounts.iter().map(|(i, a)| {
            let (tenant, account) = who(*i);
            json!({"tenant": tenant, "account": account, "calls": a.calls.calls, "money_millis": a.calls.millis,
                   "blocked_calls": a.blocked.calls, "first_call": iso(a.first_at)})
        }).collect::<Vec<_>>(),
        "destinations": v.dests.iter().map(|(d, c)| json!({"destination": d.to_string(), "calls": c.calls,
            "money_millis": c.millis})).collect::<Vec<_>>(),
        "fraud_warned_calls": r.findings.fraud_warned,
    });
    let policy = json!({
        "kind": "policy",
        "calls": v.outside_total.calls, "money_millis": v.outside_total.millis,
        "groups": v.outside.iter().map(|g| {
            let (tenant, account) = who(g.account);
            json!({"tenant": tenant, "account": account, "destination": g.dest.to_string(),
                   "refused_by": g.refusal.rule_name(), "calls": g.refused.calls, "money_millis": g.refused.millis,
                   "first_call": r.local_iso(g.first_at), "last_call": r.local_iso(g.last_at)})
        }).collect::<Vec<_>>(),
        "suggestion": v.suggestions.iter().map(|s| json!({"section": format!("{}.destinations", s.section),
            "lines": s.lines})).collect::<Vec<_>>(),
        "suggestion_toml": v.suggestions.iter().map(|s| s.toml()).collect::<Vec<_>>().join("\n"),
    });
    json!({
        "mode": match r.mode { Mode::Analyze => "analyze", Mode::Backtest => "backtest" },
        "config": r.config,
        "time_zone": r.tz.name(),
        "currency": r.currency.as_str(),
        "files": r.files.iter().map(|f| json!({"path": f.path, "format": f.format, "records": f.records,
            "lines_skipped": f.errors, "first_errors": f.first_errors})).collect::<Vec<_>>(),
        "hit": r.hit(),
        "since": iso(v.since),
        "fraud": fraud,
        "outside_policy": policy,
        "calls": r.all.calls, "answered": r.answered, "money_millis": r.all.millis,
        "blocked_calls": r.blocked, "blocked_money_millis": r.blocked_money, "warned_calls": r.warned,
        "emergency_calls": r.emergency, "emergency_blocked": r.emergency_blocked,
        "late_records": r.late_records,
        "peak_calls_held": r.peak_held,
        "engine_state": r.engine_state,
        "accounts": accounts,
        "labelled": r.labelled,
        "attacks": attacks,
        "legit_calls": r.legit.calls, "legit_blocked": r.legit_blocked.calls,
        "legitimate_blocked_listed": listed, "legitimate_blocked_total": r.listed_total,
        "alerts": alerts,
        // Streamed from the spool file by `JsonReport`.
        "decisions": [],
    })
}

/// One decision as `--format json` lists it (fields in the order the JSON object sorts them).
#[derive(serde::Serialize)]
pub(super) struct LoggedDecision<'a> {
    pub(super) account: &'a str,
    pub(super) at: Millis,
    pub(super) at_local: Option<String>,
    pub(super) call_id: &'a str,
    pub(super) decision: &'a Decision,
    pub(super) dialed: &'a str,
    pub(super) file: u16,
    pub(super) line: u64,
    pub(super) tenant: &'a str,
}

/// The decisions of a JSON report, spooled to a temporary file one per line as they are made, so that memory
/// does not grow with the number of decisions (a million-line attack makes hundreds of thousands). The file is
/// removed when the log is dropped.
pub(super) struct DecisionLog {
    path: PathBuf,
    out: Option<std::io::BufWriter<File>>,
    error: Option<std::io::Error>,
}

impl DecisionLog {
    pub(super) fn create() -> anyhow::Result<DecisionLog> {
        let dir = std::env::temp_dir();
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let path = dir.join(format!(
            "tollguard-decisions-{}-{stamp}.jsonl",
            std::process::id()
        ));
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .with_context(|| {
                format!(
                    "cannot create a spool file for the decisions in {} (set TMPDIR to a writable folder)",
                    dir.display()
                )
            })?;
        Ok(DecisionLog {
            path,
            out: Some(std::io::BufWriter::with_capacity(64 * 1024, file)),
            error: None,
        })
    }

    pub(super) fn write(&mut self, d: &LoggedDecision<'_>) {
        let Some(out) = self.out.as_mut() else {
            return;
        };
        let r = serde_json::to_writer(&mut *out, d)
            .map_err(std::io::Error::from)
            .and_then(|()| out.write_all(b"\n"));
        if let Err(e) = r {
            self.error.get_or_insert(e);
            self.out = None;
        }
    }

    /// Flushes the spool; reports the first write error (a full disk) as one clear line.
    pub(super) fn finish(&mut self) -> anyhow::Result<()> {
        if let Some(mut out) = self.out.take()
            && let Err(e) = out.flush()
        {
            self.error.get_or_insert(e);
        }
        match self.error.take() {
            Some(e) => Err(anyhow::anyhow!(
                "cannot write the decisions to the spool file {}: {e}",
                self.path.display()
            )),
            None => Ok(()),
        }
    }
}

impl Drop for DecisionLog {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// The JSON report: the summary object, with its `decisions` array read back from the spool one at a time.
pub(super) struct JsonReport<'a> {
    pub(super) top: Value,
    pub(super) decisions: Option<&'a DecisionLog>,
}

impl serde::Serialize for JsonReport<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let Some(map) = self.top.as_object() else {
            return self.top.serialize(s);
        };
        let mut m = s.serialize_map(Some(map.len()))?;
        for (k, v) in map {
            match (k.as_str(), self.decisions) {
                ("decisions", Some(log)) => m.serialize_entry(k, &Spooled(&log.path))?,
                _ => m.serialize_entry(k, v)?,
            }
        }
        m.end()
    }
}

/// A spool file of JSON lines, serialised as an array without loading it whole.
struct Spooled<'a>(&'a Path);

impl serde::Serialize for Spooled<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{Error, SerializeSeq};
        use std::io::BufRead;
        let file = File::open(self.0).map_err(|e| {
            S::Error::custom(format!(
                "cannot read the decisions back from {}: {e}",
                self.0.display()
            ))
        })?;
        let mut seq = s.serialize_seq(None)?;
        for line in BufReader::new(file).lines() {
            let line = line.map_err(S::Error::custom)?;
            let v: Value = serde_json::from_str(&line).map_err(S::Error::custom)?;
            seq.serialize_element(&v)?;
        }
        seq.end()
    }
}
