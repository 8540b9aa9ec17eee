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

use futures::StreamExt;
use isogate_core::{Error, Result};
use serde_json::Value;

use crate::client::Client;
use crate::model::{Pages, id_text};

/// How to walk.
#[derive(Clone, Copy, Debug)]
pub(crate) struct WalkSpec<'a> {
    pub resource: &'a str,
    pub per_page: u32,
    pub concurrency: usize,
    pub filter: Option<&'a str>,
    pub sort: Option<&'a str>,
    pub allow_incomplete: bool,
}

/// The items of a walk, in upstream order.
#[derive(Debug)]
pub(crate) struct Walk {
    pub items: Vec<Value>,
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
    Changed(String, Vec<Value>),
}

pub(crate) async fn walk(client: &Client, spec: WalkSpec<'_>) -> Result<Walk> {
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

async fn walk_once(client: &Client, spec: WalkSpec<'_>) -> Result<Outcome> {
    let page = |n: u64| client.list_page(spec.resource, n, spec.per_page, spec.filter, spec.sort);
    let first = page(1)
        .await
        .map_err(|e| on_page(e, spec.resource, 1, None))?;
    let shape = first.meta.pages;
    let pages = shape.pages.max(1);
    let mut by_page = BTreeMap::from([(1u64, first.data)]);
    let mut changed: Option<String> = None;
    let mut failures: Vec<(u64, Error)> = Vec::new();
    let mut rest = futures::stream::iter(2..=pages)
        .map(|n| async move { (n, page(n).await) })
        .buffer_unordered(spec.concurrency.max(1));
    while let Some((n, answer)) = rest.next().await {
        match answer {
            Ok(p) => {
                if !same_shape(&p.meta.pages, &shape) && changed.is_none() {
                    changed = Some(format!(
                        "page 1 said {} items in {} pages, page {n} said {} in {}",
                        shape.total, shape.pages, p.meta.pages.total, p.meta.pages.pages
                    ));
                }
                by_page.insert(n, p.data);
            }
            Err(e) => failures.push((n, e)),
        }
    }
    let items: Vec<Value> = by_page.into_values().flatten().collect();
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
        .filter_map(|v| v.get("id").and_then(id_text))
        .find(|id| !seen.insert(id.clone()))
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
