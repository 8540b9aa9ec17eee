//! Walking a paged VSS catalogue: the first page says how many pages there
//! are, the rest are fetched concurrently (bounded), so N pages take about
//! two round trips.
//!
//! Never silently truncated: a failed page fails the walk, naming the page,
//! or (with `allow_incomplete`) the walk returns what it has and says why.
//! A catalogue that changes mid-walk (a page reports another total or page
//! count, the item count is off, or an id repeats, as offset paging does
//! when items are inserted or removed) is walked once more from the start;
//! a second inconsistent walk is an `Upstream` error (retryable).

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use isogate_core::{Error, Iso, Result};
use serde_json::value::RawValue;
use tokio::task::JoinSet;

use crate::client::Client;
use crate::convert::{self, Source};
use crate::model::Pages;

/// How to walk; owned, so each page can be fetched and converted on its own
/// task (in parallel on a multi-threaded runtime).
#[derive(Clone, Debug)]
pub(crate) struct WalkSpec {
    pub resource: &'static str,
    pub source: Source,
    pub provider: Arc<str>,
    pub include_raw: bool,
    pub per_page: u32,
    pub concurrency: usize,
    pub filter: Option<Arc<str>>,
    pub sort: Option<Arc<str>>,
    pub allow_incomplete: bool,
}

/// The items of a walk, in upstream order.
#[derive(Debug)]
pub(crate) struct Walk {
    pub items: Vec<Iso>,
    pub incomplete: Option<String>,
}

/// Re-labels a page's error with the page, keeping kind and flags.
fn on_page(e: Error, resource: &str, page: u64, pages: Option<u64>) -> Error {
    let of = pages.map(|n| format!(" of {n}")).unwrap_or_default();
    let mut out = Error::new(
        e.kind(),
        format!("{resource} page {page}{of}: {}", e.message()),
    )
    .with_retryable(e.retryable());
    if let Some(s) = e.upstream_status() {
        out = out.with_status(s);
    }
    if let Some(r) = e.retry_after() {
        out = out.with_retry_after(r);
    }
    out
}

enum Outcome {
    Done(Walk),
    Changed(String, Vec<Iso>),
}

pub(crate) async fn walk(client: &Arc<Client>, spec: &WalkSpec) -> Result<Walk> {
    let mut last = None;
    for _ in 0..2 {
        match walk_once(client, spec).await? {
            Outcome::Done(w) => return Ok(w),
            Outcome::Changed(reason, items) => {
                tracing::debug!(resource = spec.resource, %reason, "catalogue changed while paging");
                last = Some((reason, items));
            }
        }
    }
    let (reason, items) = last.unwrap_or_default();
    let reason = format!(
        "{}: the catalogue changed during two walks in a row ({reason})",
        spec.resource
    );
    if spec.allow_incomplete {
        return Ok(Walk {
            items,
            incomplete: Some(reason),
        });
    }
    Err(Error::upstream(reason).with_retryable(true))
}

type PageResult = (u64, Result<(Pages, Vec<Iso>)>);

async fn fetch_page(client: Arc<Client>, spec: WalkSpec, n: u64) -> PageResult {
    let answer = client
        .list_page(
            spec.resource,
            n,
            spec.per_page,
            spec.filter.as_deref(),
            spec.sort.as_deref(),
        )
        .await;
    (
        n,
        answer.and_then(|p| Ok((p.meta.pages, convert_page(&spec, &p.data)?))),
    )
}

fn convert_page(spec: &WalkSpec, data: &[Box<RawValue>]) -> Result<Vec<Iso>> {
    data.iter()
        .map(|raw| convert::iso(&spec.provider, spec.source, raw, spec.include_raw))
        .collect()
}

async fn walk_once(client: &Arc<Client>, spec: &WalkSpec) -> Result<Outcome> {
    let first = client
        .list_page(
            spec.resource,
            1,
            spec.per_page,
            spec.filter.as_deref(),
            spec.sort.as_deref(),
        )
        .await
        .map_err(|e| on_page(e, spec.resource, 1, None))?;
    let shape = first.meta.pages;
    let pages = shape.pages.max(1);
    // Pages 2.. on their own tasks, at most `concurrency` at once; dropping
    // the walk (a cancelled listing) aborts them with the JoinSet.
    let mut in_flight = JoinSet::new();
    let mut next = 2;
    let launch = |set: &mut JoinSet<PageResult>, next: &mut u64| {
        while *next <= pages && set.len() < spec.concurrency.max(1) {
            set.spawn(fetch_page(client.clone(), spec.clone(), *next));
            *next += 1;
        }
    };
    launch(&mut in_flight, &mut next);
    // Page 1 is converted while the others are in flight.
    let mut by_page = BTreeMap::new();
    let mut failures: Vec<(u64, Error)> = Vec::new();
    match convert_page(spec, &first.data) {
        Ok(items) => {
            by_page.insert(1, items);
        }
        Err(e) => failures.push((1, e)),
    }
    let mut changed: Option<String> = None;
    while let Some(joined) = in_flight.join_next().await {
        let (n, answer) = joined.map_err(|e| {
            Error::upstream(format!("a page task of {} failed: {e}", spec.resource))
        })?;
        launch(&mut in_flight, &mut next);
        match answer {
            Ok((seen, items)) => {
                if !same_shape(&seen, &shape) && changed.is_none() {
                    changed = Some(format!(
                        "page 1 said {} items in {} pages, page {n} said {} in {}",
                        shape.total, shape.pages, seen.total, seen.pages
                    ));
                }
                by_page.insert(n, items);
            }
            Err(e) => failures.push((n, e)),
        }
    }
    let items: Vec<Iso> = by_page.into_values().flatten().collect();
    if !failures.is_empty() {
        failures.sort_by_key(|(n, _)| *n);
        let failed = failures.len();
        let (n, e) = failures.swap_remove(0);
        let e = on_page(e, spec.resource, n, Some(pages));
        if spec.allow_incomplete {
            return Ok(Outcome::Done(Walk {
                items,
                incomplete: Some(format!(
                    "{failed} of {pages} pages failed; first: {}",
                    e.message()
                )),
            }));
        }
        return Err(e);
    }
    if let Some(reason) = changed {
        return Ok(Outcome::Changed(reason, items));
    }
    if items.len() as u64 != shape.total {
        return Ok(Outcome::Changed(
            format!("{} items listed, {} announced", items.len(), shape.total),
            items,
        ));
    }
    let mut seen = HashSet::new();
    if let Some(dup) = items
        .iter()
        .map(|i| i.native_id.as_str())
        .find(|id| !seen.insert(*id))
    {
        return Ok(Outcome::Changed(
            format!("id {dup} was listed twice"),
            items,
        ));
    }
    Ok(Outcome::Done(Walk {
        items,
        incomplete: None,
    }))
}

fn same_shape(a: &Pages, b: &Pages) -> bool {
    a.total == b.total && a.pages == b.pages && a.per_page == b.per_page
}
