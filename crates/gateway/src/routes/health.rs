//! Liveness, readiness and metrics.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::state::AppState;

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "Alive")))]
pub async fn healthz() -> Response {
    Json(serde_json::json!({"status": "ok"})).into_response()
}

/// Readiness: config loaded and listeners up. Provider health is reported but
/// never fails readiness (one bad upstream must not take the gateway out).
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses((status = 200, description = "Ready, with provider health"),
              (status = 503, description = "Not ready yet")))]
pub async fn readyz(State(state): State<AppState>) -> Response {
    let providers: serde_json::Map<String, serde_json::Value> = state
        .providers()
        .map(|h| {
            let health = state.cache().health(&h.name);
            let status = match (health.last_success, health.consecutive_failures) {
                (_, n) if n > 0 => "degraded",
                (Some(_), _) => "ok",
                (None, _) => "unknown",
            };
            (h.name.clone(), serde_json::Value::from(status))
        })
        .collect();
    let ready = state.is_ready();
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(match state.cache().shared() {
            // Redis down is degraded, never unready: each replica serves alone.
            Some(shared) => serde_json::json!({"status": if ready {"ready"} else {"starting"}, "providers": providers, "shared_tier": shared.status_json()}),
            None => serde_json::json!({"status": if ready {"ready"} else {"starting"}, "providers": providers}),
        }),
    )
        .into_response()
}

/// Prometheus metrics.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain")))]
pub async fn get_metrics(State(state): State<AppState>) -> Response {
    if let Some(shared) = state.cache().shared() {
        shared.record_metrics();
    }
    crate::listing::feed::record_metrics(&state);
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        crate::http::telemetry::render_metrics(),
    )
        .into_response()
}
