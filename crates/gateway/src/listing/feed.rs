//! The change feed in the gateway: every snapshot the listing cache stores
//! is diffed into the feed ([`snapshot_landed`]); a background poller per
//! provider refreshes through the cache's own load path (so it shares the
//! breaker, the coalescing and the snapshot with requests) and reports the
//! provider's status; webhooks deliver from the same log.

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use isogate_feed::{Breaker, Feed, Health, ProviderStatus, UrlGuard, WebhookDispatcher};
use rand::Rng;
use url::Url;

use crate::config::ConfigError;
use crate::listing::Catalogue;
use crate::listing::cache::Snapshot;
use crate::listing::feed_shared::{self, SharedFeed};
use crate::providers::ProviderHandle;
use crate::security::ssrf::ImportGuard;

/// Called by the cache where a successful load stored `snap`. With the
/// shared tier, the shared stream decides what is appended (see
/// [`crate::listing::feed_shared`]).
pub fn snapshot_landed(
    feed: Option<&Arc<Feed>>,
    shared: Option<&SharedFeed>,
    provider: &str,
    snap: &Arc<Snapshot>,
) {
    match (shared, feed) {
        (Some(s), _) => s.landed(provider, snap),
        (None, Some(feed)) => {
            // Diffed on the feed's thread, in order with statuses: the
            // request that stored the snapshot does not wait for the hashes.
            let (provider, snap) = (provider.to_owned(), snap.clone());
            feed.later(move |feed| {
                feed.snapshot(&provider, &snap.items, snap.incomplete.is_none());
            });
        }
        (None, None) => {}
    }
}

/// Webhook URLs pass the SSRF guard imports pass (no private, loopback or
/// link-local address, names resolved unless `server.import_dns = "skip"`),
/// with its own allow-list `feed.webhook_host_allow`.
#[derive(Debug)]
pub struct WebhookGuard(ImportGuard);

impl WebhookGuard {
    /// The guard of `state`'s configuration.
    pub fn new(state: &Catalogue) -> WebhookGuard {
        WebhookGuard::of(state.config())
    }

    /// The guard of `cfg`.
    pub fn of(cfg: &crate::config::Config) -> WebhookGuard {
        WebhookGuard(ImportGuard::new(
            &cfg.feed.webhook_host_allow,
            &cfg.server.import_dns,
        ))
    }
}

/// `check-config`: every `[[webhooks]]` URL through the guard the server
/// applies at start, so a refused receiver fails the check, not the start.
pub async fn check_webhook_urls(cfg: &crate::config::Config) -> Result<(), ConfigError> {
    let guard = WebhookGuard::of(cfg);
    for (i, w) in cfg.webhooks.iter().enumerate() {
        let url = Url::parse(w.url.trim())
            .map_err(|_| ConfigError(format!("webhooks[{i}].url: not an absolute URL")))?;
        guard.check(&url).await.map_err(|why| {
            ConfigError(format!(
                "webhooks[{i}].url refused: {why} (feed.webhook_host_allow lists receivers allowed on private or loopback addresses)"
            ))
        })?;
    }
    Ok(())
}

const WEBHOOK_SCHEMES: [&str; 2] = ["http", "https"];

impl UrlGuard for WebhookGuard {
    fn check<'a>(&'a self, url: &'a Url) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            let schemes: Vec<String> = WEBHOOK_SCHEMES.iter().map(|s| (*s).to_owned()).collect();
            // The import guard's rejection never echoes the URL.
            self.0
                .check(url.as_str(), &schemes)
                .await
                .map_err(|e| e.message().to_owned())
        })
    }
}

/// Starts the webhooks and the pollers of `state` (inside a runtime, once).
/// A webhook refused by the guard or misconfigured is a configuration error.
pub async fn start(state: &Catalogue) -> Result<(), ConfigError> {
    let cfg = state.config();
    if !cfg.feed.active(&cfg.webhooks) {
        return Ok(());
    }
    // With the shared tier, events go through its stream (issue 18).
    let shared = state.cache().shared().map(|s| {
        let sf = SharedFeed::start(s.tier().clone(), state.feed().clone(), cfg.feed.history);
        state.cache().attach_shared_feed(sf.clone());
        sf
    });
    if !cfg.webhooks.is_empty() {
        let guard: Arc<dyn UrlGuard> = Arc::new(WebhookGuard::new(state));
        let d = WebhookDispatcher::start(state.feed().log(), &cfg.webhooks, guard)
            .await
            .map_err(|isogate_feed::WebhookError::Config(m)| ConfigError(m))?;
        if let Some(sf) = &shared {
            let lease = Duration::from_millis(cfg.feed.webhook_lease_ms.max(100));
            for ep in d.endpoints() {
                tokio::spawn(feed_shared::consume(sf.clone(), ep, lease));
            }
        }
        if state.set_webhooks(d).is_err() {
            return Err(ConfigError("webhooks: started twice".into()));
        }
    }
    for handle in state.providers() {
        let interval = handle_interval(state, &handle.name);
        if interval.is_zero() {
            continue;
        }
        tokio::spawn(poll_loop(state.clone(), handle.clone(), interval));
    }
    Ok(())
}

/// The poll interval of `provider` (zero: not polled).
fn handle_interval(state: &Catalogue, provider: &str) -> Duration {
    let cfg = state.config();
    let secs = state
        .provider(provider)
        .and_then(|h| h.poll_interval_s)
        .unwrap_or(cfg.feed.default_poll_interval_s);
    Duration::from_secs(secs)
}

/// `interval` ±10 %, so providers configured alike do not poll in step.
fn jittered(interval: Duration) -> Duration {
    interval.mul_f64(rand::rng().random_range(0.9..=1.1))
}

async fn poll_loop(state: Catalogue, handle: ProviderHandle, interval: Duration) {
    // A random first delay: a restart does not list every upstream at once.
    let first = interval.mul_f64(rand::rng().random_range(0.1..=1.0));
    tokio::time::sleep(first).await;
    loop {
        poll_once(&state, &handle).await;
        tokio::time::sleep(jittered(interval)).await;
    }
}

/// One poll: a refresh through the cache, then the provider's status.
pub async fn poll_once(state: &Catalogue, handle: &ProviderHandle) {
    let outcome = tokio::time::timeout(
        handle.deadline.max(Duration::from_secs(1)) * 4,
        state.cache().refresh(&handle.provider),
    )
    .await;
    let error = match outcome {
        Ok(Ok(_)) => None,
        Ok(Err(e)) => Some(e.code().to_owned()),
        Err(_) => Some("timeout".to_owned()),
    };
    let health = match &error {
        None => Health::Ok,
        Some(_) => {
            let windows = state.cache().windows();
            match state.cache().peek(&handle.name).await {
                Some(s) if s.age() < Duration::from_secs(windows.stale_if_error_s) => Health::Stale,
                _ => Health::Error,
            }
        }
    };
    let breaker = match handle.breaker.as_ref().map(|b| b.info().state) {
        Some(isogate_resilience::BreakerState::Closed) | None => Breaker::Closed,
        Some(_) => Breaker::Open,
    };
    let status = ProviderStatus {
        health,
        breaker,
        error,
    };
    match state.cache().shared_feed() {
        Some(sf) => sf.status(&handle.name, status),
        None => {
            let name = handle.name.clone();
            state.feed().later(move |feed| {
                feed.observe_status(&name, status);
            });
        }
    }
}

/// Sets the feed's gauges and counters for `/metrics`.
pub fn record_metrics(state: &Catalogue) {
    metrics::gauge!("isogate_events_subscribers").set(state.feed().log().subscribers() as f64);
    metrics::gauge!("isogate_events_history").set(state.feed().log().len() as f64);
    if let Some(sf) = state.cache().shared_feed() {
        // 0 while Redis is unreachable: events stay on this replica.
        metrics::gauge!("isogate_events_shared_stream_up").set(f64::from(u8::from(sf.mirror_up())));
    }
    let Some(d) = state.webhooks() else {
        return;
    };
    for s in d.status() {
        let name = s.name.clone();
        metrics::counter!("isogate_webhook_delivered_total", "webhook" => name.clone())
            .absolute(s.delivered);
        metrics::counter!("isogate_webhook_failed_attempts_total", "webhook" => name.clone())
            .absolute(s.failed_attempts);
        metrics::counter!("isogate_webhook_dead_lettered_total", "webhook" => name.clone())
            .absolute(s.dead_lettered);
        metrics::gauge!("isogate_webhook_queued", "webhook" => name).set(s.queued as f64);
    }
}
