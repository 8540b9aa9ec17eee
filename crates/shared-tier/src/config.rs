//! `[cache.shared]`: where the tier is and how patient to be with it.

use std::path::PathBuf;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::error::TierError;

/// The shared tier's settings. Without a URL (or `url_file`) the tier is off.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SharedTierConfig {
    /// `redis://[:password@]host:port[/db]` or `rediss://...` (TLS). May carry a password.
    #[serde(default)]
    pub url: Option<SecretString>,
    /// A file whose trimmed contents are the URL (like the other `*_file` secrets).
    #[serde(default)]
    pub url_file: Option<PathBuf>,
    /// PEM file of the CA that signed the server's certificate, for a
    /// `rediss://` server not signed by a CA in the system's trust store.
    #[serde(default)]
    pub tls_ca_file: Option<PathBuf>,
    /// Key prefix; keys are `{prefix}:...` with the prefix as the cluster hash
    /// tag, so one deployment's keys share one slot.
    #[serde(default = "default_prefix")]
    pub prefix: String,
    /// Timeout of every small call (lease, version check, rate limit, publish of
    /// an invalidation). Short: the tier must never make an answer slow.
    #[serde(default = "default_call_timeout_ms")]
    pub call_timeout_ms: u64,
    /// Timeout of a snapshot transfer (a 100k-item snapshot is a few MB).
    #[serde(default = "default_snapshot_timeout_ms")]
    pub snapshot_timeout_ms: u64,
    /// How long a fetch lease lives if its holder never releases it (it died).
    /// Set it above the provider's deadline so a live fetch keeps its lease.
    #[serde(default = "default_lease_ms")]
    pub lease_ms: u64,
    /// How long Redis keeps a snapshot: the stale-if-error window.
    #[serde(default = "default_snapshot_ttl_ms")]
    pub snapshot_ttl_ms: u64,
    /// A waiter re-checks Redis at least this often even without a notification.
    #[serde(default = "default_poll_ms")]
    pub poll_ms: u64,
    /// Reconnect backoff: first delay.
    #[serde(default = "default_backoff_min_ms")]
    pub reconnect_min_ms: u64,
    /// Reconnect backoff: ceiling.
    #[serde(default = "default_backoff_max_ms")]
    pub reconnect_max_ms: u64,
}

fn default_prefix() -> String {
    "isogate".into()
}
fn default_call_timeout_ms() -> u64 {
    150
}
fn default_snapshot_timeout_ms() -> u64 {
    2_000
}
fn default_lease_ms() -> u64 {
    15_000
}
fn default_snapshot_ttl_ms() -> u64 {
    3_600_000
}
fn default_poll_ms() -> u64 {
    100
}
fn default_backoff_min_ms() -> u64 {
    100
}
fn default_backoff_max_ms() -> u64 {
    5_000
}

impl std::fmt::Debug for SharedTierConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Hand-written so the URL (which may hold a password) never shows.
        f.debug_struct("SharedTierConfig")
            .field("url", &self.url.as_ref().map(|_| "[REDACTED]"))
            .field("url_file", &self.url_file)
            .field("tls_ca_file", &self.tls_ca_file)
            .field("prefix", &self.prefix)
            .field("call_timeout_ms", &self.call_timeout_ms)
            .field("snapshot_timeout_ms", &self.snapshot_timeout_ms)
            .field("lease_ms", &self.lease_ms)
            .field("snapshot_ttl_ms", &self.snapshot_ttl_ms)
            .field("poll_ms", &self.poll_ms)
            .field("reconnect_min_ms", &self.reconnect_min_ms)
            .field("reconnect_max_ms", &self.reconnect_max_ms)
            .finish()
    }
}

impl SharedTierConfig {
    /// A config for `url` with every default.
    pub fn new(url: impl Into<String>) -> Self {
        SharedTierConfig {
            url: Some(SecretString::from(url.into())),
            url_file: None,
            tls_ca_file: None,
            prefix: default_prefix(),
            call_timeout_ms: default_call_timeout_ms(),
            snapshot_timeout_ms: default_snapshot_timeout_ms(),
            lease_ms: default_lease_ms(),
            snapshot_ttl_ms: default_snapshot_ttl_ms(),
            poll_ms: default_poll_ms(),
            reconnect_min_ms: default_backoff_min_ms(),
            reconnect_max_ms: default_backoff_max_ms(),
        }
    }

    /// Whether the tier is configured at all.
    pub fn enabled(&self) -> bool {
        self.url.is_some() || self.url_file.is_some()
    }

    /// The URL, from `url` or `url_file`; errors name the key or path, never the contents.
    pub fn resolve_url(&self) -> Result<SecretString, TierError> {
        match (&self.url, &self.url_file) {
            (Some(_), Some(_)) => Err(TierError::Config(
                "cache.shared: set url or url_file, not both".into(),
            )),
            (None, None) => Err(TierError::Config(
                "cache.shared: url (or url_file) is required".into(),
            )),
            (Some(u), None) => Ok(u.clone()),
            (None, Some(p)) => {
                let s = std::fs::read_to_string(p).map_err(|e| {
                    TierError::Config(format!(
                        "cache.shared.url_file {}: {}",
                        p.display(),
                        e.kind()
                    ))
                })?;
                Ok(SecretString::from(s.trim().to_owned()))
            }
        }
    }

    /// Checks what can be checked without connecting.
    pub fn validate(&self) -> Result<(), TierError> {
        if self.prefix.is_empty()
            || self
                .prefix
                .chars()
                .any(|c| matches!(c, '{' | '}') || c.is_whitespace())
        {
            return Err(TierError::Config(
                "cache.shared.prefix must be non-empty, without braces or spaces".into(),
            ));
        }
        if self.call_timeout_ms == 0 || self.snapshot_timeout_ms == 0 || self.lease_ms == 0 {
            return Err(TierError::Config(
                "cache.shared: timeouts and lease_ms must be > 0".into(),
            ));
        }
        let url = self.resolve_url()?;
        let u = url.expose_secret();
        if !(u.starts_with("redis://") || u.starts_with("rediss://")) {
            // Only the scheme is named: the rest may be a password.
            return Err(TierError::Config(
                "cache.shared.url must start with redis:// or rediss://".into(),
            ));
        }
        if self.tls_ca_file.is_some() && !u.starts_with("rediss://") {
            return Err(TierError::Config(
                "cache.shared.tls_ca_file needs a rediss:// url".into(),
            ));
        }
        Ok(())
    }

    pub(crate) fn call_timeout(&self) -> Duration {
        Duration::from_millis(self.call_timeout_ms)
    }
    pub(crate) fn snapshot_timeout(&self) -> Duration {
        Duration::from_millis(self.snapshot_timeout_ms)
    }
}
