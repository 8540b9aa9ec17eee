//! Listings: the federated one, one provider's, one item by global id.

use isogate_core::Operation;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::{BufMut, Bytes, BytesMut};
use isogate_core::query::{CursorCodec, Limits, Query, merge, project};
use isogate_core::{Error, GlobalId};
use serde::Serialize;

use crate::access::Caller;
use crate::http::error::ApiError;
use crate::listing::cache::Freshness;
use crate::listing::render::{HotAnswer, RenderedPage, TopQuery, digest, hot_key, page_key};
use crate::listing::{Gathered, Source, gather, gather_raw, select};
use crate::routes::common::{provider, require};
use crate::state::AppState;

/// Parses the listing query with the configured limits; errors name the parameter.
pub fn parse_query(state: &AppState, raw: Option<&str>) -> Result<Query, ApiError> {
    let limits = Limits {
        max_per_page: state.config().server.max_per_page,
        max_filters: state.config().server.max_filters,
        ..Limits::default()
    };
    let mut pairs: Vec<(String, String)> =
        serde_urlencoded::from_str(raw.unwrap_or("")).map_err(|_| {
            crate::http::error::bad_request("the query string is not valid URL encoding")
        })?;
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
        return Err(ApiError::coded(
            Error::invalid_input(format!("{k}: expected a value, found an empty one")),
            "invalid_query",
        ));
    }
    Query::parse(&pairs, &limits).map_err(query_error)
}

/// A malformed query is a 400 naming the parameter; a cursor this server did
/// not issue for this query names a page that does not exist: 404.
pub fn query_error(e: isogate_core::QueryError) -> ApiError {
    if e.param == "cursor" {
        return ApiError::coded(Error::not_found(e.to_string()), "cursor_not_found");
    }
    ApiError::coded(e.into(), "invalid_query")
}

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

/// Federated listing over every provider.
#[utoipa::path(get, path = "/v1/isos", tag = "listings",
    params(crate::routes::openapi::ListParams),
    responses((status = 200, description = "A page of items with per-provider sources", body = ListResponse,
                headers(("ETag" = String, description = "Weak validator of the page"),
                        ("Cache-Status" = String, description = "RFC 9211 cache status"))),
              (status = 304, description = "Not modified (If-None-Match)"),
              (status = 400, description = "Malformed query: names the parameter, position and what was expected", body = crate::http::error::Problem),
              (status = 502, description = "Every selected provider failed and nothing is cached", body = crate::http::error::Problem),
              (status = 504, description = "Every selected provider timed out and nothing is cached", body = crate::http::error::Problem)))]
pub async fn list_isos(State(state): State<AppState>, caller: Caller, req: Request) -> Response {
    // The request itself rather than `RawQuery` + `HeaderMap` extractors,
    // which copy the query and every header on each (mostly cached) call.
    let (mut parts, _) = req.into_parts();
    let miss = parts.extensions.remove::<HotMiss>();
    listing(
        state,
        &caller,
        parts.uri.query(),
        &parts.headers,
        None,
        miss,
    )
    .await
    .unwrap_or_else(IntoResponse::into_response)
}

/// One provider's listing, same query language.
#[utoipa::path(get, path = "/v1/providers/{provider}/isos", tag = "listings",
    params(("provider" = String, Path, description = "Configured provider name"), crate::routes::openapi::ListParams),
    responses((status = 200, description = "A page of items", body = ListResponse),
              (status = 304, description = "Not modified (If-None-Match)"),
              (status = 400, description = "Malformed query", body = crate::http::error::Problem),
              (status = 404, description = "No such provider", body = crate::http::error::Problem),
              (status = 405, description = "The provider cannot list (Allow lists what it can)", body = crate::http::error::Problem),
              (status = 502, description = "The provider failed and nothing is cached", body = crate::http::error::Problem),
              (status = 504, description = "The provider timed out and nothing is cached", body = crate::http::error::Problem)))]
pub async fn list_provider_isos(
    State(state): State<AppState>,
    caller: Caller,
    Path(provider_name): Path<String>,
    req: Request,
) -> Response {
    let (mut parts, _) = req.into_parts();
    let miss = parts.extensions.remove::<HotMiss>();
    let result = async {
        let handle = provider(&state, &caller, &provider_name)?;
        require(handle, Operation::List)?;
        listing(
            state.clone(),
            &caller,
            parts.uri.query(),
            &parts.headers,
            Some(provider_name.clone()),
            miss,
        )
        .await
    };
    result.await.unwrap_or_else(IntoResponse::into_response)
}

/// A listing request's stored answer, or what the full path needs to store one.
pub(crate) enum Hot {
    /// The answer, as the full path would give it.
    Answer(Response),
    /// None stored: the key to store the answer under, and the cache epoch
    /// read before resolving (a snapshot replaced meanwhile makes the answer
    /// built after it stale at once instead of being kept as current).
    Miss { key: String, epoch: u64 },
}

/// A miss the hot lane already looked up: the key and epoch it read, so
/// the listing handler does not run [`hot_answer`] a second time.
#[derive(Clone, Debug)]
pub(crate) struct HotMiss {
    pub(crate) key: String,
    pub(crate) epoch: u64,
}

/// The same query from a caller seeing the same providers, with no snapshot
/// changed and no age ticked since, gets the stored bytes.
pub(crate) fn hot_answer(
    state: &AppState,
    only: Option<&str>,
    caller: &Caller,
    raw: Option<&str>,
    headers: &HeaderMap,
) -> Hot {
    let key = hot_key(
        only,
        state.visible_providers(caller).map(|h| h.name.as_str()),
        raw.unwrap_or(""),
    );
    let epoch = state.cache().epoch();
    let Some(answer) = state.rendered().hot(&key, epoch) else {
        return Hot::Miss { key, epoch };
    };
    for hit in &answer.hits {
        hit.increment(1);
    }
    Hot::Answer(respond(
        answer.body.clone(),
        &answer.etag,
        HeaderValue::from_static("isogate; hit"),
        headers,
    ))
}

async fn listing(
    state: AppState,
    caller: &Caller,
    raw: Option<&str>,
    headers: &HeaderMap,
    only: Option<String>,
    miss: Option<HotMiss>,
) -> Result<Response, ApiError> {
    let (hot, epoch) = match miss {
        Some(HotMiss { key, epoch }) => (key, epoch),
        None => match hot_answer(&state, only.as_deref(), caller, raw, headers) {
            Hot::Answer(resp) => return Ok(resp),
            Hot::Miss { key, epoch } => (key, epoch),
        },
    };
    let mut query = parse_query(&state, raw)?;
    if let Some(name) = &only {
        if !query.providers.is_empty() && !query.providers.contains(name) {
            return Err(crate::http::error::bad_request(format!(
                "provider: '{}' conflicts with the path's provider '{name}'",
                query.providers.join(",")
            )));
        }
        query.providers = vec![name.clone()];
    }
    let mut selection = select(&state, caller, &query.providers)?;
    if only.is_some() {
        // One provider's listing reports that provider only, not the skipped rest.
        selection.retain(|(_, selected)| *selected);
    }
    let codec = CursorCodec::new(state.cursor_key());
    let top_query = TopQuery {
        query: &query,
        identity: &hot,
        codec: &codec,
    };
    let gathered = if query.raw {
        gather_raw(&state, &selection).await
    } else {
        gather(&state, &selection, query.refresh, Some(top_query)).await
    };
    if let Some(failure) = gathered.total_failure() {
        return Err(failure.into());
    }
    let cacheable = !query.raw && !query.refresh;
    let key = page_key(raw.unwrap_or(""), &gathered.versions(&gathered.sources));
    let (page, repeated) = match state.rendered().get(&key).filter(|_| cacheable) {
        Some(page) => (page, true),
        None => {
            let page = Arc::new(render_page(&state, top_query, &gathered).await?);
            if cacheable {
                state.rendered().insert(key, page.clone());
            }
            (page, false)
        }
    };
    let resp = answer(&query, &gathered, &page);
    // Only a query asked before is worth a second copy of its bytes; one-off
    // queries (a changing filter) would just churn the cache.
    if repeated {
        keep_hot(&state, &gathered, &resp, hot, epoch);
    }
    Ok(resp.into_response(headers))
}

/// Stores an answer served purely from fresh snapshots as a [`HotAnswer`],
/// valid until a snapshot changes or any source's `age_s` would tick.
fn keep_hot(state: &AppState, gathered: &Gathered, resp: &Answer, key: String, epoch: u64) {
    // Only pure hits: a miss says `from_cache: false`, a stale answer is
    // about to change, and a failure should be retried.
    if gathered.freshness != Freshness::Hit || gathered.sources.iter().any(|s| s.error.is_some()) {
        return;
    }
    let fresh = std::time::Duration::from_secs(state.cache().windows().fresh_ttl_s);
    // Sources with an age are exactly those with a snapshot, in the same order.
    let valid_until = gathered
        .sources
        .iter()
        .filter_map(|s| s.age_s)
        .zip(&gathered.snapshots)
        .map(|(age, snap)| snap.fetched_at + fresh.min(std::time::Duration::from_secs(age + 1)))
        .min()
        .unwrap_or_else(|| std::time::Instant::now() + std::time::Duration::from_secs(1));
    let hits = gathered
        .sources
        .iter()
        .filter(|s| s.status == crate::listing::SourceStatus::Ok)
        .map(|s| metrics::counter!("isogate_cache_hits_total", "provider" => s.provider.clone()))
        .collect();
    state.rendered().keep_hot(
        key,
        Arc::new(HotAnswer {
            body: resp.body.clone(),
            etag: resp.etag.clone(),
            epoch,
            valid_until,
            hits,
        }),
    );
}

/// Each snapshot's top (computed early for new snapshots, else now), merged.
async fn render_page(
    state: &AppState,
    q: TopQuery<'_>,
    gathered: &Gathered,
) -> Result<RenderedPage, ApiError> {
    let mut tops = Vec::with_capacity(gathered.snapshots.len());
    for snapshot in &gathered.snapshots {
        tops.push(state.rendered().top(snapshot, q).await);
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
    write(&mut buf)
        .map_err(|e| ApiError::from(Error::upstream(format!("rendering failed: {e}"))))?;
    let data = buf.into_inner().freeze();
    Ok(RenderedPage {
        digest: digest(&data),
        data,
        total: result.total,
        next_cursor: result.next_cursor,
    })
}

/// A listing answer before the conditional-request check.
struct Answer {
    body: Bytes,
    etag: HeaderValue,
    cache_status: String,
}

impl Answer {
    fn into_response(self, headers: &HeaderMap) -> Response {
        match HeaderValue::from_str(&self.cache_status) {
            Ok(status) => respond(self.body, &self.etag, status, headers),
            Err(_) => respond(
                self.body,
                &self.etag,
                HeaderValue::from_static("isogate"),
                headers,
            ),
        }
    }
}

/// A constant: a name given as text is parsed on every use.
const CACHE_STATUS: HeaderName = HeaderName::from_static("cache-status");

/// 304 when `If-None-Match` names the ETag (or `*`), else 200 with the body.
fn respond(
    body: Bytes,
    etag: &HeaderValue,
    cache_status: HeaderValue,
    headers: &HeaderMap,
) -> Response {
    let etag_text = etag.to_str().unwrap_or_default();
    let not_modified = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .any(|t| t.trim() == etag_text || t.trim() == "*")
        });
    let mut resp = if not_modified {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let mut resp = Response::new(axum::body::Body::from(body));
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        resp
    };
    resp.headers_mut().insert(header::ETAG, etag.clone());
    resp.headers_mut().insert(CACHE_STATUS, cache_status);
    resp
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
    let statuses: Vec<(&str, crate::listing::SourceStatus)> = gathered
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
    let cache_status = cache_status(gathered);
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
        cache_status,
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

/// One item by global id (`provider:native_id`, percent-encoded).
#[utoipa::path(get, path = "/v1/isos/{id}", tag = "listings",
    params(("id" = String, Path, description = "Global id: provider:percent-encoded native id"), crate::routes::items::ItemParams),
    responses((status = 200, description = "The item", body = isogate_core::Iso),
              (status = 400, description = "Malformed global id", body = crate::http::error::Problem),
              (status = 404, description = "No such item or provider", body = crate::http::error::Problem),
              (status = 502, description = "Upstream failed", body = crate::http::error::Problem),
              (status = 504, description = "Upstream timed out", body = crate::http::error::Problem)))]
pub async fn get_iso(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    uri: axum::http::Uri,
) -> Result<Response, ApiError> {
    let params = crate::routes::items::ItemParams::from_uri(&uri)?;
    let global = GlobalId::decode(&id).map_err(|e| ApiError::coded(e, "invalid_id"))?;
    let handle = provider(&state, &caller, &global.provider)?;
    isogate_core::validate_native_id(&global.native_id, true)
        .map_err(|e| ApiError::coded(e, "invalid_id"))?;
    if handle.capability.get {
        return Ok(Json(handle.provider.get(&global.native_id, params.raw).await?).into_response());
    }
    // Without a get endpoint, the listing is the source of truth.
    let resolved = state
        .cache()
        .resolve(&handle.provider, handle.deadline, false)
        .await;
    let Some(snapshot) = resolved.snapshot else {
        return Err(match resolved.error {
            Some(e) => Error::new(e.kind(), e.message())
                .with_retryable(e.retryable())
                .with_provider(&handle.name)
                .with_operation("get")
                .into(),
            None => Error::upstream("no listing")
                .with_provider(&handle.name)
                .into(),
        });
    };
    snapshot
        .items
        .iter()
        .find(|i| i.native_id == global.native_id)
        .map(|i| Json(i).into_response())
        .ok_or_else(|| {
            Error::not_found(format!("no item '{}'", global.native_id))
                .with_provider(&handle.name)
                .into()
        })
}
