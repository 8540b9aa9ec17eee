//! Pushdown is invisible: on many random queries, what the provider returns
//! (with the filters it did not push applied locally, and sorted locally
//! unless it says `sorted`) equals the same query evaluated locally on the
//! full listing, with the core evaluator.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};

use chrono::{Duration, SecondsFormat};
use isogate_core::query::{CompiledFilter, Direction, Field, Filter, Op, SortKey, Sorter};
use isogate_core::{Iso, IsoProvider, ListOptions};
use isogate_sim::vss::Options;
use isogate_vss::Catalogue;
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestRng, TestRunner};

const FIELDS: [&str; 8] = [
    "name",
    "labels.path",
    "labels.data_store",
    "created_at",
    "updated_at",
    "native_id",
    "visibility",
    "labels.catalogue",
];
const OPS: [Op; 8] = [
    Op::Eq,
    Op::Ne,
    Op::Lt,
    Op::Le,
    Op::Gt,
    Op::Ge,
    Op::Like,
    Op::In,
];

fn text_of(item: &Iso, field: &str) -> Option<String> {
    match field {
        "name" => Some(item.name.clone()),
        "native_id" => Some(item.native_id.clone()),
        "visibility" => Some(item.visibility.as_str().to_owned()),
        f => item
            .labels
            .get(f.strip_prefix("labels.")?)
            .map(str::to_owned),
    }
}

fn time_of(item: &Iso, field: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    if field == "created_at" {
        item.created_at
    } else {
        item.updated_at
    }
}

#[derive(Clone, Debug)]
struct Seed {
    field: usize,
    op: usize,
    at: Index,
    other: Index,
    variant: u8,
    delta_s: i64,
    noise: String,
}

fn raw_value(full: &[Iso], s: &Seed) -> String {
    let field = FIELDS[s.field];
    let op = OPS[s.op];
    let item = s.at.get(full);
    let other = s.other.get(full);
    if field.ends_with("_at") {
        let t = time_of(item, field).unwrap_or_default();
        let render = |t: chrono::DateTime<chrono::Utc>| match s.variant {
            0 => t.to_rfc3339_opts(SecondsFormat::Secs, true),
            1 => t.format("%Y-%m-%d").to_string(),
            2 => format!(
                "{} EST",
                (t - Duration::hours(5)).format("%Y-%m-%d %H:%M:%S")
            ),
            _ => t.to_rfc3339(),
        };
        let shifted = if s.variant == 3 {
            t
        } else {
            t + Duration::seconds(s.delta_s)
        };
        return match op {
            Op::In => format!(
                "{}|{}",
                render(shifted),
                render(time_of(other, field).unwrap_or_default())
            ),
            _ => render(shifted),
        };
    }
    let base = text_of(item, field).unwrap_or_else(|| s.noise.clone());
    let half: String = base.chars().take(base.chars().count() / 2).collect();
    match op {
        Op::Like => match s.variant {
            0 => format!("{half}%"),
            1 => format!("%{}", base[half.len()..].to_uppercase()),
            2 => s.noise.clone(),
            _ => format!("_{}", base.chars().skip(1).collect::<String>()),
        },
        Op::In => {
            let second = match s.variant {
                0 | 1 => text_of(other, field).unwrap_or_default(),
                _ => s.noise.clone(),
            };
            format!("{base}|{second}")
        }
        _ => match s.variant {
            0 | 3 => base,
            1 => base.to_uppercase(),
            _ => s.noise.clone(),
        },
    }
}

fn seed() -> impl Strategy<Value = Seed> {
    (
        0..FIELDS.len(),
        0..OPS.len(),
        any::<Index>(),
        any::<Index>(),
        0..4u8,
        -200_000i64..200_000,
        "[a-zA-Z0-9 ,;%_.-]{0,6}",
    )
        .prop_map(|(field, op, at, other, variant, delta_s, noise)| Seed {
            field,
            op,
            at,
            other,
            variant,
            delta_s,
            noise,
        })
}

fn local(full: &[Iso], filters: &[CompiledFilter], sort: &[SortKey]) -> Vec<String> {
    let mut items: Vec<&Iso> = full
        .iter()
        .filter(|i| filters.iter().all(|f| f.matches(i)))
        .collect();
    let sorter = Sorter::new(sort);
    items.sort_by(|a, b| sorter.cmp(a, b));
    items.iter().map(|i| i.id.clone()).collect()
}

#[test]
fn pushed_down_queries_equal_local_evaluation() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let s = rt.block_on(common::setup(Options::default(), Catalogue::Both));
    let full = rt
        .block_on(s.provider.list(&ListOptions::default()))
        .unwrap()
        .items;
    assert_eq!(full.len(), 242);
    let pushed_filters = AtomicUsize::new(0);
    let pushed_cases = AtomicUsize::new(0);
    let sorted_cases = AtomicUsize::new(0);
    let cases = AtomicUsize::new(0);
    let strategy = (
        prop::collection::vec(seed(), 0..4),
        prop::collection::vec((0..5usize, any::<bool>()), 0..3),
    );
    // A fixed seed: the "pushdown was exercised" floor below is then a fact
    // about these 96 queries, not a coin toss (date filters are never pushed,
    // which made the random floor fail now and then).
    let mut runner = TestRunner::new_with_rng(
        Config {
            cases: 96,
            failure_persistence: None,
            ..Config::default()
        },
        TestRng::deterministic_rng(RngAlgorithm::ChaCha),
    );
    runner
        .run(&strategy, |(seeds, sorts)| {
            let mut filters = Vec::new();
            let mut compiled = Vec::new();
            for sd in &seeds {
                let f = Filter {
                    field: Field::from_name(FIELDS[sd.field]).unwrap(),
                    op: OPS[sd.op],
                    raw: raw_value(&full, sd),
                };
                // The gateway's parser would have refused what does not compile.
                let Ok(c) = CompiledFilter::new(f.clone()) else {
                    continue;
                };
                filters.push(f);
                compiled.push(c);
            }
            let sort: Vec<SortKey> = sorts
                .iter()
                .map(|(i, desc)| SortKey {
                    field: Field::from_name(FIELDS[*i]).unwrap(),
                    direction: if *desc {
                        Direction::Desc
                    } else {
                        Direction::Asc
                    },
                })
                .collect();
            let opts = ListOptions {
                filters: filters.clone(),
                sort: sort.clone(),
                include_raw: false,
            };
            let listing = rt
                .block_on(s.provider.list(&opts))
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert!(listing.incomplete.is_none());
            let pushed = &listing.pushdown.filters;
            prop_assert!(pushed.iter().all(|i| *i < filters.len()));
            let rest: Vec<CompiledFilter> = compiled
                .iter()
                .enumerate()
                .filter(|(i, _)| !pushed.contains(i))
                .map(|(_, c)| c.clone())
                .collect();
            let got: Vec<String> = if listing.pushdown.sorted {
                listing
                    .items
                    .iter()
                    .filter(|i| rest.iter().all(|f| f.matches(i)))
                    .map(|i| i.id.clone())
                    .collect()
            } else {
                let mut items: Vec<Iso> = listing.items.clone();
                items.retain(|i| rest.iter().all(|f| f.matches(i)));
                local(&items, &[], &sort)
            };
            let want = local(&full, &compiled, &sort);
            prop_assert_eq!(
                got,
                want,
                "filters {:?} sort {:?} pushed {:?}",
                filters,
                sort,
                pushed
            );
            cases.fetch_add(1, Ordering::Relaxed);
            pushed_filters.fetch_add(pushed.len(), Ordering::Relaxed);
            if !pushed.is_empty() {
                pushed_cases.fetch_add(1, Ordering::Relaxed);
            }
            if listing.pushdown.sorted {
                sorted_cases.fetch_add(1, Ordering::Relaxed);
            }
            Ok(())
        })
        .unwrap();
    let (n, pf, pc, sc) = (
        cases.load(Ordering::Relaxed),
        pushed_filters.load(Ordering::Relaxed),
        pushed_cases.load(Ordering::Relaxed),
        sorted_cases.load(Ordering::Relaxed),
    );
    eprintln!("{n} queries: {pf} filters pushed in {pc} queries, {sc} sorted upstream");
    assert!(pc >= 5, "pushdown was exercised: {pc} of {n}");
    assert!(sc >= 10, "sort pushdown was exercised: {sc} of {n}");
}

/// VSS compares `created_on`/`updated_on` on its string form
/// (`2020-04-21 Tue 02:10:03 EDT`, old rows `2017-03-13 15:24:44 EDT`), so
/// date filters are never pushed: each one returns what the same filter
/// gives locally over the full listing, where every date parsed.
#[test]
fn date_filters_equal_local_evaluation_and_are_never_pushed() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let s = rt.block_on(common::setup(Options::default(), Catalogue::Both));
    let full = rt
        .block_on(s.provider.list(&ListOptions {
            include_raw: true,
            ..Default::default()
        }))
        .unwrap()
        .items;
    assert_eq!(full.len(), 242);
    let forms: std::collections::BTreeSet<usize> = full
        .iter()
        .filter_map(|i| {
            i.raw.as_ref()?["created_on"]
                .as_str()
                .map(|t| t.split(' ').count())
        })
        .collect();
    assert_eq!(
        forms,
        [3, 4].into(),
        "both the old and the weekday form are listed"
    );
    for i in &full {
        assert!(
            i.created_at.is_some() && i.updated_at.is_some(),
            "{} has a date that did not parse: {:?}",
            i.id,
            i.labels
        );
    }
    let pivot = &full[77];
    let t = pivot.created_at.unwrap();
    let values = [
        t.to_rfc3339_opts(SecondsFormat::Secs, true),
        t.format("%Y-%m-%d").to_string(),
        format!(
            "{} EST",
            (t - Duration::hours(5)).format("%Y-%m-%d %H:%M:%S")
        ),
    ];
    let mut nonempty = 0;
    for field in ["created_at", "updated_at"] {
        for op in [Op::Eq, Op::Ne, Op::Lt, Op::Le, Op::Gt, Op::Ge] {
            for v in &values {
                let f = Filter {
                    field: Field::from_name(field).unwrap(),
                    op,
                    raw: v.clone(),
                };
                let compiled = CompiledFilter::new(f.clone()).unwrap();
                let listing = rt
                    .block_on(s.provider.list(&ListOptions {
                        filters: vec![f.clone()],
                        ..Default::default()
                    }))
                    .unwrap();
                assert!(listing.pushdown.filters.is_empty(), "{f:?} was pushed");
                let got: Vec<String> = listing
                    .items
                    .iter()
                    .filter(|i| compiled.matches(i))
                    .map(|i| i.id.clone())
                    .collect();
                let want: Vec<String> = full
                    .iter()
                    .filter(|i| compiled.matches(i))
                    .map(|i| i.id.clone())
                    .collect();
                assert_eq!(got, want, "{f:?}");
                if !want.is_empty() {
                    nonempty += 1;
                }
            }
        }
    }
    assert!(nonempty >= 20, "the filters selected something: {nonempty}");
}

/// The embedded demo runs this simulator with a configured seed and scale:
/// whatever they are, no VSS item has a null date.
#[test]
fn every_date_parses_whatever_the_seed_and_scale() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    for (seed, scale) in [(1, None), (42, Some(700)), (2026, Some(30))] {
        let s = rt.block_on(common::setup(
            Options {
                seed,
                scale,
                ..Default::default()
            },
            Catalogue::Both,
        ));
        let items = rt
            .block_on(s.provider.list(&ListOptions::default()))
            .unwrap()
            .items;
        assert_eq!(items.len(), scale.unwrap_or(230) + 12, "seed {seed}");
        let nulls: Vec<&str> = items
            .iter()
            .filter(|i| i.created_at.is_none() || i.updated_at.is_none())
            .map(|i| i.id.as_str())
            .collect();
        assert!(nulls.is_empty(), "seed {seed}: null dates on {nulls:?}");
    }
}
