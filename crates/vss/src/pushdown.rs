//! Which parts of a query VSS can apply itself, with provably the same
//! answer as the local evaluator (`isogate_core::query`).
//!
//! Pushed filters (anything else is left to the caller):
//! - `name`, `labels.path`, `labels.data_store` with `eq` and `in`: exact,
//!   case-sensitive equality on both sides. Values must be non-empty, free
//!   of `,` and `;` (VSS separators), control characters and surrounding
//!   blanks. Not `like` (VSS's is SQL `LIKE`, case-sensitive; ours is
//!   case-insensitive), not `ne` (SQL drops NULLs, we keep missing values),
//!   not `lt/le/gt/ge` on text (the upstream's collation is unknown).
//! - Never `created_at`/`updated_at`: VSS compares `created_on`/`updated_on`
//!   on its own string form (`2020-04-21 Tue 02:10:03 EDT`, older items
//!   `2017-03-13 15:24:44 EDT`), which orders neither as instants nor alike
//!   across the two forms and zones; the caller filters dates locally.
//!
//! Sorts on those five fields are sent upstream when every key maps; the
//! adapter still re-sorts with the local total order (VSS breaks ties by its
//! own numeric id and may collate differently), so `sorted` is exact.
//! Pushed filters are also re-checked locally, which costs little and keeps
//! an upstream that answers a superset from leaking rows.

use isogate_core::query::{CompiledFilter, Direction, Field, Filter, Op, SortKey};

/// What to send upstream and what to report.
#[derive(Debug, Default)]
pub(crate) struct Plan {
    /// `filter=` value, `;`-joined.
    pub filter: Option<String>,
    /// `sort=` value, `;`-joined.
    pub sort: Option<String>,
    /// Indices of the pushed filters.
    pub pushed: Vec<usize>,
    /// Whether the listing comes back in the query's order.
    pub sorted: bool,
    /// The pushed filters, compiled, for the local re-check.
    pub checks: Vec<CompiledFilter>,
}

/// The upstream field and whether it is a timestamp (sortable upstream,
/// since the local re-sort fixes the order, but never filtered there).
fn upstream_field(field: &Field) -> Option<(&'static str, bool)> {
    Some(match field {
        Field::Name => ("name", false),
        Field::CreatedAt => ("created_on", true),
        Field::UpdatedAt => ("updated_on", true),
        Field::Label(k) if k == "path" => ("path", false),
        Field::Label(k) if k == "data_store" => ("data_store", false),
        _ => return None,
    })
}

fn safe_text(v: &str) -> bool {
    !v.is_empty() && v.trim() == v && !v.contains([',', ';']) && !v.chars().any(char::is_control)
}

/// The upstream `field,op,value` for one filter, when it is pushable.
fn translate(f: &Filter) -> Option<String> {
    let (name, is_time) = upstream_field(&f.field)?;
    if is_time {
        // VSS would compare "2020-04-21 Tue ..." as text: filtered locally.
        return None;
    }
    match f.op {
        Op::Eq if safe_text(&f.raw) => Some(format!("{name},eq,{}", f.raw)),
        Op::In => {
            let values: Vec<&str> = f.raw.split('|').collect();
            values
                .iter()
                .all(|v| safe_text(v))
                .then(|| format!("{name},in,{}", values.join(",")))
        }
        _ => None,
    }
}

/// Plans a listing query.
pub(crate) fn plan(filters: &[Filter], sort: &[SortKey]) -> Plan {
    let mut out = Plan::default();
    let mut parts = Vec::new();
    for (i, f) in filters.iter().enumerate() {
        let Some(part) = translate(f) else { continue };
        // A filter the local evaluator rejects is the caller's to report.
        let Ok(compiled) = CompiledFilter::new(f.clone()) else {
            continue;
        };
        parts.push(part);
        out.pushed.push(i);
        out.checks.push(compiled);
    }
    if !parts.is_empty() {
        out.filter = Some(parts.join(";"));
    }
    let keys: Option<Vec<String>> = sort
        .iter()
        .map(|k| {
            let (name, _) = upstream_field(&k.field)?;
            let dir = match k.direction {
                Direction::Asc => "asc",
                Direction::Desc => "desc",
            };
            Some(format!("{name},{dir}"))
        })
        .collect();
    if let Some(keys) = keys.filter(|k| !k.is_empty()) {
        out.sort = Some(keys.join(";"));
        out.sorted = true;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(field: &str, op: Op, raw: &str) -> Filter {
        Filter {
            field: Field::from_name(field).unwrap(),
            op,
            raw: raw.into(),
        }
    }

    #[test]
    fn only_provably_equal_filters_are_pushed() {
        let filters = vec![
            f("name", Op::Eq, "ubuntu"),                        // 0 pushed
            f("name", Op::Like, "ubu%"),                        // 1 like: no
            f("name", Op::Ne, "x"),                             // 2 ne: no
            f("labels.path", Op::In, "a|b"),                    // 3 pushed
            f("created_at", Op::Gt, "2017-11-17 13:51:31 EST"), // 4 date: local
            f("name", Op::Lt, "m"),                             // 5 text range: no
            f("name", Op::Eq, "a,b"),                           // 6 separator: no
            f("name", Op::In, "a|b;c"),                         // 7 separator: no
            f("size_bytes", Op::Eq, "1"),                       // 8 unmapped: no
            f("updated_at", Op::Ne, "2024-01-01"),              // 9 ne: no
            f("labels.data_store", Op::Eq, " x"),               // 10 blanks: no
            f("updated_at", Op::Le, "2024-01-15"),              // 11 date: local
            f("created_at", Op::Eq, "garbage"),                 // 12 unparseable: no
        ];
        let p = plan(&filters, &[]);
        assert_eq!(p.pushed, vec![0, 3]);
        assert_eq!(p.filter.as_deref(), Some("name,eq,ubuntu;path,in,a,b"));
        assert_eq!(p.checks.len(), 2);
        assert!(!p.sorted && p.sort.is_none());
    }

    #[test]
    fn sorts_are_pushed_only_when_every_key_maps() {
        let key = |n: &str, d| SortKey {
            field: Field::from_name(n).unwrap(),
            direction: d,
        };
        let p = plan(
            &[],
            &[
                key("name", Direction::Desc),
                key("created_at", Direction::Asc),
            ],
        );
        assert_eq!(p.sort.as_deref(), Some("name,desc;created_on,asc"));
        assert!(p.sorted);
        let p = plan(
            &[],
            &[
                key("name", Direction::Asc),
                key("size_bytes", Direction::Asc),
            ],
        );
        assert!(p.sort.is_none() && !p.sorted);
    }
}
