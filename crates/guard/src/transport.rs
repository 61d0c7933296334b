//! The network side: UDP sockets and TCP listeners/connections on tokio. Every message received (a datagram,
//! or one message framed out of a TCP stream by `sip::StreamFramer`) becomes an [`Inbound`] sent to the core;
//! the core answers with [`Outgoing`] messages, which are sent from the right socket or connection (an
//! existing connection from/to that address is reused, else one is opened).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use std::path::Path;

use sip::{Frame, StreamFramer};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;

use crate::config::{Listener, TransportKind};

/// One message received.
#[derive(Debug, Clone)]
pub struct Inbound {
    pub data: Vec<u8>,
    pub source: SocketAddr,
    /// Index of the listener (in the configuration) it arrived on; for outbound TCP connections, the
    /// listener whose address the guard advertised.
    pub listener: usize,
    pub transport: TransportKind,
    /// The TCP connection it came on.
    pub conn: Option<u64>,
    /// When it was read off the socket (the decision latency of a call is measured from here).
    pub received: std::time::Instant,
}

impl Inbound {
    /// Where answers to this message go back.
    pub fn hop(&self) -> Hop {
        Hop {
            dest: self.source,
            listener: self.listener,
            transport: self.transport,
            conn: self.conn,
        }
    }
}

/// Where to send a message: the address, the socket (listener) to send from, and the connection for TCP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hop {
    pub dest: SocketAddr,
    pub listener: usize,
    pub transport: TransportKind,
    pub conn: Option<u64>,
}

/// One message to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    pub data: Vec<u8>,
    pub hop: Hop,
}

type ConnMap = Arc<Mutex<HashMap<u64, (SocketAddr, mpsc::Sender<Vec<u8>>)>>>;

/// The sockets of a running guard.
#[derive(Clone)]
pub struct Transports {
    udp: Arc<HashMap<usize, Arc<UdpSocket>>>,
    conns: ConnMap,
    next_conn: Arc<std::sync::atomic::AtomicU64>,
    inbound: mpsc::Sender<Inbound>,
    listeners: Arc<Vec<Listener>>,
}

/// How much a TCP connection may buffer before it is closed (a stuck peer must not eat memory).
const CONN_QUEUE: usize = 1024;

impl Transports {
    /// Binds every listener and starts receiving. Messages go to `inbound`.
    pub async fn bind(
        listeners: &[Listener],
        inbound: mpsc::Sender<Inbound>,
    ) -> std::io::Result<Transports> {
        let mut udp = HashMap::new();
        let mut tcp = Vec::new();
        let mut tls = Vec::new();
        for (i, l) in listeners.iter().enumerate() {
            match l.transport {
                TransportKind::Tls => {
                    let (cert, key) = l.tls.clone().ok_or_else(|| {
                        std::io::Error::other(format!(
                            "TLS listener {} has no certificate",
                            l.address
                        ))
                    })?;
                    let cfg = tls_server_config(&cert, &key).map_err(std::io::Error::other)?;
                    let s = TcpListener::bind(l.address).await.map_err(|e| {
                        std::io::Error::new(e.kind(), format!("binding TLS {}: {e}", l.address))
                    })?;
                    tls.push((i, s, TlsAcceptor::from(Arc::new(cfg))));
                }
                TransportKind::Udp => {
                    let s = UdpSocket::bind(l.address).await.map_err(|e| {
                        std::io::Error::new(e.kind(), format!("binding UDP {}: {e}", l.address))
                    })?;
                    udp.insert(i, Arc::new(s));
                }
                TransportKind::Tcp => {
                    let s = TcpListener::bind(l.address).await.map_err(|e| {
                        std::io::Error::new(e.kind(), format!("binding TCP {}: {e}", l.address))
                    })?;
                    tcp.push((i, s));
                }
            }
        }
        let t = Transports {
            udp: Arc::new(udp),
            conns: Arc::new(Mutex::new(HashMap::new())),
            next_conn: Arc::new(std::sync::atomic::AtomicU64::new(1)),
            inbound,
            listeners: Arc::new(listeners.to_vec()),
        };
        for (i, s) in t.udp.iter() {
            let (i, s, tx) = (*i, s.clone(), t.inbound.clone());
            tokio::spawn(async move { udp_loop(i, s, tx).await });
        }
        for (i, l) in tcp {
            let t2 = t.clone();
            tokio::spawn(async move { t2.accept_loop(i, l, None).await });
        }
        for (i, l, acceptor) in tls {
            let t2 = t.clone();
            tokio::spawn(async move { t2.accept_loop(i, l, Some(acceptor)).await });
        }
        Ok(t)
    }

    /// The local address of a UDP listener (tests bind port 0).
    pub fn local_udp(&self, listener: usize) -> Option<SocketAddr> {
        self.udp.get(&listener).and_then(|s| s.local_addr().ok())
    }

    async fn accept_loop(self, listener: usize, l: TcpListener, tls: Option<TlsAcceptor>) {
        loop {
            match l.accept().await {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    match &tls {
                        None => {
                            self.spawn_conn(stream, peer, listener, TransportKind::Tcp);
                        }
                        Some(acceptor) => {
                            // The handshake runs in its own task so that a slow client cannot stall accepts.
                            let (acceptor, me) = (acceptor.clone(), self.clone());
                            tokio::spawn(async move {
                                let hs = tokio::time::timeout(
                                    std::time::Duration::from_secs(10),
                                    acceptor.accept(stream),
                                )
                                .await;
                                match hs {
                                    Ok(Ok(s)) => {
                                        me.spawn_conn(s, peer, listener, TransportKind::Tls);
                                    }
                                    Ok(Err(e)) => {
                                        tracing::info!(peer = %peer, error = %e, "TLS handshake failed")
                                    }
                                    Err(_) => {
                                        tracing::info!(peer = %peer, "TLS handshake timed out")
                                    }
                                }
                            });
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "TCP accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            }
        }
    }

    fn spawn_conn<S>(
        &self,
        stream: S,
        peer: SocketAddr,
        listener: usize,
        transport: TransportKind,
    ) -> mpsc::Sender<Vec<u8>>
    where
        S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    {
        let id = self
            .next_conn
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let (tx, mut rx) = mpsc::channel::<Vec<u8>>(CONN_QUEUE);
        if let Ok(mut m) = self.conns.lock() {
            m.insert(id, (peer, tx.clone()));
        }
        let (mut rd, mut wr) = tokio::io::split(stream);
        let conns = self.conns.clone();
        tokio::spawn(async move {
            while let Some(b) = rx.recv().await {
                if wr.write_all(&b).await.is_err() {
                    break;
                }
            }
        });
        let inbound = self.inbound.clone();
        tokio::spawn(async move {
            let mut buf: Vec<u8> = Vec::with_capacity(8192);
            let mut framer = StreamFramer::default();
            let mut chunk = vec![0u8; 16384];
            'read: loop {
                let n = match rd.read(&mut chunk).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                buf.extend_from_slice(chunk.get(..n).unwrap_or(&[]));
                loop {
                    let (msg, len) = match framer.next_frame(&buf) {
                        Ok(Frame::Message { message, len }) => {
                            (Some(message.as_bytes().to_vec()), len)
                        }
                        Ok(Frame::KeepAlive { len }) => (None, len),
                        Ok(Frame::Incomplete) => break,
                        Err(e) => {
                            tracing::info!(peer = %peer, error = %e, "closing a TCP connection whose stream cannot be framed");
                            break 'read;
                        }
                    };
                    buf.drain(..len.min(buf.len()));
                    if let Some(data) = msg {
                        let m = Inbound {
                            data,
                            source: peer,
                            listener,
                            transport,
                            conn: Some(id),
                            received: std::time::Instant::now(),
                        };
                        if inbound.send(m).await.is_err() {
                            break 'read;
                        }
                    }
                }
            }
            if let Ok(mut m) = conns.lock() {
                m.remove(&id);
            }
        });
        tx
    }

    /// Sends a message. Errors are logged, never fatal: the peers retransmit or time out.
    pub async fn send(&self, out: Outgoing) {
        let hop = out.hop;
        match hop.transport {
            TransportKind::Udp => {
                let sock = self.udp.get(&hop.listener).or_else(|| {
                    self.udp
                        .iter()
                        .find(|(i, _)| {
                            self.listeners
                                .get(**i)
                                .is_some_and(|l| l.address.is_ipv4() == hop.dest.is_ipv4())
                        })
                        .map(|(_, s)| s)
                });
                match sock {
                    Some(s) => {
                        if let Err(e) = s.send_to(&out.data, hop.dest).await {
                            tracing::debug!(dest = %hop.dest, error = %e, "UDP send failed");
                        }
                    }
                    None => tracing::warn!(dest = %hop.dest, "no UDP listener to send from"),
                }
            }
            TransportKind::Tcp | TransportKind::Tls => {
                let existing = self.conns.lock().ok().and_then(|m| {
                    hop.conn
                        .and_then(|c| m.get(&c).map(|x| x.1.clone()))
                        .or_else(|| {
                            m.values()
                                .find(|(a, _)| *a == hop.dest)
                                .map(|(_, s)| s.clone())
                        })
                });
                let sender = match existing {
                    Some(s) => s,
                    None if hop.transport == TransportKind::Tls => {
                        // The guard does not open TLS connections (phones keep theirs open).
                        tracing::info!(dest = %hop.dest, "no TLS connection to this address; message dropped");
                        return;
                    }
                    None => match TcpStream::connect(hop.dest).await {
                        Ok(stream) => {
                            let _ = stream.set_nodelay(true);
                            self.spawn_conn(stream, hop.dest, hop.listener, TransportKind::Tcp)
                        }
                        Err(e) => {
                            tracing::info!(dest = %hop.dest, error = %e, "TCP connect failed");
                            return;
                        }
                    },
                };
                if sender.try_send(out.data).is_err() {
                    tracing::info!(dest = %hop.dest, "TCP connection queue full or closed; message dropped");
                }
            }
        }
    }
}

/// A TLS server configuration from PEM files (certificate chain, private key). The error says what is wrong
/// in words for `check-config`.
pub fn tls_server_config(cert: &Path, key: &Path) -> Result<rustls::ServerConfig, String> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| format!("cannot read certificates from {}: {e}", cert.display()))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("bad certificate in {}: {e}", cert.display()))?;
    if chain.is_empty() {
        return Err(format!("no certificate in {}", cert.display()));
    }
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| format!("cannot read a private key from {}: {e}", key.display()))?;
    rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| format!("certificate and key do not fit together: {e}"))
}

async fn udp_loop(listener: usize, s: Arc<UdpSocket>, tx: mpsc::Sender<Inbound>) {
    let mut buf = vec![0u8; 65_536];
    loop {
        match s.recv_from(&mut buf).await {
            Ok((n, source)) => {
                let data = buf.get(..n).unwrap_or(&[]).to_vec();
                let m = Inbound {
                    data,
                    source,
                    listener,
                    transport: TransportKind::Udp,
                    conn: None,
                    received: std::time::Instant::now(),
                };
                if tx.send(m).await.is_err() {
                    return;
                }
            }
            Err(e) => {
                // ICMP port unreachable surfaces here on some systems: not a reason to stop.
                tracing::debug!(error = %e, "UDP receive error");
            }
        }
    }
}
