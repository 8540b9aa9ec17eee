//! Shared application state: the catalogue (providers, snapshots, rendered
//! answers, feed) and the HTTP edge's pieces (keys, the import guard, the
//! cursor key, stream limits, readiness).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use crate::access::Keys;
use crate::config::{Config, ConfigError, ProviderEntry};
use crate::listing::Catalogue;
use crate::providers::ProviderHandle;
use crate::providers::embedded::Embedded;
use crate::security::ssrf::ImportGuard;

/// Builds every provider and the state over them (with the shared tier
/// attached when `[cache.shared]` is configured).
pub fn build_state(
    config: Config,
    entries: &[ProviderEntry],
    embedded: &Embedded,
) -> Result<AppState, ConfigError> {
    let handles = crate::providers::registry::build_handles(entries, embedded)?;
    let state = AppState::new(config, handles);
    crate::listing::shared::attach(&state)?;
    Ok(state)
}

/// Everything the handlers share. Cheap to clone. It derefs to its
/// [`Catalogue`], so what the listing path takes, a handler passes as `&state`.
#[derive(Clone, Debug)]
pub struct AppState {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    catalogue: Catalogue,
    cursor_key: Vec<u8>,
    ready: AtomicBool,
    keys: RwLock<Arc<Keys>>,
    import_guard: ImportGuard,
    finished_tasks: moka::sync::Cache<(String, String), ()>,
    sse_limiter: isogate_feed::ConnectionLimiter,
}

impl std::ops::Deref for AppState {
    type Target = Catalogue;
    fn deref(&self) -> &Catalogue {
        &self.inner.catalogue
    }
}

impl AppState {
    /// State over already-built providers.
    pub fn new(config: Config, providers: Vec<ProviderHandle>) -> Self {
        let cursor_key = match &config.server.cursor_key {
            Some(k) => k.as_bytes().to_vec(),
            None => rand::random::<[u8; 32]>().to_vec(),
        };
        let keys = RwLock::new(Arc::new(Keys::from_config(&config.auth)));
        let import_guard =
            ImportGuard::new(&config.server.import_host_allow, &config.server.import_dns);
        let sse_limiter =
            isogate_feed::ConnectionLimiter::new(config.feed.max_connections_per_key.max(1));
        AppState {
            inner: Arc::new(Inner {
                catalogue: Catalogue::new(config, providers),
                cursor_key,
                ready: AtomicBool::new(false),
                keys,
                import_guard,
                finished_tasks: moka::sync::Cache::new(10_000),
                sse_limiter,
            }),
        }
    }

    /// The catalogue (also reached through `Deref`).
    pub fn catalogue(&self) -> &Catalogue {
        &self.inner.catalogue
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
    pub fn reload_keys(&self, auth: &crate::config::auth::AuthConfig) {
        *self.inner.keys.write().unwrap_or_else(|p| p.into_inner()) =
            Arc::new(Keys::from_config(auth));
    }
    /// The import URL guard.
    pub fn import_guard(&self) -> &ImportGuard {
        &self.inner.import_guard
    }
    /// Open `/v1/events` streams per key.
    pub fn sse_limiter(&self) -> &isogate_feed::ConnectionLimiter {
        &self.inner.sse_limiter
    }
    /// Whether the server is ready.
    pub fn is_ready(&self) -> bool {
        self.inner.ready.load(Ordering::SeqCst)
    }
}
