//! Resilience around each adapter, as layers that are themselves
//! [`IsoProvider`]s. [`wrap`] stacks them, outermost first:
//!
//! metrics -> breaker -> retry -> timeout -> concurrency -> adapter
//!
//! - metrics outermost, so it records what callers experience, including
//!   calls the breaker refused in microseconds and the total time of retries;
//! - the breaker outside retry, so one logical call (with its retries) counts
//!   once, and an open circuit refuses before any retry or upstream request;
//! - retry outside timeout, so each attempt gets the full timeout and a timed
//!   out attempt can be retried (reads only);
//! - timeout outside concurrency, so time spent waiting for a permit counts:
//!   a saturated upstream shows up as timeouts, not as unbounded queues.

pub mod breaker;
pub mod concurrency;
pub mod metrics;
pub mod retry;
pub mod timeout;

#[cfg(test)]
mod tests;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures::future::BoxFuture;
use isogate_core::{
    AttachRequest, Capability, DetachRequest, HistoryEntry, ImportRequest, Iso, IsoProvider,
    ListOptions, Listing, Operation, Outcome, ProviderKind, Result, Task, UpdateRequest,
};
use serde::Deserialize;

pub use breaker::{Breaker, BreakerInfo, BreakerState};

/// `[providers.X.resilience]`.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Resilience {
    /// Per attempt, in milliseconds.
    pub timeout_ms: u64,
    /// Calls in flight to this provider at once.
    pub max_concurrency: usize,
    /// Retries of a failed read (0 disables); writes are never retried.
    pub retries: u32,
    /// First backoff, doubled per retry, with full jitter.
    pub retry_base_ms: u64,
    /// Largest wait before a retry; a longer upstream `Retry-After` is not waited for.
    pub retry_max_ms: u64,
    /// Retries may be at most this fraction of reads (plus a floor of a few).
    pub retry_budget_ratio: f64,
    /// Consecutive failures (timeouts, unreachable, 5xx) that open the breaker; 0 disables it.
    pub breaker_failures: u32,
    /// How long the breaker stays open before one probe call is let through.
    pub breaker_cooldown_ms: u64,
}

impl Default for Resilience {
    fn default() -> Self {
        Resilience {
            timeout_ms: 20_000,
            max_concurrency: 16,
            retries: 2,
            retry_base_ms: 50,
            retry_max_ms: 2_000,
            // Google SRE book ("Handling Overload"): a per-client retry budget of 10%.
            retry_budget_ratio: 0.1,
            breaker_failures: 10,
            breaker_cooldown_ms: 10_000,
        }
    }
}

impl Resilience {
    /// Checks ranges; the error starts with the field name.
    pub fn validated(self) -> std::result::Result<Self, String> {
        if self.timeout_ms == 0 {
            return Err("timeout_ms: expected a positive integer".into());
        }
        if self.max_concurrency == 0 {
            return Err("max_concurrency: expected a positive integer".into());
        }
        if !(0.0..=1.0).contains(&self.retry_budget_ratio) {
            return Err("retry_budget_ratio: expected 0.0 to 1.0".into());
        }
        if self.retries > 10 {
            return Err("retries: at most 10".into());
        }
        Ok(self)
    }
}

/// One call through a layer: which provider and operation, and the next step
/// (callable again for a retry).
pub struct Call<'a, T> {
    /// The provider's name.
    pub provider: &'a str,
    /// The operation.
    pub op: Operation,
    next: &'a (dyn Fn() -> BoxFuture<'a, Result<T>> + Send + Sync),
}

impl<T> fmt::Debug for Call<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Call")
            .field("provider", &self.provider)
            .field("op", &self.op)
            .finish_non_exhaustive()
    }
}

impl<T> Call<'_, T> {
    /// Runs the next step once.
    pub fn run(&self) -> BoxFuture<'_, Result<T>> {
        (self.next)()
    }
}

/// What a layer does around every call.
#[async_trait]
pub trait Policy: Send + Sync + fmt::Debug + 'static {
    /// Runs `call` (any number of times, or not at all).
    async fn around<'a, T: Send + 'a>(&'a self, call: Call<'a, T>) -> Result<T>;
}

/// A provider wrapped in one policy.
#[derive(Debug)]
pub struct Layer<P> {
    inner: Arc<dyn IsoProvider>,
    policy: P,
}

impl<P: Policy> Layer<P> {
    /// `policy` around `inner`.
    pub fn wrap(inner: Arc<dyn IsoProvider>, policy: P) -> Arc<dyn IsoProvider> {
        Arc::new(Layer { inner, policy })
    }
}

macro_rules! through {
    ($self:ident, $op:expr, $call:expr) => {
        $self
            .policy
            .around(Call {
                provider: $self.inner.name(),
                op: $op,
                next: &|| $call,
            })
            .await
    };
}

#[async_trait]
impl<P: Policy> IsoProvider for Layer<P> {
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn kind(&self) -> ProviderKind {
        self.inner.kind()
    }
    fn capability(&self) -> Capability {
        self.inner.capability()
    }
    async fn list(&self, opts: &ListOptions) -> Result<Listing> {
        through!(self, Operation::List, self.inner.list(opts))
    }
    async fn get(&self, native_id: &str, include_raw: bool) -> Result<Iso> {
        through!(self, Operation::Get, self.inner.get(native_id, include_raw))
    }
    async fn import(&self, req: &ImportRequest) -> Result<Outcome> {
        through!(self, Operation::Import, self.inner.import(req))
    }
    async fn update(&self, native_id: &str, req: &UpdateRequest) -> Result<Outcome> {
        through!(self, Operation::Update, self.inner.update(native_id, req))
    }
    async fn delete(&self, native_id: &str) -> Result<Outcome> {
        through!(self, Operation::Delete, self.inner.delete(native_id))
    }
    async fn attach(&self, native_id: &str, req: &AttachRequest) -> Result<Outcome> {
        through!(self, Operation::Attach, self.inner.attach(native_id, req))
    }
    async fn detach(&self, req: &DetachRequest) -> Result<Outcome> {
        through!(self, Operation::Detach, self.inner.detach(req))
    }
    async fn download_url(&self, native_id: &str) -> Result<Outcome> {
        through!(
            self,
            Operation::DownloadUrl,
            self.inner.download_url(native_id)
        )
    }
    async fn history(&self, native_id: &str) -> Result<Vec<HistoryEntry>> {
        through!(self, Operation::History, self.inner.history(native_id))
    }
    async fn sync(&self) -> Result<Outcome> {
        through!(self, Operation::Sync, self.inner.sync())
    }
    async fn task(&self, task_id: &str) -> Result<Task> {
        through!(self, Operation::Task, self.inner.task(task_id))
    }
}

/// Stacks every layer around `adapter`; the breaker is returned too so its
/// state can be shown in `/v1/providers`.
pub fn wrap(
    adapter: Arc<dyn IsoProvider>,
    settings: &Resilience,
) -> (Arc<dyn IsoProvider>, Arc<Breaker>) {
    let name = adapter.name().to_owned();
    let inner = Layer::wrap(
        adapter,
        concurrency::Concurrency::new(settings.max_concurrency),
    );
    let inner = Layer::wrap(
        inner,
        timeout::Timeout(Duration::from_millis(settings.timeout_ms)),
    );
    let inner = Layer::wrap(inner, retry::Retry::new(settings));
    let breaker = Arc::new(Breaker::new(
        &name,
        settings.breaker_failures,
        Duration::from_millis(settings.breaker_cooldown_ms),
    ));
    let inner = Layer::wrap(inner, breaker::BreakerPolicy(breaker.clone()));
    (Layer::wrap(inner, metrics::Metrics), breaker)
}
