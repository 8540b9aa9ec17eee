//! From URL query pairs to a typed [`Query`].
//!
//! Grammar (DESIGN.md, "Query language"):
//! - `filter=field,op,value`, repeatable and `;`-joined. A segment splits on
//!   its **first two** commas only, so a value may hold commas; it can never
//!   hold `;`, which always separates segments. `in` values are `|`-separated.
//!   Values are typed for the field here, so a bad number or an unknown status
//!   is a parse error, not a silent non-match.
//! - `sort=field[,asc|desc]`, repeatable and `;`-joined; default `asc`.
//! - `q`, `per_page`, `page`, `cursor`, `fields`, `refresh`, `raw`: at most once.
//! - `provider=a,b` and `kind=iso,image`: comma lists, repeatable.
//! - An empty value is the same as leaving the parameter out; an empty `;`
//!   segment is skipped; an empty element of a comma list is an error.
//! - Unknown parameters are ignored (they may be meant for someone else).
//!
//! Positions in errors are byte offsets into the parameter's decoded value.

use super::ast::{Direction, Field, Filter, Op, SortKey};
use super::error::QueryError;
use super::filter::{CompiledFilter, OPS};
use super::plan::Plan;
use crate::ItemKind;

/// `per_page` when the caller does not say.
pub const DEFAULT_PER_PAGE: u32 = 50;
/// The largest `per_page` [`Limits::default`] allows.
pub const MAX_PER_PAGE: u32 = 1000;

/// The top-level names `fields=` may list (the model's fields plus `raw`).
pub const FIELD_NAMES: [&str; 23] = [
    "id",
    "provider",
    "provider_kind",
    "native_id",
    "kind",
    "name",
    "description",
    "size_bytes",
    "status",
    "bootable",
    "visibility",
    "os",
    "arch_bits",
    "arch",
    "edition",
    "zones",
    "owner",
    "extractable",
    "created_at",
    "updated_at",
    "labels",
    "identity_evidence",
    "raw",
];

/// Bounds the parser enforces; the gateway may configure them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// The largest `per_page` accepted (default [`MAX_PER_PAGE`]).
    pub max_per_page: u32,
    /// The most filters one query may hold (default 32).
    pub max_filters: usize,
    /// The most sort keys one query may hold (default 8; each one makes the
    /// cursor longer).
    pub max_sort_keys: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_per_page: MAX_PER_PAGE,
            max_filters: 32,
            max_sort_keys: 8,
        }
    }
}

/// Which page to answer.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Paging {
    /// The first page (neither `cursor` nor `page` given).
    #[default]
    First,
    /// The page after this keyset cursor (`cursor=`).
    Cursor(String),
    /// This 1-based page of offset paging (`page=`).
    Page(u32),
}

/// A parsed listing query.
///
/// The fields are public for reading. After changing `filters` or `q` by hand,
/// evaluation re-types them on the fly (slower); call [`Query::compile`] to
/// check and cache them once.
#[derive(Clone, Debug, PartialEq)]
pub struct Query {
    /// `filter=`: AND-ed conditions.
    pub filters: Vec<Filter>,
    /// `q=`: case-insensitive substring over name and description.
    pub q: Option<String>,
    /// `provider=`: only these provider instances (empty: all).
    pub providers: Vec<String>,
    /// `kind=`: only these kinds (empty: all).
    pub kinds: Vec<ItemKind>,
    /// `sort=`: the keys in order; `id` ascending is always the final tiebreak.
    pub sort: Vec<SortKey>,
    /// `per_page=`: page size.
    pub per_page: u32,
    /// `cursor=` or `page=`.
    pub paging: Paging,
    /// `fields=`: sparse projection (`id` is always included).
    pub fields: Option<Vec<String>>,
    /// `refresh=true`: bypass the cache.
    pub refresh: bool,
    /// `raw=true` (or `raw` listed in `fields`): include the upstream object.
    pub raw: bool,
    pub(crate) plan: Plan,
}

impl Default for Query {
    /// Everything, sorted by id, first page of [`DEFAULT_PER_PAGE`].
    fn default() -> Self {
        Query {
            filters: Vec::new(),
            q: None,
            providers: Vec::new(),
            kinds: Vec::new(),
            sort: Vec::new(),
            per_page: DEFAULT_PER_PAGE,
            paging: Paging::First,
            fields: None,
            refresh: false,
            raw: false,
            plan: Plan::default(),
        }
    }
}

impl Query {
    /// Parses decoded URL query pairs (as the server's extractor gives them).
    pub fn parse<K: AsRef<str>, V: AsRef<str>>(
        pairs: &[(K, V)],
        limits: &Limits,
    ) -> Result<Query, QueryError> {
        let mut query = Query::default();
        let mut seen: Vec<&str> = Vec::new();
        let mut cursor = None;
        let mut page = None;
        for (k, v) in pairs {
            let (k, v) = (k.as_ref(), v.as_ref());
            let single = matches!(
                k,
                "q" | "per_page" | "page" | "cursor" | "fields" | "refresh" | "raw"
            );
            if single {
                if seen.contains(&k) {
                    return Err(QueryError::new(
                        k,
                        None,
                        "the parameter at most once",
                        "found it again",
                    ));
                }
                seen.push(k);
            }
            if v.is_empty() {
                continue;
            }
            match k {
                "filter" => parse_filters(v, limits, &mut query.filters)?,
                "sort" => parse_sort(v, limits, &mut query.sort)?,
                "q" => query.q = Some(v.to_owned()),
                "provider" => {
                    for (_, name) in list(k, v, "a provider name")? {
                        if !query.providers.iter().any(|p| p == name) {
                            query.providers.push(name.to_owned());
                        }
                    }
                }
                "kind" => {
                    for (at, name) in list(k, v, "one of iso,image")? {
                        let kind = match name {
                            "iso" => ItemKind::Iso,
                            "image" => ItemKind::Image,
                            other => {
                                return Err(QueryError::found(k, at, "one of iso,image", other));
                            }
                        };
                        if !query.kinds.contains(&kind) {
                            query.kinds.push(kind);
                        }
                    }
                }
                "per_page" => {
                    let max = limits.max_per_page;
                    query.per_page =
                        number(v).filter(|n| (1..=max).contains(n)).ok_or_else(|| {
                            QueryError::found(k, 0, format!("an integer from 1 to {max}"), v)
                        })?;
                }
                "page" => {
                    page =
                        Some(number(v).filter(|n| *n >= 1).ok_or_else(|| {
                            QueryError::found(k, 0, "an integer of at least 1", v)
                        })?);
                }
                "cursor" => cursor = Some(v.to_owned()),
                "fields" => {
                    let expected = || format!("one of {}", FIELD_NAMES.join(","));
                    let mut fields: Vec<String> = Vec::new();
                    for (at, name) in list(k, v, &expected())? {
                        if !FIELD_NAMES.contains(&name) {
                            return Err(QueryError::found(k, at, expected(), name));
                        }
                        if !fields.iter().any(|f| f == name) {
                            fields.push(name.to_owned());
                        }
                    }
                    if fields.iter().any(|f| f == "raw") {
                        query.raw = true;
                    }
                    query.fields = Some(fields);
                }
                "refresh" => query.refresh = boolean(k, v)?,
                "raw" => query.raw |= boolean(k, v)?,
                _ => {}
            }
        }
        query.paging = match (cursor, page) {
            (Some(_), Some(_)) => {
                return Err(QueryError::new(
                    "page",
                    None,
                    "either page or cursor, not both",
                    "found both",
                ));
            }
            (Some(c), None) => Paging::Cursor(c),
            (None, Some(p)) => Paging::Page(p),
            (None, None) => Paging::First,
        };
        query.compile()?;
        Ok(query)
    }

    /// Parses a raw query string (`a=1&b=2`, with or without the leading `?`),
    /// percent-decoding it with `+` as a space, under [`Limits::default`].
    pub fn from_query_string(s: &str) -> Result<Query, QueryError> {
        Self::from_query_string_with(s, &Limits::default())
    }

    /// [`Query::from_query_string`] with explicit limits.
    pub fn from_query_string_with(s: &str, limits: &Limits) -> Result<Query, QueryError> {
        let mut pairs = Vec::new();
        for part in s.strip_prefix('?').unwrap_or(s).split('&') {
            if part.is_empty() {
                continue;
            }
            let (k, v) = part.split_once('=').unwrap_or((part, ""));
            let k = decode(k, "the query string")?;
            let v = decode(v, &k)?;
            pairs.push((k, v));
        }
        Self::parse(&pairs, limits)
    }

    /// What to ask each provider for: the filters and sort it may push down
    /// upstream (the gateway still evaluates the whole query on the result),
    /// and `raw` when the caller asked for it.
    pub fn list_options(&self) -> crate::ListOptions {
        crate::ListOptions {
            filters: self.filters.clone(),
            sort: self.sort.clone(),
            include_raw: self.raw,
        }
    }

    /// Types and caches `filters` and `q` for evaluation; needed only after
    /// changing them by hand (the parser does it).
    pub fn compile(&mut self) -> Result<(), QueryError> {
        self.plan = Plan::build(&self.filters, self.q.as_deref())?;
        Ok(())
    }
}

fn decode(s: &str, param: &str) -> Result<String, QueryError> {
    let plus = s.replace('+', " ");
    percent_encoding::percent_decode_str(&plus)
        .decode_utf8()
        .map(|c| c.into_owned())
        .map_err(|_| QueryError::new(param, None, "UTF-8 text", "found bytes that are not UTF-8"))
}

/// The `sep`-separated pieces of `v` with their byte offsets.
fn pieces(v: &str, sep: char) -> impl Iterator<Item = (usize, &str)> {
    let mut at = 0;
    v.split(sep).map(move |p| {
        let start = at;
        at += p.len() + sep.len_utf8();
        (start, p)
    })
}

/// A comma list whose elements must be non-empty.
fn list<'v>(param: &str, v: &'v str, expected: &str) -> Result<Vec<(usize, &'v str)>, QueryError> {
    pieces(v, ',')
        .map(|(at, p)| {
            if p.is_empty() {
                Err(QueryError::new(
                    param,
                    Some(at),
                    expected,
                    "found an empty element",
                ))
            } else {
                Ok((at, p))
            }
        })
        .collect()
}

fn number(v: &str) -> Option<u32> {
    if v.bytes().all(|b| b.is_ascii_digit()) {
        v.parse().ok()
    } else {
        None
    }
}

fn boolean(param: &str, v: &str) -> Result<bool, QueryError> {
    match v {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        other => Err(QueryError::found(param, 0, "true or false", other)),
    }
}

fn field_expected() -> String {
    format!("a field: one of {} or labels.<key>", Field::NAMES.join(","))
}

fn parse_filters(v: &str, limits: &Limits, out: &mut Vec<Filter>) -> Result<(), QueryError> {
    const P: &str = "filter";
    for (start, seg) in pieces(v, ';') {
        if seg.is_empty() {
            continue;
        }
        if out.len() >= limits.max_filters {
            return Err(QueryError::new(
                P,
                Some(start),
                format!("at most {} filters", limits.max_filters),
                "found more",
            ));
        }
        let mut parts = seg.splitn(3, ',');
        let (Some(name), Some(op_name), Some(raw)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(QueryError::found(P, start, "field,op,value", seg));
        };
        let field = Field::from_name(name)
            .ok_or_else(|| QueryError::found(P, start, field_expected(), name))?;
        let op_at = start + name.len() + 1;
        let op = Op::from_name(op_name).ok_or_else(|| QueryError::found(P, op_at, OPS, op_name))?;
        let raw_at = op_at + op_name.len() + 1;
        let compiled = CompiledFilter::new(Filter {
            field,
            op,
            raw: raw.to_owned(),
        })
        .map_err(|mut e| {
            e.position = Some(e.position.map_or(op_at, |p| raw_at + p));
            e
        })?;
        out.push(compiled.filter().clone());
    }
    Ok(())
}

fn parse_sort(v: &str, limits: &Limits, out: &mut Vec<SortKey>) -> Result<(), QueryError> {
    const P: &str = "sort";
    for (start, seg) in pieces(v, ';') {
        if seg.is_empty() {
            continue;
        }
        let (name, dir) = match seg.split_once(',') {
            Some((n, d)) => (n, Some(d)),
            None => (seg, None),
        };
        let field = Field::from_name(name)
            .ok_or_else(|| QueryError::found(P, start, field_expected(), name))?;
        let direction = match dir {
            None | Some("asc") => Direction::Asc,
            Some("desc") => Direction::Desc,
            Some(other) => {
                return Err(QueryError::found(
                    P,
                    start + name.len() + 1,
                    "asc or desc",
                    other,
                ));
            }
        };
        if out.iter().any(|k| k.field == field) {
            return Err(QueryError::found(P, start, "each sort field once", name));
        }
        if out.len() >= limits.max_sort_keys {
            return Err(QueryError::new(
                P,
                Some(start),
                format!("at most {} sort keys", limits.max_sort_keys),
                "found more",
            ));
        }
        out.push(SortKey { field, direction });
    }
    Ok(())
}
