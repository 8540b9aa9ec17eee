//! The evaluable form of a query's filters and `q`, compiled once per query
//! (a step after parsing: it knows nothing of [`super::Query`]).

use super::ast::Filter;
use super::error::QueryError;
use super::filter::CompiledFilter;
use super::text::Needle;

/// Compiled filters and `q`, remembering what they were compiled from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Plan {
    /// The filters as given (`filters` is reordered by cost).
    source: Vec<Filter>,
    pub(super) filters: Vec<CompiledFilter>,
    pub(super) q: Option<(String, Needle)>,
}

impl Plan {
    pub(crate) fn build(filters: &[Filter], q: Option<&str>) -> Result<Plan, QueryError> {
        let mut compiled: Vec<CompiledFilter> = filters
            .iter()
            .map(|f| CompiledFilter::new(f.clone()))
            .collect::<Result<_, _>>()?;
        // AND commutes: test the cheap filters first so most items are
        // rejected before any text is read.
        compiled.sort_by_key(CompiledFilter::cost);
        Ok(Plan {
            source: filters.to_vec(),
            filters: compiled,
            q: q.map(|q| (q.to_owned(), Needle::new(q))),
        })
    }

    /// Whether this plan was compiled from exactly these filters and `q`.
    pub(super) fn is_for(&self, filters: &[Filter], q: Option<&str>) -> bool {
        self.filters.len() == filters.len()
            && self
                .filters
                .iter()
                .zip(filters)
                .all(|(c, f)| c.filter() == f)
            && self.q.as_ref().map(|(s, _)| s.as_str()) == q
    }
}
