//! `/openapi.json` and an offline docs page (no CDN: the page is compiled in).

use std::sync::OnceLock;

use axum::http::header;
use axum::response::{Html, IntoResponse, Response};

static SPEC: OnceLock<String> = OnceLock::new();

/// The OpenAPI 3.1 document.
pub async fn openapi_json() -> Response {
    let spec = SPEC.get_or_init(|| {
        crate::openapi::document()
            .to_json()
            .unwrap_or_else(|_| "{}".into())
    });
    ([(header::CONTENT_TYPE, "application/json")], spec.clone()).into_response()
}

/// A docs page that renders `/openapi.json` in the browser, with no internet.
pub async fn docs_page() -> Html<&'static str> {
    Html(include_str!("../../assets/docs.html"))
}
