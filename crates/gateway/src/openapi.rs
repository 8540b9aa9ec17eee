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
    modifiers(&Guarded),
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

/// Adds what the auth and limit layers answer on every `/v1` route (they wrap
/// the handlers, so the handlers' annotations cannot say it): the API-key
/// schemes, and 401, 403, 429 and 431 problems.
#[derive(Debug)]
struct Guarded;

impl utoipa::Modify for Guarded {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{
            ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
        };
        use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        components.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-Api-Key"))),
        );
        let problem = |description: &str| {
            ResponseBuilder::new()
                .description(description)
                .content(
                    "application/problem+json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("Problem")))
                        .build(),
                )
                .build()
        };
        for (path, item) in openapi.paths.paths.iter_mut() {
            if !path.starts_with("/v1/") {
                continue;
            }
            let ops = [
                &mut item.get,
                &mut item.post,
                &mut item.patch,
                &mut item.delete,
                &mut item.put,
            ];
            for op in ops.into_iter().flatten() {
                // Either header works; with `auth.mode = "none"` neither is needed.
                op.security = Some(vec![
                    SecurityRequirement::new("bearer", Vec::<String>::new()),
                    SecurityRequirement::new("api_key", Vec::<String>::new()),
                ]);
                for (code, description) in [
                    (
                        "401",
                        "No API key, or an unknown one (when keys are configured)",
                    ),
                    (
                        "403",
                        "The key lacks the scope, or the provider is outside its allow-list",
                    ),
                    ("429", "Rate limit of the key exceeded; see Retry-After"),
                    ("431", "Request headers larger than the configured limit"),
                ] {
                    op.responses
                        .responses
                        .entry(code.to_owned())
                        .or_insert_with(|| problem(description).into());
                }
            }
        }
    }
}

/// The document as JSON (OpenAPI 3.1).
pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}
