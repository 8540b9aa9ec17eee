//! Properties of the query engine against naive reference implementations:
//! (1) a parsed filter selects exactly what a naive evaluator selects;
//! (2) following `next_cursor` from the first page visits every item exactly
//! once in order, also when items are inserted and removed between pages.

use std::cmp::Ordering;
use std::collections::HashSet;

use chrono::{DateTime, TimeZone, Utc};
use isogate_core::query::{CursorCodec, Query, execute, merge, top_of};
use isogate_core::{Iso, ItemKind, OsRef, ProviderKind, Status, ZoneRef};
use proptest::prelude::*;
use proptest::sample::Index;

// ---------- generators: small alphabets so values collide often ----------

const TEXT: &str = "[aAbB_%éÉ]{0,3}";
const STATUSES: [Status; 5] = [
    Status::Ready,
    Status::Pending,
    Status::Processing,
    Status::Failed,
    Status::Unknown,
];

fn time(i: u8) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 1, 1 + u32::from(i), 12, 0, 0)
        .unwrap()
}

#[derive(Clone, Debug)]
struct Spec {
    name: String,
    description: Option<String>,
    size: Option<u64>,
    status: usize,
    bootable: Option<bool>,
    created: Option<u8>,
    os_name: Option<String>,
    zones: Vec<(u8, Option<String>)>,
    label: Option<String>,
    image: bool,
    provider: bool,
}

fn spec() -> impl Strategy<Value = Spec> {
    (
        (
            TEXT,
            proptest::option::of(TEXT),
            proptest::option::of(0u64..4),
            0..5usize,
        ),
        (
            proptest::option::of(any::<bool>()),
            proptest::option::of(0u8..3),
            proptest::option::of(TEXT),
        ),
        (
            prop::collection::vec((0u8..3, proptest::option::of(TEXT)), 0..3),
            proptest::option::of(TEXT),
        ),
        (any::<bool>(), any::<bool>()),
    )
        .prop_map(
            |(
                (name, description, size, status),
                (bootable, created, os_name),
                (zones, label),
                (image, provider),
            )| Spec {
                name,
                description,
                size,
                status,
                bootable,
                created,
                os_name,
                zones,
                label,
                image,
                provider,
            },
        )
}

fn build(s: &Spec, n: usize) -> Iso {
    let kind = if s.image {
        ItemKind::Image
    } else {
        ItemKind::Iso
    };
    let provider = if s.provider { "p1" } else { "p2" };
    let mut i = Iso::new(
        provider,
        ProviderKind::Vss,
        kind,
        &format!("{n:04}"),
        &s.name,
    );
    i.description = s.description.clone();
    i.size_bytes = s.size;
    i.status = STATUSES[s.status];
    i.bootable = s.bootable;
    i.created_at = s.created.map(time);
    i.os = s.os_name.clone().map(|n| OsRef {
        id: None,
        name: Some(n.into()),
        ..Default::default()
    });
    i.zones = s
        .zones
        .iter()
        .map(|(id, name)| ZoneRef {
            id: format!("z{id}"),
            name: name.clone().map(Into::into),
        })
        .collect();
    if let Some(l) = &s.label {
        i.labels.insert("k".into(), l.clone());
    }
    i
}

// ---------- the naive reference ----------

#[derive(Clone, Debug, PartialEq, PartialOrd)]
enum V {
    S(String),
    N(u64),
    B(bool),
    T(DateTime<Utc>),
}

/// Every value the field has on the item (several for zones); `None` = missing.
fn values(i: &Iso, field: &str) -> Vec<Option<V>> {
    let s = |o: &Option<String>| o.clone().map(V::S);
    let one = |v: Option<V>| vec![v];
    match field {
        "id" => one(Some(V::S(i.id.clone()))),
        "name" => one(Some(V::S(i.name.clone()))),
        "provider" => one(Some(V::S(i.provider.to_string()))),
        "description" => one(s(&i.description)),
        "size_bytes" => one(i.size_bytes.map(V::N)),
        "status" => one(Some(V::S(
            serde_json::to_value(i.status)
                .unwrap()
                .as_str()
                .unwrap()
                .to_owned(),
        ))),
        "kind" => one(Some(V::S(
            serde_json::to_value(i.kind)
                .unwrap()
                .as_str()
                .unwrap()
                .to_owned(),
        ))),
        "bootable" => one(i.bootable.map(V::B)),
        "created_at" => one(i.created_at.map(V::T)),
        "os.name" => one(i
            .os
            .as_ref()
            .and_then(|o| o.name.as_deref().map(|n| V::S(n.to_owned())))),
        "labels.k" => one(i.labels.get("k").map(str::to_owned).map(V::S)),
        "zones.id" => i.zones.iter().map(|z| Some(V::S(z.id.clone()))).collect(),
        "zones.name" => i
            .zones
            .iter()
            .map(|z| z.name.as_deref().map(|n| V::S(n.to_owned())))
            .collect(),
        other => panic!("no reference for {other}"),
    }
}

fn is_multi(field: &str) -> bool {
    field.starts_with("zones.")
}

fn parse_ref(field: &str, raw: &str) -> Option<V> {
    match field {
        "size_bytes" => raw.parse().ok().map(V::N),
        "bootable" => match raw {
            "true" => Some(V::B(true)),
            "false" => Some(V::B(false)),
            _ => None,
        },
        "created_at" => DateTime::parse_from_rfc3339(raw)
            .ok()
            .map(|t| V::T(t.with_timezone(&Utc))),
        "status" => ["ready", "pending", "processing", "failed", "unknown"]
            .contains(&raw)
            .then(|| V::S(raw.into())),
        "kind" => ["iso", "image"].contains(&raw).then(|| V::S(raw.into())),
        _ => Some(V::S(raw.into())),
    }
}

fn fold(c: char) -> char {
    let mut l = c.to_lowercase();
    match (l.next(), l.next()) {
        (Some(x), None) => x,
        _ => c,
    }
}

/// `like` by dynamic programming over folded characters.
fn like_ref(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().map(fold).collect();
    let t: Vec<char> = text.chars().map(fold).collect();
    // m[i][j]: p[..i] matches t[..j]
    let mut m = vec![vec![false; t.len() + 1]; p.len() + 1];
    m[0][0] = true;
    for i in 1..=p.len() {
        for j in 0..=t.len() {
            m[i][j] = match p[i - 1] {
                '%' => m[i - 1][j] || (j > 0 && m[i][j - 1]),
                '_' => j > 0 && m[i - 1][j - 1],
                c => j > 0 && m[i - 1][j - 1] && t[j - 1] == c,
            };
        }
    }
    m[p.len()][t.len()]
}

fn test_one(op: &str, v: &V, raw: &str, field: &str) -> Option<bool> {
    let cmp = |w: &str| -> Option<Ordering> { v.partial_cmp(&parse_ref(field, w)?) };
    Some(match op {
        "eq" => cmp(raw)? == Ordering::Equal,
        "ne" => cmp(raw)? != Ordering::Equal,
        "lt" => cmp(raw)? == Ordering::Less,
        "le" => cmp(raw)? != Ordering::Greater,
        "gt" => cmp(raw)? == Ordering::Greater,
        "ge" => cmp(raw)? != Ordering::Less,
        "like" => match v {
            V::S(s) => like_ref(raw, s),
            _ => return None,
        },
        "in" => {
            let mut any = false;
            for w in raw.split('|') {
                any |= cmp(w)? == Ordering::Equal;
            }
            any
        }
        _ => unreachable!(),
    })
}

/// `None`: the filter does not type-check.
fn reference(i: &Iso, field: &str, op: &str, raw: &str) -> Option<bool> {
    // Type-check independently of the item.
    let typed = match op {
        "like" => !matches!(field, "size_bytes" | "bootable" | "created_at"),
        "in" => raw.split('|').all(|w| parse_ref(field, w).is_some()),
        _ => parse_ref(field, raw).is_some(),
    };
    if !typed {
        return None;
    }
    let vals = values(i, field);
    if is_multi(field) && op == "ne" {
        return Some(
            !vals
                .iter()
                .flatten()
                .any(|v| test_one("eq", v, raw, field) == Some(true)),
        );
    }
    Some(vals.iter().any(|v| match v {
        None => op == "ne",
        Some(v) => test_one(op, v, raw, field) == Some(true),
    }))
}

const FIELDS: [&str; 13] = [
    "id",
    "name",
    "provider",
    "description",
    "size_bytes",
    "status",
    "kind",
    "bootable",
    "created_at",
    "os.name",
    "labels.k",
    "zones.id",
    "zones.name",
];
const OPS: [&str; 8] = ["eq", "ne", "lt", "le", "gt", "ge", "like", "in"];

fn raw_value() -> impl Strategy<Value = String> {
    let one = prop_oneof![
        Just("ready".to_owned()),
        Just("failed".to_owned()),
        Just("image".to_owned()),
        Just("true".to_owned()),
        Just("false".to_owned()),
        (0u64..5).prop_map(|n| n.to_string()),
        (0u8..4).prop_map(|d| time(d).to_rfc3339()),
        (0u8..4).prop_map(|d| format!("z{d}")),
        Just("p1".to_owned()),
        Just("p2:0001".to_owned()),
        TEXT.prop_map(|s| s),
        "[aAbéÉ%_]{0,4}".prop_map(|s| s),
    ];
    prop::collection::vec(one, 1..3).prop_map(|v| v.join("|"))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn filters_agree_with_the_naive_evaluator(
        specs in prop::collection::vec(spec(), 0..40),
        filters in prop::collection::vec((0..FIELDS.len(), 0..OPS.len(), raw_value()), 1..3),
        q in proptest::option::of("[aAé]{1,2}"),
    ) {
        let items: Vec<Iso> = specs.iter().enumerate().map(|(n, s)| build(s, n)).collect();
        let mut pairs: Vec<(String, String)> = filters
            .iter()
            .map(|(f, o, raw)| ("filter".to_owned(), format!("{},{},{}", FIELDS[*f], OPS[*o], raw)))
            .collect();
        if let Some(q) = &q {
            pairs.push(("q".to_owned(), q.clone()));
        }
        let parsed = Query::parse(&pairs, &Default::default());
        for item in &items {
            let mut want = Some(true);
            for (f, o, raw) in &filters {
                // A raw value holding `;` would be split by the parser; the generator never makes one.
                want = match (want, reference(item, FIELDS[*f], OPS[*o], raw)) {
                    (Some(a), Some(b)) => Some(a && b),
                    _ => None,
                };
            }
            if let (Some(w), Some(q)) = (want, &q) {
                let hit = |s: &str| { let s: String = s.chars().map(fold).collect(); s.contains(&q.chars().map(fold).collect::<String>()) };
                want = Some(w && (hit(&item.name) || item.description.as_deref().is_some_and(hit)));
            }
            match (&parsed, want) {
                (Ok(query), Some(w)) => prop_assert_eq!(query.matches(item), w, "item {:?}", item),
                (Err(_), None) => {}
                (p, w) => prop_assert!(false, "parser said {:?}, reference said {:?}", p, w),
            }
        }
    }
}

// ---------- cursor walks ----------

const SORTABLE: [&str; 10] = [
    "name",
    "description",
    "size_bytes",
    "status",
    "bootable",
    "created_at",
    "os.name",
    "labels.k",
    "zones.id",
    "zones.name",
];

/// The reference total order: keys in turn (missing last both ways; zones by
/// their smallest value), then id ascending.
/// Random sort keys with each field once, and their `sort=` value.
fn sort_keys(mut sort: Vec<(usize, bool)>) -> (Vec<(usize, bool)>, String) {
    let mut seen_fields = HashSet::new();
    sort.retain(|(f, _)| seen_fields.insert(*f));
    let param = sort
        .iter()
        .map(|(f, desc)| format!("{},{}", SORTABLE[*f], if *desc { "desc" } else { "asc" }))
        .collect::<Vec<_>>()
        .join(";");
    (sort, param)
}

fn ref_cmp(a: &Iso, b: &Iso, sort: &[(usize, bool)]) -> Ordering {
    for (f, desc) in sort {
        let key = |i: &Iso| -> Option<V> {
            let vals = values(i, SORTABLE[*f]);
            vals.into_iter()
                .flatten()
                .min_by(|x, y| x.partial_cmp(y).unwrap())
        };
        let o = match (key(a), key(b)) {
            (None, None) => Ordering::Equal,
            (None, Some(_)) => Ordering::Greater,
            (Some(_), None) => Ordering::Less,
            (Some(x), Some(y)) => {
                let o = x.partial_cmp(&y).unwrap();
                if *desc { o.reverse() } else { o }
            }
        };
        if o != Ordering::Equal {
            return o;
        }
    }
    a.id.cmp(&b.id)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn cursor_walk_visits_each_item_once_in_order_while_the_catalogue_changes(
        initial in prop::collection::vec(spec(), 0..30),
        sort in prop::collection::vec((0..SORTABLE.len(), any::<bool>()), 0..3),
        per_page in 1u32..6,
        min_size in proptest::option::of(0u64..3),
        steps in prop::collection::vec(
            (prop::collection::vec(any::<Index>(), 0..3), prop::collection::vec(spec(), 0..3)),
            0..8,
        ),
    ) {
        let (sort, sort_param) = sort_keys(sort);
        let mut base = vec![("sort".to_owned(), sort_param), ("per_page".to_owned(), per_page.to_string())];
        if let Some(m) = min_size {
            base.push(("filter".to_owned(), format!("size_bytes,ge,{m}")));
        }
        let selected = |i: &Iso| min_size.is_none_or(|m| i.size_bytes.is_some_and(|s| s >= m));

        let codec = CursorCodec::new(b"prop key");
        let mut next_id = initial.len();
        let mut items: Vec<Iso> = initial.iter().enumerate().map(|(n, s)| build(s, n)).collect();
        let mut throughout: HashSet<String> = items.iter().map(|i| i.id.clone()).collect();
        let mut expected_when_static: Vec<Iso> = items.iter().filter(|i| selected(i)).cloned().collect();
        expected_when_static.sort_by(|a, b| ref_cmp(a, b, &sort));

        let mut walked: Vec<Iso> = Vec::new();
        let mut cursor: Option<String> = None;
        let mut mutated = false;
        for step in 0.. {
            prop_assert!(step <= 200, "the walk does not end");
            let mut pairs = base.clone();
            if let Some(c) = &cursor {
                pairs.push(("cursor".to_owned(), c.clone()));
            }
            let query = Query::parse(&pairs, &Default::default()).unwrap();
            let page = execute(&query, &items, &codec).unwrap();
            prop_assert!(page.items.len() <= per_page as usize);
            prop_assert_eq!(page.total, items.iter().filter(|i| selected(i)).count());
            walked.extend(page.items.iter().map(|i| (*i).clone()));
            cursor = page.next_cursor;
            if cursor.is_none() {
                break;
            }
            // Change the catalogue before the next request.
            if let Some((removals, inserts)) = steps.get(step) {
                for r in removals {
                    if !items.is_empty() {
                        let gone = items.remove(r.index(items.len()));
                        throughout.remove(&gone.id);
                        mutated = true;
                    }
                }
                for s in inserts {
                    items.push(build(s, next_id));
                    next_id += 1;
                    mutated = true;
                }
            }
        }

        // Strictly increasing in the total order: no repeats, no going back.
        for w in walked.windows(2) {
            prop_assert_eq!(ref_cmp(&w[0], &w[1], &sort), Ordering::Less, "{:?} then {:?}", w[0].id, w[1].id);
        }
        let walked_ids: HashSet<&str> = walked.iter().map(|i| i.id.as_str()).collect();
        for item in items.iter().filter(|i| throughout.contains(&i.id) && selected(i)) {
            prop_assert!(walked_ids.contains(item.id.as_str()), "{} was skipped", item.id);
        }
        if !mutated {
            let want: Vec<&str> = expected_when_static.iter().map(|i| i.id.as_str()).collect();
            let got: Vec<&str> = walked.iter().map(|i| i.id.as_str()).collect();
            prop_assert_eq!(got, want);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn offset_pages_concatenate_to_the_full_order(
        specs in prop::collection::vec(spec(), 0..30),
        sort in prop::collection::vec((0..SORTABLE.len(), any::<bool>()), 0..3),
        per_page in 1u32..6,
    ) {
        let (sort, sort_param) = sort_keys(sort);
        let items: Vec<Iso> = specs.iter().enumerate().map(|(n, s)| build(s, n)).collect();
        let mut want: Vec<&Iso> = items.iter().collect();
        want.sort_by(|a, b| ref_cmp(a, b, &sort));
        let codec = CursorCodec::new(b"prop key");
        let mut got: Vec<&Iso> = Vec::new();
        for page in 1.. {
            let pairs = [
                ("sort".to_owned(), sort_param.clone()),
                ("per_page".to_owned(), per_page.to_string()),
                ("page".to_owned(), page.to_string()),
            ];
            let query = Query::parse(&pairs, &Default::default()).unwrap();
            let r = execute(&query, &items, &codec).unwrap();
            prop_assert_eq!(r.page, Some(page));
            let more = r.next_cursor.is_some();
            got.extend(r.items);
            if !more {
                break;
            }
        }
        let got: Vec<&str> = got.iter().map(|i| i.id.as_str()).collect();
        let want: Vec<&str> = want.iter().map(|i| i.id.as_str()).collect();
        prop_assert_eq!(got, want);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Federation computes each provider's `top_of` as its snapshot lands
    /// and merges at the end: that must be `execute` over everything, for
    /// first pages, offset pages and cursor pages alike.
    #[test]
    fn merged_part_tops_equal_execute_over_all_items(
        specs in prop::collection::vec(spec(), 0..40),
        cuts in prop::collection::vec(any::<Index>(), 0..4),
        sort in prop::collection::vec((0..SORTABLE.len(), any::<bool>()), 0..3),
        per_page in 1u32..6,
        page in 1u32..4,
        filter in prop::option::of(spec()),
    ) {
        let (_, sort_param) = sort_keys(sort);
        let items: Vec<Iso> = specs.iter().enumerate().map(|(n, s)| build(s, n)).collect();
        let mut bounds: Vec<usize> = cuts.iter().map(|c| c.index(items.len() + 1)).collect();
        bounds.extend([0, items.len()]);
        bounds.sort_unstable();
        let parts: Vec<&[Iso]> = bounds.windows(2).map(|w| &items[w[0]..w[1]]).collect();
        let codec = CursorCodec::new(b"prop key");
        let mut pairs = vec![
            ("sort".to_owned(), sort_param),
            ("per_page".to_owned(), per_page.to_string()),
        ];
        if let Some(f) = filter {
            // A filter that keeps some items: this item's status.
            let status = build(&f, 0).status;
            pairs.push(("filter".to_owned(), format!("status,ne,{}", serde_json::to_value(status).unwrap().as_str().unwrap())));
        }
        let offset = {
            let mut p = pairs.clone();
            p.push(("page".to_owned(), page.to_string()));
            Query::parse(&p, &Default::default()).unwrap()
        };
        let first = Query::parse(&pairs, &Default::default()).unwrap();
        let mut queries = vec![offset, first.clone()];
        if let Some(cursor) = execute(&first, &items, &codec).unwrap().next_cursor {
            let mut p = pairs.clone();
            p.push(("cursor".to_owned(), cursor));
            queries.push(Query::parse(&p, &Default::default()).unwrap());
        }
        for query in &queries {
            let whole = execute(query, &items, &codec).unwrap();
            let tops: Vec<_> = parts.iter().map(|p| top_of(query, p, &codec).unwrap()).collect();
            let merged = merge(query, parts.iter().copied().zip(&tops), &codec);
            prop_assert_eq!(&merged, &whole);
        }
    }
}
