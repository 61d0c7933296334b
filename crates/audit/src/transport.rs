//! One SIP connection from the auditor to the PBX over UDP, TCP or TLS, and the responses it reads back. UDP
//! requests are retransmitted with the RFC 3261 timer T1 doubling until an answer or the deadline.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::time::{Instant, timeout_at};
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore};

use crate::AuditError;
use crate::target::{Target, Transport};

/// How to trust the PBX's TLS certificate.
#[derive(Debug, Clone, Default)]
pub struct TlsTrust {
    /// A PEM file of CA certificates (a self-signed PBX certificate itself works).
    pub ca: Option<PathBuf>,
    /// Accept any certificate: only for a PBX you reach over a network you trust.
    pub insecure: bool,
}

/// A response, copied out of the receive buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub reason: String,
    pub cseq_method: String,
    pub server: Option<String>,
    pub www_authenticate: Vec<String>,
    pub proxy_authenticate: Vec<String>,
    pub to: Option<String>,
}

impl Response {
    fn parse(bytes: &[u8]) -> Option<(String, Response)> {
        let m = sip::Message::parse(bytes).ok()?;
        let status = m.status()?;
        let values = |h| m.header_all(h).map(str::to_owned).collect();
        let r = Response {
            status,
            reason: m.reason_phrase().unwrap_or("").to_owned(),
            cseq_method: m
                .cseq()
                .map(|c| c.method.as_str().to_owned())
                .unwrap_or_default(),
            server: m.server().or(m.user_agent()).map(str::to_owned),
            www_authenticate: values(sip::HeaderName::WwwAuthenticate),
            proxy_authenticate: values(sip::HeaderName::ProxyAuthenticate),
            to: m.header(sip::HeaderName::To).map(str::to_owned),
        };
        Some((m.call_id()?.to_owned(), r))
    }
}

trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

enum Link {
    Udp(UdpSocket),
    Stream {
        io: Box<dyn Stream>,
        buf: Vec<u8>,
        framer: sip::StreamFramer,
    },
}

/// A connection to one PBX address.
pub struct Connection {
    link: Link,
    pub local: SocketAddr,
    pub target: Target,
}

const T1: Duration = Duration::from_millis(500);

impl Connection {
    /// Opens the connection (binds a UDP socket; connects TCP; connects and handshakes TLS).
    pub async fn open(
        target: &Target,
        trust: &TlsTrust,
        wait: Duration,
    ) -> Result<Connection, AuditError> {
        let io = |e: std::io::Error| AuditError::Io {
            what: format!(
                "connecting to {} over {}",
                target.addr,
                target.transport.via()
            ),
            source: e,
        };
        let deadline = Instant::now() + wait;
        let link = match target.transport {
            Transport::Udp => {
                let any: SocketAddr = if target.addr.is_ipv4() {
                    "0.0.0.0:0"
                } else {
                    "[::]:0"
                }
                .parse()
                .map_err(|_| AuditError::BadTarget(target.host.clone()))?;
                let s = UdpSocket::bind(any).await.map_err(io)?;
                s.connect(target.addr).await.map_err(io)?;
                Link::Udp(s)
            }
            Transport::Tcp | Transport::Tls => {
                let tcp = timeout_at(deadline, TcpStream::connect(target.addr))
                    .await
                    .map_err(|_| AuditError::Timeout(target.addr))?
                    .map_err(io)?;
                let io_box: Box<dyn Stream> = if target.transport == Transport::Tls {
                    let tls = tls_connect(tcp, target, trust, deadline).await?;
                    Box::new(tls)
                } else {
                    Box::new(tcp)
                };
                Link::Stream {
                    io: io_box,
                    buf: Vec::new(),
                    framer: sip::StreamFramer::default(),
                }
            }
        };
        let local = match &link {
            Link::Udp(s) => s.local_addr().map_err(io)?,
            Link::Stream { .. } => local_of(target).await,
        };
        Ok(Connection {
            link,
            local,
            target: target.clone(),
        })
    }

    /// Sends `request` and returns the first response of the transaction (`call_id`, `cseq_method`) other
    /// than 100 Trying, or `None` at the deadline.
    pub async fn transact(
        &mut self,
        request: &str,
        call_id: &str,
        cseq_method: &str,
        wait: Duration,
    ) -> Result<Option<Response>, AuditError> {
        self.send(request).await?;
        let deadline = Instant::now() + wait;
        let mut retransmit = Instant::now() + T1;
        let mut interval = T1;
        loop {
            let until = if matches!(self.link, Link::Udp(_)) {
                retransmit.min(deadline)
            } else {
                deadline
            };
            match self.recv_until(until).await? {
                Some((cid, r))
                    if cid == call_id && r.cseq_method == cseq_method && r.status != 100 =>
                {
                    return Ok(Some(r));
                }
                Some(_) => {}
                None if Instant::now() >= deadline => return Ok(None),
                None => {
                    self.send(request).await?;
                    interval = (interval * 2).min(Duration::from_secs(4));
                    retransmit = Instant::now() + interval;
                }
            }
        }
    }

    /// Waits for the next response of the transaction without sending anything (a final answer after a
    /// provisional one).
    pub async fn receive(
        &mut self,
        call_id: &str,
        cseq_method: &str,
        wait: Duration,
    ) -> Result<Option<Response>, AuditError> {
        let deadline = Instant::now() + wait;
        loop {
            match self.recv_until(deadline).await? {
                Some((cid, r))
                    if cid == call_id && r.cseq_method == cseq_method && r.status >= 200 =>
                {
                    return Ok(Some(r));
                }
                Some(_) => {}
                None => return Ok(None),
            }
        }
    }

    /// Sends a request that has no response to wait for (ACK) or whose response does not matter.
    pub async fn send(&mut self, request: &str) -> Result<(), AuditError> {
        let addr = self.target.addr;
        let io = |e| AuditError::Io {
            what: format!("sending to {addr}"),
            source: e,
        };
        match &mut self.link {
            Link::Udp(s) => s.send(request.as_bytes()).await.map(|_| ()).map_err(io),
            Link::Stream { io: st, .. } => {
                st.write_all(request.as_bytes()).await.map_err(io)?;
                st.flush().await.map_err(io)
            }
        }
    }

    async fn recv_until(
        &mut self,
        until: Instant,
    ) -> Result<Option<(String, Response)>, AuditError> {
        let addr = self.target.addr;
        match &mut self.link {
            Link::Udp(s) => loop {
                let mut b = vec![0u8; 65_535];
                match timeout_at(until, s.recv(&mut b)).await {
                    Err(_) => return Ok(None),
                    // ICMP port unreachable: nobody listens; the same as silence.
                    Ok(Err(_)) => {
                        tokio::time::sleep_until(until).await;
                        return Ok(None);
                    }
                    Ok(Ok(n)) => {
                        if let Some(r) = Response::parse(&b[..n]) {
                            return Ok(Some(r));
                        }
                    }
                }
            },
            Link::Stream { io, buf, framer } => loop {
                if let Some(r) = next_message(framer, buf) {
                    return Ok(Some(r));
                }
                let mut chunk = [0u8; 8192];
                match timeout_at(until, io.read(&mut chunk)).await {
                    Err(_) => return Ok(None),
                    Ok(Ok(0)) | Ok(Err(_)) => return Err(AuditError::Closed(addr)),
                    Ok(Ok(n)) => buf.extend_from_slice(&chunk[..n]),
                }
            },
        }
    }
}

/// Takes one framed message off the front of `buf`, if complete; keep-alives and junk are dropped.
fn next_message(framer: &mut sip::StreamFramer, buf: &mut Vec<u8>) -> Option<(String, Response)> {
    loop {
        let (len, parsed) = match framer.next_frame(buf) {
            Ok(sip::Frame::Message { message, len }) => (len, Response::parse(message.as_bytes())),
            Ok(sip::Frame::KeepAlive { len }) => (len, None),
            Ok(sip::Frame::Incomplete) => return None,
            Err(_) => {
                buf.clear();
                return None;
            }
        };
        buf.drain(..len.min(buf.len()));
        if parsed.is_some() {
            return parsed;
        }
    }
}

/// The local address the system would use towards the target (for Via and Contact on TCP/TLS).
async fn local_of(target: &Target) -> SocketAddr {
    let any: SocketAddr = if target.addr.is_ipv4() {
        ([0, 0, 0, 0], 0).into()
    } else {
        ([0u16; 8], 0).into()
    };
    match UdpSocket::bind(any).await {
        Ok(s) if s.connect(target.addr).await.is_ok() => s.local_addr().unwrap_or(any),
        _ => any,
    }
}

async fn tls_connect(
    tcp: TcpStream,
    target: &Target,
    trust: &TlsTrust,
    deadline: Instant,
) -> Result<tokio_rustls::client::TlsStream<TcpStream>, AuditError> {
    let config = client_config(trust)?;
    let name_text = target
        .host
        .trim_matches(|c| c == '[' || c == ']')
        .to_owned();
    let name = rustls_pki_types::ServerName::try_from(name_text)
        .map_err(|_| AuditError::BadTarget(target.host.clone()))?;
    timeout_at(
        deadline,
        TlsConnector::from(Arc::new(config)).connect(name, tcp),
    )
    .await
    .map_err(|_| AuditError::Timeout(target.addr))?
    .map_err(|e| AuditError::Tls {
        target: target.addr,
        detail: e.to_string(),
    })
}

/// The rustls client configuration for `trust`.
pub fn client_config(trust: &TlsTrust) -> Result<ClientConfig, AuditError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| AuditError::TlsSetup(e.to_string()))?;
    if trust.insecure {
        return Ok(builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
            .with_no_client_auth());
    }
    let mut roots = RootCertStore::empty();
    if let Some(path) = &trust.ca {
        let pem = std::fs::read(path).map_err(|e| AuditError::Io {
            what: format!("CA file {}", path.display()),
            source: e,
        })?;
        use rustls_pki_types::pem::PemObject as _;
        for cert in rustls_pki_types::CertificateDer::pem_slice_iter(&pem) {
            let cert =
                cert.map_err(|e| AuditError::TlsSetup(format!("{}: {e}", path.display())))?;
            roots
                .add(cert)
                .map_err(|e| AuditError::TlsSetup(format!("{}: {e}", path.display())))?;
        }
    }
    Ok(builder.with_root_certificates(roots).with_no_client_auth())
}

/// `--insecure`: checks the handshake signatures but not who signed the certificate.
#[derive(Debug)]
struct AnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _: &rustls_pki_types::CertificateDer<'_>,
        _: &[rustls_pki_types::CertificateDer<'_>],
        _: &rustls_pki_types::ServerName<'_>,
        _: &[u8],
        _: rustls_pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls_pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls_pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }
    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
