//! The resilience layers over the real adapters and simulators: deadlines,
//! the circuit breaker, retries within their budget, writes sent once.

#[path = "support/hardening.rs"]
mod hardening;

use std::time::{Duration, Instant};

use hardening::{demo, send, set, sim};
use isogate_sim::Faults;
use serde_json::{Value, json};

fn source<'a>(body: &'a Value, provider: &str) -> &'a Value {
    body["sources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["provider"] == provider)
        .unwrap()
}

#[tokio::test]
async fn a_provider_that_never_answers_does_not_hold_the_listing_past_its_deadline() {
    let (state, sims) =
        demo(|t| set(&t, "providers.coxedge-prod", &[("deadline_ms", "400")])).await;
    sim(&sims, "cloudmc-v2").control().set_faults(Faults {
        hang: true,
        ..Default::default()
    });
    let started = Instant::now();
    let r = send(&state, "GET", "/v1/isos?per_page=5", &[], None).await;
    let elapsed = started.elapsed();
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(elapsed < Duration::from_millis(1400), "{elapsed:?}");
    let src = source(&r.body, "coxedge-prod");
    assert_eq!(src["status"], "error");
    assert_eq!(src["error"]["code"], "upstream_timeout");
    assert_eq!(source(&r.body, "vss-prod")["status"], "ok");
    assert_eq!(r.body["meta"]["partial"], true);
}

#[tokio::test]
async fn the_breaker_opens_answers_at_once_and_recovers_through_a_probe() {
    let (state, sims) = demo(|t| {
        let t = set(
            &t,
            "cache",
            &[("fresh_ttl_s", "60"), ("refresh_min_interval_s", "0")],
        );
        set(
            &t,
            "providers.coxedge-prod.resilience",
            &[
                ("breaker_failures", "3"),
                ("breaker_cooldown_ms", "400"),
                ("retries", "0"),
            ],
        )
    })
    .await;
    let v2 = sim(&sims, "cloudmc-v2");
    v2.control().set_faults(Faults {
        error_rate: 1.0,
        ..Default::default()
    });
    for _ in 0..3 {
        let r = send(&state, "GET", "/v1/isos?per_page=1", &[], None).await;
        assert_eq!(source(&r.body, "coxedge-prod")["status"], "error");
    }
    let providers = send(&state, "GET", "/v1/providers", &[], None).await;
    let info = providers.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "coxedge-prod")
        .unwrap()
        .clone();
    assert_eq!(info["breaker"]["state"], "open", "{info}");
    assert!(info["breaker"]["opened_at"].is_string());
    let before = v2.control().total();
    let started = Instant::now();
    let r = send(&state, "GET", "/v1/isos?per_page=1", &[], None).await;
    let elapsed = started.elapsed();
    assert_eq!(r.status, 200);
    let src = source(&r.body, "coxedge-prod");
    assert_eq!(src["status"], "error");
    assert_eq!(src["error"]["code"], "upstream_unavailable");
    assert!(
        src["error"]["message"]
            .as_str()
            .unwrap()
            .contains("circuit open")
    );
    assert!(elapsed < Duration::from_millis(50), "{elapsed:?}");
    assert_eq!(
        v2.control().total(),
        before,
        "an open breaker sends nothing"
    );
    let metrics = send(&state, "GET", "/metrics", &[], None).await.text;
    assert!(
        metrics.contains("isogate_breaker_state{provider=\"coxedge-prod\"} 2"),
        "{metrics}"
    );
    assert!(metrics.contains("isogate_upstream_calls_total"));
    // Healed upstream, cool-down over: one probe closes the circuit.
    v2.control().heal();
    tokio::time::sleep(Duration::from_millis(450)).await;
    let r = send(&state, "GET", "/v1/isos?per_page=1", &[], None).await;
    assert_eq!(
        source(&r.body, "coxedge-prod")["status"],
        "ok",
        "{}",
        r.text
    );
    let providers = send(&state, "GET", "/v1/providers", &[], None).await;
    let info = providers.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "coxedge-prod")
        .unwrap()
        .clone();
    assert_eq!(info["breaker"]["state"], "closed");
    assert_eq!(info["breaker"]["opened_total"], 1);
}

#[tokio::test]
async fn twenty_percent_503_on_reads_is_retried_within_a_1_2x_budget() {
    let (state, sims) = demo(|t| {
        set(
            &t,
            "cache",
            &[
                ("fresh_ttl_s", "0"),
                ("stale_ttl_s", "0"),
                ("stale_if_error_s", "3600"),
            ],
        )
    })
    .await;
    let v2 = sim(&sims, "cloudmc-v2");
    let uri = "/v1/providers/coxedge-prod/isos?per_page=1";
    assert_eq!(send(&state, "GET", uri, &[], None).await.status, 200);
    v2.control().reset_counters();
    assert_eq!(send(&state, "GET", uri, &[], None).await.status, 200);
    let per_listing = v2.control().total();
    assert!(per_listing >= 1);
    v2.control().set_faults(Faults {
        error_rate: 0.2,
        methods: vec!["GET".into()],
        ..Default::default()
    });
    v2.control().reset_counters();
    let n = 100u64;
    let mut fresh = 0;
    for _ in 0..n {
        let r = send(&state, "GET", uri, &[], None).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.body["data"].as_array().unwrap().len(), 1);
        if r.body["sources"][0]["status"] == "ok" {
            fresh += 1;
        }
    }
    let sent = v2.control().total();
    let amplification = sent as f64 / (n * per_listing) as f64;
    println!(
        "amplification {amplification:.3}, fresh {fresh}/{n}, faulted {}",
        v2.control().faulted()
    );
    assert!(amplification <= 1.2, "{amplification}");
    assert!(v2.control().faulted() > 0);
    assert!(
        fresh > n * 8 / 10,
        "retries turned some failures into fresh answers: {fresh}"
    );
}

#[tokio::test]
async fn a_write_whose_answer_is_lost_is_not_repeated() {
    let (state, sims) = demo(|t| t).await;
    let v2 = sim(&sims, "cloudmc-v2");
    let first = send(
        &state,
        "GET",
        "/v1/providers/coxedge-prod/isos?per_page=1",
        &[],
        None,
    )
    .await;
    let zone = first.body["data"][0]["zones"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    v2.control().set_faults(Faults {
        truncate: true,
        methods: vec!["POST".into()],
        ..Default::default()
    });
    v2.control().reset_counters();
    let r = send(
        &state,
        "POST",
        "/v1/providers/coxedge-prod/isos",
        &[],
        Some(
            json!({"name": "once", "url": "http://releases.example.com/once.iso", "zone_id": zone}),
        ),
    )
    .await;
    assert!(r.status >= 500, "{}", r.text);
    assert_eq!(
        v2.control().count_prefix("POST "),
        1,
        "{:?}",
        v2.control().counts()
    );
}
