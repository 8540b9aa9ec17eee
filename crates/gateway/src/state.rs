//! Shared application state: the providers, the cache, the cursor key.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use isogate_core::{Capability, IsoProvider, ProviderKind};
use isogate_resilience::Breaker;

use crate::config::{Config, ProviderEntry};
use crate::http::auth::Keys;
use crate::listing::cache::ListingCache;
use crate::listing::render::RenderedCache;
use crate::security::ssrf::ImportGuard;

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
    keys: RwLock<Arc<Keys>>,
    import_guard: ImportGuard,
    finished_tasks: moka::sync::Cache<(String, String), ()>,
    feed: Arc<isogate_feed::Feed>,
    sse_limiter: isogate_feed::ConnectionLimiter,
    webhooks: std::sync::OnceLock<isogate_feed::WebhookDispatcher>,
}

impl AppState {
    /// State over already-built providers.
    pub fn new(config: Config, providers: Vec<ProviderHandle>) -> Self {
        let cursor_key = match &config.server.cursor_key {
            Some(k) => k.as_bytes().to_vec(),
            None => rand::random::<[u8; 32]>().to_vec(),
        };
        let cache = ListingCache::new(config.cache.clone());
        let rendered = RenderedCache::new(config.cache.rendered_max_bytes);
        let keys = RwLock::new(Arc::new(Keys::from_config(&config.auth)));
        let import_guard =
            ImportGuard::new(&config.server.import_host_allow, &config.server.import_dns);
        let feed = Arc::new(isogate_feed::Feed::new(isogate_feed::LogOptions {
            history: config.feed.history.max(1),
            live: config.feed.live.max(1),
        }));
        if config.feed.active(&config.webhooks) {
            cache.attach_feed(feed.clone());
        }
        let sse_limiter =
            isogate_feed::ConnectionLimiter::new(config.feed.max_connections_per_key.max(1));
        AppState {
            inner: Arc::new(Inner {
                providers: providers.into_iter().map(|p| (p.name.clone(), p)).collect(),
                config,
                cache,
                rendered,
                cursor_key,
                ready: AtomicBool::new(false),
                keys,
                import_guard,
                finished_tasks: moka::sync::Cache::new(10_000),
                feed,
                sse_limiter,
                webhooks: std::sync::OnceLock::new(),
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
    /// True the first time a provider's task is seen finished: its effect on
    /// the catalogue then invalidates the snapshot once, not on every poll.
    pub fn first_seen_finished(&self, provider: &str, task_id: &str) -> bool {
        let key = (provider.to_owned(), task_id.to_owned());
        let first = !self.inner.finished_tasks.contains_key(&key);
        self.inner.finished_tasks.insert(key, ());
        first
    }

    /// The API keys in force.
    pub fn keys(&self) -> Arc<Keys> {
        self.inner
            .keys
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
    /// Replaces the API keys (SIGHUP); requests in flight keep the old ones.
    pub fn reload_keys(&self, auth: &crate::http::auth::AuthConfig) {
        *self.inner.keys.write().unwrap_or_else(|p| p.into_inner()) =
            Arc::new(Keys::from_config(auth));
    }
    /// The import URL guard.
    pub fn import_guard(&self) -> &ImportGuard {
        &self.inner.import_guard
    }
    /// The providers `caller` may use (none without a caller).
    pub fn visible_providers<'a>(
        &'a self,
        caller: &'a crate::http::auth::Caller,
    ) -> impl Iterator<Item = &'a ProviderHandle> {
        self.providers().filter(move |h| caller.may_see(&h.name))
    }
    /// The change feed (fed by the cache when `[feed]` or a webhook is on).
    pub fn feed(&self) -> &Arc<isogate_feed::Feed> {
        &self.inner.feed
    }
    /// Open `/v1/events` streams per key.
    pub fn sse_limiter(&self) -> &isogate_feed::ConnectionLimiter {
        &self.inner.sse_limiter
    }
    /// The webhook dispatcher, once [`crate::listing::feed::start`] started it.
    pub fn webhooks(&self) -> Option<&isogate_feed::WebhookDispatcher> {
        self.inner.webhooks.get()
    }
    /// Installs the dispatcher (once; a second is refused and returned).
    pub fn set_webhooks(
        &self,
        d: isogate_feed::WebhookDispatcher,
    ) -> Result<(), isogate_feed::WebhookDispatcher> {
        self.inner.webhooks.set(d)
    }
    /// Whether the server is ready.
    pub fn is_ready(&self) -> bool {
        self.inner.ready.load(Ordering::SeqCst)
    }
}
