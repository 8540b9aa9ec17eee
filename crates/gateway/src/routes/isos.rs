//! The listing routes: thin handlers over `listing::answer`, plus the HTTP
//! of an answer (ETag, `If-None-Match` -> 304, `Cache-Status`).

use isogate_core::Operation;

use axum::Json;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use isogate_core::query::CursorCodec;
use isogate_core::{Error, GlobalId};

use crate::access::Caller;
use crate::http::error::ApiError;
use crate::listing::answer::{self, Answer, HotSlot, ListResponse};
use crate::routes::common::{provider, require};
use crate::state::AppState;

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
        &state,
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
            &state,
            &caller,
            parts.uri.query(),
            &parts.headers,
            Some(&provider_name),
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
    /// None stored: where the full path keeps its answer.
    Miss(HotSlot),
}

/// A miss the hot lane already looked up, so the listing handler does not
/// look it up a second time.
#[derive(Clone, Debug)]
pub(crate) struct HotMiss(pub(crate) HotSlot);

/// [`answer::hot_lookup`] as a response.
pub(crate) fn hot_answer(
    state: &AppState,
    only: Option<&str>,
    caller: &Caller,
    raw: Option<&str>,
    headers: &HeaderMap,
) -> Hot {
    match answer::hot_lookup(state, only, caller, raw) {
        Ok(stored) => Hot::Answer(respond(
            stored.body.clone(),
            &stored.etag,
            HeaderValue::from_static("isogate; hit"),
            headers,
        )),
        Err(slot) => Hot::Miss(slot),
    }
}

async fn listing(
    state: &AppState,
    caller: &Caller,
    raw: Option<&str>,
    headers: &HeaderMap,
    only: Option<&str>,
    miss: Option<HotMiss>,
) -> Result<Response, ApiError> {
    let slot = match miss {
        Some(HotMiss(slot)) => slot,
        None => match hot_answer(state, only, caller, raw, headers) {
            Hot::Answer(resp) => return Ok(resp),
            Hot::Miss(slot) => slot,
        },
    };
    let codec = CursorCodec::new(state.cursor_key());
    let Answer {
        body,
        etag,
        cache_status,
    } = answer::list(state, &codec, caller, raw, only, slot).await?;
    Ok(respond(body, &etag, cache_status, headers))
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
