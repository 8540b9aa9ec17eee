//! `/openapi.json` and `/docs`: Swagger UI (with "try it out") over the
//! served document, from the bundle compiled into the binary (no CDN).

use std::sync::{Arc, OnceLock};

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use isogate_core::Error;

use crate::http::error::ApiError;
use crate::state::AppState;

/// The OpenAPI 3.1 document of the running configuration (keys can change
/// on SIGHUP, so it is built per request; it is small and rarely asked for).
pub async fn openapi_json(State(state): State<AppState>) -> Response {
    Json(crate::routes::openapi::document_for(&state)).into_response()
}

fn config() -> Arc<utoipa_swagger_ui::Config<'static>> {
    static CONFIG: OnceLock<Arc<utoipa_swagger_ui::Config<'static>>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            Arc::new(
                utoipa_swagger_ui::Config::from("/openapi.json")
                    .try_it_out_enabled(true)
                    .display_request_duration(true),
            )
        })
        .clone()
}

/// The viewer's page. Served at `/docs` (no trailing slash), so a `<base>`
/// makes its relative asset links resolve under `/docs/`.
pub async fn docs_page() -> Response {
    let Ok(Some(file)) = utoipa_swagger_ui::serve("index.html", config()) else {
        return missing("index.html");
    };
    let html = String::from_utf8_lossy(&file.bytes).replacen(
        "<head>",
        "<head>\n    <base href=\"/docs/\">",
        1,
    );
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response()
}

/// The viewer's scripts, styles and its initializer (pointing at `/openapi.json`).
pub async fn docs_asset(Path(file): Path<String>) -> Response {
    match utoipa_swagger_ui::serve(&file, config()) {
        Ok(Some(found)) => {
            let mut resp = (StatusCode::OK, found.bytes.into_owned()).into_response();
            if let Ok(v) = HeaderValue::from_str(&found.content_type) {
                resp.headers_mut().insert(header::CONTENT_TYPE, v);
            }
            if found.gzpipped {
                resp.headers_mut()
                    .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            }
            resp
        }
        _ => missing(&file),
    }
}

fn missing(file: &str) -> Response {
    ApiError::coded(
        Error::not_found(format!("no docs asset '{file}'")),
        "route_not_found",
    )
    .into_response()
}
