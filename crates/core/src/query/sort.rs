//! The total order of a listing: the query's sort keys in turn, then `id`
//! ascending as the final tiebreak (ids are unique, so no two items tie).
//!
//! - Text and enum names compare by **byte order** of the exact string (the
//!   same order `lt`/`gt` filters and cursors use).
//! - A missing value sorts **last in both directions**.
//! - `zones.id`/`zones.name` sort by the item's smallest zone value.

use std::cmp::Ordering;

use super::ast::{Direction, SortKey};
use super::parse::Query;
use super::value::{Scalar, Val, value_of};
use crate::Iso;

/// A place in the total order: the sort-key values and id of an item (what a
/// cursor holds).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Position {
    /// One value per sort key, in order.
    pub keys: Vec<Scalar>,
    /// The item's id.
    pub id: String,
}

impl Position {
    /// The position of `item` under `sort`.
    pub fn of(item: &Iso, sort: &[SortKey]) -> Position {
        Position {
            keys: sort
                .iter()
                .map(|k| Scalar::from_val(value_of(item, &k.field)))
                .collect(),
            id: item.id.clone(),
        }
    }
}

/// Compares items (and items with positions) in a query's total order.
#[derive(Clone, Copy, Debug)]
pub struct Sorter<'q> {
    keys: &'q [SortKey],
}

impl<'q> Sorter<'q> {
    /// The order given by `keys`, then id.
    pub fn new(keys: &'q [SortKey]) -> Self {
        Sorter { keys }
    }

    /// The order of two items.
    #[inline]
    pub fn cmp(&self, a: &Iso, b: &Iso) -> Ordering {
        for k in self.keys {
            let o = cmp_key(value_of(a, &k.field), value_of(b, &k.field), k.direction);
            if o != Ordering::Equal {
                return o;
            }
        }
        a.id.cmp(&b.id)
    }

    /// The order of an item relative to a position (`Greater`: the item comes
    /// after it). A position with the wrong number of keys compares its
    /// missing keys as `Null`.
    #[inline]
    pub fn cmp_to(&self, item: &Iso, pos: &Position) -> Ordering {
        for (i, k) in self.keys.iter().enumerate() {
            let at = pos.keys.get(i).map_or(Val::Null, Scalar::as_val);
            let o = cmp_key(value_of(item, &k.field), at, k.direction);
            if o != Ordering::Equal {
                return o;
            }
        }
        item.id.as_str().cmp(pos.id.as_str())
    }
}

/// One key's order: `Null` last whatever the direction.
#[inline]
fn cmp_key(a: Val<'_>, b: Val<'_>, dir: Direction) -> Ordering {
    match (a, b) {
        (Val::Null, Val::Null) => Ordering::Equal,
        (Val::Null, _) => Ordering::Greater,
        (_, Val::Null) => Ordering::Less,
        _ => {
            let o = a.cmp_present(&b).unwrap_or(Ordering::Equal);
            match dir {
                Direction::Asc => o,
                Direction::Desc => o.reverse(),
            }
        }
    }
}

impl Query {
    /// The order of two items in this query's total order.
    pub fn cmp(&self, a: &Iso, b: &Iso) -> Ordering {
        Sorter::new(&self.sort).cmp(a, b)
    }

    /// Sorts `items` in this query's total order.
    pub fn sort_items(&self, items: &mut [&Iso]) {
        let s = Sorter::new(&self.sort);
        items.sort_unstable_by(|a, b| s.cmp(a, b));
    }
}
