//! The facade the gateway calls: snapshots and statuses in, events out.

use std::sync::mpsc::{Sender, channel};
use std::sync::{Arc, Mutex, OnceLock};

use isogate_core::Iso;

use crate::diff::{Differ, Prepared, ProviderStatus, SharedItems, StatusTracker};
use crate::event::{EventDraft, Record};
use crate::log::{EventLog, LogOptions};

/// Work for the feed's own thread.
type Job = Box<dyn FnOnce(&Feed) + Send>;

/// A differ, a status tracker and the log they append to.
pub struct Feed {
    log: EventLog,
    differ: Mutex<Differ>,
    status: Mutex<StatusTracker>,
    /// The feed's own thread (started on the first [`Feed::later`]).
    queue: OnceLock<Sender<Job>>,
}

impl std::fmt::Debug for Feed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Feed")
            .field("log", &self.log)
            .finish_non_exhaustive()
    }
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
            queue: OnceLock::new(),
        }
    }

    /// Runs `job` on the feed's own thread, after every job given before it:
    /// diffing a snapshot of ~100k items takes a good part of a second, which
    /// should not hold up the request (or async worker) that stored it, and
    /// in one queue snapshots and statuses still reach the log in the order
    /// they happened. The thread ends with the feed.
    pub fn later(self: &Arc<Self>, job: impl FnOnce(&Feed) + Send + 'static) {
        let tx = self.queue.get_or_init(|| {
            let (tx, rx) = channel::<Job>();
            let weak = Arc::downgrade(self);
            let spawned = std::thread::Builder::new()
                .name("isogate-feed".into())
                .spawn(move || {
                    while let Ok(job) = rx.recv() {
                        let Some(feed) = weak.upgrade() else { return };
                        // One bad snapshot must not end the feed's thread.
                        let run = std::panic::AssertUnwindSafe(|| job(&feed));
                        if std::panic::catch_unwind(run).is_err() {
                            tracing::warn!("a feed job panicked; its events are lost");
                        }
                    }
                });
            if let Err(e) = spawned {
                tracing::warn!(error = %e, "cannot start the feed's thread; events are diffed inline");
            }
            tx
        });
        if let Err(returned) = tx.send(Box::new(job)) {
            // No thread (it could not start): do the work here.
            (returned.0)(self);
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
        // The lock is held over the append, so two snapshots of one provider
        // landing together append in the order they diffed.
        self.diff_then(provider, items, complete, |drafts| {
            self.log.append_all(drafts)
        })
    }

    /// A snapshot of `provider` whose events were announced elsewhere
    /// (another replica's, adopted from the shared tier) becomes the
    /// baseline, unhashed until something is diffed against it (see
    /// [`Differ::defer`]). Answers false, doing nothing, when it cannot be
    /// deferred: a partial one adds to a baseline, so call [`Feed::diff`].
    pub fn defer(&self, provider: &str, items: SharedItems, complete: bool) -> bool {
        let mut differ = self.lock_differ();
        if !complete && differ.knows(provider) {
            return false;
        }
        differ.defer(provider, items);
        true
    }

    /// The events `items` make against `provider`'s last snapshot, without
    /// appending them (the caller appends elsewhere: the shared stream). The
    /// baseline moves on to `items` either way.
    pub fn diff(&self, provider: &str, items: &[Iso], complete: bool) -> Vec<EventDraft> {
        self.diff_then(provider, items, complete, |drafts| drafts)
    }

    /// The diff of `items`, handed to `then` under the differ's lock. The
    /// hashing (most of the work) runs before the lock, so providers
    /// landing together hash in parallel; so does a deferred baseline's.
    fn diff_then<R>(
        &self,
        provider: &str,
        items: &[Iso],
        complete: bool,
        then: impl FnOnce(Vec<EventDraft>) -> R,
    ) -> R {
        let deferred = self.lock_differ().deferred(provider);
        let base: Option<(SharedItems, Prepared)> =
            deferred.map(|b| (b.clone(), Differ::prepare((*b).as_ref())));
        let prepared = Differ::prepare(items);
        let mut differ = self.lock_differ();
        if let Some((items, hashed)) = base {
            differ.resolve(provider, &items, hashed);
        }
        then(differ.apply(provider, prepared, complete))
    }

    fn lock_differ(&self) -> std::sync::MutexGuard<'_, Differ> {
        self.differ.lock().unwrap_or_else(|p| p.into_inner())
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
