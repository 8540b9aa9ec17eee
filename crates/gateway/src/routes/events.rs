//! `GET /v1/events`: the change feed as Server-Sent Events.

use std::convert::Infallible;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use isogate_core::query::{Limits, Query};
use isogate_core::{Error, ErrorKind};
use isogate_feed::{Selector, SseOptions, parse_types, resume_point, sse_stream};

use crate::http::error::{ApiError, bad_request};
use crate::state::AppState;

/// The query parameters of `/v1/events` (documentation; parsed by hand so
/// unknown names are refused like the listing's).
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // read by the document only
pub struct EventsParams {
    /// Resume after this event id (the `Last-Event-ID` header wins when both are given).
    #[param(pattern = "^([0-9]{1,19}-[0-9]{1,19})?$")]
    pub since: Option<String>,
    /// Only `iso.*` events whose item passes this listing filter (`field,op,value;...`).
    pub filter: Option<String>,
    /// Only `iso.*` events whose item matches this free-text search (as the listing's `q`).
    pub q: Option<String>,
    /// Only these providers' events (comma list).
    pub provider: Option<String>,
    /// Only items of these kinds (`iso,image`).
    pub kind: Option<String>,
    /// Only these event types (comma list: `iso.added`, `iso.*`, `provider.status`, ...).
    pub types: Option<String>,
    /// End the stream after this many seconds (1-3600; default: when the server's
    /// `feed.max_stream_s` says, or never). The client resumes with `Last-Event-ID`.
    #[param(minimum = 1, maximum = 3600)]
    pub timeout_s: Option<u64>,
}

const PARAMS: [&str; 7] = [
    "since",
    "filter",
    "q",
    "provider",
    "kind",
    "types",
    "timeout_s",
];

/// The change feed: `iso.added`, `iso.removed`, `iso.changed`,
/// `provider.status`, `provider.synced` as CloudEvents in SSE frames
/// (`id:` resumable, `event:` the short type, `data:` the JSON event);
/// `reset` when the resume point is older than the history. A key sees its
/// providers' events only.
#[utoipa::path(get, path = "/v1/events", tag = "events",
    params(EventsParams,
           ("Last-Event-ID" = Option<String>, Header, nullable = false, pattern = "^([0-9]{1,19}-[0-9]{1,19})?$", description = "Resume after this id (sent by reconnecting EventSource clients); anything else is a 400")),
    responses(
        (status = 200, description = "An endless `text/event-stream` (or until `timeout_s`); each `data:` is one Event", content_type = "text/event-stream", body = isogate_feed::Event),
        (status = 400, description = "A bad parameter or event id", body = crate::http::error::Problem),
        (status = 403, description = "A provider outside the key's allow-list", body = crate::http::error::Problem),
        (status = 404, description = "The feed is off, or no such provider", body = crate::http::error::Problem),
        (status = 429, description = "Too many open streams for this key", body = crate::http::error::Problem)))]
pub async fn get_events(
    State(state): State<AppState>,
    caller: crate::access::Caller,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let cfg = &state.config().feed;
    if !cfg.enabled {
        return Err(ApiError::coded(
            Error::not_found("the change feed is off ([feed] enabled = false)"),
            "feed_disabled",
        ));
    }
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw.as_deref().unwrap_or(""))
        .map_err(|_| bad_request("the query string is not valid URL encoding"))?;
    if let Some((k, _)) = pairs.iter().find(|(k, _)| !PARAMS.contains(&k.as_str())) {
        return Err(invalid(format!(
            "{k}: unknown parameter (expected one of {})",
            PARAMS.join(", ")
        )));
    }
    let get = |name: &str| {
        pairs
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let last_event_id = headers
        .get("last-event-id")
        .map(|v| {
            v.to_str()
                .map_err(|_| invalid("Last-Event-ID: not text".into()))
        })
        .transpose()?;
    let since = resume_point(last_event_id, get("since")).map_err(|_| {
        invalid("since / Last-Event-ID: expected an event id like 1718000000000-0".into())
    })?;
    let timeout = match get("timeout_s").filter(|v| !v.is_empty()) {
        None => None,
        Some(v) => Some(
            v.parse::<u64>()
                .ok()
                .filter(|s| (1..=3600).contains(s))
                .ok_or_else(|| {
                    invalid("timeout_s: expected a whole number from 1 to 3600".into())
                })?,
        ),
    };
    let timeout = match (timeout, cfg.max_stream_s) {
        (Some(t), 0) => Some(t),
        (Some(t), max) => Some(t.min(max)),
        (None, 0) => None,
        (None, max) => Some(max),
    };

    let visible: Vec<String> = state
        .visible_providers(&caller)
        .map(|h| h.name.clone())
        .collect();
    let mut selector = Selector::all().allow_providers(visible);
    let query_pairs: Vec<(&str, &str)> = pairs
        .iter()
        .filter(|(k, v)| {
            matches!(k.as_str(), "filter" | "q" | "provider" | "kind") && !v.is_empty()
        })
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    if !query_pairs.is_empty() {
        let limits = Limits {
            max_filters: state.config().server.max_filters,
            ..Limits::default()
        };
        let query =
            Query::parse(&query_pairs, &limits).map_err(crate::listing::answer::query_error)?;
        for p in &query.providers {
            if state.provider(p).is_none() {
                return Err(ApiError::coded(
                    Error::not_found(format!("no provider named '{p}'")),
                    "provider_not_found",
                ));
            }
            if !caller.may_see(p) {
                return Err(crate::access::provider_forbidden(p).into());
            }
        }
        selector = selector.query(query);
    }
    if let Some(t) = get("types").filter(|t| !t.trim().is_empty()) {
        let names: Vec<&str> = t
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect();
        let types = parse_types(&names).map_err(|e| invalid(format!("types: {e}")))?;
        selector = selector.types(types);
    }

    let key = caller
        .principal()
        .map(|c| c.name.clone())
        .unwrap_or_else(|| "anonymous".into());
    let Some(permit) = state.sse_limiter().try_acquire(&key) else {
        metrics::counter!("isogate_events_rejected_total").increment(1);
        return Err(ApiError::coded(
            Error::new(
                ErrorKind::RateLimited,
                format!(
                    "this API key has {} event streams open (feed.max_connections_per_key); close one",
                    cfg.max_connections_per_key
                ),
            )
            .with_retry_after(Duration::from_secs(5)),
            "too_many_streams",
        ));
    };

    let sub = match state.cache().shared_feed() {
        // Any replica's id resumes here (issue 18).
        Some(sf) => sf.subscribe(since, selector).await,
        None => state.feed().log().subscribe_from(since, selector),
    };
    let opts = SseOptions {
        heartbeat: Duration::from_secs(cfg.heartbeat_s),
        max_buffered: cfg.max_buffered,
        ..SseOptions::default()
    };
    // The permit lives exactly as long as the body.
    let frames = sse_stream(sub, opts).map(move |b| {
        let _held = &permit;
        Ok::<_, Infallible>(b)
    });
    let body = match timeout {
        Some(s) => Body::from_stream(frames.take_until(tokio::time::sleep(Duration::from_secs(s)))),
        None => Body::from_stream(frames),
    };
    let mut resp = (StatusCode::OK, body).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(isogate_feed::sse::CONTENT_TYPE),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // nginx buffers proxied answers unless told not to.
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    Ok(resp)
}

fn invalid(message: String) -> ApiError {
    ApiError::coded(Error::invalid_input(message), "invalid_query")
}
