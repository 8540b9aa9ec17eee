//! The adapter against the action simulator over loopback HTTP.

use std::sync::Arc;
use std::time::Duration;

use isogate_action::{ActionConfig, ActionProvider, ListSource};
use isogate_core::{
    AttachRequest, DetachRequest, ErrorKind, ImportRequest, IsoProvider, IsoProviderExt,
    ListOptions, Outcome, Status, TaskStatus, UpdateRequest, Visibility,
};
use isogate_sim::action::{self, CLIENT_EMAIL, DEFAULT_ADMIN_KEY, DEFAULT_CLIENT_KEY, SERVER_IDS};
use isogate_sim::{Faults, SimServer};

// Long enough that a loaded CI machine still sees the pending state first.
const DELAY: Duration = Duration::from_millis(400);

async fn sim_with(opts: action::Options) -> (SimServer, action::Handle) {
    action::start_with_handle(action::Options {
        callback_delay: DELAY,
        ..opts
    })
    .await
    .unwrap()
}

fn client_config(sim: &SimServer) -> ActionConfig {
    let mut c = ActionConfig::new(sim.base_url(), DEFAULT_CLIENT_KEY);
    c.server_id = Some(SERVER_IDS[0].to_string());
    c.timeout_ms = 1000;
    c
}

fn provider(config: ActionConfig) -> ActionProvider {
    ActionProvider::new("hostkey", config).unwrap()
}

fn import(url: &str, name: &str) -> ImportRequest {
    ImportRequest {
        name: name.into(),
        url: url.into(),
        ..Default::default()
    }
}

#[tokio::test]
async fn lists_merge_both_sources_and_get_matches_the_listing() {
    let (sim, _) = sim_with(Default::default()).await;
    let p = provider(client_config(&sim));
    let items = p.list_all().await.unwrap();
    let mut ids: Vec<_> = items.iter().map(|i| i.native_id.clone()).collect();
    ids.dedup();
    assert_eq!(ids.len(), items.len(), "no duplicates");
    assert!(
        items
            .iter()
            .all(|i| i.provider == "hostkey" && i.id == format!("hostkey:{}", i.native_id))
    );
    let own: Vec<_> = items
        .iter()
        .filter(|i| i.owner.as_deref() == Some(CLIENT_EMAIL))
        .collect();
    assert!(!own.is_empty());
    assert!(own.iter().all(|i| i.visibility == Visibility::Private));
    assert!(
        own.iter().any(|i| i.status == Status::Pending),
        "pending uploads come from `uploaded`"
    );
    let public: Vec<_> = items.iter().filter(|i| i.owner.is_none()).collect();
    assert!(
        public
            .iter()
            .all(|i| i.visibility == Visibility::Public && i.status == Status::Ready)
    );
    assert!(items.iter().all(|i| i.created_at.is_some()));

    // list_iso alone: the mountable images only.
    let mut only = client_config(&sim);
    only.list_source = ListSource::ListIso;
    let ready = provider(only).list_all().await.unwrap();
    assert!(ready.len() < items.len());
    assert!(ready.iter().all(|i| i.status == Status::Ready));

    let one = &own[0];
    assert_eq!(&p.get(&one.native_id, false).await.unwrap(), *one);
    let raw = p.get(&one.native_id, true).await.unwrap();
    assert_eq!(raw.raw.as_ref().unwrap()["private"], CLIENT_EMAIL);

    let before = sim.control().total();
    let e = p.get("../1", false).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    assert_eq!(sim.control().total(), before, "no request for a hostile id");
    let e = p.get("999999", false).await.unwrap_err();
    assert_eq!(
        (e.kind(), e.provider(), e.operation()),
        (ErrorKind::NotFound, Some("hostkey"), Some("get"))
    );
}

#[tokio::test]
async fn import_uploads_https_only_then_names_it_and_it_becomes_ready() {
    let (sim, _) = sim_with(Default::default()).await;
    let p = provider(client_config(&sim));
    let e = p
        .import(&import("http://mirror.example/a.iso", "a"))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    assert_eq!(sim.control().count("POST /iso.php"), 0);

    let mut req = import("https://mirror.example/pub/rescue.iso", "rescue-2024.iso");
    req.description = Some("rescue disk".into());
    let Outcome::Item { item } = p.import(&req).await.unwrap() else {
        panic!("upload answers the new record");
    };
    assert_eq!(item.name, "rescue-2024.iso");
    assert_eq!(item.description.as_deref(), Some("rescue disk"));
    assert_eq!(item.status, Status::Pending);
    assert_eq!(item.owner.as_deref(), Some(CLIENT_EMAIL));
    assert_eq!(sim.control().count("action:upload"), 1);
    assert_eq!(sim.control().count("action:update"), 1);

    tokio::time::sleep(DELAY + Duration::from_millis(100)).await;
    let now = p.get(&item.native_id, false).await.unwrap();
    assert_eq!(now.status, Status::Ready);
    assert!(now.size_bytes.unwrap() > 0);
    let ops: Vec<_> = p
        .history(&item.native_id)
        .await
        .unwrap()
        .into_iter()
        .map(|h| h.operation)
        .collect();
    assert_eq!(ops, ["upload", "update"], "oldest first");
}

#[tokio::test]
async fn admin_keys_register_with_add() {
    let (sim, _) = sim_with(Default::default()).await;
    let mut c = ActionConfig::new(sim.base_url(), DEFAULT_ADMIN_KEY);
    c.admin = true;
    c.email = Some(CLIENT_EMAIL.into());
    c.list_source = ListSource::Both;
    let p = provider(c);
    let all = p.list_all().await.unwrap();
    let Outcome::Item { item } = p
        .import(&import("https://m.example/tool.iso", "Tool Disk"))
        .await
        .unwrap()
    else {
        panic!("add answers the record");
    };
    assert_eq!(sim.control().count("action:add"), 1);
    assert_eq!(sim.control().count("action:upload"), 0);
    assert_eq!(item.name, "tool.iso");
    assert_eq!(item.labels["display_name"], "Tool Disk");
    assert_eq!(p.list_all().await.unwrap().len(), all.len() + 1);
    // A name with no ASCII letter or digit still gives the module the short
    // name it requires (from the file); a taken file name is a conflict.
    p.import(&import("https://m.example/other.iso", "Диск №1"))
        .await
        .expect("a non-ASCII name imports");
    let mut again = import("https://m.example/tool.iso", "Another Name");
    again.params.insert("iso_name".into(), "other.iso".into());
    let e = p.import(&again).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Conflict, "{e}");
}

#[tokio::test]
async fn update_delete_and_the_delete_fallback() {
    let (sim, _) = sim_with(action::Options {
        disabled_actions: vec!["del".into()],
        ..Default::default()
    })
    .await;
    let p = provider(client_config(&sim));
    let mine = p
        .list_all()
        .await
        .unwrap()
        .into_iter()
        .find(|i| i.owner.is_some() && i.status == Status::Ready)
        .unwrap();
    let upd = UpdateRequest {
        name: Some("renamed.iso".into()),
        description: Some("changed".into()),
    };
    let Outcome::Item { item } = p.update(&mine.native_id, &upd).await.unwrap() else {
        panic!("update answers the item");
    };
    assert_eq!(
        (item.name.as_str(), item.description.as_deref()),
        ("renamed.iso", Some("changed"))
    );
    assert_eq!(p.get(&mine.native_id, false).await.unwrap(), *item);
    let e = p.update("999999", &upd).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);

    // Someone else's public image: the module refuses.
    let public = p
        .list_all()
        .await
        .unwrap()
        .into_iter()
        .find(|i| i.owner.is_none())
        .unwrap();
    let e = p.delete(&public.native_id).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Forbidden, "{e}");

    assert_eq!(p.delete(&mine.native_id).await.unwrap(), Outcome::Done);
    assert_eq!(sim.control().count("action:del"), 2);
    assert_eq!(sim.control().count("action:delete"), 2);
    let e = p.get(&mine.native_id, false).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
    assert_eq!(
        p.delete(&mine.native_id).await.unwrap_err().kind(),
        ErrorKind::NotFound
    );
}

#[tokio::test]
async fn a_mount_task_goes_from_pending_to_succeeded_through_callback_polling() {
    let (sim, handle) = sim_with(Default::default()).await;
    let p = provider(client_config(&sim));
    let iso = p
        .list_all()
        .await
        .unwrap()
        .into_iter()
        .find(|i| i.status == Status::Ready)
        .unwrap();
    let server = SERVER_IDS[0].to_string();
    let out = p
        .attach(
            &iso.native_id,
            &AttachRequest {
                instance_id: server.clone(),
            },
        )
        .await
        .unwrap();
    let Outcome::Accepted { task } = out else {
        panic!("mount_iso answers a callback key");
    };
    assert_eq!(
        (task.status, task.operation.as_str()),
        (TaskStatus::Pending, "attach")
    );
    assert_eq!(task.id.len(), 32);
    let first = p.task(&task.id).await.unwrap();
    assert_eq!(first.status, TaskStatus::Pending);
    let done = p
        .wait_task(&task.id, Duration::from_millis(50), Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(done.status, TaskStatus::Succeeded, "{done:?}");
    assert_eq!(done.provider, "hostkey");
    assert!(
        sim.control().count("action:check") >= 2,
        "polled through eq_callback"
    );
    assert_eq!(
        handle.mounted(SERVER_IDS[0]).map(|i| i.to_string()),
        Some(iso.native_id.clone())
    );

    let Outcome::Accepted { task } = p
        .detach(&DetachRequest {
            instance_id: server,
        })
        .await
        .unwrap()
    else {
        panic!("unmount_iso answers a callback key");
    };
    let done = p
        .wait_task(&task.id, Duration::from_millis(50), Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(
        (done.status, done.operation.as_str()),
        (TaskStatus::Succeeded, "detach")
    );
    assert_eq!(handle.mounted(SERVER_IDS[0]), None);
    let ops: Vec<_> = p
        .history(&iso.native_id)
        .await
        .unwrap()
        .into_iter()
        .map(|h| h.operation)
        .collect();
    assert_eq!(ops[ops.len() - 2..], ["mount", "unmount"]);

    assert_eq!(
        p.task("0123").await.unwrap_err().kind(),
        ErrorKind::NotFound
    );
    let e = p
        .attach(
            "999999",
            &AttachRequest {
                instance_id: "456".into(),
            },
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
    let e = p
        .attach(
            &iso.native_id,
            &AttachRequest {
                instance_id: "999".into(),
            },
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Forbidden);
    // Server ids are numeric: another one names no server.
    let e = p
        .attach(
            &iso.native_id,
            &AttachRequest {
                instance_id: "web-1".into(),
            },
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
}

#[tokio::test]
async fn a_mount_of_an_image_deleted_meanwhile_fails_with_the_upstream_message() {
    let (sim, _) = sim_with(Default::default()).await;
    let p = provider(client_config(&sim));
    let Outcome::Item { item } = p
        .import(&import("https://m.example/tmp.iso", ""))
        .await
        .unwrap()
    else {
        panic!()
    };
    tokio::time::sleep(DELAY + Duration::from_millis(100)).await;
    let Outcome::Accepted { task } = p
        .attach(
            &item.native_id,
            &AttachRequest {
                instance_id: "456".into(),
            },
        )
        .await
        .unwrap()
    else {
        panic!()
    };
    p.delete(&item.native_id).await.unwrap();
    let done = p
        .wait_task(&task.id, Duration::from_millis(50), Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(done.status, TaskStatus::Failed);
    assert!(done.error.unwrap().message.contains("deleted"));
}

#[tokio::test]
async fn an_expired_token_causes_exactly_one_relogin() {
    let (sim, handle) = sim_with(Default::default()).await;
    let p = provider(client_config(&sim));
    p.list_all().await.unwrap();
    p.list_all().await.unwrap();
    assert_eq!(
        sim.control().count("POST /auth.php"),
        1,
        "the token is cached"
    );

    // "token expired" with HTTP 200.
    let r = reqwest::Client::new()
        .post(format!("{}/__sim/action/expire-tokens", sim.origin()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    p.list_all().await.unwrap();
    assert_eq!(sim.control().count("POST /auth.php"), 2);

    // "invalid token" with HTTP 401.
    handle.revoke_tokens();
    p.list_all().await.unwrap();
    assert_eq!(sim.control().count("POST /auth.php"), 3);

    // A module that keeps refusing: one re-login, then Unauthorized.
    sim.control().set_faults(Faults {
        error_rate: 1.0,
        error_status: 401,
        path_contains: Some("iso.php".into()),
        ..Default::default()
    });
    let e = p.list_all().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unauthorized);
    assert_eq!(sim.control().count("POST /auth.php"), 4);
    assert!(!e.to_string().contains(DEFAULT_CLIENT_KEY));
}

#[tokio::test]
async fn concurrent_callers_share_one_login_and_a_wrong_key_is_unauthorized() {
    let (sim, _) = sim_with(Default::default()).await;
    let p = Arc::new(provider(client_config(&sim)));
    let calls = (0..8).map(|_| {
        let p = p.clone();
        tokio::spawn(async move { p.list(&ListOptions::default()).await.map(|l| l.items.len()) })
    });
    for c in futures_join(calls).await {
        assert!(c > 0);
    }
    assert_eq!(sim.control().count("POST /auth.php"), 1);

    let mut bad = client_config(&sim);
    bad.api_key = "wrong-key".to_owned().into();
    let p = provider(bad);
    let e = p.list_all().await.unwrap_err();
    assert_eq!(
        (e.kind(), e.provider()),
        (ErrorKind::Unauthorized, Some("hostkey"))
    );
    assert!(!format!("{e:?} {p:?}").contains("wrong-key"));
}

async fn futures_join<T: Send + 'static>(
    handles: impl Iterator<Item = tokio::task::JoinHandle<isogate_core::Result<T>>>,
) -> Vec<T> {
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap().unwrap());
    }
    out
}

#[tokio::test]
async fn transport_faults_map_to_kinds() {
    let (mut sim, _) = sim_with(Default::default()).await;
    let p = provider(client_config(&sim));
    let cases = [
        (
            Faults {
                error_rate: 1.0,
                error_status: 503,
                ..Default::default()
            },
            ErrorKind::Upstream,
            true,
        ),
        (
            Faults {
                rate_limit_rate: 1.0,
                retry_after_s: 7,
                ..Default::default()
            },
            ErrorKind::RateLimited,
            true,
        ),
        (
            Faults {
                malformed_json: true,
                ..Default::default()
            },
            ErrorKind::Upstream,
            false,
        ),
        (
            Faults {
                truncate: true,
                ..Default::default()
            },
            ErrorKind::Upstream,
            false,
        ),
        (
            Faults {
                hang: true,
                ..Default::default()
            },
            ErrorKind::Timeout,
            true,
        ),
    ];
    for (faults, kind, retryable) in cases {
        sim.control().set_faults(faults.clone());
        let e = p.list_all().await.unwrap_err();
        assert_eq!(
            (e.kind(), e.retryable()),
            (kind, retryable),
            "{faults:?}: {e}"
        );
        assert_eq!(e.provider(), Some("hostkey"));
        if kind == ErrorKind::RateLimited {
            assert_eq!(e.retry_after(), Some(Duration::from_secs(7)));
        }
    }
    sim.control().heal();
    sim.stop_listening();
    let e = p.list_all().await.unwrap_err();
    assert_eq!(
        (e.kind(), e.retryable()),
        (ErrorKind::Unavailable, true),
        "{e}"
    );
}

async fn ready_iso(p: &ActionProvider) -> isogate_core::Iso {
    p.list_all()
        .await
        .unwrap()
        .into_iter()
        .find(|i| i.status == Status::Ready)
        .unwrap()
}

async fn attach_task(p: &ActionProvider, native_id: &str) -> isogate_core::Task {
    let req = AttachRequest {
        instance_id: SERVER_IDS[0].to_string(),
    };
    match p.attach(native_id, &req).await.unwrap() {
        Outcome::Accepted { task } => task,
        other => panic!("mount_iso answers a callback key: {other:?}"),
    }
}

/// HOSTKEY's own client: `{"result":"OK","scope":"pending"}` is still
/// running; only scope `deploy_done` ends the task.
#[tokio::test]
async fn ok_with_scope_pending_is_still_running_until_deploy_done() {
    let (sim, handle) = sim_with(Default::default()).await;
    let p = provider(client_config(&sim));
    let iso = ready_iso(&p).await;
    handle.hold_callbacks(true);
    let task = attach_task(&p, &iso.native_id).await;
    // Wait (bounded) until the module answers "OK" + scope "pending".
    let token_form = |token: &str| {
        [
            ("action", "check".to_owned()),
            ("key", task.id.clone()),
            ("token", token.to_owned()),
        ]
    };
    let login: serde_json::Value = reqwest::Client::new()
        .post(format!("{}/auth.php", sim.base_url()))
        .form(&[("action", "login"), ("key", DEFAULT_CLIENT_KEY)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = login["result"]["token"].as_str().unwrap().to_owned();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let raw: serde_json::Value = reqwest::Client::new()
            .post(format!("{}/eq_callback.php", sim.base_url()))
            .form(&token_form(&token))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if raw["scope"] == "pending" {
            assert_eq!(raw["result"], "OK");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "never pending: {raw}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Past the callback's due time, held: still "OK" + "pending".
    tokio::time::sleep(DELAY).await;
    let held = p.task(&task.id).await.unwrap();
    assert_eq!(held.status, TaskStatus::Pending, "{held:?}");
    assert_eq!(handle.mounted(SERVER_IDS[0]), None);

    handle.hold_callbacks(false);
    let done = p
        .wait_task(&task.id, Duration::from_millis(50), Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(
        (done.status, done.operation.as_str()),
        (TaskStatus::Succeeded, "attach"),
        "{done:?}"
    );
    assert_eq!(done.result.as_ref().unwrap()["mounted"], true);
}

#[tokio::test]
async fn callbacks_ending_error_failed_or_cancelled_fail_the_task() {
    let (sim, handle) = sim_with(Default::default()).await;
    let p = provider(client_config(&sim));
    let iso = ready_iso(&p).await;
    for (word, code) in [
        ("error", "upstream_error"),
        ("failed", "upstream_failed"),
        ("cancelled", "cancelled"),
    ] {
        handle.end_callbacks_with(Some(word));
        let task = attach_task(&p, &iso.native_id).await;
        let done = p
            .wait_task(&task.id, Duration::from_millis(50), Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!(done.status, TaskStatus::Failed, "{word}: {done:?}");
        let err = done.error.unwrap();
        assert_eq!(err.code, code);
        assert!(!err.message.is_empty());
        assert_eq!(handle.mounted(SERVER_IDS[0]), None, "nothing mounted");
    }
}

/// eq_callback is polled with the token: a forgotten session answers
/// "invalid hash", which means log in once more.
#[tokio::test]
async fn invalid_hash_on_a_callback_check_logs_in_once_more() {
    let (sim, handle) = sim_with(Default::default()).await;
    let p = provider(client_config(&sim));
    let iso = ready_iso(&p).await;
    let task = attach_task(&p, &iso.native_id).await;
    assert_eq!(sim.control().count("POST /auth.php"), 1);
    handle.revoke_tokens();
    assert_eq!(p.task(&task.id).await.unwrap().status, TaskStatus::Pending);
    assert_eq!(sim.control().count("POST /auth.php"), 2);
    assert_eq!(
        sim.control().count("action:check"),
        2,
        "one refused, one answered"
    );

    // Refused again after the re-login: Unauthorized, no third login.
    sim.control().set_faults(Faults {
        error_rate: 1.0,
        error_status: 401,
        path_contains: Some("eq_callback".into()),
        ..Default::default()
    });
    let e = p.task(&task.id).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unauthorized);
    assert_eq!(sim.control().count("POST /auth.php"), 3);
}

#[tokio::test]
async fn login_sends_ttl_and_later_calls_go_to_the_invapi_host_it_names() {
    let (sim, handle) = sim_with(action::Options {
        login_names_second_node: true,
        ..Default::default()
    })
    .await;
    let mut c = client_config(&sim);
    c.token_ttl_s = 900;
    let p = provider(c);
    let iso = ready_iso(&p).await;
    assert_eq!(handle.last_login_ttl(), Some(900));
    let task = attach_task(&p, &iso.native_id).await;
    let done = p
        .wait_task(&task.id, Duration::from_millis(50), Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(done.status, TaskStatus::Succeeded);
    let node = action::SECOND_NODE;
    let counts = sim.control();
    assert_eq!(
        counts.count("POST /auth.php"),
        1,
        "the key goes to the configured base"
    );
    assert_eq!(counts.count(&format!("POST {node}/auth.php")), 0);
    assert_eq!(counts.count("POST /iso.php"), 0, "{:?}", counts.counts());
    assert!(counts.count(&format!("POST {node}/iso.php")) >= 3);
    assert!(counts.count(&format!("POST {node}/eq_callback.php")) >= 1);
    assert_eq!(counts.count("POST /eq_callback.php"), 0);
}

#[tokio::test]
async fn the_legacy_forms_still_work_end_to_end() {
    let (sim, handle) = sim_with(action::Options {
        legacy_forms: true,
        ..Default::default()
    })
    .await;
    let p = provider(client_config(&sim));
    let iso = ready_iso(&p).await;
    let task = attach_task(&p, &iso.native_id).await;
    let done = p
        .wait_task(&task.id, Duration::from_millis(50), Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(done.status, TaskStatus::Succeeded, "{done:?}");
    assert_eq!(
        handle.mounted(SERVER_IDS[0]).map(|i| i.to_string()),
        Some(iso.native_id)
    );
}
