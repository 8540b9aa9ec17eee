//! Local evaluation of filters, to judge what a provider pushed down
//! (list#5): the core query engine's [`CompiledFilter`], so "the same answer
//! as applying them locally" means the same answer the gateway computes.

use isogate_core::Iso;
use isogate_core::query::{CompiledFilter, Filter};

/// Filters compiled for local evaluation; `None` if one does not type-check
/// (the suite then skips that probe).
pub(crate) fn compile(filters: &[&Filter]) -> Option<Vec<CompiledFilter>> {
    filters
        .iter()
        .map(|f| CompiledFilter::new((*f).clone()).ok())
        .collect()
}

/// Whether `item` passes every filter.
pub(crate) fn matches_all(item: &Iso, filters: &[CompiledFilter]) -> bool {
    filters.iter().all(|f| f.matches(item))
}

#[cfg(test)]
mod tests {
    use super::*;
    use isogate_core::query::{Field, Op};
    use isogate_core::{ItemKind, ProviderKind};

    #[test]
    fn compiled_filters_follow_the_gateway_semantics() {
        let mut iso = Iso::new("p", ProviderKind::Vss, ItemKind::Iso, "1", "Alpine");
        iso.labels.insert("k".into(), "v".into());
        let f = |field, op, raw: &str| Filter {
            field,
            op,
            raw: raw.to_owned(),
        };
        let pass = |filter: Filter| matches_all(&iso, &compile(&[&filter]).unwrap());
        assert!(pass(f(Field::Name, Op::Like, "al%")));
        assert!(pass(f(Field::Name, Op::Eq, "Alpine")));
        assert!(!pass(f(Field::Name, Op::Eq, "alpine")));
        assert!(pass(f(Field::Name, Op::In, "x|Alpine")));
        assert!(pass(f(Field::Label("k".into()), Op::Eq, "v")));
        assert!(!pass(f(Field::Label("z".into()), Op::Eq, "v")));
        assert!(pass(f(Field::Label("z".into()), Op::Ne, "v")));
        assert!(compile(&[&f(Field::SizeBytes, Op::Gt, "big")]).is_none());
    }
}
