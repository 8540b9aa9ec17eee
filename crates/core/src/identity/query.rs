//! The listing's query language over image groups (`/v1/images`):
//! `filter=field,op,value` (`;`-joined or repeated, AND-ed), `sort=field,asc|desc`,
//! `per_page`, `page` or `cursor`, with [`GroupField`] names instead of item
//! fields. The identity is always the final tiebreak, so the order is total
//! and a cursor (the last row's sort values and identity) is exact.

use std::cmp::Ordering;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::group::{GroupField, GroupValue, IdentityKey, ImageGroup, value_of};
use crate::query::{DEFAULT_PER_PAGE, Direction, Limits, Op, Paging, QueryError};

const OPS: &str = "one of eq,ne,lt,le,gt,ge,like,in";

/// One `field,op,value` condition over groups, its value already typed.
#[derive(Clone, Debug, PartialEq)]
struct GroupFilter {
    field: GroupField,
    op: Op,
    /// The operands (several for `in`).
    values: Vec<Value>,
}

/// A parsed images query.
#[derive(Clone, Debug, PartialEq)]
pub struct GroupQuery {
    filters: Vec<GroupFilter>,
    sort: Vec<(GroupField, Direction)>,
    /// Page size.
    pub per_page: u32,
    /// `cursor=` or `page=`.
    pub paging: Paging,
    /// Binds cursors to the filter and sort they were issued for.
    fingerprint: String,
}

/// One page of groups.
#[derive(Clone, Debug)]
pub struct GroupPage {
    /// The page's groups.
    pub data: Vec<ImageGroup>,
    /// Groups matching the filter, across pages.
    pub total: usize,
    /// The cursor of the next page; `None` on the last.
    pub next_cursor: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct CursorBody {
    q: String,
    at: Vec<Value>,
    id: IdentityKey,
}

impl GroupQuery {
    /// Parses decoded URL pairs; reads `filter`, `sort`, `per_page`, `page`,
    /// `cursor` and ignores every other parameter (the caller's business).
    pub fn parse<K: AsRef<str>, V: AsRef<str>>(
        pairs: &[(K, V)],
        limits: &Limits,
    ) -> Result<GroupQuery, QueryError> {
        let mut filters = Vec::new();
        let mut sort: Vec<(GroupField, Direction)> = Vec::new();
        let mut per_page = DEFAULT_PER_PAGE;
        let (mut page, mut cursor) = (None, None);
        let (mut filter_text, mut sort_text) = (Vec::new(), Vec::new());
        for (k, v) in pairs {
            let (k, v) = (k.as_ref(), v.as_ref());
            if v.is_empty() {
                continue;
            }
            match k {
                "filter" => {
                    filter_text.push(v.to_owned());
                    for (start, seg) in pieces(v) {
                        if filters.len() >= limits.max_filters {
                            return Err(QueryError::new(
                                k,
                                Some(start),
                                format!("at most {} filters", limits.max_filters),
                                "found more",
                            ));
                        }
                        filters.push(parse_filter(start, seg)?);
                    }
                }
                "sort" => {
                    sort_text.push(v.to_owned());
                    for (start, seg) in pieces(v) {
                        let (name, dir) = seg.split_once(',').unwrap_or((seg, "asc"));
                        let field = field(k, start, name)?;
                        let direction = match dir {
                            "asc" => Direction::Asc,
                            "desc" => Direction::Desc,
                            other => {
                                return Err(found(k, start + name.len() + 1, "asc or desc", other));
                            }
                        };
                        if sort.iter().any(|(f, _)| *f == field) {
                            return Err(found(k, start, "each sort field once", name));
                        }
                        if sort.len() >= limits.max_sort_keys {
                            return Err(QueryError::new(
                                k,
                                Some(start),
                                format!("at most {} sort keys", limits.max_sort_keys),
                                "found more",
                            ));
                        }
                        sort.push((field, direction));
                    }
                }
                "per_page" => {
                    let max = limits.max_per_page;
                    per_page = digits(v)
                        .filter(|n| (1..=max).contains(n))
                        .ok_or_else(|| found(k, 0, format!("an integer from 1 to {max}"), v))?;
                }
                "page" => {
                    page = Some(
                        digits(v)
                            .filter(|n| *n >= 1)
                            .ok_or_else(|| found(k, 0, "an integer of at least 1", v))?,
                    );
                }
                "cursor" => cursor = Some(v.to_owned()),
                _ => {}
            }
        }
        // As in the listing: a cursor already says which page.
        let paging = match (cursor, page) {
            (Some(c), _) => Paging::Cursor(c),
            (None, Some(p)) => Paging::Page(p),
            (None, None) => Paging::First,
        };
        let digest = Sha256::digest(format!("{filter_text:?}{sort_text:?}").as_bytes());
        Ok(GroupQuery {
            filters,
            sort,
            per_page,
            paging,
            fingerprint: URL_SAFE_NO_PAD.encode(&digest[..9]),
        })
    }

    /// Whether `group` passes every filter.
    pub fn matches(&self, group: &ImageGroup) -> bool {
        self.filters
            .iter()
            .all(|f| test(f, value_of(group, f.field)))
    }

    /// Sorts by the sort keys, then by identity.
    pub fn sort(&self, groups: &mut [ImageGroup]) {
        groups
            .sort_by(|a, b| self.cmp_keys(&self.keys(a), &a.identity, &self.keys(b), &b.identity));
    }

    /// Filters, sorts and pages `groups`. A cursor this query did not issue
    /// is an error on `cursor`.
    pub fn page(&self, groups: Vec<ImageGroup>) -> Result<GroupPage, QueryError> {
        let mut groups: Vec<ImageGroup> = groups.into_iter().filter(|g| self.matches(g)).collect();
        self.sort(&mut groups);
        let total = groups.len();
        let per_page = self.per_page as usize;
        let start = match &self.paging {
            Paging::First => 0,
            Paging::Page(p) => (*p as usize - 1).saturating_mul(per_page).min(total),
            Paging::Cursor(token) => {
                let body = self.decode(token)?;
                groups
                    .iter()
                    .position(|g| {
                        self.cmp_keys(&self.keys(g), &g.identity, &body.at, &body.id)
                            == Ordering::Greater
                    })
                    .unwrap_or(total)
            }
        };
        let end = start.saturating_add(per_page).min(total);
        let next_cursor = (end < total).then(|| {
            let last = &groups[end - 1];
            let body = CursorBody {
                q: self.fingerprint.clone(),
                at: self.keys(last),
                id: last.identity.clone(),
            };
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(&body).unwrap_or_default())
        });
        let data = groups.drain(start..end).collect();
        Ok(GroupPage {
            data,
            total,
            next_cursor,
        })
    }

    fn decode(&self, token: &str) -> Result<CursorBody, QueryError> {
        let refused = || {
            QueryError::new(
                "cursor",
                None,
                "a cursor from meta.next_cursor of this query",
                "found one this query did not issue",
            )
        };
        let bytes = URL_SAFE_NO_PAD.decode(token).map_err(|_| refused())?;
        let body: CursorBody = serde_json::from_slice(&bytes).map_err(|_| refused())?;
        if body.q != self.fingerprint || body.at.len() != self.sort.len() {
            return Err(refused());
        }
        Ok(body)
    }

    fn keys(&self, group: &ImageGroup) -> Vec<Value> {
        self.sort
            .iter()
            .map(|(f, _)| sort_value(value_of(group, *f)))
            .collect()
    }

    fn cmp_keys(&self, a: &[Value], ai: &IdentityKey, b: &[Value], bi: &IdentityKey) -> Ordering {
        for ((x, y), (_, dir)) in a.iter().zip(b).zip(&self.sort) {
            let o = cmp_value(x, y);
            let o = if *dir == Direction::Desc {
                o.reverse()
            } else {
                o
            };
            if o != Ordering::Equal {
                return o;
            }
        }
        ai.cmp(bi)
    }
}

fn parse_filter(start: usize, seg: &str) -> Result<GroupFilter, QueryError> {
    const P: &str = "filter";
    let mut parts = seg.splitn(3, ',');
    let (Some(name), Some(op_name), Some(raw)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(found(P, start, "field,op,value", seg));
    };
    let field = field(P, start, name)?;
    let op_at = start + name.len() + 1;
    let op = Op::from_name(op_name).ok_or_else(|| found(P, op_at, OPS, op_name))?;
    let raw_at = op_at + op_name.len() + 1;
    let raws: Vec<&str> = if op == Op::In {
        raw.split('|').collect()
    } else {
        vec![raw]
    };
    let mut values = Vec::new();
    for r in raws {
        values.push(match field {
            GroupField::Providers | GroupField::Items | GroupField::SizeBytes => {
                if op == Op::Like {
                    return Err(found(
                        P,
                        op_at,
                        "an operator for numbers (not like)",
                        op_name,
                    ));
                }
                Value::from(
                    r.parse::<u64>()
                        .map_err(|_| found(P, raw_at, "a non-negative integer", r))?,
                )
            }
            GroupField::Consistent => {
                if !matches!(op, Op::Eq | Op::Ne | Op::In) {
                    return Err(found(P, op_at, "eq, ne or in for a boolean", op_name));
                }
                match r {
                    "true" => Value::Bool(true),
                    "false" => Value::Bool(false),
                    other => return Err(found(P, raw_at, "true or false", other)),
                }
            }
            _ => Value::String(r.to_owned()),
        });
    }
    Ok(GroupFilter { field, op, values })
}

fn test(f: &GroupFilter, value: GroupValue<'_>) -> bool {
    match value {
        GroupValue::Texts(all) => all.iter().any(|t| test_one(f, &Value::from(*t))),
        GroupValue::Text(None) | GroupValue::Num(None) => f.op == Op::Ne,
        GroupValue::Text(Some(t)) => test_one(f, &Value::from(t)),
        GroupValue::Num(Some(n)) => test_one(f, &Value::from(n)),
        GroupValue::Bool(b) => test_one(f, &Value::Bool(b)),
    }
}

fn test_one(f: &GroupFilter, v: &Value) -> bool {
    let first = &f.values[0];
    match f.op {
        Op::Eq => v == first,
        Op::Ne => v != first,
        Op::In => f.values.contains(v),
        Op::Lt => cmp_value(v, first) == Ordering::Less,
        Op::Le => cmp_value(v, first) != Ordering::Greater,
        Op::Gt => cmp_value(v, first) == Ordering::Greater,
        Op::Ge => cmp_value(v, first) != Ordering::Less,
        Op::Like => match (v, first) {
            (Value::String(s), Value::String(p)) => like(
                &s.to_lowercase().chars().collect::<Vec<_>>(),
                &p.to_lowercase().chars().collect::<Vec<_>>(),
            ),
            _ => false,
        },
    }
}

/// `%` any run, `_` one character.
fn like(s: &[char], p: &[char]) -> bool {
    match p.split_first() {
        None => s.is_empty(),
        Some(('%', rest)) => (0..=s.len()).any(|k| like(&s[k..], rest)),
        Some((c, rest)) => s
            .split_first()
            .is_some_and(|(d, s_rest)| (*c == '_' || c == d) && like(s_rest, rest)),
    }
}

/// A group value as a sort key: a group with several providers sorts by its first.
fn sort_value(v: GroupValue<'_>) -> Value {
    match v {
        GroupValue::Text(t) => t.map_or(Value::Null, Value::from),
        GroupValue::Texts(all) => all.first().map_or(Value::Null, |t| Value::from(*t)),
        GroupValue::Num(n) => n.map_or(Value::Null, Value::from),
        GroupValue::Bool(b) => Value::Bool(b),
    }
}

/// Numbers numerically, texts naturally (digit runs as numbers, so version
/// `9` comes before `10`), absent values last.
fn cmp_value(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::Null, Value::Null) => Ordering::Equal,
        (Value::Null, _) => Ordering::Greater,
        (_, Value::Null) => Ordering::Less,
        (Value::Number(x), Value::Number(y)) => x.as_u64().cmp(&y.as_u64()),
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        (Value::String(x), Value::String(y)) => natural(x, y),
        _ => a.to_string().cmp(&b.to_string()),
    }
}

fn natural(a: &str, b: &str) -> Ordering {
    let (mut a, mut b) = (a.as_bytes(), b.as_bytes());
    loop {
        match (a.first(), b.first()) {
            (None, None) => return Ordering::Equal,
            (None, _) => return Ordering::Less,
            (_, None) => return Ordering::Greater,
            (Some(x), Some(y)) if x.is_ascii_digit() && y.is_ascii_digit() => {
                let da = a.iter().take_while(|c| c.is_ascii_digit()).count();
                let db = b.iter().take_while(|c| c.is_ascii_digit()).count();
                let (na, nb) = (trim_zeros(&a[..da]), trim_zeros(&b[..db]));
                let o = na.len().cmp(&nb.len()).then(na.cmp(nb));
                if o != Ordering::Equal {
                    return o;
                }
                (a, b) = (&a[da..], &b[db..]);
            }
            (Some(x), Some(y)) => {
                if x != y {
                    return x.cmp(y);
                }
                (a, b) = (&a[1..], &b[1..]);
            }
        }
    }
}

fn trim_zeros(d: &[u8]) -> &[u8] {
    let k = d.iter().take_while(|c| **c == b'0').count();
    &d[k..]
}

fn field(param: &str, at: usize, name: &str) -> Result<GroupField, QueryError> {
    GroupField::from_name(name).ok_or_else(|| {
        found(
            param,
            at,
            format!("one of {}", GroupField::NAMES.join(",")),
            name,
        )
    })
}

/// The non-empty `;`-separated pieces of `v` with their byte offsets.
fn pieces(v: &str) -> impl Iterator<Item = (usize, &str)> {
    let mut at = 0;
    v.split(';')
        .map(move |seg| {
            let start = at;
            at += seg.len() + 1;
            (start, seg)
        })
        .filter(|(_, s)| !s.is_empty())
}

fn digits(v: &str) -> Option<u32> {
    v.bytes()
        .all(|b| b.is_ascii_digit())
        .then(|| v.parse().ok())
        .flatten()
}

fn found(param: &str, at: usize, expected: impl Into<String>, what: &str) -> QueryError {
    QueryError::found(param, at, expected, what)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(family: &str, version: &str, providers: &[(&str, u64)]) -> ImageGroup {
        let mut items: Vec<_> = providers
            .iter()
            .enumerate()
            .map(|(k, (p, s))| super::super::group::GroupItem {
                id: format!("{p}:{k}"),
                provider: (*p).to_owned(),
                size_bytes: Some(*s),
            })
            .collect();
        items.sort_by(|a, b| a.provider.cmp(&b.provider));
        let mut ps: Vec<String> = providers.iter().map(|(p, _)| (*p).to_owned()).collect();
        ps.sort();
        ps.dedup();
        let mut sizes: Vec<u64> = providers.iter().map(|(_, s)| *s).collect();
        sizes.sort();
        sizes.dedup();
        ImageGroup {
            identity: IdentityKey {
                family: family.into(),
                version: Some(version.into()),
                arch: Some("x86_64".into()),
                edition: None,
            },
            consistent: sizes.len() <= 1,
            providers: ps,
            sizes,
            items,
        }
    }

    fn q(s: &str) -> Result<GroupQuery, QueryError> {
        let pairs: Vec<(String, String)> = serde_urlencoded_pairs(s);
        GroupQuery::parse(&pairs, &Limits::default())
    }

    fn serde_urlencoded_pairs(s: &str) -> Vec<(String, String)> {
        s.split('&')
            .filter_map(|p| p.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    }

    fn demo() -> Vec<ImageGroup> {
        vec![
            g("ubuntu", "22.04", &[("a", 10), ("b", 10)]),
            g("ubuntu", "9.10", &[("a", 5)]),
            g("debian", "12", &[("a", 7), ("b", 8), ("c", 7)]),
            g("rocky", "9.4", &[("c", 3)]),
        ]
    }

    fn names(p: &GroupPage) -> Vec<String> {
        p.data
            .iter()
            .map(|g| {
                format!(
                    "{}-{}",
                    g.identity.family,
                    g.identity.version.as_deref().unwrap()
                )
            })
            .collect()
    }

    #[test]
    fn providers_with_the_same_files_agree() {
        let item = |p: &str, id: &str, size| {
            let mut i = crate::Iso::new(
                p,
                crate::ProviderKind::Vss,
                crate::ItemKind::Iso,
                id,
                "Rocky-9.4-x86_64-dvd.iso",
            );
            i.size_bytes = Some(size);
            super::super::recognise(&mut i);
            i
        };
        let same = [
            item("a", "1", 5),
            item("a", "2", 6),
            item("b", "1", 6),
            item("b", "2", 5),
        ];
        assert!(super::super::group(&same)[0].consistent);
        let other = [item("a", "1", 5), item("b", "1", 5), item("b", "2", 6)];
        assert!(!super::super::group(&other)[0].consistent);
    }

    #[test]
    fn filters_over_group_fields() {
        let p = q("filter=providers,ge,2").unwrap().page(demo()).unwrap();
        assert_eq!(names(&p), ["debian-12", "ubuntu-22.04"]);
        let p = q("filter=consistent,eq,false")
            .unwrap()
            .page(demo())
            .unwrap();
        assert_eq!(names(&p), ["debian-12"]);
        let p = q("filter=provider,eq,c;family,like,%i%")
            .unwrap()
            .page(demo())
            .unwrap();
        assert_eq!(names(&p), ["debian-12"]);
        let p = q("filter=family,in,rocky|debian")
            .unwrap()
            .page(demo())
            .unwrap();
        assert_eq!(p.total, 2);
    }

    #[test]
    fn sorts_naturally_and_pages_by_cursor() {
        let query = q("sort=version,desc&per_page=1").unwrap();
        let first = query.page(demo()).unwrap();
        assert_eq!(names(&first), ["ubuntu-22.04"]);
        let mut seen = names(&first);
        let mut cursor = first.next_cursor;
        while let Some(c) = cursor {
            let next = q(&format!("sort=version,desc&per_page=1&cursor={c}"))
                .unwrap()
                .page(demo())
                .unwrap();
            seen.extend(names(&next));
            cursor = next.next_cursor;
        }
        // 9.10 after 9.4 only if digit runs compare as numbers.
        assert_eq!(
            seen,
            ["ubuntu-22.04", "debian-12", "ubuntu-9.10", "rocky-9.4"]
        );
    }

    #[test]
    fn a_cursor_of_another_query_and_bad_filters_are_refused() {
        let c = q("per_page=1")
            .unwrap()
            .page(demo())
            .unwrap()
            .next_cursor
            .unwrap();
        let e = q(&format!("per_page=1&sort=family&cursor={c}"))
            .unwrap()
            .page(demo())
            .unwrap_err();
        assert_eq!(e.param, "cursor");
        let e = q("filter=colour,eq,red").unwrap_err();
        assert_eq!((e.param.as_str(), e.position), ("filter", Some(0)));
        let e = q("filter=providers,gt,many").unwrap_err();
        assert_eq!(e.position, Some(13));
        assert!(q("filter=consistent,lt,true").is_err());
        assert!(q("sort=family,up").is_err());
    }
}
