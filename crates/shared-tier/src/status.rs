//! What `/readyz`, `/v1/providers` and `/metrics` show about the tier.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use chrono::{DateTime, Utc};
use serde::Serialize;

/// A point-in-time reading of the tier's state. Counters only grow.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct TierStatus {
    /// Whether the last command reached Redis.
    pub connected: bool,
    /// Whether the invalidation subscriber is subscribed right now.
    pub subscriber_connected: bool,
    /// The last error (scrubbed of secrets), if any since start.
    pub last_error: Option<String>,
    /// When that was.
    pub last_error_at: Option<DateTime<Utc>>,
    /// Snapshot reads that found one.
    pub hits: u64,
    /// Snapshot reads that found none (or an unreadable one).
    pub misses: u64,
    /// Fetch leases this replica took.
    pub leases_won: u64,
    /// Fetch leases another replica held.
    pub leases_lost: u64,
    /// Snapshots this replica stored.
    pub publishes_stored: u64,
    /// Snapshots refused because Redis had seen a newer version.
    pub publishes_rejected_older: u64,
    /// Invalidations this replica published.
    pub invalidations_sent: u64,
    /// Invalidations received from other replicas.
    pub invalidations_received: u64,
    /// Times the subscriber came back after missing messages.
    pub resyncs: u64,
    /// Calls that failed (timeouts, connection, Redis errors).
    pub errors: u64,
}

#[derive(Debug, Default)]
pub(crate) struct StatusCell {
    pub connected: AtomicBool,
    pub subscriber_connected: AtomicBool,
    pub last_error: Mutex<Option<(String, DateTime<Utc>)>>,
    pub hits: AtomicU64,
    pub misses: AtomicU64,
    pub leases_won: AtomicU64,
    pub leases_lost: AtomicU64,
    pub publishes_stored: AtomicU64,
    pub publishes_rejected_older: AtomicU64,
    pub invalidations_sent: AtomicU64,
    pub invalidations_received: AtomicU64,
    pub resyncs: AtomicU64,
    pub errors: AtomicU64,
}

pub(crate) fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

impl StatusCell {
    pub(crate) fn error(&self, msg: String, connection: bool) {
        bump(&self.errors);
        if connection {
            self.connected.store(false, Ordering::Relaxed);
        }
        *self.last_error.lock().unwrap_or_else(|e| e.into_inner()) = Some((msg, Utc::now()));
    }

    pub(crate) fn read(&self) -> TierStatus {
        let r = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let last = self
            .last_error
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        TierStatus {
            connected: self.connected.load(Ordering::Relaxed),
            subscriber_connected: self.subscriber_connected.load(Ordering::Relaxed),
            last_error: last.as_ref().map(|l| l.0.clone()),
            last_error_at: last.map(|l| l.1),
            hits: r(&self.hits),
            misses: r(&self.misses),
            leases_won: r(&self.leases_won),
            leases_lost: r(&self.leases_lost),
            publishes_stored: r(&self.publishes_stored),
            publishes_rejected_older: r(&self.publishes_rejected_older),
            invalidations_sent: r(&self.invalidations_sent),
            invalidations_received: r(&self.invalidations_received),
            resyncs: r(&self.resyncs),
            errors: r(&self.errors),
        }
    }
}
