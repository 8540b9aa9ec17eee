//! Hostile input over the real adapters and simulators: import URLs naming
//! internal addresses in every spelling, native-id attacks, and the request
//! limits. Each rejection is a 400-class problem and no upstream request is
//! made (the simulators' own counters say so).

#[path = "support/hardening.rs"]
mod hardening;
mod support;

use std::sync::Arc;
use std::time::Duration;

use hardening::{assert_problem, demo, send, set, sim};
use isogate::ssrf::StaticResolver;
use isogate_core::GlobalId;
use serde_json::json;
use support::{Behaviour, Fake, state_with};

const IMPORT: &str = "/v1/providers/coxedge-prod/isos";

#[tokio::test]
async fn every_internal_spelling_of_an_import_url_is_rejected_before_the_upstream() {
    let (state, sims) = demo(|t| set(&t, "server", &[("import_dns", "\"skip\"")])).await;
    let v2 = sim(&sims, "cloudmc-v2");
    let first = send(&state, "GET", &format!("{IMPORT}?per_page=1"), &[], None).await;
    let zone = first.body["data"][0]["zones"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let before = v2.control().total();
    for url in [
        "http://127.0.0.1/x.iso",
        "http://2130706433/x.iso",
        "http://0x7f.1/x.iso",
        "http://0177.0.0.1/x.iso",
        "http://127.1/x.iso",
        "http://[::ffff:127.0.0.1]/x.iso",
        "http://[::1]/x.iso",
        "http://0/x.iso",
        "http://localhost/x.iso",
        "http://localhost./x.iso",
        "http://mirror.localhost/x.iso",
        "http://１２７.0.0.1/x.iso",
        "http://10.0.0.1/x.iso",
        "http://172.31.255.255/x.iso",
        "http://192.168.0.10/x.iso",
        "http://169.254.169.254/latest/meta-data/",
        "http://[fd00:ec2::254]/latest/",
        "http://metadata.google.internal/computeMetadata/v1/",
        "http://100.100.100.200/x.iso",
        "http://224.0.0.251/x.iso",
        "http://255.255.255.255/x.iso",
        "http://[fe80::1]/x.iso",
        "http://user:secret@releases.example.com/x.iso",
        "https://releases.example.com/x.iso",
        "ftp://releases.example.com/x.iso",
        "file:///etc/passwd",
        "releases.example.com/x.iso",
    ] {
        let r = send(
            &state,
            "POST",
            IMPORT,
            &[],
            Some(json!({"name": "x", "url": url, "zone_id": zone})),
        )
        .await;
        assert_problem(&r, 400, "import_url_rejected");
        assert!(!r.text.contains("secret"), "{}", r.text);
    }
    assert_eq!(
        v2.control().total(),
        before,
        "no request reached the upstream"
    );
    // The counter does move for an acceptable URL.
    let r = send(
        &state,
        "POST",
        IMPORT,
        &[],
        Some(json!({"name": "ok", "url": "http://releases.example.com/x.iso", "zone_id": zone})),
    )
    .await;
    assert!(r.status == 201 || r.status == 202, "{}", r.text);
    assert!(v2.control().total() > before);
}

#[tokio::test]
async fn resolved_names_are_checked_and_private_mirrors_can_be_allowed() {
    let (state, sims) = demo(|t| {
        set(
            &t,
            "server",
            &[
                ("import_dns", "\"strict\""),
                ("import_host_allow", "[\"mirror.corp.net\"]"),
            ],
        )
    })
    .await;
    state
        .import_guard()
        .set_resolver(Arc::new(StaticResolver(vec![
            (
                "cdn.public.net".into(),
                vec!["93.184.216.34".parse().unwrap()],
            ),
            (
                "sneaky.public.net".into(),
                vec!["127.0.0.1".parse().unwrap()],
            ),
            ("mirror.corp.net".into(), vec!["10.1.1.1".parse().unwrap()]),
        ])));
    let v2 = sim(&sims, "cloudmc-v2");
    let first = send(&state, "GET", &format!("{IMPORT}?per_page=1"), &[], None).await;
    let zone = first.body["data"][0]["zones"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let before = v2.control().total();
    for url in [
        "http://sneaky.public.net/x.iso",
        "http://unknown.public.net/x.iso",
    ] {
        let r = send(
            &state,
            "POST",
            IMPORT,
            &[],
            Some(json!({"name": "x", "url": url, "zone_id": zone})),
        )
        .await;
        assert_problem(&r, 400, "import_url_rejected");
    }
    assert_eq!(v2.control().total(), before);
    for url in [
        "http://cdn.public.net/x.iso",
        "http://mirror.corp.net/x.iso",
    ] {
        let r = send(
            &state,
            "POST",
            IMPORT,
            &[],
            Some(json!({"name": "x", "url": url, "zone_id": zone})),
        )
        .await;
        assert!(r.status == 201 || r.status == 202, "{url}: {}", r.text);
    }
}

#[tokio::test]
async fn id_attacks_are_400_and_never_reach_the_upstream() {
    let (state, sims) = demo(|t| t).await;
    let long = "x".repeat(513);
    let ids = [
        ".",
        "..",
        "a/../b",
        "a/./b",
        "a//b",
        "/a",
        "a/",
        "%2e%2e",
        "a%2F..%2Fb",
        "a%00b",
        "a%0Ab",
        "a%0Db",
        "a%7Fb",
        "a%1Bb",
        "%C0%AE",
        long.as_str(),
    ];
    let totals = |sims: &isogate::Embedded| -> u64 {
        sims.servers().iter().map(|s| s.control().total()).sum()
    };
    let before = totals(&sims);
    for id in ids {
        for uri in [
            format!("/v1/providers/coxedge-images/isos/{id}"),
            format!("/v1/providers/coxedge-prod/isos/{id}"),
            format!("/v1/providers/coxedge-prod/isos/{id}/history"),
        ] {
            let r = send(&state, "GET", &uri, &[], None).await;
            assert_eq!(r.status, 400, "{uri}: {}", r.text);
        }
        let r = send(
            &state,
            "DELETE",
            &format!("/v1/providers/coxedge-prod/isos/{id}"),
            &[],
            None,
        )
        .await;
        assert_eq!(r.status, 400, "DELETE {id}: {}", r.text);
        let r = send(
            &state,
            "POST",
            &format!("/v1/providers/coxedge-prod/isos/{id}/download-url"),
            &[],
            None,
        )
        .await;
        assert_eq!(r.status, 400, "download-url {id}: {}", r.text);
    }
    // Ids that cannot even be path segments of their own.
    for id in ["..", ".", "a\0b", "a\nb", long.as_str()] {
        let global = GlobalId::encode("coxedge-images", id);
        let r = send(&state, "GET", &format!("/v1/isos/{global}"), &[], None).await;
        assert_eq!(r.status, 400, "{global}: {}", r.text);
    }
    for task in ["..", "a%2Fb", "a%00", long.as_str()] {
        let r = send(
            &state,
            "GET",
            &format!("/v1/providers/coxedge-prod/tasks/{task}"),
            &[],
            None,
        )
        .await;
        assert_eq!(r.status, 400, "task {task}: {}", r.text);
        let r = send(
            &state,
            "POST",
            &format!("/v1/providers/coxedge-prod/instances/{task}/detach-iso"),
            &[],
            None,
        )
        .await;
        assert_eq!(r.status, 400, "detach {task}: {}", r.text);
    }
    let r = send(
        &state,
        "POST",
        "/v1/providers/coxedge-prod/isos/00000000-0000-4000-8000-000000000000/attach",
        &[],
        Some(json!({"instance_id": "../x"})),
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(totals(&sims), before, "no id attack reached any upstream");
}

#[tokio::test]
async fn every_limit_answers_its_own_problem() {
    let a = Fake::new("a", 3);
    let state = state_with(
        vec![a.clone()],
        "[server]\nmax_per_page = 50\nmax_filters = 2\nmax_body_bytes = 1024\nmax_header_bytes = 2048\nrequest_timeout_ms = 150\n",
    );
    assert_problem(
        &send(&state, "GET", "/v1/isos?per_page=51", &[], None).await,
        400,
        "invalid_query",
    );
    assert_eq!(
        send(&state, "GET", "/v1/isos?per_page=50", &[], None)
            .await
            .status,
        200
    );
    assert_eq!(
        send(
            &state,
            "GET",
            "/v1/isos?filter=size_bytes,gt,1&filter=size_bytes,lt,9",
            &[],
            None
        )
        .await
        .status,
        200
    );
    assert_problem(
        &send(
            &state,
            "GET",
            "/v1/isos?filter=size_bytes,gt,1&filter=size_bytes,lt,9&filter=name,eq,a",
            &[],
            None,
        )
        .await,
        400,
        "invalid_query",
    );
    let big = json!({"name": "x".repeat(2000), "url": "http://releases.example.com/x.iso"});
    assert_problem(
        &send(&state, "POST", "/v1/providers/a/isos", &[], Some(big)).await,
        413,
        "payload_too_large",
    );
    let huge = "v".repeat(3000);
    assert_problem(
        &send(&state, "GET", "/v1/isos", &[("x-padding", &huge)], None).await,
        431,
        "headers_too_large",
    );
    let many: Vec<(String, String)> = (0..100)
        .map(|i| (format!("x-h{i}"), "v".repeat(30)))
        .collect();
    let refs: Vec<(&str, &str)> = many.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert_problem(
        &send(&state, "GET", "/healthz", &refs, None).await,
        431,
        "headers_too_large",
    );
    assert_eq!(a.writes.load(std::sync::atomic::Ordering::SeqCst), 0);
    // A request outliving request_timeout_ms is a 504 problem.
    a.set(Behaviour {
        delay: Duration::from_millis(1000),
        ..Default::default()
    });
    let r = send(&state, "GET", "/v1/isos?refresh=true", &[], None).await;
    assert_problem(&r, 504, "request_timeout");
    assert!(r.elapsed < Duration::from_millis(800), "{:?}", r.elapsed);
}

#[tokio::test]
async fn the_scheme_allow_list_is_configurable_per_provider() {
    let (state, sims) = demo(|t| {
        let t = set(&t, "server", &[("import_dns", "\"skip\"")]);
        set(
            &t,
            "providers.coxedge-prod",
            &[("import_schemes", "[\"https\"]")],
        )
    })
    .await;
    let v2 = sim(&sims, "cloudmc-v2");
    let before = v2.control().total();
    let r = send(
        &state,
        "POST",
        IMPORT,
        &[],
        Some(json!({"name": "x", "url": "http://releases.example.com/x.iso"})),
    )
    .await;
    assert_problem(&r, 400, "import_url_rejected");
    assert!(
        r.body["detail"]
            .as_str()
            .unwrap()
            .contains("allowed: https"),
        "{}",
        r.text
    );
    assert_eq!(v2.control().total(), before);
    // The action provider keeps its own default: https only.
    let r = send(
        &state,
        "POST",
        "/v1/providers/hostkey/isos",
        &[],
        Some(json!({"name": "x", "url": "http://releases.example.com/x.iso"})),
    )
    .await;
    assert_problem(&r, 400, "import_url_rejected");
}

#[tokio::test]
async fn invented_methods_share_one_metric_label_and_every_request_is_counted() {
    let state = state_with(vec![Fake::new("a", 2)], "");
    for method in ["PURGEA", "PURGEB", "PURGEC"] {
        let r = send(&state, method, "/v1/providers", &[], None).await;
        assert_eq!(r.status, 405, "{method}");
    }
    for _ in 0..2 {
        assert_eq!(
            send(&state, "GET", "/v1/providers", &[], None).await.status,
            200
        );
    }
    let metrics = send(&state, "GET", "/metrics", &[], None).await.text;
    let line = |method: &str, status: &str| {
        format!(
            "isogate_http_requests_total{{route=\"/v1/providers\",method=\"{method}\",status=\"{status}\"}}"
        )
    };
    assert!(
        metrics.contains(&format!("{} 3\n", line("other", "405"))),
        "{metrics}"
    );
    assert!(
        metrics.contains(&format!("{} 2\n", line("GET", "200"))),
        "{metrics}"
    );
    assert!(
        !metrics.contains("PURGE"),
        "a client's method never becomes a label"
    );
}
