//! A small local evaluator for the filters the suite builds itself (string
//! fields, `eq ne like in`), to judge what a provider pushed down (list#5).
//! Kept here rather than using the gateway's evaluator so that the suite
//! judges adapters independently of it.

use isogate_core::Iso;
use isogate_core::query::{Field, Filter, Op};

/// Whether `item` satisfies `filter`; `None` for fields or operators this
/// evaluator does not know (the suite never builds those).
pub(crate) fn matches(item: &Iso, filter: &Filter) -> Option<bool> {
    let value: Option<String> = match &filter.field {
        Field::Id => Some(item.id.clone()),
        Field::Provider => Some(item.provider.clone()),
        Field::NativeId => Some(item.native_id.clone()),
        Field::Name => Some(item.name.clone()),
        Field::Description => item.description.clone(),
        Field::Owner => item.owner.clone(),
        Field::Status => Some(item.status.as_str().to_owned()),
        Field::Kind => Some(item.kind.as_str().to_owned()),
        Field::Label(key) => item.labels.get(key).cloned(),
        _ => return None,
    };
    Some(match filter.op {
        Op::Eq => value.as_deref() == Some(filter.raw.as_str()),
        Op::Ne => value.as_deref() != Some(filter.raw.as_str()),
        Op::Like => value.is_some_and(|v| like(&filter.raw, &v)),
        Op::In => value.is_some_and(|v| filter.raw.split('|').any(|x| x == v)),
        _ => return None,
    })
}

/// Whether `item` satisfies every filter; `None` when one cannot be judged.
pub(crate) fn matches_all(item: &Iso, filters: &[&Filter]) -> Option<bool> {
    let mut all = true;
    for f in filters {
        all &= matches(item, f)?;
    }
    Some(all)
}

/// `like`: `%` any run, `_` one character, case-insensitive.
pub(crate) fn like(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().flat_map(char::to_lowercase).collect();
    let t: Vec<char> = text.chars().flat_map(char::to_lowercase).collect();
    // Classic two-pointer wildcard match with backtracking to the last `%`.
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '_' || (p[pi] != '%' && p[pi] == t[ti])) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '%' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '%')
}

#[cfg(test)]
mod tests {
    use super::*;
    use isogate_core::{ItemKind, ProviderKind};

    #[test]
    fn like_handles_wildcards_and_case() {
        assert!(like("ub%", "Ubuntu 22.04"));
        assert!(like("%22%", "Ubuntu 22.04"));
        assert!(like("u_untu%", "ubuntu"));
        assert!(!like("u_untu", "ubuntu-x"));
        assert!(like("%", ""));
        assert!(!like("a%b", "acbd"));
        assert!(like("a%b%", "acbd"));
    }

    #[test]
    fn filters_judge_names_and_labels() {
        let mut iso = Iso::new("p", ProviderKind::Vss, ItemKind::Iso, "1", "Alpine");
        iso.labels.insert("k".into(), "v".into());
        let f = |field, op, raw: &str| Filter {
            field,
            op,
            raw: raw.to_owned(),
        };
        assert_eq!(matches(&iso, &f(Field::Name, Op::Eq, "Alpine")), Some(true));
        assert_eq!(
            matches(&iso, &f(Field::Name, Op::Eq, "alpine")),
            Some(false)
        );
        assert_eq!(
            matches(&iso, &f(Field::Name, Op::In, "x|Alpine")),
            Some(true)
        );
        assert_eq!(
            matches(&iso, &f(Field::Name, Op::Ne, "Alpine")),
            Some(false)
        );
        assert_eq!(
            matches(&iso, &f(Field::Label("k".into()), Op::Eq, "v")),
            Some(true)
        );
        assert_eq!(
            matches(&iso, &f(Field::Label("z".into()), Op::Eq, "v")),
            Some(false)
        );
        assert_eq!(matches(&iso, &f(Field::SizeBytes, Op::Gt, "1")), None);
    }
}
