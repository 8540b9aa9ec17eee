//! Rendered answers for hot identical queries: the serialised `data` array of
//! a page, keyed by the normalised query and the versions of the snapshots it
//! was computed from, so serde work is done once per (query, snapshot set).

use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;

use bytes::Bytes;

/// A rendered page.
#[derive(Debug)]
pub struct RenderedPage {
    /// The JSON array of the page's items (projected).
    pub data: Bytes,
    /// Matching items in full.
    pub total: usize,
    /// The cursor of the next page.
    pub next_cursor: Option<String>,
    /// A hash of `data`, for ETags.
    pub digest: u64,
}

/// Bounded cache of rendered pages.
#[derive(Clone, Debug)]
pub struct RenderedCache {
    pages: moka::sync::Cache<u64, Arc<RenderedPage>>,
}

impl RenderedCache {
    /// A cache of at most `entries` pages.
    pub fn new(entries: u64) -> Self {
        RenderedCache {
            pages: moka::sync::Cache::builder()
                .max_capacity(entries.max(1))
                .time_to_live(std::time::Duration::from_secs(3600))
                .build(),
        }
    }

    /// A cached page.
    pub fn get(&self, key: u64) -> Option<Arc<RenderedPage>> {
        self.pages.get(&key)
    }

    /// Keeps a page.
    pub fn insert(&self, key: u64, page: Arc<RenderedPage>) {
        self.pages.insert(key, page);
    }
}

/// The key of a page: the canonical query and the snapshot versions.
pub fn page_key(canonical_query: &str, versions: &[(String, u64)]) -> u64 {
    let mut h = DefaultHasher::new();
    canonical_query.hash(&mut h);
    versions.hash(&mut h);
    h.finish()
}

/// A hash of bytes, for ETags.
pub fn digest(bytes: &[u8]) -> u64 {
    let mut h = DefaultHasher::new();
    bytes.hash(&mut h);
    h.finish()
}
