//! The shared tier's tests over a real `redis-server` (the testkit's).
#![allow(dead_code)]

use isogate_shared_tier::{SharedTier, SharedTierConfig};
pub use isogate_testkit::redis::RedisServer;

/// The tier's config and client for a test server.
pub trait TierOf {
    fn config(&self) -> SharedTierConfig;
    fn tier(&self) -> SharedTier;
}

impl TierOf for RedisServer {
    fn config(&self) -> SharedTierConfig {
        SharedTierConfig::new(self.url())
    }
    fn tier(&self) -> SharedTier {
        SharedTier::new(&self.config()).expect("tier")
    }
}
