//! The shared conformance suite against the CloudMC simulators: v1, and v2
//! with each task shape, bare and through the default resilience stack
//! (metrics, breaker, retry, timeout, concurrency) the gateway puts in front
//! of every adapter: the contract holds for what the gateway calls too.

use std::sync::Arc;
use std::time::Duration;

use isogate_cloudmc::{ApiVersion, CloudMcConfig, CloudMcProvider};
use isogate_core::{ImportRequest, IsoProvider, IsoProviderExt, Status};
use isogate_resilience::Resilience;
use isogate_sim::cloudmc::{self, Options, SEED_ZONE_ID};
use isogate_testkit::{Fixtures, Subject, run_conformance};
use secrecy::SecretString;

const MISSING: &str = "00000000-0000-4000-8000-000000000000";

fn provider(sim: &isogate_sim::SimServer, version: ApiVersion, key: &str) -> CloudMcProvider {
    CloudMcProvider::new(
        "cloudmc-conf",
        CloudMcConfig {
            base_url: sim.base_url(),
            api_key: SecretString::from(key),
            service_code: cloudmc::SERVICE_CODE.into(),
            environment: cloudmc::ENVIRONMENT.into(),
            org_id: None,
            api_version: version,
            timeout_ms: 1_000,
            connect_timeout_ms: 1_000,
        },
    )
    .unwrap()
}

async fn run(version: cloudmc::ApiVersion, legacy_tasks: bool, layered: bool) {
    let sim = cloudmc::start(Options {
        version,
        legacy_tasks,
        task_delay: Duration::from_millis(50),
        ..Default::default()
    })
    .await
    .unwrap();
    let api = match version {
        cloudmc::ApiVersion::V1 => ApiVersion::V1,
        cloudmc::ApiVersion::V2 => ApiVersion::V2,
    };
    let p = provider(&sim, api, cloudmc::DEFAULT_API_KEY);
    // Kept alive until the suite returns.
    let empty_sim = cloudmc::start(Options {
        version,
        scale: Some(0),
        ..Default::default()
    })
    .await
    .unwrap();
    let empty = provider(&empty_sim, api, cloudmc::DEFAULT_API_KEY);
    let items = p.list_all().await.unwrap();
    // A ready, non-bootable, extractable ISO: attachable and exportable.
    let tool = items
        .iter()
        .find(|i| {
            i.status == Status::Ready && i.bootable == Some(false) && i.extractable == Some(true)
        })
        .map(|i| i.native_id.clone());
    let write_fixtures = api == ApiVersion::V2;
    let fixtures = Fixtures {
        valid_import: write_fixtures.then(|| ImportRequest {
            name: "conformance-tools".into(),
            description: Some("imported by the conformance suite".into()),
            url: "http://mirror.example/conformance-tools.iso".into(),
            zone_id: Some(SEED_ZONE_ID.into()),
            ..Default::default()
        }),
        invalid_import: write_fixtures.then(|| ImportRequest {
            name: "bad".into(),
            url: "ftp://mirror.example/bad.iso".into(),
            zone_id: Some(SEED_ZONE_ID.into()),
            ..Default::default()
        }),
        instance_id: write_fixtures.then(|| cloudmc::INSTANCE_IDS[0].to_owned()),
        missing_id: MISSING.into(),
        secrets: vec![cloudmc::DEFAULT_API_KEY.into()],
        expected_count: Some(items.len()),
        attach_id: tool.clone(),
        extractable_id: tool,
        non_extractable_id: Some(cloudmc::SEED_ISO_ID.into()),
        unauthorized: Some(Arc::new(provider(&sim, api, "not-the-key")) as Arc<dyn IsoProvider>),
        empty: Some(Arc::new(empty) as Arc<dyn IsoProvider>),
        ..Default::default()
    };
    let subject: Arc<dyn IsoProvider> = if layered {
        isogate_resilience::wrap(Arc::new(p), &Resilience::default()).0
    } else {
        Arc::new(p)
    };
    run_conformance(Subject::new(subject, sim, fixtures)).await;
    drop(empty_sim);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_v2_new_task_shape() {
    run(cloudmc::ApiVersion::V2, false, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_v2_legacy_task_shape() {
    run(cloudmc::ApiVersion::V2, true, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_v1() {
    run(cloudmc::ApiVersion::V1, false, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_v2_through_the_default_resilience_stack() {
    run(cloudmc::ApiVersion::V2, false, true).await;
}
