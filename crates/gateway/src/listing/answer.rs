//! A listing answer, from the query string to the bytes: parsing with the
//! configured limits, selection, gathering, the rendered page, the
//! `{data, meta, sources}` body with its ETag and Cache-Status, and the hot
//! answers stored for repeated queries. No HTTP here: the handlers in
//! `routes/isos.rs` turn an [`Answer`] into a response (and a 304).

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};
use http::HeaderValue;
use isogate_core::Error;
use isogate_core::query::{CursorCodec, Limits, Query, merge, project};
use serde::Serialize;

use crate::access::Caller;
use crate::listing::cache::Freshness;
use crate::listing::render::{HotAnswer, RenderedPage, TopQuery, digest, hot_key, page_key};
use crate::listing::{Catalogue, Gathered, Source, SourceStatus, gather, gather_raw, select};

/// `meta` of a listing.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ListMeta {
    /// Matching items across all pages.
    pub total: usize,
    /// Page size.
    pub per_page: u32,
    /// Opaque cursor of the next page; absent on the last.
    pub next_cursor: Option<String>,
    /// Some provider failed, was served stale because it failed, or is incomplete.
    pub partial: bool,
}

/// A listing answer (documentation shape; the server writes it pre-rendered).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ListResponse {
    /// The page's items (projected when `fields=` is given).
    pub data: Vec<isogate_core::Iso>,
    /// Totals and paging.
    pub meta: ListMeta,
    /// Per provider: what happened.
    pub sources: Vec<Source>,
}

/// Decodes a raw query string into pairs.
pub fn query_pairs(raw: Option<&str>) -> Result<Vec<(String, String)>, Error> {
    serde_urlencoded::from_str(raw.unwrap_or(""))
        .map_err(|_| Error::invalid_input("the query string is not valid URL encoding"))
}

/// Parses the listing query with the configured limits; errors name the parameter.
pub fn parse_query(catalogue: &Catalogue, raw: Option<&str>) -> Result<Query, Error> {
    parse_pairs(catalogue, query_pairs(raw)?)
}

/// [`parse_query`] over already-decoded pairs (stats and images take their
/// own parameters out first).
pub fn parse_pairs(
    catalogue: &Catalogue,
    mut pairs: Vec<(String, String)>,
) -> Result<Query, Error> {
    let server = &catalogue.config().server;
    let limits = Limits {
        max_per_page: server.max_per_page,
        max_filters: server.max_filters,
        ..Limits::default()
    };
    // A cursor already says which page: `page` beside it is ignored rather
    // than refused, as the document (which cannot say "not both") allows both.
    if pairs.iter().any(|(k, v)| k == "cursor" && !v.is_empty()) {
        pairs.retain(|(k, _)| k != "page");
    }
    // The document types these as integers and booleans, which an empty
    // value is not (text parameters may still be empty: the same as absent).
    if let Some((k, _)) = pairs.iter().find(|(k, v)| {
        v.is_empty() && matches!(k.as_str(), "per_page" | "page" | "refresh" | "raw")
    }) {
        return Err(
            Error::invalid_input(format!("{k}: expected a value, found an empty one"))
                .with_code("invalid_query"),
        );
    }
    Query::parse(&pairs, &limits).map_err(query_error)
}

/// A malformed query is a 400 naming the parameter; a cursor this server did
/// not issue for this query names a page that does not exist: 404.
pub fn query_error(e: isogate_core::QueryError) -> Error {
    if e.param == "cursor" {
        return Error::not_found(e.to_string()).with_code("cursor_not_found");
    }
    Error::from(e).with_code("invalid_query")
}

/// Where a listing answer is looked up and stored: the hot key of the
/// query as this caller sees the providers, and the cache epoch read before
/// resolving (a snapshot replaced meanwhile makes the answer built after it
/// stale at once instead of being kept as current).
#[derive(Clone, Debug)]
pub struct HotSlot {
    /// The full key (never a digest: two queries never share an answer).
    pub key: String,
    /// The cache's epoch when the key was read.
    pub epoch: u64,
}

/// The fast path: the stored answer of the same query from a caller seeing
/// the same providers, with no snapshot changed and no age ticked since; or
/// the slot the full path stores its answer in.
pub fn hot_lookup(
    catalogue: &Catalogue,
    only: Option<&str>,
    caller: &Caller,
    raw: Option<&str>,
) -> Result<Arc<HotAnswer>, HotSlot> {
    let key = hot_key(
        only,
        catalogue.visible_providers(caller).map(|h| h.name.as_str()),
        raw.unwrap_or(""),
    );
    let epoch = catalogue.cache().epoch();
    match catalogue.rendered().hot(&key, epoch) {
        Some(answer) => {
            for hit in &answer.hits {
                hit.increment(1);
            }
            Ok(answer)
        }
        None => Err(HotSlot { key, epoch }),
    }
}

/// A listing answer before the conditional-request check.
#[derive(Debug)]
pub struct Answer {
    /// The `{data, meta, sources}` JSON.
    pub body: Bytes,
    /// Its weak validator.
    pub etag: HeaderValue,
    /// RFC 9211 `Cache-Status`.
    pub cache_status: HeaderValue,
}

/// The full path of one listing: `only` restricts it to one provider (the
/// provider's own route); `slot` is where a repeated answer is kept hot.
pub async fn list(
    catalogue: &Catalogue,
    codec: &CursorCodec,
    caller: &Caller,
    raw: Option<&str>,
    only: Option<&str>,
    slot: HotSlot,
) -> Result<Answer, Error> {
    let mut query = parse_query(catalogue, raw)?;
    if let Some(name) = only {
        if !query.providers.is_empty() && !query.providers.iter().any(|p| p == name) {
            return Err(Error::invalid_input(format!(
                "provider: '{}' conflicts with the path's provider '{name}'",
                query.providers.join(",")
            )));
        }
        query.providers = vec![name.to_owned()];
    }
    let mut selection = select(catalogue, caller, &query.providers)?;
    if only.is_some() {
        // One provider's listing reports that provider only, not the skipped rest.
        selection.retain(|(_, selected)| *selected);
    }
    let top_query = TopQuery {
        query: &query,
        identity: &slot.key,
        codec,
    };
    let gathered = if query.raw {
        gather_raw(catalogue, &selection).await
    } else {
        gather(catalogue, &selection, query.refresh, Some(top_query)).await
    };
    if let Some(failure) = gathered.total_failure() {
        return Err(failure);
    }
    let cacheable = !query.raw && !query.refresh;
    let key = page_key(raw.unwrap_or(""), &gathered.versions(&gathered.sources));
    let (page, repeated) = match catalogue.rendered().get(&key).filter(|_| cacheable) {
        Some(page) => (page, true),
        None => {
            let page = Arc::new(render_page(catalogue, top_query, &gathered).await?);
            if cacheable {
                catalogue.rendered().insert(key, page.clone());
            }
            (page, false)
        }
    };
    let answer = answer(&query, &gathered, &page);
    // Only a query asked before is worth a second copy of its bytes; one-off
    // queries (a changing filter) would just churn the cache.
    if repeated {
        keep_hot(catalogue, &gathered, &answer, slot);
    }
    Ok(answer)
}

/// Stores an answer served purely from fresh snapshots as a [`HotAnswer`],
/// valid until a snapshot changes or any source's `age_s` would tick.
fn keep_hot(catalogue: &Catalogue, gathered: &Gathered, answer: &Answer, slot: HotSlot) {
    // Only pure hits: a miss says `from_cache: false`, a stale answer is
    // about to change, and a failure should be retried.
    if gathered.freshness != Freshness::Hit || gathered.sources.iter().any(|s| s.error.is_some()) {
        return;
    }
    let fresh = Duration::from_secs(catalogue.cache().windows().fresh_ttl_s);
    // Sources with an age are exactly those with a snapshot, in the same order.
    let valid_until = gathered
        .sources
        .iter()
        .filter_map(|s| s.age_s)
        .zip(&gathered.snapshots)
        .map(|(age, snap)| snap.fetched_at + fresh.min(Duration::from_secs(age + 1)))
        .min()
        .unwrap_or_else(|| Instant::now() + Duration::from_secs(1));
    let hits = gathered
        .sources
        .iter()
        .filter(|s| s.status == SourceStatus::Ok)
        .map(|s| metrics::counter!("isogate_cache_hits_total", "provider" => s.provider.clone()))
        .collect();
    catalogue.rendered().keep_hot(
        slot.key,
        Arc::new(HotAnswer {
            body: answer.body.clone(),
            etag: answer.etag.clone(),
            epoch: slot.epoch,
            valid_until,
            hits,
        }),
    );
}

/// Each snapshot's top (computed early for new snapshots, else now), merged.
async fn render_page(
    catalogue: &Catalogue,
    q: TopQuery<'_>,
    gathered: &Gathered,
) -> Result<RenderedPage, Error> {
    let mut tops = Vec::with_capacity(gathered.snapshots.len());
    for snapshot in &gathered.snapshots {
        tops.push(catalogue.rendered().top(snapshot, q).await);
    }
    let mut parts = Vec::with_capacity(tops.len());
    for (snapshot, top) in gathered.snapshots.iter().zip(&tops) {
        match top.as_ref() {
            Ok(top) => parts.push((snapshot.items.as_slice(), top)),
            Err(e) => return Err(query_error(e.clone())),
        }
    }
    let query = q.query;
    let result = merge(query, parts, q.codec);
    let mut buf = BytesMut::with_capacity(result.items.len() * 640 + 2).writer();
    let write = |buf: &mut bytes::buf::Writer<BytesMut>| -> serde_json::Result<()> {
        use std::io::Write;
        buf.write_all(b"[").map_err(serde_json::Error::io)?;
        for (i, item) in result.items.iter().enumerate() {
            if i > 0 {
                buf.write_all(b",").map_err(serde_json::Error::io)?;
            }
            match &query.fields {
                Some(fields) => serde_json::to_writer(&mut *buf, &project(item, fields))?,
                None => serde_json::to_writer(&mut *buf, item)?,
            }
        }
        buf.write_all(b"]").map_err(serde_json::Error::io)
    };
    write(&mut buf).map_err(|e| Error::upstream(format!("rendering failed: {e}")))?;
    let data = buf.into_inner().freeze();
    Ok(RenderedPage {
        digest: digest(&data),
        data,
        total: result.total,
        next_cursor: result.next_cursor,
    })
}

fn answer(query: &Query, gathered: &Gathered, page: &RenderedPage) -> Answer {
    let meta = ListMeta {
        total: page.total,
        per_page: query.per_page,
        next_cursor: page.next_cursor.clone(),
        partial: gathered.partial,
    };
    // The validator covers what the client would see change: the items, the
    // paging and each source's status, not the ever-growing ages.
    let statuses: Vec<(&str, SourceStatus)> = gathered
        .sources
        .iter()
        .map(|s| (s.provider.as_str(), s.status))
        .collect();
    let etag = format!(
        "W/\"{:016x}\"",
        digest(
            format!(
                "{}|{}|{:?}|{}|{:?}",
                page.digest, page.total, page.next_cursor, meta.partial, statuses
            )
            .as_bytes()
        )
    );
    let meta = serde_json::to_vec(&meta).unwrap_or_default();
    let sources = serde_json::to_vec(&gathered.sources).unwrap_or_default();
    let mut body = BytesMut::with_capacity(page.data.len() + meta.len() + sources.len() + 32);
    body.extend_from_slice(b"{\"data\":");
    body.extend_from_slice(&page.data);
    body.extend_from_slice(b",\"meta\":");
    body.extend_from_slice(&meta);
    body.extend_from_slice(b",\"sources\":");
    body.extend_from_slice(&sources);
    body.extend_from_slice(b"}");
    Answer {
        body: body.freeze(),
        // Hex digits only: always a valid header value.
        etag: HeaderValue::from_str(&etag).unwrap_or(HeaderValue::from_static("W/\"0\"")),
        cache_status: HeaderValue::from_str(&cache_status(gathered))
            .unwrap_or(HeaderValue::from_static("isogate")),
    }
}

/// RFC 9211: a hit, a stale hit (negative ttl), or a forward.
fn cache_status(gathered: &Gathered) -> String {
    match gathered.freshness {
        Freshness::Hit => "isogate; hit".into(),
        Freshness::Stale => format!("isogate; hit; ttl=-{}", gathered.max_age_s),
        Freshness::Miss => "isogate; fwd=miss; stored".into(),
    }
}
