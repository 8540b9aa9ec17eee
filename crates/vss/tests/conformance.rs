//! The shared conformance suite against the VSS simulator, for each
//! catalogue setting.

use std::sync::Arc;

use isogate_sim::vss::{self, Options};
use isogate_testkit::{Fixtures, Subject, run_conformance};
use isogate_vss::{Catalogue, VssConfig, VssProvider};

fn config(base_url: String, catalogue: Catalogue, password: &str) -> VssConfig {
    VssConfig {
        base_url,
        username: Some(vss::DEFAULT_USERNAME.into()),
        password: Some(password.to_owned().into()),
        catalogue,
        timeout_ms: 1_500,
        connect_timeout_ms: 500,
        ..Default::default()
    }
}

async fn conformance(catalogue: Catalogue, expected: usize) {
    let sim = vss::start(Options {
        sync_step: std::time::Duration::from_millis(50),
        ..Default::default()
    })
    .await
    .unwrap();
    let provider = VssProvider::new(
        "vss-test",
        config(sim.base_url(), catalogue, vss::DEFAULT_PASSWORD),
    )
    .unwrap();
    let wrong = VssProvider::new(
        "vss-test",
        config(sim.base_url(), catalogue, "not-the-password"),
    )
    .unwrap();
    let fixtures = Fixtures {
        missing_id: "999999".into(),
        missing_task_id: Some("999999".into()),
        secrets: vec![vss::DEFAULT_PASSWORD.into()],
        expected_count: Some(expected),
        unauthorized: Some(Arc::new(wrong)),
        ..Default::default()
    };
    run_conformance(Subject::new(Arc::new(provider), sim, fixtures)).await;
}

#[tokio::test]
async fn conformance_both_catalogues() {
    conformance(Catalogue::Both, 230 + 12).await;
}

#[tokio::test]
async fn conformance_personal_catalogue() {
    conformance(Catalogue::Personal, 12).await;
}
