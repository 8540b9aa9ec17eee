//! The evaluator: every operator on every type of field, missing values,
//! multi-valued zones, labels, `q`, `provider` and `kind`.

use chrono::{TimeZone, Utc};
use isogate_core::query::{Matcher, Query};
use isogate_core::{Iso, ItemKind, OsRef, ProviderKind, Status, Visibility, ZoneRef};

fn full() -> Iso {
    let mut i = Iso::new(
        "vss-prod",
        ProviderKind::Vss,
        ItemKind::Iso,
        "42",
        "Ubuntu-22.04",
    );
    i.description = Some("Jammy Jellyfish, server".into());
    i.size_bytes = Some(1_000);
    i.status = Status::Ready;
    i.bootable = Some(true);
    i.visibility = Visibility::Private;
    i.os = Some(OsRef {
        id: Some("os-1".into()),
        name: Some("Ubuntu Linux (64-bit)".into()),
        ..Default::default()
    });
    i.arch_bits = Some(64);
    i.zones = vec![
        ZoneRef {
            id: "z-east".into(),
            name: Some("East".into()),
        },
        ZoneRef {
            id: "z-west".into(),
            name: None,
        },
    ];
    i.owner = Some("alice".into());
    i.extractable = Some(false);
    i.created_at = Some(Utc.with_ymd_and_hms(2024, 1, 15, 10, 30, 0).unwrap());
    i.labels.insert("family".into(), "ubuntu".into());
    i
}

fn empty() -> Iso {
    Iso::new("cox-a", ProviderKind::Cox, ItemKind::Image, "x/y", "bare")
}

fn m(filter: &str, item: &Iso) -> bool {
    let q = Query::parse(&[("filter", filter)], &Default::default())
        .unwrap_or_else(|e| panic!("{filter}: {e}"));
    q.matches(item)
}

/// Asserts each (filter, expected) on `item`.
fn table(item: &Iso, cases: &[(&str, bool)]) {
    for (f, want) in cases {
        assert_eq!(m(f, item), *want, "{f}");
    }
}

#[test]
fn numbers() {
    table(
        &full(),
        &[
            ("size_bytes,eq,1000", true),
            ("size_bytes,eq,999", false),
            ("size_bytes,ne,999", true),
            ("size_bytes,ne,1000", false),
            ("size_bytes,lt,1001", true),
            ("size_bytes,lt,1000", false),
            ("size_bytes,le,1000", true),
            ("size_bytes,le,999", false),
            ("size_bytes,gt,999", true),
            ("size_bytes,gt,1000", false),
            ("size_bytes,ge,1000", true),
            ("size_bytes,ge,1001", false),
            ("size_bytes,in,5|1000", true),
            ("size_bytes,in,5|6", false),
            // Numeric, not textual, order: 64 < 128 although "64" > "128".
            ("arch_bits,lt,128", true),
            ("arch_bits,gt,9", true),
        ],
    );
}

#[test]
fn text_is_exact_and_byte_ordered_like_is_case_insensitive() {
    table(
        &full(),
        &[
            ("name,eq,Ubuntu-22.04", true),
            ("name,eq,ubuntu-22.04", false),
            ("name,ne,ubuntu-22.04", true),
            ("name,lt,Ubuntu-3", true),
            ("name,lt,Ubuntu-22.04", false),
            ("name,le,Ubuntu-22.04", true),
            ("name,gt,U", true),
            ("name,gt,u", false), // 'U' < 'u' in byte order
            ("name,ge,Ubuntu-22.04", true),
            ("name,like,ubuntu%", true),
            ("name,like,UBUNTU-__.04", true),
            ("name,like,ubuntu-_.04", false),
            ("name,like,%22%", true),
            ("name,like,debian%", false),
            ("name,in,Debian|Ubuntu-22.04", true),
            ("name,in,Debian|ubuntu-22.04", false),
            ("description,eq,Jammy Jellyfish, server", true),
            ("os.name,like,%linux%", true),
            ("os.id,eq,os-1", true),
            ("owner,eq,alice", true),
            ("provider,eq,vss-prod", true),
            ("native_id,eq,42", true),
            ("id,eq,vss-prod:42", true),
        ],
    );
}

#[test]
fn booleans() {
    table(
        &full(),
        &[
            ("bootable,eq,true", true),
            ("bootable,eq,false", false),
            ("bootable,ne,false", true),
            ("extractable,eq,false", true),
            ("extractable,lt,true", true), // false < true
            ("bootable,gt,false", true),
            ("bootable,le,false", false),
            ("bootable,ge,true", true),
            ("bootable,in,false|true", true),
        ],
    );
}

#[test]
fn timestamps_compare_in_time_whatever_the_spelling() {
    table(
        &full(),
        &[
            ("created_at,eq,2024-01-15T10:30:00Z", true),
            ("created_at,eq,2024-01-15T05:30:00-05:00", true),
            ("created_at,eq,2024-01-15 5:30:00 AM EST", true),
            ("created_at,ne,2024-01-15T10:30:00Z", false),
            ("created_at,gt,2024-01-15", true),
            ("created_at,lt,2024-01-16", true),
            ("created_at,le,2024-01-15T10:30:00Z", true),
            ("created_at,ge,2024-01-15T10:30:01Z", false),
            ("created_at,in,2020-01-01|2024-01-15 10:30:00", true),
        ],
    );
}

#[test]
fn enums_compare_by_their_names() {
    table(
        &full(),
        &[
            ("status,eq,ready", true),
            ("status,ne,ready", false),
            ("status,in,failed|ready", true),
            ("status,like,REA%", true),
            ("status,lt,unknown", true), // "ready" < "unknown"
            ("status,gt,failed", true),
            ("kind,eq,iso", true),
            ("visibility,eq,private", true),
            ("visibility,ge,public", false),
            ("provider_kind,eq,vss", true),
            ("provider_kind,le,action", false),
        ],
    );
}

#[test]
fn missing_values_fail_everything_but_ne() {
    let item = empty();
    for f in [
        "description",
        "size_bytes",
        "bootable",
        "os.id",
        "os.name",
        "arch_bits",
        "zones.id",
        "zones.name",
        "owner",
        "extractable",
        "created_at",
        "updated_at",
        "labels.family",
    ] {
        let v = match f {
            "size_bytes" | "arch_bits" => "1",
            "bootable" | "extractable" => "true",
            "created_at" | "updated_at" => "2024-01-01",
            _ => "x",
        };
        for op in ["eq", "lt", "le", "gt", "ge", "in"] {
            assert!(!m(&format!("{f},{op},{v}"), &item), "{f},{op}");
        }
        assert!(m(&format!("{f},ne,{v}"), &item), "{f},ne");
        if !matches!(
            f,
            "size_bytes" | "arch_bits" | "bootable" | "extractable" | "created_at" | "updated_at"
        ) {
            assert!(!m(&format!("{f},like,%"), &item), "{f},like");
        }
    }
}

#[test]
fn zones_match_when_any_zone_does_and_ne_when_none_does() {
    table(
        &full(),
        &[
            ("zones.id,eq,z-west", true),
            ("zones.id,eq,z-north", false),
            ("zones.id,ne,z-west", false),
            ("zones.id,ne,z-north", true),
            ("zones.id,like,%WEST", true),
            ("zones.id,in,a|z-east", true),
            ("zones.id,lt,z-f", true), // z-east
            ("zones.id,gt,z-v", true), // z-west
            ("zones.id,gt,z-x", false),
            ("zones.name,eq,East", true),
            ("zones.name,ne,East", false),
            ("zones.name,ne,West", true), // the nameless zone is never equal
            ("zones.name,like,e%", true),
        ],
    );
}

#[test]
fn labels_by_key() {
    table(
        &full(),
        &[
            ("labels.family,eq,ubuntu", true),
            ("labels.family,like,UB%", true),
            ("labels.family,ne,debian", true),
            ("labels.tag,eq,ubuntu", false),
            ("labels.tag,ne,ubuntu", true),
        ],
    );
}

#[test]
fn filters_are_anded() {
    let item = full();
    assert!(m("name,like,ubuntu%;size_bytes,gt,10", &item));
    assert!(!m("name,like,ubuntu%;size_bytes,gt,1000", &item));
}

#[test]
fn q_provider_and_kind() {
    let item = full();
    let q = |s: &str| Query::from_query_string(s).unwrap().matches(&item);
    assert!(q("q=JELLY"));
    assert!(q("q=ubuntu-22"));
    assert!(!q("q=debian"));
    assert!(q("provider=cox-a,vss-prod"));
    assert!(!q("provider=cox-a"));
    assert!(q("kind=iso"));
    assert!(!q("kind=image"));
    assert!(!q("kind=iso&q=nope"));
    // No description: `q` looks at the name only.
    assert!(!Query::from_query_string("q=x").unwrap().matches(&empty()));
    assert!(Query::from_query_string("q=AR").unwrap().matches(&empty()));
}

#[test]
fn hand_edited_filters_are_retyped() {
    let item = full();
    let mut q = Query::from_query_string("filter=size_bytes,gt,1").unwrap();
    assert!(q.matches(&item));
    q.filters[0].raw = "5000".into();
    assert!(!q.matches(&item), "a stale compiled value must not be used");
    q.filters[0].raw = "lots".into();
    assert!(!q.matches(&item));
    let e = Matcher::new(&q).unwrap_err();
    // Same length, same set of filters, other multiset: still re-typed.
    let mut q2 =
        Query::from_query_string("filter=size_bytes,gt,5000;name,eq,Ubuntu-22.04").unwrap();
    assert!(!q2.matches(&item));
    q2.filters[0] = q2.filters[1].clone();
    assert!(q2.matches(&item));
    assert_eq!(e.param, "filter");
    assert!(q.compile().is_err());
}
