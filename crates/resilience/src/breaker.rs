//! Circuit breaker: after `failures` consecutive failures that say the
//! upstream is down (timeouts, unreachable, retryable 5xx) every call is
//! refused at once with `Unavailable` ("circuit open") for `cooldown`; then
//! one probe call goes through: success closes the circuit, failure opens it
//! again. Answers that prove the upstream alive (404, 400, 429, ...) reset
//! the count. Gauge `isogate_breaker_state{provider}`: 0 closed, 1 half-open,
//! 2 open; counters `isogate_breaker_opened_total`, `isogate_breaker_rejected_total`.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use isogate_core::{Error, ErrorKind, Result};
use serde::Serialize;

use super::{Call, Policy};

/// `closed`, `open` or `half_open`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum BreakerState {
    /// Calls go through.
    Closed,
    /// Calls are refused.
    Open,
    /// One probe call is in flight.
    HalfOpen,
}

/// The breaker as `/v1/providers` shows it.
#[derive(Clone, Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BreakerInfo {
    /// The state now.
    pub state: BreakerState,
    /// Consecutive failures counted towards opening.
    pub failures: u32,
    /// When it last opened (RFC 3339), while not closed.
    pub opened_at: Option<String>,
    /// Times it has opened since start.
    pub opened_total: u64,
    /// Calls refused while open.
    pub rejected_total: u64,
}

#[derive(Debug)]
enum Phase {
    Closed,
    Open { until: Instant },
    HalfOpen { probe_since: Instant },
}

#[derive(Debug)]
struct Inner {
    phase: Phase,
    failures: u32,
    opened_at: Option<DateTime<Utc>>,
}

/// One provider's breaker.
#[derive(Debug)]
pub struct Breaker {
    provider: String,
    threshold: u32,
    cooldown: Duration,
    inner: Mutex<Inner>,
    opened_total: AtomicU64,
    rejected_total: AtomicU64,
}

enum Admit {
    Call,
    Probe,
    Refuse(Duration),
}

impl Breaker {
    /// Opens after `threshold` consecutive failures (0: never).
    pub fn new(provider: &str, threshold: u32, cooldown: Duration) -> Self {
        ::metrics::gauge!("isogate_breaker_state", "provider" => provider.to_owned()).set(0.0);
        Breaker {
            provider: provider.to_owned(),
            threshold,
            cooldown,
            inner: Mutex::new(Inner {
                phase: Phase::Closed,
                failures: 0,
                opened_at: None,
            }),
            opened_total: AtomicU64::new(0),
            rejected_total: AtomicU64::new(0),
        }
    }

    /// The state and counters now.
    pub fn info(&self) -> BreakerInfo {
        let inner = self.lock();
        let state = match inner.phase {
            Phase::Closed => BreakerState::Closed,
            Phase::Open { until } if Instant::now() < until => BreakerState::Open,
            // A cooled-down open breaker lets the next call through as a probe.
            Phase::Open { .. } | Phase::HalfOpen { .. } => BreakerState::HalfOpen,
        };
        BreakerInfo {
            state,
            failures: inner.failures,
            opened_at: inner
                .opened_at
                .filter(|_| state != BreakerState::Closed)
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
            opened_total: self.opened_total.load(Ordering::Relaxed),
            rejected_total: self.rejected_total.load(Ordering::Relaxed),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn admit(&self) -> Admit {
        if self.threshold == 0 {
            return Admit::Call;
        }
        let mut inner = self.lock();
        let now = Instant::now();
        match inner.phase {
            Phase::Closed => Admit::Call,
            Phase::Open { until } if now < until => Admit::Refuse(until - now),
            Phase::Open { .. } => {
                inner.phase = Phase::HalfOpen { probe_since: now };
                self.gauge(1.0);
                Admit::Probe
            }
            // A probe that never came back (its caller gave up) is replaced
            // after a cool-down, so the breaker cannot stick half-open.
            Phase::HalfOpen { probe_since } if now - probe_since >= self.cooldown => {
                inner.phase = Phase::HalfOpen { probe_since: now };
                Admit::Probe
            }
            Phase::HalfOpen { .. } => Admit::Refuse(self.cooldown),
        }
    }

    fn record(&self, failed: bool, probe: bool) {
        if self.threshold == 0 {
            return;
        }
        let mut inner = self.lock();
        if !failed {
            inner.failures = 0;
            if !matches!(inner.phase, Phase::Closed) {
                inner.phase = Phase::Closed;
                inner.opened_at = None;
                self.gauge(0.0);
            }
            return;
        }
        inner.failures = inner.failures.saturating_add(1);
        let half_open = matches!(inner.phase, Phase::HalfOpen { .. });
        if (probe || half_open) || inner.failures >= self.threshold {
            if matches!(inner.phase, Phase::Open { .. }) {
                return;
            }
            inner.phase = Phase::Open {
                until: Instant::now() + self.cooldown,
            };
            inner.opened_at = Some(Utc::now());
            self.opened_total.fetch_add(1, Ordering::Relaxed);
            ::metrics::counter!("isogate_breaker_opened_total", "provider" => self.provider.clone())
                .increment(1);
            self.gauge(2.0);
        }
    }

    fn gauge(&self, value: f64) {
        ::metrics::gauge!("isogate_breaker_state", "provider" => self.provider.clone()).set(value);
    }
}

/// Whether an error says the upstream is down (as opposed to answering).
fn is_outage(e: &Error) -> bool {
    match e.kind() {
        ErrorKind::Timeout | ErrorKind::Unavailable => true,
        ErrorKind::Upstream => e.retryable(),
        _ => false,
    }
}

/// The breaker as a layer.
#[derive(Debug)]
pub struct BreakerPolicy(pub std::sync::Arc<Breaker>);

#[async_trait]
impl Policy for BreakerPolicy {
    async fn around<'a, T: Send + 'a>(&'a self, call: Call<'a, T>) -> Result<T> {
        let probe = match self.0.admit() {
            Admit::Call => false,
            Admit::Probe => true,
            Admit::Refuse(wait) => {
                self.0.rejected_total.fetch_add(1, Ordering::Relaxed);
                ::metrics::counter!("isogate_breaker_rejected_total",
                    "provider" => call.provider.to_owned())
                .increment(1);
                return Err(Error::new(ErrorKind::Unavailable, "circuit open")
                    .with_provider(call.provider)
                    .with_operation(call.op.method())
                    .with_retry_after(wait));
            }
        };
        let result = call.run().await;
        self.0
            .record(result.as_ref().err().is_some_and(is_outage), probe);
        result
    }
}
