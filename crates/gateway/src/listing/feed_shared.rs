//! The change feed across replicas (issue 18 over issue 17's tier): with
//! `[cache.shared]`, events go through ONE Redis Stream (`{prefix}:feed`),
//! so every replica serves the same ids and history.
//!
//! - **Appending** (one task per replica, in landing order): a snapshot this
//!   replica fetched and stored in the tier is diffed against the feed's
//!   baseline and appended (`XADD MAXLEN ~ history`, ids by Redis) under a
//!   compare-and-set on `feedbase:<provider>` = the tier version of the
//!   snapshot the feed last diffed to. So exactly one replica appends each
//!   change: the lease winner, whose baseline is the feed's; a replica whose
//!   baseline lagged (it missed a snapshot) is refused, re-diffs from the
//!   tier's snapshot when that is the feed's baseline, and otherwise drops
//!   a diff older than the feed's or appends its own (repeats possible,
//!   gaps not). Snapshots loaded from the tier (another replica's fetch)
//!   only move the local baseline. A snapshot fetched here but not stored
//!   in the tier (a deadline fallback, a refused publish) is left to the
//!   replica whose publish wins, unless Redis is down (see below).
//! - **`provider.status`**: the breaker is per replica, so each replica's
//!   poller judges for itself, but the stream gets one event per change of
//!   the *deployment's* status: appended only when it differs from
//!   `feedstatus:<provider>` (set in the same script). Two replicas that see
//!   the same outage announce it once; replicas that disagree announce
//!   each flip of the shared view.
//! - **Reading**: one `XREAD BLOCK` loop per replica mirrors the stream into
//!   the in-process log, which fans out to its SSE clients (and keeps a
//!   history for slow subscribers). A `Last-Event-ID` is answered from the
//!   stream (`XRANGE`), so a client resumes on any replica; an id the stream
//!   cannot resume from gets `reset`, as the ring answers.
//! - **Webhooks**: each endpoint is a consumer group; see [`consume`].
//! - **Redis down**: appends fall back to the in-process ring (local ids,
//!   local webhook queue: every replica is an island, as without the tier),
//!   SSE clients keep their streams; when the mirror reads the stream again
//!   after local ids were issued (or after a gap it cannot fill), the log
//!   starts over with one `reset` (reason `failover`), so a client never
//!   crosses the switch silently. Nothing returns a 5xx because of Redis.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use isogate_feed::{
    EventDraft, EventId, Feed, ProviderStatus, Record, Selector, Subscription, WebhookEndpoint,
    reset_at,
};
use isogate_shared_tier::{AppendGuard, AppendOutcome, SharedTier, StreamEntry};
use sha2::{Digest, Sha256};
use tokio::sync::{Notify, mpsc};

use crate::listing::cache::Snapshot;

/// Entries read per `XREAD` / `XREADGROUP`.
const BATCH: usize = 256;
/// How long one `XREAD` blocks (the reader's connection is its own).
const BLOCK: Duration = Duration::from_millis(1000);

enum Job {
    Landed(String, Arc<Snapshot>),
    Status(String, ProviderStatus),
}

struct Inner {
    tier: SharedTier,
    feed: Arc<Feed>,
    history: usize,
    jobs: mpsc::UnboundedSender<Job>,
    /// The mirror read the stream on its last try.
    mirror_up: AtomicBool,
    /// Events got local ids (Redis was down) since the mirror last followed.
    diverged: AtomicBool,
    /// New entries mirrored: wakes the webhook consumers.
    wake: Notify,
}

/// The feed's shared stream of one replica (cheap to clone).
#[derive(Clone)]
pub struct SharedFeed {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for SharedFeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedFeed")
            .field("mirror_up", &self.mirror_up())
            .finish_non_exhaustive()
    }
}

impl SharedFeed {
    /// Starts the appender and the mirror of `feed` over `tier`.
    pub fn start(tier: SharedTier, feed: Arc<Feed>, history: usize) -> SharedFeed {
        let (jobs, rx) = mpsc::unbounded_channel();
        let sf = SharedFeed {
            inner: Arc::new(Inner {
                tier,
                feed,
                history: history.max(1),
                jobs,
                mirror_up: AtomicBool::new(false),
                diverged: AtomicBool::new(false),
                wake: Notify::new(),
            }),
        };
        tokio::spawn(appender(Arc::downgrade(&sf.inner), rx));
        tokio::spawn(mirror(Arc::downgrade(&sf.inner)));
        sf
    }

    /// Whether the mirror follows the stream now.
    pub fn mirror_up(&self) -> bool {
        self.inner.mirror_up.load(Ordering::Relaxed)
    }

    /// A snapshot landed in the cache (called in landing order).
    pub fn landed(&self, provider: &str, snap: &Arc<Snapshot>) {
        let _ = self
            .inner
            .jobs
            .send(Job::Landed(provider.to_owned(), snap.clone()));
    }

    /// A poll observed `provider`'s status.
    pub fn status(&self, provider: &str, status: ProviderStatus) {
        let _ = self
            .inner
            .jobs
            .send(Job::Status(provider.to_owned(), status));
    }

    /// A subscription from `since`, answered from the stream so that an id
    /// issued by any replica resumes here. Falls back to the local mirror
    /// while Redis is unreachable.
    pub async fn subscribe(&self, since: Option<EventId>, selector: Selector) -> Subscription {
        let log = self.inner.feed.log();
        let Some(id) = since.filter(|_| self.mirror_up()) else {
            return log.subscribe_from(since, selector);
        };
        // Subscribed before the range is read: an entry is either in the
        // range or reaches the subscription live (repeats are skipped by id).
        let mut sub = log.subscribe_from(None, selector.clone());
        match self
            .inner
            .tier
            .feed_range_after(&id.to_string(), self.inner.history.saturating_mul(2))
            .await
        {
            Ok(r) if r.resumable => {
                let backlog = r.entries.iter().filter_map(record).collect();
                sub.replay(backlog, id);
                sub
            }
            Ok(r) => {
                let first: Option<EventId> = r.first.as_deref().and_then(|f| f.parse().ok());
                let last: EventId = r.last.parse().unwrap_or_default();
                let reason = if first.is_some_and(|f| id < f) {
                    "expired"
                } else {
                    "unknown"
                };
                let position = last.max(log.last_id());
                sub.replay(vec![reset_at(position, reason, first)], position);
                sub
            }
            Err(e) => {
                tracing::debug!(error = %e, "shared feed range not read; resuming from the local mirror");
                log.subscribe_from(since, selector)
            }
        }
    }
}

fn record(e: &StreamEntry) -> Option<Arc<Record>> {
    let r = Record::from_stream(&e.id, &e.body);
    if r.is_none() {
        tracing::debug!(id = %e.id, "unreadable feed entry skipped");
    }
    r.map(Arc::new)
}

fn bodies(drafts: Vec<EventDraft>) -> Vec<Vec<u8>> {
    drafts.into_iter().map(EventDraft::stream_body).collect()
}

/// The shared status key's value: health and breaker, as their JSON names.
fn status_value(s: &ProviderStatus) -> String {
    format!(
        "{}|{}",
        serde_json::to_string(&s.health).unwrap_or_default(),
        serde_json::to_string(&s.breaker).unwrap_or_default()
    )
}

/// Appends in landing order; the only writer of this replica's events.
async fn appender(weak: std::sync::Weak<Inner>, mut rx: mpsc::UnboundedReceiver<Job>) {
    // The tier version each provider's local baseline came from.
    let mut bases: HashMap<String, Option<u64>> = HashMap::new();
    while let Some(job) = rx.recv().await {
        let Some(inner) = weak.upgrade() else { return };
        match job {
            Job::Landed(p, snap) => landed(&inner, &mut bases, &p, snap).await,
            Job::Status(p, status) => {
                let Some(draft) = inner.feed.status_change(&p, status.clone()) else {
                    continue;
                };
                let guard = AppendGuard::Changes {
                    key: format!("feedstatus:{p}"),
                    set: status_value(&status),
                };
                append(&inner, &guard, vec![draft]).await;
            }
        }
    }
}

async fn landed(
    inner: &Inner,
    bases: &mut HashMap<String, Option<u64>>,
    p: &str,
    snap: Arc<Snapshot>,
) {
    let complete = snap.incomplete.is_none();
    if snap.adopted {
        // Another replica fetched it and announced its changes: it is only
        // this replica's baseline, hashed if ever a diff here needs it.
        if !inner.feed.defer(p, snap.clone(), complete) {
            diff(inner, p, &snap, complete).await;
        }
        bases.insert(p.to_owned(), snap.tier_version);
        return;
    }
    let Some(version) = snap.tier_version else {
        if inner.mirror_up.load(Ordering::Relaxed) {
            // Not in the tier: the replica whose snapshot is will announce
            // the change; this one's baseline stays the feed's.
            return;
        }
        let drafts = diff(inner, p, &snap, complete).await;
        bases.insert(p.to_owned(), None);
        local(inner, drafts);
        return;
    };
    let base = bases.insert(p.to_owned(), Some(version)).flatten();
    let drafts = diff(inner, p, &snap, complete).await;
    let guard = AppendGuard::Baseline {
        provider: p.to_owned(),
        expect: base.map(|b| b.to_string()).unwrap_or_default(),
        set: version.to_string(),
    };
    let refused = match inner
        .tier
        .feed_append(&guard, &bodies(drafts.clone()), inner.history)
        .await
    {
        Ok(AppendOutcome::Appended(_)) => return,
        Ok(AppendOutcome::Refused(cur)) => cur,
        Err(e) => {
            tracing::debug!(provider = %p, error = %e, "feed stream unavailable; events stay local");
            local(inner, drafts);
            return;
        }
    };
    // Our baseline was not the feed's: a snapshot landed in the feed that
    // this replica never loaded (or this is its first). Diff from the
    // feed's own baseline copy when it is there.
    let feed_base: Option<u64> = refused.parse().ok();
    if feed_base.is_some_and(|b| b >= version) {
        // The feed is already past this snapshot.
        return;
    }
    let drafts = match (feed_base, inner.tier.feed_baseline(p).await) {
        (Some(b), Ok(Some(s))) if s.version == b => {
            // Format 2 snapshots carry their identity: no recognising again.
            let mut d = isogate_feed::Differ::new();
            d.snapshot(p, &s.items, true);
            d.snapshot(p, &snap.items, complete)
        }
        // No copy (expired, or the tier's snapshot was replaced before the
        // copy): a first snapshot here announces nothing the feed has not
        // (its `provider.synced`); a lagging baseline's diff holds every
        // change since it, maybe with repeats, never with gaps.
        _ if base.is_none() && feed_base.is_some() => Vec::new(),
        _ => drafts,
    };
    let guard = AppendGuard::Baseline {
        provider: p.to_owned(),
        expect: refused,
        set: version.to_string(),
    };
    match inner
        .tier
        .feed_append(&guard, &bodies(drafts.clone()), inner.history)
        .await
    {
        Ok(AppendOutcome::Appended(_)) => {}
        Ok(AppendOutcome::Refused(_)) => {
            tracing::debug!(provider = %p, version, "feed moved on during one append; diff dropped");
        }
        Err(_) => local(inner, drafts),
    }
}

/// The feed's diff of `snap`, hashed on a blocking thread: ~100k items take
/// a noticeable part of a second, which on an async worker would hold up
/// requests and the tier's short-timeout Redis calls. Jobs run one at a
/// time, so the order of snapshots is kept.
async fn diff(inner: &Inner, p: &str, snap: &Arc<Snapshot>, complete: bool) -> Vec<EventDraft> {
    let (feed, p, snap) = (inner.feed.clone(), p.to_owned(), snap.clone());
    let provider = p.clone();
    match tokio::task::spawn_blocking(move || feed.diff(&p, &snap.items, complete)).await {
        Ok(drafts) => drafts,
        Err(e) => {
            // The baseline did not move: the next snapshot diffs from the last good one.
            tracing::warn!(provider = %provider, error = %e, "feed diff failed; no events for this snapshot");
            Vec::new()
        }
    }
}

async fn append(inner: &Inner, guard: &AppendGuard, drafts: Vec<EventDraft>) {
    match inner
        .tier
        .feed_append(guard, &bodies(drafts.clone()), inner.history)
        .await
    {
        Ok(_) => {}
        Err(_) => local(inner, drafts),
    }
}

/// Redis is down: the in-process ring, as without the tier.
fn local(inner: &Inner, drafts: Vec<EventDraft>) {
    if drafts.is_empty() {
        return;
    }
    inner.diverged.store(true, Ordering::Relaxed);
    inner.feed.log().append_all(drafts);
    metrics::counter!("isogate_events_local_fallback_total").increment(1);
}

/// Follows the stream into the local log.
async fn mirror(weak: std::sync::Weak<Inner>) {
    let mut reader = match weak.upgrade() {
        Some(i) => i.tier.feed_reader(),
        None => return,
    };
    let mut cursor: Option<String> = None;
    let mut delay = Duration::from_millis(100);
    loop {
        let Some(inner) = weak.upgrade() else { return };
        let log = inner.feed.log();
        let step: Result<(), isogate_shared_tier::TierError> = async {
            let Some(at) = cursor.clone() else {
                // First contact (or after a gap): follow from the newest entry.
                let last = inner.tier.feed_last_id().await?;
                let id: EventId = last.parse().unwrap_or_default();
                let diverged = inner.diverged.swap(false, Ordering::Relaxed);
                if diverged || (id < log.last_id() && !log.rebase(id)) {
                    // Local ids were issued, or the mirror held entries the
                    // stream may no longer continue from: start over, loudly.
                    log.reset_to(id, "failover");
                }
                cursor = Some(last);
                inner.mirror_up.store(true, Ordering::Relaxed);
                return Ok(());
            };
            if !inner.mirror_up.load(Ordering::Relaxed) {
                // Back after an outage: catch up if the stream still reaches
                // back to where the mirror stopped and no local id was issued.
                let r = inner.tier.feed_range_after(&at, inner.history).await?;
                if !r.resumable || inner.diverged.load(Ordering::Relaxed) {
                    cursor = None;
                    return Ok(());
                }
                follow(&inner, &r.entries, &mut cursor);
                inner.mirror_up.store(true, Ordering::Relaxed);
                return Ok(());
            }
            // The handle is upgraded per read, so a dropped gateway ends the
            // task within one block.
            let entries = reader.read(&at, BLOCK, BATCH).await?;
            follow(&inner, &entries, &mut cursor);
            Ok(())
        }
        .await;
        match step {
            Ok(()) => delay = Duration::from_millis(100),
            Err(e) => {
                if inner.mirror_up.swap(false, Ordering::Relaxed) {
                    tracing::warn!(error = %e, "feed stream unreachable; events stay on this replica until it is back");
                }
                drop(inner);
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(2));
            }
        }
    }
}

fn follow(inner: &Inner, entries: &[StreamEntry], cursor: &mut Option<String>) {
    if entries.is_empty() {
        return;
    }
    for e in entries {
        if let Some(r) = record(e) {
            inner.feed.log().insert(r);
        }
        *cursor = Some(e.id.clone());
    }
    inner.wake.notify_waiters();
}

/// The consumer group of `ep`: the same on every replica with its configuration.
pub fn group_of(ep: &WebhookEndpoint) -> String {
    let h = Sha256::digest(ep.identity().as_bytes());
    format!("wh:{}", hex::encode(&h[..8]))
}

/// Delivers one webhook endpoint's events from the stream, once across
/// replicas: the endpoint is a consumer group (created at `$`: events from
/// its first start on), each replica a consumer, `XACK` after delivery or
/// dead-lettering.
///
/// Per-endpoint order: one replica at a time delivers to an endpoint,
/// holding a short lease (`lease`, renewed while it works); the others
/// wait. The holder first takes over entries a previous holder left
/// unacknowledged (`XAUTOCLAIM` once they have been idle for `lease`, so a
/// holder that lost its lease but is finishing an attempt is not doubled),
/// delivers them, and only then reads new ones, so a receiver sees events
/// in stream order even across a replica's death. A lease over the group,
/// not one consumer per replica racing on `XREADGROUP`, because
/// competing consumers deliver in parallel and so out of order.
pub async fn consume(sf: SharedFeed, ep: WebhookEndpoint, lease: Duration) {
    let group = group_of(&ep);
    let lease_name = format!("whlease:{group}");
    let tier = sf.inner.tier.clone();
    let me = tier.origin().to_owned();
    let mut created = false;
    loop {
        if !created {
            if tier.group_create(&group).await.is_err() {
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
            created = true;
        }
        match tier.take_named_lease(&lease_name, &me, lease).await {
            Ok(true) => {}
            Ok(false) => {
                idle(&sf, lease / 3).await;
                continue;
            }
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
        }
        let batch = async {
            let others = tier.group_claim(&group, &me, lease, BATCH).await?;
            if others > 0 {
                // An earlier holder's entries are not idle long enough yet.
                return Ok(None);
            }
            let mine = tier.group_read(&group, &me, true, BATCH).await?;
            if !mine.is_empty() {
                return Ok(Some(mine));
            }
            tier.group_read(&group, &me, false, BATCH).await.map(Some)
        }
        .await;
        let batch: Vec<StreamEntry> = match batch {
            Ok(Some(b)) => b,
            Ok(None) => {
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
            Err(e) => {
                if e.to_string().contains("NOGROUP") {
                    // Redis lost the group (a restart without persistence).
                    created = false;
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
        };
        if batch.is_empty() {
            // Short of the lease's life, so an idle holder keeps it.
            idle(&sf, Duration::from_secs(1).min(lease / 3)).await;
            continue;
        }
        for entry in batch {
            let rec = Record::from_stream(&entry.id, &entry.body);
            if let Some(rec) = rec.filter(|r| ep.wants(r)) {
                let done = tokio::select! {
                    d = ep.deliver(&rec, tokio::time::Instant::now()) => Some(d),
                    () = keep_lease(&tier, &lease_name, &me, lease) => None,
                };
                if done.is_none() {
                    // Lost the lease mid-delivery: the entry stays pending
                    // and the new holder takes it over.
                    break;
                }
            }
            // Delivered, dead-lettered, unreadable or not for this endpoint.
            if tier.group_ack(&group, &[entry.id]).await.is_err() {
                break;
            }
        }
    }
}

/// Until new entries are mirrored, or `d`.
async fn idle(sf: &SharedFeed, d: Duration) {
    let _ = tokio::time::timeout(d, sf.inner.wake.notified()).await;
}

/// Renews the lease every third of its life; returns once it is lost.
async fn keep_lease(tier: &SharedTier, name: &str, me: &str, lease: Duration) {
    let mut last_ok = tokio::time::Instant::now();
    loop {
        tokio::time::sleep(lease / 3).await;
        match tier.take_named_lease(name, me, lease).await {
            Ok(true) => last_ok = tokio::time::Instant::now(),
            Ok(false) => return,
            // Unreachable Redis: the lease runs out there too.
            Err(_) if last_ok.elapsed() >= lease => return,
            Err(_) => {}
        }
    }
}
