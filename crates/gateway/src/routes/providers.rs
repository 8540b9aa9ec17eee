//! Configured providers, personal-catalogue sync and unified tasks.

use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use isogate_core::Operation;
use serde::Serialize;

use crate::access::Caller;
use crate::http::error::ApiError;
use crate::providers::ProviderHandle;
use crate::routes::common::{outcome_response, provider, require};
use crate::state::AppState;

/// One provider as `/v1/providers` shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ProviderInfo {
    /// Configured name.
    pub name: String,
    /// Adapter family.
    pub kind: isogate_core::ProviderKind,
    /// Operations it supports.
    pub capabilities: Vec<&'static str>,
    /// Query parts it can push down upstream.
    pub pushdown: Vec<&'static str>,
    /// `ok`, `degraded` (last listing failed) or `unknown` (not listed yet).
    pub health: &'static str,
    /// Failures since the last successful listing.
    pub consecutive_failures: u64,
    /// Code of the last failure, if any.
    pub last_error: Option<String>,
    /// Age of the cached listing in seconds, if one is cached.
    pub cache_age_s: Option<u64>,
    /// Items in the cached listing, if one is cached.
    pub cache_count: Option<usize>,
    /// Federated-listing deadline in milliseconds.
    pub deadline_ms: u64,
    /// The circuit breaker in front of the upstream.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub breaker: Option<isogate_resilience::BreakerInfo>,
    /// With `[cache.shared]`: the Redis tier as this replica sees it
    /// (`ok`, or `degraded` while Redis is unreachable: served from this replica).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shared_tier: Option<&'static str>,
    /// The tier-wide version of the snapshot served, when it is shared.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tier_version: Option<u64>,
}

/// The configured providers with capabilities, health and cache age.
#[utoipa::path(get, path = "/v1/providers", tag = "providers",
    responses((status = 200, description = "The providers", body = ProviderList)))]
pub async fn list_providers(State(state): State<AppState>, caller: Caller) -> Response {
    let mut data = Vec::new();
    for handle in state.visible_providers(&caller) {
        data.push(provider_info(&state, handle).await);
    }
    Json(ProviderList { data }).into_response()
}

/// `{"data": [ProviderInfo]}`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ProviderList {
    /// The providers, by name.
    pub data: Vec<ProviderInfo>,
}

async fn provider_info(state: &AppState, handle: &ProviderHandle) -> ProviderInfo {
    let health = state.cache().health(&handle.name);
    let snapshot = state.cache().peek(&handle.name).await;
    let cap = handle.capability;
    let mut pushdown = Vec::new();
    if cap.filter_pushdown {
        pushdown.push("filter");
    }
    if cap.sort_pushdown {
        pushdown.push("sort");
    }
    ProviderInfo {
        name: handle.name.clone(),
        kind: handle.kind,
        capabilities: cap.operations(),
        pushdown,
        health: match (health.last_success, health.consecutive_failures) {
            (_, n) if n > 0 => "degraded",
            (Some(_), _) => "ok",
            (None, _) => "unknown",
        },
        consecutive_failures: health.consecutive_failures,
        last_error: health.last_error.map(|(_, code)| code),
        cache_age_s: snapshot.as_ref().map(|s| s.age().as_secs()),
        cache_count: snapshot.as_ref().map(|s| s.items.len()),
        deadline_ms: handle.deadline.as_millis() as u64,
        breaker: handle.breaker.as_ref().map(|b| b.info()),
        shared_tier: state.cache().shared().map(|s| s.health()),
        tier_version: snapshot.as_ref().and_then(|s| s.tier_version),
    }
}

/// Re-sync a personal catalogue (VSS); answers the unified task.
#[utoipa::path(post, path = "/v1/providers/{provider}/sync", tag = "providers",
    params(("provider" = String, Path, description = "Configured provider name")),
    responses((status = 202, description = "Sync started; follow Location", body = isogate_core::Task),
              (status = 404, description = "No such provider", body = crate::http::error::Problem),
              (status = 405, description = "The provider has nothing to sync (Allow lists what it can)", body = crate::http::error::Problem),
              (status = 502, description = "Upstream failed", body = crate::http::error::Problem)))]
pub async fn sync_provider(
    State(state): State<AppState>,
    caller: Caller,
    Path(provider_name): Path<String>,
) -> Result<Response, ApiError> {
    let handle = provider(&state, &caller, &provider_name)?;
    require(handle, Operation::Sync)?;
    let outcome = handle.provider.sync().await?;
    state.cache().invalidate(&handle.name).await;
    Ok(outcome_response(&handle.name, outcome, false))
}

/// The unified state of an asynchronous upstream operation.
#[utoipa::path(get, path = "/v1/providers/{provider}/tasks/{task}", tag = "providers",
    params(("provider" = String, Path, description = "Configured provider name"),
           ("task" = String, Path, description = "The task id from a 202 answer")),
    responses((status = 200, description = "The task: pending, succeeded or failed", body = isogate_core::Task),
              (status = 404, description = "No such task or provider", body = crate::http::error::Problem),
              (status = 405, description = "The provider has no tasks (Allow lists what it can)", body = crate::http::error::Problem),
              (status = 502, description = "Upstream failed", body = crate::http::error::Problem)))]
pub async fn get_task(
    State(state): State<AppState>,
    caller: Caller,
    Path((provider_name, task_id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let handle = provider(&state, &caller, &provider_name)?;
    require(handle, Operation::Task)?;
    isogate_core::validate_native_id(&task_id, false)
        .map_err(|e| ApiError::coded(e, "invalid_id"))?;
    let task = handle.provider.task(&task_id).await?;
    // A finished task may have changed the catalogue (import, delete).
    if task.status != isogate_core::TaskStatus::Pending
        && state.first_seen_finished(&handle.name, &task_id)
    {
        state.cache().invalidate(&handle.name).await;
    }
    Ok(Json(task).into_response())
}
