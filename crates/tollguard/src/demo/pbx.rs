//! The simulated office PBX: its registrar (behind the guard's access side: answers OPTIONS, challenges
//! REGISTERs and checks passwords, ext 205 still on the vendor's default) and its trunk (calls placed through
//! the guard's `pbx` listener: INVITE, ACK, hold, BYE — or the guard's refusal, or the guard's BYE).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sip::{Message, Method};

use super::clock::SimClock;
use super::wire::{Datagram, Endpoint, response, sdp, why};

pub const REALM: &str = "tokyo-office";
/// The password every extension of this PBX model shipped with (published in the vendor's manual).
pub const VENDOR_DEFAULT_PASSWORD: &str = "1234";

/// The simulated digest: not MD5 (nothing here is secret); what matters is that only the right password
/// gives the right answer to the nonce.
pub fn digest(user: &str, password: &str, nonce: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in format!("{user}:{REALM}:{password}:{nonce}").bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// The password of an extension: 201–204 changed by the office; 205 left on the default.
fn password_of(ext: &str) -> Option<String> {
    match ext {
        "205" => Some(VENDOR_DEFAULT_PASSWORD.to_owned()),
        "201" | "202" | "203" | "204" => Some(format!("S3cret-{ext}-kq")),
        _ => None,
    }
}

/// What the registrar answered, per request.
#[derive(Debug, Default)]
pub struct RegistrarLog {
    pub answered: usize,
    pub registered: Vec<(String, String)>,
}

/// Serves the registrar side of the PBX: requests no call of ours waits for.
pub async fn run_registrar(
    ep: Endpoint,
    mut inbox: tokio::sync::mpsc::UnboundedReceiver<Datagram>,
    log: Arc<Mutex<RegistrarLog>>,
) {
    while let Some(d) = inbox.recv().await {
        let Some(m) = d.parse() else { continue };
        let Some(method) = m.method() else { continue };
        let tag = ep.unique();
        let reply = match method {
            Method::Register => register(&m, &tag, &log),
            Method::Ack => continue,
            Method::Options => response(
                &m,
                200,
                "OK",
                Some(&tag),
                "Allow: INVITE, ACK, BYE, CANCEL, OPTIONS, REGISTER\r\n",
            ),
            Method::Bye => response(&m, 481, "Call/Transaction Does Not Exist", Some(&tag), ""),
            _ => response(&m, 403, "Forbidden", Some(&tag), ""),
        };
        if let Ok(mut l) = log.lock() {
            l.answered += 1;
        }
        ep.send(&reply, d.from).await;
    }
}

fn register(m: &Message<'_>, tag: &str, log: &Arc<Mutex<RegistrarLog>>) -> Vec<u8> {
    let user = m
        .to()
        .and_then(|t| t.uri().user().map(str::to_owned))
        .unwrap_or_default();
    let auth = m.authorization().and_then(Result::ok);
    let Some(auth) = auth else {
        let nonce = format!("n{tag}");
        let challenge = format!(
            "WWW-Authenticate: Digest realm=\"{REALM}\", nonce=\"{nonce}\", algorithm=MD5\r\n"
        );
        return response(m, 401, "Unauthorized", Some(tag), &challenge);
    };
    let ok = match (
        password_of(&user),
        auth.param("nonce"),
        auth.param("response"),
    ) {
        (Some(pw), Some(nonce), Some(resp)) => {
            digest(&user, &pw, nonce.trim_matches('"')) == resp.trim_matches('"')
        }
        _ => false,
    };
    if ok {
        let contact = m
            .header(sip::HeaderName::Contact)
            .unwrap_or("<sip:unknown@invalid>")
            .to_owned();
        if let Ok(mut l) = log.lock() {
            l.registered.push((user, contact.clone()));
        }
        response(
            m,
            200,
            "OK",
            Some(tag),
            &format!("Contact: {contact};expires=3600\r\n"),
        )
    } else {
        // Like Asterisk's alwaysauthreject: the same answer for a wrong password and an unknown extension.
        response(m, 403, "Forbidden", Some(tag), "")
    }
}

/// How one outbound call through the guard ended, as the PBX saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallEnd {
    /// Answered and hung up by the caller after the hold time.
    Completed,
    /// Answered, then ended by the guard's BYE (a kill switch); the reason it gave.
    EndedByGuard(Option<String>),
    /// Refused with this final status and reason (the guard's, or the carrier's).
    Refused(u16, Option<String>),
    /// No final answer within the deadline.
    NoAnswer,
}

#[derive(Debug, Clone)]
pub struct CallResult {
    pub placed_ms: i64,
    pub answered_ms: Option<i64>,
    pub ended_ms: i64,
    pub end: CallEnd,
}

/// The PBX's trunk: places calls towards the guard's `pbx` listener.
#[derive(Clone)]
pub struct Trunk {
    pub ep: Endpoint,
    pub guard: SocketAddr,
    pub clock: SimClock,
}

const FINAL_DEADLINE: Duration = Duration::from_secs(8);

impl Trunk {
    /// Places a call from `ext` to `dialed` and holds it `hold_secs` of simulated time once answered.
    pub async fn call(&self, ext: &str, dialed: &str, hold_secs: f64) -> CallResult {
        let ep = &self.ep;
        let u = ep.unique();
        let call_id = format!("{u}-{ext}@tokyo-pbx");
        let from_tag = format!("f{u}");
        let branch = format!("z9hG4bKpbx{u}");
        let me = ep.addr;
        let guard = self.guard;
        // '#' and '*' must be escaped in a SIP URI's user part (RFC 3261 section 25.1); PBXs send %23.
        let dialed = &dialed.replace('#', "%23").replace('*', "%2A");
        let mut rx = ep.watch(&call_id);
        let body = sdp(me, &u);
        let invite = format!(
            "INVITE sip:{dialed}@{guard} SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch={branch};rport\r\nMax-Forwards: 70\r\n\
From: \"ext {ext}\" <sip:{ext}@{me}>;tag={from_tag}\r\nTo: <sip:{dialed}@{guard}>\r\nCall-ID: {call_id}\r\nCSeq: 1 INVITE\r\n\
Contact: <sip:{ext}@{me}>\r\nUser-Agent: TokyoOffice-PBX/2.4\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        let placed_ms = self.clock.now_ms();
        ep.send(invite.as_bytes(), guard).await;
        let deadline = tokio::time::Instant::now() + FINAL_DEADLINE;
        let mut retransmit = tokio::time::Instant::now() + Duration::from_millis(500);
        let mut provisional = false;
        // Wait for the final answer (retransmitting the INVITE until a provisional, like Timer A).
        let final_answer = loop {
            let wait = if provisional {
                deadline
            } else {
                retransmit.min(deadline)
            };
            match tokio::time::timeout_at(wait, rx.recv()).await {
                Ok(Some(d)) => {
                    let Some(m) = d.parse() else { continue };
                    match m.status() {
                        Some(s) if s < 200 => provisional = true,
                        Some(_) => break Some(d),
                        None => {}
                    }
                }
                Ok(None) => break None,
                Err(_) if tokio::time::Instant::now() >= deadline => break None,
                Err(_) => {
                    ep.send(invite.as_bytes(), guard).await;
                    retransmit = tokio::time::Instant::now() + Duration::from_millis(1000);
                }
            }
        };
        let Some(answer) = final_answer else {
            ep.forget(&call_id);
            return CallResult {
                placed_ms,
                answered_ms: None,
                ended_ms: self.clock.now_ms(),
                end: CallEnd::NoAnswer,
            };
        };
        let Some(m) = answer.parse() else {
            ep.forget(&call_id);
            return CallResult {
                placed_ms,
                answered_ms: None,
                ended_ms: self.clock.now_ms(),
                end: CallEnd::NoAnswer,
            };
        };
        let status = m.status().unwrap_or(0);
        let to = m.header(sip::HeaderName::To).unwrap_or("").to_owned();
        if status >= 300 {
            // ACK of a non-2xx: same branch as the INVITE, hop by hop.
            let ack = format!(
                "ACK sip:{dialed}@{guard} SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch={branch};rport\r\nMax-Forwards: 70\r\n\
From: \"ext {ext}\" <sip:{ext}@{me}>;tag={from_tag}\r\nTo: {to}\r\nCall-ID: {call_id}\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n"
            );
            ep.send(ack.as_bytes(), guard).await;
            let reason = why(&m);
            ep.forget(&call_id);
            return CallResult {
                placed_ms,
                answered_ms: None,
                ended_ms: self.clock.now_ms(),
                end: CallEnd::Refused(status, reason),
            };
        }
        let answered_ms = self.clock.now_ms();
        let target = m
            .contacts()
            .next()
            .and_then(|c| c.addr().map(|a| a.uri().as_str().to_owned()))
            .unwrap_or_else(|| format!("sip:{dialed}@{guard}"));
        // The route set of the UAC is the Record-Route of the 2xx in reverse order.
        let mut rr: Vec<String> = m.record_routes().map(|r| r.as_str().to_owned()).collect();
        rr.reverse();
        let routes: String = rr.iter().map(|r| format!("Route: {r}\r\n")).collect();
        let in_dialog = |method: &str, cseq: u32, branch: &str| {
            format!(
                "{method} {target} SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch={branch};rport\r\nMax-Forwards: 70\r\n{routes}\
From: \"ext {ext}\" <sip:{ext}@{me}>;tag={from_tag}\r\nTo: {to}\r\nCall-ID: {call_id}\r\nCSeq: {cseq} {method}\r\nContent-Length: 0\r\n\r\n"
            )
        };
        ep.send(
            in_dialog("ACK", 1, &format!("z9hG4bKack{u}")).as_bytes(),
            guard,
        )
        .await;
        let hang_up_at = self
            .clock
            .instant_of(answered_ms + (hold_secs * 1000.0) as i64);
        // Hold the call; the guard may end it first.
        loop {
            match tokio::time::timeout_at(hang_up_at, rx.recv()).await {
                Ok(Some(d)) => {
                    let Some(m) = d.parse() else { continue };
                    if m.method() == Some(Method::Bye) {
                        ep.send(&response(&m, 200, "OK", None, ""), d.from).await;
                        let reason = why(&m);
                        ep.forget(&call_id);
                        return CallResult {
                            placed_ms,
                            answered_ms: Some(answered_ms),
                            ended_ms: self.clock.now_ms(),
                            end: CallEnd::EndedByGuard(reason),
                        };
                    }
                    // A retransmitted 200 (our ACK lost): ACK again.
                    if m.status() == Some(200) {
                        ep.send(
                            in_dialog("ACK", 1, &format!("z9hG4bKack{u}")).as_bytes(),
                            guard,
                        )
                        .await;
                    }
                }
                Ok(None) => break,
                Err(_) => break,
            }
        }
        let ended_ms = self.clock.now_ms();
        ep.send(
            in_dialog("BYE", 2, &format!("z9hG4bKbye{u}")).as_bytes(),
            guard,
        )
        .await;
        // The 200 to our BYE (or the guard's own BYE crossing ours); do not wait long for either.
        let bye_deadline = tokio::time::Instant::now() + Duration::from_secs(2);
        while let Ok(Some(d)) = tokio::time::timeout_at(bye_deadline, rx.recv()).await {
            let Some(m) = d.parse() else { continue };
            if m.method() == Some(Method::Bye) {
                ep.send(&response(&m, 200, "OK", None, ""), d.from).await;
                continue;
            }
            if m.status().is_some_and(|s| s >= 200) {
                break;
            }
        }
        ep.forget(&call_id);
        CallResult {
            placed_ms,
            answered_ms: Some(answered_ms),
            ended_ms,
            end: CallEnd::Completed,
        }
    }
}
