//! Sockets: the accept loop for plain HTTP (HTTP/1.1 and h2c prior knowledge) and HTTPS
//! (HTTP/1.1 and HTTP/2 via ALPN), connection limits and graceful shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt as _;

use crate::backend::OcrBackend;
use crate::http::{router, AppConfig, AppState};
use crate::store::{format_ts, unix_now, KeyRecord, KeyStore};

#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// Everything `serve` needs.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// Address to listen on, e.g. `127.0.0.1:8080`, `0.0.0.0:8443`, `[::]:8080`,
    /// `localhost:8080`.
    pub listen: String,
    /// SQLite file path, `sqlite:` URL or `postgres://` URL.
    pub database: String,
    /// HTTPS when set, plain HTTP otherwise.
    pub tls: Option<TlsFiles>,
    pub app: AppConfig,
    /// Create and print one key when the key table is empty.
    pub initial_key: bool,
    /// Open connections at most; more are closed at once.
    pub max_connections: usize,
    /// On SIGTERM/Ctrl-C: stop accepting, then wait this long for open requests.
    pub shutdown_grace: Duration,
    /// HTTP/2 streams per connection at most.
    pub http2_max_streams: u32,
}

impl Default for ServeConfig {
    fn default() -> Self {
        ServeConfig {
            listen: "127.0.0.1:8080".into(),
            database: "wenzi.db".into(),
            tls: None,
            app: AppConfig::default(),
            initial_key: true,
            max_connections: 10_000,
            shutdown_grace: Duration::from_secs(30),
            http2_max_streams: 64,
        }
    }
}

/// A bound, not yet running server.
pub struct Server {
    listener: TcpListener,
    state: AppState,
    router: Router,
    tls: Option<TlsAcceptor>,
    cfg: ServeConfig,
    initial_key: Option<KeyRecord>,
}

/// Open the database (creating it and its table if needed), create the initial key if the
/// table is empty, start the worker pool and bind the socket.
pub async fn bind(cfg: ServeConfig, backend: Arc<dyn OcrBackend>) -> anyhow::Result<Server> {
    let tls = match &cfg.tls {
        Some(t) => Some(TlsAcceptor::from(crate::tls::load_server_config(
            &t.cert, &t.key,
        )?)),
        None => None,
    };
    let store = KeyStore::open(&cfg.database)
        .await
        .with_context(|| format!("opening key database {}", redact(&cfg.database)))?;
    let initial_key = if cfg.initial_key {
        store.ensure_initial_key(unix_now()).await?
    } else {
        None
    };
    let addr = tokio::net::lookup_host(&cfg.listen)
        .await
        .with_context(|| format!("resolving listen address {}", cfg.listen))?
        .next()
        .with_context(|| format!("no address for {}", cfg.listen))?;
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("listening on {addr}"))?;
    let state = AppState::new(cfg.app.clone(), store, backend);
    let router = router(state.clone());
    Ok(Server {
        listener,
        state,
        router,
        tls,
        cfg,
        initial_key,
    })
}

/// Hide the password of a database URL in messages.
pub fn redact(db: &str) -> String {
    if let (Some(scheme_end), Some(at)) = (db.find("://"), db.rfind('@')) {
        let cred = &db[scheme_end + 3..at];
        if let Some(colon) = cred.find(':') {
            return format!(
                "{}{}:***{}",
                &db[..scheme_end + 3],
                &cred[..colon],
                &db[at..]
            );
        }
    }
    db.to_string()
}

impl Server {
    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().expect("bound listener")
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// The key created on this start because the key table was empty.
    pub fn initial_key(&self) -> Option<&KeyRecord> {
        self.initial_key.as_ref()
    }

    /// Serve until SIGTERM or Ctrl-C.
    pub async fn run(self) -> anyhow::Result<()> {
        self.run_until(shutdown_signal()).await
    }

    /// Serve until `shutdown` completes, then finish open requests (up to the grace time).
    pub async fn run_until(self, shutdown: impl Future<Output = ()> + Send) -> anyhow::Result<()> {
        let Server {
            listener,
            state,
            router,
            tls,
            cfg,
            ..
        } = self;
        let addr = listener.local_addr()?;
        tracing::info!(
            %addr,
            tls = tls.is_some(),
            workers = cfg.app.workers,
            queue = cfg.app.queue_size,
            database = %redact(&cfg.database),
            "wenzi server listening"
        );
        let sweeper = {
            let state = state.clone();
            tokio::spawn(async move {
                let mut t = tokio::time::interval(Duration::from_secs(10));
                loop {
                    t.tick().await;
                    state.sweep();
                }
            })
        };
        let mut builder = auto::Builder::new(TokioExecutor::new());
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(Duration::from_secs(30))
            .keep_alive(true);
        builder
            .http2()
            .timer(TokioTimer::new())
            .max_concurrent_streams(cfg.http2_max_streams)
            .keep_alive_interval(Some(Duration::from_secs(30)));
        let slots = Arc::new(Semaphore::new(cfg.max_connections.max(1)));
        let graceful = GracefulShutdown::new();
        tokio::pin!(shutdown);
        loop {
            let (tcp, peer) = tokio::select! {
                r = listener.accept() => match r {
                    Ok(x) => x,
                    Err(e) => {
                        // e.g. too many open files: back off instead of spinning
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
                _ = &mut shutdown => break,
            };
            let Ok(permit) = slots.clone().try_acquire_owned() else {
                state
                    .metrics()
                    .connections_refused
                    .fetch_add(1, Ordering::Relaxed);
                drop(tcp);
                continue;
            };
            let _ = tcp.set_nodelay(true);
            let svc = TowerToHyperService::new(router.clone().map_request(
                move |mut req: http::Request<Incoming>| {
                    req.extensions_mut().insert(ConnectInfo(peer));
                    req
                },
            ));
            let builder = builder.clone();
            let tls = tls.clone();
            let watcher = graceful.watcher();
            let state = state.clone();
            tokio::spawn(async move {
                let _permit = permit;
                let m = state.metrics();
                m.connections.fetch_add(1, Ordering::Relaxed);
                let r = match tls {
                    Some(acceptor) => {
                        match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp))
                            .await
                        {
                            Ok(Ok(stream)) => {
                                let conn = builder.serve_connection(TokioIo::new(stream), svc);
                                watcher.watch(conn.into_owned()).await
                            }
                            Ok(Err(e)) => {
                                m.tls_handshake_failures.fetch_add(1, Ordering::Relaxed);
                                tracing::debug!(%peer, error = %e, "TLS handshake failed");
                                Ok(())
                            }
                            Err(_) => {
                                m.tls_handshake_failures.fetch_add(1, Ordering::Relaxed);
                                tracing::debug!(%peer, "TLS handshake timed out");
                                Ok(())
                            }
                        }
                    }
                    None => {
                        let conn = builder.serve_connection(TokioIo::new(tcp), svc);
                        watcher.watch(conn.into_owned()).await
                    }
                };
                if let Err(e) = r {
                    tracing::debug!(%peer, error = %e, "connection ended with an error");
                }
                m.connections.fetch_sub(1, Ordering::Relaxed);
            });
        }
        drop(listener);
        tracing::info!("shutting down: finishing open requests");
        tokio::select! {
            _ = graceful.shutdown() => {}
            _ = tokio::time::sleep(cfg.shutdown_grace) => {
                tracing::warn!("grace time over; closing remaining connections");
            }
        }
        sweeper.abort();
        state.store().close().await;
        Ok(())
    }
}

/// Completes on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}

/// Bind and serve until SIGTERM/Ctrl-C. Prints the initial key (if one was created) on
/// stdout.
pub async fn serve(cfg: ServeConfig, backend: Arc<dyn OcrBackend>) -> anyhow::Result<()> {
    let server = bind(cfg, backend).await?;
    if let Some(k) = server.initial_key() {
        println!(
            "No app keys existed, so one was created (name \"{}\", unlimited, created {}):\n{}",
            k.name,
            format_ts(k.created),
            k.key
        );
        tracing::info!(key_prefix = &k.key[..8], "created the initial app key");
    }
    let scheme = if server.tls.is_some() {
        "https"
    } else {
        "http"
    };
    println!(
        "wenzi server on {scheme}://{} (demo page at /, API at {})",
        server.local_addr(),
        crate::http::API_PATH
    );
    server.run().await
}
