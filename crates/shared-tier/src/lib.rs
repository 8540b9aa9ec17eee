//! The Redis tier N isogate replicas share (issue 17).
//!
//! Each replica keeps its in-process snapshots; this crate is what it calls
//! around them: the latest snapshot of each provider ([`SharedTier::get_snapshot`],
//! [`SharedTier::publish_snapshot`]), one upstream fetch per provider across
//! replicas ([`SharedTier::try_lease`], [`SharedTier::wait_for_snapshot`]),
//! invalidation ([`SharedTier::invalidate`], [`SharedTier::start_subscriber`]),
//! shared rate limits ([`SharedTier::allow`]) and a shared cursor key
//! ([`SharedTier::establish_cursor_key`]).
//!
//! Every call has a short timeout and returns a [`TierError`] when Redis is
//! slow or gone; the caller carries on with its local state. Nothing here
//! panics on Redis's answers and no error or `Debug` output carries the URL.
//!
//! # Versions
//!
//! One tier-wide counter (`{prefix}:seq`, `INCR` in Lua) numbers every fetch
//! and every invalidation, so versions of all replicas are comparable and
//! "newer" never depends on replica clocks. The lease winner gets its
//! version when it wins, i.e. when its fetch starts: a result can only be
//! newer than one whose fetch started earlier, and an invalidation (which
//! takes a version too and raises a floor) beats every fetch that started
//! before it. The counter is seeded from the Redis server's clock in
//! microseconds when it is missing, so a Redis restarted without persistence
//! still numbers above every version handed out before; versions from before
//! the restart are refused ([`PublishOutcome::RejectedEpoch`]).
//!
//! # Keys (all under the `{prefix}` hash tag: one cluster slot)
//!
//! `seq`, `base` (the seed), `floor` (invalidate-all), `snap:<provider>`
//! (encoded snapshot, TTL = `snapshot_ttl_ms`), `meta:<provider>` (hash:
//! `pub` highest stored version, `floor` last invalidation; no TTL),
//! `lease:<provider>`, `rl:<key>`, `cursor_key`; channel `events`; the change
//! feed's stream `feed` and its guards (see [`stream`]).

mod codec;
mod config;
mod error;
mod scripts;
mod status;
mod stream;
mod subscriber;
#[doc(hidden)]
pub mod testdata;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use secrecy::{ExposeSecret, SecretSlice};
use tokio::sync::broadcast;
use tokio::time::Instant;

pub use codec::{
    CHUNK_ITEMS, CodecError, FORMAT_VERSION, Header, MAX_PAYLOAD, Snapshot, decode, decode_header,
    decode_on, encode, encode_payload,
};
pub use config::SharedTierConfig;
pub use error::TierError;
pub use status::TierStatus;
pub use stream::{AppendGuard, AppendOutcome, FeedReader, RangeAfter, StreamEntry};
pub use subscriber::TierEvent;

use error::Redactor;
use status::{StatusCell, bump};

/// What an invalidation covers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    /// One provider instance.
    Provider(String),
    /// Every provider.
    All,
}

/// What [`SharedTier::publish_snapshot`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PublishOutcome {
    /// Stored; it is now the provider's snapshot in Redis.
    Stored,
    /// Refused: Redis has seen `newest` (a newer snapshot or an invalidation).
    RejectedOlder {
        /// The newest version Redis knows for the provider.
        newest: u64,
    },
    /// Refused: the version was taken before Redis restarted (lost its state).
    RejectedEpoch,
}

/// A won fetch lease. Release it with [`SharedTier::release`]; if this replica
/// dies instead, it expires after `lease_ms`.
#[derive(Debug)]
pub struct Lease {
    provider: String,
    token: String,
    /// The version the fetch's snapshot must be published with.
    pub version: u64,
    /// When the lease expires unless extended.
    pub expires: Instant,
}

impl Lease {
    /// The provider it is for.
    pub fn provider(&self) -> &str {
        &self.provider
    }
}

/// The outcome of [`SharedTier::try_lease`].
#[derive(Debug)]
pub enum LeaseAttempt {
    /// This replica fetches.
    Won(Lease),
    /// Another replica is fetching; its lease lasts `remaining` at most.
    Held {
        /// Until the lease expires if never released.
        remaining: Duration,
    },
}

/// The outcome of [`SharedTier::wait_for_snapshot`].
#[derive(Debug)]
pub enum WaitOutcome {
    /// A snapshot newer than asked for.
    Snapshot(Snapshot),
    /// The lease is gone and no newer snapshot came (the holder failed or
    /// died and its lease expired): try to take the lease.
    LeaseFree,
    /// The caller's deadline came first: serve stale or fetch locally.
    Deadline,
}

/// The outcome of [`SharedTier::allow`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RateDecision {
    /// Within the limit.
    Allowed,
    /// Over it; the next request would be allowed after this.
    Limited {
        /// Until a request would be admitted.
        retry_after: Duration,
    },
}

/// The handle every part of a replica shares (cheap to clone).
#[derive(Clone)]
pub struct SharedTier {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for SharedTier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Not derived: redis::Client's Debug shows the connection info, password included.
        f.debug_struct("SharedTier")
            .field("prefix", &self.inner.config.prefix)
            .field("origin", &self.inner.origin)
            .finish_non_exhaustive()
    }
}

struct Inner {
    client: redis::Client,
    conn: ConnectionManager,
    config: SharedTierConfig,
    keys: Keys,
    redactor: Redactor,
    origin: String,
    status: StatusCell,
    backoff: Backoff,
    events: broadcast::Sender<TierEvent>,
    subscriber: std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
    next_version: redis::Script,
    acquire: redis::Script,
    release: redis::Script,
    extend: redis::Script,
    publish: redis::Script,
    invalidate: redis::Script,
    gcra: redis::Script,
    read: redis::Script,
    cursor: redis::Script,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(h) = self
            .subscriber
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        {
            h.abort();
        }
    }
}

/// Exponential backoff (with jitter) after connection failures, shared by
/// every call of one handle; one success resets it.
#[derive(Debug)]
struct Backoff {
    min: Duration,
    max: Duration,
    state: std::sync::Mutex<(u32, Option<Instant>)>,
}

impl Backoff {
    fn new(min_ms: u64, max_ms: u64) -> Self {
        Backoff {
            min: Duration::from_millis(min_ms),
            max: Duration::from_millis(max_ms.max(min_ms)),
            state: std::sync::Mutex::new((0, None)),
        }
    }
    fn lock(&self) -> std::sync::MutexGuard<'_, (u32, Option<Instant>)> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
    fn wait_left(&self) -> Option<Duration> {
        let until = self.lock().1?;
        let left = until.saturating_duration_since(Instant::now());
        (!left.is_zero()).then_some(left)
    }
    fn failure(&self) {
        let mut st = self.lock();
        // The first failure is retried at once (a single dropped connection
        // reconnects on the next call); repeated ones back off.
        let delay = match st.0 {
            0 => Duration::ZERO,
            n => self
                .min
                .saturating_mul(1 << (n - 1).min(16))
                .min(self.max)
                .mul_f64(0.75 + rand::random::<f64>() * 0.5),
        };
        st.0 = st.0.saturating_add(1);
        st.1 = Some(Instant::now() + delay);
    }
    fn success(&self) {
        *self.lock() = (0, None);
    }
}

/// Every key of one deployment, under one hash tag.
#[derive(Debug, Clone)]
pub(crate) struct Keys {
    tag: String,
}

impl Keys {
    fn new(prefix: &str) -> Self {
        Keys {
            tag: format!("{{{prefix}}}"),
        }
    }
    /// The seed-and-increment version counter.
    pub(crate) fn seq(&self) -> String {
        format!("{}:seq", self.tag)
    }
    /// The counter's seed in this Redis lifetime.
    pub(crate) fn base(&self) -> String {
        format!("{}:base", self.tag)
    }
    /// The version of the last invalidate-all.
    pub(crate) fn floor(&self) -> String {
        format!("{}:floor", self.tag)
    }
    /// A provider's encoded snapshot.
    pub fn snap(&self, provider: &str) -> String {
        format!("{}:snap:{provider}", self.tag)
    }
    /// A provider's `pub` / `floor` versions (no TTL; one small hash per provider).
    pub(crate) fn meta(&self, provider: &str) -> String {
        format!("{}:meta:{provider}", self.tag)
    }
    pub(crate) fn lease(&self, provider: &str) -> String {
        format!("{}:lease:{provider}", self.tag)
    }
    pub(crate) fn rate(&self, key: &str) -> String {
        format!("{}:rl:{key}", self.tag)
    }
    pub(crate) fn cursor_key(&self) -> String {
        format!("{}:cursor_key", self.tag)
    }
    pub(crate) fn channel(&self) -> String {
        format!("{}:events", self.tag)
    }
}

impl SharedTier {
    /// Builds the handle. Does no I/O: the first call connects, so a replica
    /// starts (and serves from its own tier) while Redis is down. Must be
    /// called inside a Tokio runtime.
    pub fn new(config: &SharedTierConfig) -> Result<Self, TierError> {
        config.validate()?;
        let url = config.resolve_url()?;
        let redactor = Redactor::new(url.expose_secret());
        if url.expose_secret().starts_with("rediss://") {
            // redis-rs builds its rustls config from the process-wide provider;
            // install one unless the application already did (then this is a no-op).
            let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        }
        let client = match &config.tls_ca_file {
            None => redis::Client::open(url.expose_secret()),
            Some(path) => {
                let pem = std::fs::read(path).map_err(|e| {
                    TierError::Config(format!(
                        "cache.shared.tls_ca_file {}: {}",
                        path.display(),
                        e.kind()
                    ))
                })?;
                let certs = redis::TlsCertificates {
                    client_tls: None,
                    root_cert: Some(pem),
                };
                redis::Client::build_with_tls(url.expose_secret(), certs)
            }
        }
        .map_err(|e| {
            TierError::Config(format!(
                "cache.shared.url: {}",
                redactor.scrub(&e.to_string())
            ))
        })?;
        let mc = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(config.snapshot_timeout()))
            .set_response_timeout(Some(config.snapshot_timeout()))
            .set_min_delay(Duration::from_millis(config.reconnect_min_ms))
            .set_max_delay(Duration::from_millis(config.reconnect_max_ms))
            // One connect attempt per reconnect: the backoff lives in `Backoff`,
            // outside the calls, so no call waits through the manager's retries.
            .set_number_of_retries(0);
        let conn = ConnectionManager::new_lazy_with_config(client.clone(), mc).map_err(|e| {
            TierError::Config(format!("cache.shared: {}", redactor.scrub(&e.to_string())))
        })?;
        let (events, _) = broadcast::channel(1024);
        Ok(SharedTier {
            inner: Arc::new(Inner {
                client,
                conn,
                keys: Keys::new(&config.prefix),
                config: config.clone(),
                redactor,
                origin: hex::encode(rand::random::<[u8; 8]>()),
                status: StatusCell::default(),
                backoff: Backoff::new(config.reconnect_min_ms, config.reconnect_max_ms),
                events,
                subscriber: std::sync::Mutex::new(None),
                next_version: scripts::next_version(),
                acquire: scripts::acquire_lease(),
                release: redis::Script::new(scripts::RELEASE_LEASE),
                extend: redis::Script::new(scripts::EXTEND_LEASE),
                publish: redis::Script::new(scripts::PUBLISH_SNAPSHOT),
                invalidate: scripts::invalidate(),
                gcra: redis::Script::new(scripts::GCRA),
                read: redis::Script::new(scripts::READ_SNAPSHOT),
                cursor: redis::Script::new(scripts::ESTABLISH_CURSOR_KEY),
            }),
        })
    }

    /// This handle's id in notifications (random per process).
    pub fn origin(&self) -> &str {
        &self.inner.origin
    }

    /// The settings it runs with.
    pub fn config(&self) -> &SharedTierConfig {
        &self.inner.config
    }

    /// The state for `/readyz`, `/v1/providers` and `/metrics`.
    pub fn status(&self) -> TierStatus {
        self.inner.status.read()
    }

    /// Runs one Redis call under `timeout`, mapping failures to typed,
    /// scrubbed errors and keeping the status current.
    async fn call<T>(
        &self,
        op: &'static str,
        timeout: Duration,
        fut: impl Future<Output = redis::RedisResult<T>>,
    ) -> Result<T, TierError> {
        if let Some(left) = self.inner.backoff.wait_left() {
            // Recently failed to reach Redis: answer at once instead of paying
            // a timeout per request; the next call after the backoff retries.
            let err = TierError::Unavailable {
                op,
                message: format!(
                    "backing off {} ms after connection failures",
                    left.as_millis()
                ),
            };
            bump(&self.inner.status.errors);
            return Err(err);
        }
        let ms = timeout.as_millis() as u64;
        let err = match tokio::time::timeout(timeout, fut).await {
            Ok(Ok(v)) => {
                self.inner.status.connected.store(true, Ordering::Relaxed);
                self.inner.backoff.success();
                return Ok(v);
            }
            Err(_) => TierError::Timeout { op, ms },
            Ok(Err(e)) if e.is_timeout() => TierError::Timeout { op, ms },
            Ok(Err(e)) => {
                let message = self.inner.redactor.scrub(&e.to_string());
                if e.is_io_error() || e.is_connection_dropped() || e.is_connection_refusal() {
                    TierError::Unavailable { op, message }
                } else {
                    TierError::Redis { op, message }
                }
            }
        };
        if err.is_connection() {
            self.inner.backoff.failure();
        }
        self.note(&err);
        Err(err)
    }

    fn note(&self, err: &TierError) {
        tracing::debug!(error = %err, "shared tier call failed");
        self.inner
            .status
            .error(err.to_string(), err.is_connection());
    }

    fn small(&self) -> Duration {
        self.inner.config.call_timeout()
    }

    fn conn(&self) -> ConnectionManager {
        self.inner.conn.clone()
    }

    /// A round trip, for readiness probes.
    pub async fn ping(&self) -> Result<(), TierError> {
        let mut c = self.conn();
        self.call("ping", self.small(), async move {
            redis::cmd("PING").query_async::<String>(&mut c).await
        })
        .await
        .map(|_| ())
    }

    /// A new tier-wide version, larger than every version taken before it
    /// from this Redis (and, through the server-clock seed, from the ones
    /// before a restart). Take it when a fetch starts: [`Self::try_lease`]
    /// does so for the lease holder; a replica fetching on its own (no lease
    /// needed, e.g. `refresh=true`) calls this.
    pub async fn next_version(&self) -> Result<u64, TierError> {
        let k = &self.inner.keys;
        let mut inv = self.inner.next_version.prepare_invoke();
        inv.key(k.seq()).key(k.base());
        let mut c = self.conn();
        self.call("next_version", self.small(), async move {
            inv.invoke_async::<u64>(&mut c).await
        })
        .await
    }

    /// Stores `snapshot` as `provider`'s, if its version is above everything
    /// Redis has seen for it, with the stale-if-error TTL; notifies the other
    /// replicas on success.
    pub async fn publish_snapshot(
        &self,
        provider: &str,
        snapshot: &Snapshot,
    ) -> Result<PublishOutcome, TierError> {
        let bytes = encode(snapshot).map_err(|source| {
            let e = TierError::Codec {
                provider: provider.to_owned(),
                source,
            };
            self.note(&e);
            e
        })?;
        self.publish_encoded(provider, snapshot.version, bytes)
            .await
    }

    /// [`Self::publish_snapshot`] for bytes already encoded (e.g. encoded off
    /// the async threads with `spawn_blocking`).
    pub async fn publish_encoded(
        &self,
        provider: &str,
        version: u64,
        bytes: Vec<u8>,
    ) -> Result<PublishOutcome, TierError> {
        let k = &self.inner.keys;
        let mut inv = self.inner.publish.prepare_invoke();
        inv.key(k.snap(provider))
            .key(k.meta(provider))
            .key(k.base())
            .key(k.floor())
            .arg(version.to_string())
            .arg(self.inner.config.snapshot_ttl_ms)
            .arg(bytes)
            .arg(k.channel())
            .arg(&self.inner.origin)
            .arg(provider);
        let mut c = self.conn();
        let (code, n): (i64, i64) = self
            .call(
                "publish_snapshot",
                self.inner.config.snapshot_timeout(),
                async move { inv.invoke_async(&mut c).await },
            )
            .await?;
        let s = &self.inner.status;
        Ok(match code {
            1 => {
                bump(&s.publishes_stored);
                PublishOutcome::Stored
            }
            2 => {
                bump(&s.publishes_rejected_older);
                PublishOutcome::RejectedEpoch
            }
            _ => {
                bump(&s.publishes_rejected_older);
                PublishOutcome::RejectedOlder {
                    newest: n.max(0) as u64,
                }
            }
        })
    }

    /// The version of `provider`'s snapshot in Redis, without transferring it
    /// (after a resync, compare it with the local one).
    pub async fn snapshot_version(&self, provider: &str) -> Result<Option<u64>, TierError> {
        let (head, _) = self
            .read("snapshot_version", provider, false, self.small())
            .await?;
        self.header_version(provider, &head)
    }

    /// One atomic read of `provider`'s snapshot (or its header) and whether
    /// its fetch lease is held.
    async fn read(
        &self,
        op: &'static str,
        provider: &str,
        full: bool,
        timeout: Duration,
    ) -> Result<(Vec<u8>, bool), TierError> {
        let k = &self.inner.keys;
        let mut inv = self.inner.read.prepare_invoke();
        inv.key(k.snap(provider))
            .key(k.meta(provider))
            .key(k.floor())
            .key(k.lease(provider))
            .arg(if full { "full" } else { "head" });
        let mut c = self.conn();
        self.call(op, timeout, async move { inv.invoke_async(&mut c).await })
            .await
    }

    fn header_version(&self, provider: &str, head: &[u8]) -> Result<Option<u64>, TierError> {
        if head.is_empty() {
            return Ok(None);
        }
        decode_header(head)
            .map(|h| Some(h.version))
            .map_err(|source| {
                let e = TierError::Codec {
                    provider: provider.to_owned(),
                    source,
                };
                self.note(&e);
                e
            })
    }

    /// `provider`'s snapshot from Redis, if there is one. Decoding runs on a
    /// blocking thread (100k items take tens of milliseconds).
    pub async fn get_snapshot(&self, provider: &str) -> Result<Option<Snapshot>, TierError> {
        // The floor check runs in the (small) script; the bytes come by a
        // plain GET, because returning megabytes through Lua copies them twice
        // on the server. Between the two, a newer publish is fine, and an
        // invalidation deletes the key or also reaches the replica as an event.
        let (head, _) = self
            .read("get_snapshot", provider, false, self.small())
            .await?;
        let s = &self.inner.status;
        let bytes: Vec<u8> = if head.is_empty() {
            Vec::new()
        } else {
            let key = self.inner.keys.snap(provider);
            let mut c = self.conn();
            self.call(
                "get_snapshot",
                self.inner.config.snapshot_timeout(),
                async move {
                    redis::cmd("GET")
                        .arg(key)
                        .query_async::<Option<Vec<u8>>>(&mut c)
                        .await
                },
            )
            .await?
            .unwrap_or_default()
        };
        if bytes.is_empty() {
            bump(&s.misses);
            return Ok(None);
        }
        let decoded = tokio::task::spawn_blocking(move || decode(&bytes))
            .await
            .unwrap_or(Err(CodecError::Corrupt("decoder task failed")));
        match decoded {
            Ok(snap) => {
                bump(&s.hits);
                Ok(Some(snap))
            }
            Err(source) => {
                bump(&s.misses);
                let e = TierError::Codec {
                    provider: provider.to_owned(),
                    source,
                };
                self.note(&e);
                Err(e)
            }
        }
    }

    /// Tries to become the one replica fetching `provider` (`SET NX PX`); the
    /// winner also gets the version its snapshot will carry.
    pub async fn try_lease(&self, provider: &str) -> Result<LeaseAttempt, TierError> {
        let k = &self.inner.keys;
        let token = hex::encode(rand::random::<[u8; 16]>());
        let ttl = self.inner.config.lease_ms;
        let mut inv = self.inner.acquire.prepare_invoke();
        inv.key(k.lease(provider))
            .key(k.seq())
            .key(k.base())
            .arg(&token)
            .arg(ttl);
        let started = Instant::now();
        let mut c = self.conn();
        let (won, n): (i64, i64) = self
            .call("try_lease", self.small(), async move {
                inv.invoke_async(&mut c).await
            })
            .await?;
        let s = &self.inner.status;
        if won == 1 {
            bump(&s.leases_won);
            Ok(LeaseAttempt::Won(Lease {
                provider: provider.to_owned(),
                token,
                version: n.max(0) as u64,
                expires: started + Duration::from_millis(ttl),
            }))
        } else {
            bump(&s.leases_lost);
            Ok(LeaseAttempt::Held {
                // PTTL is -1 / -2 for no expiry / gone; both mean "do not wait on it".
                remaining: Duration::from_millis(n.max(0) as u64),
            })
        }
    }

    /// Gives the lease back (only if it is still ours). `false`: it had
    /// expired, and maybe another replica holds it now.
    pub async fn release(&self, lease: Lease) -> Result<bool, TierError> {
        let mut inv = self.inner.release.prepare_invoke();
        inv.key(self.inner.keys.lease(&lease.provider))
            .arg(&lease.token);
        let mut c = self.conn();
        let n: i64 = self
            .call("release_lease", self.small(), async move {
                inv.invoke_async(&mut c).await
            })
            .await?;
        Ok(n == 1)
    }

    /// Pushes the lease's expiry to `lease_ms` from now, for a fetch that
    /// runs long. `false`: it was no longer ours.
    pub async fn extend(&self, lease: &mut Lease) -> Result<bool, TierError> {
        let ttl = self.inner.config.lease_ms;
        let mut inv = self.inner.extend.prepare_invoke();
        inv.key(self.inner.keys.lease(&lease.provider))
            .arg(&lease.token)
            .arg(ttl);
        let started = Instant::now();
        let mut c = self.conn();
        let n: i64 = self
            .call("extend_lease", self.small(), async move {
                inv.invoke_async(&mut c).await
            })
            .await?;
        if n == 1 {
            lease.expires = started + Duration::from_millis(ttl);
        }
        Ok(n == 1)
    }

    /// Waits until Redis holds a snapshot of `provider` newer than
    /// `newer_than`, the lease is free, or `deadline`. Wakes on the
    /// subscriber's notifications when it runs ([`Self::start_subscriber`])
    /// and re-checks every `poll_ms` regardless, so a lost message costs at
    /// most one poll. Never returns after `deadline` (+ one call timeout).
    pub async fn wait_for_snapshot(
        &self,
        provider: &str,
        newer_than: u64,
        deadline: Instant,
    ) -> Result<WaitOutcome, TierError> {
        let mut rx = self.inner.events.subscribe();
        let poll = Duration::from_millis(self.inner.config.poll_ms);
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Ok(WaitOutcome::Deadline);
            }
            let checked = self
                .read(
                    "wait_for_snapshot",
                    provider,
                    false,
                    self.small().min(remaining),
                )
                .await;
            let (head, leased) = match checked {
                Ok(v) => v,
                // Cut short by the caller's deadline, not by a slow Redis.
                Err(TierError::Timeout { .. }) if Instant::now() >= deadline => {
                    return Ok(WaitOutcome::Deadline);
                }
                Err(e) => return Err(e),
            };
            if self
                .header_version(provider, &head)?
                .is_some_and(|v| v > newer_than)
            {
                match self.get_snapshot(provider).await? {
                    Some(s) if s.version > newer_than => return Ok(WaitOutcome::Snapshot(s)),
                    // Invalidated or replaced between the two reads: look again.
                    _ => {}
                }
            } else if !leased {
                return Ok(WaitOutcome::LeaseFree);
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(WaitOutcome::Deadline);
            }
            let wake = deadline.min(now + poll);
            // Sleep until the poll, or until an event that may concern us
            // (this provider's snapshot, a resync, missed events).
            let _ = tokio::time::timeout_at(wake, async {
                loop {
                    match rx.recv().await {
                        Ok(TierEvent::SnapshotPublished { provider: p, .. }) if p == provider => {
                            return;
                        }
                        Ok(TierEvent::SnapshotPublished { .. })
                        | Ok(TierEvent::Invalidated { .. }) => {}
                        Ok(TierEvent::Resync) | Err(broadcast::error::RecvError::Lagged(_)) => {
                            return;
                        }
                        // Never: `Inner` holds the sender. Fall back to the poll.
                        Err(broadcast::error::RecvError::Closed) => std::future::pending().await,
                    }
                }
            })
            .await;
        }
    }

    /// Drops `scope`'s snapshots from Redis, raises their version floor (so a
    /// fetch that started before cannot publish its older result), and
    /// notifies every replica. `providers`: the configured provider names, for
    /// `Scope::All` (their snapshots are deleted; the floor covers any other).
    /// Returns the invalidation's version.
    pub async fn invalidate(&self, scope: &Scope, providers: &[&str]) -> Result<u64, TierError> {
        let k = &self.inner.keys;
        let mut inv = self.inner.invalidate.prepare_invoke();
        inv.key(k.seq()).key(k.base());
        match scope {
            Scope::Provider(p) => {
                inv.key(k.meta(p))
                    .key(k.snap(p))
                    .arg("p")
                    .arg(k.channel())
                    .arg(&self.inner.origin)
                    .arg(p);
            }
            Scope::All => {
                inv.key(k.floor());
                for p in providers {
                    inv.key(k.snap(p));
                }
                inv.arg("*")
                    .arg(k.channel())
                    .arg(&self.inner.origin)
                    .arg("*");
            }
        }
        let mut c = self.conn();
        let v: u64 = self
            .call("invalidate", self.small(), async move {
                inv.invoke_async(&mut c).await
            })
            .await?;
        bump(&self.inner.status.invalidations_sent);
        Ok(v)
    }

    /// One GCRA step on the shared limiter `key` (`rate_per_s` sustained,
    /// `burst` at once), on the Redis server's clock. On `Err`, the caller
    /// decides with its local limiter. `key` should identify an API key
    /// (its id or a hash), never be the secret itself.
    pub async fn allow(
        &self,
        key: &str,
        rate_per_s: f64,
        burst: u32,
    ) -> Result<RateDecision, TierError> {
        if rate_per_s.is_nan() || rate_per_s <= 0.0 {
            return Ok(RateDecision::Limited {
                retry_after: Duration::from_secs(1),
            });
        }
        let interval_us = 1_000_000.0 / rate_per_s;
        let mut inv = self.inner.gcra.prepare_invoke();
        inv.key(self.inner.keys.rate(key))
            .arg(format!("{interval_us:.3}"))
            .arg(burst.max(1));
        let mut c = self.conn();
        let (ok, us): (i64, i64) = self
            .call("rate_limit", self.small(), async move {
                inv.invoke_async(&mut c).await
            })
            .await?;
        Ok(if ok == 1 {
            RateDecision::Allowed
        } else {
            RateDecision::Limited {
                retry_after: Duration::from_micros(us.max(0) as u64),
            }
        })
    }

    /// The deployment's cursor key: the first replica to ask stores 32
    /// random bytes (`SET NX`), every replica gets the stored ones. Call once
    /// at start and keep the result: a Redis without persistence forgets it
    /// on restart, and re-reading would then split replicas between keys.
    pub async fn establish_cursor_key(&self) -> Result<SecretSlice<u8>, TierError> {
        let fresh = rand::random::<[u8; 32]>().to_vec();
        let mut inv = self.inner.cursor.prepare_invoke();
        inv.key(self.inner.keys.cursor_key()).arg(fresh);
        let mut c = self.conn();
        let key: Vec<u8> = self
            .call("establish_cursor_key", self.small(), async move {
                inv.invoke_async(&mut c).await
            })
            .await?;
        if key.len() != 32 {
            let e = TierError::Redis {
                op: "establish_cursor_key",
                message: format!("stored cursor key has {} bytes, not 32", key.len()),
            };
            self.note(&e);
            return Err(e);
        }
        Ok(SecretSlice::from(key))
    }

    /// A receiver of the subscriber's events (start it with
    /// [`Self::start_subscriber`]). A lagging receiver gets
    /// `RecvError::Lagged`: treat it as [`TierEvent::Resync`].
    pub fn events(&self) -> broadcast::Receiver<TierEvent> {
        self.inner.events.subscribe()
    }

    /// Starts (once) the task that listens on the tier's channel, reconnects
    /// with backoff, and sends [`TierEvent`]s to [`Self::events`] receivers.
    pub fn start_subscriber(&self) {
        let mut slot = self
            .inner
            .subscriber
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if slot.is_none() {
            // The task holds a weak handle, so dropping the last SharedTier ends it.
            let weak = Arc::downgrade(&self.inner);
            *slot = Some(tokio::spawn(subscriber::run(weak)));
        }
    }
}
