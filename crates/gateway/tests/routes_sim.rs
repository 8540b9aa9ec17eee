//! Every route over the embedded default: real adapters in front of the
//! simulators, through `app(...).oneshot(...)`. Each status a route answers
//! must be listed in the OpenAPI document, and each status the document lists
//! must be produced here (or be named below as unreachable with these upstreams).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, Request};
use http_body_util::BodyExt;
use isogate::config::{Config, EMBEDDED_DEFAULT};
use isogate::{AppState, Embedded, app, build_state};
use isogate_core::ListOptions;
use isogate_sim::Faults;
use serde_json::{Value, json};
use tower::ServiceExt;

/// The embedded default with short deadlines and timeouts, so fault cases are quick.
async fn demo() -> (AppState, Embedded) {
    let toml = EMBEDDED_DEFAULT.replace(
        "\nkind = ",
        "\ndeadline_ms = 1500\ntimeout_ms = 800\nkind = ",
    );
    let (config, entries) = Config::from_toml(&toml).unwrap();
    let embedded = Embedded::start(&config.simulators, &entries).await.unwrap();
    let state = build_state(config, &entries, &embedded).unwrap();
    state.set_ready();
    (state, embedded)
}

struct Answer {
    status: u16,
    headers: HeaderMap,
    body: Value,
}

async fn send(state: &AppState, method: &str, uri: &str, body: Option<Value>) -> Answer {
    let mut req = Request::builder().method(method).uri(uri);
    let body = match body {
        Some(v) => {
            req = req.header("content-type", "application/json");
            Body::from(v.to_string())
        }
        None => Body::empty(),
    };
    let resp = app(state.clone())
        .oneshot(req.body(body).unwrap())
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    Answer {
        status,
        headers,
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    }
}

/// Observed statuses per documented operation (`METHOD /template`).
#[derive(Default)]
struct Seen(BTreeMap<String, BTreeSet<u16>>);

impl Seen {
    fn saw(&mut self, op: &str, answer: &Answer, expected: u16) {
        assert_eq!(answer.status, expected, "{op}: {}", answer.body);
        // /readyz answers its own JSON status even when not ready (probes read it).
        if answer.status >= 400 && op != "GET /readyz" {
            assert_eq!(
                answer.headers["content-type"], "application/problem+json",
                "{op}"
            );
            assert!(
                answer.body["code"].is_string() && answer.body["request_id"].is_string(),
                "{op}: {}",
                answer.body
            );
        }
        self.0
            .entry(op.to_owned())
            .or_default()
            .insert(answer.status);
    }
}

async fn follow_task(state: &AppState, location: &str) -> Value {
    for _ in 0..100 {
        let a = send(state, "GET", location, None).await;
        assert_eq!(a.status, 200, "{}", a.body);
        if a.body["status"] != "pending" {
            return a.body;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("task {location} still pending");
}

fn location(a: &Answer) -> String {
    a.headers["location"].to_str().unwrap().to_owned()
}

async fn first_id(state: &AppState, provider: &str, filter: &str) -> String {
    let a = send(
        state,
        "GET",
        &format!("/v1/providers/{provider}/isos?per_page=1&{filter}"),
        None,
    )
    .await;
    a.body["data"][0]["native_id"]
        .as_str()
        .unwrap_or_else(|| panic!("{provider} {filter}: {}", a.body))
        .to_owned()
}

#[tokio::test]
async fn the_federated_listing_is_the_union_of_every_simulators_catalogue() {
    let (state, _sims) = demo().await;
    let a = send(&state, "GET", "/v1/isos?per_page=1000", None).await;
    assert_eq!(a.status, 200);
    let served: BTreeMap<String, Value> = a.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["id"].as_str().unwrap().to_owned(), i.clone()))
        .collect();
    let mut expected = BTreeMap::new();
    for handle in state.providers() {
        let listing = handle.provider.list(&ListOptions::default()).await.unwrap();
        assert!(!listing.items.is_empty(), "{} is empty", handle.name);
        for mut item in listing.items {
            // The gateway adds the recognised identity to every snapshot (issue 20).
            isogate_core::identity::recognise(&mut item);
            expected.insert(item.id.clone(), serde_json::to_value(&item).unwrap());
        }
    }
    assert_eq!(served.len(), expected.len());
    assert_eq!(
        served, expected,
        "the gateway serves exactly the normalised upstream items"
    );
    assert_eq!(a.body["meta"]["total"], expected.len());
}

#[tokio::test]
async fn every_route_answers_what_the_openapi_document_lists() {
    let (state, mut sims) = demo().await;
    let mut seen = Seen::default();

    // Listings.
    let a = send(&state, "GET", "/v1/isos?per_page=5", None).await;
    seen.saw("GET /v1/isos", &a, 200);
    let etag = a.headers["etag"].to_str().unwrap().to_owned();
    let req = Request::get("/v1/isos?per_page=5")
        .header("if-none-match", etag)
        .body(Body::empty())
        .unwrap();
    let resp = app(state.clone()).oneshot(req).await.unwrap();
    seen.0
        .entry("GET /v1/isos".into())
        .or_default()
        .insert(resp.status().as_u16());
    assert_eq!(resp.status(), 304);
    seen.saw(
        "GET /v1/isos",
        &send(&state, "GET", "/v1/isos?sort=colour,asc", None).await,
        400,
    );
    let a = send(
        &state,
        "GET",
        "/v1/providers/vss-prod/isos?per_page=3",
        None,
    )
    .await;
    seen.saw("GET /v1/providers/{provider}/isos", &a, 200);
    assert_eq!(a.body["sources"].as_array().unwrap().len(), 1);
    let etag = a.headers["etag"].to_str().unwrap().to_owned();
    let req = Request::get("/v1/providers/vss-prod/isos?per_page=3")
        .header("if-none-match", etag)
        .body(Body::empty())
        .unwrap();
    let status = app(state.clone())
        .oneshot(req)
        .await
        .unwrap()
        .status()
        .as_u16();
    assert_eq!(status, 304);
    seen.0
        .entry("GET /v1/providers/{provider}/isos".into())
        .or_default()
        .insert(status);
    seen.saw(
        "GET /v1/providers/{provider}/isos",
        &send(
            &state,
            "GET",
            "/v1/providers/vss-prod/isos?per_page=0",
            None,
        )
        .await,
        400,
    );
    seen.saw(
        "GET /v1/providers/{provider}/isos",
        &send(&state, "GET", "/v1/providers/nope/isos", None).await,
        404,
    );
    seen.saw(
        "GET /v1/isos/stats",
        &send(&state, "GET", "/v1/isos/stats?group_by=provider,zone", None).await,
        200,
    );
    seen.saw(
        "GET /v1/isos/stats",
        &send(&state, "GET", "/v1/isos/stats?group_by=size", None).await,
        400,
    );
    seen.saw(
        "GET /v1/providers",
        &send(&state, "GET", "/v1/providers", None).await,
        200,
    );
    // Identities across providers (tests/images.rs holds their content).
    let images = send(&state, "GET", "/v1/images?per_page=1", None).await;
    seen.saw("GET /v1/images", &images, 200);
    seen.saw(
        "GET /v1/images",
        &send(&state, "GET", "/v1/images?filter=colour,eq,red", None).await,
        400,
    );
    let cursor = images.body["meta"]["next_cursor"]
        .as_str()
        .unwrap()
        .to_owned();
    seen.saw(
        "GET /v1/images",
        &send(
            &state,
            "GET",
            &format!("/v1/images?sort=arch&cursor={cursor}"),
            None,
        )
        .await,
        404,
    );
    seen.saw(
        "GET /v1/images/coverage",
        &send(&state, "GET", "/v1/images/coverage", None).await,
        200,
    );
    seen.saw(
        "GET /v1/images/coverage",
        &send(&state, "GET", "/v1/images/coverage?sort=family,up", None).await,
        400,
    );

    // Single items, by global id and per provider (a Cox id holds slashes).
    let cox_id = first_id(&state, "coxedge-images", "").await;
    assert!(cox_id.contains('/'));
    let global = isogate_core::GlobalId::encode("coxedge-images", &cox_id);
    let a = send(&state, "GET", &format!("/v1/isos/{global}"), None).await;
    seen.saw("GET /v1/isos/{id}", &a, 200);
    assert_eq!(a.body["native_id"], cox_id.as_str());
    seen.saw(
        "GET /v1/isos/{id}",
        &send(&state, "GET", "/v1/isos/no-colon", None).await,
        400,
    );
    seen.saw(
        "GET /v1/isos/{id}",
        &send(&state, "GET", "/v1/isos/vss-prod:999999", None).await,
        404,
    );
    let a = send(
        &state,
        "GET",
        &format!("/v1/providers/coxedge-images/isos/{cox_id}"),
        None,
    )
    .await;
    seen.saw("GET /v1/providers/{provider}/isos/{native_id}", &a, 200);
    seen.saw(
        "GET /v1/providers/{provider}/isos/{native_id}",
        &send(
            &state,
            "GET",
            "/v1/providers/coxedge-images/isos/a/../b",
            None,
        )
        .await,
        400,
    );
    seen.saw(
        "GET /v1/providers/{provider}/isos/{native_id}",
        &send(
            &state,
            "GET",
            "/v1/providers/coxedge-images/isos/x/y/z",
            None,
        )
        .await,
        404,
    );

    // Upstream faults on a single item: 502, 503, 504, each naming the provider.
    let v2_id = first_id(&state, "coxedge-prod", "").await;
    let item = format!("/v1/providers/coxedge-prod/isos/{v2_id}");
    let global = format!(
        "/v1/isos/{}",
        isogate_core::GlobalId::encode("coxedge-prod", &v2_id)
    );
    let sim = sims.server_mut("cloudmc-v2").unwrap();
    sim.control().set_faults(Faults {
        error_rate: 1.0,
        error_status: 500,
        ..Default::default()
    });
    let a = send(&state, "GET", &item, None).await;
    seen.saw("GET /v1/providers/{provider}/isos/{native_id}", &a, 502);
    assert_eq!(a.body["provider"], "coxedge-prod");
    seen.saw(
        "GET /v1/isos/{id}",
        &send(&state, "GET", &global, None).await,
        502,
    );
    seen.saw(
        "GET /v1/providers/{provider}/tasks/{task}",
        &send(
            &state,
            "GET",
            "/v1/providers/coxedge-prod/tasks/6f1c0a7e-0000-4000-8000-000000000000",
            None,
        )
        .await,
        502,
    );
    sim.control().set_faults(Faults {
        hang: true,
        ..Default::default()
    });
    seen.saw(
        "GET /v1/providers/{provider}/isos/{native_id}",
        &send(&state, "GET", &item, None).await,
        504,
    );
    seen.saw(
        "GET /v1/isos/{id}",
        &send(&state, "GET", &global, None).await,
        504,
    );
    sim.control().heal();
    sim.stop_listening();
    seen.saw(
        "GET /v1/providers/{provider}/isos/{native_id}",
        &send(&state, "GET", &item, None).await,
        503,
    );
    sim.resume_listening().await.unwrap();

    // Import: 201 on CloudMC v2, 400 on a rule it documents, 413, 415, 404, 501, 502.
    let zone = send(&state, "GET", &item, None).await.body["zones"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let import =
        json!({"name": "routes-test", "url": "http://mirror.example.org/r.iso", "zone_id": zone});
    let a = send(
        &state,
        "POST",
        "/v1/providers/coxedge-prod/isos",
        Some(import.clone()),
    )
    .await;
    assert!(a.status == 201 || a.status == 202, "{}", a.body);
    seen.saw("POST /v1/providers/{provider}/isos", &a, a.status);
    let ftp = json!({"name": "x", "url": "ftp://mirror.example.org/r.iso", "zone_id": zone});
    seen.saw(
        "POST /v1/providers/{provider}/isos",
        &send(&state, "POST", "/v1/providers/coxedge-prod/isos", Some(ftp)).await,
        400,
    );
    let huge = json!({"name": "x".repeat(100_000), "url": "http://mirror.example.org/r.iso"});
    seen.saw(
        "POST /v1/providers/{provider}/isos",
        &send(
            &state,
            "POST",
            "/v1/providers/coxedge-prod/isos",
            Some(huge),
        )
        .await,
        413,
    );
    let req = Request::post("/v1/providers/coxedge-prod/isos")
        .body(Body::from(import.to_string()))
        .unwrap();
    let resp = app(state.clone()).oneshot(req).await.unwrap();
    assert_eq!(resp.status(), 415);
    seen.0
        .entry("POST /v1/providers/{provider}/isos".into())
        .or_default()
        .insert(415);
    seen.saw(
        "POST /v1/providers/{provider}/isos",
        &send(
            &state,
            "POST",
            "/v1/providers/nope/isos",
            Some(import.clone()),
        )
        .await,
        404,
    );
    seen.saw(
        "POST /v1/providers/{provider}/isos",
        &send(
            &state,
            "POST",
            "/v1/providers/cloudmc-legacy/isos",
            Some(import.clone()),
        )
        .await,
        405,
    );
    let sim = sims.server_mut("cloudmc-v2").unwrap();
    sim.control().set_faults(Faults {
        error_rate: 1.0,
        error_status: 500,
        methods: vec!["POST".into()],
        ..Default::default()
    });
    seen.saw(
        "POST /v1/providers/{provider}/isos",
        &send(
            &state,
            "POST",
            "/v1/providers/coxedge-prod/isos",
            Some(import.clone()),
        )
        .await,
        502,
    );
    sim.control().heal();

    // Attach (202 + task), detach, download URL, delete, on CloudMC v2.
    let non_bootable = first_id(
        &state,
        "coxedge-prod",
        "filter=bootable,eq,false&refresh=true",
    )
    .await;
    let instance = isogate_sim::cloudmc::INSTANCE_IDS[1];
    let a = send(
        &state,
        "POST",
        &format!("/v1/providers/coxedge-prod/isos/{non_bootable}/attach"),
        Some(json!({"instance_id": instance})),
    )
    .await;
    seen.saw(
        "POST /v1/providers/{provider}/isos/{native_id}/attach",
        &a,
        202,
    );
    assert_eq!(
        follow_task(&state, &location(&a)).await["status"],
        "succeeded"
    );
    seen.saw(
        "GET /v1/providers/{provider}/tasks/{task}",
        &send(&state, "GET", &location(&a), None).await,
        200,
    );
    seen.saw(
        "POST /v1/providers/{provider}/isos/{native_id}/attach",
        &send(
            &state,
            "POST",
            &format!("/v1/providers/coxedge-prod/isos/{non_bootable}/attach"),
            Some(json!({"instance_id": "../x"})),
        )
        .await,
        400,
    );
    seen.saw(
        "POST /v1/providers/{provider}/isos/{native_id}/attach",
        &send(
            &state,
            "POST",
            "/v1/providers/coxedge-prod/isos/00000000-0000-4000-8000-000000000000/attach",
            Some(json!({"instance_id": instance})),
        )
        .await,
        404,
    );
    seen.saw(
        "POST /v1/providers/{provider}/isos/{native_id}/attach",
        &send(
            &state,
            "POST",
            &format!("/v1/providers/cloudmc-legacy/isos/{non_bootable}/attach"),
            Some(json!({"instance_id": instance})),
        )
        .await,
        405,
    );
    let a = send(
        &state,
        "POST",
        &format!("/v1/providers/coxedge-prod/instances/{instance}/detach-iso"),
        None,
    )
    .await;
    seen.saw(
        "POST /v1/providers/{provider}/instances/{instance}/detach-iso",
        &a,
        202,
    );
    assert_eq!(
        follow_task(&state, &location(&a)).await["status"],
        "succeeded"
    );
    seen.saw(
        "POST /v1/providers/{provider}/instances/{instance}/detach-iso",
        &send(
            &state,
            "POST",
            "/v1/providers/coxedge-prod/instances/a%00b/detach-iso",
            None,
        )
        .await,
        400,
    );
    seen.saw(
        "POST /v1/providers/{provider}/instances/{instance}/detach-iso",
        &send(
            &state,
            "POST",
            "/v1/providers/coxedge-prod/instances/00000000-0000-4000-8000-000000000000/detach-iso",
            None,
        )
        .await,
        404,
    );
    seen.saw(
        "POST /v1/providers/{provider}/instances/{instance}/detach-iso",
        &send(
            &state,
            "POST",
            &format!("/v1/providers/coxedge-images/instances/{instance}/detach-iso"),
            None,
        )
        .await,
        405,
    );
    let extractable = first_id(&state, "coxedge-prod", "filter=extractable,eq,true").await;
    let a = send(
        &state,
        "POST",
        &format!("/v1/providers/coxedge-prod/isos/{extractable}/download-url"),
        None,
    )
    .await;
    seen.saw(
        "POST /v1/providers/{provider}/isos/{native_id}/download-url",
        &a,
        202,
    );
    let task = follow_task(&state, &location(&a)).await;
    assert!(
        task["result"]["url"]
            .as_str()
            .is_some_and(|u| u.starts_with("http")),
        "{task}"
    );
    let locked = first_id(&state, "coxedge-prod", "filter=extractable,eq,false").await;
    seen.saw(
        "POST /v1/providers/{provider}/isos/{native_id}/download-url",
        &send(
            &state,
            "POST",
            &format!("/v1/providers/coxedge-prod/isos/{locked}/download-url"),
            None,
        )
        .await,
        // Not extractable: the item's state, not the request, is what is wrong.
        409,
    );
    seen.saw(
        "POST /v1/providers/{provider}/isos/{native_id}/download-url",
        &send(
            &state,
            "POST",
            "/v1/providers/coxedge-prod/isos/bad%01id/download-url",
            None,
        )
        .await,
        400,
    );
    seen.saw(
        "POST /v1/providers/{provider}/isos/{native_id}/download-url",
        &send(
            &state,
            "POST",
            "/v1/providers/coxedge-prod/isos/00000000-0000-4000-8000-000000000000/download-url",
            None,
        )
        .await,
        404,
    );
    seen.saw(
        "POST /v1/providers/{provider}/isos/{native_id}/download-url",
        &send(
            &state,
            "POST",
            "/v1/providers/hostkey/isos/100/download-url",
            None,
        )
        .await,
        405,
    );
    let sim = sims.server_mut("cloudmc-v2").unwrap();
    sim.control().set_faults(Faults {
        error_rate: 1.0,
        error_status: 500,
        methods: vec!["POST".into()],
        ..Default::default()
    });
    seen.saw(
        "POST /v1/providers/{provider}/isos/{native_id}/download-url",
        &send(
            &state,
            "POST",
            &format!("/v1/providers/coxedge-prod/isos/{extractable}/download-url"),
            None,
        )
        .await,
        502,
    );
    seen.saw(
        "POST /v1/providers/{provider}/isos/{native_id}/attach",
        &send(
            &state,
            "POST",
            &format!("/v1/providers/coxedge-prod/isos/{non_bootable}/attach"),
            Some(json!({"instance_id": instance})),
        )
        .await,
        502,
    );
    seen.saw(
        "POST /v1/providers/{provider}/instances/{instance}/detach-iso",
        &send(
            &state,
            "POST",
            &format!("/v1/providers/coxedge-prod/instances/{instance}/detach-iso"),
            None,
        )
        .await,
        502,
    );
    sim.control().heal();
    let a = send(
        &state,
        "DELETE",
        &format!("/v1/providers/coxedge-prod/isos/{locked}"),
        None,
    )
    .await;
    assert!(a.status == 202 || a.status == 204, "{}", a.body);
    seen.saw(
        "DELETE /v1/providers/{provider}/isos/{native_id}",
        &a,
        a.status,
    );
    if a.status == 202 {
        assert_eq!(
            follow_task(&state, &location(&a)).await["status"],
            "succeeded"
        );
    }
    seen.saw(
        "GET /v1/providers/{provider}/isos/{native_id}",
        &send(
            &state,
            "GET",
            &format!("/v1/providers/coxedge-prod/isos/{locked}"),
            None,
        )
        .await,
        404,
    );
    seen.saw(
        "DELETE /v1/providers/{provider}/isos/{native_id}",
        &send(
            &state,
            "DELETE",
            &format!("/v1/providers/coxedge-prod/isos/{locked}"),
            None,
        )
        .await,
        404,
    );
    seen.saw(
        "DELETE /v1/providers/{provider}/isos/{native_id}",
        &send(
            &state,
            "DELETE",
            "/v1/providers/coxedge-prod/isos/a//b",
            None,
        )
        .await,
        400,
    );
    seen.saw(
        "DELETE /v1/providers/{provider}/isos/{native_id}",
        &send(
            &state,
            "DELETE",
            &format!("/v1/providers/coxedge-images/isos/{cox_id}"),
            None,
        )
        .await,
        405,
    );
    let sim = sims.server_mut("cloudmc-v2").unwrap();
    sim.control().set_faults(Faults {
        error_rate: 1.0,
        error_status: 500,
        methods: vec!["DELETE".into()],
        ..Default::default()
    });
    seen.saw(
        "DELETE /v1/providers/{provider}/isos/{native_id}",
        &send(
            &state,
            "DELETE",
            &format!("/v1/providers/coxedge-prod/isos/{extractable}"),
            None,
        )
        .await,
        502,
    );
    sim.control().heal();

    // Update and history on the action module; its deletes answer synchronously.
    let hk = first_id(&state, "hostkey", "").await;
    let a = send(
        &state,
        "PATCH",
        &format!("/v1/providers/hostkey/isos/{hk}"),
        Some(json!({"description": "patched"})),
    )
    .await;
    assert!(a.status == 200 || a.status == 204, "{}", a.body);
    seen.saw(
        "PATCH /v1/providers/{provider}/isos/{native_id}",
        &a,
        a.status,
    );
    let after = send(
        &state,
        "GET",
        &format!("/v1/providers/hostkey/isos/{hk}"),
        None,
    )
    .await;
    assert_eq!(after.body["description"], "patched");
    seen.saw(
        "PATCH /v1/providers/{provider}/isos/{native_id}",
        &send(
            &state,
            "PATCH",
            &format!("/v1/providers/hostkey/isos/{hk}"),
            Some(json!({})),
        )
        .await,
        400,
    );
    seen.saw(
        "PATCH /v1/providers/{provider}/isos/{native_id}",
        &send(
            &state,
            "PATCH",
            "/v1/providers/hostkey/isos/999999",
            Some(json!({"description": "x"})),
        )
        .await,
        404,
    );
    seen.saw(
        "PATCH /v1/providers/{provider}/isos/{native_id}",
        &send(
            &state,
            "PATCH",
            &format!("/v1/providers/coxedge-prod/isos/{extractable}"),
            Some(json!({"name": "x"})),
        )
        .await,
        405,
    );
    let a = send(
        &state,
        "GET",
        &format!("/v1/providers/hostkey/isos/{hk}/history"),
        None,
    )
    .await;
    seen.saw(
        "GET /v1/providers/{provider}/isos/{native_id}/history",
        &a,
        200,
    );
    assert!(
        a.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["operation"].as_str().is_some()),
        "{}",
        a.body
    );
    seen.saw(
        "GET /v1/providers/{provider}/isos/{native_id}/history",
        &send(
            &state,
            "GET",
            "/v1/providers/hostkey/isos/a%01/history",
            None,
        )
        .await,
        400,
    );
    seen.saw(
        "GET /v1/providers/{provider}/isos/{native_id}/history",
        &send(&state, "GET", "/v1/providers/nope/isos/1/history", None).await,
        404,
    );
    seen.saw(
        "GET /v1/providers/{provider}/isos/{native_id}/history",
        &send(
            &state,
            "GET",
            &format!("/v1/providers/coxedge-prod/isos/{extractable}/history"),
            None,
        )
        .await,
        405,
    );
    let sim = sims.server_mut("action").unwrap();
    sim.control().set_faults(Faults {
        error_rate: 1.0,
        error_status: 500,
        ..Default::default()
    });
    seen.saw(
        "GET /v1/providers/{provider}/isos/{native_id}/history",
        &send(
            &state,
            "GET",
            &format!("/v1/providers/hostkey/isos/{hk}/history"),
            None,
        )
        .await,
        502,
    );
    seen.saw(
        "PATCH /v1/providers/{provider}/isos/{native_id}",
        &send(
            &state,
            "PATCH",
            &format!("/v1/providers/hostkey/isos/{hk}"),
            Some(json!({"description": "y"})),
        )
        .await,
        502,
    );
    sim.control().heal();
    let a = send(
        &state,
        "DELETE",
        &format!("/v1/providers/hostkey/isos/{hk}"),
        None,
    )
    .await;
    assert!(a.status == 202 || a.status == 204, "{}", a.body);
    seen.saw(
        "DELETE /v1/providers/{provider}/isos/{native_id}",
        &a,
        a.status,
    );

    // Sync (VSS), tasks, cache administration.
    let a = send(&state, "POST", "/v1/providers/vss-prod/sync", None).await;
    seen.saw("POST /v1/providers/{provider}/sync", &a, 202);
    assert_eq!(
        follow_task(&state, &location(&a)).await["status"],
        "succeeded"
    );
    seen.saw(
        "POST /v1/providers/{provider}/sync",
        &send(&state, "POST", "/v1/providers/nope/sync", None).await,
        404,
    );
    seen.saw(
        "POST /v1/providers/{provider}/sync",
        &send(&state, "POST", "/v1/providers/hostkey/sync", None).await,
        405,
    );
    let sim = sims.server_mut("vss").unwrap();
    sim.control().set_faults(Faults {
        error_rate: 1.0,
        error_status: 500,
        methods: vec!["PATCH".into()],
        ..Default::default()
    });
    seen.saw(
        "POST /v1/providers/{provider}/sync",
        &send(&state, "POST", "/v1/providers/vss-prod/sync", None).await,
        502,
    );
    sim.control().heal();
    seen.saw(
        "GET /v1/providers/{provider}/tasks/{task}",
        &send(
            &state,
            "GET",
            "/v1/providers/coxedge-prod/tasks/6f1c0a7e-0000-4000-8000-000000000000",
            None,
        )
        .await,
        404,
    );
    seen.saw(
        "GET /v1/providers/{provider}/tasks/{task}",
        &send(&state, "GET", "/v1/providers/coxedge-images/tasks/1", None).await,
        405,
    );
    seen.saw(
        "POST /v1/cache/invalidate",
        &send(
            &state,
            "POST",
            "/v1/cache/invalidate",
            Some(json!({"providers": ["vss-prod"]})),
        )
        .await,
        200,
    );
    seen.saw(
        "POST /v1/cache/invalidate",
        &send(
            &state,
            "POST",
            "/v1/cache/invalidate",
            Some(json!({"providers": ["nope"]})),
        )
        .await,
        404,
    );
    seen.saw(
        "POST /v1/cache/invalidate",
        &send(
            &state,
            "POST",
            "/v1/cache/invalidate",
            Some(json!({"provider": "typo"})),
        )
        .await,
        400,
    );

    // The change feed (tests/events.rs drives it in depth).
    let events = send(&state, "GET", "/v1/events?timeout_s=1", None).await;
    assert_eq!(events.headers["content-type"], "text/event-stream");
    seen.saw("GET /v1/events", &events, 200);
    seen.saw(
        "GET /v1/events",
        &send(&state, "GET", "/v1/events?since=yesterday", None).await,
        400,
    );
    seen.saw(
        "GET /v1/events",
        &send(&state, "GET", "/v1/events?provider=nope", None).await,
        404,
    );
    seen.saw(
        "GET /v1/webhooks",
        &send(&state, "GET", "/v1/webhooks", None).await,
        200,
    );

    // Operations.
    seen.saw(
        "GET /healthz",
        &send(&state, "GET", "/healthz", None).await,
        200,
    );
    seen.saw(
        "GET /readyz",
        &send(&state, "GET", "/readyz", None).await,
        200,
    );
    let metrics = send(&state, "GET", "/metrics", None).await;
    seen.0
        .entry("GET /metrics".into())
        .or_default()
        .insert(metrics.status);

    // Whole-listing failures need a cold gateway: every provider failing, or hanging.
    let (cold, mut cold_sims) = demo().await;
    for name in isogate::embedded::SIMULATORS {
        cold_sims
            .server_mut(name)
            .unwrap()
            .control()
            .set_faults(Faults {
                error_rate: 1.0,
                error_status: 500,
                ..Default::default()
            });
    }
    seen.saw(
        "GET /v1/isos",
        &send(&cold, "GET", "/v1/isos", None).await,
        502,
    );
    seen.saw(
        "GET /v1/isos/stats",
        &send(&cold, "GET", "/v1/isos/stats", None).await,
        502,
    );
    seen.saw(
        "GET /v1/providers/{provider}/isos",
        &send(&cold, "GET", "/v1/providers/hostkey/isos", None).await,
        502,
    );
    for route in ["/v1/images", "/v1/images/coverage"] {
        seen.saw(
            &format!("GET {route}"),
            &send(&cold, "GET", route, None).await,
            502,
        );
    }
    for name in isogate::embedded::SIMULATORS {
        cold_sims
            .server_mut(name)
            .unwrap()
            .control()
            .set_faults(Faults {
                hang: true,
                ..Default::default()
            });
    }
    seen.saw(
        "GET /v1/isos",
        &send(&cold, "GET", "/v1/isos", None).await,
        504,
    );
    seen.saw(
        "GET /v1/providers/{provider}/isos",
        &send(&cold, "GET", "/v1/providers/vss-prod/isos", None).await,
        504,
    );
    let (config, _) = Config::from_toml("").unwrap();
    let not_ready = AppState::new(config, Vec::new());
    seen.saw(
        "GET /readyz",
        &send(&not_ready, "GET", "/readyz", None).await,
        503,
    );

    // Compare with the document.
    let spec = serde_json::to_value(isogate::openapi::document()).unwrap();
    // Documented statuses these upstreams cannot produce, and why.
    let unreachable: BTreeSet<(&str, u16)> = [
        ("GET /v1/providers/{provider}/isos/{native_id}", 405), // every adapter here can get
        ("GET /v1/providers/{provider}/isos/{native_id}", 404), // seen; listed for unknown providers too
        ("PATCH /v1/providers/{provider}/isos/{native_id}", 204), // the action module answers the item
        ("PATCH /v1/providers/{provider}/isos/{native_id}", 200), // or 204: one of the two is seen
        ("POST /v1/providers/{provider}/isos", 201),              // CloudMC v2 answers 201 or 202
        ("POST /v1/providers/{provider}/isos", 202),
        ("DELETE /v1/providers/{provider}/isos/{native_id}", 204),
        ("DELETE /v1/providers/{provider}/isos/{native_id}", 202),
        ("POST /v1/providers/{provider}/isos/{native_id}/attach", 204), // attach is async everywhere
        (
            "POST /v1/providers/{provider}/instances/{instance}/detach-iso",
            204,
        ),
        (
            "POST /v1/providers/{provider}/isos/{native_id}/download-url",
            200,
        ), // CloudMC answers a task
        ("GET /v1/providers/{provider}/isos/{native_id}", 503),
        ("GET /v1/providers/{provider}/isos", 405), // every adapter here can list
    ]
    .into_iter()
    .collect();
    let mut problems = Vec::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let key = format!("{} {path}", method.to_uppercase());
            let documented: BTreeSet<u16> = op["responses"]
                .as_object()
                .unwrap()
                .keys()
                .map(|k| k.parse().unwrap())
                .collect();
            let observed = seen.0.get(&key).cloned().unwrap_or_default();
            for s in observed.difference(&documented) {
                problems.push(format!(
                    "{key} answered {s} but the document does not list it"
                ));
            }
            for s in documented.difference(&observed) {
                // Auth, limit and request-deadline answers are driven by
                // tests/hardening_*.rs.
                let guarded = path.starts_with("/v1/") && [401, 403, 429, 431, 504].contains(s);
                if !guarded && !unreachable.contains(&(key.as_str(), *s)) {
                    problems.push(format!("{key} documents {s} but no test produced it"));
                }
            }
        }
    }
    for key in seen.0.keys() {
        let (method, path) = key.split_once(' ').unwrap();
        if spec["paths"][path][method.to_lowercase()].is_null() {
            problems.push(format!("{key} is served but not documented"));
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
}
