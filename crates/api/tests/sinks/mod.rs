//! Loopback receivers for notification tests, shared by `crates/api/tests/notify.rs` and the end-to-end tests
//! of `crates/tollguard/tests` (which include this file with `#[path]`): a minimal HTTP/1.1 webhook receiver and
//! an SMTP sink (EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP, QUIT), each on a free 127.0.0.1 port, handing every
//! request or mail to the test through a channel; plus the decoding a test needs to read a mail (base64 body,
//! RFC 2047 subject). They run as tasks on the caller's Tokio runtime. Every wait has a deadline.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

pub const DEADLINE: Duration = Duration::from_secs(10);

/// `f`'s value, or a panic naming `what` after [`DEADLINE`].
pub async fn within<T>(what: &str, f: impl std::future::Future<Output = Option<T>>) -> T {
    match tokio::time::timeout(DEADLINE, f).await {
        Ok(Some(v)) => v,
        Ok(None) => panic!("{what}: channel closed"),
        Err(_) => panic!("{what}: nothing within {DEADLINE:?}"),
    }
}

// ---------------------------------------------------------------- webhook receiver

/// One request the webhook receiver got: path, headers, body as JSON (`Null` when it was not JSON).
pub struct Request {
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Value,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A running webhook receiver: its address, the requests it got in order, how many it has answered.
pub struct Hook {
    pub addr: SocketAddr,
    pub rx: mpsc::UnboundedReceiver<Request>,
    seen: Arc<AtomicUsize>,
}

impl Hook {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
    pub async fn next(&mut self) -> Request {
        within("webhook request", self.rx.recv()).await
    }
    pub fn seen(&self) -> usize {
        self.seen.load(Ordering::SeqCst)
    }
}

/// A webhook receiver answering the given statuses in order, then 200 for every further request.
pub async fn hook(statuses: &[u16]) -> Hook {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("local addr");
    let (tx, rx) = mpsc::unbounded_channel();
    let seen = Arc::new(AtomicUsize::new(0));
    let statuses: Arc<Vec<u16>> = Arc::new(statuses.to_vec());
    let count = seen.clone();
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            let (tx, statuses, count) = (tx.clone(), statuses.clone(), count.clone());
            tokio::spawn(async move {
                let _ = serve_http(sock, tx, statuses, count).await;
            });
        }
    });
    Hook { addr, rx, seen }
}

async fn serve_http(
    sock: TcpStream,
    tx: mpsc::UnboundedSender<Request>,
    statuses: Arc<Vec<u16>>,
    count: Arc<AtomicUsize>,
) -> std::io::Result<()> {
    let mut r = BufReader::new(sock);
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let path = line.split(' ').nth(1).unwrap_or("").to_owned();
        let mut headers = Vec::new();
        loop {
            let mut h = String::new();
            r.read_line(&mut h).await?;
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                headers.push((k.trim().to_owned(), v.trim().to_owned()));
            }
        }
        let len: usize = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0; len];
        r.read_exact(&mut body).await?;
        let n = count.fetch_add(1, Ordering::SeqCst);
        let status = statuses.get(n).copied().unwrap_or(200);
        let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let _ = tx.send(Request {
            path,
            headers,
            body,
        });
        let reply = format!(
            "HTTP/1.1 {status} X\r\ncontent-length: 2\r\ncontent-type: text/plain\r\n\r\nok"
        );
        r.get_mut().write_all(reply.as_bytes()).await?;
    }
}

// ---------------------------------------------------------------- SMTP sink

/// One mail the sink accepted: envelope sender and recipients, the DATA as sent (dot-unstuffed).
pub struct Mail {
    pub from: String,
    pub to: Vec<String>,
    pub data: String,
}

/// An SMTP server that accepts every message (EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP, QUIT).
pub async fn smtp_sink() -> (SocketAddr, mpsc::UnboundedReceiver<Mail>) {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("local addr");
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                let _ = serve_smtp(sock, tx).await;
            });
        }
    });
    (addr, rx)
}

async fn serve_smtp(sock: TcpStream, tx: mpsc::UnboundedSender<Mail>) -> std::io::Result<()> {
    let mut r = BufReader::new(sock);
    r.get_mut().write_all(b"220 sink.test ESMTP\r\n").await?;
    let (mut from, mut to) = (String::new(), Vec::new());
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let cmd = line.trim_end().to_owned();
        let upper = cmd.to_ascii_uppercase();
        let reply: &[u8] = if upper.starts_with("EHLO") || upper.starts_with("HELO") {
            b"250-sink.test\r\n250 8BITMIME\r\n"
        } else if upper.starts_with("MAIL FROM:") {
            from = cmd[10..].trim().to_owned();
            to.clear();
            b"250 OK\r\n"
        } else if upper.starts_with("RCPT TO:") {
            to.push(cmd[8..].trim().to_owned());
            b"250 OK\r\n"
        } else if upper == "DATA" {
            r.get_mut().write_all(b"354 end with .\r\n").await?;
            let mut data = String::new();
            loop {
                let mut l = String::new();
                if r.read_line(&mut l).await? == 0 {
                    return Ok(());
                }
                if l == ".\r\n" {
                    break;
                }
                data.push_str(l.strip_prefix('.').unwrap_or(&l));
            }
            let _ = tx.send(Mail {
                from: from.clone(),
                to: to.clone(),
                data,
            });
            b"250 OK queued\r\n"
        } else if upper == "QUIT" {
            r.get_mut().write_all(b"221 bye\r\n").await?;
            return Ok(());
        } else if upper == "RSET" || upper == "NOOP" {
            b"250 OK\r\n"
        } else {
            b"502 not implemented\r\n"
        };
        r.get_mut().write_all(reply).await?;
    }
}

pub fn base64_decode(s: &str) -> Vec<u8> {
    let val = |c: u8| match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    };
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0);
    for v in s.bytes().filter_map(val) {
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}

/// The Subject header, with RFC 2047 encoded words decoded.
pub fn subject(headers: &str) -> String {
    let unfolded = headers.replace("\r\n ", " ").replace("\r\n\t", " ");
    let raw = unfolded
        .lines()
        .find_map(|l| l.strip_prefix("Subject: "))
        .unwrap_or("");
    // Whitespace between two encoded words is dropped (RFC 2047 §6.2); elsewhere it stays.
    let mut out = String::new();
    let mut prev_encoded = false;
    for w in raw.split_whitespace() {
        let encoded = w.to_ascii_lowercase().starts_with("=?utf-8?b?") && w.ends_with("?=");
        let joined = encoded && prev_encoded;
        if !out.is_empty() && !joined {
            out.push(' ');
        }
        if encoded {
            out.push_str(
                &String::from_utf8(base64_decode(&w[10..w.len() - 2])).unwrap_or_default(),
            );
        } else {
            out.push_str(w);
        }
        prev_encoded = encoded;
    }
    out
}

pub fn decoded_body(data: &str) -> (String, String) {
    let (headers, body) = data.split_once("\r\n\r\n").unwrap_or((data, ""));
    assert!(
        headers.contains("Content-Transfer-Encoding: base64"),
        "{headers}"
    );
    (
        headers.to_owned(),
        String::from_utf8(base64_decode(body)).unwrap_or_default(),
    )
}
