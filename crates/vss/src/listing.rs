//! Walking a paged VSS catalogue: the first page says how many pages there
//! are, the rest are fetched concurrently (bounded), so N pages take about
//! two round trips. Their URLs are built in the form of page 1's
//! `meta.pages.next_url` (same host and parameters, only `page` changed),
//! since VSS's own clients follow that link as given; an upstream that
//! answers a built URL with another page, another `per_page`, or a 400/404
//! is walked instead by following `next_url` page by page.
//!
//! Never silently truncated: a failed page fails the walk, naming the page,
//! or (with `allow_incomplete`) the walk returns what it has and says why.
//! A catalogue that changes mid-walk (a page reports another total or page
//! count, the item count is off, or an id repeats, as offset paging does
//! when items are inserted or removed) is walked once more from the start;
//! a second inconsistent walk is an `Upstream` error (retryable).

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use isogate_core::{Error, ErrorKind, Iso, Result};
use serde_json::value::RawValue;
use tokio::task::JoinSet;
use url::Url;

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

/// Page `n` in the form of `next_url` (pyvss and vss-cli follow `next_url`
/// as given): the same URL, host and parameters, `page` set to `n`.
fn page_url(template: &Url, n: u64) -> Url {
    let pairs: Vec<(String, String)> = template
        .query_pairs()
        .filter(|(k, _)| k != "page")
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let mut url = template.clone();
    {
        let mut q = url.query_pairs_mut();
        q.clear();
        for (k, v) in &pairs {
            q.append_pair(k, v);
        }
        q.append_pair("page", &n.to_string());
    }
    url
}

/// Page `n` of the walk: a URL in `next_url`'s form when page 1 gave one,
/// else the configured origin's.
async fn fetch_page(
    client: Arc<Client>,
    spec: WalkSpec,
    template: Option<Url>,
    n: u64,
) -> PageResult {
    let answer = match &template {
        Some(t) => client.list_url(&page_url(t, n)).await,
        None => {
            client
                .list_page(
                    spec.resource,
                    n,
                    spec.per_page,
                    spec.filter.as_deref(),
                    spec.sort.as_deref(),
                )
                .await
        }
    };
    (
        n,
        answer.and_then(|p| Ok((p.meta.pages, convert_page(&spec, &p.data)?))),
    )
}

fn convert_page(spec: &WalkSpec, data: &[Box<RawValue>]) -> Result<Vec<Iso>> {
    convert_items(&spec.provider, spec.source, data, spec.include_raw)
}

/// A page's items, converted (the listing's and the decode bench's one path).
pub(crate) fn convert_items(
    provider: &str,
    source: Source,
    data: &[Box<RawValue>],
    include_raw: bool,
) -> Result<Vec<Iso>> {
    data.iter()
        .map(|raw| convert::iso(provider, source, raw, include_raw))
        .collect()
}

/// Whether an error on a page URL built here says the URL itself was not
/// understood (so following `next_url` may do better), rather than that the
/// upstream is failing, throttling or refusing the account.
fn url_refused(e: &Error) -> bool {
    matches!(e.kind(), ErrorKind::InvalidInput | ErrorKind::NotFound)
}

/// The pages after the first: items by page, failed pages, and why the
/// catalogue seems to have changed mid-walk.
struct Got {
    by_page: BTreeMap<u64, Vec<Iso>>,
    failures: Vec<(u64, Error)>,
    changed: Option<String>,
}

/// What the concurrent walk of the pages after the first gave.
enum Rest {
    Pages(Got),
    /// A built page URL was answered unexpectedly: walk `next_url` instead.
    FollowLinks(String),
}

async fn concurrent_rest(
    client: &Arc<Client>,
    spec: &WalkSpec,
    shape: &Pages,
    template: Option<Url>,
) -> Result<Rest> {
    let pages = shape.pages.max(1);
    // Pages 2.. on their own tasks, at most `concurrency` at once; dropping
    // the walk (a cancelled listing) aborts them with the JoinSet.
    let mut in_flight = JoinSet::new();
    let mut next = 2;
    let launch = |set: &mut JoinSet<PageResult>, next: &mut u64| {
        while *next <= pages && set.len() < spec.concurrency.max(1) {
            set.spawn(fetch_page(
                client.clone(),
                spec.clone(),
                template.clone(),
                *next,
            ));
            *next += 1;
        }
    };
    launch(&mut in_flight, &mut next);
    let mut by_page = BTreeMap::new();
    let mut failures: Vec<(u64, Error)> = Vec::new();
    let mut changed: Option<String> = None;
    while let Some(joined) = in_flight.join_next().await {
        let (n, answer) = joined.map_err(|e| {
            Error::upstream(format!("a page task of {} failed: {e}", spec.resource))
        })?;
        match answer {
            Ok((seen, _))
                if template.is_some() && (seen.page != n || seen.per_page != shape.per_page) =>
            {
                return Ok(Rest::FollowLinks(format!(
                    "page {n} built from next_url was answered as page {} of {} per page",
                    seen.page, seen.per_page
                )));
            }
            Err(e) if template.is_some() && url_refused(&e) => {
                return Ok(Rest::FollowLinks(format!(
                    "page {n} built from next_url was refused: {}",
                    e.message()
                )));
            }
            Ok((seen, items)) => {
                if !same_shape(&seen, shape) && changed.is_none() {
                    changed = Some(format!(
                        "page 1 said {} items in {} pages, page {n} said {} in {}",
                        shape.total, shape.pages, seen.total, seen.pages
                    ));
                }
                by_page.insert(n, items);
            }
            Err(e) => failures.push((n, e)),
        }
        launch(&mut in_flight, &mut next);
    }
    Ok(Rest::Pages(Got {
        by_page,
        failures,
        changed,
    }))
}

/// Pages 2.. by following each answer's `next_url`, one at a time, as VSS's
/// own clients do.
async fn serial_rest(client: &Arc<Client>, spec: &WalkSpec, shape: &Pages) -> Got {
    let mut by_page = BTreeMap::new();
    let mut changed = None;
    let mut link = shape.next_url.clone();
    let mut n = 1;
    // A loop of links must end: at most the announced pages, and a few more.
    let limit = shape.pages.saturating_add(2);
    while let Some(next) = link.take() {
        n += 1;
        let url = match Url::parse(&next) {
            Ok(u) if client.may_follow(&u) => u,
            _ => {
                let e = Error::upstream("VSS gave a next_url that cannot be followed")
                    .with_retryable(false);
                return Got {
                    by_page,
                    failures: vec![(n, e)],
                    changed,
                };
            }
        };
        if n > limit {
            let e = Error::upstream(format!(
                "next_url went on past the {} pages announced",
                shape.pages
            ));
            return Got {
                by_page,
                failures: vec![(n, e)],
                changed,
            };
        }
        let answer = match client.list_url(&url).await {
            Ok(p) => p,
            Err(e) => {
                return Got {
                    by_page,
                    failures: vec![(n, e)],
                    changed,
                };
            }
        };
        let seen = answer.meta.pages;
        if !same_shape(&seen, shape) && changed.is_none() {
            changed = Some(format!(
                "page 1 said {} items in {} pages, page {n} said {} in {}",
                shape.total, shape.pages, seen.total, seen.pages
            ));
        }
        match convert_page(spec, &answer.data) {
            Ok(items) => {
                by_page.insert(n, items);
            }
            Err(e) => {
                return Got {
                    by_page,
                    failures: vec![(n, e)],
                    changed,
                };
            }
        }
        link = seen.next_url;
    }
    Got {
        by_page,
        failures: Vec::new(),
        changed,
    }
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
    let shape = first.meta.pages.clone();
    let pages = shape.pages.max(1);
    let template = shape
        .next_url
        .as_deref()
        .and_then(|u| Url::parse(u).ok())
        .filter(|u| client.may_follow(u));
    // Page 1 is converted while the others are in flight.
    let (rest, first_items) =
        tokio::join!(concurrent_rest(client, spec, &shape, template), async {
            convert_page(spec, &first.data)
        });
    let Got {
        mut by_page,
        mut failures,
        changed,
    } = match rest? {
        Rest::FollowLinks(why) => {
            tracing::debug!(resource = spec.resource, %why, "following next_url page by page");
            serial_rest(client, spec, &shape).await
        }
        Rest::Pages(got) => got,
    };
    match first_items {
        Ok(items) => {
            by_page.insert(1, items);
        }
        Err(e) => failures.push((1, e)),
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
