//! Upstream call metrics: calls by provider, operation and outcome, and
//! latency histograms, as callers see them (retries and breaker included).

use std::time::Instant;

use async_trait::async_trait;
use isogate_core::Result;

use super::{Call, Policy};

/// Records `isogate_upstream_calls_total` and `isogate_upstream_call_seconds`.
#[derive(Debug)]
pub struct Metrics;

#[async_trait]
impl Policy for Metrics {
    async fn around<'a, T: Send + 'a>(&'a self, call: Call<'a, T>) -> Result<T> {
        let started = Instant::now();
        let result = call.run().await;
        let outcome = match &result {
            Ok(_) => "ok",
            Err(e) => e.code(),
        };
        let (provider, op) = (call.provider.to_owned(), call.op.method());
        ::metrics::counter!("isogate_upstream_calls_total",
            "provider" => provider.clone(), "operation" => op, "outcome" => outcome)
        .increment(1);
        ::metrics::histogram!("isogate_upstream_call_seconds",
            "provider" => provider, "operation" => op)
        .record(started.elapsed().as_secs_f64());
        result
    }
}
