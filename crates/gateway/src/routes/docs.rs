//! `/openapi.json` and an offline docs page (no CDN: the page is compiled in).

use axum::Json;
use axum::extract::State;
use axum::response::{Html, IntoResponse, Response};

use crate::state::AppState;

/// The OpenAPI 3.1 document of the running configuration (keys can change
/// on SIGHUP, so it is built per request; it is small and rarely asked for).
pub async fn openapi_json(State(state): State<AppState>) -> Response {
    Json(crate::openapi::document_for(&state)).into_response()
}

/// A docs page that renders `/openapi.json` in the browser, with no internet.
pub async fn docs_page() -> Html<&'static str> {
    Html(include_str!("../../assets/docs.html"))
}
