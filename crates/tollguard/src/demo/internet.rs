//! The internet side of the demo, reaching the PBX through the guard's access listener: scanners probing and
//! guessing passwords the way sipvicious does (svmap's OPTIONS, svwar/svcrack's REGISTERs), and the attacker
//! logging in to ext 205 with the vendor's default password.

use std::net::SocketAddr;
use std::time::Duration;

use serde::Serialize;

use super::clock::SimClock;
use super::pbx::{VENDOR_DEFAULT_PASSWORD, digest};
use super::wire::{Datagram, Endpoint};

/// What one scanner achieved.
#[derive(Debug, Clone, Serialize)]
pub struct ScanResult {
    pub source: String,
    pub user_agent: String,
    pub requests: usize,
    pub answered: usize,
    /// The guard stopped answering it (banned sources get silence).
    pub banned: bool,
    /// Simulated time of the first request left unanswered.
    pub silenced_at: Option<i64>,
    /// Extensions whose password it found.
    pub cracked: Vec<String>,
}

/// How long a scanner waits for an answer before it counts a request as unanswered.
const ANSWER_WAIT: Duration = Duration::from_millis(400);
/// A scanner gives up after this many requests in a row without an answer (as svwar does).
const GIVE_UP_AFTER: usize = 3;

struct Prober {
    ep: Endpoint,
    inbox: tokio::sync::mpsc::UnboundedReceiver<Datagram>,
    guard: SocketAddr,
    user_agent: String,
    /// Tags and branches a real phone would write (no hex-only tags, no numeric branches), so that only its
    /// behaviour can give it away.
    disguised: bool,
}

impl Prober {
    fn token(&self) -> String {
        let u = self.ep.unique();
        if self.disguised { format!("zq{u}x") } else { u }
    }

    /// Sends a request and waits for its final answer: (status, the answer's WWW-Authenticate nonce).
    async fn ask(
        &mut self,
        method: &str,
        user: &str,
        auth: Option<&str>,
    ) -> Option<(u16, Option<String>)> {
        let (me, guard) = (self.ep.addr, self.guard);
        let call_id = format!("{}@{}", self.token(), me.ip());
        let branch = if self.disguised {
            format!("z9hG4bK{}", self.token())
        } else {
            format!(
                "z9hG4bK-{}",
                u64::from_str_radix(&self.ep.unique(), 16).unwrap_or(7)
            )
        };
        let auth_line = auth
            .map(|a| format!("Authorization: {a}\r\n"))
            .unwrap_or_default();
        let (ruri, to) = if method == "REGISTER" {
            (
                format!("sip:{}", guard.ip()),
                format!("sip:{user}@{}", guard.ip()),
            )
        } else {
            (
                format!("sip:{user}@{}", guard.ip()),
                format!("sip:{user}@{}", guard.ip()),
            )
        };
        let msg = format!(
            "{method} {ruri} SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch={branch};rport\r\nMax-Forwards: 70\r\n\
From: <sip:{user}@{}>;tag={}\r\nTo: <{to}>\r\nCall-ID: {call_id}\r\nCSeq: 1 {method}\r\nContact: <sip:{user}@{me}>\r\n\
User-Agent: {}\r\n{auth_line}Expires: 3600\r\nContent-Length: 0\r\n\r\n",
            guard.ip(),
            self.token(),
            self.user_agent
        );
        self.ep.send(msg.as_bytes(), guard).await;
        let deadline = tokio::time::Instant::now() + ANSWER_WAIT;
        loop {
            let d = tokio::time::timeout_at(deadline, self.inbox.recv())
                .await
                .ok()??;
            let Some(m) = d.parse() else { continue };
            if m.call_id() != Some(call_id.as_str()) {
                continue;
            }
            match m.status() {
                Some(s) if s >= 200 => {
                    let nonce = m
                        .www_authenticate()
                        .and_then(Result::ok)
                        .and_then(|a| a.param("nonce").map(|n| n.trim_matches('"').to_owned()));
                    return Some((s, nonce));
                }
                _ => {}
            }
        }
    }
}

/// sipvicious as it comes: svmap's OPTIONS then svwar's REGISTERs for 100–299 (and, with `guess`, svcrack's
/// passwords), until the guard goes silent.
pub async fn scan(
    ip: &str,
    guard: SocketAddr,
    clock: SimClock,
    user_agent: &str,
    guess: bool,
) -> anyhow::Result<ScanResult> {
    let (ep, inbox) = Endpoint::bind(ip).await?;
    let disguised = !user_agent.contains("scanner");
    let mut p = Prober {
        ep,
        inbox,
        guard,
        user_agent: user_agent.to_owned(),
        disguised,
    };
    let mut r = ScanResult {
        source: ip.to_owned(),
        user_agent: user_agent.to_owned(),
        requests: 0,
        answered: 0,
        banned: false,
        silenced_at: None,
        cracked: Vec::new(),
    };
    let mut silent = 0;
    let mut note = |r: &mut ScanResult, answer: &Option<(u16, Option<String>)>, at: i64| {
        r.requests += 1;
        if answer.is_some() {
            r.answered += 1;
            silent = 0;
            r.silenced_at = None;
        } else {
            silent += 1;
            if r.silenced_at.is_none() {
                r.silenced_at = Some(at);
            }
        }
        silent >= GIVE_UP_AFTER
    };
    let at = clock.now_ms();
    let a = p.ask("OPTIONS", "100", None).await;
    if note(&mut r, &a, at) {
        r.banned = true;
        return Ok(r);
    }
    let guesses = ["1234", "0000", "password", "123456", "admin"];
    for (i, ext) in (100..=299).enumerate() {
        let ext = ext.to_string();
        let at = clock.now_ms();
        let a = p.ask("REGISTER", &ext, None).await;
        let nonce = a.as_ref().and_then(|(_, n)| n.clone());
        if note(&mut r, &a, at) {
            r.banned = true;
            break;
        }
        if !guess {
            continue;
        }
        let Some(nonce) = nonce else { continue };
        // Guess the extension itself and common passwords, but not the vendor default: this scanner does
        // not know the model (the attacker of ext 205 did).
        let pw = if i % 2 == 0 {
            ext.clone()
        } else {
            guesses
                .get(i % guesses.len())
                .map(|g| format!("{g}!"))
                .unwrap_or_default()
        };
        let resp = digest(&ext, &pw, &nonce);
        let auth = format!(
            "Digest username=\"{ext}\", realm=\"{}\", nonce=\"{nonce}\", uri=\"sip:{}\", response=\"{resp}\", algorithm=MD5",
            super::pbx::REALM,
            guard.ip()
        );
        let at = clock.now_ms();
        let a = p.ask("REGISTER", &ext, Some(&auth)).await;
        if a.as_ref().is_some_and(|(s, _)| *s == 200) {
            r.cracked.push(ext.clone());
        }
        if note(&mut r, &a, at) {
            r.banned = true;
            break;
        }
    }
    Ok(r)
}

/// The attacker logs in to ext 205 with the vendor's default password. Returns the final status.
pub async fn hijack_205(ip: &str, guard: SocketAddr) -> anyhow::Result<Option<u16>> {
    let (ep, inbox) = Endpoint::bind(ip).await?;
    let mut p = Prober {
        ep,
        inbox,
        guard,
        user_agent: "Zoiper rv2.8.32".into(),
        disguised: true,
    };
    let Some((_, Some(nonce))) = p.ask("REGISTER", "205", None).await else {
        return Ok(None);
    };
    let resp = digest("205", VENDOR_DEFAULT_PASSWORD, &nonce);
    let auth = format!(
        "Digest username=\"205\", realm=\"{}\", nonce=\"{nonce}\", uri=\"sip:{}\", response=\"{resp}\", algorithm=MD5",
        super::pbx::REALM,
        guard.ip()
    );
    Ok(p.ask("REGISTER", "205", Some(&auth)).await.map(|(s, _)| s))
}
