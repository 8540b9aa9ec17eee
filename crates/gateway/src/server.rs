//! Serving a router on a listener (`axum::serve` with `TCP_NODELAY` and
//! graceful shutdown), and the SIGHUP reload of API keys.
//!
//! A hand-written hyper accept loop served here before; per request it cost
//! the same instructions as `axum::serve` (bench/instructions.sh, BENCHMARKS.md
//! "House"), so the maintained one serves.

use std::future::Future;
use std::io;

use axum::Router;
use axum::serve::ListenerExt;
use tokio::net::TcpListener;

/// Serves `app` on `listener` until `shutdown` completes, then stops
/// accepting, lets every connection finish its request in flight (idle
/// keep-alive connections close at once) and returns.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    // Responses go out in one write; no reason to wait for an ACK.
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
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
