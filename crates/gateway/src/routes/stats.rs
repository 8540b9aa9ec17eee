//! Counts and byte totals per group, for dashboards.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use isogate_core::Iso;
use serde::Serialize;

use crate::access::Caller;
use crate::http::error::{ApiError, bad_request};
use crate::listing::answer::{parse_pairs, query_error, query_pairs};
use crate::listing::{Source, gather, select};
use crate::state::AppState;

/// The dimensions `group_by` accepts.
pub const GROUPS: [&str; 11] = [
    "provider",
    "provider_kind",
    "kind",
    "status",
    "os",
    "zone",
    "visibility",
    "os.family",
    "os.version",
    "arch",
    "edition",
];

/// One group's figures.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct StatsRow {
    /// The group's values, one per `group_by` dimension (null when absent).
    #[schema(value_type = Object)]
    pub group: BTreeMap<String, Option<String>>,
    /// Items in the group.
    pub count: u64,
    /// Sum of known sizes.
    pub size_bytes: u64,
}

/// The stats answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct StatsResponse {
    /// Groups, largest count first.
    pub data: Vec<StatsRow>,
    /// Totals over every matching item.
    pub meta: StatsMeta,
    /// Per provider: what happened.
    pub sources: Vec<Source>,
}

/// Totals.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct StatsMeta {
    /// Matching items.
    pub total: u64,
    /// Sum of known sizes.
    pub size_bytes: u64,
    /// Some provider failed.
    pub partial: bool,
    /// The dimensions grouped by.
    pub group_by: Vec<String>,
}

/// Counts and byte totals per group over the federated listing; takes the
/// listing's filters (`filter`, `q`, `provider`, `kind`). Items in several
/// zones count once in each zone's group when grouping by `zone`.
#[utoipa::path(get, path = "/v1/isos/stats", tag = "listings",
    params(("group_by" = Option<String>, Query, description = "Comma list of provider, provider_kind, kind, status, os, zone, visibility, os.family, os.version, arch, edition (default provider)"),
           crate::routes::openapi::ListParams),
    responses((status = 200, description = "Figures per group", body = StatsResponse),
              (status = 400, description = "Unknown group or malformed query", body = crate::http::error::Problem),
              (status = 502, description = "Every selected provider failed and nothing is cached", body = crate::http::error::Problem)))]
pub async fn get_stats(
    State(state): State<AppState>,
    caller: Caller,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let (group, pairs): (Vec<_>, Vec<_>) = query_pairs(raw.as_deref())?
        .into_iter()
        .partition(|(k, _)| k == "group_by");
    let group_by: Vec<String> = match group.first() {
        // Empty is the same as absent, as for every listing parameter.
        None => vec!["provider".into()],
        Some((_, v)) if v.is_empty() => vec!["provider".into()],
        // Elements exactly as the document's pattern says: no blanks.
        Some((_, v)) => v.split(',').map(str::to_owned).collect(),
    };
    if group_by.is_empty() {
        return Err(bad_request(
            "group_by: expected at least one of provider, provider_kind, kind, status, os, zone, visibility, os.family, os.version, arch, edition",
        ));
    }
    for (i, g) in group_by.iter().enumerate() {
        if !GROUPS.contains(&g.as_str()) {
            return Err(bad_request(format!(
                "group_by: item {} '{g}': expected one of {}",
                i + 1,
                GROUPS.join(", ")
            )));
        }
    }
    // The rest is the listing's query, parsed from the pairs as decoded.
    let query = parse_pairs(&state, pairs)?;
    let selection = select(&state, &caller, &query.providers)?;
    let gathered = gather(&state, &selection, query.refresh, None).await;
    if let Some(failure) = gathered.total_failure() {
        return Err(failure.into());
    }
    let matcher = isogate_core::query::Matcher::new(&query).map_err(query_error)?;
    let mut groups: BTreeMap<Vec<Option<String>>, (u64, u64)> = BTreeMap::new();
    let (mut total, mut bytes) = (0u64, 0u64);
    for item in gathered.items().filter(|i| matcher.matches(i)) {
        total += 1;
        bytes += item.size_bytes.unwrap_or(0);
        for key in keys(item, &group_by) {
            let entry = groups.entry(key).or_default();
            entry.0 += 1;
            entry.1 += item.size_bytes.unwrap_or(0);
        }
    }
    let mut data: Vec<StatsRow> = groups
        .into_iter()
        .map(|(values, (count, size_bytes))| StatsRow {
            group: group_by.iter().cloned().zip(values).collect(),
            count,
            size_bytes,
        })
        .collect();
    data.sort_by_key(|row| std::cmp::Reverse(row.count));
    Ok(Json(StatsResponse {
        data,
        meta: StatsMeta {
            total,
            size_bytes: bytes,
            partial: gathered.partial,
            group_by,
        },
        sources: gathered.sources,
    })
    .into_response())
}

/// The group keys of one item (several when grouped by zone and it has several).
fn keys(item: &Iso, group_by: &[String]) -> Vec<Vec<Option<String>>> {
    let mut keys: Vec<Vec<Option<String>>> = vec![Vec::new()];
    for g in group_by {
        let values: Vec<Option<String>> = match g.as_str() {
            "provider" => vec![Some(item.provider.to_string())],
            "provider_kind" => vec![Some(item.provider_kind.as_str().into())],
            "kind" => vec![Some(item.kind.as_str().into())],
            "status" => vec![Some(item.status.as_str().into())],
            "visibility" => vec![Some(item.visibility.as_str().into())],
            "os" => vec![
                item.os
                    .as_ref()
                    .and_then(|o| o.name.as_deref().map(Into::into)),
            ],
            "os.family" => vec![
                item.os
                    .as_ref()
                    .and_then(|o| o.family.as_deref().map(Into::into)),
            ],
            "os.version" => vec![
                item.os
                    .as_ref()
                    .and_then(|o| o.version.as_deref().map(Into::into)),
            ],
            "arch" => vec![item.arch.as_deref().map(Into::into)],
            "edition" => vec![item.edition.as_deref().map(Into::into)],
            "zone" if item.zones.is_empty() => vec![None],
            "zone" => item
                .zones
                .iter()
                .map(|z| Some(z.name.as_deref().unwrap_or(&z.id).to_owned()))
                .collect(),
            _ => vec![None],
        };
        keys = keys
            .into_iter()
            .flat_map(|k| {
                values.iter().map(move |v| {
                    let mut k = k.clone();
                    k.push(v.clone());
                    k
                })
            })
            .collect();
    }
    keys
}
