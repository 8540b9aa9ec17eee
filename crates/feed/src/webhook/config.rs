//! `[[webhooks]]` in the configuration.

use std::path::PathBuf;
use std::time::Duration;

use secrecy::SecretString;
use serde::Deserialize;
use url::Url;

use super::sign::SigningKey;
use crate::event::EventType;
use crate::filter::{Selector, parse_types};

/// Why a webhook could not be set up. Never holds the secret or the URL.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    /// A bad `[[webhooks]]` entry.
    #[error("webhook configuration: {0}")]
    Config(String),
}

/// One `[[webhooks]]` entry.
///
/// ```toml
/// [[webhooks]]
/// url = "https://inventory.example.com/hooks/isogate"
/// secret_file = "/run/secrets/isogate-webhook"   # or secret = "whsec_..."
/// types = ["iso.*", "provider.status"]            # default: all
/// filter = "status,eq,ready"                      # the listing's filter syntax
/// providers = ["cloudmc-prod"]                    # default: all
/// ```
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// A name for `/v1/webhooks` and metrics; default from the host.
    #[serde(default)]
    pub name: Option<String>,
    /// Where to POST (http or https; it must pass the URL guard).
    pub url: String,
    /// The signing secret (`whsec_<base64>` per Standard Webhooks, or any string).
    #[serde(default)]
    pub secret: Option<SecretString>,
    /// A file holding the secret instead (trailing whitespace ignored).
    #[serde(default)]
    pub secret_file: Option<PathBuf>,
    /// Event types to send (`iso.added`, `io.isogate.iso.added`, `iso.*`); empty: all.
    #[serde(default)]
    pub types: Vec<String>,
    /// A listing filter (`field,op,value;...`) items must pass.
    #[serde(default)]
    pub filter: Option<String>,
    /// Only these providers' events; empty: all.
    #[serde(default)]
    pub providers: Vec<String>,
    /// One attempt's timeout.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// The first retry's delay; doubled per attempt, with jitter.
    #[serde(default = "default_backoff_initial_ms")]
    pub backoff_initial_ms: u64,
    /// The longest delay between two attempts.
    #[serde(default = "default_backoff_max_ms")]
    pub backoff_max_ms: u64,
    /// How long after it was queued an event is retried before it is
    /// dead-lettered (it always gets one attempt).
    #[serde(default = "default_retry_window_ms")]
    pub retry_window_ms: u64,
    /// Events queued per endpoint; more are dead-lettered at once.
    #[serde(default = "default_queue")]
    pub queue: usize,
}

fn default_timeout_ms() -> u64 {
    10_000
}
fn default_backoff_initial_ms() -> u64 {
    1_000
}
fn default_backoff_max_ms() -> u64 {
    300_000
}
fn default_retry_window_ms() -> u64 {
    // A receiver down for a day still gets everything, in order.
    24 * 3600 * 1000
}
fn default_queue() -> usize {
    10_000
}

/// A checked `[[webhooks]]` entry.
#[derive(Debug)]
pub(crate) struct Resolved {
    pub name: String,
    pub url: Url,
    pub key: SigningKey,
    pub selector: Selector,
    pub timeout: Duration,
    pub backoff_initial: Duration,
    pub backoff_max: Duration,
    pub window: Duration,
    pub queue: usize,
}

impl WebhookConfig {
    /// An entry with the defaults (tests, programmatic setup).
    pub fn new(url: &str, secret: SecretString) -> WebhookConfig {
        WebhookConfig {
            name: None,
            url: url.to_owned(),
            secret: Some(secret),
            secret_file: None,
            types: Vec::new(),
            filter: None,
            providers: Vec::new(),
            timeout_ms: default_timeout_ms(),
            backoff_initial_ms: default_backoff_initial_ms(),
            backoff_max_ms: default_backoff_max_ms(),
            retry_window_ms: default_retry_window_ms(),
            queue: default_queue(),
        }
    }

    /// The signing key (reads `secret_file` if that is how it is given).
    pub fn signing_key(&self) -> Result<SigningKey, WebhookError> {
        match (&self.secret, &self.secret_file) {
            (Some(s), None) => SigningKey::from_secret(s),
            (None, Some(path)) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    WebhookError::Config(format!(
                        "secret_file {} cannot be read: {}",
                        path.display(),
                        e.kind()
                    ))
                })?;
                SigningKey::from_secret(&SecretString::from(text.trim_end().to_owned()))
            }
            (Some(_), Some(_)) => Err(WebhookError::Config(
                "give secret or secret_file, not both".into(),
            )),
            (None, None) => Err(WebhookError::Config(
                "a webhook needs a secret or a secret_file".into(),
            )),
        }
    }

    /// What this entry selects.
    pub fn selector(&self) -> Result<Selector, WebhookError> {
        let mut sel = Selector::all();
        if !self.types.is_empty() {
            let types: Vec<EventType> = parse_types(&self.types).map_err(WebhookError::Config)?;
            sel = sel.types(types);
        }
        if !self.providers.is_empty() {
            sel = sel.allow_providers(self.providers.iter().cloned());
        }
        if let Some(f) = self.filter.as_deref().filter(|f| !f.trim().is_empty()) {
            sel = sel
                .filter(f)
                .map_err(|e| WebhookError::Config(format!("filter: {e}")))?;
        }
        Ok(sel)
    }

    pub(crate) fn resolve(&self) -> Result<Resolved, WebhookError> {
        let url = Url::parse(self.url.trim())
            .map_err(|_| WebhookError::Config("url is not an absolute URL".into()))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(WebhookError::Config(format!(
                "url scheme '{}' is not http or https",
                url.scheme()
            )));
        }
        if url.host_str().is_none() {
            return Err(WebhookError::Config("url has no host".into()));
        }
        if self.queue == 0 || self.timeout_ms == 0 {
            return Err(WebhookError::Config(
                "queue and timeout_ms must be > 0".into(),
            ));
        }
        let name = self.name.clone().unwrap_or_else(|| super::redact_url(&url));
        Ok(Resolved {
            key: self.signing_key()?,
            selector: self.selector()?,
            name,
            url,
            timeout: Duration::from_millis(self.timeout_ms),
            backoff_initial: Duration::from_millis(self.backoff_initial_ms.max(1)),
            backoff_max: Duration::from_millis(self.backoff_max_ms.max(self.backoff_initial_ms)),
            window: Duration::from_millis(self.retry_window_ms),
            queue: self.queue,
        })
    }
}
