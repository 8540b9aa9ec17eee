//! Ordering, paging, cursors and projection.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use isogate_core::query::{CursorCodec, Query, execute, project};
use isogate_core::{Iso, ItemKind, ProviderKind};

fn item(native: &str, name: &str, size: Option<u64>) -> Iso {
    let mut i = Iso::new("p", ProviderKind::Vss, ItemKind::Iso, native, name);
    i.size_bytes = size;
    i
}

fn catalogue() -> Vec<Iso> {
    vec![
        item("1", "b", Some(30)),
        item("2", "a", None),
        item("3", "c", Some(10)),
        item("4", "a", Some(20)),
        item("5", "B", Some(10)),
    ]
}

fn codec() -> CursorCodec {
    CursorCodec::new(b"test key, not a secret")
}

fn ids(q: &str, items: &[Iso]) -> Vec<String> {
    let q = Query::from_query_string(q).unwrap();
    execute(&q, items, &codec())
        .unwrap()
        .items
        .iter()
        .map(|i| i.native_id.clone())
        .collect()
}

#[test]
fn sort_is_total_with_missing_values_last_both_ways() {
    let c = catalogue();
    assert_eq!(ids("sort=size_bytes", &c), ["3", "5", "4", "1", "2"]);
    assert_eq!(ids("sort=size_bytes,desc", &c), ["1", "4", "3", "5", "2"]);
    // Byte order: "B" < "a"; the id breaks ties between the two "a".
    assert_eq!(ids("sort=name", &c), ["5", "2", "4", "1", "3"]);
    assert_eq!(
        ids("sort=name,desc;size_bytes,desc", &c),
        ["3", "1", "4", "2", "5"]
    );
    assert_eq!(ids("", &c), ["1", "2", "3", "4", "5"]);
}

#[test]
fn cursor_walk_and_total() {
    let c = catalogue();
    let codec = codec();
    let mut seen = Vec::new();
    let mut qs = "sort=size_bytes&per_page=2".to_owned();
    loop {
        let q = Query::from_query_string(&qs).unwrap();
        let page = execute(&q, &c, &codec).unwrap();
        assert_eq!(page.total, 5);
        assert_eq!(page.page, None);
        assert!(page.items.len() <= 2);
        seen.extend(page.items.iter().map(|i| i.native_id.clone()));
        match page.next_cursor {
            Some(cur) => qs = format!("sort=size_bytes&per_page=2&cursor={cur}"),
            None => break,
        }
    }
    assert_eq!(seen, ["3", "5", "4", "1", "2"]);
}

#[test]
fn offset_pages() {
    let c = catalogue();
    let run = |s: &str| {
        let q = Query::from_query_string(s).unwrap();
        let r = execute(&q, &c, &codec()).unwrap();
        (
            r.items
                .iter()
                .map(|i| i.native_id.clone())
                .collect::<Vec<_>>(),
            r.page,
            r.next_cursor.is_some(),
            r.total,
        )
    };
    assert_eq!(
        run("sort=name&per_page=2&page=1"),
        (vec!["5".into(), "2".into()], Some(1), true, 5)
    );
    assert_eq!(
        run("sort=name&per_page=2&page=3"),
        (vec!["3".into()], Some(3), false, 5)
    );
    assert_eq!(
        run("sort=name&per_page=2&page=4"),
        (vec![], Some(4), false, 5)
    );
    assert_eq!(
        run("filter=name,eq,a&per_page=1&page=2"),
        (vec!["4".into()], Some(2), false, 2)
    );
}

fn first_cursor(q: &str, items: &[Iso], codec: &CursorCodec) -> String {
    let q = Query::from_query_string(q).unwrap();
    execute(&q, items, codec).unwrap().next_cursor.unwrap()
}

#[test]
fn cursor_is_bound_to_filters_q_providers_kinds_and_sort_but_not_page_size() {
    let c = catalogue();
    let codec = codec();
    let base = "sort=size_bytes&filter=size_bytes,ge,0&per_page=1";
    let cur = first_cursor(base, &c, &codec);
    let with = |extra: &str| Query::from_query_string(&format!("{extra}&cursor={cur}")).unwrap();
    // Same selection and order, other page size / fields / filter order: fine.
    for ok in [
        "sort=size_bytes&filter=size_bytes,ge,0&per_page=3",
        "sort=size_bytes&filter=size_bytes,ge,0&fields=name",
    ] {
        assert!(execute(&with(ok), &c, &codec).is_ok(), "{ok}");
    }
    for other in [
        "sort=size_bytes,desc&filter=size_bytes,ge,0",
        "sort=name&filter=size_bytes,ge,0",
        "sort=size_bytes&filter=size_bytes,ge,1",
        "sort=size_bytes",
        "sort=size_bytes&filter=size_bytes,ge,0&q=a",
        "sort=size_bytes&filter=size_bytes,ge,0&provider=p",
        "sort=size_bytes&filter=size_bytes,ge,0&kind=iso",
    ] {
        let e = execute(&with(other), &c, &codec).unwrap_err();
        assert_eq!(e.param, "cursor", "{other}");
        assert!(e.message.contains("different query"), "{other}: {e}");
    }
}

#[test]
fn fingerprint_ignores_order_of_sets_but_not_of_sort_keys() {
    let fp = |s: &str| Query::from_query_string(s).unwrap().fingerprint();
    assert_eq!(
        fp("filter=name,eq,a;size_bytes,gt,1&provider=a,b"),
        fp("filter=size_bytes,gt,1&filter=name,eq,a&provider=b,a&per_page=9")
    );
    assert_ne!(fp("sort=name;size_bytes"), fp("sort=size_bytes;name"));
    assert_ne!(fp("filter=name,eq,a"), fp("filter=name,ne,a"));
}

#[test]
fn tampered_foreign_and_garbage_cursors_are_rejected() {
    let c = catalogue();
    let codec = codec();
    let q = "sort=name&per_page=1";
    let cur = first_cursor(q, &c, &codec);
    let check = |cursor: &str, why: &str| {
        let query = Query::from_query_string(&format!("{q}&cursor={cursor}")).unwrap();
        let e = execute(&query, &c, &codec).unwrap_err();
        assert_eq!(e.param, "cursor");
        assert!(e.message.contains(why), "{e}");
        // The error converts to a 400-class error.
        let core: isogate_core::Error = e.into();
        assert_eq!(core.kind(), isogate_core::ErrorKind::InvalidInput);
    };
    // Flip one byte anywhere in the payload.
    let mut bytes = URL_SAFE_NO_PAD.decode(&cur).unwrap();
    for at in [0, bytes.len() / 2, bytes.len() - 1] {
        bytes[at] ^= 1;
        check(&URL_SAFE_NO_PAD.encode(&bytes), "altered");
        bytes[at] ^= 1;
    }
    // Made with another key.
    let other = first_cursor(q, &c, &CursorCodec::new(b"another key"));
    check(&other, "altered");
    for junk in ["x", "!!!!", "AAAA", &"A".repeat(10_000)] {
        check(junk, "malformed");
    }
}

#[test]
fn projection_keeps_id_and_the_chosen_fields() {
    let mut i = item("9", "n", Some(5));
    i.raw = Some(serde_json::json!({"upstream": 1}));
    let v = project(&i, &["name".into(), "size_bytes".into()]);
    assert_eq!(
        v,
        serde_json::json!({"id": "p:9", "name": "n", "size_bytes": 5})
    );
    assert_eq!(project(&i, &["raw".into()])["raw"]["upstream"], 1);

    // The query's view: everything but raw unless raw=true.
    let q = Query::from_query_string("").unwrap();
    let full = serde_json::to_value(q.view(&i)).unwrap();
    let mut expected = serde_json::to_value(&i).unwrap();
    expected.as_object_mut().unwrap().remove("raw");
    assert_eq!(full, expected);
    let q = Query::from_query_string("raw=true").unwrap();
    assert_eq!(
        serde_json::to_value(q.view(&i)).unwrap(),
        serde_json::to_value(&i).unwrap()
    );
    let q = Query::from_query_string("fields=labels").unwrap();
    assert_eq!(
        serde_json::to_value(q.view(&i)).unwrap(),
        serde_json::json!({"id": "p:9", "labels": {}})
    );
}

#[test]
fn list_options_and_views_follow_the_query() {
    let q = Query::from_query_string("filter=name,eq,a&sort=size_bytes,desc&raw=true&fields=name")
        .unwrap();
    let o = q.list_options();
    assert_eq!(
        (o.filters, o.sort, o.include_raw),
        (q.filters.clone(), q.sort.clone(), true)
    );
    let c = catalogue();
    let page = execute(&q, &c, &codec()).unwrap();
    let data = serde_json::to_value(q.views(&page.items)).unwrap();
    assert_eq!(
        data,
        serde_json::json!([{"id": "p:4", "name": "a"}, {"id": "p:2", "name": "a"}])
    );
}
