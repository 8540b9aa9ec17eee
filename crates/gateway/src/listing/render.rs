//! Rendered answers for hot identical queries: the serialised `data` array of
//! a page, keyed by the normalised query and the versions of the snapshots it
//! was computed from, so serde work is done once per (query, snapshot set).
//!
//! On top of that, [`HotAnswer`]s: the whole response body of a listing served
//! purely from fresh snapshots, valid until the listing cache changes (its
//! epoch) or a source's `age_s` ticks, whichever comes first. A repeated query
//! then costs one map lookup, not a gather, a page lookup and a serialisation.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http::HeaderValue;
use isogate_core::query::{CursorCodec, PartTop, Query, QueryError, top_of};

use crate::listing::cache::Snapshot;

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

/// A complete listing answer, ready to send as is.
#[derive(Debug)]
pub struct HotAnswer {
    /// The whole JSON body.
    pub body: Bytes,
    /// Its weak ETag.
    pub etag: HeaderValue,
    /// The listing cache's epoch the answer was gathered at.
    pub epoch: u64,
    /// When a source's age (in whole seconds) or freshness changes.
    pub valid_until: Instant,
    /// `isogate_cache_hits_total` of each provider served, counted per answer
    /// as the full path does.
    pub hits: Vec<metrics::Counter>,
}

/// One snapshot's contribution to one query's page, shared by every request
/// that needs it (computed once even when 500 cold requests wait on the same
/// snapshot).
pub type SharedTop = Arc<Result<PartTop, QueryError>>;

/// What [`RenderedCache::top`] needs to compute a snapshot's top early.
#[derive(Clone, Copy, Debug)]
pub struct TopQuery<'a> {
    /// The parsed query.
    pub query: &'a Query,
    /// Identifies the query with everything that changes its answer
    /// besides the snapshot (route, raw query string): the full string, not
    /// a hash of it, so two queries never share a top.
    pub identity: &'a str,
    /// The cursor codec.
    pub codec: &'a CursorCodec,
}

/// Bounded cache of rendered pages.
#[derive(Clone, Debug)]
pub struct RenderedCache {
    pages: moka::sync::Cache<PageKey, Arc<RenderedPage>>,
    // foldhash (seeded per process): SipHash of the key was a visible share
    // of a cached answer's cost.
    answers: moka::sync::Cache<String, Arc<HotAnswer>, foldhash::fast::RandomState>,
    /// Keyed by (snapshot version, the query's full identity).
    tops: moka::future::Cache<(u64, String), SharedTop>,
}

impl RenderedCache {
    /// A cache of at most `max_bytes` of bodies: half for rendered pages,
    /// half for hot answers.
    pub fn new(max_bytes: u64) -> Self {
        let half = (max_bytes / 2).max(1);
        // Weights are bytes, with the entry's own bookkeeping; saturating,
        // as moka weighs in u32.
        let weight = |bytes: usize| u32::try_from(bytes + 256).unwrap_or(u32::MAX);
        RenderedCache {
            pages: moka::sync::Cache::builder()
                .weigher(move |_, page: &Arc<RenderedPage>| {
                    weight(page.data.len() + page.next_cursor.as_ref().map_or(0, String::len))
                })
                .max_capacity(half)
                .time_to_live(std::time::Duration::from_secs(3600))
                .build(),
            answers: moka::sync::Cache::builder()
                .weigher(move |key: &String, answer: &Arc<HotAnswer>| {
                    weight(key.len() + answer.body.len())
                })
                .max_capacity(half)
                .time_to_live(std::time::Duration::from_secs(3600))
                .build_with_hasher(foldhash::fast::RandomState::default()),
            // Weighed in kept positions (4 bytes each): 1M positions is 4 MiB.
            tops: moka::future::Cache::builder()
                .weigher(|_, top: &SharedTop| {
                    let kept = top.as_ref().as_ref().map_or(1, |t| t.len().max(1));
                    u32::try_from(kept).unwrap_or(u32::MAX)
                })
                .max_capacity(1 << 20)
                .time_to_live(std::time::Duration::from_secs(3600))
                .build(),
        }
    }

    /// The query's top over `snapshot`, computed once per (snapshot, query).
    pub async fn top(&self, snapshot: &Snapshot, q: TopQuery<'_>) -> SharedTop {
        self.tops
            .get_with((snapshot.version, q.identity.to_owned()), async {
                Arc::new(top_of(q.query, &snapshot.items, q.codec))
            })
            .await
    }

    /// The hot answer for `key` if it is still exact at `epoch`.
    pub fn hot(&self, key: &str, epoch: u64) -> Option<Arc<HotAnswer>> {
        self.answers
            .get(key)
            .filter(|a| a.epoch == epoch && Instant::now() < a.valid_until)
    }

    /// Keeps a hot answer.
    pub fn keep_hot(&self, key: String, answer: Arc<HotAnswer>) {
        self.answers.insert(key, answer);
    }

    /// A cached page.
    pub fn get(&self, key: &PageKey) -> Option<Arc<RenderedPage>> {
        self.pages.get(key)
    }

    /// Keeps a page.
    pub fn insert(&self, key: PageKey, page: Arc<RenderedPage>) {
        self.pages.insert(key, page);
    }
}

/// The key of a page: the canonical query and the snapshot versions, in
/// full. A 64-bit hash here was a searchable collision that would serve one
/// query's page (and another key's providers) for another; this key is an
/// injective encoding, so equal keys mean equal (query, versions).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PageKey(String);

/// The [`PageKey`] of `canonical_query` over the snapshots `versions`.
pub fn page_key(canonical_query: &str, versions: &[(String, u64)]) -> PageKey {
    let mut key = String::with_capacity(canonical_query.len() + 24 * versions.len() + 8);
    // Length-prefixed parts: no separator inside a part can fake a boundary.
    let mut part = |s: &str| {
        key.push_str(&s.len().to_string());
        key.push(':');
        key.push_str(s);
    };
    part(canonical_query);
    for (name, version) in versions {
        part(name);
        part(&version.to_string());
    }
    PageKey(key)
}

/// The key of a hot answer: everything a listing's bytes depend on besides
/// the snapshots (the route's provider, the caller's visible providers, the
/// query exactly as sent). Injective as it stands: provider names hold only
/// `[A-Za-z0-9_-]` (config validation) and a request target no raw newline,
/// so neither `,` nor `\n` nor a lone `*` can come from a part.
pub fn hot_key<'a>(
    only: Option<&str>,
    visible: impl Iterator<Item = &'a str>,
    query: &str,
) -> String {
    let mut key = String::with_capacity(query.len() + 64);
    key.push_str(only.unwrap_or("*"));
    key.push('\n');
    for name in visible {
        key.push_str(name);
        key.push(',');
    }
    key.push('\n');
    key.push_str(query);
    key
}

/// A hash of bytes, for ETags.
pub fn digest(bytes: &[u8]) -> u64 {
    let mut h = DefaultHasher::new();
    bytes.hash(&mut h);
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(bytes: usize) -> Arc<RenderedPage> {
        Arc::new(RenderedPage {
            data: Bytes::from(vec![b'x'; bytes]),
            total: 1,
            next_cursor: None,
            digest: 0,
        })
    }

    #[test]
    fn rendered_pages_and_answers_stay_within_their_bytes() {
        let cache = RenderedCache::new(1 << 20);
        for key in 0..100u64 {
            cache.insert(page_key(&format!("q{key}"), &[]), page(100_000));
            cache.keep_hot(
                format!("q{key}"),
                Arc::new(HotAnswer {
                    body: Bytes::from(vec![b'y'; 100_000]),
                    etag: HeaderValue::from_static("W/\"1\""),
                    epoch: 0,
                    valid_until: Instant::now() + std::time::Duration::from_secs(60),
                    hits: Vec::new(),
                }),
            );
        }
        cache.pages.run_pending_tasks();
        cache.answers.run_pending_tasks();
        for (what, bytes, entries) in [
            (
                "pages",
                cache.pages.weighted_size(),
                cache.pages.entry_count(),
            ),
            (
                "answers",
                cache.answers.weighted_size(),
                cache.answers.entry_count(),
            ),
        ] {
            assert!(bytes <= 1 << 19, "{what}: {bytes} bytes kept");
            assert!((1..=5).contains(&entries), "{what}: {entries} entries kept");
        }
        // The same budget holds many small pages.
        let small = RenderedCache::new(1 << 20);
        for key in 0..100u64 {
            small.insert(page_key(&format!("q{key}"), &[]), page(1_000));
        }
        small.pages.run_pending_tasks();
        assert_eq!(small.pages.entry_count(), 100);
    }

    /// Two queries never share a page: the page key is the full (query,
    /// versions) in an injective encoding, so inputs a naive concatenation or
    /// a short hash would merge stay apart, and equal keys mean equal inputs.
    #[test]
    fn two_queries_never_share_a_page() {
        let v = |pairs: &[(&str, u64)]| -> Vec<(String, u64)> {
            pairs.iter().map(|(n, v)| (n.to_string(), *v)).collect()
        };
        let inputs: Vec<(&str, Vec<(String, u64)>)> = vec![
            ("q=a", v(&[("p", 12)])),
            ("q=a", v(&[("p1", 2)])),
            ("q=ap", v(&[("", 12)])),
            ("q=a", v(&[("p", 1), ("2", 0)])),
            ("q=a1:p", v(&[("p", 12)])),
            ("", v(&[])),
            ("0:", v(&[])),
            ("q=a", v(&[])),
            ("q=a", v(&[("p", 12), ("r", 1)])),
            ("q=a", v(&[("r", 1), ("p", 12)])),
        ];
        for (i, a) in inputs.iter().enumerate() {
            for (j, b) in inputs.iter().enumerate() {
                let same = page_key(a.0, &a.1) == page_key(b.0, &b.1);
                assert_eq!(same, i == j, "{a:?} vs {b:?}");
            }
        }
        // And the cache answers only the exact key.
        let cache = RenderedCache::new(1 << 20);
        cache.insert(page_key("q=a", &v(&[("p", 12)])), page(10));
        assert!(cache.get(&page_key("q=a", &v(&[("p", 12)]))).is_some());
        assert!(cache.get(&page_key("q=a", &v(&[("p1", 2)]))).is_none());
        // Hot answers are keyed by the full string too: different parts,
        // different keys.
        let k1 = hot_key(None, ["a", "b"].into_iter(), "q=x");
        let k2 = hot_key(None, ["ab"].into_iter(), "q=x");
        let k3 = hot_key(Some("a"), ["a", "b"].into_iter(), "q=x");
        assert!(k1 != k2 && k1 != k3 && k2 != k3);
    }
}
