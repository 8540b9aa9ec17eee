//! isogate: one REST API in front of many ISO and image catalogues.
//!
//! [`app`] builds the router from an [`AppState`]; `main.rs` only loads the
//! config, builds the state ([`build_state`]), binds and serves.

pub(crate) mod access;
pub mod config;
pub(crate) mod http;
pub mod listing;
pub(crate) mod providers;
pub(crate) mod routes;
pub(crate) mod security;
pub(crate) mod server;
pub(crate) mod state;

// What main.rs, the tests, the benches and the examples name; the rest of
// the crate is its own.
pub use access::{Caller, Principal};
pub use http::telemetry::{flush_logs, init_logging};
/// The change feed's start-up (`main.rs`).
pub use listing::feed;
pub use providers::embedded;
pub use providers::registry::validate_entry;
pub use routes::hotlane;
pub use routes::openapi;
/// A handler called without the app in `hardening_auth::no_caller_sees_nothing`.
pub use routes::providers::list_providers;
pub use security::ssrf;
pub use server::{serve, spawn_reload_on_sighup};

use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use isogate_core::{Error, ErrorKind};
use tower::ServiceBuilder;
use tower_http::compression::CompressionLayer;
use tower_http::cors::{AllowOrigin, Any, CorsLayer};

pub use providers::ProviderHandle;
pub use providers::embedded::Embedded;
pub use state::{AppState, build_state};

use crate::http::auth::RouteGroup;
use crate::http::{auth, error, telemetry};
use crate::routes::hotlane::{Encoding, HotLaneLayer};
use crate::routes::{admin, docs, health, images, isos, items, stats};

/// The whole HTTP surface of DESIGN.md over `state`.
pub fn app(state: AppState) -> Router {
    telemetry::init_metrics();
    // The one route list, grouped by the scope its routes need: the guard
    // of each group knows its scope, so no path string decides it.
    let open = Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::get_metrics))
        .route("/openapi.json", get(docs::openapi_json))
        .route("/docs", get(docs::docs_page))
        .route("/docs/{*file}", get(docs::docs_asset))
        .merge(routes::ui::router())
        .method_not_allowed_fallback(method_not_allowed);
    // Read for GET/HEAD/OPTIONS, write for the rest; unknown paths land
    // here too (a caller without a key learns nothing about what exists).
    let api = Router::new()
        .route("/v1/isos", get(isos::list_isos))
        .route("/v1/isos/stats", get(stats::get_stats))
        .route("/v1/isos/{id}", get(isos::get_iso))
        .route("/v1/images", get(images::list_images))
        .route("/v1/images/coverage", get(images::get_coverage))
        .route("/v1/providers", get(routes::providers::list_providers))
        .route(
            "/v1/providers/{provider}/isos",
            get(isos::list_provider_isos).post(items::import_iso),
        )
        .route(
            "/v1/providers/{provider}/isos/{*native_id}",
            get(items::dispatch_item)
                .post(items::dispatch_item)
                .patch(items::dispatch_item)
                .delete(items::dispatch_item),
        )
        .route(
            "/v1/providers/{provider}/instances/{instance}/detach-iso",
            post(items::detach_iso),
        )
        .route(
            "/v1/providers/{provider}/sync",
            post(routes::providers::sync_provider),
        )
        .route(
            "/v1/providers/{provider}/tasks/{task}",
            get(routes::providers::get_task),
        )
        .route("/v1/events", get(routes::events::get_events))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed);
    let admin = Router::new()
        .route("/v1/cache/invalidate", post(admin::invalidate_cache))
        .route("/v1/webhooks", get(routes::webhooks::list_webhooks))
        .method_not_allowed_fallback(method_not_allowed);
    stack(&state, RouteGroup::Open, open)
        .merge(stack(&state, RouteGroup::Api, api))
        .merge(stack(&state, RouteGroup::Admin, admin))
        .with_state(state)
}

/// The middleware around one group of routes, applied once per group so
/// each route is boxed once (see below).
fn stack(state: &AppState, group: RouteGroup, api: Router<AppState>) -> Router<AppState> {
    let server = &state.config().server;
    // Few `layer` calls, each with a ServiceBuilder stack: every
    // `Router::layer` boxes each route again, and a request clones the whole
    // chain of boxes once per layer (a dozen allocations per request with
    // five layers); a stack is one box of concrete, cheaply cloned types.
    // Innermost last; auth is inside CORS (preflights need no key).
    let guarded = ServiceBuilder::new()
        .layer(middleware::from_fn_with_state(state.clone(), options_allow))
        .layer(auth::GuardLayer::new(state.clone(), group))
        .layer(middleware::from_fn_with_state(
            Duration::from_millis(server.request_timeout_ms),
            request_deadline,
        ))
        .layer(DefaultBodyLimit::max(server.max_body_bytes));
    let cors = cors(&server.cors_origins);
    if cors.is_none() && !server.compression {
        // The default: the whole stack in one box, the hot lane answering
        // stored listings before the rest of it runs.
        api.layer(
            ServiceBuilder::new()
                .option_layer(
                    (group == RouteGroup::Api && server.hot_lane)
                        .then(|| HotLaneLayer::new(state.clone(), Encoding::Identity)),
                )
                .layer(telemetry::ObserveLayer)
                .layer(guarded),
        )
    } else {
        // CORS and compression change the body or error types, so they
        // cannot share the stack; they get their own calls when configured.
        let api = api.layer(guarded);
        // CORS headers depend on the request's origin: no lane with CORS.
        let lane =
            (group == RouteGroup::Api && cors.is_none() && server.compression && server.hot_lane)
                .then_some(Encoding::IdentityOfCompressed);
        let api = match cors {
            Some(cors) => api.layer(cors),
            None => api,
        };
        let api = if server.compression {
            api.layer(CompressionLayer::new().gzip(true).br(true))
        } else {
            api
        };
        api.layer(
            ServiceBuilder::new()
                .option_layer(lane.map(|encoding| HotLaneLayer::new(state.clone(), encoding)))
                .layer(telemetry::ObserveLayer),
        )
    }
}

async fn request_deadline(State(limit): State<Duration>, req: Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(resp) => resp,
        Err(_) => error::ApiError::coded(
            Error::new(
                ErrorKind::Timeout,
                format!("the request took longer than {limit:?}"),
            ),
            "request_timeout",
        )
        .into_response(),
    }
}

/// `OPTIONS` answers (whatever the auth layer made of them) list the
/// documented methods of the path, not every method of the router's route
/// (item routes share one catch-all).
async fn options_allow(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if req.method() != Method::OPTIONS {
        return next.run(req).await;
    }
    let allow = openapi::documented_methods(&state, req.uri().path()).join(", ");
    let mut resp = next.run(req).await;
    if let Ok(v) = HeaderValue::from_str(&allow) {
        resp.headers_mut().insert(axum::http::header::ALLOW, v);
    }
    resp
}

async fn not_found() -> Response {
    error::ApiError::coded(
        Error::not_found("no such route; see /openapi.json"),
        "route_not_found",
    )
    .into_response()
}

async fn method_not_allowed(State(state): State<AppState>, uri: axum::http::Uri) -> Response {
    let allow = openapi::documented_methods(&state, uri.path());
    let allow: Vec<&str> = allow.iter().map(String::as_str).collect();
    error::ApiError::with_status(
        Error::invalid_input("method not allowed on this route; see /openapi.json"),
        "method_not_allowed",
        StatusCode::METHOD_NOT_ALLOWED,
    )
    .with_allow(&allow)
    .into_response()
}

fn cors(origins: &[String]) -> Option<CorsLayer> {
    if origins.is_empty() {
        return None;
    }
    let layer = CorsLayer::new()
        .allow_methods([Method::GET, Method::POST, Method::PATCH, Method::DELETE])
        .allow_headers(Any)
        .expose_headers(Any);
    Some(if origins.iter().any(|o| o == "*") {
        layer.allow_origin(Any)
    } else {
        let list: Vec<HeaderValue> = origins
            .iter()
            .filter_map(|o| HeaderValue::from_str(o).ok())
            .collect();
        layer.allow_origin(AllowOrigin::list(list))
    })
}
