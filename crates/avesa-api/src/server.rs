//! Serving the router over TCP with bounds axum's `serve` does not offer: a cap on open
//! connections, a deadline for a request's headers (which also closes a keep-alive
//! connection idle that long), and the peer's address for per-client limits.
//!
//! Built on hyper's HTTP/1 connection (the same hyper axum runs on); the per-request
//! deadline is a layer of the router ([`crate::router`]).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::ServiceExt;

/// Connection-level bounds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServeOptions {
    /// Connections open at once; at the cap, new ones wait in the listen backlog.
    pub max_connections: usize,
    /// How long a client may take to send a request's headers, and how long a
    /// keep-alive connection may sit idle.
    pub header_timeout: Duration,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions { max_connections: 1024, header_timeout: Duration::from_secs(10) }
    }
}

/// Serves `app` on `listener` until the task is dropped. Requests carry the peer's
/// address as [`ConnectInfo<SocketAddr>`].
pub async fn serve(listener: TcpListener, app: Router, opts: ServeOptions) {
    let slots = Arc::new(Semaphore::new(opts.max_connections.max(1)));
    loop {
        let Ok(slot) = slots.clone().acquire_owned().await else { return };
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of file descriptors and the like: wait rather than spin.
                tracing::warn!(error = %e, "cannot accept a connection");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let header_timeout = opts.header_timeout;
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
                let mut req = req.map(Body::new);
                req.extensions_mut().insert(ConnectInfo(peer));
                let app = app.clone();
                async move { Ok::<_, Infallible>(app.oneshot(req).await.unwrap_or_else(|e| match e {})) }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(header_timeout)
                .serve_connection(TokioIo::new(stream), service);
            if let Err(e) = conn.await {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
            drop(slot);
        });
    }
}

/// The peer of a request served by [`serve`], if known (not in in-process tests).
pub fn peer_of(extensions: &axum::http::Extensions) -> Option<SocketAddr> {
    extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0)
}
