//! Per-provider listing snapshots (DESIGN.md "Cache").
//!
//! moka keeps `Arc<Snapshot>`s for the whole fresh + stale window; freshness
//! is decided here from the snapshot's own fetch time, because moka drops
//! expired entries instead of serving them stale. Loads run in spawned tasks
//! behind one shared future per provider, so concurrent misses coalesce into
//! one upstream fetch and a client that disconnects cancels nothing.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures::FutureExt;
use futures::future::{BoxFuture, Shared};
use isogate_core::{Error, ErrorKind, Iso, IsoProvider, ListOptions};

use crate::config::CacheConfig;

/// One provider's full normalised listing at one moment.
#[derive(Debug)]
pub struct Snapshot {
    /// The items, in upstream order.
    pub items: Vec<Iso>,
    /// When the fetch finished (monotonic, for ages).
    pub fetched_at: Instant,
    /// When the fetch finished (wall clock, for answers).
    pub fetched_at_utc: DateTime<Utc>,
    /// Unique across all snapshots of this process; keys rendered answers.
    pub version: u64,
    /// Why the listing is known to be incomplete, if it is.
    pub incomplete: Option<String>,
    /// Its version in the shared tier (issue 17), when it came from or went to it.
    pub tier_version: Option<u64>,
    /// Loaded from the shared tier (another replica fetched it), so its
    /// changes are that replica's to announce (issue 18).
    pub adopted: bool,
}

impl Snapshot {
    /// Seconds since the fetch.
    pub fn age(&self) -> Duration {
        self.fetched_at.elapsed()
    }
}

/// The feed's deferred baseline borrows the rows (isogate_feed::SharedItems).
impl AsRef<[Iso]> for Snapshot {
    fn as_ref(&self) -> &[Iso] {
        &self.items
    }
}

/// How a provider's rows were obtained for one answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Freshness {
    /// Fetched for this request.
    Miss,
    /// Served from a fresh snapshot.
    Hit,
    /// Served from a snapshot past `fresh_ttl` (a refresh is running, or the provider failed).
    Stale,
}

/// The outcome of resolving one provider for one request.
#[derive(Clone, Debug)]
pub struct Resolved {
    /// The rows to serve, if any.
    pub snapshot: Option<Arc<Snapshot>>,
    /// How they were obtained.
    pub freshness: Freshness,
    /// The failure, when the provider could not be listed now.
    pub error: Option<Arc<Error>>,
}

type Load = Shared<BoxFuture<'static, Result<Arc<Snapshot>, Arc<Error>>>>;

/// Health of a provider as seen by the cache (for `/v1/providers`, `/readyz`).
#[derive(Clone, Debug, Default)]
pub struct Health {
    /// Last successful listing.
    pub last_success: Option<DateTime<Utc>>,
    /// Last failure and its code.
    pub last_error: Option<(DateTime<Utc>, String)>,
    /// Failures since the last success.
    pub consecutive_failures: u64,
}

/// The snapshot cache of every provider.
#[derive(Clone, Debug)]
pub struct ListingCache {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    snapshots: moka::future::Cache<String, Arc<Snapshot>>,
    state: Mutex<HashMap<String, ProviderState>>,
    windows: CacheConfig,
    versions: AtomicU64,
    /// Bumped after every snapshot change, so answers built from the old
    /// snapshots can tell they are out of date with one load.
    epoch: AtomicU64,
    /// The Redis tier replicas share, when `[cache.shared]` is on.
    shared: std::sync::OnceLock<crate::listing::shared::SharedListing>,
    /// The change feed, told of every snapshot stored (see `listing::feed`).
    feed: std::sync::OnceLock<Arc<isogate_feed::Feed>>,
    /// The feed's shared stream, when `[cache.shared]` is on (issue 18).
    shared_feed: std::sync::OnceLock<crate::listing::feed_shared::SharedFeed>,
}

#[derive(Default)]
struct ProviderState {
    inflight: Option<Load>,
    generation: u64,
    last_forced: Option<Instant>,
    health: Health,
}

impl std::fmt::Debug for ProviderState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderState")
            .field("loading", &self.inflight.is_some())
            .field("generation", &self.generation)
            .finish()
    }
}

impl ListingCache {
    /// A cache with the given windows.
    pub fn new(windows: CacheConfig) -> Self {
        let keep = Duration::from_secs(windows.stale_ttl_s.max(windows.stale_if_error_s).max(1));
        ListingCache {
            inner: Arc::new(Inner {
                snapshots: moka::future::Cache::builder().time_to_live(keep).build(),
                state: Mutex::new(HashMap::new()),
                windows,
                versions: AtomicU64::new(1),
                epoch: AtomicU64::new(0),
                shared: std::sync::OnceLock::new(),
                feed: std::sync::OnceLock::new(),
                shared_feed: std::sync::OnceLock::new(),
            }),
        }
    }

    /// The windows in force.
    pub fn windows(&self) -> &CacheConfig {
        &self.inner.windows
    }

    /// A snapshot of `listing` fetched now, with a version no other snapshot
    /// of this process has (rendered pages and per-snapshot tops are keyed
    /// by it), whether or not it is ever stored here.
    pub fn new_snapshot(&self, listing: isogate_core::Listing) -> Arc<Snapshot> {
        let listing = prepare(listing);
        self.snapshot_of(
            listing.items,
            Instant::now(),
            Utc::now(),
            listing.incomplete,
            None,
            false,
        )
    }

    /// A snapshot of rows already prepared: fetched here, or (`adopted`)
    /// another replica's, read from the shared tier.
    pub(crate) fn snapshot_of(
        &self,
        items: Vec<Iso>,
        fetched_at: Instant,
        fetched_at_utc: DateTime<Utc>,
        incomplete: Option<String>,
        tier_version: Option<u64>,
        adopted: bool,
    ) -> Arc<Snapshot> {
        Arc::new(Snapshot {
            items,
            fetched_at,
            fetched_at_utc,
            version: self.inner.versions.fetch_add(1, Ordering::Relaxed),
            incomplete,
            tier_version,
            adopted,
        })
    }

    /// Attaches the shared tier (once, at start).
    pub fn attach_shared(&self, shared: crate::listing::shared::SharedListing) {
        let _ = self.inner.shared.set(shared);
    }

    /// The shared tier, when attached.
    pub fn shared(&self) -> Option<&crate::listing::shared::SharedListing> {
        self.inner.shared.get()
    }

    /// A handle that does not keep the cache alive (background tasks).
    pub(crate) fn downgrade(&self) -> WeakListingCache {
        WeakListingCache(Arc::downgrade(&self.inner))
    }
}

/// See [`ListingCache::downgrade`].
pub(crate) struct WeakListingCache(std::sync::Weak<Inner>);

impl WeakListingCache {
    pub(crate) fn upgrade(&self) -> Option<ListingCache> {
        self.0.upgrade().map(|inner| ListingCache { inner })
    }
}

/// Shrinks and recognises fetched rows before they become a snapshot.
pub(crate) fn prepare(mut listing: isogate_core::Listing) -> isogate_core::Listing {
    // A listing grown by doubling keeps up to half its size spare, for
    // as long as the snapshot lives.
    listing.items.shrink_to_fit();
    // Every provider's items carry os.family/os.version/arch/edition (issue 20).
    isogate_core::identity::recognise_all(&mut listing.items);
    listing
}

impl ListingCache {
    /// Sends every snapshot stored from now on through the shared stream (once).
    pub(crate) fn attach_shared_feed(&self, f: crate::listing::feed_shared::SharedFeed) {
        let _ = self.inner.shared_feed.set(f);
    }

    /// The feed's shared stream, when attached.
    pub(crate) fn shared_feed(&self) -> Option<&crate::listing::feed_shared::SharedFeed> {
        self.inner.shared_feed.get()
    }

    /// Tells `feed` of every snapshot stored from now on (once).
    pub fn attach_feed(&self, feed: Arc<isogate_feed::Feed>) {
        let _ = self.inner.feed.set(feed);
    }

    /// A poll: starts (or joins) the one load of `provider`, whatever the
    /// age of its snapshot, and waits for it.
    pub async fn refresh(
        &self,
        provider: &Arc<dyn IsoProvider>,
    ) -> Result<Arc<Snapshot>, Arc<Error>> {
        // Not forced: with the shared tier a snapshot another replica just
        // published serves the poll, so N replicas do not poll N times.
        self.load(provider, false).await
    }

    /// Changes whenever any snapshot is replaced or dropped; read it before
    /// resolving to know later whether what was resolved is still current.
    pub fn epoch(&self) -> u64 {
        self.inner.epoch.load(Ordering::Acquire)
    }

    /// The current snapshot of a provider, whatever its age.
    pub async fn peek(&self, provider: &str) -> Option<Arc<Snapshot>> {
        self.inner.snapshots.get(provider).await
    }

    /// The provider's health as the cache saw it.
    pub fn health(&self, provider: &str) -> Health {
        self.lock()
            .get(provider)
            .map(|s| s.health.clone())
            .unwrap_or_default()
    }

    /// Drops a provider's snapshot; a load already running will not put its
    /// (older) result back. With the shared tier, every replica drops it too.
    pub async fn invalidate(&self, provider: &str) {
        self.invalidate_local(provider).await;
        if let Some(shared) = self.shared() {
            shared.invalidated(provider).await;
        }
    }

    /// [`Self::invalidate`] of this process only (another replica's invalidation).
    pub async fn invalidate_local(&self, provider: &str) {
        {
            let mut state = self.lock();
            let entry = state.entry(provider.to_owned()).or_default();
            entry.generation += 1;
            entry.inflight = None;
        }
        self.inner.snapshots.invalidate(provider).await;
        self.inner.epoch.fetch_add(1, Ordering::AcqRel);
        metrics::counter!("isogate_cache_invalidations_total", "provider" => provider.to_owned())
            .increment(1);
    }

    /// Rows for one provider for one request, within `deadline`.
    ///
    /// `force` asks for a fresh fetch; it is honoured at most once per
    /// `refresh_min_interval_s` per provider (otherwise the normal rules apply).
    pub async fn resolve(
        &self,
        provider: &Arc<dyn IsoProvider>,
        deadline: Duration,
        force: bool,
    ) -> Resolved {
        let name = provider.name().to_owned();
        let snapshot = self.inner.snapshots.get(&name).await;
        let force = force && self.take_forced_slot(&name);
        let windows = &self.inner.windows;
        if let Some(snap) = &snapshot
            && !force
        {
            let age = snap.age();
            if age < Duration::from_secs(windows.fresh_ttl_s) {
                count("isogate_cache_hits_total", &name);
                return resolved(Some(snap.clone()), Freshness::Hit, None);
            }
            if age < Duration::from_secs(windows.stale_ttl_s) {
                // Stale-while-revalidate: answer now, refresh once in the background.
                count("isogate_cache_stale_serves_total", &name);
                drop(self.load(provider, false));
                return resolved(Some(snap.clone()), Freshness::Stale, None);
            }
        }
        count("isogate_cache_misses_total", &name);
        let outcome = tokio::time::timeout(deadline, self.load(provider, force)).await;
        let error = match outcome {
            Ok(Ok(fresh)) => return resolved(Some(fresh), Freshness::Miss, None),
            Ok(Err(e)) => e,
            Err(_) => Arc::new(
                Error::new(
                    ErrorKind::Timeout,
                    format!("no listing within the provider's deadline of {deadline:?}"),
                )
                .with_provider(&name)
                .with_operation("list"),
            ),
        };
        match snapshot {
            Some(snap) if snap.age() < Duration::from_secs(windows.stale_if_error_s) => {
                count("isogate_cache_stale_serves_total", &name);
                resolved(Some(snap), Freshness::Stale, Some(error))
            }
            _ => resolved(None, Freshness::Miss, Some(error)),
        }
    }

    /// Starts (or joins) the one load of this provider.
    /// `force`: an honoured `refresh=true`, which must reach the upstream.
    fn load(&self, provider: &Arc<dyn IsoProvider>, force: bool) -> Load {
        let name = provider.name().to_owned();
        let mut state = self.lock();
        let entry = state.entry(name.clone()).or_default();
        if let Some(load) = &entry.inflight {
            count("isogate_cache_coalesced_loads_total", &name);
            return load.clone();
        }
        let generation = entry.generation;
        let this = self.clone();
        let provider = provider.clone();
        let task = tokio::spawn(async move {
            let started = Instant::now();
            let result = match this.shared() {
                // Another replica's snapshot, or one fetch for all (issue 17).
                Some(shared) => shared.clone().load(&this, &provider, force).await,
                None => provider
                    .list(&ListOptions::default())
                    .await
                    .map(|listing| this.new_snapshot(listing)),
            };
            metrics::histogram!("isogate_listing_fetch_seconds", "provider" => name.clone())
                .record(started.elapsed().as_secs_f64());
            this.finish_load(&name, generation, result).await
        });
        let load: Load = async move {
            task.await.unwrap_or_else(|e| {
                // A panicking adapter must not vanish silently; JoinError says whether it panicked.
                tracing::error!(error = %e, "listing task ended without an answer");
                Err(Arc::new(
                    Error::upstream("the listing task was lost").with_operation("list"),
                ))
            })
        }
        .boxed()
        .shared();
        entry.inflight = Some(load.clone());
        load
    }

    async fn finish_load(
        &self,
        name: &str,
        generation: u64,
        result: isogate_core::Result<Arc<Snapshot>>,
    ) -> Result<Arc<Snapshot>, Arc<Error>> {
        let outcome = result.map_err(|e| Arc::new(e.or_provider(name).or_operation("list")));
        // A snapshot lands here: the one place a fresh listing enters the
        // cache (the hook for a change feed or a shared tier).
        //
        // Insert first, clear `inflight` after: a request arriving in between
        // either finds the new snapshot or joins this load, never starting a
        // second fetch. An invalidation meanwhile (the generation moved) must
        // not be undone by this older result, so it is dropped again.
        if let Ok(snap) = &outcome {
            if self.generation(name) != generation {
                return outcome;
            }
            self.inner
                .snapshots
                .insert(name.to_owned(), snap.clone())
                .await;
        }
        let current = {
            let mut state = self.lock();
            let entry = state.entry(name.to_owned()).or_default();
            let current = entry.generation == generation;
            if current {
                entry.inflight = None;
                match &outcome {
                    Ok(_) => {
                        entry.health.last_success = Some(Utc::now());
                        entry.health.consecutive_failures = 0;
                    }
                    Err(e) => {
                        entry.health.last_error = Some((Utc::now(), e.code().to_owned()));
                        entry.health.consecutive_failures += 1;
                    }
                }
            }
            current
        };
        match (current, &outcome) {
            (true, Ok(snap)) => {
                self.inner.epoch.fetch_add(1, Ordering::AcqRel);
                crate::listing::feed::snapshot_landed(
                    self.inner.feed.get(),
                    self.inner.shared_feed.get(),
                    name,
                    snap,
                );
            }
            (false, Ok(_)) => {
                // Invalidated while inserting: take the old rows out again
                // (at worst a newer load's, which costs a miss, not stale rows).
                self.inner.snapshots.invalidate(name).await;
                self.inner.epoch.fetch_add(1, Ordering::AcqRel);
            }
            _ => {}
        }
        outcome
    }

    fn generation(&self, name: &str) -> u64 {
        self.lock().get(name).map_or(0, |e| e.generation)
    }

    fn take_forced_slot(&self, name: &str) -> bool {
        let min = Duration::from_secs(self.inner.windows.refresh_min_interval_s);
        let mut state = self.lock();
        let entry = state.entry(name.to_owned()).or_default();
        match entry.last_forced {
            Some(at) if at.elapsed() < min => false,
            _ => {
                entry.last_forced = Some(Instant::now());
                true
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, ProviderState>> {
        self.inner.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn resolved(
    snapshot: Option<Arc<Snapshot>>,
    freshness: Freshness,
    error: Option<Arc<Error>>,
) -> Resolved {
    Resolved {
        snapshot,
        freshness,
        error,
    }
}

fn count(metric: &'static str, provider: &str) {
    metrics::counter!(metric, "provider" => provider.to_owned()).increment(1);
}
