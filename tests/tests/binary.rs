//! The real binary on its embedded default: listing, filter, cursor paging to
//! the end, an import on CloudMC v2 through to its finished task, OpenAPI,
//! graceful shutdown.

use std::time::{Duration, Instant};

use serde_json::Value;

async fn get(client: &reqwest::Client, url: &str) -> (u16, Value) {
    let resp = client.get(url).send().await.expect("request");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn the_default_binary_serves_the_federated_catalogue() {
    let gw = isogate_e2e::start(&[]);
    let client = reqwest::Client::new();
    let base = &gw.base;

    // The federated listing holds every provider, all ok.
    let (status, body) = get(&client, &format!("{base}/v1/isos?per_page=20")).await;
    assert_eq!(status, 200, "{body}");
    let sources = body["sources"].as_array().unwrap();
    assert_eq!(sources.len(), 5, "{body}");
    for s in sources {
        assert_eq!(s["status"], "ok", "{s}");
        assert!(s["count"].as_u64().unwrap() > 0, "{s}");
    }
    let total = body["meta"]["total"].as_u64().unwrap();
    let counted: u64 = sources.iter().map(|s| s["count"].as_u64().unwrap()).sum();
    assert_eq!(total, counted);

    // A filter: only VSS items whose name starts with "ubuntu" (case-insensitive).
    let (status, body) = get(
        &client,
        &format!("{base}/v1/isos?provider=vss-prod&filter=name,like,ubuntu%25&per_page=1000"),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let data = body["data"].as_array().unwrap();
    assert!(!data.is_empty());
    assert!(data.iter().all(|i| {
        i["provider"] == "vss-prod"
            && i["name"]
                .as_str()
                .unwrap()
                .to_lowercase()
                .starts_with("ubuntu")
    }));

    // Cursor paging to the end visits every item exactly once, in order.
    let mut ids = Vec::new();
    let mut url = format!("{base}/v1/isos?per_page=97&sort=name,asc&fields=name");
    loop {
        let (status, body) = get(&client, &url).await;
        assert_eq!(status, 200, "{body}");
        ids.extend(
            body["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["id"].as_str().unwrap().to_owned()),
        );
        match body["meta"]["next_cursor"].as_str() {
            Some(c) => {
                url = format!("{base}/v1/isos?per_page=97&sort=name,asc&fields=name&cursor={c}")
            }
            None => break,
        }
    }
    assert_eq!(ids.len() as u64, total);
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), ids.len());

    // OpenAPI 3.1 describes every route.
    let (status, spec) = get(&client, &format!("{base}/openapi.json")).await;
    assert_eq!(status, 200);
    assert!(spec["openapi"].as_str().unwrap().starts_with("3.1"));
    for path in [
        "/v1/isos",
        "/v1/isos/stats",
        "/v1/providers/{provider}/isos",
        "/v1/providers/{provider}/tasks/{task}",
    ] {
        assert!(spec["paths"].get(path).is_some(), "{path} missing");
    }
    // /docs is Swagger UI over that document (its initializer names it).
    let docs = client.get(format!("{base}/docs")).send().await.unwrap();
    assert_eq!(docs.status(), 200);
    assert!(
        docs.text()
            .await
            .unwrap()
            .contains("swagger-initializer.js")
    );
    let init = client
        .get(format!("{base}/docs/swagger-initializer.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(init.status(), 200);
    assert!(init.text().await.unwrap().contains("/openapi.json"));
}

#[tokio::test]
async fn an_import_on_cloudmc_v2_runs_to_its_finished_task() {
    let gw = isogate_e2e::start(&[]);
    let client = reqwest::Client::new();
    let base = &gw.base;
    let (_, body) = get(
        &client,
        &format!("{base}/v1/providers/coxedge-prod/isos?per_page=1"),
    )
    .await;
    let zone = body["data"][0]["zones"][0]["id"]
        .as_str()
        .expect("a zone")
        .to_owned();
    let resp = client
        .post(format!("{base}/v1/providers/coxedge-prod/isos"))
        .json(&serde_json::json!({
            "name": "e2e-imported",
            "description": "imported by the e2e test",
            "url": "http://releases.example.com/e2e.iso",
            "zone_id": zone,
        }))
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let location = resp
        .headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_owned());
    let body: Value = resp.json().await.unwrap();
    assert!(status == 201 || status == 202, "{status}: {body}");
    if status == 202 {
        let location = location.expect("202 carries Location");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let (status, task) = get(&client, &format!("{base}{location}")).await;
            assert_eq!(status, 200, "{task}");
            if task["status"] != "pending" {
                assert_eq!(task["status"], "succeeded", "{task}");
                break;
            }
            assert!(Instant::now() < deadline, "task still pending");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    // The write invalidated the snapshot: the next listing has the item.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (_, body) = get(
            &client,
            &format!("{base}/v1/providers/coxedge-prod/isos?filter=name,eq,e2e-imported"),
        )
        .await;
        if body["meta"]["total"] == 1 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "imported item never listed: {body}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
        let _ = client
            .post(format!("{base}/v1/cache/invalidate"))
            .send()
            .await;
    }
}

#[test]
fn sigterm_shuts_down_cleanly_and_bad_config_names_the_key() {
    let gw = isogate_e2e::start(&[]);
    let base = gw.base.clone();
    assert_eq!(
        isogate_e2e::http_status(&format!("{base}/healthz")),
        Some(200)
    );
    assert_eq!(gw.terminate(), Some(0));
    assert_eq!(isogate_e2e::http_status(&format!("{base}/healthz")), None);

    // --demo: a provider variable alone would configure a provider of its own.
    let out = isogate_e2e::command()
        .args(["--demo", "check-config"])
        .env("ISOGATE_PROVIDERS__VSS_PROD__CATALOGUE", "everything")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("providers.vss-prod"), "{stderr}");
    let out = isogate_e2e::command().arg("check-config").output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
