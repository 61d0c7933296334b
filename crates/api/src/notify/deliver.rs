//! One delivery attempt per channel (HTTP POST, SMTP, syslog datagram), each classified as delivered, worth
//! retrying (server busy, 5xx, 429, timeout, connection refused) or final (4xx, permanent SMTP refusal,
//! bad address), and the retry loop with capped exponential back-off around it.

use std::time::Duration;

use lettre::message::header::{ContentTransferEncoding, ContentType};
use lettre::message::{Body, Mailbox, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use super::config::{EmailConfig, EmailTls, RetryConfig, SyslogTarget, WebhookFormat};
use super::payload::{Message, webhook_payload};

/// The outcome of one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Attempt {
    Delivered,
    /// Worth trying again later.
    Transient(String),
    /// Trying again would not help.
    Final(String),
}

/// The outcome of all attempts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Outcome {
    pub ok: bool,
    pub attempts: u32,
    pub error: Option<String>,
}

/// Wait before attempt `n + 1` (n ≥ 1): first × 2^(n-1), at most max.
pub(crate) fn backoff(r: &RetryConfig, n: u32) -> Duration {
    let secs = r.first_backoff_secs * 2f64.powi(n.saturating_sub(1).min(60) as i32);
    Duration::from_secs_f64(secs.min(r.max_backoff_secs).max(0.0))
}

/// Runs `attempt` until delivered, refused for good, or out of attempts; each try is bounded by the
/// configured timeout.
pub(crate) async fn with_retries<F, Fut>(r: &RetryConfig, mut attempt: F) -> Outcome
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Attempt>,
{
    let timeout = Duration::from_secs_f64(r.timeout_secs);
    let mut n = 0;
    loop {
        n += 1;
        let result = match tokio::time::timeout(timeout, attempt()).await {
            Ok(a) => a,
            Err(_) => Attempt::Transient(format!("no answer within {} s", r.timeout_secs)),
        };
        match result {
            Attempt::Delivered => {
                return Outcome {
                    ok: true,
                    attempts: n,
                    error: None,
                };
            }
            Attempt::Final(e) => {
                return Outcome {
                    ok: false,
                    attempts: n,
                    error: Some(e),
                };
            }
            Attempt::Transient(e) if n >= r.attempts => {
                return Outcome {
                    ok: false,
                    attempts: n,
                    error: Some(format!("{e} (gave up after {n} attempts)")),
                };
            }
            Attempt::Transient(e) => {
                let wait = backoff(r, n);
                tracing::debug!(attempt = n, error = %e, wait_ms = wait.as_millis() as u64, "notification attempt failed, retrying");
                tokio::time::sleep(wait).await;
            }
        }
    }
}

/// A webhook endpoint, ready to post.
pub(crate) struct WebhookTarget {
    pub client: Option<reqwest::Client>,
    pub url: String,
    pub format: WebhookFormat,
    pub headers: Vec<(String, String)>,
    /// Set when a secret header could not be read at start: every delivery fails with this reason.
    pub unusable: Option<String>,
}

impl WebhookTarget {
    pub(crate) async fn post(&self, m: &Message) -> Attempt {
        if let Some(why) = &self.unusable {
            return Attempt::Final(why.clone());
        }
        let Some(client) = &self.client else {
            return Attempt::Final(
                "the HTTP client could not be created (see the log at start)".into(),
            );
        };
        let body = webhook_payload(m, self.format);
        let mut req = client.post(&self.url).json(&body);
        for (k, v) in &self.headers {
            req = req.header(k.as_str(), v.as_str());
        }
        match req.send().await {
            Ok(resp) => {
                let status = resp.status();
                if status.is_success() {
                    Attempt::Delivered
                } else if status.is_server_error()
                    || status == reqwest::StatusCode::TOO_MANY_REQUESTS
                    || status == reqwest::StatusCode::REQUEST_TIMEOUT
                {
                    Attempt::Transient(format!("HTTP {status}"))
                } else {
                    let text = resp.text().await.unwrap_or_default();
                    let text: String = text.chars().take(200).collect();
                    Attempt::Final(format!("HTTP {status}: {text}"))
                }
            }
            Err(e) if e.is_builder() => Attempt::Final(format!("bad request: {e}")),
            Err(e) => Attempt::Transient(error_chain(&e)),
        }
    }
}

/// An error with its causes ("error sending request: connection refused").
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

/// An SMTP relay and the envelope.
pub(crate) struct EmailTarget {
    pub transport: Result<AsyncSmtpTransport<Tokio1Executor>, String>,
    pub from: Result<Mailbox, String>,
    pub to: Vec<Result<Mailbox, String>>,
}

impl EmailTarget {
    /// `password`: the value of `password_env` read at start, or why it could not be read (then every
    /// delivery fails with that reason rather than trying the relay without credentials).
    pub(crate) fn new(
        c: &EmailConfig,
        password: Result<Option<String>, String>,
        timeout: Duration,
    ) -> EmailTarget {
        let builder = match c.tls {
            EmailTls::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&c.host),
            EmailTls::Starttls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&c.host),
            EmailTls::None => Ok(AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(
                c.host.as_str(),
            )),
        };
        let transport = password.and_then(|password| {
            builder
                .map(|b| {
                    let mut b = b.port(c.port()).timeout(Some(timeout));
                    if let Some(user) = &c.username {
                        let password = password.unwrap_or_default();
                        b = b.credentials(Credentials::new(user.clone(), password));
                    }
                    b.build()
                })
                .map_err(|e| format!("SMTP relay {}: {e}", c.host))
        });
        let mailbox = |a: &str| {
            a.parse::<Mailbox>()
                .map_err(|e| format!("e-mail address {a:?}: {e}"))
        };
        EmailTarget {
            transport,
            from: mailbox(&c.from),
            to: c.to.iter().map(|a| mailbox(a)).collect(),
        }
    }

    pub(crate) fn message(&self, m: &Message) -> Result<lettre::Message, String> {
        let from = self.from.clone()?;
        let mut b = lettre::Message::builder()
            .from(from)
            .subject(m.headline.clone());
        for to in &self.to {
            b = b.to(to.clone()?);
        }
        // Base64 keeps Japanese text intact through any relay, 8BITMIME or not.
        let body = Body::new_with_encoding(m.body.clone(), ContentTransferEncoding::Base64)
            .map_err(|_| "the message body could not be encoded".to_owned())?;
        b.singlepart(
            SinglePart::builder()
                .header(ContentType::TEXT_PLAIN)
                .body(body),
        )
        .map_err(|e| format!("the e-mail could not be built: {e}"))
    }

    pub(crate) async fn send(&self, m: &Message) -> Attempt {
        let transport = match &self.transport {
            Ok(t) => t,
            Err(e) => return Attempt::Final(e.clone()),
        };
        let msg = match self.message(m) {
            Ok(msg) => msg,
            Err(e) => return Attempt::Final(e),
        };
        match transport.send(msg).await {
            Ok(_) => Attempt::Delivered,
            Err(e) if e.is_permanent() => Attempt::Final(error_chain(&e)),
            Err(e) => Attempt::Transient(error_chain(&e)),
        }
    }
}

/// Sends one datagram to the syslog target.
pub(crate) async fn send_syslog(target: &SyslogTarget, line: &str) -> Attempt {
    match target {
        SyslogTarget::Udp(addr) => {
            let bind = if addr.starts_with('[') {
                "[::]:0"
            } else {
                "0.0.0.0:0"
            };
            let sock = match tokio::net::UdpSocket::bind(bind).await {
                Ok(s) => s,
                Err(e) => return Attempt::Transient(format!("UDP socket: {e}")),
            };
            match sock.send_to(line.as_bytes(), addr.as_str()).await {
                Ok(_) => Attempt::Delivered,
                Err(e) => Attempt::Transient(format!("syslog to {addr}: {e}")),
            }
        }
        #[cfg(unix)]
        SyslogTarget::Unix(path) => {
            let sock = match tokio::net::UnixDatagram::unbound() {
                Ok(s) => s,
                Err(e) => return Attempt::Transient(format!("unix socket: {e}")),
            };
            match sock.send_to(line.as_bytes(), path).await {
                Ok(_) => Attempt::Delivered,
                Err(e) => Attempt::Transient(format!("syslog to {path}: {e}")),
            }
        }
        #[cfg(not(unix))]
        SyslogTarget::Unix(path) => Attempt::Final(format!("no unix sockets here for {path}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        let r = RetryConfig {
            attempts: 10,
            first_backoff_secs: 1.0,
            max_backoff_secs: 5.0,
            timeout_secs: 1.0,
        };
        let waits: Vec<u64> = (1..=5).map(|n| backoff(&r, n).as_secs()).collect();
        assert_eq!(waits, vec![1, 2, 4, 5, 5]);
        assert_eq!(backoff(&r, u32::MAX).as_secs(), 5);
    }
}
