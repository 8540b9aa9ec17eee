//! `isogate-sim`: runs the chosen simulators on loopback until Ctrl-C and
//! prints each one's base URL and credentials.

use std::net::{IpAddr, Ipv4Addr};

use clap::Parser;
use isogate_sim::{ServeOptions, SimServer, action, cloudmc, cox, vss};

/// Faithful simulators of the CloudMC, Cox Edge, VSS and action-style ISO APIs.
/// With no simulator chosen, all of them run.
#[derive(Debug, Parser)]
#[command(name = "isogate-sim", version)]
struct Args {
    /// CloudMC API v1 ISOs.
    #[arg(long)]
    cloudmc_v1: bool,
    /// CloudMC API v2 ISOs (Cox Edge compute-on).
    #[arg(long)]
    cloudmc_v2: bool,
    /// VSS (ITS Private Cloud) API v2.
    #[arg(long)]
    vss: bool,
    /// Action-style ISO module (HOSTKEY InvAPI).
    #[arg(long)]
    action: bool,
    /// Cox Edge images.
    #[arg(long)]
    cox: bool,
    /// Every simulator.
    #[arg(long)]
    all: bool,
    /// Port of the CloudMC v1 simulator (0 picks a free one).
    #[arg(long, default_value_t = 0)]
    cloudmc_v1_port: u16,
    /// Port of the CloudMC v2 simulator.
    #[arg(long, default_value_t = 0)]
    cloudmc_v2_port: u16,
    /// Port of the VSS simulator.
    #[arg(long, default_value_t = 0)]
    vss_port: u16,
    /// Port of the action simulator.
    #[arg(long, default_value_t = 0)]
    action_port: u16,
    /// Port of the Cox simulator.
    #[arg(long, default_value_t = 0)]
    cox_port: u16,
    /// Catalogue seed: the same seed gives the same catalogues.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Catalogue size of every simulator (e.g. 10000 for benchmarks).
    #[arg(long)]
    scale: Option<usize>,
    /// Address to bind.
    #[arg(long, default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    host: IpAddr,
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let args = Args::parse();
    let all =
        args.all || !(args.cloudmc_v1 || args.cloudmc_v2 || args.vss || args.action || args.cox);
    let serve = |port| ServeOptions {
        host: args.host,
        port,
    };
    let (seed, scale) = (args.seed, args.scale);
    // Kept alive until Ctrl-C: dropping a SimServer stops it.
    let mut running: Vec<SimServer> = Vec::new();

    for (on, version, port) in [
        (
            args.cloudmc_v1,
            cloudmc::ApiVersion::V1,
            args.cloudmc_v1_port,
        ),
        (
            args.cloudmc_v2,
            cloudmc::ApiVersion::V2,
            args.cloudmc_v2_port,
        ),
    ] {
        if all || on {
            let opts = cloudmc::Options {
                serve: serve(port),
                seed,
                scale,
                version,
                ..Default::default()
            };
            let key = opts.api_key.clone();
            let sim = cloudmc::start(opts).await?;
            println!("{:<11} {}  MC-Api-Key: {key}", sim.name(), sim.base_url());
            running.push(sim);
        }
    }
    if all || args.vss {
        let opts = vss::Options {
            serve: serve(args.vss_port),
            seed,
            scale,
            ..Default::default()
        };
        let (user, password) = (opts.username.clone(), opts.password.clone());
        let sim = vss::start(opts).await?;
        println!(
            "{:<11} {}  Basic auth: {user} / {password}",
            sim.name(),
            sim.base_url()
        );
        running.push(sim);
    }
    if all || args.action {
        let opts = action::Options {
            serve: serve(args.action_port),
            seed,
            scale,
            ..Default::default()
        };
        let (admin, client) = (opts.admin_key.clone(), opts.client_key.clone());
        let sim = action::start(opts).await?;
        println!(
            "{:<11} {}  admin key: {admin}; client key: {client} ({}, servers {:?})",
            sim.name(),
            sim.base_url(),
            action::CLIENT_EMAIL,
            action::SERVER_IDS
        );
        running.push(sim);
    }
    if all || args.cox {
        let opts = cox::Options {
            serve: serve(args.cox_port),
            seed,
            scale,
            ..Default::default()
        };
        let key = opts.api_key.clone();
        let sim = cox::start(opts).await?;
        println!("{:<11} {}  MC-Api-Key: {key}", sim.name(), sim.base_url());
        running.push(sim);
    }
    println!(
        "fault control: PUT <origin>/__sim/faults, counters: GET <origin>/__sim/counters; Ctrl-C stops"
    );
    tokio::signal::ctrl_c().await?;
    drop(running);
    Ok(())
}
