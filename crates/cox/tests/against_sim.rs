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
            .count_prefix("GET /api/v1/services/cox/test-area/images")
            > 0
    );
}

#[tokio::test]
async fn bad_ids_are_rejected_before_any_request_and_missing_ones_are_not_found() {
    let sim = cox::start(Options::default()).await.unwrap();
    let p = CoxProvider::new("cox-test", config(&sim, cox::DEFAULT_API_KEY, false)).unwrap();
    sim.control().reset_counters();
    for bad in ["a/b", "a/b/c/d", "a/../c", "a//c", "../../x/y", "a/b/c\0"] {
        let e = p.get(bad, false).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{bad:?}");
        assert_eq!(e.provider(), Some("cox-test"));
        assert_eq!(e.operation(), Some("get"));
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
