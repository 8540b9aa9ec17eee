//! One provider's items: get, import, update, delete, attach, detach,
//! download URL, history. Native ids may hold `/` (Cox), so the item routes
//! share one catch-all and [`dispatch_item`] picks the handler from the raw
//! path's suffix (`/attach`, `/download-url`, `/history`). A percent-encoded
//! `%2F` is part of the id, never a separator: an id that itself ends in
//! `/history` is reached as `.../isos/a%2Fb%2Fhistory`.

use axum::Json;
use axum::body::Body;
use axum::extract::{FromRequest, Path, Request, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use isogate_core::Operation;
use isogate_core::{
    AttachRequest, DetachRequest, Error, ImportRequest, UpdateRequest, validate_native_id,
};
use percent_encoding::percent_decode_str;
use serde::Deserialize;

use crate::access::Caller;
use crate::http::error::ApiError;
use crate::routes::common::{ApiJson, outcome_response, provider, require};
use crate::state::AppState;

/// `?raw=true` on a single item.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ItemParams {
    /// Add the upstream object as received.
    #[serde(default)]
    pub raw: bool,
}

impl ItemParams {
    /// From the request's query, refusing what the document does not allow
    /// (`raw` once, `true` or `false`) with a problem.
    pub fn from_uri(uri: &axum::http::Uri) -> Result<ItemParams, ApiError> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(uri.query().unwrap_or(""))
            .map_err(|_| {
                crate::http::error::bad_request("the query string is not valid URL encoding")
            })?;
        let mut params = ItemParams::default();
        let mut seen = false;
        for (k, v) in pairs.iter().filter(|(k, _)| k == "raw") {
            if seen {
                return Err(crate::http::error::bad_request(format!(
                    "{k}: give it at most once"
                )));
            }
            seen = true;
            params.raw = match v.as_str() {
                "true" => true,
                "false" => false,
                other => {
                    return Err(crate::http::error::bad_request(format!(
                        "raw: expected true or false, found '{other}'"
                    )));
                }
            };
        }
        Ok(params)
    }
}

#[derive(Clone, Copy)]
enum ItemAction {
    Item,
    Attach,
    DownloadUrl,
    History,
}

/// Routes `/v1/providers/{provider}/isos/{*rest}` by method and raw suffix.
pub async fn dispatch_item(
    State(state): State<AppState>,
    caller: Caller,
    Path((provider_name, _)): Path<(String, String)>,
    req: Request<Body>,
) -> Response {
    let path = req.uri().path().to_owned();
    let raw_rest = raw_item_path(&path);
    let (raw_id, action) = split_action(raw_rest, req.method());
    let native_id = match decode_id(raw_id) {
        Ok(id) => id,
        Err(e) => return e.into_response(),
    };
    let method = req.method().clone();
    let result = match (method, action) {
        (Method::GET, ItemAction::Item) => {
            let params = match ItemParams::from_uri(req.uri()) {
                Ok(q) => q,
                Err(e) => return e.into_response(),
            };
            get_provider_iso(state, &caller, provider_name, native_id, params).await
        }
        (Method::GET, ItemAction::History) => {
            get_iso_history(state, &caller, provider_name, native_id).await
        }
        (Method::PATCH, ItemAction::Item) => {
            match ApiJson::<UpdateRequest>::from_request(req, &()).await {
                Ok(ApiJson(body)) => {
                    update_iso(state, &caller, provider_name, native_id, body).await
                }
                Err(e) => Err(e),
            }
        }
        (Method::DELETE, ItemAction::Item) => {
            delete_iso(state, &caller, provider_name, native_id).await
        }
        (Method::POST, ItemAction::Attach) => {
            match ApiJson::<AttachRequest>::from_request(req, &()).await {
                Ok(ApiJson(body)) => {
                    attach_iso(state, &caller, provider_name, native_id, body).await
                }
                Err(e) => Err(e),
            }
        }
        (Method::POST, ItemAction::DownloadUrl) => {
            create_download_url(state, &caller, provider_name, native_id).await
        }
        _ => {
            let allow = crate::routes::openapi::documented_methods(&state, &path);
            let allow: Vec<&str> = allow.iter().map(String::as_str).collect();
            Err(ApiError::with_status(
                Error::invalid_input("no such operation on an item; see /openapi.json"),
                "method_not_allowed",
                StatusCode::METHOD_NOT_ALLOWED,
            )
            .with_allow(&allow))
        }
    };
    result.unwrap_or_else(IntoResponse::into_response)
}

fn raw_item_path(path: &str) -> &str {
    // `/v1/providers/{name}/isos/<rest>`; provider names never need encoding.
    path.splitn(6, '/').nth(5).unwrap_or("")
}

fn split_action<'a>(raw: &'a str, _method: &Method) -> (&'a str, ItemAction) {
    // Whatever the method: a PATCH on `.../history` is a method the history
    // resource does not allow (405), not an update of an id ending in it.
    let suffixes: &[(&str, ItemAction)] = &[
        ("/attach", ItemAction::Attach),
        ("/download-url", ItemAction::DownloadUrl),
        ("/history", ItemAction::History),
    ];
    for (suffix, action) in suffixes {
        if let Some(id) = raw.strip_suffix(suffix) {
            return (id, *action);
        }
    }
    (raw, ItemAction::Item)
}

/// Percent-decodes a native id and rejects ids no upstream could accept.
pub fn decode_id(raw: &str) -> Result<String, ApiError> {
    let id = percent_decode_str(raw)
        .decode_utf8()
        .map_err(|_| crate::http::error::bad_request("the native id is not UTF-8 once decoded"))?
        .into_owned();
    validate_native_id(&id, true).map_err(|e| ApiError::coded(e, "invalid_id"))?;
    Ok(id)
}

/// One item of one provider.
#[utoipa::path(get, path = "/v1/providers/{provider}/isos/{native_id}", tag = "items",
    params(("provider" = String, Path, description = "Configured provider name"),
           ("native_id" = String, Path, description = "The upstream id; may hold '/' (Cox)"), ItemParams),
    responses((status = 200, description = "The item", body = isogate_core::Iso),
              (status = 400, description = "Invalid id", body = crate::http::error::Problem),
              (status = 404, description = "No such item or provider", body = crate::http::error::Problem),
              (status = 405, description = "The provider cannot get single items (Allow lists what it can)", body = crate::http::error::Problem),
              (status = 502, description = "Upstream failed", body = crate::http::error::Problem),
              (status = 503, description = "Upstream unreachable", body = crate::http::error::Problem),
              (status = 504, description = "Upstream timed out", body = crate::http::error::Problem)))]
pub async fn get_provider_iso(
    state: AppState,
    caller: &Caller,
    provider_name: String,
    native_id: String,
    params: ItemParams,
) -> Result<Response, ApiError> {
    let handle = provider(&state, caller, &provider_name)?;
    require(handle, Operation::Get)?;
    let item = handle.provider.get(&native_id, params.raw).await?;
    Ok(Json(item).into_response())
}

/// Import (register or upload) an ISO by URL.
#[utoipa::path(post, path = "/v1/providers/{provider}/isos", tag = "items",
    params(("provider" = String, Path, description = "Configured provider name")),
    request_body = isogate_core::ImportRequest,
    responses((status = 201, description = "Imported", body = isogate_core::Iso),
              (status = 202, description = "Import started; follow Location", body = isogate_core::Task),
              (status = 400, description = "Invalid request or URL", body = crate::http::error::Problem),
              (status = 404, description = "No such provider", body = crate::http::error::Problem),
              (status = 413, description = "Body too large", body = crate::http::error::Problem),
              (status = 415, description = "Body is not JSON", body = crate::http::error::Problem),
              (status = 405, description = "The provider cannot import (Allow lists what it can)", body = crate::http::error::Problem),
              (status = 502, description = "Upstream failed", body = crate::http::error::Problem)))]
pub async fn import_iso(
    State(state): State<AppState>,
    caller: Caller,
    Path(provider_name): Path<String>,
    req: Request,
) -> Result<Response, ApiError> {
    let handle = provider(&state, &caller, &provider_name)?;
    // The capability before the body: a provider that cannot import answers
    // 405 whatever was sent, as the document (no POST for it) says.
    require(handle, Operation::Import)?;
    let ApiJson(body) = ApiJson::<ImportRequest>::from_request(req, &()).await?;
    // The document's minLength: the gateway refuses it for every provider
    // (some upstreams would, others would store a nameless item).
    check_name(&body.name)?;
    // Without DNS the URL's shape is the whole check, and the document's
    // `url` pattern says exactly what it is.
    if state.config().server.import_dns == "skip" && !offline_import_url(&body.url) {
        return Err(ApiError::coded(
            Error::invalid_input(
                "url: with server.import_dns = \"skip\" an import URL is http(s) to a public \
                 host name with a plain path (see the document's pattern)",
            ),
            "import_url_rejected",
        ));
    }
    // Before anything is forwarded: the upstream would fetch this URL from
    // inside its own network (see crate::security::ssrf).
    state
        .import_guard()
        .check(&body.url, &handle.import_schemes)
        .await?;
    let outcome = handle.provider.import(&body).await?;
    state.cache().invalidate(&handle.name).await;
    Ok(outcome_response(&handle.name, outcome, true))
}

/// Whether `url` matches the document's import URL pattern.
fn offline_import_url(url: &str) -> bool {
    static PATTERN: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    PATTERN
        .get_or_init(|| {
            regex::Regex::new(crate::routes::openapi::IMPORT_URL).expect("the import URL pattern")
        })
        .is_match(url)
}

/// A name every provider can store: not empty, no `/` (a path separator in
/// the action module's file names and VSS paths) and no control character.
/// The document's `name` pattern says the same.
fn check_name(name: &str) -> Result<(), ApiError> {
    if name.trim().is_empty() {
        return Err(crate::http::error::bad_request(
            "name: must not be empty or blank",
        ));
    }
    if name.chars().any(|c| c == '/' || c.is_control()) {
        return Err(crate::http::error::bad_request(
            "name: must not contain '/' or control characters",
        ));
    }
    Ok(())
}

/// Change an item's name or description.
#[utoipa::path(patch, path = "/v1/providers/{provider}/isos/{native_id}", tag = "items",
    params(("provider" = String, Path, description = "Configured provider name"),
           ("native_id" = String, Path, description = "The upstream id")),
    request_body = isogate_core::UpdateRequest,
    responses((status = 200, description = "Updated", body = isogate_core::Iso),
              (status = 204, description = "Updated"),
              (status = 400, description = "Invalid request", body = crate::http::error::Problem),
              (status = 404, description = "No such item", body = crate::http::error::Problem),
              (status = 405, description = "The provider cannot update (Allow lists what it can)", body = crate::http::error::Problem),
              (status = 502, description = "Upstream failed", body = crate::http::error::Problem)))]
pub async fn update_iso(
    state: AppState,
    caller: &Caller,
    provider_name: String,
    native_id: String,
    body: UpdateRequest,
) -> Result<Response, ApiError> {
    let handle = provider(&state, caller, &provider_name)?;
    require(handle, Operation::Update)?;
    if let Some(name) = &body.name {
        check_name(name)?;
    }
    if body.name.is_none() && body.description.is_none() {
        return Err(crate::http::error::bad_request(
            "give at least one of name, description",
        ));
    }
    let outcome = handle.provider.update(&native_id, &body).await?;
    state.cache().invalidate(&handle.name).await;
    Ok(outcome_response(&handle.name, outcome, false))
}

/// Delete an item.
#[utoipa::path(delete, path = "/v1/providers/{provider}/isos/{native_id}", tag = "items",
    params(("provider" = String, Path, description = "Configured provider name"),
           ("native_id" = String, Path, description = "The upstream id")),
    responses((status = 202, description = "Deletion started", body = isogate_core::Task),
              (status = 204, description = "Deleted"),
              (status = 400, description = "Invalid id", body = crate::http::error::Problem),
              (status = 404, description = "No such item", body = crate::http::error::Problem),
              (status = 405, description = "The provider cannot delete (Allow lists what it can)", body = crate::http::error::Problem),
              (status = 502, description = "Upstream failed", body = crate::http::error::Problem)))]
pub async fn delete_iso(
    state: AppState,
    caller: &Caller,
    provider_name: String,
    native_id: String,
) -> Result<Response, ApiError> {
    let handle = provider(&state, caller, &provider_name)?;
    require(handle, Operation::Delete)?;
    let outcome = handle.provider.delete(&native_id).await?;
    state.cache().invalidate(&handle.name).await;
    Ok(outcome_response(&handle.name, outcome, false))
}

/// Attach (mount) an item to an instance or server.
#[utoipa::path(post, path = "/v1/providers/{provider}/isos/{native_id}/attach", tag = "items",
    params(("provider" = String, Path, description = "Configured provider name"),
           ("native_id" = String, Path, description = "The upstream id")),
    request_body = isogate_core::AttachRequest,
    responses((status = 202, description = "Attach started", body = isogate_core::Task),
              (status = 204, description = "Attached"),
              (status = 400, description = "Invalid request", body = crate::http::error::Problem),
              (status = 404, description = "No such item", body = crate::http::error::Problem),
              (status = 405, description = "The provider cannot attach (Allow lists what it can)", body = crate::http::error::Problem),
              (status = 502, description = "Upstream failed", body = crate::http::error::Problem)))]
pub async fn attach_iso(
    state: AppState,
    caller: &Caller,
    provider_name: String,
    native_id: String,
    body: AttachRequest,
) -> Result<Response, ApiError> {
    let handle = provider(&state, caller, &provider_name)?;
    require(handle, Operation::Attach)?;
    validate_native_id(&body.instance_id, false).map_err(|e| ApiError::coded(e, "invalid_id"))?;
    let outcome = handle.provider.attach(&native_id, &body).await?;
    Ok(outcome_response(&handle.name, outcome, false))
}

/// Detach (unmount) whatever is attached to an instance or server.
#[utoipa::path(post, path = "/v1/providers/{provider}/instances/{instance}/detach-iso", tag = "items",
    params(("provider" = String, Path, description = "Configured provider name"),
           ("instance" = String, Path, description = "The instance or server id")),
    responses((status = 202, description = "Detach started", body = isogate_core::Task),
              (status = 204, description = "Detached"),
              (status = 400, description = "Invalid id", body = crate::http::error::Problem),
              (status = 404, description = "No such instance", body = crate::http::error::Problem),
              (status = 405, description = "The provider cannot detach (Allow lists what it can)", body = crate::http::error::Problem),
              (status = 502, description = "Upstream failed", body = crate::http::error::Problem)))]
pub async fn detach_iso(
    State(state): State<AppState>,
    caller: Caller,
    Path((provider_name, instance)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let handle = provider(&state, &caller, &provider_name)?;
    require(handle, Operation::Detach)?;
    validate_native_id(&instance, false).map_err(|e| ApiError::coded(e, "invalid_id"))?;
    let outcome = handle
        .provider
        .detach(&DetachRequest {
            instance_id: instance,
        })
        .await?;
    Ok(outcome_response(&handle.name, outcome, false))
}

/// Generate a download URL.
#[utoipa::path(post, path = "/v1/providers/{provider}/isos/{native_id}/download-url", tag = "items",
    params(("provider" = String, Path, description = "Configured provider name"),
           ("native_id" = String, Path, description = "The upstream id")),
    responses((status = 200, description = "The URL", body = crate::routes::openapi::UrlResponse),
              (status = 202, description = "Generation started; the task's result holds `url`", body = isogate_core::Task),
              (status = 400, description = "Invalid id", body = crate::http::error::Problem),
              (status = 409, description = "The ISO was not imported as extractable, or is not ready yet", body = crate::http::error::Problem),
              (status = 404, description = "No such item", body = crate::http::error::Problem),
              (status = 405, description = "The provider cannot generate URLs (Allow lists what it can)", body = crate::http::error::Problem),
              (status = 502, description = "Upstream failed", body = crate::http::error::Problem)))]
pub async fn create_download_url(
    state: AppState,
    caller: &Caller,
    provider_name: String,
    native_id: String,
) -> Result<Response, ApiError> {
    let handle = provider(&state, caller, &provider_name)?;
    require(handle, Operation::DownloadUrl)?;
    let outcome = handle.provider.download_url(&native_id).await?;
    Ok(outcome_response(&handle.name, outcome, false))
}

/// The operations done on an item, oldest first.
#[utoipa::path(get, path = "/v1/providers/{provider}/isos/{native_id}/history", tag = "items",
    params(("provider" = String, Path, description = "Configured provider name"),
           ("native_id" = String, Path, description = "The upstream id")),
    responses((status = 200, description = "The history", body = crate::routes::openapi::HistoryResponse),
              (status = 400, description = "Invalid id", body = crate::http::error::Problem),
              (status = 404, description = "No such item", body = crate::http::error::Problem),
              (status = 405, description = "The provider keeps no history (Allow lists what it can)", body = crate::http::error::Problem),
              (status = 502, description = "Upstream failed", body = crate::http::error::Problem)))]
pub async fn get_iso_history(
    state: AppState,
    caller: &Caller,
    provider_name: String,
    native_id: String,
) -> Result<Response, ApiError> {
    let handle = provider(&state, caller, &provider_name)?;
    require(handle, Operation::History)?;
    let entries = handle.provider.history(&native_id).await?;
    Ok(Json(serde_json::json!({ "data": entries })).into_response())
}
