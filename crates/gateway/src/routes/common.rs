//! Pieces every handler shares: provider lookup, capability gating, outcome
//! answers and a JSON extractor whose rejections are problems too.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use isogate_core::Operation;
use isogate_core::{Error, ErrorKind, Outcome, encode_segment};
use serde::de::DeserializeOwned;

use crate::access::Caller;
use crate::http::error::ApiError;
use crate::providers::ProviderHandle;
use crate::state::AppState;

/// The provider by name, or a 404 problem.
pub fn provider<'a>(
    state: &'a AppState,
    caller: &Caller,
    name: &str,
) -> Result<&'a ProviderHandle, ApiError> {
    let handle = state.provider(name).ok_or_else(|| {
        ApiError::coded(
            Error::not_found(format!("no provider named '{name}' is configured")),
            "unknown_provider",
        )
    })?;
    // Outside the caller's allow-list: 403 (see crate::http::auth).
    if !caller.may_see(name) {
        return Err(crate::access::provider_forbidden(name).into());
    }
    Ok(handle)
}

/// The methods of the resource `operation` lives on, each with the
/// operation that switches it on.
fn resource_methods(operation: Operation) -> &'static [(&'static str, Operation)] {
    use Operation::*;
    match operation {
        List | Import => &[("GET", List), ("POST", Import)],
        Get | Update | Delete => &[("GET", Get), ("PATCH", Update), ("DELETE", Delete)],
        Attach => &[("POST", Attach)],
        Detach => &[("POST", Detach)],
        DownloadUrl => &[("POST", DownloadUrl)],
        History => &[("GET", History)],
        Sync => &[("POST", Sync)],
        Task => &[("GET", Task)],
    }
}

/// The methods this provider supports on the resource of `operation`.
pub fn allowed_methods(handle: &ProviderHandle, operation: Operation) -> Vec<&'static str> {
    resource_methods(operation)
        .iter()
        .filter(|(_, op)| handle.capability.supports(*op))
        .map(|(method, _)| *method)
        .collect()
}

/// A 405 naming the capability, with an `Allow` header listing what this
/// provider's resource does support, when the provider does not switch the
/// capability on, so no unsupported call reaches an adapter.
pub fn require(handle: &ProviderHandle, operation: Operation) -> Result<(), ApiError> {
    let capability = operation.as_str();
    if handle.capability.supports(operation) {
        return Ok(());
    }
    let allow = allowed_methods(handle, operation);
    Err(ApiError::from(
        Error::new(
            ErrorKind::Unsupported,
            format!(
                "provider '{}' ({}) does not support '{capability}'",
                handle.name,
                handle.kind.as_str()
            ),
        )
        .with_provider(&handle.name)
        .with_operation(capability),
    )
    .with_allow(&allow))
}

/// The path of a task, for `Location`.
pub fn task_location(provider: &str, task_id: &str) -> String {
    format!(
        "/v1/providers/{}/tasks/{}",
        encode_segment(provider),
        encode_segment(task_id)
    )
}

/// Answers a write: 200/201 with the item, 200 with a URL, 204, or 202 with
/// the task and a `Location` to follow it.
pub fn outcome_response(provider: &str, outcome: Outcome, created: bool) -> Response {
    match outcome {
        Outcome::Item { item } => {
            let status = if created {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            (status, Json(item)).into_response()
        }
        Outcome::Url { url } => Json(serde_json::json!({ "url": url })).into_response(),
        Outcome::Done => StatusCode::NO_CONTENT.into_response(),
        Outcome::Accepted { task } => {
            let location = task_location(provider, &task.id);
            let mut resp = (StatusCode::ACCEPTED, Json(task)).into_response();
            if let Ok(v) = HeaderValue::from_str(&location) {
                resp.headers_mut().insert(header::LOCATION, v);
            }
            resp
        }
    }
}

/// `Json<T>` whose rejections answer problem+json (400, 413 or 415).
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(value)) => Ok(ApiJson(value)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

fn json_rejection(rejection: JsonRejection) -> ApiError {
    let text = rejection.body_text();
    match rejection {
        JsonRejection::MissingJsonContentType(_) => ApiError::with_status(
            Error::invalid_input("the body must be JSON (Content-Type: application/json)"),
            "unsupported_media_type",
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        // The body limit's rejection says so by its status, not its text.
        JsonRejection::BytesRejection(_) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            ApiError::with_status(
                Error::invalid_input("the body is larger than the configured limit"),
                "payload_too_large",
                StatusCode::PAYLOAD_TOO_LARGE,
            )
        }
        _ => ApiError::coded(Error::invalid_input(text), "invalid_body"),
    }
}
