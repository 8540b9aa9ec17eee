//! Testing items against a query's selection (filters, `q`, providers,
//! kinds) through its compiled [`Plan`], so testing an item allocates nothing.

use std::borrow::Cow;

use super::error::QueryError;
use super::parse::Query;
use super::plan::Plan;
use crate::Iso;

/// A query's selection, ready to test items.
#[derive(Debug)]
pub struct Matcher<'q> {
    plan: Cow<'q, Plan>,
    query: &'q Query,
}

impl<'q> Matcher<'q> {
    /// The matcher of `query` (re-typing its filters if they were changed by
    /// hand since parsing).
    pub fn new(query: &'q Query) -> Result<Matcher<'q>, QueryError> {
        let plan = if query.plan.is_for(&query.filters, query.q.as_deref()) {
            Cow::Borrowed(&query.plan)
        } else {
            Cow::Owned(Plan::build(&query.filters, query.q.as_deref())?)
        };
        Ok(Matcher { plan, query })
    }

    /// Whether `item` passes every part of the selection.
    #[inline]
    pub fn matches(&self, item: &Iso) -> bool {
        let q = self.query;
        (q.providers.is_empty() || q.providers.iter().any(|p| item.provider == *p))
            && (q.kinds.is_empty() || q.kinds.contains(&item.kind))
            && self.plan.filters.iter().all(|f| f.matches(item))
            && self.plan.q.as_ref().is_none_or(|(_, n)| {
                n.found_in(&item.name) || item.description.as_deref().is_some_and(|d| n.found_in(d))
            })
    }
}

impl Query {
    /// Whether `item` passes the filters, `q`, `provider` and `kind` (all
    /// AND-ed). A hand-built query whose filters do not type-check matches
    /// nothing; use [`Matcher::new`] to see the error.
    pub fn matches(&self, item: &Iso) -> bool {
        Matcher::new(self).is_ok_and(|m| m.matches(item))
    }
}
