//! One configured provider as the gateway uses it: the layered adapter with
//! its deadline, capability, import schemes and breaker.

use std::sync::Arc;
use std::time::Duration;

use isogate_core::{Capability, IsoProvider, ProviderKind};
use isogate_resilience::Breaker;

use crate::config::ProviderEntry;

/// One configured provider instance as the gateway uses it.
#[derive(Clone, Debug)]
pub struct ProviderHandle {
    /// The configured name.
    pub name: String,
    /// Which adapter.
    pub kind: ProviderKind,
    /// How long a federated listing waits for it.
    pub deadline: Duration,
    /// What it supports (read once; constant by contract).
    pub capability: Capability,
    /// The adapter, wrapped in the gateway's layers.
    pub provider: Arc<dyn IsoProvider>,
    /// URL schemes an import through this provider may use.
    pub import_schemes: Vec<String>,
    /// The circuit breaker of its layers, when wrapped.
    pub breaker: Option<Arc<Breaker>>,
    /// `poll_interval_s` of its entry (`None`: the feed's default).
    pub poll_interval_s: Option<u64>,
}

impl ProviderHandle {
    /// Wraps a provider with its gateway settings.
    pub fn new(provider: Arc<dyn IsoProvider>, deadline: Duration) -> Self {
        ProviderHandle {
            name: provider.name().to_owned(),
            kind: provider.kind(),
            deadline,
            capability: provider.capability(),
            import_schemes: crate::security::ssrf::default_schemes(&provider.capability()),
            provider,
            breaker: None,
            poll_interval_s: None,
        }
    }

    /// From a config entry and its built adapter.
    pub fn from_entry(entry: &ProviderEntry, provider: Arc<dyn IsoProvider>) -> Self {
        let mut handle = Self::new(provider, Duration::from_millis(entry.deadline_ms));
        if let Some(schemes) = &entry.import_schemes {
            handle.import_schemes = schemes.clone();
        }
        handle.poll_interval_s = entry.poll_interval_s;
        handle
    }

    /// Wraps the adapter in the resilience layers (timeout, concurrency,
    /// retries, breaker, metrics; see [`isogate_resilience`]).
    pub fn layered(mut self, settings: &isogate_resilience::Resilience) -> Self {
        let (provider, breaker) = isogate_resilience::wrap(self.provider, settings);
        self.provider = provider;
        self.breaker = Some(breaker);
        self
    }
}
