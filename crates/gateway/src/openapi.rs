//! The OpenAPI 3.1 document, generated from the handlers' annotations.

use serde::Serialize;
use utoipa::OpenApi;

/// The listing query language (DESIGN.md "Query language").
#[derive(Debug, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // documentation only: listings parse the raw query themselves
pub struct ListParams {
    /// `field,op,value`; repeatable or `;`-joined, AND-ed. ops: eq ne lt le gt ge like in.
    /// Fields: id provider provider_kind native_id kind name description size_bytes status
    /// bootable visibility os.id os.name arch_bits zones.id zones.name owner extractable
    /// created_at updated_at labels.<key>. `like` takes % and _ (case-insensitive); `in` takes |-separated values.
    filter: Option<String>,
    /// Case-insensitive substring over name and description.
    q: Option<String>,
    /// Comma list of provider names.
    provider: Option<String>,
    /// Comma list of `iso`, `image`.
    kind: Option<String>,
    /// `field,asc|desc`, several `;`-joined; id is always the final tiebreak.
    sort: Option<String>,
    /// Page size (default 50, max 1000).
    per_page: Option<u32>,
    /// Opaque keyset cursor from `meta.next_cursor`.
    cursor: Option<String>,
    /// 1-based offset page (instead of cursor).
    page: Option<u32>,
    /// Comma list of fields to return (id always included).
    fields: Option<String>,
    /// Fetch now instead of from the cache (rate-limited per provider).
    refresh: Option<bool>,
    /// Include each upstream object as received (bypasses the cache).
    raw: Option<bool>,
}

/// `{"url": ...}`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UrlResponse {
    /// The generated download URL.
    pub url: String,
}

/// `{"data": [HistoryEntry]}`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct HistoryResponse {
    /// Oldest first.
    pub data: Vec<isogate_core::HistoryEntry>,
}

/// The document.
#[derive(OpenApi)]
#[openapi(
    info(title = "isogate", description = "One REST API in front of many ISO and image catalogues."),
    paths(
        crate::routes::isos::list_isos,
        crate::routes::stats::get_stats,
        crate::routes::isos::get_iso,
        crate::routes::providers::list_providers,
        crate::routes::isos::list_provider_isos,
        crate::routes::items::get_provider_iso,
        crate::routes::items::import_iso,
        crate::routes::items::update_iso,
        crate::routes::items::delete_iso,
        crate::routes::items::attach_iso,
        crate::routes::items::detach_iso,
        crate::routes::items::create_download_url,
        crate::routes::items::get_iso_history,
        crate::routes::providers::sync_provider,
        crate::routes::providers::get_task,
        crate::routes::admin::invalidate_cache,
        crate::routes::health::healthz,
        crate::routes::health::readyz,
        crate::routes::health::get_metrics,
    ),
    tags(
        (name = "listings", description = "Federated and per-provider listings"),
        (name = "items", description = "One provider's items and operations"),
        (name = "providers", description = "Providers, sync and tasks"),
        (name = "admin", description = "Cache administration"),
        (name = "operations", description = "Health and metrics"),
    )
)]
#[derive(Debug)]
pub struct ApiDoc;

/// The document as JSON (OpenAPI 3.1).
pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}
