//! Answering a query over a set of items: select, count, order, page.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use super::cursor::CursorCodec;
use super::error::QueryError;
use super::matcher::Matcher;
use super::parse::{Paging, Query};
use super::sort::Sorter;
use crate::Iso;

/// One page of a query's answer.
#[derive(Clone, Debug, PartialEq)]
pub struct PageResult<'a> {
    /// The page's items, in order.
    pub items: Vec<&'a Iso>,
    /// How many items match in all (before paging, cursor or not).
    pub total: usize,
    /// The cursor of the page after this one; `None` on the last page.
    /// Given for offset paging too, so a client can switch to cursors.
    pub next_cursor: Option<String>,
    /// The page number, for offset paging (`page=`); `None` otherwise.
    pub page: Option<u32>,
}

/// One part of the items' contribution to a page (say, one provider's
/// snapshot): its best `offset + per_page` items in the query's order, as
/// positions in that part, and its counts. Computed by [`top_of`] as each
/// part becomes available, combined by [`merge`], so a federated answer
/// waits only for its last part's scan, not a scan of everything.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PartTop {
    /// Positions in the part's items, best first (u32: half the memory
    /// of usize for a cache of these; no snapshot holds 4G items).
    positions: Vec<u32>,
    /// Matching items in the part.
    total: usize,
    /// Matching items after the cursor's position.
    candidates: usize,
}

/// An item in the bounded heap, ordered by the query's total order.
struct Ranked<'a, 's> {
    pos: usize,
    item: &'a Iso,
    sorter: &'s Sorter<'s>,
}

impl PartialEq for Ranked<'_, '_> {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Ranked<'_, '_> {}
impl PartialOrd for Ranked<'_, '_> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Ranked<'_, '_> {
    fn cmp(&self, other: &Self) -> Ordering {
        self.sorter.cmp(self.item, other.item)
    }
}

/// How many items a page needs in order: the skipped ones and the page.
fn window(query: &Query) -> (usize, usize) {
    let per_page = query.per_page.max(1) as usize;
    let skip = match query.paging {
        Paging::Page(p) => (p.max(1) as usize - 1).saturating_mul(per_page),
        Paging::First | Paging::Cursor(_) => 0,
    };
    (skip, skip.saturating_add(per_page))
}

/// What one pass gives: the best items (with their positions) best first,
/// the matching count, and the count after the cursor.
struct Scanned<'a> {
    best: Vec<(usize, &'a Iso)>,
    total: usize,
    candidates: usize,
}

/// One pass: the matching items counted, the best `keep` after the cursor
/// kept in a bounded heap (no full sort, no clones), returned best first.
fn scan<'a>(
    query: &Query,
    items: impl Iterator<Item = (usize, &'a Iso)>,
    codec: &CursorCodec,
) -> Result<Scanned<'a>, QueryError> {
    let matcher = Matcher::new(query)?;
    let sorter = Sorter::new(&query.sort);
    let after = match &query.paging {
        Paging::Cursor(token) => Some(codec.decode(token, query)?),
        Paging::First | Paging::Page(_) => None,
    };
    let (_, keep) = window(query);
    let mut total = 0;
    let mut candidates = 0;
    let mut heap: BinaryHeap<Ranked<'a, '_>> = BinaryHeap::with_capacity(keep.min(4096) + 1);
    for (pos, item) in items {
        if !matcher.matches(item) {
            continue;
        }
        total += 1;
        if let Some(after) = &after
            && sorter.cmp_to(item, after) != Ordering::Greater
        {
            continue;
        }
        candidates += 1;
        if heap.len() < keep {
            heap.push(Ranked {
                pos,
                item,
                sorter: &sorter,
            });
        } else if let Some(mut top) = heap.peek_mut()
            && sorter.cmp(item, top.item) == Ordering::Less
        {
            top.pos = pos;
            top.item = item;
        }
    }
    let best = heap
        .into_sorted_vec()
        .into_iter()
        .map(|r| (r.pos, r.item))
        .collect();
    Ok(Scanned {
        best,
        total,
        candidates,
    })
}

/// The page from the best `keep` items in order and the counts.
fn page<'a>(
    query: &Query,
    best: impl Iterator<Item = &'a Iso>,
    total: usize,
    candidates: usize,
    codec: &CursorCodec,
) -> PageResult<'a> {
    let (skip, keep) = window(query);
    let items: Vec<&'a Iso> = best.take(keep).skip(skip).collect();
    let next_cursor = match items.last() {
        Some(last) if candidates > keep => Some(codec.encode(query, last)),
        _ => None,
    };
    PageResult {
        items,
        total,
        next_cursor,
        page: match query.paging {
            Paging::Page(p) => Some(p),
            Paging::First | Paging::Cursor(_) => None,
        },
    }
}

/// Answers `query` over `items`: the matching items, counted, in the query's
/// total order, cut to the page the query asks for.
///
/// Only the first `offset + per_page` items in order are kept (a bounded
/// heap), so the first page costs one pass over the items and no full sort;
/// items are never cloned. A cursor that does not verify for this query is a
/// [`QueryError`] on `cursor`.
pub fn execute<'a>(
    query: &Query,
    items: impl IntoIterator<Item = &'a Iso>,
    codec: &CursorCodec,
) -> Result<PageResult<'a>, QueryError> {
    let Scanned {
        best,
        total,
        candidates,
    } = scan(query, items.into_iter().enumerate(), codec)?;
    Ok(page(
        query,
        best.into_iter().map(|(_, item)| item),
        total,
        candidates,
        codec,
    ))
}

/// The part of [`execute`]'s work that one part of the items needs: what
/// [`merge`] combines into the page `execute` would give over all parts.
pub fn top_of(query: &Query, items: &[Iso], codec: &CursorCodec) -> Result<PartTop, QueryError> {
    // Items past u32::MAX could not be named by a position: never kept.
    let items = items.iter().take(u32::MAX as usize).enumerate();
    let Scanned {
        best,
        total,
        candidates,
    } = scan(query, items, codec)?;
    Ok(PartTop {
        positions: best.into_iter().map(|(pos, _)| pos as u32).collect(),
        total,
        candidates,
    })
}

impl PartTop {
    /// How many items it keeps.
    pub fn len(&self) -> usize {
        self.positions.len()
    }

    /// Whether it keeps none.
    pub fn is_empty(&self) -> bool {
        self.positions.is_empty()
    }
}

/// The page over several parts from each part's items and [`top_of`]: the
/// same answer as [`execute`] over all the items (the order is total, so the
/// parts' order does not matter). Costs O(k log k) in the kept items.
///
/// # Panics
/// Never: a position outside its part's items (a `PartTop` from other items)
/// is skipped.
pub fn merge<'a>(
    query: &Query,
    parts: impl IntoIterator<Item = (&'a [Iso], &'a PartTop)>,
    codec: &CursorCodec,
) -> PageResult<'a> {
    let sorter = Sorter::new(&query.sort);
    let (mut total, mut candidates) = (0, 0);
    let mut best: Vec<&'a Iso> = Vec::new();
    for (items, top) in parts {
        total += top.total;
        candidates += top.candidates;
        best.extend(top.positions.iter().filter_map(|&p| items.get(p as usize)));
    }
    best.sort_unstable_by(|a, b| sorter.cmp(a, b));
    page(query, best.into_iter(), total, candidates, codec)
}
