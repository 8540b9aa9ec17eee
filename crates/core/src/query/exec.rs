//! Answering a query over a set of items: select, count, order, page.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use super::cursor::CursorCodec;
use super::error::QueryError;
use super::parse::{Paging, Query};
use super::plan::Matcher;
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

/// An item in the bounded heap, ordered by the query's total order.
struct Ranked<'a, 's> {
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
    let matcher = Matcher::new(query)?;
    let sorter = Sorter::new(&query.sort);
    let after = match &query.paging {
        Paging::Cursor(token) => Some(codec.decode(token, query)?),
        Paging::First | Paging::Page(_) => None,
    };
    let per_page = query.per_page.max(1) as usize;
    let skip = match query.paging {
        Paging::Page(p) => (p.max(1) as usize - 1).saturating_mul(per_page),
        Paging::First | Paging::Cursor(_) => 0,
    };
    let keep = skip.saturating_add(per_page);

    let mut total = 0;
    let mut candidates = 0;
    let mut heap: BinaryHeap<Ranked<'a, '_>> = BinaryHeap::with_capacity(keep.min(4096) + 1);
    for item in items {
        if !matcher.matches(item) {
            continue;
        }
        total += 1;
        if let Some(pos) = &after
            && sorter.cmp_to(item, pos) != Ordering::Greater
        {
            continue;
        }
        candidates += 1;
        if heap.len() < keep {
            heap.push(Ranked {
                item,
                sorter: &sorter,
            });
        } else if let Some(mut top) = heap.peek_mut()
            && sorter.cmp(item, top.item) == Ordering::Less
        {
            top.item = item;
        }
    }
    let items: Vec<&'a Iso> = heap
        .into_sorted_vec()
        .into_iter()
        .skip(skip)
        .map(|r| r.item)
        .collect();
    let next_cursor = match items.last() {
        Some(last) if candidates > keep => Some(codec.encode(query, last)),
        _ => None,
    };
    Ok(PageResult {
        items,
        total,
        next_cursor,
        page: match query.paging {
            Paging::Page(p) => Some(p),
            Paging::First | Paging::Cursor(_) => None,
        },
    })
}
