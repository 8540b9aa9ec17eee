//! Retries of reads with full-jitter exponential backoff, a retry budget, and
//! the upstream's `Retry-After` honoured. Writes pass through untouched: they
//! happen exactly once (contract all#5), whatever the outcome.

use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use isogate_core::Result;

use super::{Call, Policy, Resilience};

/// Retries left unspent are capped, so a long quiet period does not bank
/// enough for a retry storm later.
const BUDGET_CAP: f64 = 10.0;
/// A few retries are always allowed, so a provider with little traffic still
/// gets one after a blip.
const BUDGET_FLOOR: f64 = 2.0;

/// The retry layer.
#[derive(Debug)]
pub struct Retry {
    retries: u32,
    base: Duration,
    max: Duration,
    ratio: f64,
    /// Token bucket: each read deposits `ratio`, each retry takes 1, so
    /// retries stay at most `ratio` of reads (plus the floor) and upstream
    /// amplification at most `1 + ratio` once the floor is spent.
    budget: Mutex<f64>,
}

impl Retry {
    /// From the provider's settings.
    pub fn new(settings: &Resilience) -> Self {
        Retry {
            retries: settings.retries,
            base: Duration::from_millis(settings.retry_base_ms),
            max: Duration::from_millis(settings.retry_max_ms),
            ratio: settings.retry_budget_ratio,
            budget: Mutex::new(BUDGET_FLOOR),
        }
    }

    fn deposit(&self) {
        let mut b = self.budget.lock().unwrap_or_else(|p| p.into_inner());
        *b = (*b + self.ratio).min(BUDGET_CAP.max(BUDGET_FLOOR));
    }

    fn withdraw(&self) -> bool {
        let mut b = self.budget.lock().unwrap_or_else(|p| p.into_inner());
        if *b >= 1.0 {
            *b -= 1.0;
            true
        } else {
            false
        }
    }

    /// Full jitter: uniform in [0, min(max, base * 2^attempt)].
    fn backoff(&self, attempt: u32) -> Duration {
        let ceiling = self
            .base
            .saturating_mul(2u32.saturating_pow(attempt))
            .min(self.max);
        ceiling.mul_f64(rand::random::<f64>())
    }
}

#[async_trait]
impl Policy for Retry {
    async fn around<'a, T: Send + 'a>(&'a self, call: Call<'a, T>) -> Result<T> {
        if !call.op.is_read() || self.retries == 0 {
            return call.run().await;
        }
        self.deposit();
        let mut attempt = 0;
        loop {
            let err = match call.run().await {
                Ok(v) => return Ok(v),
                Err(e) => e,
            };
            if !err.retryable() || attempt >= self.retries {
                return Err(err);
            }
            let wait = match err.retry_after() {
                // An upstream asking for longer than we would ever wait gets
                // its answer passed on (with its Retry-After) instead.
                Some(after) if after > self.max => return Err(err),
                Some(after) => after.max(self.backoff(attempt)),
                None => self.backoff(attempt),
            };
            if !self.withdraw() {
                ::metrics::counter!("isogate_retry_budget_exhausted_total",
                    "provider" => call.provider.to_owned())
                .increment(1);
                return Err(err);
            }
            ::metrics::counter!("isogate_upstream_retries_total",
                "provider" => call.provider.to_owned(), "operation" => call.op.method())
            .increment(1);
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }
}
