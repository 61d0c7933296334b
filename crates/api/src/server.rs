//! Starting the API: the first admin token, the store files' permissions, the listening socket (plain on
//! loopback, HTTPS with rustls elsewhere), and serving until shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::connect_info::Connected;
use axum::serve::IncomingStream;
use store::{AuditEntry, Store};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio_rustls::TlsAcceptor;

use crate::auth::{LoginLimiter, Principal, Role, TokenBook, TokenEntry, new_token};
use crate::config::ApiConfig;
use crate::error::ServeError;
use crate::metrics::Metrics;
use crate::state::{AppState, Inner, PeerAddr, wall_ms};

/// Where the tokens are kept.
fn token_path(config: &ApiConfig, store_path: &Path) -> PathBuf {
    config
        .token_file
        .clone()
        .unwrap_or_else(|| store_path.to_path_buf())
}

/// Creates the database file with mode 0600 if it does not exist yet (SQLite gives its -wal and -shm files
/// the same mode), and restricts an existing one (and its -wal/-shm) to 0600.
pub fn restrict_store_files(path: &Path) -> Result<(), ServeError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        let err = |p: &Path| {
            let path = p.display().to_string();
            move |source| ServeError::Permissions { path, source }
        };
        if !path.exists() {
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
            {
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(err(path)(e)),
            }
        }
        let mut files = vec![path.to_path_buf()];
        for suffix in ["-wal", "-shm"] {
            let mut s = path.as_os_str().to_owned();
            s.push(suffix);
            files.push(PathBuf::from(s));
        }
        for f in files {
            if f.exists() {
                std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600))
                    .map_err(err(&f))?;
            }
        }
    }
    Ok(())
}

fn open_store(path: &Path) -> Result<Store, ServeError> {
    restrict_store_files(path)?;
    let s = Store::open(path)?;
    restrict_store_files(path)?;
    Ok(s)
}

/// On the first start (no active admin token without a tenant scope), creates an admin token and returns
/// it, for `tollguard serve` to print once: only its hash is stored, so it cannot be shown again. Returns
/// `None` when an admin token exists. Also restricts the database files to mode 0600.
///
/// Revoking every unscoped admin token and restarting creates a new one: whoever can restart the service
/// on the host can regain control, nobody else.
pub fn bootstrap_admin(
    config: &ApiConfig,
    store_path: &Path,
) -> Result<Option<String>, ServeError> {
    let tokens_at = token_path(config, store_path);
    let tokens = open_store(&tokens_at)?;
    let has_admin = tokens
        .tokens()?
        .iter()
        .any(|t| t.revoked_at.is_none() && t.role == "admin" && t.tenants.is_none());
    if has_admin {
        return Ok(None);
    }
    let t = new_token().map_err(|e| ServeError::Random(e.to_string()))?;
    let now = wall_ms();
    tokens.insert_token(
        &t.id,
        &t.hash_hex,
        Role::Admin.as_str(),
        None,
        "first admin token (created at first start)",
        (now, "tollguard"),
    )?;
    let audit = AuditEntry {
        at: now,
        actor: "tollguard".into(),
        tenant: String::new(),
        action: "token.create".into(),
        detail: format!(
            "{} (admin, every tenant): first admin token, printed once at start",
            t.id
        ),
    };
    if tokens_at == store_path {
        tokens.audit(&audit)?;
    } else {
        open_store(store_path)?.audit(&audit)?;
    }
    Ok(Some(t.text))
}

/// The API, bound to its address and ready to serve.
pub struct BoundApi {
    listener: ApiListener,
    state: AppState,
    local_addr: SocketAddr,
    stop_streams: watch::Sender<bool>,
}

impl std::fmt::Debug for BoundApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BoundApi")
            .field("local_addr", &self.local_addr)
            .finish()
    }
}

/// Checks the configuration, opens the store and the tokens, and binds the address (port 0: any free
/// port; [`BoundApi::local_addr`] says which).
pub async fn bind(
    config: ApiConfig,
    handle: decide::control::GuardHandle,
    store_path: PathBuf,
) -> Result<BoundApi, ServeError> {
    config.check().map_err(ServeError::Config)?;
    let tls = match (&config.tls_cert, &config.tls_key) {
        (Some(c), Some(k)) => {
            let mut sc = decide::tls::server_config(c, k).map_err(ServeError::Tls)?;
            sc.alpn_protocols = vec![b"http/1.1".to_vec()];
            Some(TlsAcceptor::from(Arc::new(sc)))
        }
        _ => None,
    };
    let tokens_at = token_path(&config, &store_path);
    let (store, token_store) = {
        let sp = store_path.clone();
        let ta = tokens_at.clone();
        tokio::task::spawn_blocking(move || -> Result<_, ServeError> {
            let store = Arc::new(Mutex::new(open_store(&sp)?));
            let token_store = if ta == sp {
                store.clone()
            } else {
                Arc::new(Mutex::new(open_store(&ta)?))
            };
            Ok((store, token_store))
        })
        .await
        .map_err(|e| ServeError::Io(std::io::Error::other(e.to_string())))??
    };
    let book = TokenBook::default();
    {
        let ts = token_store
            .lock()
            .map_err(|_| ServeError::Io(std::io::Error::other("token store lock poisoned")))?;
        let mut entries = Vec::new();
        for t in ts.tokens()? {
            let mut hash = [0u8; 32];
            let Some(role) = Role::parse(&t.role) else {
                tracing::warn!(token_id = %t.id, role = %t.role, "API token with an unknown role ignored");
                continue;
            };
            if hex::decode_to_slice(&t.hash, &mut hash).is_err() {
                tracing::warn!(token_id = %t.id, "API token with a damaged hash ignored");
                continue;
            }
            entries.push(TokenEntry {
                hash,
                principal: Principal {
                    id: t.id,
                    label: t.label,
                    role,
                    tenants: t.tenants,
                },
                revoked: t.revoked_at.is_some(),
            });
        }
        if !entries.iter().any(|e| !e.revoked) {
            tracing::warn!(
                "the API has no active token: nobody can use it (the first start creates an admin token)"
            );
        }
        book.replace_all(entries);
    }
    let tcp = TcpListener::bind(config.listen)
        .await
        .map_err(|source| ServeError::Bind {
            address: config.listen,
            source,
        })?;
    let local_addr = tcp.local_addr()?;
    let (ready_tx, ready_rx) = mpsc::channel(64);
    let (stop_streams, stop_rx) = watch::channel(false);
    let metrics = Metrics::new();
    metrics.watch_guard(handle.clone());
    let numbering = numbering::Numbering::from_config(&handle.view().numbering)
        .map(Arc::new)
        .unwrap_or_else(|_| Arc::new(numbering::Numbering::japan_defaults()));
    let state = AppState(Arc::new(Inner {
        numbering,
        handle,
        limiter: LoginLimiter::new(config.failed_logins_per_minute),
        config,
        store,
        token_store,
        tokens: book,
        metrics: Arc::new(metrics),
        stop: stop_rx,
    }));
    Ok(BoundApi {
        listener: ApiListener {
            tcp,
            tls,
            ready_tx,
            ready_rx,
        },
        state,
        local_addr,
        stop_streams,
    })
}

impl BoundApi {
    /// The address actually bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Whether the API serves HTTPS.
    pub fn tls(&self) -> bool {
        self.listener.tls.is_some()
    }

    /// Exports the notifier's delivery counters by channel in `/metrics` (`tollguard_notify_*_total`).
    pub fn with_notifier(self, notifier: crate::notify::Notifier) -> BoundApi {
        self.state.metrics.watch_notifier(notifier);
        self
    }

    /// Serves until `shutdown` completes; event streams are closed then, and requests in flight finish.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServeError> {
        let BoundApi {
            listener,
            state,
            local_addr,
            stop_streams,
        } = self;
        tracing::info!(address = %local_addr, tls = listener.tls.is_some(), "operator API listening");
        let app = crate::routes::router(state);
        let result = axum::serve(
            listener,
            app.into_make_service_with_connect_info::<PeerAddr>(),
        )
        .with_graceful_shutdown(async move {
            shutdown.await;
            let _ = stop_streams.send(true);
        })
        .await;
        result.map_err(ServeError::Io)
    }
}

/// Binds and serves until `shutdown` completes: what `tollguard serve` runs next to the guard.
pub async fn serve(
    config: ApiConfig,
    handle: decide::control::GuardHandle,
    store_path: PathBuf,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    bind(config, handle, store_path).await?.run(shutdown).await
}

/// The API's listening socket: plain TCP, or TCP with TLS handshakes done in their own tasks (a slow
/// client cannot hold up the others).
struct ApiListener {
    tcp: TcpListener,
    tls: Option<TlsAcceptor>,
    ready_tx: mpsc::Sender<(ApiStream, SocketAddr)>,
    ready_rx: mpsc::Receiver<(ApiStream, SocketAddr)>,
}

/// How long a client may take for its TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

impl axum::serve::Listener for ApiListener {
    type Io = ApiStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (ApiStream, SocketAddr) {
        loop {
            let Some(acceptor) = self.tls.clone() else {
                match self.tcp.accept().await {
                    Ok((s, a)) => return (ApiStream::Plain(s), a),
                    Err(e) => {
                        tracing::debug!(error = %e, "API accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                }
            };
            tokio::select! {
                r = self.tcp.accept() => match r {
                    Ok((s, a)) => {
                        let tx = self.ready_tx.clone();
                        tokio::spawn(async move {
                            match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(s)).await {
                                Ok(Ok(tls)) => {
                                    let _ = tx.send((ApiStream::Tls(Box::new(tls)), a)).await;
                                }
                                Ok(Err(e)) => tracing::debug!(peer = %a, error = %e, "API TLS handshake failed"),
                                Err(_) => tracing::debug!(peer = %a, "API TLS handshake timed out"),
                            }
                        });
                    }
                    Err(e) => {
                        tracing::debug!(error = %e, "API accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                },
                Some(ready) = self.ready_rx.recv() => return ready,
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.tcp.local_addr()
    }
}

impl Connected<IncomingStream<'_, ApiListener>> for PeerAddr {
    fn connect_info(stream: IncomingStream<'_, ApiListener>) -> Self {
        PeerAddr(*stream.remote_addr())
    }
}

/// A connection to the API.
pub(crate) enum ApiStream {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
}

impl AsyncRead for ApiStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            ApiStream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            ApiStream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for ApiStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            ApiStream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            ApiStream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            ApiStream::Plain(s) => Pin::new(s).poll_flush(cx),
            ApiStream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            ApiStream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            ApiStream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            ApiStream::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            ApiStream::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            ApiStream::Plain(s) => s.is_write_vectored(),
            ApiStream::Tls(s) => s.is_write_vectored(),
        }
    }
}
