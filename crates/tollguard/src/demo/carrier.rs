//! The simulated carrier: a UAS behind the guard's trunk side that answers every INVITE (100, 180, 200),
//! takes ACK and BYE, and keeps the bill — the calls that actually reached it and their billable seconds.

use std::sync::{Arc, Mutex};

use sip::Method;

use super::clock::SimClock;
use super::wire::{Datagram, Endpoint, response, sdp};

/// One call as the carrier saw (and will bill) it.
#[derive(Debug, Clone)]
pub struct CarrierCall {
    pub call_id: String,
    pub dialed: String,
    pub from: String,
    pub invited_ms: i64,
    pub ended_ms: Option<i64>,
    pub billable_secs: u32,
    /// The BYE came from the guard itself (one Via), not forwarded from the PBX (two Vias).
    pub ended_by_guard: bool,
}

#[derive(Debug, Default)]
pub struct CarrierLog {
    pub calls: Vec<CarrierCall>,
    pub byes_from_guard: usize,
}

pub type SharedCarrierLog = Arc<Mutex<CarrierLog>>;

/// Serves the carrier until the socket's receiver closes.
pub async fn run(
    ep: Endpoint,
    mut inbox: tokio::sync::mpsc::UnboundedReceiver<Datagram>,
    clock: SimClock,
    log: SharedCarrierLog,
) {
    // Last answer per Call-ID, for retransmitted INVITEs.
    let mut answered: std::collections::HashMap<String, Vec<u8>> = Default::default();
    while let Some(d) = inbox.recv().await {
        let Some(m) = d.parse() else { continue };
        let Some(method) = m.method() else { continue };
        let call_id = m.call_id().unwrap_or("").to_owned();
        let now = clock.now_ms();
        match method {
            Method::Invite if m.to_tag().is_none() => {
                if let Some(last) = answered.get(&call_id) {
                    ep.send(last, d.from).await;
                    continue;
                }
                let dialed = m
                    .request_uri()
                    .and_then(|u| u.user().map(str::to_owned))
                    .unwrap_or_default();
                let from = m
                    .from()
                    .and_then(|f| f.uri().user().map(str::to_owned))
                    .unwrap_or_default();
                let tag = ep.unique();
                ep.send(&response(&m, 100, "Trying", None, ""), d.from)
                    .await;
                let contact = format!("Contact: <sip:{dialed}@{}>\r\n", ep.addr);
                ep.send(&response(&m, 180, "Ringing", Some(&tag), &contact), d.from)
                    .await;
                let body = sdp(ep.addr, &tag);
                let extra = format!(
                    "{contact}Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                );
                let ok = response(&m, 200, "OK", Some(&tag), &extra);
                ep.send(&ok, d.from).await;
                answered.insert(call_id.clone(), ok);
                if let Ok(mut l) = log.lock() {
                    l.calls.push(CarrierCall {
                        call_id,
                        dialed,
                        from,
                        invited_ms: now,
                        ended_ms: None,
                        billable_secs: 0,
                        ended_by_guard: false,
                    });
                }
            }
            Method::Ack => {}
            Method::Bye => {
                ep.send(&response(&m, 200, "OK", None, ""), d.from).await;
                let by_guard = m.via_count() == 1;
                if let Ok(mut l) = log.lock() {
                    if by_guard {
                        l.byes_from_guard += 1;
                    }
                    if let Some(c) = l
                        .calls
                        .iter_mut()
                        .find(|c| c.call_id == call_id && c.ended_ms.is_none())
                    {
                        c.ended_ms = Some(now);
                        let secs = (now - c.invited_ms).max(0);
                        // Carriers bill started seconds.
                        c.billable_secs = u32::try_from((secs + 999) / 1000).unwrap_or(u32::MAX);
                        c.ended_by_guard = by_guard;
                    }
                }
                answered.remove(&call_id);
            }
            _ => {
                ep.send(&response(&m, 200, "OK", None, ""), d.from).await;
            }
        }
    }
}
