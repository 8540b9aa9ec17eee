//! Serving a router on a listener: HTTP/1.1 connections, graceful shutdown,
//! and the SIGHUP reload of API keys.
//!
//! Not `axum::serve`, so the connection settings are ours: HTTP/1.1 only
//! (TLS and HTTP/2 belong to the proxy in front), `TCP_NODELAY`, accept
//! errors backed off. Per request it costs the same instructions as
//! `axum::serve` (bench/instructions.sh on the ceiling server, which uses
//! this function too); the wrk A/Bs that showed less CPU were within noise.

use std::future::Future;
use std::io;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tower::ServiceExt;

/// Serves `app` on `listener` until `shutdown` completes, then stops
/// accepting, lets every connection finish its request in flight (idle
/// keep-alive connections close at once) and returns.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send,
) -> io::Result<()> {
    let connections = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    backoff(&e).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Responses go out in one write; no reason to wait for an ACK.
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
            app.clone().oneshot(req.map(Body::new))
        });
        let conn = hyper::server::conn::http1::Builder::new()
            .serve_connection(TokioIo::new(stream), service);
        let conn = connections.watch(conn);
        tokio::spawn(async move {
            // A peer that resets or sends garbage ends its own connection only.
            let _ = conn.await;
        });
    }
    drop(listener);
    connections.shutdown().await;
    Ok(())
}

/// After a failed accept: per-connection errors (the peer gave up) are
/// retried at once; running out of descriptors or memory waits a moment
/// instead of spinning.
async fn backoff(e: &io::Error) {
    use io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(
        e.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    ) {
        return;
    }
    tracing::warn!(error = %e, "accept failed; retrying in 100 ms");
    tokio::time::sleep(Duration::from_millis(100)).await;
}

/// Re-reads `[auth]` from the same config sources on every SIGHUP and swaps
/// the keys in; a broken or unsafe new section keeps the old keys.
#[cfg(unix)]
pub fn spawn_reload_on_sighup(
    state: crate::state::AppState,
    sources: crate::config::Sources,
    listen: std::net::SocketAddr,
) {
    use tokio::signal::unix::{SignalKind, signal};
    tokio::spawn(async move {
        let Ok(mut hup) = signal(SignalKind::hangup()) else {
            tracing::warn!("cannot listen for SIGHUP; API keys will not be reloadable");
            return;
        };
        while hup.recv().await.is_some() {
            let loaded = crate::config::Config::load_auth(&sources)
                .map_err(|e| e.to_string())
                .and_then(|auth| crate::config::auth::check_listen(&auth, listen).map(|()| auth));
            match loaded {
                Ok(auth) => {
                    state.reload_keys(&auth);
                    tracing::info!(keys = auth.keys.len(), "reloaded API keys");
                }
                Err(e) => tracing::warn!(error = %e, "API key reload failed; keeping the old keys"),
            }
        }
    });
}
