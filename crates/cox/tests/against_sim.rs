//! The Cox provider against the Cox simulator over loopback HTTP.

use std::time::Duration;

use isogate_core::{ErrorKind, IsoProvider, IsoProviderExt, ItemKind, Status, Visibility};
use isogate_cox::{CoxConfig, CoxProvider};
use isogate_sim::Faults;
use isogate_sim::cox::{self, DEPRECATED_IMAGE_ID, Options, SEED_IMAGE_IDS};
use secrecy::SecretString;

fn config(sim: &isogate_sim::SimServer, key: &str, only_system: bool) -> CoxConfig {
    CoxConfig {
        base_url: sim.base_url(),
        api_key: SecretString::from(key),
        service_code: cox::SERVICE_CODE.into(),
        environment: cox::ENVIRONMENT.into(),
        org_id: None,
        include_only_system_images: only_system,
        timeout_ms: 500,
        connect_timeout_ms: 500,
    }
}

#[tokio::test]
async fn lists_gets_and_filters_system_images() {
    let sim = cox::start(Options::default()).await.unwrap();
    let p = CoxProvider::new("cox-test", config(&sim, cox::DEFAULT_API_KEY, false)).unwrap();
    let all = p.list_all().await.unwrap();
    assert!(all.len() > 20);
    assert!(all.iter().all(|i| i.kind == ItemKind::Image));
    assert_eq!(all[0].native_id, SEED_IMAGE_IDS[0]);
    assert!(all.iter().any(|i| i.visibility == Visibility::Private));
    assert!(all.iter().any(|i| i.status != Status::Ready));
    assert!(all.iter().all(|i| i.native_id != DEPRECATED_IMAGE_ID));
    for item in [&all[0], &all[all.len() / 2], &all[all.len() - 1]] {
        assert_eq!(&p.get(&item.native_id, false).await.unwrap(), item);
    }
    let deprecated = p.get(DEPRECATED_IMAGE_ID, true).await.unwrap();
    assert_eq!(deprecated.labels["tag"], "v20190601");
    assert!(deprecated.raw.is_some());

    let system = CoxProvider::new("cox-sys", config(&sim, cox::DEFAULT_API_KEY, true)).unwrap();
    let only = system.list_all().await.unwrap();
    assert!(!only.is_empty() && only.len() < all.len());
    assert!(only.iter().all(|i| i.labels["slug"] == "cox-edge"));
    assert!(
        sim.control()
            .count_prefix("GET /api/v2/services/edge-services/test-area/images")
            > 0
    );
}

#[tokio::test]
async fn bad_ids_are_rejected_before_any_request_and_missing_ones_are_not_found() {
    let sim = cox::start(Options::default()).await.unwrap();
    let p = CoxProvider::new("cox-test", config(&sim, cox::DEFAULT_API_KEY, false)).unwrap();
    sim.control().reset_counters();
    for bad in ["a/../c", "a//c", "../../x/y", "a/b/c\0"] {
        let e = p.get(bad, false).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{bad:?}");
        assert_eq!(e.provider(), Some("cox-test"));
        assert_eq!(e.operation(), Some("get"));
    }
    // Clean ids of another shape name no image: not found, still unasked.
    for absent in ["a/b", "a/b/c/d"] {
        let e = p.get(absent, false).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFound, "{absent:?}");
        assert_eq!(e.provider(), Some("cox-test"));
    }
    assert_eq!(sim.control().total(), 0);
    let e = p
        .get("a8050b2b-39eb-4929-bce5-1af42055903e/ubuntu/v1999", false)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
    // Characters that mean something in a URL travel encoded inside one segment.
    let e = p.get("s/f?x=1/t#y", false).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
}

#[tokio::test]
async fn wrong_key_timeouts_and_refusals() {
    let mut sim = cox::start(Options::default()).await.unwrap();
    let wrong = CoxProvider::new("cox-test", config(&sim, "nope-key-123", false)).unwrap();
    let e = wrong.list_all().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unauthorized);
    assert!(!format!("{e:?}").contains("nope-key-123"));
    let p = CoxProvider::new("cox-test", config(&sim, cox::DEFAULT_API_KEY, false)).unwrap();
    sim.control().set_faults(Faults {
        hang: true,
        ..Default::default()
    });
    let started = std::time::Instant::now();
    let e = p.list_all().await.unwrap_err();
    assert_eq!((e.kind(), e.retryable()), (ErrorKind::Timeout, true));
    assert!(started.elapsed() < Duration::from_secs(3));
    sim.control().set_faults(Faults {
        truncate: true,
        ..Default::default()
    });
    let e = p.list_all().await.unwrap_err();
    assert_eq!((e.kind(), e.retryable()), (ErrorKind::Upstream, false));
    sim.control().heal();
    sim.stop_listening();
    let e = p.list_all().await.unwrap_err();
    assert_eq!((e.kind(), e.retryable()), (ErrorKind::Unavailable, true));
}

#[tokio::test]
async fn the_default_service_code_and_the_old_paths_both_reach_the_simulator() {
    let sim = cox::start(Options::default()).await.unwrap();
    // Cox's Go client: {base}/api/v2/services/edge-services/{env}/images,
    // reached with the adapter's default service code.
    let mut current: CoxConfig = serde_json::from_value(serde_json::json!({
        "base_url": sim.base_url(),
        "api_key": cox::DEFAULT_API_KEY,
        "environment": cox::ENVIRONMENT,
    }))
    .unwrap();
    current.timeout_ms = 500;
    assert!(sim.base_url().ends_with("/api/v2"));
    let p = CoxProvider::new("cox-test", current.clone()).unwrap();
    let listed = p.list_all().await.unwrap();
    assert_eq!(
        p.get(SEED_IMAGE_IDS[1], false).await.unwrap().native_id,
        SEED_IMAGE_IDS[1]
    );
    assert!(
        sim.control().count(&format!(
            "GET /api/v2/services/edge-services/{}/images",
            cox::ENVIRONMENT
        )) >= 1
    );
    // The pre-2022 paths, configured: the same catalogue.
    let old = CoxProvider::new(
        "cox-old",
        CoxConfig {
            base_url: format!("{}{}", sim.origin(), cox::LEGACY_BASE_PATH),
            service_code: cox::LEGACY_SERVICE_CODE.into(),
            ..current.clone()
        },
    )
    .unwrap();
    let old_listed = old.list_all().await.unwrap();
    let ids = |v: &[isogate_core::Iso]| v.iter().map(|i| i.native_id.clone()).collect::<Vec<_>>();
    assert_eq!(ids(&old_listed), ids(&listed));
    assert_eq!(
        sim.control().count(&format!(
            "GET /api/v1/services/cox/{}/images",
            cox::ENVIRONMENT
        )),
        1
    );
    // A base with the other generation's service code is an unknown
    // service connection, named as such.
    let mixed = CoxProvider::new(
        "cox-mixed",
        CoxConfig {
            service_code: cox::LEGACY_SERVICE_CODE.into(),
            ..current
        },
    )
    .unwrap();
    let e = mixed.list_all().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
    assert!(
        e.message().contains("Service connection 'cox'"),
        "{}",
        e.message()
    );
}

#[tokio::test]
async fn errors_inside_a_200_are_typed_errors_naming_the_provider() {
    let sim = cox::start(Options::default()).await.unwrap();
    let p = CoxProvider::new("cox-test", config(&sim, cox::DEFAULT_API_KEY, false)).unwrap();
    sim.control().set_faults(Faults {
        errors_in_200: true,
        ..Default::default()
    });
    let list = p.list_all().await.unwrap_err();
    let get = p.get(SEED_IMAGE_IDS[0], false).await.unwrap_err();
    for (e, op) in [(list, "list"), (get, "get")] {
        assert_eq!(e.kind(), ErrorKind::Upstream, "{op}: {e:?}");
        assert_eq!(e.provider(), Some("cox-test"));
        assert_eq!(e.operation(), Some(op));
        assert_eq!(e.upstream_status(), Some(200));
        assert!(
            e.message().contains("injected error in a 200 answer"),
            "{op}: the upstream's own message, not a decode error: {}",
            e.message()
        );
    }
    assert_eq!(sim.control().faulted(), 2);
    sim.control().heal();
    assert!(p.get(SEED_IMAGE_IDS[0], false).await.is_ok());
}
