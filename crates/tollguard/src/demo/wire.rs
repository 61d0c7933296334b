//! SIP over UDP for the demo's simulated peers: one socket per peer, a receive task that hands each datagram
//! to the call waiting for its Call-ID (or to the peer's handler of new requests), and the few messages the
//! peers write (requests, responses copying Via/Record-Route). Parsing is the project's own `sip` crate.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use sip::{HeaderName, Message};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

/// A datagram received, kept as bytes (parsed again by whoever reads it: `Message` borrows).
#[derive(Debug, Clone)]
pub struct Datagram {
    pub data: Vec<u8>,
    pub from: SocketAddr,
}

impl Datagram {
    pub fn parse(&self) -> Option<Message<'_>> {
        Message::parse(&self.data).ok()
    }
}

type Waiters = Arc<Mutex<HashMap<String, mpsc::UnboundedSender<Datagram>>>>;

/// A simulated peer's socket.
#[derive(Clone)]
pub struct Endpoint {
    sock: Arc<UdpSocket>,
    pub addr: SocketAddr,
    waiters: Waiters,
    seq: Arc<AtomicU64>,
}

impl Endpoint {
    /// Binds `ip:0` and starts the receive task; datagrams nobody waits for go to the returned receiver.
    pub async fn bind(ip: &str) -> anyhow::Result<(Endpoint, mpsc::UnboundedReceiver<Datagram>)> {
        let sock = UdpSocket::bind((ip, 0)).await.map_err(|e| {
            anyhow::anyhow!(
                "cannot bind UDP on {ip} ({e}); the demo uses several loopback addresses (127.0.0.2, 127.0.0.3, …), \
                 which Linux provides; on macOS add them with `sudo ifconfig lo0 alias {ip}`"
            )
        })?;
        let addr = sock.local_addr()?;
        let sock = Arc::new(sock);
        let waiters: Waiters = Arc::default();
        let (tx, rx) = mpsc::unbounded_channel();
        let (s, w) = (sock.clone(), waiters.clone());
        tokio::spawn(async move {
            let mut buf = vec![0u8; 65_536];
            loop {
                let Ok((n, from)) = s.recv_from(&mut buf).await else {
                    break;
                };
                let data = buf.get(..n).unwrap_or(&[]).to_vec();
                let call_id = Message::parse(&data)
                    .ok()
                    .and_then(|m| m.call_id().map(str::to_owned));
                let d = Datagram { data, from };
                let waiter = call_id.and_then(|c| w.lock().ok().and_then(|m| m.get(&c).cloned()));
                let undelivered = match waiter {
                    Some(t) => t.send(d).err().map(|e| e.0),
                    None => Some(d),
                };
                if let Some(d) = undelivered
                    && tx.send(d).is_err()
                {
                    break;
                }
            }
        });
        Ok((
            Endpoint {
                sock,
                addr,
                waiters,
                seq: Arc::new(AtomicU64::new(1)),
            },
            rx,
        ))
    }

    pub async fn send(&self, data: &[u8], to: SocketAddr) {
        if let Err(e) = self.sock.send_to(data, to).await {
            tracing::debug!(error = %e, %to, "demo peer send failed");
        }
    }

    /// Datagrams of this Call-ID go to the returned receiver until [`Endpoint::forget`].
    pub fn watch(&self, call_id: &str) -> mpsc::UnboundedReceiver<Datagram> {
        let (tx, rx) = mpsc::unbounded_channel();
        if let Ok(mut m) = self.waiters.lock() {
            m.insert(call_id.to_owned(), tx);
        }
        rx
    }

    pub fn forget(&self, call_id: &str) {
        if let Ok(mut m) = self.waiters.lock() {
            m.remove(call_id);
        }
    }

    /// A token unique to this endpoint (branches, tags, Call-IDs).
    pub fn unique(&self) -> String {
        format!(
            "{:x}{:x}",
            self.addr.port(),
            self.seq.fetch_add(1, Ordering::Relaxed)
        )
    }
}

/// A response to `req`: Via, From, To (tagged), Call-ID, CSeq copied; Record-Route too on dialog-creating
/// answers (the UAS must, so that ACK and BYE come back through the proxy); then `extra` header lines.
pub fn response(
    req: &Message<'_>,
    code: u16,
    phrase: &str,
    to_tag: Option<&str>,
    extra: &str,
) -> Vec<u8> {
    let mut out = format!("SIP/2.0 {code} {phrase}\r\n");
    let dialog = (101..300).contains(&code);
    for h in req.headers() {
        match h.name {
            HeaderName::Via | HeaderName::From | HeaderName::CallId | HeaderName::CSeq => {
                out.push_str(h.name_text);
                out.push_str(": ");
                out.push_str(h.value);
                out.push_str("\r\n");
            }
            HeaderName::RecordRoute if dialog => {
                out.push_str("Record-Route: ");
                out.push_str(h.value);
                out.push_str("\r\n");
            }
            HeaderName::To => {
                out.push_str("To: ");
                out.push_str(h.value);
                if code > 100
                    && req.to_tag().is_none()
                    && let Some(t) = to_tag
                {
                    out.push_str(";tag=");
                    out.push_str(t);
                }
                out.push_str("\r\n");
            }
            _ => {}
        }
    }
    out.push_str(extra);
    if !extra.contains("Content-Length") {
        out.push_str("Content-Length: 0\r\n\r\n");
    }
    out.into_bytes()
}

/// The Reason text or Warning text of a message, whichever says why in words.
pub fn why(m: &Message<'_>) -> Option<String> {
    let text = |v: &str| {
        v.split_once("text=")
            .map(|(_, t)| t.trim().trim_matches('"').replace("\\\"", "\""))
    };
    if let Some(w) = m.headers_named("Warning").next() {
        // 399 tollguard "words"
        if let Some(start) = w.find('"') {
            return Some(
                w.get(start + 1..)
                    .unwrap_or("")
                    .trim_end_matches('"')
                    .to_owned(),
            );
        }
    }
    m.headers_named("Reason").next().and_then(text)
}

/// A small SDP offer/answer (audio PCMU) so that the INVITEs look like the real thing.
pub fn sdp(addr: SocketAddr, id: &str) -> String {
    let ip = addr.ip();
    format!(
        "v=0\r\no=- {id} 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\nm=audio {} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n",
        addr.port().saturating_add(2)
    )
}
