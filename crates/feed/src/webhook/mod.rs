//! Webhooks per the Standard Webhooks specification: each event POSTed as
//! its CloudEvent JSON with `webhook-id` (the event id: receivers dedupe on
//! it, delivery is at least once), `webhook-timestamp` (unix seconds of the
//! attempt) and `webhook-signature` (`v1,` + base64 HMAC-SHA256 of
//! `{id}.{timestamp}.{body}`).

mod config;
mod deliver;
mod guard;
mod sign;

pub use config::{WebhookConfig, WebhookError};
pub use deliver::{EndpointStatus, WebhookDispatcher, WebhookEndpoint};
pub use guard::{AllowHosts, UrlGuard, redact_url};
pub use sign::{SigningKey, sign};
