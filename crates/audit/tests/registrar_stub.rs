//! The credential audit against a recording registrar stub (in-process, on 127.0.0.7): over TLS with a
//! self-signed certificate (rcgen) trusted through the PBX's CA file or `insecure`, and against registrars
//! that lock an account after failures by answering 503 or by going silent. The stub counts the
//! authenticated attempts it received; nothing is asserted about time.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use audit::credentials::{CredentialAudit, Outcome};
use audit::digest::Challenge;
use audit::{AuditError, CandidateLists, Target, TlsTrust, Transport};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};
use tokio_rustls::rustls;

const IP: &str = "127.0.0.7";
const REALM: &str = "stub";

/// How the stub answers once an account has seen `after` wrong passwords.
#[derive(Clone, Copy)]
enum Lock {
    Never,
    Answer503 { after: usize },
    Silent { after: usize },
}

/// The registrar's logic: challenge, check against `accounts`, lock as told.
struct Registrar {
    accounts: Vec<(&'static str, &'static str)>,
    lock: Lock,
    failures: AtomicUsize,
    attempts: AtomicUsize,
    /// When (on tokio's clock) each authenticated attempt arrived.
    at: std::sync::Mutex<Vec<tokio::time::Instant>>,
}

impl Registrar {
    /// The response to one request, or `None` to stay silent.
    fn answer(&self, req: &[u8]) -> Option<String> {
        let m = sip::Message::parse(req).ok()?;
        let to = m.header(sip::HeaderName::To)?;
        let user = to.split("sip:").nth(1)?.split('@').next()?.to_owned();
        let failed = self.failures.load(Ordering::SeqCst);
        match self.lock {
            Lock::Answer503 { after } if failed >= after => {
                return Some(reply(&m, "503 Locked", ""));
            }
            Lock::Silent { after } if failed >= after => return None,
            _ => {}
        }
        let Some(Ok(auth)) = m.authorization() else {
            let ch = format!(
                "WWW-Authenticate: Digest realm=\"{REALM}\", nonce=\"n{failed}\", qop=\"auth\", algorithm=MD5\r\n"
            );
            return Some(reply(&m, "401 Unauthorized", &ch));
        };
        self.attempts.fetch_add(1, Ordering::SeqCst);
        self.at.lock().unwrap().push(tokio::time::Instant::now());
        let ch = Challenge::parse(&format!(
            "Digest realm=\"{REALM}\", nonce=\"{}\", qop=\"auth\"",
            auth.nonce()?
        ))?;
        let mut p = ch.answer(&user, "REGISTER", auth.uri()?);
        p.cnonce = auth.cnonce()?.to_owned();
        p.nc = auth.nc()?.to_owned();
        let seen = auth.response()?;
        let ok = self
            .accounts
            .iter()
            .any(|(u, pw)| *u == user && p.response(pw) == seen);
        if ok {
            return Some(reply(&m, "200 OK", ""));
        }
        self.failures.fetch_add(1, Ordering::SeqCst);
        Some(reply(
            &m,
            "401 Unauthorized",
            &format!("WWW-Authenticate: Digest realm=\"{REALM}\", nonce=\"x\", qop=\"auth\"\r\n"),
        ))
    }
}

fn reply(m: &sip::Message<'_>, status: &str, extra: &str) -> String {
    let h = |n| m.header(n).unwrap_or("");
    format!(
        "SIP/2.0 {status}\r\nVia: {}\r\nFrom: {}\r\nTo: {};tag=stub\r\nCall-ID: {}\r\nCSeq: {}\r\n{extra}Content-Length: 0\r\n\r\n",
        h(sip::HeaderName::Via),
        h(sip::HeaderName::From),
        h(sip::HeaderName::To),
        h(sip::HeaderName::CallId),
        h(sip::HeaderName::CSeq),
    )
}

async fn serve_stream<S: AsyncRead + AsyncWrite + Unpin>(mut s: S, r: Arc<Registrar>) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let msg: Vec<u8> = buf.drain(..end + 4).collect();
            if let Some(a) = r.answer(&msg)
                && s.write_all(a.as_bytes()).await.is_err()
            {
                return;
            }
        }
        match s.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

fn registrar(lock: Lock) -> Arc<Registrar> {
    Arc::new(Registrar {
        accounts: vec![("201", "admin"), ("203", "Xq7-vRt9!mZp42Lw")],
        lock,
        failures: AtomicUsize::new(0),
        attempts: AtomicUsize::new(0),
        at: std::sync::Mutex::new(Vec::new()),
    })
}

fn audit(
    addr: SocketAddr,
    transport: Transport,
    accounts: &[&str],
    trust: TlsTrust,
) -> CredentialAudit {
    CredentialAudit {
        target: Target::resolve(&addr.to_string(), transport).unwrap(),
        accounts: accounts.iter().map(|a| (*a).to_owned()).collect(),
        lists: CandidateLists::shipped(),
        rate: 1000.0,
        domain: None,
        trust,
        wait: Duration::from_millis(400),
    }
}

/// A TLS registrar with a self-signed certificate for 127.0.0.7; the certificate's PEM file.
async fn tls_registrar(
    dir: &std::path::Path,
    r: Arc<Registrar>,
) -> (SocketAddr, std::path::PathBuf) {
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec![IP.to_owned()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let pem = dir.join("pbx.crt");
    std::fs::write(&pem, cert.pem()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der().clone()],
            rustls_pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
        )
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let l = TcpListener::bind((IP, 0)).await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = l.accept().await {
            let (acceptor, r) = (acceptor.clone(), r.clone());
            tokio::spawn(async move {
                if let Ok(s) = acceptor.accept(tcp).await {
                    serve_stream(s, r).await;
                }
            });
        }
    });
    (addr, pem)
}

async fn udp_registrar(r: Arc<Registrar>) -> SocketAddr {
    let s = UdpSocket::bind((IP, 0)).await.unwrap();
    let addr = s.local_addr().unwrap();
    tokio::spawn(async move {
        let mut b = vec![0u8; 65_535];
        while let Ok((n, from)) = s.recv_from(&mut b).await {
            if let Some(a) = r.answer(&b[..n]) {
                let _ = s.send_to(a.as_bytes(), from).await;
            }
        }
    });
    addr
}

#[tokio::test]
async fn tls_with_the_pbx_certificate_as_ca_finds_the_default_and_an_unknown_ca_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let r = registrar(Lock::Never);
    let (addr, pem) = tls_registrar(dir.path(), r.clone()).await;

    let trusted = TlsTrust {
        ca: Some(pem),
        insecure: false,
    };
    let res = audit(addr, Transport::Tls, &["201"], trusted)
        .run()
        .await
        .unwrap();
    assert!(
        matches!(&res[0].outcome, Outcome::Weak { entry_id, .. } if entry_id == "yealink-admin"),
        "{res:?}"
    );
    assert_eq!(r.attempts.load(Ordering::SeqCst), 2);

    let unknown = audit(addr, Transport::Tls, &["201"], TlsTrust::default())
        .run()
        .await;
    assert!(
        matches!(unknown, Err(AuditError::Tls { .. })),
        "{unknown:?}"
    );

    let insecure = TlsTrust {
        ca: None,
        insecure: true,
    };
    let res = audit(addr, Transport::Tls, &["203"], insecure)
        .run()
        .await
        .unwrap();
    assert_eq!(res[0].outcome, Outcome::Resisted);
    assert_eq!(res[0].attempts, res[0].tried.len());
}

#[tokio::test]
async fn a_503_after_failures_stops_the_account_there() {
    let r = registrar(Lock::Answer503 { after: 4 });
    let addr = udp_registrar(r.clone()).await;
    let res = audit(addr, Transport::Udp, &["203"], TlsTrust::default())
        .run()
        .await
        .unwrap();
    assert_eq!(res[0].outcome, Outcome::LockedOut { status: Some(503) });
    assert_eq!(res[0].attempts, 4);
    assert_eq!(r.attempts.load(Ordering::SeqCst), 4);
}

#[tokio::test]
async fn silence_after_failures_stops_the_account_there() {
    let r = registrar(Lock::Silent { after: 2 });
    let addr = udp_registrar(r.clone()).await;
    let res = audit(addr, Transport::Udp, &["203"], TlsTrust::default())
        .run()
        .await
        .unwrap();
    assert_eq!(res[0].outcome, Outcome::LockedOut { status: None });
    assert_eq!(res[0].attempts, 2);
    assert_eq!(r.attempts.load(Ordering::SeqCst), 2);
}

/// The pacing, on tokio's paused (virtual) clock: at the default 2 attempts/s the registrar sees the attempts
/// exactly 500 virtual milliseconds apart, across accounts too.
#[tokio::test(start_paused = true)]
async fn attempts_reach_the_registrar_at_the_configured_rate() {
    let r = registrar(Lock::Never);
    let addr = udp_registrar(r.clone()).await;
    let mut a = audit(addr, Transport::Udp, &["201", "203"], TlsTrust::default());
    a.rate = 2.0;
    a.wait = Duration::from_secs(30);
    let res = a.run().await.unwrap();
    let n = res[0].attempts + res[1].attempts;
    let at = r.at.lock().unwrap().clone();
    assert_eq!(at.len(), n);
    let gaps: Vec<u128> = at.windows(2).map(|w| (w[1] - w[0]).as_millis()).collect();
    assert!(gaps.iter().all(|g| *g == 500), "{gaps:?}");
}
