//! The HTTP surface: router assembly ([`router`]) and the [`EmbeddedRegistry`] lifecycle.
//!
//! A served instance binds, serves in a task and shuts down gracefully, loading and saving
//! `storage_dir` around it.

use super::auth;
use super::config::RegistryConfig;
use super::endpoints::blobs;
use super::routing;
use super::shared::Shared;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{any, get};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Uploads are buffered in memory; this bounds a single request body.
const BODY_LIMIT: usize = 128 * 1024 * 1024;

/// How long [`EmbeddedRegistry::shutdown`] waits for open connections before giving up.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// The registry as an axum router with fresh, empty state, for in-process use. (Only
/// [`EmbeddedRegistry`] loads and saves `storage_dir`; here it is used by `/admin/restart`.)
pub fn router(config: RegistryConfig) -> Router {
    app(Arc::new(Shared::new(config)))
}

fn app(shared: Arc<Shared>) -> Router {
    let mut routes = Router::new()
        .route("/v2/", get(routing::base))
        .route("/v2", get(routing::base))
        .route("/v2/{*rest}", any(routing::dispatch))
        .route("/token", get(auth::token))
        .route("/direct/blobs/{digest}", get(blobs::direct_blob));
    if shared.config.admin {
        routes = routes.merge(super::admin::routes());
    }
    routes
        .fallback(routing::not_found)
        .layer(axum::middleware::from_fn_with_state(shared.config.chaos, super::chaos::middleware))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(shared)
}

/// A registry served on a local socket until [`shutdown`](EmbeddedRegistry::shutdown) or drop.
#[derive(Debug)]
pub struct EmbeddedRegistry {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl EmbeddedRegistry {
    /// Binds `addr` (port 0 picks a free port) and serves the registry in a background task.
    /// With a `storage_dir`, the store is first loaded from it (an unreadable or corrupt state
    /// is an error; a directory without state is an empty registry).
    pub async fn start(config: RegistryConfig, addr: SocketAddr) -> std::io::Result<EmbeddedRegistry> {
        let shared = Arc::new(Shared::new(config));
        if let Some(dir) = shared.config.storage_dir.clone() {
            let state = tokio::task::spawn_blocking(move || super::persist::load(&dir))
                .await
                .map_err(std::io::Error::other)??;
            *shared.store.lock() = state;
        }
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = oneshot::channel::<()>();
        let app = app(shared.clone());
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    // A dropped sender also means stop.
                    let _ = stopped.await;
                })
                .await
        });
        tracing::debug!(%addr, "embedded registry listening");
        Ok(EmbeddedRegistry {
            addr,
            shared,
            stop: Some(stop),
            task: Some(task),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Base URL, e.g. `http://127.0.0.1:5000`; an unspecified bind address is reported as
    /// loopback so the URL is always dialable.
    pub fn url(&self) -> String {
        let mut addr = self.addr;
        if addr.ip().is_unspecified() {
            addr.set_ip(if addr.is_ipv4() {
                [127, 0, 0, 1].into()
            } else {
                std::net::Ipv6Addr::LOCALHOST.into()
            });
        }
        format!("http://{addr}")
    }

    /// Stops accepting connections, lets open ones finish and waits for the server task
    /// (aborting it after a grace period so a stuck client cannot hang the caller); then, with
    /// a `storage_dir`, saves the store there (a failure is logged).
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(mut task) = self.task.take() {
            match tokio::time::timeout(SHUTDOWN_GRACE, &mut task).await {
                Ok(Ok(Ok(()))) => {}
                Ok(Ok(Err(e))) => tracing::warn!(error = %e, "embedded registry stopped with an error"),
                Ok(Err(e)) => tracing::warn!(error = %e, "embedded registry task failed"),
                Err(_) => {
                    tracing::warn!("embedded registry did not stop in time; aborting");
                    task.abort();
                }
            }
        }
        if let Some(dir) = self.shared.config.storage_dir.clone() {
            let shared = self.shared.clone();
            let saved = tokio::task::spawn_blocking(move || super::persist::save(&dir, &shared.store.lock())).await;
            match saved {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::error!(error = %e, "embedded registry state could not be saved"),
                Err(e) => tracing::error!(error = %e, "embedded registry state save failed"),
            }
        }
    }
}

impl Drop for EmbeddedRegistry {
    /// Signals shutdown without waiting; the task winds down on its own.
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
