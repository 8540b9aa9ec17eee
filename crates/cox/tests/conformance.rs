//! The shared conformance suite against the Cox images simulator.

use std::sync::Arc;

use isogate_core::IsoProvider;
use isogate_cox::{CoxConfig, CoxProvider};
use isogate_sim::cox::{self, Options};
use isogate_testkit::{Fixtures, Subject, run_conformance};
use secrecy::SecretString;

fn provider(sim: &isogate_sim::SimServer, key: &str, only_system: bool) -> CoxProvider {
    CoxProvider::new(
        "cox-conf",
        CoxConfig {
            base_url: sim.base_url(),
            api_key: SecretString::from(key),
            service_code: cox::SERVICE_CODE.into(),
            environment: cox::ENVIRONMENT.into(),
            org_id: None,
            include_only_system_images: only_system,
            timeout_ms: 1_000,
            connect_timeout_ms: 1_000,
        },
    )
    .unwrap()
}

async fn run(only_system: bool) {
    let sim = cox::start(Options::default()).await.unwrap();
    // Kept alive until the suite returns.
    let empty_sim = cox::start(Options {
        scale: Some(0),
        ..Default::default()
    })
    .await
    .unwrap();
    let fixtures = Fixtures {
        missing_id: format!("{}/no-such-family/v0", cox::SYSTEM_STACK_ID),
        secrets: vec![cox::DEFAULT_API_KEY.into()],
        unauthorized: Some(
            Arc::new(provider(&sim, "not-the-key", only_system)) as Arc<dyn IsoProvider>
        ),
        empty: Some(
            Arc::new(provider(&empty_sim, cox::DEFAULT_API_KEY, only_system))
                as Arc<dyn IsoProvider>,
        ),
        ..Default::default()
    };
    let p = provider(&sim, cox::DEFAULT_API_KEY, only_system);
    run_conformance(Subject::new(Arc::new(p), sim, fixtures)).await;
    drop(empty_sim);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_all_images() {
    run(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_system_images_only() {
    run(true).await;
}
