//! The gateway's own mechanics over in-memory providers: federation, partial
//! failure, caching and coalescing, validators, errors.

mod support;

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::Request;
use isogate_core::ErrorKind;
use support::{Behaviour, Fake, call, get, state_with};
use tower::ServiceExt;

const FAST_CACHE: &str = "[cache]\nfresh_ttl_s = 60\nstale_ttl_s = 120\nstale_if_error_s = 3600\nrefresh_min_interval_s = 0\n";

#[tokio::test]
async fn federated_listing_is_the_union_with_per_source_status() {
    let (a, b) = (Fake::new("a", 30), Fake::new("b", 20));
    let state = state_with(vec![a.clone(), b.clone()], FAST_CACHE);
    let (resp, body) = get(&state, "/v1/isos?per_page=1000").await;
    assert_eq!(resp.status(), 200);
    assert_eq!(body["meta"]["total"], 50);
    assert_eq!(body["data"].as_array().unwrap().len(), 50);
    assert_eq!(body["meta"]["partial"], false);
    let sources = body["sources"].as_array().unwrap();
    assert_eq!(sources.len(), 2);
    assert!(sources.iter().all(|s| s["status"] == "ok"));
    assert_eq!(sources[0]["count"], 30);
    assert_eq!(resp.headers()["cache-status"], "isogate; fwd=miss; stored");
    let (resp, _) = get(&state, "/v1/isos").await;
    assert_eq!(resp.headers()["cache-status"], "isogate; hit");
    assert_eq!(
        (a.lists(), b.lists()),
        (1, 1),
        "the second answer came from the snapshots"
    );
}

#[tokio::test]
async fn one_failing_provider_gives_a_partial_200_with_its_stale_rows() {
    let (a, b) = (Fake::new("a", 3), Fake::new("b", 2));
    let state = state_with(
        vec![a.clone(), b.clone()],
        "[cache]\nfresh_ttl_s = 0\nstale_ttl_s = 0\nstale_if_error_s = 3600\n",
    );
    let (_, body) = get(&state, "/v1/isos").await;
    assert_eq!(body["meta"]["total"], 5);
    b.set(Behaviour {
        fail: Some(ErrorKind::Unavailable),
        ..Default::default()
    });
    let (resp, body) = get(&state, "/v1/isos").await;
    assert_eq!(resp.status(), 200);
    assert_eq!(body["meta"]["partial"], true);
    assert_eq!(body["meta"]["total"], 5, "b's rows are served stale");
    let b_src = &body["sources"][1];
    assert_eq!(b_src["status"], "stale");
    assert_eq!(b_src["error"]["code"], "upstream_unavailable");
    // Without anything cached, the failing provider is an error source.
    let c = Fake::new("c", 4);
    c.set(Behaviour {
        fail: Some(ErrorKind::Upstream),
        ..Default::default()
    });
    let state = state_with(vec![a.clone(), c.clone()], FAST_CACHE);
    let (resp, body) = get(&state, "/v1/isos").await;
    assert_eq!(resp.status(), 200);
    assert_eq!(body["meta"]["total"], 3);
    assert_eq!(body["sources"][1]["status"], "error");
}

#[tokio::test]
async fn all_failing_with_nothing_cached_is_502_or_504() {
    let (a, b) = (Fake::new("a", 3), Fake::new("b", 2));
    a.set(Behaviour {
        fail: Some(ErrorKind::Upstream),
        ..Default::default()
    });
    b.set(Behaviour {
        delay: Duration::from_secs(5),
        ..Default::default()
    });
    let state = state_with(vec![a.clone(), b.clone()], FAST_CACHE);
    let (resp, body) = get(&state, "/v1/isos").await;
    assert_eq!(resp.status(), 502);
    assert_eq!(resp.headers()["content-type"], "application/problem+json");
    assert_eq!(body["code"], "all_providers_failed");
    assert!(body["request_id"].as_str().is_some_and(|s| !s.is_empty()));
    a.set(Behaviour {
        delay: Duration::from_secs(5),
        ..Default::default()
    });
    let state = state_with(vec![a.clone(), b.clone()], FAST_CACHE);
    let started = std::time::Instant::now();
    let (resp, body) = get(&state, "/v1/isos").await;
    assert_eq!(resp.status(), 504);
    assert_eq!(body["code"], "all_providers_timed_out");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "the deadline bounds the answer"
    );
}

#[tokio::test]
async fn a_slow_provider_does_not_delay_the_answer_past_its_deadline() {
    let (fast, slow) = (Fake::new("fast", 3), Fake::new("slow", 3));
    slow.set(Behaviour {
        delay: Duration::from_secs(10),
        ..Default::default()
    });
    let state = state_with(vec![fast.clone(), slow.clone()], FAST_CACHE);
    let started = std::time::Instant::now();
    let (resp, body) = get(&state, "/v1/isos").await;
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(resp.status(), 200);
    assert_eq!(body["meta"]["partial"], true);
    assert_eq!(body["sources"][1]["error"]["code"], "upstream_timeout");
}

#[tokio::test]
async fn concurrent_cold_requests_coalesce_into_one_fetch_per_provider() {
    let (a, b) = (Fake::new("a", 10), Fake::new("b", 10));
    a.set(Behaviour {
        delay: Duration::from_millis(100),
        ..Default::default()
    });
    b.set(Behaviour {
        delay: Duration::from_millis(100),
        ..Default::default()
    });
    let state = state_with(vec![a.clone(), b.clone()], FAST_CACHE);
    let requests = (0..200).map(|i| {
        let state = state.clone();
        async move {
            get(&state, &format!("/v1/isos?per_page={}", 1 + i % 7))
                .await
                .0
                .status()
        }
    });
    let statuses = futures::future::join_all(requests).await;
    let not_ok: Vec<_> = statuses.iter().filter(|s| **s != 200).collect();
    assert!(not_ok.is_empty(), "not 200: {not_ok:?}");
    assert_eq!((a.lists(), b.lists()), (1, 1));
}

#[tokio::test]
async fn a_client_that_disconnects_does_not_cancel_the_fetch() {
    let a = Fake::new("a", 5);
    a.set(Behaviour {
        delay: Duration::from_millis(200),
        ..Default::default()
    });
    let state = state_with(vec![a.clone()], FAST_CACHE);
    let s = state.clone();
    let impatient = tokio::spawn(async move { get(&s, "/v1/isos").await });
    tokio::time::sleep(Duration::from_millis(50)).await;
    impatient.abort();
    let (resp, body) = get(&state, "/v1/isos").await;
    assert_eq!(resp.status(), 200);
    assert_eq!(body["meta"]["total"], 5);
    assert_eq!(
        a.lists(),
        1,
        "the second request joined the first one's fetch"
    );
}

#[tokio::test]
async fn stale_while_revalidate_answers_at_once_and_refreshes_once() {
    let a = Fake::new("a", 5);
    let state = state_with(
        vec![a.clone()],
        "[cache]\nfresh_ttl_s = 0\nstale_ttl_s = 60\n",
    );
    get(&state, "/v1/isos").await;
    a.set(Behaviour {
        delay: Duration::from_millis(300),
        ..Default::default()
    });
    let started = std::time::Instant::now();
    let answers = futures::future::join_all((0..20).map(|_| get(&state, "/v1/isos"))).await;
    assert!(
        started.elapsed() < Duration::from_millis(250),
        "stale answers do not wait"
    );
    for (resp, body) in &answers {
        assert!(
            resp.headers()["cache-status"]
                .to_str()
                .unwrap()
                .starts_with("isogate; hit; ttl=-")
        );
        assert_eq!(body["sources"][0]["status"], "stale");
        assert_eq!(body["meta"]["partial"], false);
    }
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        a.lists(),
        2,
        "one background refresh for twenty stale answers"
    );
}

#[tokio::test]
async fn a_write_invalidates_the_providers_snapshot() {
    let a = Fake::new("a", 2);
    let state = state_with(vec![a.clone()], FAST_CACHE);
    assert_eq!(get(&state, "/v1/isos").await.1["meta"]["total"], 2);
    let req = Request::post("/v1/providers/a/isos")
        .header("content-type", "application/json")
        .body(Body::from(
            r#"{"name":"new","url":"http://example.com/x.iso"}"#,
        ))
        .unwrap();
    let (resp, body) = call(&state, req).await;
    assert_eq!(resp.status(), 201, "{body}");
    assert_eq!(body["name"], "new");
    assert_eq!(get(&state, "/v1/isos").await.1["meta"]["total"], 3);
    assert_eq!(a.lists(), 2);
}

#[tokio::test]
async fn etag_gives_304_and_changes_with_the_data() {
    let a = Fake::new("a", 3);
    let state = state_with(vec![a.clone()], FAST_CACHE);
    let (resp, _) = get(&state, "/v1/isos").await;
    let etag = resp.headers()["etag"].to_str().unwrap().to_owned();
    assert!(etag.starts_with("W/\""));
    let req = Request::get("/v1/isos")
        .header("if-none-match", &etag)
        .body(Body::empty())
        .unwrap();
    let (resp, _) = call(&state, req).await;
    assert_eq!(resp.status(), 304);
    a.items
        .lock()
        .unwrap()
        .push(support::item("a", "9999", "added"));
    state.cache().invalidate("a").await;
    let req = Request::get("/v1/isos")
        .header("if-none-match", &etag)
        .body(Body::empty())
        .unwrap();
    let (resp, body) = call(&state, req).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(body["meta"]["total"], 4);
}

#[tokio::test]
async fn cursor_paging_walks_everything_once_and_rejects_foreign_cursors() {
    let (a, b) = (Fake::new("a", 23), Fake::new("b", 17));
    let state = state_with(vec![a, b], FAST_CACHE);
    let mut seen = Vec::new();
    let mut uri = "/v1/isos?per_page=7&sort=name,desc".to_owned();
    loop {
        let (resp, body) = get(&state, &uri).await;
        assert_eq!(resp.status(), 200, "{body}");
        for item in body["data"].as_array().unwrap() {
            seen.push(item["name"].as_str().unwrap().to_owned());
        }
        match body["meta"]["next_cursor"].as_str() {
            Some(c) => uri = format!("/v1/isos?per_page=7&sort=name,desc&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(seen.len(), 40);
    let mut sorted = seen.clone();
    sorted.sort_by(|x, y| y.cmp(x));
    assert_eq!(seen, sorted);
    let (_, body) = get(&state, "/v1/isos?per_page=7").await;
    let cursor = body["meta"]["next_cursor"].as_str().unwrap();
    let (resp, body) = get(
        &state,
        &format!("/v1/isos?per_page=7&sort=name,asc&cursor={cursor}"),
    )
    .await;
    // A cursor of another query names no page of this one.
    assert_eq!(resp.status(), 404);
    assert_eq!(body["code"], "cursor_not_found");
}

#[tokio::test]
async fn malformed_queries_are_400_problems_naming_the_parameter() {
    let state = state_with(vec![Fake::new("a", 1)], FAST_CACHE);
    for (uri, needle) in [
        ("/v1/isos?filter=name,eqq,x", "filter"),
        ("/v1/isos?per_page=100000", "per_page"),
        ("/v1/isos?sort=name,sideways", "sort"),
        ("/v1/isos?provider=nope", "provider"),
        ("/v1/isos?filter=size_bytes,gt,big", "filter"),
    ] {
        let (resp, body) = get(&state, uri).await;
        assert_eq!(resp.status(), 400, "{uri}");
        assert_eq!(resp.headers()["content-type"], "application/problem+json");
        assert!(
            body["detail"].as_str().unwrap().contains(needle),
            "{uri}: {body}"
        );
    }
}

#[tokio::test]
async fn unsupported_operations_are_405_with_allow_naming_the_capability_and_unknown_routes_404() {
    let a = Fake::new("a", 1);
    let state = state_with(vec![a.clone()], FAST_CACHE);
    let req = Request::post("/v1/providers/a/isos/0000/attach")
        .header("content-type", "application/json")
        .body(Body::from(r#"{"instance_id":"i-1"}"#))
        .unwrap();
    let (resp, body) = call(&state, req).await;
    assert_eq!(resp.status(), 405);
    // The attach resource allows nothing on this provider.
    assert_eq!(resp.headers()["allow"], "");
    assert_eq!(body["code"], "unsupported");
    assert!(body["detail"].as_str().unwrap().contains("attach"));
    // The item resource: get and delete yes, update no.
    let req = Request::patch("/v1/providers/a/isos/0000")
        .header("content-type", "application/json")
        .body(Body::from(r#"{"name":"n"}"#))
        .unwrap();
    let (resp, body) = call(&state, req).await;
    assert_eq!(resp.status(), 405, "{body}");
    assert_eq!(resp.headers()["allow"], "GET, DELETE");
    assert!(body["detail"].as_str().unwrap().contains("update"));
    assert_eq!(get(&state, "/v1/nope").await.0.status(), 404);
    assert_eq!(
        get(&state, "/v1/providers/zzz/isos").await.1["code"],
        "unknown_provider"
    );
}

#[tokio::test]
async fn global_ids_and_hostile_native_ids() {
    let a = Fake::new("a", 3);
    let state = state_with(vec![a.clone()], FAST_CACHE);
    let (resp, body) = get(&state, "/v1/isos/a:0001").await;
    assert_eq!(resp.status(), 200);
    assert_eq!(body["native_id"], "0001");
    assert_eq!(get(&state, "/v1/isos/a:9999").await.0.status(), 404);
    assert_eq!(get(&state, "/v1/isos/nocolon").await.0.status(), 400);
    for bad in [
        "/v1/providers/a/isos/x/%2E%2E/y",
        "/v1/providers/a/isos/x%00y",
        "/v1/providers/a/isos/a//b",
    ] {
        let (resp, body) = get(&state, bad).await;
        assert_eq!(resp.status(), 400, "{bad}: {body}");
    }
}

#[tokio::test]
async fn stats_group_and_sum() {
    let (a, b) = (Fake::new("a", 4), Fake::new("b", 6));
    let state = state_with(vec![a, b], FAST_CACHE);
    let (resp, body) = get(&state, "/v1/isos/stats?group_by=provider,status").await;
    assert_eq!(resp.status(), 200, "{body}");
    assert_eq!(body["meta"]["total"], 10);
    let rows = body["data"].as_array().unwrap();
    assert_eq!(rows[0]["group"]["provider"], "b");
    assert_eq!(rows[0]["count"], 6);
    let sum: u64 = rows.iter().map(|r| r["size_bytes"].as_u64().unwrap()).sum();
    assert_eq!(sum, body["meta"]["size_bytes"].as_u64().unwrap());
    assert_eq!(
        get(&state, "/v1/isos/stats?group_by=colour")
            .await
            .0
            .status(),
        400
    );
}

#[tokio::test]
async fn request_ids_are_echoed_and_generated() {
    let state = state_with(vec![Fake::new("a", 1)], FAST_CACHE);
    let req = Request::get("/healthz")
        .header("x-request-id", "abc-123")
        .body(Body::empty())
        .unwrap();
    let (resp, _) = call(&state, req).await;
    assert_eq!(resp.headers()["x-request-id"], "abc-123");
    let (resp, _) = get(&state, "/healthz").await;
    assert_eq!(resp.headers()["x-request-id"].len(), 32);
}

#[tokio::test]
async fn providers_show_capabilities_health_and_cache_age() {
    let a = Fake::new("a", 2);
    let state = state_with(vec![a.clone()], FAST_CACHE);
    let (_, body) = get(&state, "/v1/providers").await;
    assert_eq!(body["data"][0]["health"], "unknown");
    get(&state, "/v1/isos").await;
    let (_, body) = get(&state, "/v1/providers").await;
    let p = &body["data"][0];
    assert_eq!(p["name"], "a");
    assert_eq!(p["health"], "ok");
    assert_eq!(p["cache_count"], 2);
    assert_eq!(
        p["capabilities"],
        serde_json::json!(["list", "get", "import", "delete"])
    );
    let req = Request::post("/v1/cache/invalidate")
        .body(Body::empty())
        .unwrap();
    let (resp, body) = call(&state, req).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(body["invalidated"], serde_json::json!(["a"]));
    assert!(Arc::strong_count(&a) >= 1);
}

#[tokio::test]
async fn cors_answers_configured_origins_and_large_listings_are_compressed() {
    let a = Fake::new("a", 400);
    let state = state_with(
        vec![a],
        "[server]\ncors_origins = [\"https://dash.example\"]\n[cache]\nfresh_ttl_s = 60\n",
    );
    let req = Request::builder()
        .method("OPTIONS")
        .uri("/v1/isos")
        .header("origin", "https://dash.example")
        .header("access-control-request-method", "GET")
        .body(Body::empty())
        .unwrap();
    let (resp, _) = call(&state, req).await;
    assert_eq!(
        resp.headers()["access-control-allow-origin"],
        "https://dash.example"
    );
    let req = Request::get("/v1/isos")
        .header("origin", "https://evil.example")
        .body(Body::empty())
        .unwrap();
    let (resp, _) = call(&state, req).await;
    assert!(resp.headers().get("access-control-allow-origin").is_none());

    let req = Request::get("/v1/isos?per_page=400")
        .header("accept-encoding", "gzip")
        .body(Body::empty())
        .unwrap();
    let resp = isogate::app(state.clone()).oneshot(req).await.unwrap();
    assert_eq!(resp.headers()["content-encoding"], "gzip");
    let req = Request::get("/v1/isos?per_page=400")
        .header("accept-encoding", "br")
        .body(Body::empty())
        .unwrap();
    let resp = isogate::app(state.clone()).oneshot(req).await.unwrap();
    assert_eq!(resp.headers()["content-encoding"], "br");
}

#[tokio::test]
async fn early_per_provider_pages_match_warm_ones_and_stay_route_specific() {
    let (a, b) = (Fake::new("a", 23), Fake::new("b", 17));
    // b lands later: a's share of the page is computed while b is fetching.
    b.set(Behaviour {
        delay: Duration::from_millis(150),
        ..Default::default()
    });
    let state = state_with(vec![a.clone(), b.clone()], FAST_CACHE);
    let uri = "/v1/isos?per_page=5&sort=name,desc&filter=name,like,%25";
    let (cold, cold_body) = get(&state, uri).await;
    assert_eq!(cold.headers()["cache-status"], "isogate; fwd=miss; stored");
    let (_, warm_body) = get(&state, "/v1/isos?sort=name,desc&per_page=5").await;
    assert_eq!(cold_body["data"], warm_body["data"], "cold == warm page");
    assert_eq!(cold_body["meta"]["total"], 40);
    // A cursor binds the providers it was issued for; the same query string
    // on one provider's route must not reuse the federated route's work.
    let cursor = cold_body["meta"]["next_cursor"].as_str().unwrap();
    let next = format!("?per_page=5&sort=name,desc&filter=name,like,%25&cursor={cursor}");
    let (resp, _) = get(&state, &format!("/v1/isos{next}")).await;
    assert_eq!(resp.status(), 200);
    let (resp, body) = get(&state, &format!("/v1/providers/a/isos{next}")).await;
    assert_eq!(resp.status(), 404, "{body}");
    assert_eq!(body["code"], "cursor_not_found");
    assert_eq!((a.lists(), b.lists()), (1, 1));
}

#[tokio::test]
async fn raw_listings_are_computed_from_each_fetch_not_an_earlier_one() {
    let a = Fake::new("a", 0);
    *a.items.lock().unwrap() = vec![
        support::item("a", "0000", "b-first"),
        support::item("a", "0001", "c-second"),
    ];
    let state = state_with(vec![a.clone()], FAST_CACHE);
    let uri = "/v1/isos?raw=true&per_page=1&sort=name,asc";
    let (_, body) = get(&state, uri).await;
    assert_eq!(body["data"][0]["name"], "b-first");
    // The upstream changes; raw listings are fetched live every time, and
    // the best item now sits at another position in the upstream's order.
    *a.items.lock().unwrap() = vec![
        support::item("a", "0002", "z-last"),
        support::item("a", "0003", "a-best"),
    ];
    let (_, body) = get(&state, uri).await;
    assert_eq!(body["data"][0]["name"], "a-best", "{body}");
    assert_eq!(a.lists(), 2);
}
