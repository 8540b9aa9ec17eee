//! Federation: resolve every selected provider concurrently, each within its
//! own deadline, and say per provider what happened.

use std::sync::Arc;

use futures::future::join_all;
use isogate_core::{Error, ErrorKind, Iso, ListOptions};
use serde::Serialize;

use crate::listing::Catalogue;
use crate::listing::cache::{Freshness, Resolved, Snapshot};
use crate::listing::render::TopQuery;
use crate::providers::ProviderHandle;

/// `sources[].status`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SourceStatus {
    /// Rows are current.
    Ok,
    /// Rows are older than `fresh_ttl` (refreshing, or the provider failed).
    Stale,
    /// No rows: the provider failed and nothing usable was cached.
    Error,
    /// Not asked (excluded by `provider=`).
    Skipped,
}

/// The error part of a source.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct SourceError {
    /// Stable code (`upstream_timeout`, ...).
    pub code: String,
    /// What happened, free of secrets.
    pub message: String,
}

/// What happened with one provider for one answer.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Source {
    /// Provider name.
    pub provider: String,
    /// Outcome.
    pub status: SourceStatus,
    /// Whether the rows came from the cache.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from_cache: Option<bool>,
    /// When the rows were fetched (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fetched_at: Option<String>,
    /// Age of the rows in seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub age_s: Option<u64>,
    /// Rows this provider contributed before filtering.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<usize>,
    /// Set when the upstream said its listing is incomplete.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub incomplete: Option<String>,
    /// The failure, for `error` and for `stale` served because of one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<SourceError>,
}

/// Everything an answer over several providers needs.
#[derive(Debug)]
pub struct Gathered {
    /// Snapshots with rows to serve, in provider-name order.
    pub snapshots: Vec<Arc<Snapshot>>,
    /// Per provider, in provider-name order (skipped ones included).
    pub sources: Vec<Source>,
    /// Some provider failed or was incomplete.
    pub partial: bool,
    /// Worst cache outcome, for `Cache-Status`.
    pub freshness: Freshness,
    /// Largest age served, in seconds.
    pub max_age_s: u64,
}

/// Picks providers by `provider=`; unknown names are a 400, names outside
/// the caller's allow-list a 403, and unnamed ones outside it are left out
/// entirely (not even `skipped`).
pub fn select(
    state: &Catalogue,
    caller: &crate::access::Caller,
    names: &[String],
) -> Result<Vec<(ProviderHandle, bool)>, Error> {
    for name in names {
        if state.provider(name).is_none() {
            return Err(Error::invalid_input(format!(
                "provider: no provider named '{name}' is configured"
            ))
            .with_code("unknown_provider"));
        }
        if !caller.may_see(name) {
            return Err(crate::access::provider_forbidden(name));
        }
    }
    Ok(state
        .visible_providers(caller)
        .map(|h| (h.clone(), names.is_empty() || names.contains(&h.name)))
        .collect())
}

/// Resolves the selected providers from the cache (or upstream) concurrently.
///
/// With `early`, a snapshot fetched for this answer gets the query's top
/// computed as soon as it lands, while slower providers are still fetching,
/// so the answer waits only for the last provider's share of the work.
pub async fn gather(
    state: &Catalogue,
    selection: &[(ProviderHandle, bool)],
    force: bool,
    early: Option<TopQuery<'_>>,
) -> Gathered {
    let resolutions = join_all(selection.iter().map(|(handle, selected)| async move {
        if !*selected {
            return None;
        }
        let resolved = state
            .cache()
            .resolve(&handle.provider, handle.deadline, force)
            .await;
        // Only new snapshots: a cached one may well have its page rendered.
        if let (Some(q), Some(snapshot)) = (early, &resolved.snapshot)
            && resolved.freshness == Freshness::Miss
        {
            state.rendered().top(snapshot, q).await;
        }
        Some(resolved)
    }))
    .await;
    assemble(selection, resolutions)
}

/// Fetches the selected providers directly with raw objects (`raw=true`),
/// bypassing the cache, so snapshots never carry raw upstream objects.
pub async fn gather_raw(state: &Catalogue, selection: &[(ProviderHandle, bool)]) -> Gathered {
    let resolutions = join_all(selection.iter().map(|(handle, selected)| async move {
        if !*selected {
            return None;
        }
        let opts = ListOptions {
            include_raw: true,
            ..Default::default()
        };
        let fetched = tokio::time::timeout(handle.deadline, handle.provider.list(&opts)).await;
        Some(match fetched {
            Ok(Ok(listing)) => Resolved {
                snapshot: Some(state.cache().new_snapshot(listing)),
                freshness: Freshness::Miss,
                error: None,
            },
            Ok(Err(e)) => Resolved {
                snapshot: None,
                freshness: Freshness::Miss,
                error: Some(Arc::new(e.or_provider(&handle.name))),
            },
            Err(_) => Resolved {
                snapshot: None,
                freshness: Freshness::Miss,
                error: Some(Arc::new(
                    Error::new(
                        ErrorKind::Timeout,
                        "no listing within the provider's deadline",
                    )
                    .with_provider(&handle.name)
                    .with_operation("list"),
                )),
            },
        })
    }))
    .await;
    assemble(selection, resolutions)
}

fn assemble(selection: &[(ProviderHandle, bool)], resolutions: Vec<Option<Resolved>>) -> Gathered {
    let mut gathered = Gathered {
        snapshots: Vec::new(),
        sources: Vec::new(),
        partial: false,
        freshness: Freshness::Hit,
        max_age_s: 0,
    };
    for ((handle, _), resolution) in selection.iter().zip(resolutions) {
        let Some(resolved) = resolution else {
            gathered.sources.push(Source {
                provider: handle.name.clone(),
                status: SourceStatus::Skipped,
                from_cache: None,
                fetched_at: None,
                age_s: None,
                count: None,
                incomplete: None,
                error: None,
            });
            continue;
        };
        let error = resolved.error.as_ref().map(|e| SourceError {
            code: e.code().to_owned(),
            message: e.to_string(),
        });
        gathered.partial |= error.is_some();
        gathered.freshness = worse(gathered.freshness, resolved.freshness);
        let Some(snap) = resolved.snapshot else {
            gathered.sources.push(Source {
                provider: handle.name.clone(),
                status: SourceStatus::Error,
                from_cache: None,
                fetched_at: None,
                age_s: None,
                count: None,
                incomplete: None,
                error,
            });
            continue;
        };
        let age = snap.age().as_secs();
        gathered.max_age_s = gathered.max_age_s.max(age);
        gathered.partial |= snap.incomplete.is_some();
        gathered.sources.push(Source {
            provider: handle.name.clone(),
            status: match resolved.freshness {
                Freshness::Stale => SourceStatus::Stale,
                _ => SourceStatus::Ok,
            },
            from_cache: Some(resolved.freshness != Freshness::Miss),
            fetched_at: Some(
                snap.fetched_at_utc
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            ),
            age_s: Some(age),
            count: Some(snap.items.len()),
            incomplete: snap.incomplete.clone(),
            error,
        });
        gathered.snapshots.push(snap);
    }
    gathered
}

fn worse(a: Freshness, b: Freshness) -> Freshness {
    let rank = |f| match f {
        Freshness::Hit => 0,
        Freshness::Stale => 1,
        Freshness::Miss => 2,
    };
    if rank(b) > rank(a) { b } else { a }
}

impl Gathered {
    /// Every row being served, across providers.
    pub fn items(&self) -> impl Iterator<Item = &Iso> {
        self.snapshots.iter().flat_map(|s| s.items.iter())
    }

    /// When every selected provider failed with nothing to serve: 504 if all
    /// timed out, else 502, naming the first failure.
    pub fn total_failure(&self) -> Option<Error> {
        let asked: Vec<&Source> = self
            .sources
            .iter()
            .filter(|s| s.status != SourceStatus::Skipped)
            .collect();
        if asked.is_empty() || asked.iter().any(|s| s.status != SourceStatus::Error) {
            return None;
        }
        let all_timeouts = asked.iter().all(|s| {
            s.error
                .as_ref()
                .is_some_and(|e| e.code == "upstream_timeout")
        });
        let names: Vec<&str> = asked.iter().map(|s| s.provider.as_str()).collect();
        let kind = if all_timeouts {
            ErrorKind::Timeout
        } else {
            ErrorKind::Upstream
        };
        let mut error = Error::new(
            kind,
            format!("every selected provider failed: {}", names.join(", ")),
        )
        .with_retryable(true);
        if let [only] = names.as_slice() {
            error = error.with_provider(*only);
        }
        Some(error.with_code(if all_timeouts {
            "all_providers_timed_out"
        } else {
            "all_providers_failed"
        }))
    }

    /// The versions of the snapshots served, for rendered-page keys.
    pub fn versions(&self, sources: &[Source]) -> Vec<(String, u64)> {
        sources
            .iter()
            .filter(|s| s.status == SourceStatus::Ok || s.status == SourceStatus::Stale)
            .map(|s| s.provider.clone())
            .zip(self.snapshots.iter().map(|s| s.version))
            .collect()
    }
}
