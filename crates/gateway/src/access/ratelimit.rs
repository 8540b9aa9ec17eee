//! Per-key request rate limits (GCRA via `governor`): one bucket per key name
//! for all requests, and a stricter one for `refresh=true` listings, which
//! bypass the cache and reach every upstream.

use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};

use crate::config::auth::RateLimitConfig;

type Keyed = RateLimiter<String, DefaultKeyedStateStore<String>, DefaultClock>;

/// The limiters of one generation of keys (rebuilt on reload, which also
/// forgives every bucket).
#[derive(Debug)]
pub struct RateLimits {
    requests: Option<Keyed>,
    refresh: Option<Keyed>,
    clock: DefaultClock,
    config: RateLimitConfig,
}

impl RateLimits {
    /// From `[auth.rate_limit]`; a zero rate switches that limit off.
    pub fn new(config: &RateLimitConfig) -> RateLimits {
        let burst = |b: u32, rate: NonZeroU32| NonZeroU32::new(b).unwrap_or(rate);
        let requests = NonZeroU32::new(config.per_second).map(|rate| {
            RateLimiter::keyed(Quota::per_second(rate).allow_burst(burst(config.burst, rate)))
        });
        let refresh = NonZeroU32::new(config.refresh_per_minute).map(|rate| {
            RateLimiter::keyed(
                Quota::per_minute(rate).allow_burst(burst(config.refresh_burst, rate)),
            )
        });
        RateLimits {
            requests,
            refresh,
            clock: DefaultClock::default(),
            config: config.clone(),
        }
    }

    /// The limits these buckets enforce (the shared tier's buckets use them too).
    pub fn config(&self) -> &RateLimitConfig {
        &self.config
    }

    /// Takes one request from `key`'s buckets, or says how long to wait.
    pub fn check(&self, key: &str, refresh: bool) -> Result<(), Duration> {
        let key = key.to_owned();
        if refresh && let Some(limiter) = &self.refresh {
            limiter
                .check_key(&key)
                .map_err(|n| n.wait_time_from(self.clock.now()))?;
        }
        if let Some(limiter) = &self.requests {
            limiter
                .check_key(&key)
                .map_err(|n| n.wait_time_from(self.clock.now()))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bursts_then_limits_per_key_and_refresh_is_stricter() {
        let limits = RateLimits::new(&RateLimitConfig {
            per_second: 1,
            burst: 3,
            refresh_per_minute: 1,
            refresh_burst: 1,
            anonymous: false,
        });
        for _ in 0..3 {
            limits.check("a", false).unwrap();
        }
        let wait = limits.check("a", false).unwrap_err();
        assert!(wait > Duration::ZERO && wait <= Duration::from_secs(1));
        limits.check("b", true).unwrap();
        let wait = limits.check("b", true).unwrap_err();
        assert!(wait > Duration::from_secs(30), "{wait:?}");
        limits.check("b", false).unwrap();
    }
}
