//! The catalogue the listing path works over: the configuration, the
//! providers, their snapshot cache, the rendered answers and the change feed.
//! `AppState` is this plus the HTTP edge's pieces (keys, limits, the import
//! guard), so listing code never sees the edge.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::access::Caller;
use crate::config::Config;
use crate::listing::cache::ListingCache;
use crate::listing::render::RenderedCache;
use crate::providers::ProviderHandle;

/// Providers, snapshots and rendered answers. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Catalogue {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: Config,
    providers: BTreeMap<String, ProviderHandle>,
    cache: ListingCache,
    rendered: RenderedCache,
    feed: Arc<isogate_feed::Feed>,
    webhooks: std::sync::OnceLock<isogate_feed::WebhookDispatcher>,
}

impl Catalogue {
    /// The catalogue over already-built providers.
    pub fn new(config: Config, providers: Vec<ProviderHandle>) -> Self {
        let cache = ListingCache::new(config.cache.clone());
        let rendered = RenderedCache::new(config.cache.rendered_max_bytes);
        let feed = Arc::new(isogate_feed::Feed::new(isogate_feed::LogOptions {
            history: config.feed.history.max(1),
            live: config.feed.live.max(1),
        }));
        if config.feed.active(&config.webhooks) {
            cache.attach_feed(feed.clone());
        }
        Catalogue {
            inner: Arc::new(Inner {
                providers: providers.into_iter().map(|p| (p.name.clone(), p)).collect(),
                config,
                cache,
                rendered,
                feed,
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
    /// The providers `caller` may use (none without a caller).
    pub fn visible_providers<'a>(
        &'a self,
        caller: &'a Caller,
    ) -> impl Iterator<Item = &'a ProviderHandle> {
        self.providers().filter(move |h| caller.may_see(&h.name))
    }
    /// The snapshot cache.
    pub fn cache(&self) -> &ListingCache {
        &self.inner.cache
    }
    /// The rendered-answer cache.
    pub fn rendered(&self) -> &RenderedCache {
        &self.inner.rendered
    }
    /// The change feed (fed by the cache when `[feed]` or a webhook is on).
    pub fn feed(&self) -> &Arc<isogate_feed::Feed> {
        &self.inner.feed
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
}
