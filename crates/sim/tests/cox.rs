//! The Cox images simulator over HTTP.

use isogate_sim::Faults;
use isogate_sim::cox::{
    self, DEFAULT_API_KEY, DEPRECATED_IMAGE_ID, ENVIRONMENT, Options, SEED_IMAGE_IDS, SERVICE_CODE,
    SYSTEM_SLUG,
};
use isogate_sim::cox::{BASE_PATH, LEGACY_BASE_PATH, LEGACY_SERVICE_CODE};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

async fn get(sim: &isogate_sim::SimServer, rest: &str) -> (StatusCode, Value) {
    let resp = Client::new()
        .get(format!(
            "{}/services/{SERVICE_CODE}/{ENVIRONMENT}/images{rest}",
            sim.base_url()
        ))
        .header("MC-Api-Key", DEFAULT_API_KEY)
        .send()
        .await
        .unwrap();
    let status = resp.status();
    (status, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn list_matches_the_seed_and_filters_system_images() {
    let sim = cox::start(Options::default()).await.unwrap();
    assert!(sim.base_url().ends_with("/api/v2"));
    let (status, body) = get(&sim, "").await;
    assert_eq!(status, 200);
    let data = body["data"].as_array().unwrap();
    assert_eq!(body["metadata"]["recordCount"], data.len());
    assert!(data.len() > 20);
    assert_eq!(
        data[0],
        json!({
            "stackId": "a8050b2b-39eb-4929-bce5-1af42055903e",
            "id": "a8050b2b-39eb-4929-bce5-1af42055903e/centos7/v20201110",
            "slug": "cox-edge", "family": "centos7", "tag": "v20201110",
            "createdAt": "2020-11-10T20:33:32.609434Z",
            "description": "Image using centos7",
            "reference": "cox-edge/centos7:v20201110", "status": "READY"
        })
    );
    assert_eq!(data[1]["id"], SEED_IMAGE_IDS[1]);
    assert_eq!(data[1]["createdAt"], "2020-11-10T20:34:11.328575Z");
    for img in data {
        let id = format!(
            "{}/{}/{}",
            img["stackId"].as_str().unwrap(),
            img["family"].as_str().unwrap(),
            img["tag"].as_str().unwrap()
        );
        assert_eq!(img["id"], id.as_str());
        assert_ne!(
            img["id"], DEPRECATED_IMAGE_ID,
            "deprecated images are not listed"
        );
    }
    let stacks: std::collections::BTreeSet<&str> = data
        .iter()
        .map(|i| i["stackId"].as_str().unwrap())
        .collect();
    assert!(stacks.len() >= 3, "system and custom stacks");
    let statuses: std::collections::BTreeSet<&str> =
        data.iter().map(|i| i["status"].as_str().unwrap()).collect();
    assert!(statuses.len() >= 2, "{statuses:?}");

    let (_, system) = get(&sim, "?includeOnlySystemImages=true").await;
    let system = system["data"].as_array().unwrap();
    assert!(!system.is_empty() && system.len() < data.len());
    assert!(system.iter().all(|i| i["slug"] == SYSTEM_SLUG));
    let (_, all) = get(&sim, "?includeOnlySystemImages=false").await;
    assert_eq!(all["data"].as_array().unwrap().len(), data.len());
    let (status, body) = get(&sim, "?includeOnlySystemImages=maybe").await;
    assert_eq!(status, 400);
    assert_eq!(
        body["errors"][0]["context"]["field"],
        "includeOnlySystemImages"
    );
}

#[tokio::test]
async fn get_by_three_segment_id_and_rejects_bad_ids() {
    let sim = cox::start(Options::default()).await.unwrap();
    let (status, body) = get(&sim, &format!("/{}", SEED_IMAGE_IDS[1])).await;
    assert_eq!(status, 200);
    assert_eq!(body["data"]["reference"], "cox-edge/ubuntu:v20201110");
    let (status, body) = get(&sim, &format!("/{DEPRECATED_IMAGE_ID}")).await;
    assert_eq!(status, 200, "deprecated images are readable by id");
    assert_eq!(body["data"]["tag"], "v20190601");
    let (status, body) = get(&sim, "/a8050b2b-39eb-4929-bce5-1af42055903e/ubuntu/v1999").await;
    assert_eq!(status, 404);
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("v1999")
    );
    for bad in ["/a/b", "/a/b/c/d", "/a//c", "/a/%2E%2E/c"] {
        let (status, body) = get(&sim, bad).await;
        assert!(status == 400 || status == 404, "{bad}: {status}");
        assert!(body["errors"].is_array(), "{bad}");
    }
    let (status, _) = get(&sim, "/a/b").await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn auth_scale_and_faults() {
    let sim = cox::start(Options {
        scale: Some(300),
        ..Default::default()
    })
    .await
    .unwrap();
    let resp = Client::new()
        .get(format!("{}/services/cox/test-area/images", sim.base_url()))
        .header("MC-Api-Key", "wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["errors"][0]["code"], 1001);
    let (_, body) = get(&sim, "").await;
    let n = body["data"].as_array().unwrap().len();
    assert!(n > 200 && n <= 300, "scale counts deprecated ones too: {n}");
    let resp = Client::new()
        .get(format!("{}/services/cox/prod/images", sim.base_url()))
        .header("MC-Api-Key", DEFAULT_API_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    sim.control().set_faults(Faults {
        error_rate: 1.0,
        error_status: 503,
        ..Default::default()
    });
    let (status, body) = get(&sim, "").await;
    assert_eq!(status, 503);
    assert_eq!(body["errors"][0]["message"], "injected failure");
}

async fn get_at(
    sim: &isogate_sim::SimServer,
    base: &str,
    service: &str,
    rest: &str,
) -> (StatusCode, Value) {
    let resp = Client::new()
        .get(format!(
            "{}{base}/services/{service}/{ENVIRONMENT}/images{rest}",
            sim.origin()
        ))
        .header("MC-Api-Key", DEFAULT_API_KEY)
        .send()
        .await
        .unwrap();
    let status = resp.status();
    (status, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn current_and_old_paths_serve_the_same_catalogue_each_with_its_service_code() {
    let sim = cox::start(Options::default()).await.unwrap();
    // Cox's Go client: /api/v2/services/edge-services/...; before 2022 /api/v1/services/cox/...
    assert_eq!((BASE_PATH, SERVICE_CODE), ("/api/v2", "edge-services"));
    assert_eq!((LEGACY_BASE_PATH, LEGACY_SERVICE_CODE), ("/api/v1", "cox"));
    let (s2, current) = get_at(&sim, BASE_PATH, SERVICE_CODE, "").await;
    let (s1, old) = get_at(&sim, LEGACY_BASE_PATH, LEGACY_SERVICE_CODE, "").await;
    assert_eq!((s2, s1), (StatusCode::OK, StatusCode::OK));
    assert_eq!(current, old);
    let one = format!("/{}", SEED_IMAGE_IDS[0]);
    let (s2, a) = get_at(&sim, BASE_PATH, SERVICE_CODE, &one).await;
    let (s1, b) = get_at(&sim, LEGACY_BASE_PATH, LEGACY_SERVICE_CODE, &one).await;
    assert_eq!((s2, s1), (StatusCode::OK, StatusCode::OK));
    assert_eq!(a, b);
    for (base, service) in [
        (BASE_PATH, LEGACY_SERVICE_CODE),
        (LEGACY_BASE_PATH, SERVICE_CODE),
    ] {
        let (status, body) = get_at(&sim, base, service, "").await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{base} {service}");
        assert_eq!(body["errors"][0]["code"], 2004);
        assert!(
            body["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains("Service connection")
        );
    }
}

#[tokio::test]
async fn errors_in_200_answer_the_errors_shape_with_status_200() {
    let sim = cox::start(Options::default()).await.unwrap();
    sim.control().set_faults(Faults {
        errors_in_200: true,
        ..Default::default()
    });
    let (status, body) = get(&sim, "").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body["errors"][0]["message"],
        "injected error in a 200 answer"
    );
    assert!(body.get("data").is_none());
}
