//! The bounded, resumable event history of one process.
//!
//! Appends and subscriptions take one lock, so a subscriber's replay (the
//! ring after its resume point) and its live receiver meet exactly: every
//! event appended before the lock is in the replay, every one after it
//! reaches the receiver. Nothing is missed, nothing repeated.
//!
//! The contract is the one a Redis Stream gives (see the crate docs):
//! `append` is `XADD` with an approximate `MAXLEN`, `subscribe_from(id)`
//! is `XRANGE (id +` then `XREAD BLOCK $`.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use chrono::Utc;
use tokio::sync::broadcast;

use crate::event::{EventData, EventDraft, EventId, EventType, Record, ResetData};
use crate::filter::Selector;

/// How much the log keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LogOptions {
    /// Events kept for resumption (oldest dropped first).
    pub history: usize,
    /// Live events a subscriber may be behind before it resyncs from the
    /// history (a shared ring: memory does not grow per subscriber).
    pub live: usize,
}

impl Default for LogOptions {
    fn default() -> Self {
        LogOptions {
            history: 10_000,
            live: 1024,
        }
    }
}

#[derive(Debug)]
struct State {
    ring: VecDeque<Arc<Record>>,
    /// The newest id issued (or the floor, before any).
    last: EventId,
    /// Every event after this id is in `ring` or not yet appended: the
    /// start of this run, then the last evicted id.
    floor: EventId,
    history: usize,
}

#[derive(Debug)]
struct Inner {
    state: Mutex<State>,
    tx: broadcast::Sender<Arc<Record>>,
}

/// The in-process event log. Cheap to clone (shared).
#[derive(Clone, Debug)]
pub struct EventLog {
    inner: Arc<Inner>,
}

fn now_ms() -> u64 {
    u64::try_from(Utc::now().timestamp_millis()).unwrap_or(0)
}

impl EventLog {
    /// An empty log. Its floor is now: ids from before (an earlier run)
    /// resume into a `reset`.
    pub fn new(opts: LogOptions) -> EventLog {
        let floor = EventId::new(now_ms(), 0);
        let (tx, _) = broadcast::channel(opts.live.max(1));
        EventLog {
            inner: Arc::new(Inner {
                state: Mutex::new(State {
                    ring: VecDeque::with_capacity(opts.history.min(4096)),
                    last: floor,
                    floor,
                    history: opts.history.max(1),
                }),
                tx,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.inner.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Appends one event: gives it the next id and the time now.
    pub fn append(&self, draft: EventDraft) -> Arc<Record> {
        let mut st = self.lock();
        self.append_locked(&mut st, draft)
    }

    /// Appends several events with consecutive ids (one snapshot's diff),
    /// so no other append interleaves.
    pub fn append_all(&self, drafts: Vec<EventDraft>) -> Vec<Arc<Record>> {
        let mut st = self.lock();
        drafts
            .into_iter()
            .map(|d| self.append_locked(&mut st, d))
            .collect()
    }

    fn append_locked(&self, st: &mut State, draft: EventDraft) -> Arc<Record> {
        let id = st.last.next_at(now_ms());
        st.last = id;
        let record = Arc::new(Record::new(draft.into_event(id, Utc::now())));
        st.ring.push_back(record.clone());
        while st.ring.len() > st.history {
            if let Some(old) = st.ring.pop_front() {
                st.floor = old.id();
            }
        }
        // No receivers is fine: nobody is listening.
        let _ = self.inner.tx.send(record.clone());
        record
    }

    /// Adds an event whose id was assigned elsewhere (the shared stream) and
    /// tells the subscribers. Ids must grow: one not above the newest held
    /// (a repeat) is dropped and `false` answered.
    pub fn insert(&self, record: Arc<Record>) -> bool {
        let mut st = self.lock();
        if record.id() <= st.last {
            return false;
        }
        st.last = record.id();
        st.ring.push_back(record.clone());
        while st.ring.len() > st.history {
            if let Some(old) = st.ring.pop_front() {
                st.floor = old.id();
            }
        }
        let _ = self.inner.tx.send(record);
        true
    }

    /// Moves an empty log's position to `position` without telling anyone
    /// (a replica joining the shared stream: its live subscribers follow
    /// from the stream's newest entry). `false`, and nothing done, if the
    /// log holds events (use [`EventLog::reset_to`]).
    pub fn rebase(&self, position: EventId) -> bool {
        let mut st = self.lock();
        if !st.ring.is_empty() {
            return false;
        }
        st.floor = position;
        st.last = position;
        true
    }

    /// Starts over at `position` (the shared stream took over from this
    /// process's own ids, or the other way round): the history is dropped,
    /// every subscriber gets one `reset` (`reason`) with id `position` and
    /// follows from there, even if `position` is below ids it has passed.
    pub fn reset_to(&self, position: EventId, reason: &str) {
        let mut st = self.lock();
        st.ring.clear();
        st.floor = position;
        st.last = position;
        let draft = EventDraft {
            ty: EventType::Reset,
            provider: None,
            subject: None,
            data: EventData::Reset(ResetData {
                reason: reason.to_owned(),
                oldest: None,
            }),
        };
        let record = Record::new(draft.into_event(position, Utc::now())).into_mirrored();
        let _ = self.inner.tx.send(Arc::new(record));
    }

    /// The newest id issued (the floor when nothing was).
    pub fn last_id(&self) -> EventId {
        self.lock().last
    }

    /// The oldest id still held.
    pub fn oldest_id(&self) -> Option<EventId> {
        self.lock().ring.front().map(|r| r.id())
    }

    /// How many events are held.
    pub fn len(&self) -> usize {
        self.lock().ring.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many subscriptions are live (for `/metrics`).
    pub fn subscribers(&self) -> usize {
        self.inner.tx.receiver_count()
    }

    /// The held events after `after`, oldest first (the `since` listing of
    /// an admin or debug route); `None` if `after` is not resumable.
    pub fn read_after(&self, after: EventId) -> Option<Vec<Arc<Record>>> {
        let st = self.lock();
        resumable(&st, after).then(|| after_in(&st, after))
    }

    /// A subscription from `since`:
    /// - `None`: live events only, from now.
    /// - `Some(id)` the history can answer (not older than what was
    ///   dropped, not newer than what was issued): every event after `id`,
    ///   then live ones.
    /// - Any other `Some(id)`: one `reset` event (its id is the newest, the
    ///   point the stream continues from), then live ones. The client
    ///   re-lists and keeps reading.
    pub fn subscribe_from(&self, since: Option<EventId>, selector: Selector) -> Subscription {
        let st = self.lock();
        let rx = self.inner.tx.subscribe();
        let (backlog, last) = match since {
            None => (VecDeque::new(), st.last),
            Some(id) if resumable(&st, id) => (after_in(&st, id).into(), id),
            Some(id) => {
                let reason = if id > st.last { "unknown" } else { "expired" };
                (VecDeque::from([reset_record(&st, reason)]), st.last)
            }
        };
        drop(st);
        Subscription {
            log: self.clone(),
            backlog,
            rx,
            last,
            selector,
        }
    }
}

fn resumable(st: &State, id: EventId) -> bool {
    id >= st.floor && id <= st.last
}

fn after_in(st: &State, id: EventId) -> Vec<Arc<Record>> {
    // Ids are ordered in the ring: find the first after `id` by bisection.
    let start = st.ring.partition_point(|r| r.id() <= id);
    st.ring.range(start..).cloned().collect()
}

fn reset_record(st: &State, reason: &str) -> Arc<Record> {
    reset_at(st.last, reason, st.ring.front().map(|r| r.id()))
}

/// A `reset` event with id `position` (where the stream continues from):
/// `reason` as [`ResetData::reason`], `oldest` the oldest id still held.
pub fn reset_at(position: EventId, reason: &str, oldest: Option<EventId>) -> Arc<Record> {
    let draft = EventDraft {
        ty: EventType::Reset,
        provider: None,
        subject: None,
        data: EventData::Reset(ResetData {
            reason: reason.to_owned(),
            oldest,
        }),
    };
    Arc::new(Record::new(draft.into_event(position, Utc::now())))
}

/// One subscriber's position in the log: its replay, then live events,
/// filtered by its [`Selector`].
#[derive(Debug)]
pub struct Subscription {
    log: EventLog,
    backlog: VecDeque<Arc<Record>>,
    rx: broadcast::Receiver<Arc<Record>>,
    /// The newest id this subscription has passed (delivered or filtered out).
    last: EventId,
    selector: Selector,
}

impl Subscription {
    /// The next event this subscriber sees; `None` once the log is gone.
    ///
    /// Cancel-safe (usable in `select!`): an event is taken only when it
    /// is returned. A subscriber that falls more than
    /// [`LogOptions::live`] behind is caught up from the history, or gets
    /// a `reset` if the history no longer reaches back to it.
    pub async fn recv(&mut self) -> Option<Arc<Record>> {
        loop {
            if let Some(r) = self.backlog.pop_front() {
                self.last = self.last.max(r.id());
                if self.selector.matches(&r) {
                    return Some(r);
                }
                continue;
            }
            match self.rx.recv().await {
                // The log started over (see `EventLog::reset_to`): follow it.
                Ok(r) if r.ty() == EventType::Reset => {
                    self.last = r.id();
                    return Some(r);
                }
                Ok(r) => {
                    if r.id() <= self.last {
                        continue;
                    }
                    self.last = r.id();
                    if self.selector.matches(&r) {
                        return Some(r);
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => self.resync(),
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }

    /// Re-reads from the history after falling behind the live ring.
    fn resync(&mut self) {
        let st = self.log.lock();
        self.rx = self.log.inner.tx.subscribe();
        if resumable(&st, self.last) {
            self.backlog = after_in(&st, self.last).into();
        } else {
            self.backlog = VecDeque::from([reset_record(&st, "lagged")]);
            self.last = st.last;
        }
    }

    /// Replaces what this subscription replays first: `backlog` (the
    /// entries after `position`, read from the shared stream after this
    /// subscription was made, so nothing between the two is missed), then
    /// live events after the newest of them.
    pub fn replay(&mut self, backlog: Vec<Arc<Record>>, position: EventId) {
        self.backlog = backlog.into();
        self.last = position;
    }

    /// Live events received by the log but not yet taken by this
    /// subscriber (its backlog is not counted: that is the shared history).
    pub fn lag(&self) -> usize {
        self.rx.len()
    }

    /// The newest id this subscription has passed: where a reconnect resumes.
    pub fn position(&self) -> EventId {
        self.last
    }
}
