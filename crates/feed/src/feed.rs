//! The facade the gateway calls: snapshots and statuses in, events out.

use std::sync::{Arc, Mutex};

use isogate_core::Iso;

use crate::diff::{Differ, ProviderStatus, StatusTracker};
use crate::event::{EventDraft, Record};
use crate::log::{EventLog, LogOptions};

/// A differ, a status tracker and the log they append to.
#[derive(Debug)]
pub struct Feed {
    log: EventLog,
    differ: Mutex<Differ>,
    status: Mutex<StatusTracker>,
}

impl Feed {
    /// A feed with an empty log.
    pub fn new(opts: LogOptions) -> Feed {
        Feed::with_log(EventLog::new(opts))
    }

    /// A feed appending to `log`.
    pub fn with_log(log: EventLog) -> Feed {
        Feed {
            log,
            differ: Mutex::default(),
            status: Mutex::default(),
        }
    }

    /// The log (to subscribe, or to start webhooks on).
    pub fn log(&self) -> &EventLog {
        &self.log
    }

    /// A new snapshot of `provider` landed: appends its diff against the
    /// last one (see [`Differ::snapshot`]) and answers the events.
    /// `complete` is false when the listing is known to be partial.
    pub fn snapshot(&self, provider: &str, items: &[Iso], complete: bool) -> Vec<Arc<Record>> {
        // Hashed before the lock: providers landing together hash in
        // parallel. The lock is held over the append, so two snapshots of one
        // provider landing together append in the order they diffed.
        let prepared = Differ::prepare(items);
        let mut differ = self.differ.lock().unwrap_or_else(|p| p.into_inner());
        let drafts = differ.apply(provider, prepared, complete);
        self.log.append_all(drafts)
    }

    /// The events `items` make against `provider`'s last snapshot, without
    /// appending them (the caller appends elsewhere: the shared stream). The
    /// baseline moves on to `items` either way.
    pub fn diff(&self, provider: &str, items: &[Iso], complete: bool) -> Vec<EventDraft> {
        let prepared = Differ::prepare(items);
        let mut differ = self.differ.lock().unwrap_or_else(|p| p.into_inner());
        differ.apply(provider, prepared, complete)
    }

    /// The `provider.status` event `status` makes, if any, without
    /// appending it (see [`Feed::diff`]).
    pub fn status_change(&self, provider: &str, status: ProviderStatus) -> Option<EventDraft> {
        let mut tracker = self.status.lock().unwrap_or_else(|p| p.into_inner());
        tracker.observe(provider, status)
    }

    /// The gateway's view of `provider` now: appends a `provider.status`
    /// when it changed (see [`StatusTracker::observe`]).
    pub fn observe_status(&self, provider: &str, status: ProviderStatus) -> Option<Arc<Record>> {
        let mut tracker = self.status.lock().unwrap_or_else(|p| p.into_inner());
        tracker
            .observe(provider, status)
            .map(|draft| self.log.append(draft))
    }

    /// `provider` left the configuration.
    pub fn forget(&self, provider: &str) {
        self.differ
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .forget(provider);
        self.status
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .forget(provider);
    }
}
