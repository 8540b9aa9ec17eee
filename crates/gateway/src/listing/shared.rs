//! The listing cache's use of the Redis tier N replicas share (issue 17).
//!
//! The hot path never touches Redis: only a load (a miss or a stale
//! refresh, already coalesced per process by the cache) asks the tier, in
//! this order: a fresh snapshot another replica published; else the
//! provider's fetch lease, whose winner fetches upstream and publishes;
//! a loser waits for that snapshot. Any tier error falls back to fetching
//! here, as without a tier (and nothing is published then).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use isogate_core::{IsoProvider, ListOptions};
use isogate_shared_tier::{
    LeaseAttempt, PublishOutcome, Scope, SharedTier, TierError, TierEvent, WaitOutcome,
};
use tokio::sync::broadcast::error::RecvError;

use crate::listing::cache::{ListingCache, Snapshot, prepare};

/// The tier and what a load needs to know about each provider.
#[derive(Clone, Debug)]
pub struct SharedListing {
    tier: SharedTier,
    /// Each provider's deadline: how long a load waits for another replica's fetch.
    deadlines: Arc<HashMap<String, Duration>>,
    fresh: Duration,
}

/// What the lease winner's fetch came to.
enum Fetched {
    /// Stored in the tier (or the tier could not take it): serve it.
    Done(Arc<Snapshot>),
    /// Refused because an invalidation came after the fetch started: its
    /// rows may predate the write, so they are not served.
    Superseded,
}

/// A fetch, encoded and offered to the tier.
struct Published {
    shared: isogate_shared_tier::Snapshot,
    fetched_at: Instant,
    outcome: Result<PublishOutcome, TierError>,
}

impl Published {
    /// The local snapshot; it carries the tier version only if Redis stored it
    /// (refused because Redis restarted, or unreachable: served unshared).
    fn into_snapshot(self, cache: &ListingCache, name: &str) -> Arc<Snapshot> {
        let stored = match &self.outcome {
            Ok(PublishOutcome::Stored) => true,
            Ok(_) => false,
            Err(e) => {
                tracing::debug!(provider = %name, error = %e, "snapshot not published");
                false
            }
        };
        let s = self.shared;
        cache.snapshot_of(
            s.items,
            self.fetched_at,
            s.fetched_at,
            s.incomplete,
            stored.then_some(s.version),
            false,
        )
    }
}

impl SharedListing {
    /// Over `tier`, for providers with these deadlines.
    pub fn new(tier: SharedTier, deadlines: HashMap<String, Duration>, fresh: Duration) -> Self {
        SharedListing {
            tier,
            deadlines: Arc::new(deadlines),
            fresh,
        }
    }

    /// The tier handle (status, rate limits).
    pub fn tier(&self) -> &SharedTier {
        &self.tier
    }

    /// `ok`, or `degraded` while Redis is unreachable.
    pub fn health(&self) -> &'static str {
        if self.tier.status().connected {
            "ok"
        } else {
            "degraded"
        }
    }

    /// The tier's state for `/readyz`.
    pub fn status_json(&self) -> serde_json::Value {
        let mut v = serde_json::to_value(self.tier.status()).unwrap_or_default();
        if let Some(o) = v.as_object_mut() {
            o.insert("status".into(), self.health().into());
        }
        v
    }

    /// Copies the tier's state into the Prometheus registry (at scrape time).
    pub fn record_metrics(&self) {
        let s = self.tier.status();
        metrics::gauge!("isogate_shared_tier_connected").set(f64::from(u8::from(s.connected)));
        metrics::gauge!("isogate_shared_tier_subscriber_connected")
            .set(f64::from(u8::from(s.subscriber_connected)));
        for (what, n) in [
            ("hits", s.hits),
            ("misses", s.misses),
            ("leases_won", s.leases_won),
            ("leases_lost", s.leases_lost),
            ("publishes_stored", s.publishes_stored),
            ("publishes_rejected", s.publishes_rejected_older),
            ("invalidations_sent", s.invalidations_sent),
            ("invalidations_received", s.invalidations_received),
            ("resyncs", s.resyncs),
            ("errors", s.errors),
        ] {
            metrics::counter!("isogate_shared_tier_total", "event" => what).absolute(n);
        }
    }

    fn deadline(&self, provider: &str) -> Duration {
        self.deadlines
            .get(provider)
            .copied()
            .unwrap_or(Duration::from_secs(10))
    }

    /// One load of `provider` for `cache`.
    pub(crate) async fn load(
        self,
        cache: &ListingCache,
        provider: &Arc<dyn IsoProvider>,
        force: bool,
    ) -> isogate_core::Result<Arc<Snapshot>> {
        let name = provider.name().to_owned();
        if force {
            return self.forced(cache, provider).await;
        }
        let local = cache
            .peek(&name)
            .await
            .and_then(|s| s.tier_version)
            .unwrap_or(0);
        match self.tier.get_snapshot(&name).await {
            Ok(Some(s)) if s.version > local && self.age_of(&s) < self.fresh => {
                return Ok(adopt(cache, s));
            }
            Ok(_) => {}
            // Unknown (e.g. a slow first connect): the lease still decides
            // who fetches; only a failing lease call means fetching here.
            Err(e) => tracing::debug!(provider = %name, error = %e, "shared snapshot not read"),
        }
        // Wait at most half the provider's deadline for another replica's
        // fetch, leaving the other half for this one's own if that fails.
        let deadline = tokio::time::Instant::now() + self.deadline(&name) / 2;
        // One retry: after a lease that came free (its holder failed or died)
        // or a fetch an invalidation overtook.
        let mut retried = false;
        loop {
            let attempt = match self.tier.try_lease(&name).await {
                Ok(a) => a,
                Err(e) => return self.fallback(cache, provider, e).await,
            };
            match attempt {
                LeaseAttempt::Won(lease) => match self.fetch(cache, provider, lease).await? {
                    Fetched::Done(snap) => return Ok(snap),
                    Fetched::Superseded if !retried => retried = true,
                    // Invalidated twice during fetches: serve this one unshared.
                    Fetched::Superseded => return local_fetch(cache, provider).await,
                },
                LeaseAttempt::Held { .. } => {
                    match self.tier.wait_for_snapshot(&name, local, deadline).await {
                        Ok(WaitOutcome::Snapshot(s)) => return Ok(adopt(cache, s)),
                        Ok(WaitOutcome::LeaseFree) if !retried => retried = true,
                        Ok(_) => return local_fetch(cache, provider).await,
                        // One slow answer (a busy Redis or replica) is not an
                        // outage: look again while the deadline allows.
                        Err(TierError::Timeout { .. })
                            if tokio::time::Instant::now() < deadline => {}
                        Err(e) => return self.fallback(cache, provider, e).await,
                    }
                }
            }
        }
    }

    /// `refresh=true` (already rate-limited): fetch here whatever the tier
    /// holds, and share the result under a version taken now.
    async fn forced(
        &self,
        cache: &ListingCache,
        provider: &Arc<dyn IsoProvider>,
    ) -> isogate_core::Result<Arc<Snapshot>> {
        let version = match self.tier.next_version().await {
            Ok(v) => v,
            Err(e) => return self.fallback(cache, provider, e).await,
        };
        let listing = provider.list(&ListOptions::default()).await?;
        let published = self.publish(provider.name(), version, listing).await?;
        Ok(published.into_snapshot(cache, provider.name()))
    }

    /// Encodes (off the async threads: 100k items take tens of
    /// milliseconds) and publishes a fetch under `version`.
    async fn publish(
        &self,
        name: &str,
        version: u64,
        listing: isogate_core::Listing,
    ) -> isogate_core::Result<Published> {
        let fetched_at = Instant::now();
        let listing = prepare(listing);
        let shared = isogate_shared_tier::Snapshot {
            version,
            fetched_at: Utc::now(),
            incomplete: listing.incomplete,
            items: listing.items,
        };
        let (shared, bytes) = tokio::task::spawn_blocking(move || {
            let bytes = isogate_shared_tier::encode(&shared);
            (shared, bytes)
        })
        .await
        .map_err(|_| isogate_core::Error::upstream("the snapshot encoder task was lost"))?;
        let outcome = match bytes {
            Ok(bytes) => self.tier.publish_encoded(name, version, bytes).await,
            Err(source) => Err(TierError::Codec {
                provider: name.to_owned(),
                source,
            }),
        };
        Ok(Published {
            shared,
            fetched_at,
            outcome,
        })
    }

    /// The lease winner's fetch: upstream, then publish under the lease's version.
    async fn fetch(
        &self,
        cache: &ListingCache,
        provider: &Arc<dyn IsoProvider>,
        lease: isogate_shared_tier::Lease,
    ) -> isogate_core::Result<Fetched> {
        let name = provider.name().to_owned();
        let version = lease.version;
        let listing = match provider.list(&ListOptions::default()).await {
            Ok(l) => l,
            Err(e) => {
                // Free the lease at once so a waiter tries itself instead of
                // waiting out its deadline.
                let _ = self.tier.release(lease).await;
                return Err(e);
            }
        };
        let published = self.publish(&name, version, listing).await;
        let _ = self.tier.release(lease).await;
        let published = published?;
        if let Ok(PublishOutcome::RejectedOlder { newest }) = published.outcome {
            // A newer snapshot of another replica's: take it; an
            // invalidation since the fetch started: fetch again.
            return Ok(match self.tier.get_snapshot(&name).await {
                Ok(Some(s)) if s.version > version => Fetched::Done(adopt(cache, s)),
                _ => {
                    tracing::debug!(provider = %name, version, newest, "fetch overtaken by an invalidation");
                    Fetched::Superseded
                }
            });
        }
        Ok(Fetched::Done(published.into_snapshot(cache, &name)))
    }

    async fn fallback(
        &self,
        cache: &ListingCache,
        provider: &Arc<dyn IsoProvider>,
        e: TierError,
    ) -> isogate_core::Result<Arc<Snapshot>> {
        tracing::debug!(provider = %provider.name(), error = %e, "shared tier unavailable; fetching here");
        local_fetch(cache, provider).await
    }

    fn age_of(&self, s: &isogate_shared_tier::Snapshot) -> Duration {
        (Utc::now() - s.fetched_at).to_std().unwrap_or_default()
    }

    /// After a local invalidation: every other replica drops its copy, and
    /// fetches that started before cannot publish. Errors only cost the
    /// other replicas their freshness window, so they are logged, not raised.
    pub(crate) async fn invalidated(&self, provider: &str) {
        if let Err(e) = self
            .tier
            .invalidate(&Scope::Provider(provider.to_owned()), &[])
            .await
        {
            tracing::debug!(provider, error = %e, "shared invalidation not sent");
        }
    }

    /// Starts the subscriber and the task applying other replicas'
    /// invalidations to `cache`. Ends when the cache is dropped.
    pub(crate) fn start(&self, cache: &ListingCache, providers: Vec<String>) {
        self.tier.start_subscriber();
        let mut events = self.tier.events();
        let weak = cache.downgrade();
        let tier = self.tier.clone();
        tokio::spawn(async move {
            loop {
                let event = events.recv().await;
                let Some(cache) = weak.upgrade() else { break };
                match event {
                    Ok(TierEvent::Invalidated {
                        scope,
                        version,
                        from_self: false,
                    }) => {
                        let names = match scope {
                            Scope::Provider(p) => vec![p],
                            Scope::All => providers.clone(),
                        };
                        for p in names {
                            let local = cache.peek(&p).await.and_then(|s| s.tier_version);
                            if local.is_none_or(|t| t < version) {
                                cache.invalidate_local(&p).await;
                            }
                        }
                    }
                    Ok(TierEvent::Resync) | Err(RecvError::Lagged(_)) => {
                        resync(&tier, &cache, &providers).await;
                    }
                    Ok(_) => {}
                    Err(RecvError::Closed) => break,
                }
            }
        });
    }
}

/// Messages may have been missed: drop local snapshots older than Redis's.
async fn resync(tier: &SharedTier, cache: &ListingCache, providers: &[String]) {
    for p in providers {
        let Some(local) = cache.peek(p).await else {
            continue;
        };
        if let Ok(Some(remote)) = tier.snapshot_version(p).await
            && local.tier_version.is_none_or(|t| t < remote)
        {
            cache.invalidate_local(p).await;
        }
    }
}

/// Another replica's snapshot as a local one; its age runs from its fetch.
fn adopt(cache: &ListingCache, s: isogate_shared_tier::Snapshot) -> Arc<Snapshot> {
    let age = (Utc::now() - s.fetched_at).to_std().unwrap_or_default();
    let fetched_at = Instant::now().checked_sub(age).unwrap_or_else(Instant::now);
    // The codec (since format 2) stores the derived identity, so the rows equal
    // the fetcher's without recognising them again.
    cache.snapshot_of(
        s.items,
        fetched_at,
        s.fetched_at,
        s.incomplete,
        Some(s.version),
        true,
    )
}

/// The load without the tier.
async fn local_fetch(
    cache: &ListingCache,
    provider: &Arc<dyn IsoProvider>,
) -> isogate_core::Result<Arc<Snapshot>> {
    provider
        .list(&ListOptions::default())
        .await
        .map(|l| cache.new_snapshot(l))
}

/// Builds the tier from `[cache.shared]` (no I/O: a replica starts while
/// Redis is down), starts its subscriber and attaches it to the cache.
pub fn attach(state: &crate::listing::Catalogue) -> Result<(), crate::config::ConfigError> {
    use crate::config::ConfigError;
    let cache_config = &state.config().cache;
    let Some(mut config) = cache_config.shared.clone().filter(|c| c.enabled()) else {
        return Ok(());
    };
    // Redis keeps a snapshot as long as a replica may serve it stale.
    config.snapshot_ttl_ms = cache_config.stale_if_error_s.saturating_mul(1000).max(1000);
    let deadlines: HashMap<String, Duration> = state
        .providers()
        .map(|h| (h.name.clone(), h.deadline))
        .collect();
    if let Some(max) = deadlines.values().max()
        && u128::from(config.lease_ms) <= max.as_millis()
    {
        // A live fetch must keep its lease, or a second replica fetches too.
        return Err(ConfigError(format!(
            "cache.shared.lease_ms ({}) must be above the largest provider deadline_ms ({})",
            config.lease_ms,
            max.as_millis()
        )));
    }
    let tier = SharedTier::new(&config).map_err(|e| ConfigError(e.to_string()))?;
    let shared = SharedListing::new(
        tier,
        deadlines,
        Duration::from_secs(cache_config.fresh_ttl_s),
    );
    shared.start(
        state.cache(),
        state.providers().map(|h| h.name.clone()).collect(),
    );
    // Connect now rather than on the first miss, whose calls have short timeouts.
    let warm = shared.tier().clone();
    tokio::spawn(async move {
        let _ = warm.ping().await;
    });
    state.cache().attach_shared(shared);
    Ok(())
}
