//! The CloudMC provider against the CloudMC simulator over loopback HTTP.

use std::time::Duration;

use isogate_cloudmc::{ApiVersion, CloudMcConfig, CloudMcProvider};
use isogate_core::{
    AttachRequest, DetachRequest, ErrorKind, ImportRequest, IsoProvider, IsoProviderExt,
    ListOptions, Outcome, Status, TaskStatus, Visibility,
};
use isogate_sim::Faults;
use isogate_sim::cloudmc::{self, INSTANCE_IDS, Options, SEED_ISO_ID, SEED_ZONE_ID};
use secrecy::SecretString;

const DELAY: Duration = Duration::from_millis(60);

fn config(sim: &isogate_sim::SimServer, version: ApiVersion, key: &str) -> CloudMcConfig {
    CloudMcConfig {
        base_url: sim.base_url(),
        api_key: SecretString::from(key),
        service_code: cloudmc::SERVICE_CODE.into(),
        environment: cloudmc::ENVIRONMENT.into(),
        org_id: None,
        api_version: version,
        timeout_ms: 500,
        connect_timeout_ms: 500,
    }
}

async fn setup(opts: Options) -> (isogate_sim::SimServer, CloudMcProvider) {
    let version = match opts.version {
        cloudmc::ApiVersion::V1 => ApiVersion::V1,
        cloudmc::ApiVersion::V2 => ApiVersion::V2,
    };
    let sim = cloudmc::start(Options {
        task_delay: DELAY,
        ..opts
    })
    .await
    .unwrap();
    let p =
        CloudMcProvider::new("mc-test", config(&sim, version, cloudmc::DEFAULT_API_KEY)).unwrap();
    (sim, p)
}

async fn wait(p: &CloudMcProvider, outcome: Outcome) -> isogate_core::Task {
    let Outcome::Accepted { task } = outcome else {
        panic!("expected a task, got {outcome:?}");
    };
    assert_eq!(task.status, TaskStatus::Pending);
    p.wait_task(&task.id, Duration::from_millis(15), Duration::from_secs(3))
        .await
        .unwrap()
}

#[tokio::test]
async fn v2_lists_and_gets_normalised_items() {
    let (_sim, p) = setup(Options::default()).await;
    let listing = p
        .list(&ListOptions {
            include_raw: true,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(listing.items.len() > 30);
    let seed = &listing.items[0];
    assert_eq!(seed.native_id, SEED_ISO_ID);
    assert_eq!(seed.zones[0].id, SEED_ZONE_ID);
    assert_eq!(seed.zones[0].name.as_deref(), Some("zone1"));
    assert!(listing.items.iter().all(|i| i.raw.is_some()));
    assert!(listing.items.iter().any(|i| i.zones.len() > 1));
    assert!(
        listing
            .items
            .iter()
            .any(|i| i.visibility == Visibility::Public)
    );
    let one = p.get(SEED_ISO_ID, false).await.unwrap();
    let mut listed = seed.clone();
    listed.raw = None;
    assert_eq!(one, listed);
    let missing = p.get("no-such-iso", false).await.unwrap_err();
    assert_eq!(missing.kind(), ErrorKind::NotFound);
    assert_eq!(missing.provider(), Some("mc-test"));
    assert_eq!(missing.operation(), Some("get"));
    let bad = p.get("../tasks", false).await.unwrap_err();
    assert_eq!(bad.kind(), ErrorKind::InvalidInput);
}

#[tokio::test]
async fn v1_reads_only_with_unknown_visibility() {
    let (sim, p) = setup(Options {
        version: cloudmc::ApiVersion::V1,
        ..Default::default()
    })
    .await;
    let cap = p.capability();
    assert!(cap.list && cap.get && !cap.import && !cap.attach && !cap.tasks);
    let items = p.list_all().await.unwrap();
    assert!(
        items
            .iter()
            .all(|i| i.visibility == Visibility::Unknown && i.arch_bits.is_none())
    );
    sim.control().reset_counters();
    let e = p
        .attach(
            SEED_ISO_ID,
            &AttachRequest {
                instance_id: INSTANCE_IDS[0].into(),
            },
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported);
    assert_eq!(e.provider(), Some("mc-test"));
    assert_eq!(
        p.task("x").await.unwrap_err().kind(),
        ErrorKind::Unsupported
    );
    assert_eq!(sim.control().total(), 0, "no request for unsupported calls");
}

#[tokio::test]
async fn wrong_key_is_unauthorized_and_never_echoed() {
    let sim = cloudmc::start(Options::default()).await.unwrap();
    let p = CloudMcProvider::new("mc", config(&sim, ApiVersion::V2, "wrong-key-xyz")).unwrap();
    let e = p.list_all().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unauthorized);
    assert!(!e.retryable());
    assert!(!format!("{e} {e:?}").contains("wrong-key-xyz"));
    assert!(!format!("{p:?}").contains("wrong-key-xyz"));
}

#[tokio::test]
async fn writes_follow_tasks_to_the_end_in_both_task_shapes() {
    for legacy in [false, true] {
        let (sim, p) = setup(Options {
            legacy_tasks: legacy,
            ..Default::default()
        })
        .await;
        let items = p.list_all().await.unwrap();
        let tool = items
            .iter()
            .find(|i| i.bootable == Some(false) && i.status == Status::Ready)
            .unwrap();
        let attach = AttachRequest {
            instance_id: INSTANCE_IDS[0].into(),
        };
        let first = p.attach(&tool.native_id, &attach).await.unwrap();
        let second = p.attach(&tool.native_id, &attach).await.unwrap();
        let done = wait(&p, first).await;
        assert_eq!(done.status, TaskStatus::Succeeded);
        assert_eq!(done.operation, "attach");
        let failed = wait(&p, second).await;
        assert_eq!(failed.status, TaskStatus::Failed);
        let err = failed.error.unwrap();
        assert!(err.message.contains("already has"), "{}", err.message);
        assert_eq!(
            sim.control()
                .count(&format!("POST {}", sim_path(&tool.native_id))),
            2,
            "each write sent exactly once"
        );
        let detach = p
            .detach(&DetachRequest {
                instance_id: INSTANCE_IDS[0].into(),
            })
            .await
            .unwrap();
        assert_eq!(wait(&p, detach).await.status, TaskStatus::Succeeded);

        let extractable = items
            .iter()
            .find(|i| i.extractable == Some(true) && i.status == Status::Ready)
            .unwrap();
        let url = wait(&p, p.download_url(&extractable.native_id).await.unwrap()).await;
        assert_eq!(url.status, TaskStatus::Succeeded);
        assert!(
            url.result.unwrap()["url"]
                .as_str()
                .unwrap()
                .starts_with("http://")
        );
        let not = p.download_url(SEED_ISO_ID).await.unwrap_err();
        assert_eq!(not.kind(), ErrorKind::Conflict, "{not}");
        assert!(not.to_string().contains("extractable"), "{not}");
        assert!(!not.retryable(), "a conflict is not retryable");

        let gone = wait(&p, p.delete(SEED_ISO_ID).await.unwrap()).await;
        assert_eq!(gone.status, TaskStatus::Succeeded);
        assert_eq!(
            p.get(SEED_ISO_ID, false).await.unwrap_err().kind(),
            ErrorKind::NotFound
        );
        assert_eq!(
            p.task("no-such-task").await.unwrap_err().kind(),
            ErrorKind::NotFound
        );
    }
}

fn sim_path(id: &str) -> String {
    format!(
        "/api/v2/services/{}/{}/isos/{id}",
        cloudmc::SERVICE_CODE,
        cloudmc::ENVIRONMENT
    )
}

#[tokio::test]
async fn import_answers_an_item_or_a_task_and_checks_rules_first() {
    let req = ImportRequest {
        name: "drivers".into(),
        description: Some("driver disk".into()),
        url: "http://mirror.example/drivers.iso".into(),
        zone_id: Some(SEED_ZONE_ID.into()),
        ..Default::default()
    };
    let (sim, p) = setup(Options::default()).await;
    let Outcome::Item { item } = p.import(&req).await.unwrap() else {
        panic!("registerIso answers the item")
    };
    assert_eq!(item.status, Status::Processing);
    assert_eq!(item.name, "drivers");
    tokio::time::sleep(DELAY * 2).await;
    let now = p.get(&item.native_id, false).await.unwrap();
    assert_eq!(now.status, Status::Ready);
    sim.control().reset_counters();
    for bad in [
        ImportRequest {
            url: "https://mirror.example/x.iso".into(),
            ..req.clone()
        },
        ImportRequest {
            bootable: Some(true),
            ..req.clone()
        },
    ] {
        let e = p.import(&bad).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
        assert_eq!(e.operation(), Some("import"));
    }
    assert_eq!(sim.control().total(), 0, "rejected before any request");
    // Without zoneId and several zones the upstream says no: a 400, not retryable.
    let e = p
        .import(&ImportRequest {
            zone_id: None,
            ..req.clone()
        })
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    assert!(e.message().contains("zoneId"), "{}", e.message());

    let (_sim, p) = setup(Options {
        import_as_task: true,
        zones: 1,
        ..Default::default()
    })
    .await;
    let task = wait(
        &p,
        p.import(&ImportRequest {
            zone_id: None,
            ..req
        })
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(task.status, TaskStatus::Succeeded);
    assert_eq!(task.operation, "import");
    assert_eq!(task.result.unwrap()["name"], "drivers");
}

#[tokio::test]
async fn transport_faults_map_to_kinds() {
    let (mut sim, p) = setup(Options::default()).await;
    let hang = Faults {
        hang: true,
        ..Default::default()
    };
    sim.control().set_faults(hang);
    let started = std::time::Instant::now();
    let e = p.list_all().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Timeout);
    assert!(e.retryable(), "a timeout is retryable");
    assert!(started.elapsed() < Duration::from_secs(3));

    sim.control().set_faults(Faults {
        error_rate: 1.0,
        error_status: 500,
        ..Default::default()
    });
    let e = p.list_all().await.unwrap_err();
    assert_eq!((e.kind(), e.retryable()), (ErrorKind::Upstream, true));
    assert!(e.message().contains("injected failure"));

    sim.control().set_faults(Faults {
        rate_limit_rate: 1.0,
        retry_after_s: 4,
        ..Default::default()
    });
    let e = p.list_all().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::RateLimited);
    assert!(e.retryable());
    assert_eq!(e.retry_after(), Some(Duration::from_secs(4)));

    for faults in [
        Faults {
            malformed_json: true,
            ..Default::default()
        },
        Faults {
            truncate: true,
            ..Default::default()
        },
    ] {
        sim.control().set_faults(faults.clone());
        let e = p.list_all().await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Upstream, "{faults:?}");
        assert!(!e.retryable(), "{faults:?}");
        assert_eq!(e.provider(), Some("mc-test"));
    }

    sim.control().heal();
    sim.stop_listening();
    let e = p.list_all().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unavailable);
    assert!(e.retryable());
    sim.resume_listening().await.unwrap();
    assert!(!p.list_all().await.unwrap().is_empty());
}

#[tokio::test]
async fn org_id_is_sent() {
    let sim = cloudmc::start(Options::default()).await.unwrap();
    let mut cfg = config(&sim, ApiVersion::V2, cloudmc::DEFAULT_API_KEY);
    cfg.org_id = Some(cloudmc::ORG_ID.into());
    let p = CloudMcProvider::new("mc", cfg.clone()).unwrap();
    assert!(!p.list_all().await.unwrap().is_empty());
    cfg.org_id = Some("someone-else".into());
    let p = CloudMcProvider::new("mc", cfg).unwrap();
    assert_eq!(p.list_all().await.unwrap_err().kind(), ErrorKind::Forbidden);
}

#[tokio::test]
async fn errors_inside_a_200_are_typed_errors_and_a_delete_is_not_done() {
    let (sim, p) = setup(Options::default()).await;
    let before = p.list_all().await.unwrap().len();
    let req = ImportRequest {
        name: "drivers".into(),
        description: Some("driver disk".into()),
        url: "http://mirror.example/drivers.iso".into(),
        zone_id: Some(SEED_ZONE_ID.into()),
        ..Default::default()
    };
    let attach = AttachRequest {
        instance_id: INSTANCE_IDS[1].into(),
    };
    sim.control().set_faults(Faults {
        errors_in_200: true,
        ..Default::default()
    });
    let results = [
        ("delete", p.delete(SEED_ISO_ID).await.map(|_| ())),
        ("import", p.import(&req).await.map(|_| ())),
        ("list", p.list_all().await.map(|_| ())),
        ("get", p.get(SEED_ISO_ID, false).await.map(|_| ())),
        ("attach", p.attach(SEED_ISO_ID, &attach).await.map(|_| ())),
        ("task", p.task("any-task").await.map(|_| ())),
    ];
    for (op, r) in results {
        let e = r.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Upstream, "{op}: {e:?}");
        assert!(!e.retryable(), "{op}");
        assert_eq!(e.provider(), Some("mc-test"), "{op}");
        assert_eq!(e.operation(), Some(op), "{op}");
        assert_eq!(e.upstream_status(), Some(200), "{op}");
        assert_eq!(
            e.message(),
            "injected error in a 200 answer (code 9000)",
            "{op}: the upstream's message, not a decode error"
        );
    }
    sim.control().heal();
    // The upstream said the requests failed, and they did: nothing changed.
    assert_eq!(p.list_all().await.unwrap().len(), before);
    assert_eq!(
        p.get(SEED_ISO_ID, false).await.unwrap().native_id,
        SEED_ISO_ID
    );
}

#[tokio::test]
async fn tasks_read_failed_with_an_rfc3339_created_and_the_old_shape_failure() {
    for legacy in [false, true] {
        let (_sim, p) = setup(Options {
            legacy_tasks: legacy,
            ..Default::default()
        })
        .await;
        // Detaching from an instance without an ISO is a task that fails.
        let started = chrono::Utc::now() - chrono::Duration::seconds(2);
        let outcome = p
            .detach(&DetachRequest {
                instance_id: INSTANCE_IDS[2].into(),
            })
            .await
            .unwrap();
        let Outcome::Accepted { task } = &outcome else {
            panic!("a task")
        };
        let pending = p.task(&task.id).await.unwrap();
        assert_eq!(pending.status, TaskStatus::Pending);
        let failed = wait(&p, outcome).await;
        assert_eq!(failed.status, TaskStatus::Failed, "legacy {legacy}");
        assert!(failed.error.unwrap().message.contains("No ISO is attached"));
        if legacy {
            // The old shape has no `created`.
            assert_eq!(failed.created_at, None);
        } else {
            let created = failed.created_at.expect("RFC 3339 created is parsed");
            assert!(created >= started && created <= chrono::Utc::now());
        }
    }
}

#[tokio::test]
async fn v2_operations_under_an_api_v1_base_url() {
    // The API version is about fields and operations, not the URL.
    let sim = cloudmc::start(Options {
        task_delay: DELAY,
        ..Default::default()
    })
    .await
    .unwrap();
    let mut cfg = config(&sim, ApiVersion::V2, cloudmc::DEFAULT_API_KEY);
    cfg.base_url = format!("{}{}", sim.origin(), cloudmc::V2_ALSO_AT);
    let p = CloudMcProvider::new("mc-v1-url", cfg).unwrap();
    let items = p.list_all().await.unwrap();
    assert!(items.iter().any(|i| i.created_at.is_some()), "v2 fields");
    let gone = wait(&p, p.delete(SEED_ISO_ID).await.unwrap()).await;
    assert_eq!(gone.status, TaskStatus::Succeeded);
    let path = format!(
        "DELETE /api/v1/services/{}/{}/isos/{SEED_ISO_ID}",
        cloudmc::SERVICE_CODE,
        cloudmc::ENVIRONMENT
    );
    assert_eq!(sim.control().count(&path), 1);
    assert!(
        sim.control()
            .count(&format!("GET /api/v1/tasks/{}", gone.id))
            >= 1
    );
}
