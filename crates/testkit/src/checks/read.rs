//! list#1..#6 and get#1..#3, on the seeded catalogue.

use std::collections::BTreeSet;
use std::sync::Arc;

use isogate_core::query::{CompiledFilter, Direction, Field, Filter, Op, SortKey};
use isogate_core::{ErrorKind, GlobalId, Iso, ListOptions, Operation};
use isogate_sim::Faults;

use crate::harness::{Check, CheckResult, Ctx, describe};
use crate::matcher;

pub(super) fn checks() -> Vec<Check> {
    vec![
        // Before any request: validation must not depend on a login.
        Check::new("get#3", &[Operation::Get], get_rejects_hostile_ids),
        Check::new("list#1", &[Operation::List], list_identity),
        Check::new("list#2", &[Operation::List], list_empty_is_ok),
        Check::new("list#3", &[Operation::List], list_unique),
        Check::new("list#4", &[Operation::List], list_raw),
        Check::new("list#5", &[Operation::List], list_pushdown),
        Check::new("list#6", &[Operation::List], list_not_truncated),
        Check::new(
            "get#1",
            &[Operation::List, Operation::Get],
            get_equals_listed,
        ),
        Check::new("get#2", &[Operation::Get], get_missing),
    ]
}

fn filter(field: Field, op: Op, raw: &str) -> Filter {
    Filter {
        field,
        op,
        raw: raw.to_owned(),
    }
}

fn ids(items: &[Iso]) -> BTreeSet<String> {
    items.iter().map(|i| i.native_id.clone()).collect()
}

/// At most a few of a list of problems, for a readable message.
fn problems(what: &str, list: Vec<String>) -> CheckResult {
    if list.is_empty() {
        return Ok(());
    }
    let shown: Vec<_> = list.iter().take(5).cloned().collect();
    Err(format!(
        "{what} ({} in all): {}",
        list.len(),
        shown.join("; ")
    ))
}

async fn list_identity(ctx: Arc<Ctx>) -> CheckResult {
    let listing = ctx.ok("list", ctx.provider.list(&ListOptions::default()).await)?;
    if let Some(why) = &listing.incomplete {
        return Err(format!("a healthy listing says it is incomplete: {why}"));
    }
    if listing.items.is_empty() {
        return Err("the simulator's catalogue is seeded, but the listing is empty".into());
    }
    if let Some(n) = ctx.fixtures.expected_count
        && listing.items.len() != n
    {
        return Err(format!(
            "the catalogue holds {n} items, the listing {}",
            listing.items.len()
        ));
    }
    let kind = ctx.provider.kind();
    let mut bad = Vec::new();
    for item in &listing.items {
        if item.provider != ctx.name {
            bad.push(format!(
                "{:?} has provider {:?}",
                item.native_id, item.provider
            ));
        }
        if item.provider_kind != kind {
            bad.push(format!(
                "{:?} has provider_kind {:?}",
                item.native_id, item.provider_kind
            ));
        }
        let want = GlobalId::encode(&ctx.name, &item.native_id);
        if item.id != want {
            bad.push(format!(
                "{:?} has id {:?}, expected {want:?}",
                item.native_id, item.id
            ));
        }
    }
    problems("listed items with the wrong identity", bad)
}

async fn list_empty_is_ok(ctx: Arc<Ctx>) -> CheckResult {
    if let Some(p) = ctx.fixtures.empty.clone() {
        let listing = p.list(&ListOptions::default()).await.map_err(|e| {
            ctx.observe_from(p.name(), &e);
            format!("an empty catalogue: unexpected error {}", describe(&e))
        })?;
        if !listing.items.is_empty() || listing.incomplete.is_some() {
            return Err(format!(
                "an empty catalogue listed {} items (incomplete: {:?})",
                listing.items.len(),
                listing.incomplete
            ));
        }
    }
    let opts = ListOptions {
        filters: vec![filter(
            Field::Name,
            Op::Eq,
            "isogate-conformance-no-such-item-zq9",
        )],
        ..Default::default()
    };
    let listing = ctx.ok("list matching nothing", ctx.provider.list(&opts).await)?;
    if listing.pushdown.filters.contains(&0) && !listing.items.is_empty() {
        return Err(format!(
            "a pushed-down filter matching nothing returned {} items",
            listing.items.len()
        ));
    }
    if !listing.pushdown.filters.contains(&0) && ctx.fixtures.empty.is_none() {
        ctx.note(
            "no fixtures.empty and the filter was not pushed down: only an Ok listing is asserted",
        );
    }
    Ok(())
}

async fn list_unique(ctx: Arc<Ctx>) -> CheckResult {
    let items = ctx.listing().await?;
    let mut seen = BTreeSet::new();
    let dups: Vec<String> = items
        .iter()
        .filter(|i| !seen.insert(i.native_id.clone()))
        .map(|i| format!("{:?}", i.native_id))
        .collect();
    problems("native ids listed more than once", dups)
}

async fn list_raw(ctx: Arc<Ctx>) -> CheckResult {
    let with = ListOptions {
        include_raw: true,
        ..Default::default()
    };
    let raw = ctx.ok("list with include_raw", ctx.provider.list(&with).await)?;
    let mut bad: Vec<String> = raw
        .items
        .iter()
        .filter(|i| i.raw.as_ref().is_none_or(serde_json::Value::is_null))
        .map(|i| format!("{:?} has no raw with include_raw", i.native_id))
        .collect();
    let plain = ctx.listing().await?;
    bad.extend(
        plain
            .iter()
            .filter(|i| i.raw.is_some())
            .map(|i| format!("{:?} has raw without include_raw", i.native_id)),
    );
    problems("raw presence wrong", bad)
}

/// Filters built from the catalogue itself, so they match something, over
/// the fields upstreams tend to filter on.
fn probe_filters(items: &[Iso]) -> Vec<Vec<Filter>> {
    let first = &items[0];
    let mid = &items[items.len() / 2];
    let initial: String = first.name.chars().take(1).collect();
    let absent = Field::Label("isogate_conformance_absent".into());
    let mut sets = vec![
        vec![filter(Field::Name, Op::Like, &format!("{initial}%"))],
        vec![filter(Field::Name, Op::Eq, &mid.name)],
        vec![filter(Field::Name, Op::Ne, &mid.name)],
        vec![filter(
            Field::Name,
            Op::In,
            &format!("{}|{}", first.name, mid.name),
        )],
        vec![filter(Field::NativeId, Op::Eq, &mid.native_id)],
        vec![filter(Field::Status, Op::Eq, mid.status.as_str())],
        vec![filter(absent.clone(), Op::Eq, "x")],
        vec![
            filter(Field::Name, Op::Like, &format!("%{initial}%")),
            filter(absent, Op::Ne, "x"),
        ],
    ];
    let word = mid.description.as_deref().and_then(|d| {
        d.split(|c: char| !c.is_alphanumeric())
            .find(|w| w.chars().count() >= 3)
    });
    if let Some(w) = word {
        sets.push(vec![filter(
            Field::Description,
            Op::Like,
            &format!("%{w}%"),
        )]);
    }
    if let Some(size) = mid.size_bytes {
        sets.push(vec![filter(Field::SizeBytes, Op::Ge, &size.to_string())]);
        sets.push(vec![filter(Field::SizeBytes, Op::Lt, &size.to_string())]);
    }
    if let Some(t) = mid.created_at {
        sets.push(vec![filter(Field::CreatedAt, Op::Ge, &t.to_rfc3339())]);
    }
    if let Some(name) = mid.os.as_ref().and_then(|o| o.name.as_deref()) {
        sets.push(vec![filter(Field::OsName, Op::Eq, name)]);
    }
    if let Some(b) = mid.bootable {
        sets.push(vec![filter(Field::Bootable, Op::Eq, &b.to_string())]);
    }
    if let Some(z) = mid.zones.first() {
        sets.push(vec![filter(Field::ZoneId, Op::Eq, &z.id)]);
    }
    // `in` values are `|`-separated: a name holding one cannot be probed.
    sets.retain(|s| {
        !s.iter()
            .any(|f| f.op == Op::In && f.raw.matches('|').count() != 1)
    });
    sets
}

fn local(items: &[Iso], filters: &[CompiledFilter]) -> BTreeSet<String> {
    items
        .iter()
        .filter(|i| matcher::matches_all(i, filters))
        .map(|i| i.native_id.clone())
        .collect()
}

async fn list_pushdown(ctx: Arc<Ctx>) -> CheckResult {
    let full = ctx.listing().await?;
    if full.is_empty() {
        return Err("the listing is empty: nothing to filter".into());
    }
    let mut bad = Vec::new();
    let mut pushed_any = false;
    for filters in probe_filters(&full) {
        let shown: Vec<String> = filters
            .iter()
            .map(|f| format!("{},{},{}", f.field.name(), f.op.name(), f.raw))
            .collect();
        let shown = shown.join(";");
        let Some(all) = matcher::compile(&filters.iter().collect::<Vec<_>>()) else {
            ctx.note(format!(
                "filter={shown} does not type-check locally; not probed"
            ));
            continue;
        };
        let opts = ListOptions {
            filters: filters.clone(),
            ..Default::default()
        };
        let listing = ctx.ok(
            &format!("list filter={shown}"),
            ctx.provider.list(&opts).await,
        )?;
        if let Some(i) = listing
            .pushdown
            .filters
            .iter()
            .find(|&&i| i >= filters.len())
        {
            bad.push(format!(
                "filter={shown}: pushdown names filter {i}, which was not asked"
            ));
            continue;
        }
        pushed_any |= !listing.pushdown.filters.is_empty();
        let pushed: Vec<_> = listing
            .pushdown
            .filters
            .iter()
            .map(|&i| all[i].clone())
            .collect();
        let stray: Vec<&str> = listing
            .items
            .iter()
            .filter(|i| !matcher::matches_all(i, &pushed))
            .map(|i| i.native_id.as_str())
            .take(5)
            .collect();
        if !stray.is_empty() {
            bad.push(format!(
                "filter={shown}: items {stray:?} do not match the filters reported pushed down"
            ));
        }
        let want = local(&full, &all);
        let got = local(&listing.items, &all);
        if want != got {
            let missing: Vec<_> = want.difference(&got).take(5).collect();
            let extra: Vec<_> = got.difference(&want).take(5).collect();
            bad.push(format!(
                "filter={shown} (pushed {:?}): answer differs from filtering locally; missing {missing:?}, extra {extra:?}",
                listing.pushdown.filters
            ));
        }
    }
    if !pushed_any && ctx.cap.filter_pushdown {
        ctx.note("the capability says filter_pushdown, but no probe filter was pushed down");
    }
    let sorted = ListOptions {
        sort: vec![SortKey {
            field: Field::Name,
            direction: Direction::Asc,
        }],
        ..Default::default()
    };
    let listing = ctx.ok("list sort=name,asc", ctx.provider.list(&sorted).await)?;
    if listing.pushdown.sorted
        && let Some(w) = listing.items.windows(2).find(|w| w[0].name > w[1].name)
    {
        bad.push(format!(
            "sort=name,asc reported sorted, but {:?} comes before {:?} (byte order)",
            w[0].name, w[1].name
        ));
    }
    if ids(&listing.items) != ids(&full) {
        bad.push("sort=name,asc changed which items are listed".into());
    }
    problems("pushdown disagrees with local evaluation", bad)
}

async fn list_not_truncated(ctx: Arc<Ctx>) -> CheckResult {
    let full = ids(&ctx.listing().await?);
    // From a fresh spread, the first request passes and the second fails,
    // which cuts a multi-request walk in the middle.
    ctx.control.reset_counters();
    ctx.control.set_faults(Faults {
        error_rate: 0.5,
        ..Default::default()
    });
    let r = ctx.provider.list(&ListOptions::default()).await;
    ctx.control.heal();
    match r {
        Err(e) => {
            ctx.observe(&e);
            Ok(())
        }
        Ok(l) if l.incomplete.is_some() => Ok(()),
        Ok(l) => {
            let got = ids(&l.items);
            if got == full {
                Ok(())
            } else {
                Err(format!(
                    "with every second request failing, a listing of {} items (of {}) came back Ok without `incomplete`",
                    got.len(),
                    full.len()
                ))
            }
        }
    }
}

/// The first, middle and last items.
fn samples(items: &[Iso]) -> Vec<&Iso> {
    let mut picks: Vec<&Iso> = Vec::new();
    for i in [0, items.len() / 2, items.len().saturating_sub(1)] {
        if let Some(item) = items.get(i)
            && !picks.iter().any(|p| p.native_id == item.native_id)
        {
            picks.push(item);
        }
    }
    picks
}

/// The fields in which two items differ, for a message.
fn diff(a: &Iso, b: &Iso) -> Vec<String> {
    let (Ok(serde_json::Value::Object(a)), Ok(serde_json::Value::Object(b))) =
        (serde_json::to_value(a), serde_json::to_value(b))
    else {
        return vec!["(unserialisable)".into()];
    };
    a.iter()
        .filter(|(k, v)| b.get(*k) != Some(v))
        .map(|(k, v)| {
            format!(
                "{k}: listed {v}, got {}",
                b.get(k).cloned().unwrap_or_default()
            )
        })
        .collect()
}

async fn get_equals_listed(ctx: Arc<Ctx>) -> CheckResult {
    let items = ctx.listing().await?;
    if items.is_empty() {
        return Err("the listing is empty: nothing to get".into());
    }
    let mut bad = Vec::new();
    for listed in samples(&items) {
        let got = ctx.ok(
            &format!("get {:?}", listed.native_id),
            ctx.provider.get(&listed.native_id, false).await,
        )?;
        let mut a = listed.clone();
        let mut b = got;
        a.raw = None;
        b.raw = None;
        if a != b {
            bad.push(format!(
                "{:?}: {}",
                listed.native_id,
                diff(&a, &b).join(", ")
            ));
        }
    }
    problems("get differs from the listing", bad)
}

async fn get_missing(ctx: Arc<Ctx>) -> CheckResult {
    let missing = ctx.fixtures.missing_id.clone();
    if missing.is_empty() {
        return Err(
            "fixtures.missing_id must be set to a well-formed id that is not listed".into(),
        );
    }
    ctx.err_of(
        &format!("get {missing:?}"),
        ctx.provider.get(&missing, false).await,
        ErrorKind::NotFound,
    )?;
    Ok(())
}

async fn get_rejects_hostile_ids(ctx: Arc<Ctx>) -> CheckResult {
    let mut bad = Vec::new();
    for id in ["", ".", "..", "a/../b", "a//b", "a\u{0}b", "a\nb"] {
        let before = ctx.control.total();
        let r = ctx.provider.get(id, false).await;
        let sent = ctx.control.total() - before;
        if let Err(msg) = ctx.err_of(&format!("get {id:?}"), r, ErrorKind::InvalidInput) {
            bad.push(msg);
        }
        if sent != 0 {
            bad.push(format!("get {id:?} sent {sent} request(s)"));
        }
    }
    problems("hostile ids not rejected locally", bad)
}
