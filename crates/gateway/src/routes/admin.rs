//! Cache administration.

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use crate::access::Caller;
use crate::http::error::ApiError;
use crate::routes::common::provider;
use crate::state::AppState;

/// Which snapshots to drop; all when `providers` is absent or empty.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InvalidateRequest {
    /// Provider names.
    #[serde(default)]
    pub providers: Vec<String>,
}

/// What was dropped.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct InvalidateResponse {
    /// Provider names whose snapshots were dropped.
    pub invalidated: Vec<String>,
}

/// Drops cached listings (admin).
#[utoipa::path(post, path = "/v1/cache/invalidate", tag = "admin",
    request_body(content = InvalidateRequest, description = "Optional; all providers when absent"),
    responses((status = 200, description = "Dropped", body = InvalidateResponse),
              (status = 400, description = "Malformed body", body = crate::http::error::Problem),
              (status = 404, description = "No such provider", body = crate::http::error::Problem)))]
pub async fn invalidate_cache(
    State(state): State<AppState>,
    caller: Caller,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    // The body is optional, so it is parsed by hand rather than by `Json`.
    let wanted = if body.iter().all(u8::is_ascii_whitespace) {
        Vec::new()
    } else {
        // An object, as documented: serde would also take `[]` for a struct.
        if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
            return Err(ApiError::coded(
                isogate_core::Error::invalid_input("the body must be a JSON object"),
                "invalid_body",
            ));
        }
        serde_json::from_slice::<InvalidateRequest>(&body)
            .map_err(|e| {
                ApiError::coded(
                    isogate_core::Error::invalid_input(e.to_string()),
                    "invalid_body",
                )
            })?
            .providers
    };
    let names: Vec<String> = if wanted.is_empty() {
        state
            .visible_providers(&caller)
            .map(|h| h.name.clone())
            .collect()
    } else {
        for name in &wanted {
            provider(&state, &caller, name)?;
        }
        wanted
    };
    for name in &names {
        state.cache().invalidate(name).await;
    }
    Ok(Json(InvalidateResponse { invalidated: names }).into_response())
}
