//! `GET /v1/webhooks`: the delivery state of every configured webhook.

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::state::AppState;

/// `{"data": [EndpointStatus]}`, in configuration order.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WebhookList {
    /// One entry per `[[webhooks]]` (URLs shown as `scheme://host:port/…`).
    pub data: Vec<isogate_feed::EndpointStatus>,
}

/// Webhook delivery status (admin scope): counts, queue, last success and
/// failure per endpoint. Never shows a secret or a URL path.
#[utoipa::path(get, path = "/v1/webhooks", tag = "events",
    responses((status = 200, description = "Every webhook's state", body = WebhookList),
              (status = 401, description = "No or unknown API key", body = crate::http::error::Problem),
              (status = 403, description = "The key lacks the admin scope", body = crate::http::error::Problem)))]
pub async fn list_webhooks(State(state): State<AppState>) -> Response {
    let data = state.webhooks().map(|d| d.status()).unwrap_or_default();
    Json(WebhookList { data }).into_response()
}
