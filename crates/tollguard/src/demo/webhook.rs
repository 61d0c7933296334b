//! The demo's webhook receiver: a minimal HTTP/1.1 server on loopback standing in for the office's chat or
//! ticket system, so that the summary can show the alert exactly as it was delivered.

use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::clock::SimClock;
use super::outcome::DeliveredAlert;

pub type Inbox = Arc<Mutex<Vec<DeliveredAlert>>>;

/// Binds 127.0.0.1:0 and serves until the runtime ends. Returns the URL to configure.
pub async fn start(clock: Arc<Mutex<SimClock>>) -> anyhow::Result<(String, Inbox)> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/tollguard-alerts", listener.local_addr()?);
    let inbox: Inbox = Arc::default();
    let kept = inbox.clone();
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            let (inbox, clock) = (kept.clone(), clock.clone());
            tokio::spawn(async move {
                let Some(body) = read_request(&mut conn).await else {
                    return;
                };
                let _ = conn
                    .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                    .await;
                let received_ms = clock.lock().map(|c| c.now_ms()).unwrap_or(0);
                let body = serde_json::from_slice(&body).unwrap_or_else(|_| {
                    serde_json::Value::String(String::from_utf8_lossy(&body).into_owned())
                });
                if let Ok(mut i) = inbox.lock() {
                    i.push(DeliveredAlert { received_ms, body });
                }
            });
        }
    });
    Ok((url, inbox))
}

/// Reads one request and returns its body (Content-Length framing; 1 MiB at most).
async fn read_request(conn: &mut tokio::net::TcpStream) -> Option<Vec<u8>> {
    let mut buf = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    loop {
        let n = conn.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(chunk.get(..n)?);
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(buf.get(..end)?).to_ascii_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0)
                .min(1 << 20);
            while buf.len() < end + 4 + len {
                let n = conn.read(&mut chunk).await.ok()?;
                if n == 0 {
                    break;
                }
                buf.extend_from_slice(chunk.get(..n)?);
            }
            return buf
                .get(end + 4..(end + 4 + len).min(buf.len()))
                .map(<[u8]>::to_vec);
        }
        if buf.len() > (1 << 20) {
            return None;
        }
    }
}
