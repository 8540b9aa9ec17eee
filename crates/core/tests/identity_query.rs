//! The recognised fields in the query language (filter, sort, `fields=`), and
//! grouping and coverage over recognised items.

use isogate_core::identity::{Cell, coverage, coverage_csv, group, recognise};
use isogate_core::query::{Field, Query};
use isogate_core::{Iso, ItemKind, ProviderKind};

fn item(provider: &str, native: &str, name: &str, size: Option<u64>) -> Iso {
    let mut i = Iso::new(provider, ProviderKind::Vss, ItemKind::Iso, native, name);
    i.size_bytes = size;
    recognise(&mut i);
    i
}

fn catalogue() -> Vec<Iso> {
    vec![
        item(
            "vss",
            "1",
            "[vss-ISOs] Linux/Rocky/Rocky-9.4-x86_64-dvd.iso",
            Some(100),
        ),
        item("cloudmc", "a", "Rocky-9.4-x86_64-dvd", Some(100)),
        item("action", "x", "rocky-9.4-x86_64-dvd.iso", Some(120)),
        item("vss", "2", "ubuntu-24.04.1-live-server-amd64.iso", Some(7)),
        item("cloudmc", "b", "ubuntu-24.04.1-live-server-amd64", None),
        item("cloudmc", "c", "debian-12.7.0-arm64-netinst.iso", Some(5)),
        item("action", "y", "my-custom-build.iso", Some(1)),
    ]
}

fn q(pairs: &[(&str, &str)]) -> Query {
    Query::parse(pairs, &Default::default()).unwrap()
}

#[test]
fn the_fields_are_named_in_the_field_table() {
    for name in ["os.family", "os.version", "arch", "edition"] {
        let f = Field::from_name(name).unwrap();
        assert_eq!(f.name(), name);
        assert!(Field::NAMES.contains(&name));
    }
}

#[test]
fn filters_on_recognised_fields() {
    let items = catalogue();
    let count = |f: &str| {
        items
            .iter()
            .filter(|i| q(&[("filter", f)]).matches(i))
            .count()
    };
    assert_eq!(count("os.family,eq,rocky"), 3);
    assert_eq!(count("os.family,in,ubuntu|debian"), 3);
    assert_eq!(count("os.version,eq,9.4;arch,eq,x86_64;edition,eq,dvd"), 3);
    assert_eq!(count("arch,eq,aarch64"), 1);
    assert_eq!(count("edition,like,live%"), 2);
    // Unknown is null: only `ne` matches it.
    assert_eq!(count("os.family,ne,rocky"), 4);
    assert_eq!(count("edition,eq,"), 0);
}

#[test]
fn sorts_on_recognised_fields_with_nulls_in_one_place() {
    let items = catalogue();
    let query = q(&[("sort", "os.family;os.version;id")]);
    let mut refs: Vec<&Iso> = items.iter().collect();
    query.sort_items(&mut refs);
    let fams: Vec<Option<&str>> = refs
        .iter()
        .map(|i| i.os.as_ref().and_then(|o| o.family.as_deref()))
        .collect();
    let known: Vec<&str> = fams.iter().flatten().copied().collect();
    let mut sorted = known.clone();
    sorted.sort();
    assert_eq!(known, sorted);
    assert_eq!(fams.iter().filter(|f| f.is_none()).count(), 1);
}

#[test]
fn fields_projection_shows_them() {
    let items = catalogue();
    let query = q(&[("fields", "arch,edition,os,identity_evidence")]);
    let v = serde_json::to_value(query.view(&items[0])).unwrap();
    assert_eq!(v["arch"], "x86_64");
    assert_eq!(v["edition"], "dvd");
    assert_eq!(v["os"]["family"], "rocky");
    assert_eq!(v["identity_evidence"][0]["field"], "name");
    // No evidence: no key, like `raw`.
    let v = serde_json::to_value(query.view(&items[6])).unwrap();
    assert!(v.get("identity_evidence").is_none());
    assert_eq!(v["arch"], serde_json::Value::Null);
}

#[test]
fn groups_one_row_per_identity_and_flag_different_builds() {
    let items = catalogue();
    let groups = group(&items);
    assert_eq!(groups.len(), 3, "the unrecognised item is in no group");
    let rocky = groups
        .iter()
        .find(|g| g.identity.family == "rocky")
        .unwrap();
    assert_eq!(rocky.providers, ["action", "cloudmc", "vss"]);
    assert_eq!(rocky.items.len(), 3);
    assert_eq!(rocky.sizes, [100, 120]);
    assert!(!rocky.consistent);
    assert_eq!(rocky.reference_size(), Some(100));
    let ubuntu = groups
        .iter()
        .find(|g| g.identity.family == "ubuntu")
        .unwrap();
    assert!(ubuntu.consistent, "an unknown size is no difference");
    let json = serde_json::to_value(rocky).unwrap();
    assert_eq!(json["family"], "rocky");
    assert_eq!(json["version"], "9.4");
    assert_eq!(json["consistent"], false);
    assert_eq!(json["items"][0]["id"], "action:x");
}

#[test]
fn coverage_cells_and_csv() {
    let items = catalogue();
    let groups = group(&items);
    let providers: Vec<String> = ["vss", "cloudmc", "action"].map(String::from).into();
    let cov = coverage(&groups, &providers);
    let row = |f: &str| cov.rows.iter().find(|r| r.identity.family == f).unwrap();
    let rocky = row("rocky");
    assert_eq!(rocky.cells["vss"], Cell::Present);
    assert_eq!(rocky.cells["cloudmc"], Cell::Present);
    assert_eq!(rocky.cells["action"], Cell::Different);
    let debian = row("debian");
    assert_eq!(debian.cells["vss"], Cell::Absent);
    assert_eq!(debian.cells["cloudmc"], Cell::Present);
    assert_eq!(row("ubuntu").cells["cloudmc"], Cell::Present);
    let csv = coverage_csv(&cov);
    let lines: Vec<&str> = csv.split("\r\n").collect();
    assert_eq!(lines[0], "family,version,arch,edition,vss,cloudmc,action");
    assert!(
        lines.contains(&"rocky,9.4,x86_64,dvd,present,present,different"),
        "{csv}"
    );
    assert!(
        lines.contains(&"debian,12.7.0,aarch64,netinst,absent,present,absent"),
        "{csv}"
    );
    assert_eq!(lines.len(), 5, "header, 3 rows, trailing empty: {csv}");
    let json = serde_json::to_value(&cov).unwrap();
    assert_eq!(json["rows"][0]["cells"]["vss"], "absent");
}

#[test]
fn csv_quotes_what_needs_quoting() {
    let mut i = Iso::new(
        "a,b",
        ProviderKind::Vss,
        ItemKind::Iso,
        "1",
        "Windows Server 2012 R2",
    );
    recognise(&mut i);
    let groups = group([&i]);
    let csv = coverage_csv(&coverage(&groups, &["a,b".to_owned()]));
    assert_eq!(
        csv,
        "family,version,arch,edition,\"a,b\"\r\nwindows-server,2012 R2,,,present\r\n"
    );
}
