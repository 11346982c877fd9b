//! The `ceiling` workload's stub: an in-process HTTP server on 127.0.0.1 that answers every
//! request with the same referrers-shaped body. What the load generator reaches against it is
//! the machine's own limit, measured in the same run as the registry.

use axum::body::Bytes;
use axum::http::header;
use axum::response::IntoResponse;
use std::net::SocketAddr;

pub struct Stub {
    addr: SocketAddr,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl Stub {
    pub async fn start(body: Vec<u8>) -> std::io::Result<Stub> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let body = Bytes::from(body);
        let app = axum::Router::new().fallback(move || {
            let body = body.clone();
            async move { ([(header::CONTENT_TYPE, crate::oci::media::IMAGE_INDEX)], body).into_response() }
        });
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
        });
        Ok(Stub { addr, stop, task })
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops serving; waits at most 5 s for open connections.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        let abort = self.task.abort_handle();
        if tokio::time::timeout(std::time::Duration::from_secs(5), self.task).await.is_err() {
            abort.abort();
        }
    }
}
