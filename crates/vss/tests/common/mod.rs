//! Shared set-up: a VSS simulator and a provider configured against it.

#![allow(dead_code)]

use std::time::Duration;

use isogate_sim::SimServer;
use isogate_sim::vss::{self, Options, VssHandle};
use isogate_vss::{Catalogue, VssConfig, VssProvider};

#[derive(Debug)]
pub struct Setup {
    pub sim: SimServer,
    pub handle: VssHandle,
    pub provider: VssProvider,
}

pub fn config(sim: &SimServer, catalogue: Catalogue) -> VssConfig {
    VssConfig {
        base_url: sim.base_url(),
        username: Some(vss::DEFAULT_USERNAME.into()),
        password: Some(vss::DEFAULT_PASSWORD.to_owned().into()),
        catalogue,
        timeout_ms: 5_000,
        ..Default::default()
    }
}

pub async fn setup(opts: Options, catalogue: Catalogue) -> Setup {
    setup_with(opts, |sim| config(sim, catalogue)).await
}

pub async fn setup_with(opts: Options, cfg: impl FnOnce(&SimServer) -> VssConfig) -> Setup {
    let (sim, handle) = vss::start_with_handle(Options {
        sync_step: Duration::from_millis(40),
        ..opts
    })
    .await
    .unwrap();
    let provider = VssProvider::new("vss-test", cfg(&sim)).unwrap();
    Setup {
        sim,
        handle,
        provider,
    }
}

/// Page requests received so far on a catalogue route.
pub fn pages(sim: &SimServer, route: &str) -> u64 {
    sim.control().count(&format!("GET {route}"))
}

pub fn token_requests(sim: &SimServer) -> u64 {
    sim.control().count("POST /auth/request-token")
}
