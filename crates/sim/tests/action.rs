//! The action-style (HOSTKEY InvAPI) simulator over real HTTP.

use std::time::Duration;

use isogate_sim::action::{self, CLIENT_EMAIL, DEFAULT_ADMIN_KEY, DEFAULT_CLIENT_KEY, SERVER_IDS};
use isogate_sim::{Faults, SimServer};
use serde_json::Value;

// Long enough that a loaded CI machine still sees the pending state first.
const DELAY: Duration = Duration::from_millis(400);

async fn sim() -> SimServer {
    action::start(action::Options {
        callback_delay: DELAY,
        ..Default::default()
    })
    .await
    .unwrap()
}

async fn post(sim: &SimServer, path: &str, form: &[(&str, &str)]) -> (u16, Value) {
    let r = reqwest::Client::new()
        .post(format!("{}/{path}", sim.base_url()))
        .form(form)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap())
}

async fn login(sim: &SimServer, key: &str) -> String {
    let (status, body) = post(sim, "auth.php", &[("action", "login"), ("key", key)]).await;
    assert_eq!(status, 200);
    let token = body["result"]["token"].as_str().unwrap().to_owned();
    assert!(body["result"]["token_expire"].as_u64().unwrap() > 1_700_000_000);
    token
}

async fn iso(sim: &SimServer, token: &str, action: &str, extra: &[(&str, &str)]) -> Value {
    let mut form = vec![("action", action), ("token", token)];
    form.extend_from_slice(extra);
    let (status, body) = post(sim, "iso.php", &form).await;
    assert_eq!(status, 200, "{action}: {body}");
    body
}

fn server() -> String {
    SERVER_IDS[0].to_string()
}

#[tokio::test]
async fn login_and_list_iso_follow_the_seed_shapes_and_roles() {
    let sim = sim().await;
    let (_, bad) = post(&sim, "auth.php", &[("action", "login"), ("key", "nope")]).await;
    assert_eq!(bad["result"], "Error");
    assert!(bad["message"].as_str().unwrap().contains("invalid key"));

    let token = login(&sim, DEFAULT_CLIENT_KEY).await;
    let list = iso(&sim, &token, "list_iso", &[("id", &server())]).await;
    assert_eq!(list["result"], "OK");
    assert_eq!(list["module"], "iso");
    assert_eq!(list["server_id"], SERVER_IDS[0]);
    let images = list["iso_images"].as_array().unwrap();
    assert!(images.len() > 10, "{}", images.len());
    for img in images {
        let mut keys: Vec<_> = img.as_object().unwrap().keys().cloned().collect();
        keys.sort();
        assert_eq!(
            keys,
            ["created_at", "description", "id", "iso_name", "size"]
        );
        assert!(img["size"].as_u64().unwrap() > 0);
    }

    // Clients must name a server, and only their own.
    let missing = iso(&sim, &token, "list_iso", &[]).await;
    assert_eq!(missing["code"], -1);
    assert_eq!(missing["message"], "invalid argument id");
    let other = iso(&sim, &token, "list_iso", &[("id", "999")]).await;
    assert!(
        other["error"]
            .as_str()
            .unwrap()
            .contains("permission denied")
    );

    // Staff see more (admin-only and other customers' images), without a server.
    let admin = login(&sim, DEFAULT_ADMIN_KEY).await;
    let all = iso(&sim, &admin, "list_iso", &[]).await;
    assert!(all["server_id"].is_null());
    assert!(all["iso_images"].as_array().unwrap().len() > images.len());

    // Same seed, same catalogue.
    let again = self::sim().await;
    let t2 = login(&again, DEFAULT_CLIENT_KEY).await;
    let list2 = iso(&again, &t2, "list_iso", &[("id", &server())]).await;
    assert_eq!(list2["iso_images"], list["iso_images"]);
}

#[tokio::test]
async fn missing_unknown_and_expired_tokens_are_rejected_two_ways() {
    let (sim, handle) = action::start_with_handle(Default::default()).await.unwrap();
    let (status, body) = post(&sim, "iso.php", &[("action", "list_iso"), ("id", "456")]).await;
    assert_eq!(status, 401);
    assert_eq!(body["message"], "invalid token");

    let token = login(&sim, DEFAULT_CLIENT_KEY).await;
    assert_eq!(
        iso(&sim, &token, "list_iso", &[("id", "456")]).await["result"],
        "OK"
    );
    let r = reqwest::Client::new()
        .post(format!("{}/__sim/action/expire-tokens", sim.origin()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let expired = iso(&sim, &token, "list_iso", &[("id", "456")]).await;
    assert_eq!(expired["message"], "token expired");

    handle.revoke_tokens();
    let (status, _) = post(
        &sim,
        "iso.php",
        &[("action", "list_iso"), ("token", &token)],
    )
    .await;
    assert_eq!(status, 401);
    assert_eq!(sim.control().count("action:login"), 1);
}

#[tokio::test]
async fn upload_goes_from_pending_to_ready_and_is_logged() {
    let sim = sim().await;
    let token = login(&sim, DEFAULT_CLIENT_KEY).await;
    let http = iso(
        &sim,
        &token,
        "upload",
        &[("params[url]", "http://x.example/a.iso")],
    )
    .await;
    assert_eq!(http["message"], "invalid argument url");

    let up = iso(
        &sim,
        &token,
        "upload",
        &[("params[url]", "https://mirror.example/isos/custom-tool.iso")],
    )
    .await;
    assert_eq!(up["result"], "OK");
    let rec = &up["data"];
    assert_eq!(rec["status"], "Pending");
    assert_eq!(rec["iso_name"], "custom-tool.iso");
    assert_eq!(rec["private"], CLIENT_EMAIL);
    let id_num = rec["id"].as_u64().unwrap();
    let id = id_num.to_string();

    let listed = |v: &Value| {
        v["iso_images"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["id"] == id_num)
    };
    let before = iso(&sim, &token, "list_iso", &[("id", &server())]).await;
    assert!(!listed(&before), "pending uploads cannot be mounted yet");
    let mine = iso(&sim, &token, "uploaded", &[]).await;
    let entry = mine["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == id_num)
        .cloned()
        .unwrap();
    assert_eq!(entry["status"], "Pending");

    tokio::time::sleep(DELAY + Duration::from_millis(100)).await;
    let after = iso(&sim, &token, "list_iso", &[("id", &server())]).await;
    assert!(listed(&after));
    let hist = iso(&sim, &token, "history", &[("id", &id)]).await;
    let entries = hist["data"].as_array().unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0]["type"], "upload");
    assert_eq!(entries[0]["login"], CLIENT_EMAIL);
    let date = entries[0]["date"].as_str().unwrap();
    assert!(
        chrono::NaiveDateTime::parse_from_str(date, "%Y-%m-%d %H:%M:%S").is_ok(),
        "{date}"
    );

    // Staff must name the customer.
    let admin = login(&sim, DEFAULT_ADMIN_KEY).await;
    let url = ("params[url]", "https://mirror.example/isos/x.iso");
    let no_email = iso(&sim, &admin, "upload", &[url]).await;
    assert_eq!(no_email["message"], "invalid argument email");
    let no_customer = iso(
        &sim,
        &admin,
        "upload",
        &[url, ("params[email]", CLIENT_EMAIL)],
    )
    .await;
    assert_eq!(no_customer["message"], "invalid argument customer_id");
}

#[tokio::test]
async fn mount_and_unmount_complete_through_callbacks() {
    let (sim, handle) = action::start_with_handle(action::Options {
        callback_delay: DELAY,
        ..Default::default()
    })
    .await
    .unwrap();
    let token = login(&sim, DEFAULT_CLIENT_KEY).await;
    let list = iso(&sim, &token, "list_iso", &[("id", &server())]).await;
    let first = &list["iso_images"][0];
    let name = first["iso_name"].as_str().unwrap();
    let id = first["id"].to_string();

    let missing = iso(&sim, &token, "mount_iso", &[("id", &server())]).await;
    assert_eq!(missing["message"], "invalid argument iso");
    let unknown = iso(
        &sim,
        &token,
        "mount_iso",
        &[("id", &server()), ("iso", "nope.iso")],
    )
    .await;
    assert_eq!(unknown["result"], "Error");
    assert!(unknown["message"].as_str().unwrap().contains("not found"));

    let mount = iso(
        &sim,
        &token,
        "mount_iso",
        &[("id", &server()), ("iso", name)],
    )
    .await;
    assert!(mount.get("data").is_none(), "the key is top-level: {mount}");
    let key = mount["callback"].as_str().unwrap().to_owned();
    assert_eq!(key.len(), 32);
    assert!(key.bytes().all(|b| b.is_ascii_hexdigit()));

    // Polled with the token, as HOSTKEY's own client does.
    let check = [
        ("action", "check"),
        ("key", key.as_str()),
        ("token", token.as_str()),
    ];
    let (_, pending) = post(&sim, "eq_callback.php", &check).await;
    assert_eq!(pending["result"], "Not ready");
    let (_, no_token) = post(
        &sim,
        "eq_callback.php",
        &[("action", "check"), ("key", key.as_str())],
    )
    .await;
    assert_eq!(no_token["error"], "invalid hash", "{no_token}");

    // Held: past the halfway mark it is "OK" but still running.
    handle.hold_callbacks(true);
    tokio::time::sleep(DELAY + Duration::from_millis(100)).await;
    let (_, running) = post(&sim, "eq_callback.php", &check).await;
    assert_eq!(
        (running["result"].as_str(), running["scope"].as_str()),
        (Some("OK"), Some("pending")),
        "{running}"
    );
    assert_eq!(
        handle.mounted(SERVER_IDS[0]),
        None,
        "not done while pending"
    );
    handle.hold_callbacks(false);
    let (_, done) = post(&sim, "eq_callback.php", &check).await;
    assert_eq!(done["result"], "OK", "{done}");
    assert_eq!(done["scope"], "deploy_done", "{done}");
    assert_eq!(done["action"], "mount_iso");
    assert_eq!(
        handle.mounted(SERVER_IDS[0]).map(|i| i.to_string()),
        Some(id.clone())
    );

    let unmount = iso(&sim, &token, "unmount_iso", &[("id", &server())]).await;
    let ukey = unmount["callback"].as_str().unwrap().to_owned();
    tokio::time::sleep(DELAY + Duration::from_millis(100)).await;
    let (_, udone) = post(
        &sim,
        "eq_callback.php",
        &[("action", "check"), ("key", &ukey), ("token", &token)],
    )
    .await;
    assert_eq!(
        (udone["result"].as_str(), udone["scope"].as_str()),
        (Some("OK"), Some("deploy_done"))
    );
    assert_eq!(handle.mounted(SERVER_IDS[0]), None);

    let hist = iso(&sim, &token, "history", &[("id", &id)]).await;
    let kinds: Vec<_> = hist["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(kinds[..2], ["unmount", "mount"], "newest first: {kinds:?}");

    let (_, nf) = post(
        &sim,
        "eq_callback.php",
        &[("action", "check"), ("key", "0"), ("token", &token)],
    )
    .await;
    assert_eq!(nf["error"], "callback not found");

    // An expired session: the documented "token expired" shape.
    handle.expire_tokens();
    let (_, expired) = post(&sim, "eq_callback.php", &check).await;
    assert_eq!(expired["message"], "token expired");
}

#[tokio::test]
async fn callbacks_end_failed_error_or_cancelled_when_state_says_so() {
    let (sim, handle) = action::start_with_handle(action::Options {
        callback_delay: Duration::from_millis(100),
        ..Default::default()
    })
    .await
    .unwrap();
    let token = login(&sim, DEFAULT_CLIENT_KEY).await;
    let check = |key: String| {
        let (sim, token) = (&sim, token.clone());
        async move {
            tokio::time::sleep(Duration::from_millis(200)).await;
            let form = [("action", "check"), ("key", &key), ("token", &token)];
            post(sim, "eq_callback.php", &form).await.1
        }
    };
    for word in ["error", "failed", "cancelled"] {
        handle.end_callbacks_with(Some(word));
        let up = iso(&sim, &token, "unmount_iso", &[("id", &server())]).await;
        let end = check(up["callback"].as_str().unwrap().to_owned()).await;
        assert_eq!(end["result"], word, "{end}");
        assert!(end["message"].as_str().is_some_and(|m| !m.is_empty()));
        assert!(end.get("scope").is_none());
    }
    handle.end_callbacks_with(None);

    // State: the image is deleted before the mount runs.
    let up = iso(
        &sim,
        &token,
        "upload",
        &[("params[url]", "https://m.example/gone.iso")],
    )
    .await;
    let id = up["data"]["id"].to_string();
    tokio::time::sleep(Duration::from_millis(150)).await;
    let mount = iso(
        &sim,
        &token,
        "mount_iso",
        &[("id", &server()), ("iso", "gone.iso")],
    )
    .await;
    let key = mount["callback"].as_str().unwrap().to_owned();
    let del = iso(
        &sim,
        &token,
        "del",
        &[("params[id]", &id), ("params[pending]", "1")],
    )
    .await;
    assert_eq!(del["result"], "OK");
    let end = check(key).await;
    assert_eq!(end["result"], "failed", "{end}");
    assert!(end["message"].as_str().unwrap().contains("deleted"));
}

#[tokio::test]
async fn login_takes_ttl_and_names_the_invapi_host() {
    let sim = sim().await;
    let (_, body) = post(
        &sim,
        "auth.php",
        &[
            ("action", "login"),
            ("key", DEFAULT_CLIENT_KEY),
            ("ttl", "120"),
        ],
    )
    .await;
    let r = &body["result"];
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let expire = r["token_expire"].as_u64().unwrap();
    assert!(
        (now + 110..=now + 130).contains(&expire),
        "{expire} vs {now}"
    );
    assert_eq!(r["invapi"], sim.origin(), "names itself by default");
    assert_eq!(r["servers"], serde_json::json!(SERVER_IDS));
    let (_, bad) = post(
        &sim,
        "auth.php",
        &[
            ("action", "login"),
            ("key", DEFAULT_CLIENT_KEY),
            ("ttl", "x"),
        ],
    )
    .await;
    assert_eq!(bad["message"], "invalid argument ttl");

    // A deployment whose logins send clients to a second node, which serves
    // the same account.
    let two = action::start(action::Options {
        login_names_second_node: true,
        ..Default::default()
    })
    .await
    .unwrap();
    let (_, body) = post(
        &two,
        "auth.php",
        &[("action", "login"), ("key", DEFAULT_CLIENT_KEY)],
    )
    .await;
    let node = body["result"]["invapi"].as_str().unwrap().to_owned();
    assert_eq!(node, format!("{}{}", two.origin(), action::SECOND_NODE));
    let token = body["result"]["token"].as_str().unwrap();
    let r = reqwest::Client::new()
        .post(format!("{node}/iso.php"))
        .form(&[("action", "list_iso"), ("token", token), ("id", "456")])
        .send()
        .await
        .unwrap();
    let list: Value = r.json().await.unwrap();
    assert_eq!(list["result"], "OK");
    assert_eq!(
        two.control()
            .count(&format!("POST {}/iso.php", action::SECOND_NODE)),
        1
    );
}

#[tokio::test]
async fn legacy_forms_answer_the_older_shapes() {
    let sim = action::start(action::Options {
        legacy_forms: true,
        callback_delay: Duration::from_millis(100),
        ..Default::default()
    })
    .await
    .unwrap();
    let (_, body) = post(
        &sim,
        "auth.php",
        &[("action", "login"), ("key", DEFAULT_CLIENT_KEY)],
    )
    .await;
    let token = body["token"].as_str().unwrap().to_owned();
    assert!(body["token_expire"].as_u64().is_some());
    let up = iso(&sim, &token, "unmount_iso", &[("id", &server())]).await;
    let key = up["data"]["callback"].as_str().unwrap().to_owned();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (_, done) = post(
        &sim,
        "eq_callback.php",
        &[("action", "check"), ("key", &key), ("token", &token)],
    )
    .await;
    assert_eq!(done["result"], "OK");
    assert!(done.get("scope").is_none(), "{done}");
}

#[tokio::test]
async fn roles_govern_add_update_and_both_deletes() {
    let sim = sim().await;
    let client = login(&sim, DEFAULT_CLIENT_KEY).await;
    let admin = login(&sim, DEFAULT_ADMIN_KEY).await;
    let add_form = [
        ("params[name]", "Tool Disk 1"),
        ("params[short_name]", "tool1"),
        ("params[iso_name]", "tool-1.iso"),
        ("params[private]", CLIENT_EMAIL),
        ("params[status]", "Ready"),
    ];
    let denied = iso(&sim, &client, "add", &add_form).await;
    assert!(
        denied["error"]
            .as_str()
            .unwrap()
            .contains("permission denied")
    );
    let missing = iso(&sim, &admin, "add", &add_form[..2]).await;
    assert_eq!(missing["message"], "invalid argument iso_name");
    let added = iso(&sim, &admin, "add", &add_form).await;
    assert_eq!(added["data"]["status"], "Ready");
    let id = added["data"]["id"].to_string();

    // The owner may update and delete; public images are staff-only.
    let upd = iso(
        &sim,
        &client,
        "update",
        &[
            ("params[id]", &id),
            ("params[description]", "new text"),
            ("params[iso_name]", "tool-one.iso"),
        ],
    )
    .await;
    assert_eq!(upd["data"]["description"], "new text");
    assert_eq!(upd["data"]["iso_name"], "tool-one.iso");

    let list = iso(&sim, &client, "list_iso", &[("id", &server())]).await;
    let public = list["iso_images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].to_string())
        .find(|i| *i != id)
        .unwrap();
    let mine = iso(&sim, &client, "uploaded", &[]).await;
    assert!(
        mine["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["private"] == CLIENT_EMAIL)
    );
    let public_is_mine = mine["data"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["id"].to_string().as_str() == public.as_str());
    if !public_is_mine {
        let no = iso(&sim, &client, "del", &[("params[id]", &public)]).await;
        assert!(no["error"].as_str().unwrap().contains("permission denied"));
    }

    let del = iso(
        &sim,
        &client,
        "del",
        &[("params[id]", &id), ("params[pending]", "1")],
    )
    .await;
    assert_eq!(del["result"], "OK");
    let gone = iso(&sim, &client, "del", &[("params[id]", &id)]).await;
    assert!(gone["message"].as_str().unwrap().contains("not found"));
    let again = iso(&sim, &admin, "delete", &[("id", &id)]).await;
    assert_eq!(again["result"], "Error");
    let by_staff = iso(&sim, &admin, "delete", &[("id", &public)]).await;
    assert_eq!(by_staff["action"], "delete");
    let hist = iso(&sim, &admin, "history", &[("id", &id)]).await;
    assert_eq!(hist["data"][0]["type"], "delete");

    let unknown = iso(&sim, &client, "frobnicate", &[]).await;
    assert!(
        unknown["message"]
            .as_str()
            .unwrap()
            .contains("unknown action")
    );
}

#[tokio::test]
async fn injected_faults_look_like_nginx_in_front_of_php() {
    let sim = action::start(action::Options {
        faults: Faults {
            error_rate: 1.0,
            error_status: 502,
            path_contains: Some("iso.php".into()),
            ..Default::default()
        },
        ..Default::default()
    })
    .await
    .unwrap();
    let token = login(&sim, DEFAULT_CLIENT_KEY).await;
    let r = reqwest::Client::new()
        .post(format!("{}/iso.php", sim.base_url()))
        .form(&[("action", "list_iso"), ("token", &token), ("id", "456")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 502);
    assert_eq!(r.headers()["content-type"], "text/html");
    assert!(r.text().await.unwrap().contains("502 Bad Gateway"));
    assert_eq!(sim.control().count("POST /iso.php"), 1);
    assert_eq!(sim.control().count("action:list_iso"), 0);
}
