//! The cache, judged by the simulators' own request counters: concurrent cold
//! requests make one upstream listing per provider, stale answers refresh
//! once in the background, and a write invalidates.

use std::time::Duration;

use axum::body::Body;
use axum::http::Request;
use http_body_util::BodyExt;
use isogate::config::{Config, EMBEDDED_DEFAULT};
use isogate::{AppState, Embedded, app, build_state};
use tower::ServiceExt;

/// The listing route of each simulator, as its counters name it.
const LISTINGS: [(&str, &str); 6] = [
    ("cloudmc-v1", "GET /v1/services/compute-on/test_area/isos"),
    (
        "cloudmc-v2",
        "GET /api/v2/services/compute-on/test_area/isos",
    ),
    ("cox", "GET /api/v2/services/edge-services/test-area/images"),
    ("vss", "GET /v2/iso"),
    ("vss", "GET /v2/user/image/iso"),
    ("action", "action:list_iso"),
];

async fn demo(cache: &str) -> (AppState, Embedded) {
    let toml = format!(
        "{}\n{cache}",
        EMBEDDED_DEFAULT.replace("[cache]", "[old_cache]")
    );
    let toml = toml.replace("[old_cache]\nfresh_ttl_s = 30\nstale_ttl_s = 300\nstale_if_error_s = 3600\nrefresh_min_interval_s = 5\n", "");
    let (config, entries) = Config::from_toml(&toml).unwrap();
    let embedded = Embedded::start(&config.simulators, &entries).await.unwrap();
    let state = build_state(config, &entries, &embedded).unwrap();
    state.set_ready();
    (state, embedded)
}

fn listings(sims: &Embedded) -> Vec<u64> {
    LISTINGS
        .iter()
        .map(|(sim, route)| {
            let server = sims.servers().iter().find(|s| s.name() == *sim).unwrap();
            server.control().count(route)
        })
        .collect()
}

async fn get(state: &AppState, uri: &str) -> serde_json::Value {
    let resp = app(state.clone())
        .oneshot(Request::get(uri).body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    serde_json::from_slice(&resp.into_body().collect().await.unwrap().to_bytes()).unwrap()
}

#[tokio::test]
async fn two_hundred_concurrent_cold_requests_make_one_upstream_listing_per_provider() {
    let (state, sims) = demo("[cache]\nfresh_ttl_s = 60\n").await;
    for server in sims.servers() {
        server.control().set_faults(isogate_sim::Faults {
            latency_ms: 50,
            ..Default::default()
        });
    }
    let answers = futures::future::join_all((0..200).map(|i| {
        let state = state.clone();
        async move { get(&state, &format!("/v1/isos?per_page={}", 1 + i % 50)).await }
    }))
    .await;
    assert!(answers.iter().all(|a| a["meta"]["partial"] == false));
    assert_eq!(
        listings(&sims),
        vec![1, 1, 1, 1, 1, 1],
        "one listing per upstream (VSS: one page of each catalogue)"
    );
}

#[tokio::test]
async fn stale_answers_come_at_once_and_refresh_once_and_writes_invalidate() {
    let (state, sims) = demo("[cache]\nfresh_ttl_s = 0\nstale_ttl_s = 60\n").await;
    get(&state, "/v1/isos").await;
    assert_eq!(listings(&sims), vec![1, 1, 1, 1, 1, 1]);
    for server in sims.servers() {
        server.control().set_faults(isogate_sim::Faults {
            latency_ms: 300,
            ..Default::default()
        });
    }
    let started = std::time::Instant::now();
    let answers = futures::future::join_all((0..20).map(|_| get(&state, "/v1/isos"))).await;
    let took = started.elapsed();
    assert!(
        took < Duration::from_millis(250),
        "stale answers do not wait for upstreams: 20 took {took:?}"
    );
    assert!(answers.iter().all(|a| a["sources"][0]["status"] == "stale"));
    tokio::time::sleep(Duration::from_millis(900)).await;
    assert_eq!(
        listings(&sims),
        vec![2, 2, 2, 2, 2, 2],
        "twenty stale answers, one refresh each"
    );

    for server in sims.servers() {
        server.control().heal();
    }
    let (state, sims) = demo("[cache]\nfresh_ttl_s = 60\n").await;
    let zone = get(&state, "/v1/providers/coxedge-prod/isos?per_page=1").await["data"][0]["zones"]
        [0]["id"]
        .clone();
    let before = get(&state, "/v1/providers/coxedge-prod/isos").await["meta"]["total"]
        .as_u64()
        .unwrap();
    let body = serde_json::json!({"name": "cache-test", "url": "http://mirror.example.org/c.iso", "zone_id": zone});
    let req = Request::post("/v1/providers/coxedge-prod/isos")
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    let status = app(state.clone())
        .oneshot(req)
        .await
        .unwrap()
        .status()
        .as_u16();
    assert!(status == 201 || status == 202);
    let after = get(&state, "/v1/providers/coxedge-prod/isos").await["meta"]["total"]
        .as_u64()
        .unwrap();
    assert_eq!(
        after,
        before + 1,
        "the write dropped the snapshot, so the new item is listed"
    );
    assert_eq!(
        listings(&sims)[1],
        2,
        "exactly one re-listing after the write"
    );
}
