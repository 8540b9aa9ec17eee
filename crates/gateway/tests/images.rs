//! `/v1/images` and `/v1/images/coverage` over the embedded demo (real
//! adapters in front of the simulators): the groups are what grouping
//! `/v1/isos` gives, keys see only their providers, CSV and JSON agree, the
//! query language works over groups.

#[path = "support/hardening.rs"]
mod hardening;

use std::collections::{BTreeMap, BTreeSet};

use hardening::{assert_problem, demo, key_entry, send};
use isogate::AppState;
use serde_json::Value;

async fn get(state: &AppState, uri: &str) -> Value {
    let a = send(state, "GET", uri, &[], None).await;
    assert_eq!(a.status, 200, "{uri}: {}", a.text);
    a.body
}

/// Every group of `uri` (walking `meta.next_cursor`).
async fn all_groups(state: &AppState, uri: &str) -> Vec<Value> {
    let sep = if uri.contains('?') { '&' } else { '?' };
    let mut out = Vec::new();
    let mut next = get(state, uri).await;
    loop {
        out.extend(next["data"].as_array().unwrap().iter().cloned());
        let Some(c) = next["meta"]["next_cursor"].as_str() else {
            return out;
        };
        next = get(state, &format!("{uri}{sep}cursor={c}")).await;
    }
}

type Key = (String, Value, Value, Value);
/// An identity's key, providers, item ids and sizes, grouped here.
type Local = (Key, BTreeSet<String>, BTreeSet<String>, BTreeSet<u64>);

fn key_of(v: &Value) -> Key {
    let fam = v["family"].as_str().unwrap_or_default().to_owned();
    (
        fam,
        v["version"].clone(),
        v["arch"].clone(),
        v["edition"].clone(),
    )
}

#[tokio::test]
async fn groups_are_the_grouped_listing_and_some_span_several_providers() {
    let (state, _sims) = demo(|t| t).await;
    let isos = get(&state, "/v1/isos?per_page=1000").await;
    assert!(isos["meta"]["next_cursor"].is_null());
    // Grouped here, from the listing's own fields.
    let mut local: BTreeMap<String, Local> = BTreeMap::new();
    for item in isos["data"].as_array().unwrap() {
        let Some(family) = item["os"]["family"].as_str() else {
            continue;
        };
        let key: Key = (
            family.to_owned(),
            item["os"]["version"].clone(),
            item["arch"].clone(),
            item["edition"].clone(),
        );
        let entry = local.entry(format!("{key:?}")).or_insert_with(|| {
            (
                key.clone(),
                BTreeSet::new(),
                BTreeSet::new(),
                BTreeSet::new(),
            )
        });
        entry
            .1
            .insert(item["provider"].as_str().unwrap().to_owned());
        entry.2.insert(item["id"].as_str().unwrap().to_owned());
        if let Some(s) = item["size_bytes"].as_u64() {
            entry.3.insert(s);
        }
    }
    let groups = get(&state, "/v1/images?per_page=1000").await;
    let data = groups["data"].as_array().unwrap();
    assert_eq!(groups["meta"]["total"], data.len());
    assert_eq!(data.len(), local.len(), "{groups:#}");
    assert_eq!(groups["meta"]["partial"], false);
    assert_eq!(groups["sources"].as_array().unwrap().len(), 5);
    for g in data {
        let (key, providers, ids, sizes) = &local[&format!("{:?}", key_of(g))];
        assert_eq!(&key_of(g), key);
        let got: BTreeSet<String> = g["providers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p.as_str().unwrap().to_owned())
            .collect();
        assert_eq!(&got, providers, "{g}");
        let got: BTreeSet<String> = g["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["id"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(&got, ids, "{g}");
        let got: BTreeSet<u64> = g["sizes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_u64().unwrap())
            .collect();
        assert_eq!(&got, sizes, "{g}");
    }
    // The demo shows real sharing, single-provider images and a different build.
    let shared = data
        .iter()
        .filter(|g| g["providers"].as_array().unwrap().len() >= 2);
    assert!(shared.count() >= 3, "{groups:#}");
    assert!(
        data.iter()
            .any(|g| g["providers"].as_array().unwrap().len() == 1)
    );
    assert!(data.iter().any(|g| g["consistent"] == false), "{groups:#}");
}

#[tokio::test]
async fn a_key_for_one_provider_sees_only_its_items() {
    let (state, _sims) = demo(|t| {
        format!(
            "{t}{}{}",
            key_entry("vss", "vss-secret-1", &["read"], &["vss-prod"]),
            key_entry("all", "all-secret-2", &["read"], &["*"]),
        )
    })
    .await;
    let bearer = [("authorization", "Bearer vss-secret-1")];
    for uri in ["/v1/images?per_page=1000", "/v1/images/coverage"] {
        let a = send(&state, "GET", uri, &bearer, None).await;
        assert_eq!(a.status, 200, "{}", a.text);
        let sources: Vec<&str> = a.body["sources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["provider"].as_str().unwrap())
            .collect();
        assert_eq!(sources, ["vss-prod"], "{uri}");
    }
    let a = send(&state, "GET", "/v1/images?per_page=1000", &bearer, None).await;
    let groups = a.body["data"].as_array().unwrap();
    assert!(!groups.is_empty());
    for g in groups {
        assert_eq!(g["providers"], serde_json::json!(["vss-prod"]), "{g}");
        for i in g["items"].as_array().unwrap() {
            assert_eq!(i["provider"], "vss-prod");
        }
    }
    let a = send(&state, "GET", "/v1/images/coverage", &bearer, None).await;
    assert_eq!(a.body["providers"], serde_json::json!(["vss-prod"]));
    // Naming a provider outside the key is refused, as in the listing.
    let a = send(&state, "GET", "/v1/images?provider=hostkey", &bearer, None).await;
    assert_eq!(a.status, 403, "{}", a.text);
    let a = send(
        &state,
        "GET",
        "/v1/images/coverage?providers=hostkey",
        &bearer,
        None,
    )
    .await;
    assert_eq!(a.status, 403, "{}", a.text);
    // The other key sees more.
    let all = [("authorization", "Bearer all-secret-2")];
    let b = send(&state, "GET", "/v1/images?per_page=1000", &all, None).await;
    assert!(b.body["meta"]["total"].as_u64() > a.body["meta"]["total"].as_u64());
}

#[tokio::test]
async fn coverage_csv_parses_and_matches_the_json() {
    let (state, _sims) = demo(|t| t).await;
    let json = get(&state, "/v1/images/coverage").await;
    let columns: Vec<String> = json["providers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(columns.len(), 5);
    let rows = json["rows"].as_array().unwrap();
    assert_eq!(json["meta"]["total"], rows.len());
    let cells: BTreeSet<&str> = rows
        .iter()
        .flat_map(|r| r["cells"].as_object().unwrap().values())
        .map(|c| c.as_str().unwrap())
        .collect();
    assert_eq!(cells, BTreeSet::from(["absent", "different", "present"]));

    let a = send(
        &state,
        "GET",
        "/v1/images/coverage",
        &[("accept", "text/csv")],
        None,
    )
    .await;
    assert_eq!(a.status, 200);
    assert_eq!(a.headers["content-type"], "text/csv; charset=utf-8");
    let mut reader = csv_lines(&a.text);
    let header = reader.remove(0);
    let mut expected = vec!["family", "version", "arch", "edition"];
    expected.extend(columns.iter().map(String::as_str));
    assert_eq!(header, expected);
    assert_eq!(reader.len(), rows.len());
    for (line, row) in reader.iter().zip(rows) {
        let text = |v: &Value| v.as_str().unwrap_or("").to_owned();
        assert_eq!(line[0], text(&row["family"]));
        assert_eq!(line[1], text(&row["version"]));
        assert_eq!(line[2], text(&row["arch"]));
        assert_eq!(line[3], text(&row["edition"]));
        for (k, p) in columns.iter().enumerate() {
            assert_eq!(line[4 + k], text(&row["cells"][p]), "{row}");
        }
    }

    // Columns as asked, in that order; only their items count.
    let two = get(
        &state,
        "/v1/images/coverage?providers=vss-prod,cloudmc-legacy",
    )
    .await;
    assert_eq!(
        two["providers"],
        serde_json::json!(["vss-prod", "cloudmc-legacy"])
    );
    for r in two["rows"].as_array().unwrap() {
        let cells = r["cells"].as_object().unwrap();
        assert_eq!(cells.len(), 2);
        assert!(cells.values().any(|c| c != "absent"), "{r}");
    }
}

/// RFC 4180 lines (quoted fields included) into fields.
fn csv_lines(text: &str) -> Vec<Vec<String>> {
    assert!(text.ends_with("\r\n"));
    let mut out = Vec::new();
    let (mut row, mut field, mut quoted) = (Vec::new(), String::new(), false);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => row.push(std::mem::take(&mut field)),
            ('\r', false) => {
                assert_eq!(chars.next(), Some('\n'));
                row.push(std::mem::take(&mut field));
                out.push(std::mem::take(&mut row));
            }
            (c, _) => field.push(c),
        }
    }
    out
}

#[tokio::test]
async fn filter_sort_and_cursor_work_over_groups() {
    let (state, _sims) = demo(|t| t).await;
    let sorted = "sort=providers,desc;version,desc";
    let whole = get(&state, &format!("/v1/images?{sorted}&per_page=1000")).await;
    let whole = whole["data"].as_array().unwrap().clone();
    let walked = all_groups(&state, &format!("/v1/images?{sorted}&per_page=2")).await;
    assert_eq!(walked, whole);
    let counts: Vec<usize> = whole
        .iter()
        .map(|g| g["providers"].as_array().unwrap().len())
        .collect();
    assert!(counts.windows(2).all(|w| w[0] >= w[1]), "{counts:?}");
    // Offset paging gives the same rows.
    let page2 = get(&state, &format!("/v1/images?{sorted}&per_page=2&page=2")).await;
    assert_eq!(page2["data"].as_array().unwrap()[..], whole[2..4]);

    let shared = get(&state, "/v1/images?filter=providers,ge,2&per_page=1000").await;
    let shared = shared["data"].as_array().unwrap();
    assert!(!shared.is_empty());
    assert!(
        shared
            .iter()
            .all(|g| g["providers"].as_array().unwrap().len() >= 2)
    );
    assert_eq!(
        shared.len(),
        counts.iter().filter(|c| **c >= 2).count(),
        "the filter keeps exactly the shared ones"
    );
    let ubuntu = get(
        &state,
        "/v1/images?filter=family,eq,ubuntu;provider,eq,vss-prod",
    )
    .await;
    for g in ubuntu["data"].as_array().unwrap() {
        assert_eq!(g["family"], "ubuntu");
        assert!(
            g["providers"]
                .as_array()
                .unwrap()
                .contains(&"vss-prod".into())
        );
    }
    let odd = get(&state, "/v1/images?filter=consistent,eq,false").await;
    assert!(
        odd["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|g| g["consistent"] == false)
    );
    // Item parameters narrow the items first.
    let one = get(&state, "/v1/images?provider=hostkey&per_page=1000").await;
    for g in one["data"].as_array().unwrap() {
        assert_eq!(g["providers"], serde_json::json!(["hostkey"]));
    }
    let sources = one["sources"].as_array().unwrap();
    assert!(sources.iter().any(|s| s["status"] == "skipped"));
}

#[tokio::test]
async fn bad_queries_are_problems() {
    let (state, _sims) = demo(|t| t).await;
    for uri in [
        "/v1/images?filter=colour,eq,red",
        "/v1/images?filter=providers,gt,many",
        "/v1/images?sort=family,sideways",
        "/v1/images?per_page=0",
        "/v1/images?item_filter=nope,eq,1",
        "/v1/images/coverage?filter=family,like",
        "/v1/images/coverage?providers=a,,b",
    ] {
        let a = send(&state, "GET", uri, &[], None).await;
        assert_problem(&a, 400, "invalid_query");
    }
    let a = send(&state, "GET", "/v1/images?filter=family,zz,x", &[], None).await;
    assert!(
        a.body["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("filter"),
        "{}",
        a.text
    );
    let a = send(
        &state,
        "GET",
        "/v1/images/coverage?providers=nope",
        &[],
        None,
    )
    .await;
    assert_problem(&a, 400, "unknown_provider");
    let first = get(&state, "/v1/images?per_page=1").await;
    let c = first["meta"]["next_cursor"].as_str().unwrap();
    let a = send(
        &state,
        "GET",
        &format!("/v1/images?per_page=1&sort=arch&cursor={c}"),
        &[],
        None,
    )
    .await;
    assert_problem(&a, 404, "cursor_not_found");
}
