//! The shared fault layer, counters and listener control, over real HTTP.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use isogate_sim::{ErrorShape, Faults, ServeOptions, SimServer};

async fn echo_server(faults: Faults) -> SimServer {
    let app = Router::new().route(
        "/api/items",
        get(|| async { r#"{"data":[1,2,3,4,5,6,7,8]}"# }),
    );
    let shape: ErrorShape = Arc::new(|status, msg| {
        isogate_sim::server::json_error(
            status,
            serde_json::json!({"errors":[{"code":1,"message":msg}]}),
        )
    });
    SimServer::start("echo", app, &ServeOptions::default(), "/api", faults, shape)
        .await
        .unwrap()
}

#[tokio::test]
async fn counts_requests_and_injects_errors_in_upstream_shape() {
    let sim = echo_server(Faults {
        error_rate: 0.5,
        error_status: 500,
        ..Default::default()
    })
    .await;
    let client = reqwest::Client::new();
    let mut statuses = Vec::new();
    for _ in 0..4 {
        let r = client
            .get(format!("{}/items", sim.base_url()))
            .send()
            .await
            .unwrap();
        statuses.push(r.status().as_u16());
        if r.status() == 500 {
            let body: serde_json::Value = r.json().await.unwrap();
            assert_eq!(body["errors"][0]["message"], "injected failure");
        }
    }
    assert_eq!(statuses.iter().filter(|s| **s == 500).count(), 2);
    assert_eq!(sim.control().count("GET /api/items"), 4);
    assert_eq!(sim.control().faulted(), 2);
}

#[tokio::test]
async fn rate_limits_carry_retry_after_and_control_api_changes_faults() {
    let sim = echo_server(Faults::default()).await;
    let client = reqwest::Client::new();
    let put = client
        .put(format!("{}/__sim/faults", sim.origin()))
        .json(&serde_json::json!({"rate_limit_rate": 1.0, "retry_after_s": 7}))
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 204);
    let r = client
        .get(format!("{}/items", sim.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["retry-after"], "7");
    let counters: serde_json::Value = client
        .get(format!("{}/__sim/counters", sim.origin()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(counters["total"], 1, "control API calls are not counted");
}

#[tokio::test]
async fn truncation_and_malformed_bodies_fail_decoding() {
    let sim = echo_server(Faults {
        truncate: true,
        ..Default::default()
    })
    .await;
    let client = reqwest::Client::new();
    let r = client
        .get(format!("{}/items", sim.base_url()))
        .send()
        .await
        .unwrap();
    assert!(
        r.bytes().await.is_err(),
        "a truncated body must not read as complete"
    );
    sim.control().set_faults(Faults {
        malformed_json: true,
        ..Default::default()
    });
    let r = client
        .get(format!("{}/items", sim.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.json::<serde_json::Value>().await.is_err());
}

#[tokio::test]
async fn hang_never_answers_and_stopped_listener_refuses() {
    let mut sim = echo_server(Faults {
        hang: true,
        ..Default::default()
    })
    .await;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let err = client
        .get(format!("{}/items", sim.base_url()))
        .send()
        .await
        .unwrap_err();
    assert!(err.is_timeout());
    sim.control().heal();
    assert!(
        client
            .get(format!("{}/items", sim.base_url()))
            .send()
            .await
            .unwrap()
            .status()
            .is_success()
    );
    sim.stop_listening();
    let err = client
        .get(format!("{}/items", sim.base_url()))
        .send()
        .await
        .unwrap_err();
    assert!(err.is_connect() || err.is_request(), "{err:?}");
    sim.resume_listening().await.unwrap();
    assert!(
        client
            .get(format!("{}/items", sim.base_url()))
            .send()
            .await
            .unwrap()
            .status()
            .is_success()
    );
}
