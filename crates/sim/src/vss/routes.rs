//! The HTTP surface of the VSS simulator.

// Handlers answer `Result<Response, Response>`: the error is an answer, not
// propagated further, so its size does not matter.
#![allow(clippy::result_large_err)]

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, RawQuery, State as St};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use serde_json::{Value as Json, json};

use super::auth::Claims;
use super::catalogue::{self, IsoRec, SyncRequest};
use super::query::{self, ListQuery, Record};
use super::{PageLinks, State, TokenAnswer, error};

type S = St<Arc<State>>;
type Answer = Result<Response, Response>;

pub(crate) fn router(state: Arc<State>) -> Router {
    Router::new()
        .route("/auth/request-token", post(request_token))
        .route("/v2/iso", get(list_public).options(options_public))
        .route("/v2/iso/{id}", get(get_public))
        .route(
            "/v2/user/image/iso",
            get(list_personal).patch(sync).options(options_personal),
        )
        .route("/v2/user/image/iso/{id}", get(get_personal))
        .route("/v2/request/image_sync", get(list_requests))
        .route("/v2/request/image_sync/{id}", get(get_request))
        .route(
            "/__sim/vss/revoke",
            post(|St(s): S| async move {
                s.tokens.revoke_all();
                StatusCode::NO_CONTENT
            }),
        )
        .route(
            "/__sim/vss/expire",
            post(|St(s): S| async move {
                s.tokens.expire_all();
                StatusCode::NO_CONTENT
            }),
        )
        .fallback(|| async { error(StatusCode::NOT_FOUND, "The requested URL was not found.") })
        .method_not_allowed_fallback(|| async {
            error(
                StatusCode::METHOD_NOT_ALLOWED,
                "The method is not allowed for the requested URL.",
            )
        })
        .with_state(state)
}

fn now() -> DateTime<Utc> {
    Utc::now()
}

fn unauthorized(message: &str) -> Response {
    let mut r = error(StatusCode::UNAUTHORIZED, message);
    r.headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    r
}

fn bearer(state: &State, headers: &HeaderMap) -> Result<Claims, Response> {
    let value = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| unauthorized("Authorization header is missing."))?;
    let token = value
        .strip_prefix("Bearer ")
        .ok_or_else(|| unauthorized("Authorization header must be 'Bearer <token>'."))?;
    state
        .tokens
        .verify(token.trim(), now().timestamp_millis())
        .map_err(|r| unauthorized(r.message()))
}

fn origin(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    format!("http://{host}")
}

fn meta(user: &str) -> Json {
    json!({"time": "0.00042s", "user": {"username": user}})
}

/// A 200 with pre-rendered JSON (listings are rendered without a `Value` tree).
fn ok_raw(body: Box<serde_json::value::RawValue>) -> Response {
    let body: Box<str> = body.into();
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        String::from(body),
    )
        .into_response()
}

fn ok(status: StatusCode, body: Json) -> Response {
    (status, axum::Json(body)).into_response()
}

async fn request_token(St(s): S, headers: HeaderMap) -> Answer {
    let creds = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| STANDARD.decode(b.trim()).ok())
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| unauthorized("Basic authentication is required."))?;
    let (user, pass) = creds.split_once(':').unwrap_or((&creds, ""));
    // Constant time is not needed in a simulator; equal length and bytes are.
    if user != s.username || pass != s.password {
        return Err(unauthorized("Invalid username or password."));
    }
    let ttl_ms = s.token_ttl_ms.load(std::sync::atomic::Ordering::SeqCst);
    let (token, claims) = s.tokens.issue(user, now().timestamp_millis(), ttl_ms);
    let exp_date = DateTime::<Utc>::from_timestamp(claims.exp, 0)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_default();
    let form = *s.token_answer.lock().unwrap_or_else(|p| p.into_inner());
    let mut body = json!({
        "duration": ttl_ms / 1000,
        "exp": claims.exp,
        "exp_date": exp_date,
        "token": token,
        "type": "ACCESS",
    });
    if let Some(fields) = body.as_object_mut() {
        match form {
            TokenAnswer::Full => {}
            TokenAnswer::WithoutDuration => {
                fields.remove("duration");
            }
            TokenAnswer::TokenOnly => fields.retain(|k, _| k == "token" || k == "type"),
        }
    }
    Ok(ok(StatusCode::OK, body))
}

fn listing<R: Record>(
    records: &[R],
    q: &ListQuery,
    headers: &HeaderMap,
    uri: &Uri,
    user: &str,
) -> Response {
    let (page, total) = q.apply(records);
    let self_url = format!("{}{}", origin(headers), uri.path());
    ok_raw(q.envelope(&page, total, &self_url, user))
}

/// Like [`listing`], but the page is cut out under the lock and rendered
/// after it is released, so concurrent page requests do not queue on it.
fn listing_unlocked<R: Record + Clone>(
    guard: std::sync::MutexGuard<'_, super::Data>,
    pick: impl Fn(&super::Data) -> &[R],
    q: &ListQuery,
    headers: &HeaderMap,
    uri: &Uri,
    user: &str,
) -> Response {
    let (page, total) = {
        let (page, total) = q.apply(pick(&guard));
        let owned: Vec<R> = page.into_iter().cloned().collect();
        (owned, total)
    };
    drop(guard);
    let refs: Vec<&R> = page.iter().collect();
    let self_url = format!("{}{}", origin(headers), uri.path());
    ok_raw(q.envelope(&refs, total, &self_url, user))
}

/// Parses a listing query and applies the [`PageLinks`] switch: links
/// carry a cursor, and a page that is not its cursor's misbehaves.
fn parse_listing<R: Record>(state: &State, raw: Option<&str>) -> Result<ListQuery, Response> {
    let mut q = parse::<R>(raw)?;
    let links = *state.page_links.lock().unwrap_or_else(|p| p.into_inner());
    if links == PageLinks::Plain {
        return Ok(q);
    }
    q.cursor = true;
    let cursor = q
        .pairs
        .iter()
        .find(|(k, _)| k == "cursor")
        .and_then(|(_, v)| v.parse::<usize>().ok());
    match cursor {
        Some(c) if c != q.page => match links {
            PageLinks::WrongPage => q.page = c.max(1),
            PageLinks::OtherPerPage => {
                q.per_page = if q.per_page > 1 { q.per_page / 2 } else { 2 };
            }
            PageLinks::Reject => {
                return Err(error(
                    StatusCode::BAD_REQUEST,
                    "The page does not match its cursor.",
                ));
            }
            PageLinks::Plain => {}
        },
        _ => {}
    }
    Ok(q)
}

fn parse<R: Record>(raw: Option<&str>) -> Result<ListQuery, Response> {
    ListQuery::parse::<R>(raw).map_err(|m| error(StatusCode::BAD_REQUEST, &m))
}

async fn list_public(St(s): S, headers: HeaderMap, uri: Uri, RawQuery(raw): RawQuery) -> Answer {
    let claims = bearer(&s, &headers)?;
    let q = parse_listing::<IsoRec>(&s, raw.as_deref())?;
    let mut d = s.data(now());
    d.public_lists += 1;
    let lists = d.public_lists;
    let due: usize = d
        .growth
        .iter()
        .filter(|(after, _)| lists > *after)
        .map(|(_, n)| n)
        .sum();
    d.growth.retain(|(after, _)| lists <= *after);
    if due > 0 {
        super::grow(&mut d, s.seed, due);
    }
    Ok(listing_unlocked(
        d,
        |d| &d.public,
        &q,
        &headers,
        &uri,
        &claims.username,
    ))
}

async fn list_personal(St(s): S, headers: HeaderMap, uri: Uri, RawQuery(raw): RawQuery) -> Answer {
    let claims = bearer(&s, &headers)?;
    let q = parse_listing::<IsoRec>(&s, raw.as_deref())?;
    let d = s.data(now());
    Ok(listing_unlocked(
        d,
        |d| &d.personal,
        &q,
        &headers,
        &uri,
        &claims.username,
    ))
}

async fn list_requests(St(s): S, headers: HeaderMap, uri: Uri, RawQuery(raw): RawQuery) -> Answer {
    let claims = bearer(&s, &headers)?;
    let q = parse::<SyncRequest>(raw.as_deref())?;
    let d = s.data(now());
    Ok(listing(&d.requests, &q, &headers, &uri, &claims.username))
}

fn one<R: Record>(records: &[R], id: &str, what: &str, user: &str) -> Answer {
    let found = id
        .parse::<i64>()
        .ok()
        .and_then(|id| records.iter().find(|r| r.id() == id))
        .ok_or_else(|| error(StatusCode::NOT_FOUND, &format!("{what} not found.")))?;
    Ok(ok(
        StatusCode::OK,
        json!({"data": found.to_json(), "meta": meta(user)}),
    ))
}

async fn get_public(St(s): S, headers: HeaderMap, Path(id): Path<String>) -> Answer {
    let claims = bearer(&s, &headers)?;
    one(&s.data(now()).public, &id, "ISO image", &claims.username)
}

async fn get_personal(St(s): S, headers: HeaderMap, Path(id): Path<String>) -> Answer {
    let claims = bearer(&s, &headers)?;
    one(&s.data(now()).personal, &id, "ISO image", &claims.username)
}

async fn get_request(St(s): S, headers: HeaderMap, Path(id): Path<String>) -> Answer {
    let claims = bearer(&s, &headers)?;
    one(&s.data(now()).requests, &id, "Request", &claims.username)
}

async fn sync(St(s): S, headers: HeaderMap, uri: Uri) -> Answer {
    let claims = bearer(&s, &headers)?;
    let at = now();
    let mut d = s.data(at);
    let id = d.requests.len() as i64 + 1;
    let fail_with = d.fail_next.take();
    let task_id = task_id(s.seed, id);
    d.requests.push(SyncRequest {
        id,
        task_id: task_id.clone(),
        username: claims.username.clone(),
        status: catalogue::SUBMITTED,
        created_on: at,
        updated_on: at,
        added: Vec::new(),
        errors: Vec::new(),
        fail_with,
    });
    let self_url = format!("{}/v2/request/image_sync/{id}", origin(&headers));
    let _ = uri;
    Ok(ok(
        StatusCode::ACCEPTED,
        json!({
            "_links": {"request": self_url},
            "data": {
                "request": {"id": id, "status": catalogue::SUBMITTED, "task_id": task_id},
                "message": "Request has been accepted for processing",
            },
            "meta": meta(&claims.username),
        }),
    ))
}

fn task_id(seed: u64, id: i64) -> String {
    // A uuid-shaped, deterministic id.
    let h = (seed ^ 0x9e37_79b9_7f4a_7c15).wrapping_mul(id as u64 | 1);
    let x = format!("{h:016x}{:016x}", h.rotate_left(17) ^ id as u64);
    format!(
        "{}-{}-{}-{}-{}",
        &x[..8],
        &x[8..12],
        &x[12..16],
        &x[16..20],
        &x[20..32]
    )
}

fn options_body(methods: &[&str], resource: &str) -> Response {
    let fields: Vec<Json> = IsoRec::SCHEMA
        .iter()
        .map(|(n, k)| json!({"name": n, "type": format!("{k:?}").to_lowercase()}))
        .collect();
    let mut r = ok(
        StatusCode::OK,
        json!({
            "data": {
                "resource": resource,
                "description": "CD/DVD ISO images",
                "methods": methods,
                "parameters": {
                    "expand": "1 to return objects instead of URLs",
                    "per_page": format!("results per page, default {}, maximum {}", query::DEFAULT_PER_PAGE, query::MAX_PER_PAGE),
                    "page": "page number, from 1",
                    "filter": "<field_name>,<operator>,<value>; several joined by ';'",
                    "sort": "<field_name>,<asc|desc>; several joined by ';'",
                },
                "fields": fields,
                "operators": ["eq", "ne", "lt", "le", "gt", "ge", "like", "in"],
            }
        }),
    );
    if let Ok(v) = HeaderValue::from_str(&methods.join(", ")) {
        r.headers_mut().insert(header::ALLOW, v);
    }
    r
}

async fn options_public() -> Response {
    options_body(&["GET", "OPTIONS"], "/v2/iso")
}

async fn options_personal() -> Response {
    options_body(&["GET", "PATCH", "OPTIONS"], "/v2/user/image/iso")
}
