//! The embedded simulators behind `sim:<name>` base URLs (the demo default).

use std::collections::BTreeSet;

use isogate_sim::SimServer;

use crate::config::{ConfigError, ProviderEntry, SimulatorsConfig};

/// The simulators a config may name.
pub const SIMULATORS: [&str; 5] = ["cloudmc-v1", "cloudmc-v2", "cox", "vss", "action"];

/// Running simulators; dropping this stops them.
#[derive(Debug, Default)]
pub struct Embedded {
    servers: Vec<SimServer>,
}

impl Embedded {
    /// Starts exactly the simulators the providers point at.
    pub async fn start(
        config: &SimulatorsConfig,
        entries: &[ProviderEntry],
    ) -> Result<Embedded, ConfigError> {
        let mut wanted = BTreeSet::new();
        for entry in entries {
            if let Some(name) = sim_name(entry)? {
                wanted.insert(name);
            }
        }
        if wanted.is_empty() {
            return Ok(Embedded::default());
        }
        if !config.enabled {
            return Err(ConfigError(format!(
                "providers use sim: base URLs ({}) but simulators.enabled is false",
                wanted.into_iter().collect::<Vec<_>>().join(", ")
            )));
        }
        let mut servers = Vec::new();
        for name in wanted {
            servers.push(
                start_one(name, config)
                    .await
                    .map_err(|e| ConfigError(format!("simulator {name} could not start: {e}")))?,
            );
        }
        Ok(Embedded { servers })
    }

    /// The base URL of a running simulator.
    pub fn base_url(&self, name: &str) -> Option<String> {
        self.servers
            .iter()
            .find(|s| s.name() == name)
            .map(SimServer::base_url)
    }

    /// The running simulators (the binary prints them; tests inject faults).
    pub fn servers(&self) -> &[SimServer] {
        &self.servers
    }

    /// A running simulator by name, for tests.
    pub fn server_mut(&mut self, name: &str) -> Option<&mut SimServer> {
        self.servers.iter_mut().find(|s| s.name() == name)
    }
}

/// `Some(name)` when the entry's base URL is `sim:<name>`.
pub fn sim_name(entry: &ProviderEntry) -> Result<Option<&'static str>, ConfigError> {
    let Some(serde_json::Value::String(url)) = entry.settings.get("base_url") else {
        return Ok(None);
    };
    let Some(name) = url.strip_prefix("sim:") else {
        return Ok(None);
    };
    SIMULATORS
        .iter()
        .find(|s| **s == name)
        .map(|s| Some(*s))
        .ok_or_else(|| {
            ConfigError(format!(
                "providers.{}.base_url: unknown simulator '{name}', expected one of {}",
                entry.name,
                SIMULATORS.join(", ")
            ))
        })
}

async fn start_one(name: &str, config: &SimulatorsConfig) -> std::io::Result<SimServer> {
    let seed = config.seed;
    let scale = config.scale;
    match name {
        "cloudmc-v1" | "cloudmc-v2" => {
            let version = if name == "cloudmc-v1" {
                isogate_sim::cloudmc::ApiVersion::V1
            } else {
                isogate_sim::cloudmc::ApiVersion::V2
            };
            isogate_sim::cloudmc::start(isogate_sim::cloudmc::Options {
                seed,
                scale,
                version,
                ..Default::default()
            })
            .await
        }
        "cox" => {
            isogate_sim::cox::start(isogate_sim::cox::Options {
                seed,
                scale,
                ..Default::default()
            })
            .await
        }
        "vss" => {
            isogate_sim::vss::start(isogate_sim::vss::Options {
                seed,
                scale,
                ..Default::default()
            })
            .await
        }
        _ => {
            isogate_sim::action::start(isogate_sim::action::Options {
                seed,
                scale,
                ..Default::default()
            })
            .await
        }
    }
}
