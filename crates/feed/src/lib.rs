//! isogate-feed: the change feed. Catalogue snapshots become CloudEvents
//! (`iso.added`, `iso.removed`, `iso.changed`, `provider.status`,
//! `provider.synced`), kept in a bounded resumable log and served over
//! Server-Sent Events and signed webhooks.
//!
//! - [`diff`]: [`Differ`] compares one provider's snapshots by global id
//!   and content hash; [`StatusTracker`] turns health/breaker observations
//!   into events only on change. [`Feed`] ties both to a log.
//! - [`event`]: the CloudEvents 1.0 types; [`EventId`] is `<ms>-<seq>`,
//!   ordered, the shape of a Redis Stream id.
//! - [`log`]: [`EventLog`], the in-process ring; [`Subscription`] replays
//!   from a `Last-Event-ID` then follows live, or answers one `reset`.
//! - [`filter`]: [`Selector`], one subscriber's view (allow-list, types,
//!   the listing query).
//! - [`sse`]: `text/event-stream` framing, heartbeats, slow-client drop,
//!   per-key connection limits.
//! - [`webhook`]: Standard Webhooks delivery (signatures, retries with
//!   backoff and jitter, per-endpoint order, dead letters, status).
//!
//! Backing the log with a Redis Stream later keeps every contract here:
//! ids are the stream's ids, `append` is `XADD MAXLEN ~ history`,
//! `subscribe_from(id)` is `XRANGE (id +` (with "older than the first
//! entry" meaning `reset`) followed by `XREAD BLOCK` from the last id read,
//! and a webhook endpoint's queue is a consumer group (`XREADGROUP`,
//! `XACK` after delivery or dead-letter) so one replica delivers each event.

pub mod diff;
pub mod event;
mod feed;
pub mod filter;
pub mod log;
pub mod sse;
pub mod webhook;

pub use diff::{ContentHash, Differ, ProviderStatus, StatusTracker, content_hash, diff_snapshots};
pub use event::{
    Breaker, ChangeData, Event, EventData, EventDraft, EventId, EventType, Health, ParseIdError,
    Record, ResetData, StatusData, SyncedData,
};
pub use feed::Feed;
pub use filter::{Selector, parse_types};
pub use log::{EventLog, LogOptions, Subscription, reset_at};
pub use sse::{ConnectionLimiter, ConnectionPermit, SseOptions, resume_point, sse_stream};
pub use webhook::{
    AllowHosts, EndpointStatus, UrlGuard, WebhookConfig, WebhookDispatcher, WebhookEndpoint,
    WebhookError,
};
