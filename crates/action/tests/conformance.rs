//! The shared conformance suite against the action simulator.

use std::sync::Arc;
use std::time::Duration;

use isogate_action::{ActionConfig, ActionProvider};
use isogate_core::ImportRequest;
use isogate_sim::action::{self, CLIENT_EMAIL, DEFAULT_ADMIN_KEY, DEFAULT_CLIENT_KEY, SERVER_IDS};
use isogate_testkit::{Fixtures, Subject, run_conformance};

fn config(base_url: String, key: &str) -> ActionConfig {
    let mut c = ActionConfig::new(base_url, key);
    c.server_id = Some(SERVER_IDS[0].to_string());
    // The suite's hang checks need a short timeout.
    c.timeout_ms = 1000;
    c.connect_timeout_ms = 500;
    c
}

fn fixtures(wrong: ActionProvider, secret: &str) -> Fixtures {
    Fixtures {
        valid_import: Some(ImportRequest {
            name: "conformance.iso".into(),
            description: Some("imported by the conformance suite".into()),
            url: "https://mirror.example/isos/conformance.iso".into(),
            ..Default::default()
        }),
        invalid_import: Some(ImportRequest {
            name: "plain-http.iso".into(),
            url: "http://mirror.example/isos/plain-http.iso".into(),
            ..Default::default()
        }),
        instance_id: Some(SERVER_IDS[0].to_string()),
        missing_id: "999999".into(),
        missing_task_id: Some("0123456789abcdef0123456789abcdef".into()),
        secrets: vec![secret.into(), "not-the-key".into()],
        unauthorized: Some(Arc::new(wrong)),
        ..Default::default()
    }
}

async fn sim() -> isogate_sim::SimServer {
    action::start(action::Options {
        callback_delay: Duration::from_millis(200),
        ..Default::default()
    })
    .await
    .unwrap()
}

/// A staff key: import registers with `add`, listing needs no server id.
#[tokio::test]
async fn action_provider_conforms_with_an_admin_key() {
    let sim = sim().await;
    let admin = |key: &str| {
        let mut c = config(sim.base_url(), key);
        c.server_id = None;
        c.admin = true;
        c.email = Some(CLIENT_EMAIL.into());
        ActionProvider::new("hostkey-admin", c).unwrap()
    };
    let provider = admin(DEFAULT_ADMIN_KEY);
    let fixtures = fixtures(admin("not-the-key"), DEFAULT_ADMIN_KEY);
    run_conformance(Subject::new(Arc::new(provider), sim, fixtures)).await;
}

#[tokio::test]
async fn action_provider_conforms() {
    let sim = sim().await;
    let provider = ActionProvider::new("hostkey-test", config(sim.base_url(), DEFAULT_CLIENT_KEY));
    let wrong = ActionProvider::new("hostkey-test", config(sim.base_url(), "not-the-key"));
    let fixtures = fixtures(wrong.unwrap(), DEFAULT_CLIENT_KEY);
    run_conformance(Subject::new(Arc::new(provider.unwrap()), sim, fixtures)).await;
}
