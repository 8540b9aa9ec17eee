//! VSS listing parameters: `filter`, `sort`, `per_page`, `page`, `expand`,
//! and the `meta.pages` envelope with absolute links.
//!
//! Semantics (each a [guess] where VSS documents nothing, chosen to be what a
//! SQL backend does):
//! - `filter=field,op,value`, several joined by `;` or repeated, AND-ed. The
//!   value is everything after the second comma (so `eq` values may hold
//!   commas); `;` always separates filters.
//! - Strings compare byte-wise and case-sensitively (`eq ne lt le gt ge`);
//!   `like` is SQL `LIKE`: case-sensitive, `%` any run, `_` one character, no
//!   escape character; `in` splits its value at commas.
//! - Numbers (`id`) compare numerically, booleans (`public`) take
//!   `true/false/1/0`. Timestamps compare as the text VSS renders
//!   (`2020-04-21 Tue 02:10:03 EDT`, or the older form on old rows), byte-wise
//!   like any string: VSS compares its own string form, not instants, so
//!   `created_on,gt,2020-04-21T06:00:00Z` orders by characters. `like` works
//!   on strings and timestamps, and is a 400 on other fields.
//! - `sort=field,asc|desc`, several joined by `;`; the id ascending is always
//!   the final tiebreak.
//! - `per_page` defaults to 10 and is clamped to 250 (vss-cli itself asks
//!   for `per_page=500` on other listings, so the real API must tolerate
//!   it); the links carry the effective value. `page` starts at 1; a page
//!   past the end is 200 with empty `data`. Bad numbers are 400.

use std::cmp::Ordering;

use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{Value as Json, json};

/// Default page size.
pub const DEFAULT_PER_PAGE: usize = 10;
/// Largest page size; larger requests are clamped.
pub const MAX_PER_PAGE: usize = 250;

/// The type of a filterable field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Int,
    Str,
    Bool,
    Time,
}

/// A typed field value.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Val {
    Int(i64),
    Str(String),
    Bool(bool),
}

impl Val {
    fn cmp(&self, other: &Val) -> Ordering {
        match (self, other) {
            (Val::Int(a), Val::Int(b)) => a.cmp(b),
            (Val::Str(a), Val::Str(b)) => a.as_bytes().cmp(b.as_bytes()),
            (Val::Bool(a), Val::Bool(b)) => a.cmp(b),
            _ => Ordering::Equal,
        }
    }
}

/// Something a listing holds.
pub(crate) trait Record {
    /// Field names and kinds, for validation and OPTIONS.
    const SCHEMA: &'static [(&'static str, Kind)];
    fn id(&self) -> i64;
    fn field(&self, name: &str) -> Option<Val>;
    fn to_json(&self) -> Json;
    /// The JSON as text (records that never change cache it).
    fn render(&self) -> Box<RawValue> {
        serde_json::value::to_raw_value(&self.to_json()).unwrap_or_else(|_| {
            RawValue::from_string("null".into()).unwrap_or_else(|_| unreachable!())
        })
    }
}

/// One entry of `data`: an expanded object or an item URL.
#[derive(Serialize)]
#[serde(untagged)]
enum Item {
    Object(Box<RawValue>),
    Url(String),
}

#[derive(Serialize)]
struct Envelope {
    #[serde(rename = "_links")]
    links: Json,
    data: Vec<Item>,
    meta: Json,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Like,
    In,
}

#[derive(Debug)]
struct Filter {
    field: &'static str,
    op: Op,
    values: Vec<Val>,
    pattern: String,
}

/// A parsed listing request.
#[derive(Debug)]
pub(crate) struct ListQuery {
    filters: Vec<Filter>,
    sorts: Vec<(&'static str, bool)>,
    pub per_page: usize,
    pub page: usize,
    pub expand: bool,
    /// Links carry `cursor=<page>` (see `PageLinks`).
    pub cursor: bool,
    /// Every parameter as received, in order, for the links.
    pub pairs: Vec<(String, String)>,
}

/// A 400 message.
pub(crate) type BadRequest = String;

impl ListQuery {
    /// Parses the raw query string against a record type's schema.
    pub fn parse<R: Record>(raw: Option<&str>) -> Result<ListQuery, BadRequest> {
        let pairs: Vec<(String, String)> =
            url::form_urlencoded::parse(raw.unwrap_or("").as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
        let mut q = ListQuery {
            filters: Vec::new(),
            sorts: Vec::new(),
            per_page: DEFAULT_PER_PAGE,
            page: 1,
            expand: false,
            cursor: false,
            pairs,
        };
        for (k, v) in q.pairs.clone() {
            match k.as_str() {
                "filter" => {
                    for part in v.split(';').filter(|p| !p.is_empty()) {
                        q.filters.push(parse_filter::<R>(part)?);
                    }
                }
                "sort" => {
                    for part in v.split(';').filter(|p| !p.is_empty()) {
                        q.sorts.push(parse_sort::<R>(part)?);
                    }
                }
                "per_page" => {
                    let n: usize = v
                        .trim()
                        .parse()
                        .map_err(|_| format!("per_page must be a positive integer, got '{v}'"))?;
                    if n == 0 {
                        return Err("per_page must be at least 1".into());
                    }
                    q.per_page = n.min(MAX_PER_PAGE);
                }
                "page" => {
                    let n: usize = v
                        .trim()
                        .parse()
                        .map_err(|_| format!("page must be a positive integer, got '{v}'"))?;
                    if n == 0 {
                        return Err("page must be at least 1".into());
                    }
                    q.page = n;
                }
                "expand" => q.expand = matches!(v.as_str(), "1" | "true" | "True" | "yes"),
                _ => {}
            }
        }
        Ok(q)
    }

    /// Filters, sorts and cuts out the requested page; returns it with the total.
    pub fn apply<'a, R: Record>(&self, records: &'a [R]) -> (Vec<&'a R>, usize) {
        let mut hits: Vec<&R> = records
            .iter()
            .filter(|r| self.filters.iter().all(|f| matches(f, *r)))
            .collect();
        hits.sort_by(|a, b| {
            for (field, desc) in &self.sorts {
                let (x, y) = (a.field(field), b.field(field));
                let ord = match (x, y) {
                    (Some(x), Some(y)) => x.cmp(&y),
                    (None, Some(_)) => Ordering::Greater,
                    (Some(_), None) => Ordering::Less,
                    (None, None) => Ordering::Equal,
                };
                let ord = if *desc { ord.reverse() } else { ord };
                if ord != Ordering::Equal {
                    return ord;
                }
            }
            a.id().cmp(&b.id())
        });
        let total = hits.len();
        let start = (self.page - 1).saturating_mul(self.per_page).min(total);
        let end = start.saturating_add(self.per_page).min(total);
        (hits[start..end].to_vec(), total)
    }

    /// The page envelope. `self_url` is the absolute URL of the resource
    /// without query; item URLs are `{self_url}/{id}` when not expanded.
    pub fn envelope<R: Record>(
        &self,
        page: &[&R],
        total: usize,
        self_url: &str,
        user: &str,
    ) -> Box<RawValue> {
        let pages = total.div_ceil(self.per_page);
        let link = |p: usize| -> String {
            let mut ser = url::form_urlencoded::Serializer::new(String::new());
            let mut has_per_page = false;
            for (k, v) in &self.pairs {
                match k.as_str() {
                    "page" | "cursor" => {}
                    "per_page" => {
                        has_per_page = true;
                        ser.append_pair(k, &self.per_page.to_string());
                    }
                    _ => {
                        ser.append_pair(k, v);
                    }
                }
            }
            if !has_per_page {
                ser.append_pair("per_page", &self.per_page.to_string());
            }
            if self.cursor {
                ser.append_pair("cursor", &p.to_string());
            }
            ser.append_pair("page", &p.to_string());
            format!("{self_url}?{}", ser.finish())
        };
        let data: Vec<Item> = page
            .iter()
            .map(|r| {
                if self.expand {
                    Item::Object(r.render())
                } else {
                    Item::Url(format!("{self_url}/{}", r.id()))
                }
            })
            .collect();
        let next = (self.page < pages).then(|| link(self.page + 1));
        let prev = (self.page > 1).then(|| link((self.page - 1).min(pages.max(1))));
        let envelope = Envelope {
            links: json!({"self": link(self.page)}),
            data,
            meta: json!({
                "count": page.len(),
                "pages": {
                    "first_url": link(1),
                    "last_url": link(pages.max(1)),
                    "next_url": next,
                    "prev_url": prev,
                    "page": self.page,
                    "pages": pages,
                    "per_page": self.per_page,
                    "total": total,
                },
                "time": "0.00042s",
                "user": {"username": user},
            }),
        };
        serde_json::value::to_raw_value(&envelope).unwrap_or_else(|_| {
            RawValue::from_string("{}".into()).unwrap_or_else(|_| unreachable!())
        })
    }
}

fn field_kind<R: Record>(name: &str) -> Option<(&'static str, Kind)> {
    R::SCHEMA.iter().copied().find(|(n, _)| *n == name)
}

fn parse_filter<R: Record>(spec: &str) -> Result<Filter, BadRequest> {
    let mut parts = spec.splitn(3, ',');
    let (Some(field), Some(op), Some(value)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(format!(
            "invalid filter '{spec}': expected <field_name>,<operator>,<value>"
        ));
    };
    let (field, kind) =
        field_kind::<R>(field).ok_or_else(|| format!("invalid filter field '{field}'"))?;
    let op = match op {
        "eq" => Op::Eq,
        "ne" => Op::Ne,
        "lt" => Op::Lt,
        "le" => Op::Le,
        "gt" => Op::Gt,
        "ge" => Op::Ge,
        "like" => Op::Like,
        "in" => Op::In,
        other => return Err(format!("invalid filter operator '{other}'")),
    };
    if op == Op::Like {
        if !matches!(kind, Kind::Str | Kind::Time) {
            return Err(format!("operator 'like' is not valid for field '{field}'"));
        }
        return Ok(Filter {
            field,
            op,
            values: Vec::new(),
            pattern: value.to_owned(),
        });
    }
    let raw: Vec<&str> = if op == Op::In {
        value.split(',').collect()
    } else {
        vec![value]
    };
    let values = raw
        .into_iter()
        .map(|v| {
            parse_value(kind, v).ok_or_else(|| format!("invalid value '{v}' for field '{field}'"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Filter {
        field,
        op,
        values,
        pattern: String::new(),
    })
}

fn parse_sort<R: Record>(spec: &str) -> Result<(&'static str, bool), BadRequest> {
    let (field, dir) = spec.split_once(',').unwrap_or((spec, "asc"));
    let (field, _) =
        field_kind::<R>(field).ok_or_else(|| format!("invalid sort field '{field}'"))?;
    match dir {
        "asc" => Ok((field, false)),
        "desc" => Ok((field, true)),
        other => Err(format!(
            "invalid sort direction '{other}': expected asc or desc"
        )),
    }
}

fn parse_value(kind: Kind, v: &str) -> Option<Val> {
    match kind {
        Kind::Str => Some(Val::Str(v.to_owned())),
        Kind::Int => v.trim().parse().ok().map(Val::Int),
        Kind::Bool => match v.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "t" | "yes" => Some(Val::Bool(true)),
            "false" | "0" | "f" | "no" => Some(Val::Bool(false)),
            _ => None,
        },
        Kind::Time => Some(Val::Str(v.to_owned())),
    }
}

fn matches<R: Record>(f: &Filter, r: &R) -> bool {
    let Some(v) = r.field(f.field) else {
        // SQL: a NULL matches no comparison.
        return false;
    };
    match f.op {
        Op::Like => match v {
            Val::Str(s) => like(&f.pattern, &s),
            _ => false,
        },
        Op::In => f.values.iter().any(|x| v.cmp(x) == Ordering::Equal),
        op => {
            let ord = v.cmp(&f.values[0]);
            match op {
                Op::Eq => ord == Ordering::Equal,
                Op::Ne => ord != Ordering::Equal,
                Op::Lt => ord == Ordering::Less,
                Op::Le => ord != Ordering::Greater,
                Op::Gt => ord == Ordering::Greater,
                Op::Ge => ord != Ordering::Less,
                Op::Like | Op::In => false,
            }
        }
    }
}

/// SQL `LIKE`: case-sensitive, `%` any run, `_` exactly one character.
pub(crate) fn like(pattern: &str, s: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = s.chars().collect();
    // Greedy match with backtracking to the last `%`: linear in practice.
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
    p[pi..].iter().all(|c| *c == '%')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_is_sql_like() {
        assert!(like("CentO%", "CentOS-7"));
        assert!(!like("cento%", "CentOS-7"));
        assert!(like("%7%", "CentOS-7-x86"));
        assert!(like("C_nt%", "CentOS"));
        assert!(!like("C_nt", "Centos"));
        assert!(like("%", ""));
        assert!(like("a%b%c", "aXXbYYc"));
        assert!(!like("a%b%c", "aXXbYY"));
    }
}
