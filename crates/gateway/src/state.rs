//! Shared application state: the providers, the cache, the cursor key.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use isogate_core::{Capability, IsoProvider, ProviderKind};

use crate::cache::ListingCache;
use crate::config::{Config, ProviderEntry};
use crate::render::RenderedCache;

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
}

impl ProviderHandle {
    /// Wraps a provider with its gateway settings.
    pub fn new(provider: Arc<dyn IsoProvider>, deadline: Duration) -> Self {
        ProviderHandle {
            name: provider.name().to_owned(),
            kind: provider.kind(),
            deadline,
            capability: provider.capability(),
            provider,
        }
    }

    /// From a config entry and its built adapter.
    pub fn from_entry(entry: &ProviderEntry, provider: Arc<dyn IsoProvider>) -> Self {
        Self::new(provider, Duration::from_millis(entry.deadline_ms))
    }
}

/// Everything the handlers share. Cheap to clone.
#[derive(Clone, Debug)]
pub struct AppState {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: Config,
    providers: BTreeMap<String, ProviderHandle>,
    cache: ListingCache,
    rendered: RenderedCache,
    cursor_key: Vec<u8>,
    ready: AtomicBool,
}

impl AppState {
    /// State over already-built providers.
    pub fn new(config: Config, providers: Vec<ProviderHandle>) -> Self {
        let cursor_key = match &config.server.cursor_key {
            Some(k) => k.as_bytes().to_vec(),
            None => rand::random::<[u8; 32]>().to_vec(),
        };
        let cache = ListingCache::new(config.cache.clone());
        let rendered = RenderedCache::new(config.cache.rendered_entries);
        AppState {
            inner: Arc::new(Inner {
                providers: providers.into_iter().map(|p| (p.name.clone(), p)).collect(),
                config,
                cache,
                rendered,
                cursor_key,
                ready: AtomicBool::new(false),
            }),
        }
    }

    /// The configuration in force.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }
    /// All providers, by name.
    pub fn providers(&self) -> impl Iterator<Item = &ProviderHandle> {
        self.inner.providers.values()
    }
    /// One provider.
    pub fn provider(&self, name: &str) -> Option<&ProviderHandle> {
        self.inner.providers.get(name)
    }
    /// The snapshot cache.
    pub fn cache(&self) -> &ListingCache {
        &self.inner.cache
    }
    /// The rendered-answer cache.
    pub fn rendered(&self) -> &RenderedCache {
        &self.inner.rendered
    }
    /// The cursor HMAC key.
    pub fn cursor_key(&self) -> &[u8] {
        &self.inner.cursor_key
    }
    /// Marks the server ready (listeners up).
    pub fn set_ready(&self) {
        self.inner.ready.store(true, Ordering::SeqCst);
    }
    /// Whether the server is ready.
    pub fn is_ready(&self) -> bool {
        self.inner.ready.load(Ordering::SeqCst)
    }
}
