//! Runs the VSS simulator standalone, for checking real clients against it:
//! `cargo run -p isogate-sim --example vss_sim -- [PORT] [PUBLIC_ISOS]`.

use isogate_sim::ServeOptions;
use isogate_sim::vss::{self, Options};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let port = args.next().and_then(|p| p.parse().ok()).unwrap_or(8710);
    let scale = args.next().and_then(|n| n.parse().ok());
    let sim = vss::start(Options {
        serve: ServeOptions {
            port,
            ..Default::default()
        },
        scale,
        sync_step: std::time::Duration::from_secs(1),
        ..Default::default()
    })
    .await?;
    println!(
        "vss simulator at {} (user {} / {})",
        sim.base_url(),
        vss::DEFAULT_USERNAME,
        vss::DEFAULT_PASSWORD
    );
    tokio::signal::ctrl_c().await?;
    Ok(())
}
