//! Per-key rate limits shared by every replica (issue 17): with
//! `[cache.shared]`, a key's buckets live in Redis (GCRA on the server's
//! clock), so N replicas admit the configured rate in total, not N times it.
//! A failing Redis falls back to this replica's own buckets.

use isogate_shared_tier::RateDecision;

use crate::http::auth::Rejection;
use crate::state::AppState;

/// Whether requests are charged to the shared buckets (and so cannot be
/// answered by the synchronous hot lane).
pub(crate) fn on(state: &AppState) -> bool {
    state.cache().shared().is_some() && state.keys().limited()
}

/// Takes one request of the key `name` (its configured name, never the
/// secret) from the shared buckets, or says how long to wait.
pub(crate) async fn check(state: &AppState, name: &str, refresh: bool) -> Result<(), Rejection> {
    let Some(shared) = state.cache().shared() else {
        return Ok(());
    };
    let keys = state.keys();
    if !keys.limited() {
        return Ok(());
    }
    let config = keys.limits.config();
    // As the local limiter: a zero burst means "the rate at once".
    let burst = |b: u32, rate: u32| if b == 0 { rate } else { b };
    let mut buckets = Vec::with_capacity(2);
    if refresh && config.refresh_per_minute > 0 {
        buckets.push((
            "refresh",
            f64::from(config.refresh_per_minute) / 60.0,
            burst(config.refresh_burst, config.refresh_per_minute),
        ));
    }
    if config.per_second > 0 {
        buckets.push((
            "key",
            f64::from(config.per_second),
            burst(config.burst, config.per_second),
        ));
    }
    for (kind, rate, burst) in buckets {
        match shared
            .tier()
            .allow(&format!("{kind}:{name}"), rate, burst)
            .await
        {
            Ok(RateDecision::Allowed) => {}
            Ok(RateDecision::Limited { retry_after }) => {
                return Err(Rejection::RateLimited {
                    wait: retry_after,
                    refresh: kind == "refresh",
                });
            }
            Err(e) => {
                tracing::debug!(error = %e, "shared rate limit unavailable; using this replica's");
                return keys
                    .limits
                    .check(name, refresh)
                    .map_err(|wait| Rejection::RateLimited { wait, refresh });
            }
        }
    }
    Ok(())
}
