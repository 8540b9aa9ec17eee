//! `[feed]`: the change feed (`GET /v1/events`) and its webhooks' guard.

use serde::Deserialize;

use super::ConfigError;

/// The change feed's settings.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FeedConfig {
    /// Serve `GET /v1/events` and poll providers for changes.
    pub enabled: bool,
    /// Events kept for resumption with `Last-Event-ID`.
    pub history: usize,
    /// Live events a subscriber may lag before it resyncs from the history.
    pub live: usize,
    /// Seconds between `: keep-alive` comments on an idle stream.
    pub heartbeat_s: u64,
    /// Unread live events per stream before it is dropped (it resumes).
    pub max_buffered: usize,
    /// Open streams per API key (without keys: shared by all anonymous clients).
    pub max_connections_per_key: usize,
    /// Seconds after which a stream ends (clients resume with
    /// `Last-Event-ID`); 0: never. Rebalances long-lived clients.
    pub max_stream_s: u64,
    /// `providers.<name>.poll_interval_s` when unset, if the feed or a webhook is on.
    pub default_poll_interval_s: u64,
    /// Webhook hosts allowed even though they are private or loopback
    /// (exact names or addresses, or `.suffix`). Separate from
    /// `server.import_host_allow`: trusting a mirror for imports must not
    /// let events be posted to it, nor the reverse.
    pub webhook_host_allow: Vec<String>,
    /// With `[cache.shared]`: how long a replica's hold on delivering to one
    /// webhook endpoint lasts unless renewed; after a replica dies, another
    /// takes over its undelivered events within about twice this.
    pub webhook_lease_ms: u64,
}

impl Default for FeedConfig {
    fn default() -> Self {
        FeedConfig {
            enabled: true,
            history: 10_000,
            live: 1024,
            heartbeat_s: 15,
            max_buffered: 256,
            max_connections_per_key: 16,
            max_stream_s: 0,
            default_poll_interval_s: 60,
            webhook_host_allow: Vec::new(),
            webhook_lease_ms: 5_000,
        }
    }
}

impl FeedConfig {
    /// Whether providers are polled and snapshots diffed at all.
    pub fn active(&self, webhooks: &[isogate_feed::WebhookConfig]) -> bool {
        self.enabled || !webhooks.is_empty()
    }

    /// Checks `[feed]` and every `[[webhooks]]` entry (URL, secret, types,
    /// filter); errors name the key.
    pub fn validate(&self, webhooks: &[isogate_feed::WebhookConfig]) -> Result<(), ConfigError> {
        for (key, v) in [
            ("history", self.history as u64),
            ("live", self.live as u64),
            ("heartbeat_s", self.heartbeat_s),
            ("webhook_lease_ms", self.webhook_lease_ms),
            ("max_buffered", self.max_buffered as u64),
            (
                "max_connections_per_key",
                self.max_connections_per_key as u64,
            ),
        ] {
            if v == 0 {
                return Err(ConfigError(format!(
                    "feed.{key}: expected a positive number"
                )));
            }
        }
        for (i, w) in webhooks.iter().enumerate() {
            let fail = |m: String| ConfigError(format!("webhooks[{i}].{m}"));
            let url = url::Url::parse(w.url.trim())
                .map_err(|_| fail("url: not an absolute URL".into()))?;
            if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
                return Err(fail(
                    "url: expected an http or https URL with a host".into(),
                ));
            }
            w.signing_key()
                .map_err(|isogate_feed::WebhookError::Config(m)| fail(format!("secret: {m}")))?;
            w.selector()
                .map_err(|isogate_feed::WebhookError::Config(m)| {
                    fail(format!("types/filter: {m}"))
                })?;
            if w.queue == 0 || w.timeout_ms == 0 {
                return Err(fail("queue, timeout_ms: expected positive numbers".into()));
            }
        }
        Ok(())
    }
}
