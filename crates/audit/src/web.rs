//! The PBX's web ports: which answer, what server they name, and whether an administration page protected by
//! HTTP Basic or Digest authentication takes a vendor default login. Form logins are reported, not tried.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use serde::Serialize;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout_at};
use tokio_rustls::TlsConnector;

use crate::candidates::CandidateLists;
use crate::digest::Challenge;
use crate::finding::{Finding, Severity};
use crate::pacer::Pacer;
use crate::target::Target;
use crate::transport::{TlsTrust, client_config};

/// Ports tried by default: HTTP(S), the common alternates, and Asterisk's built-in HTTP server (8088/8089).
pub const DEFAULT_PORTS: &[u16] = &[80, 443, 8080, 8088, 8089, 8443];

/// Ports spoken to over TLS.
fn is_tls_port(port: u16) -> bool {
    matches!(port, 443 | 8089 | 8443)
}

/// What one web port said.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WebPort {
    pub port: u16,
    pub tls: bool,
    pub status: u16,
    pub server: Option<String>,
    /// "basic", "digest", "form" or none.
    pub login: Option<String>,
    /// The vendor entry whose login the page took.
    pub default_login: Option<String>,
}

/// An HTTP answer: status and headers.
#[derive(Debug, Clone, Default)]
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body_start: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Probes every port and tries the default logins where a page asks for Basic or Digest.
pub async fn probe_ports(
    target: &Target,
    ports: &[u16],
    lists: &CandidateLists,
    rate: f64,
    wait: Duration,
) -> (Vec<WebPort>, Vec<Finding>) {
    let mut out = Vec::new();
    let mut findings = Vec::new();
    let mut pacer = Pacer::new(rate);
    for &port in ports {
        let tls = is_tls_port(port);
        let Some(a) = get(target, port, tls, None, wait).await else {
            continue;
        };
        let mut w = WebPort {
            port,
            tls,
            status: a.status,
            server: a.header("Server").map(str::to_owned),
            login: login_kind(&a),
            default_login: None,
        };
        if a.status == 401 {
            w.default_login = try_logins(target, port, tls, &a, lists, &mut pacer, wait).await;
        }
        findings.extend(findings_of(target, &w));
        out.push(w);
    }
    (out, findings)
}

fn login_kind(a: &Answer) -> Option<String> {
    match a.header("WWW-Authenticate") {
        Some(v) if v.trim_start().to_ascii_lowercase().starts_with("basic") => Some("basic".into()),
        Some(v) if v.trim_start().to_ascii_lowercase().starts_with("digest") => {
            Some("digest".into())
        }
        _ if a
            .body_start
            .to_ascii_lowercase()
            .contains("type=\"password\"") =>
        {
            Some("form".into())
        }
        _ => None,
    }
}

fn findings_of(target: &Target, w: &WebPort) -> Vec<Finding> {
    let loc = format!(
        "{}:{}/{}",
        target.addr.ip(),
        w.port,
        if w.tls { "https" } else { "http" }
    );
    let mut f = vec![Finding::new(
        "web-port-open",
        Severity::Info,
        &loc,
        format!("web port {} answers (HTTP {})", w.port, w.status),
        "an administration page reachable from where this audit runs is a target for default logins",
        "allow the administration pages only from the office network or a VPN",
    )];
    if let Some(id) = &w.default_login {
        f.push(Finding::new(
            "web-default-login",
            Severity::Critical,
            &loc,
            format!("the administration page takes the default login of list entry {id}"),
            "whoever reaches this page can change accounts and routes, and place international calls",
            "set a long unique administrator password now, then restrict the page to the office network",
        ));
    }
    if let Some(s) = w
        .server
        .as_deref()
        .filter(|s| s.chars().any(|c| c.is_ascii_digit()))
    {
        f.push(Finding::new(
            "version-disclosure",
            Severity::Warning,
            &loc,
            format!("the web server names its version: {s:?}"),
            "scanners pick targets by version to match known vulnerabilities",
            "hide the version (e.g. Apache ServerTokens Prod, nginx server_tokens off)",
        ));
    }
    f
}

/// Tries the vendor logins, paced; the id of the first that the page accepts.
async fn try_logins(
    target: &Target,
    port: u16,
    tls: bool,
    first: &Answer,
    lists: &CandidateLists,
    pacer: &mut Pacer,
    wait: Duration,
) -> Option<String> {
    let challenge = first.header("WWW-Authenticate")?.to_owned();
    let basic = challenge
        .trim_start()
        .to_ascii_lowercase()
        .starts_with("basic");
    for (cand, user) in lists.web_logins() {
        pacer.ready().await;
        let auth = if basic {
            let b = base64::engine::general_purpose::STANDARD
                .encode(format!("{user}:{}", cand.password));
            format!("Basic {b}")
        } else {
            // A fresh nonce for every try: ask again.
            let a = get(target, port, tls, None, wait).await?;
            let ch = Challenge::parse(a.header("WWW-Authenticate")?)?;
            ch.answer(&user, "GET", "/").authorization(&cand.password)
        };
        let a = get(target, port, tls, Some(&auth), wait).await?;
        if (200..400).contains(&a.status) {
            return Some(cand.id);
        }
    }
    None
}

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// `GET /`, optionally with an Authorization header; `None` when the port does not answer HTTP.
async fn get(
    target: &Target,
    port: u16,
    tls: bool,
    auth: Option<&str>,
    wait: Duration,
) -> Option<Answer> {
    let deadline = Instant::now() + wait;
    let tcp = timeout_at(deadline, TcpStream::connect((target.addr.ip(), port)))
        .await
        .ok()?
        .ok()?;
    let mut io: Box<dyn Io> = if tls {
        // Administration pages of PBXs mostly carry self-signed certificates: the login test is about the
        // password, not the certificate.
        let cfg = client_config(&TlsTrust {
            ca: None,
            insecure: true,
        })
        .ok()?;
        let name = rustls_pki_types::ServerName::try_from(target.addr.ip().to_string()).ok()?;
        let s = timeout_at(
            deadline,
            TlsConnector::from(Arc::new(cfg)).connect(name, tcp),
        )
        .await
        .ok()?
        .ok()?;
        Box::new(s)
    } else {
        Box::new(tcp)
    };
    let mut req = format!(
        "GET / HTTP/1.1\r\nHost: {}:{port}\r\nUser-Agent: tollguard-audit\r\nConnection: close\r\n",
        target.addr.ip()
    );
    if let Some(a) = auth {
        req.push_str(&format!("Authorization: {a}\r\n"));
    }
    req.push_str("\r\n");
    timeout_at(deadline, io.write_all(req.as_bytes()))
        .await
        .ok()?
        .ok()?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while buf.len() < 16_384 {
        match timeout_at(deadline, io.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break,
            Ok(Ok(n)) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    parse_answer(&String::from_utf8_lossy(&buf))
}

fn parse_answer(text: &str) -> Option<Answer> {
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((text, ""));
    let mut lines = head.split("\r\n");
    let status_line = lines.next()?;
    let mut parts = status_line.split_whitespace();
    if !parts.next()?.starts_with("HTTP/") {
        return None;
    }
    let status = parts.next()?.parse().ok()?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    Some(Answer {
        status,
        headers,
        body_start: body.chars().take(4096).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_status_headers_and_login_kind() {
        let a = parse_answer(
            "HTTP/1.1 401 Unauthorized\r\nServer: Apache/2.2.15 (CentOS)\r\nWWW-Authenticate: Basic realm=\"PBX\"\r\n\r\n",
        )
        .unwrap();
        assert_eq!(a.status, 401);
        assert_eq!(a.header("server"), Some("Apache/2.2.15 (CentOS)"));
        assert_eq!(login_kind(&a).as_deref(), Some("basic"));
        let form =
            parse_answer("HTTP/1.0 200 OK\r\n\r\n<input type=\"password\" name=\"pw\">").unwrap();
        assert_eq!(login_kind(&form).as_deref(), Some("form"));
        assert!(parse_answer("SSH-2.0-OpenSSH_9.2\r\n").is_none());
    }
}
