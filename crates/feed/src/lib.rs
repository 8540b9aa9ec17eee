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
//! With the gateway's shared tier the log is a mirror of one Redis Stream
//! (the gateway's `listing/feed_shared.rs`): ids are the stream's
//! ([`Record::from_stream`], [`EventLog::insert`]), a `Last-Event-ID` is
//! answered by `XRANGE` ([`Subscription::replay`]), a switch between the
//! stream and this process's own ids is one `reset` ([`EventLog::reset_to`]),
//! and webhook endpoints are consumer groups ([`WebhookEndpoint`]). Without
//! it, the ring alone, as described here.

pub mod diff;
pub mod event;
mod feed;
pub mod filter;
pub mod log;
pub mod sse;
pub mod webhook;

pub use diff::{
    ContentHash, Differ, Prepared, ProviderStatus, SharedItems, StatusTracker, content_hash,
    diff_snapshots,
};
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
