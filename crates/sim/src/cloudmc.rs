//! Simulator of the cloudmc upstream (filled in by its issue).

use crate::{Faults, ServeOptions, SimServer};

/// How to start the simulator.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Where to listen.
    pub serve: ServeOptions,
    /// Catalogue seed.
    pub seed: u64,
    /// Catalogue size override, for benchmarks.
    pub scale: Option<usize>,
    /// Faults injected from the start.
    pub faults: Faults,
}

/// Starts the simulator.
pub async fn start(opts: Options) -> std::io::Result<SimServer> {
    let shape: crate::ErrorShape = std::sync::Arc::new(|status, msg| {
        crate::server::json_error(
            status,
            serde_json::json!({"error": status.as_u16(), "message": msg}),
        )
    });
    SimServer::start(
        "cloudmc",
        axum::Router::new(),
        &opts.serve,
        "",
        opts.faults,
        shape,
    )
    .await
}
