//! The same image across providers: one row per identity (`/v1/images`) and
//! the identities x providers matrix (`/v1/images/coverage`).
//!
//! Items are chosen as the listing chooses them (`provider=`, `kind=`, `q=`,
//! `refresh=`, and `item_filter=` in the listing's filter language), only
//! from the providers the caller may see; they are then grouped by identity
//! and `filter`/`sort`/paging apply to the groups' fields.

use crate::access::Caller;
use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use isogate_core::identity::{
    Coverage, CoverageRow, GroupQuery, ImageGroup, coverage, coverage_csv, group,
};
use isogate_core::query::{Limits, Matcher, Query};
use serde::Serialize;

use crate::http::error::{ApiError, bad_request};
use crate::listing::answer::{ListMeta, parse_pairs, query_error};
use crate::listing::{Gathered, Source, gather, select};
use crate::state::AppState;

/// The images query (documentation only: the handlers parse the raw query).
#[derive(Debug, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct ImageParams {
    /// `field,op,value` over groups; repeatable or `;`-joined, AND-ed. ops: eq ne lt le gt ge
    /// like in. Fields: family version arch edition provider (any of the group's providers)
    /// providers (count) items (count) size_bytes (the size most providers have) consistent.
    filter: Option<String>,
    /// `field,asc|desc` over the same fields, several `;`-joined; the identity is the final
    /// tiebreak. Texts compare naturally (version 9 before 10).
    sort: Option<String>,
    /// The listing's `filter` over items, applied before grouping.
    item_filter: Option<String>,
    /// Case-insensitive substring over item name and description, before grouping.
    q: Option<String>,
    /// Comma list of provider names whose items are considered.
    provider: Option<String>,
    /// Comma list of `iso`, `image`: the item kinds considered.
    kind: Option<String>,
    /// Page size (default 50).
    per_page: Option<u32>,
    /// Opaque keyset cursor from `meta.next_cursor`.
    cursor: Option<String>,
    /// 1-based offset page (instead of cursor).
    page: Option<u32>,
    /// Fetch now instead of from the cache (rate-limited per provider).
    refresh: Option<bool>,
}

/// The coverage query (documentation only).
#[derive(Debug, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct CoverageParams {
    /// `field,op,value` over groups, as for `/v1/images`.
    filter: Option<String>,
    /// `field,asc|desc` over groups, as for `/v1/images` (rows' order).
    sort: Option<String>,
    /// Comma list of provider names: the columns, in that order, and the only items
    /// considered (default: every provider the caller may see, by name).
    providers: Option<String>,
    /// The listing's `filter` over items, applied before grouping.
    item_filter: Option<String>,
    /// Comma list of `iso`, `image`: the item kinds considered.
    kind: Option<String>,
    /// Fetch now instead of from the cache (rate-limited per provider).
    refresh: Option<bool>,
}

/// `/v1/images`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ImagesResponse {
    /// The page's groups.
    pub data: Vec<ImageGroup>,
    /// Totals (groups) and paging.
    pub meta: ListMeta,
    /// Per provider: what happened.
    pub sources: Vec<Source>,
}

/// `meta` of the coverage.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CoverageMeta {
    /// Rows.
    pub total: usize,
    /// Some provider failed, was served stale because it failed, or is incomplete:
    /// its cells may say absent for what it has.
    pub partial: bool,
}

/// `/v1/images/coverage` as JSON.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CoverageResponse {
    /// The columns, in the order asked for.
    pub providers: Vec<String>,
    /// One row per identity; `cells` has one entry per column.
    pub rows: Vec<CoverageRow>,
    /// Totals.
    pub meta: CoverageMeta,
    /// Per provider: what happened.
    pub sources: Vec<Source>,
}

/// One row per identity (family, version, arch, edition) with the providers and items
/// that have it, their sizes and whether the copies agree.
#[utoipa::path(get, path = "/v1/images", tag = "images",
    params(ImageParams),
    responses((status = 200, description = "A page of identities with per-provider sources", body = ImagesResponse),
              (status = 400, description = "Malformed query: names the parameter, position and what was expected", body = crate::http::error::Problem),
              (status = 404, description = "A cursor this query did not issue", body = crate::http::error::Problem),
              (status = 502, description = "Every selected provider failed and nothing is cached", body = crate::http::error::Problem)))]
pub async fn list_images(
    State(state): State<AppState>,
    caller: Caller,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let pairs = pairs(raw.as_deref())?;
    let groups_query = group_query(&state, &pairs)?;
    let (groups, gathered) = grouped(&state, &caller, &pairs, "provider").await?;
    let page = groups_query.page(groups).map_err(query_error)?;
    Ok(Json(ImagesResponse {
        data: page.data,
        meta: ListMeta {
            total: page.total,
            per_page: groups_query.per_page,
            next_cursor: page.next_cursor,
            partial: gathered.partial,
        },
        sources: gathered.sources,
    })
    .into_response())
}

/// Identities x providers: each cell `present`, `absent` or `different` (the provider has
/// it, but not in the size most providers have). JSON, or CSV with `Accept: text/csv`.
#[utoipa::path(get, path = "/v1/images/coverage", tag = "images",
    params(CoverageParams),
    responses((status = 200, description = "The matrix", content(
                 (CoverageResponse = "application/json"),
                 (String = "text/csv", example = json!("family,version,arch,edition,cloudmc-v1\r\nubuntu,22.04,x86_64,server,present\r\n"))
              )),
              (status = 400, description = "Malformed query", body = crate::http::error::Problem),
              (status = 502, description = "Every selected provider failed and nothing is cached", body = crate::http::error::Problem)))]
pub async fn get_coverage(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let pairs = pairs(raw.as_deref())?;
    let groups_query = group_query(&state, &pairs)?;
    let (groups, gathered) = grouped(&state, &caller, &pairs, "providers").await?;
    let mut groups: Vec<ImageGroup> = groups
        .into_iter()
        .filter(|g| groups_query.matches(g))
        .collect();
    groups_query.sort(&mut groups);
    let columns: Vec<String> = match pairs
        .iter()
        .find(|(k, v)| k == "providers" && !v.is_empty())
    {
        Some((_, v)) => dedup(v.split(',').map(str::to_owned)),
        None => gathered
            .sources
            .iter()
            .map(|s| s.provider.clone())
            .collect(),
    };
    let matrix: Coverage = coverage(&groups, &columns);
    if wants_csv(&headers) {
        let mut resp = coverage_csv(&matrix).into_response();
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/csv; charset=utf-8"),
        );
        return Ok(resp);
    }
    Ok(Json(CoverageResponse {
        meta: CoverageMeta {
            total: matrix.rows.len(),
            partial: gathered.partial,
        },
        providers: matrix.providers,
        rows: matrix.rows,
        sources: gathered.sources,
    })
    .into_response())
}

fn pairs(raw: Option<&str>) -> Result<Vec<(String, String)>, ApiError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw.unwrap_or(""))
        .map_err(|_| bad_request("the query string is not valid URL encoding"))?;
    // The document types these as integers, which an empty value is not.
    if let Some((k, _)) = pairs
        .iter()
        .find(|(k, v)| v.is_empty() && matches!(k.as_str(), "per_page" | "page" | "refresh"))
    {
        return Err(bad_request(format!(
            "{k}: expected a value, found an empty one"
        )));
    }
    Ok(pairs)
}

fn group_query(state: &AppState, pairs: &[(String, String)]) -> Result<GroupQuery, ApiError> {
    let limits = Limits {
        max_per_page: state.config().server.max_per_page,
        max_filters: state.config().server.max_filters,
        ..Limits::default()
    };
    Ok(GroupQuery::parse(pairs, &limits).map_err(query_error)?)
}

/// The items the item parameters choose, from the caller's providers, grouped.
/// `providers_param` names the parameter that restricts providers.
async fn grouped(
    state: &AppState,
    caller: &Caller,
    pairs: &[(String, String)],
    providers_param: &str,
) -> Result<(Vec<ImageGroup>, Gathered), ApiError> {
    // The listing's parser checks the item parameters exactly as `/v1/isos` does.
    let mut item_pairs: Vec<(String, String)> = Vec::new();
    for (k, v) in pairs {
        let k = match k.as_str() {
            "item_filter" => "filter",
            "q" | "kind" | "refresh" => k.as_str(),
            p if p == providers_param => "provider",
            _ => continue,
        };
        item_pairs.push((k.to_owned(), v.clone()));
    }
    let query: Query = parse_pairs(state, item_pairs)?;
    let selection = select(state, caller, &query.providers)?;
    let gathered = gather(state, &selection, query.refresh, None).await;
    if let Some(failure) = gathered.total_failure() {
        return Err(failure.into());
    }
    let matcher = Matcher::new(&query).map_err(query_error)?;
    let groups = group(gathered.items().filter(|i| matcher.matches(i)));
    Ok((groups, gathered))
}

fn wants_csv(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|m| m.trim().to_ascii_lowercase().starts_with("text/csv"))
}

fn dedup(names: impl Iterator<Item = String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for n in names {
        if !out.contains(&n) {
            out.push(n);
        }
    }
    out
}
