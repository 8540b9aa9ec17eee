//! API keys: 401 without or with a wrong key, 403 for a missing scope or a
//! provider outside the key's allow-list (which is also invisible in
//! listings, stats and /v1/providers), open routes, reload, rate limits.

#[path = "support/hardening.rs"]
mod hardening;
mod support;

use std::sync::Arc;

use hardening::{Answer, assert_problem, key_entry, send};
use isogate::AppState;
use isogate::config::Config;
use isogate_core::GlobalId;
use serde_json::json;
use support::{Fake, state_with};

const READER: &str = "reader-secret-1";
const WRITER: &str = "writer-secret-2";
const ADMIN: &str = "admin-secret-3";

fn keyed(extra: &str) -> (AppState, Arc<Fake>, Arc<Fake>) {
    let (a, b) = (Fake::new("a", 3), Fake::new("b", 2));
    let toml = format!(
        "[cache]\nfresh_ttl_s = 60\nrefresh_min_interval_s = 0\n{extra}{}{}{}",
        key_entry("reader", READER, &["read"], &["a"]),
        key_entry("writer", WRITER, &["read", "write"], &["*"]),
        key_entry("admin", ADMIN, &["admin"], &["*"]),
    );
    (state_with(vec![a.clone(), b.clone()], &toml), a, b)
}

async fn as_key(state: &AppState, method: &str, uri: &str, key: &str) -> Answer {
    let bearer = format!("Bearer {key}");
    send(state, method, uri, &[("authorization", &bearer)], None).await
}

#[tokio::test]
async fn no_key_or_a_wrong_key_is_401_with_a_bearer_challenge() {
    let (state, a, _) = keyed("");
    for (headers, code) in [
        (vec![], "missing_api_key"),
        (vec![("authorization", "Bearer nope")], "invalid_api_key"),
        (vec![("x-api-key", "reader-secret-")], "invalid_api_key"),
        (
            vec![("authorization", "Basic cmVhZGVyOng=")],
            "missing_api_key",
        ),
        (vec![("authorization", "Bearer ")], "missing_api_key"),
    ] {
        for uri in ["/v1/isos", "/v1/providers", "/v1/providers/a/isos/0001"] {
            let r = send(&state, "GET", uri, &headers, None).await;
            assert_problem(&r, 401, code);
            assert_eq!(r.headers["www-authenticate"], "Bearer realm=\"isogate\"");
            assert!(r.body["request_id"].is_string());
        }
    }
    assert_eq!(a.lists(), 0, "nothing reached a provider");
    // Both header forms work for the right key.
    assert_eq!(as_key(&state, "GET", "/v1/isos", READER).await.status, 200);
    let r = send(&state, "GET", "/v1/isos", &[("x-api-key", READER)], None).await;
    assert_eq!(r.status, 200, "{}", r.text);
}

#[tokio::test]
async fn open_routes_need_no_key() {
    let (state, _, _) = keyed("");
    for uri in ["/healthz", "/readyz", "/metrics", "/openapi.json", "/docs"] {
        let r = send(&state, "GET", uri, &[], None).await;
        assert_eq!(r.status, 200, "{uri}: {}", r.text);
    }
}

#[tokio::test]
async fn a_missing_scope_is_403_and_nothing_is_written() {
    let (state, a, b) = keyed("");
    let import = json!({"name": "n", "url": "http://releases.example.com/x.iso"});
    let bearer = format!("Bearer {READER}");
    let r = send(
        &state,
        "POST",
        "/v1/providers/a/isos",
        &[("authorization", &bearer)],
        Some(import.clone()),
    )
    .await;
    assert_problem(&r, 403, "insufficient_scope");
    for (method, uri) in [
        ("DELETE", "/v1/providers/a/isos/0001"),
        ("POST", "/v1/providers/a/sync"),
        ("POST", "/v1/cache/invalidate"),
    ] {
        assert_problem(
            &as_key(&state, method, uri, READER).await,
            403,
            "insufficient_scope",
        );
    }
    // Write and admin scopes are separate.
    assert_problem(
        &as_key(&state, "POST", "/v1/cache/invalidate", WRITER).await,
        403,
        "insufficient_scope",
    );
    assert_problem(
        &as_key(&state, "GET", "/v1/isos", ADMIN).await,
        403,
        "insufficient_scope",
    );
    assert_eq!(
        as_key(&state, "POST", "/v1/cache/invalidate", ADMIN)
            .await
            .status,
        200
    );
    let w = format!("Bearer {WRITER}");
    let r = send(
        &state,
        "POST",
        "/v1/providers/b/isos",
        &[("authorization", &w)],
        Some(import),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(
        (
            a.writes.load(std::sync::atomic::Ordering::SeqCst),
            b.writes.load(std::sync::atomic::Ordering::SeqCst)
        ),
        (0, 1)
    );
}

#[tokio::test]
async fn providers_outside_the_allow_list_are_invisible_or_forbidden() {
    let (state, a, b) = keyed("");
    // Federated listing: only a's rows and a's source.
    let r = as_key(&state, "GET", "/v1/isos?per_page=100", READER).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["meta"]["total"], 3);
    let sources: Vec<&str> = r.body["sources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["provider"].as_str().unwrap())
        .collect();
    assert_eq!(sources, ["a"]);
    assert_eq!((a.lists(), b.lists()), (1, 0), "b was not even asked");
    // The writer sees both.
    let r = as_key(&state, "GET", "/v1/isos?per_page=100", WRITER).await;
    assert_eq!(r.body["meta"]["total"], 5);
    // Stats and /v1/providers.
    let r = as_key(&state, "GET", "/v1/isos/stats", READER).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["meta"]["total"], 3);
    assert_eq!(r.body["data"].as_array().unwrap().len(), 1);
    let r = as_key(&state, "GET", "/v1/providers", READER).await;
    let names: Vec<&str> = r.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["a"]);
    // Naming b explicitly anywhere is a 403.
    let global = format!("/v1/isos/{}", GlobalId::encode("b", "0001"));
    for (method, uri) in [
        ("GET", "/v1/isos?provider=b"),
        ("GET", "/v1/isos/stats?provider=b"),
        ("GET", "/v1/providers/b/isos"),
        ("GET", "/v1/providers/b/isos/0001"),
        ("GET", global.as_str()),
        ("GET", "/v1/providers/b/tasks/t1"),
    ] {
        assert_problem(
            &as_key(&state, method, uri, READER).await,
            403,
            "provider_forbidden",
        );
    }
    // A write key limited to a cannot write to b.
    let (state2, _, b2) = keyed(&key_entry("a-writer", "aw-secret", &["write"], &["a"]));
    let r = send(
        &state2,
        "POST",
        "/v1/providers/b/isos",
        &[("x-api-key", "aw-secret")],
        Some(json!({"name": "n", "url": "http://releases.example.com/x.iso"})),
    )
    .await;
    assert_problem(&r, 403, "provider_forbidden");
    assert_eq!(b2.writes.load(std::sync::atomic::Ordering::SeqCst), 0);
}

#[tokio::test]
async fn reloaded_keys_take_effect_at_once() {
    let (state, _, _) = keyed("");
    assert_eq!(as_key(&state, "GET", "/v1/isos", READER).await.status, 200);
    let (new, _) = Config::from_toml(&key_entry("new", "fresh-key", &["read"], &["*"])).unwrap();
    state.reload_keys(&new.auth);
    assert_problem(
        &as_key(&state, "GET", "/v1/isos", READER).await,
        401,
        "invalid_api_key",
    );
    assert_eq!(
        as_key(&state, "GET", "/v1/isos", "fresh-key").await.status,
        200
    );
}

#[tokio::test]
async fn each_key_has_its_own_rate_and_refresh_is_stricter() {
    let (state, _, _) = keyed(
        "[auth.rate_limit]\nper_second = 1\nburst = 3\nrefresh_per_minute = 1\nrefresh_burst = 1\n",
    );
    for _ in 0..3 {
        assert_eq!(
            as_key(&state, "GET", "/v1/providers", READER).await.status,
            200
        );
    }
    let r = as_key(&state, "GET", "/v1/providers", READER).await;
    assert_problem(&r, 429, "rate_limited");
    let after: u64 = r.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=2).contains(&after), "{after}");
    // Another key is not affected.
    assert_eq!(
        as_key(&state, "GET", "/v1/providers", WRITER).await.status,
        200
    );
    let r = as_key(&state, "GET", "/v1/isos?refresh=true", WRITER).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = as_key(&state, "GET", "/v1/isos?refresh=true", WRITER).await;
    assert_problem(&r, 429, "refresh_rate_limited");
    let after: u64 = r.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(after > 30, "{after}");
    assert_eq!(as_key(&state, "GET", "/v1/isos", WRITER).await.status, 200);
}

#[tokio::test]
async fn without_keys_nothing_is_asked_and_nothing_is_limited() {
    let a = Fake::new("a", 1);
    let state = state_with(vec![a], "[auth.rate_limit]\nper_second = 1\nburst = 1\n");
    for _ in 0..5 {
        assert_eq!(send(&state, "GET", "/v1/isos", &[], None).await.status, 200);
    }
}

#[tokio::test]
async fn answers_kept_for_one_key_are_never_served_to_a_narrower_one() {
    let (state, _, _) = keyed("");
    for uri in ["/v1/isos?per_page=100", "/v1/isos?per_page=100&provider=b"] {
        // Twice, so the wide key's answer is stored and served hot.
        for _ in 0..2 {
            assert_eq!(as_key(&state, "GET", uri, WRITER).await.status, 200);
        }
    }
    let r = as_key(&state, "GET", "/v1/isos?per_page=100", READER).await;
    assert_eq!(r.body["meta"]["total"], 3, "{}", r.text);
    assert_eq!(r.body["sources"].as_array().unwrap().len(), 1);
    let r = as_key(&state, "GET", "/v1/isos?per_page=100&provider=b", READER).await;
    assert_problem(&r, 403, "provider_forbidden");
}

/// Authorisation never fails open: without a caller (work done outside a
/// guarded request, e.g. a spawned task or a handler called directly) no
/// provider is visible, even with authentication off, where every real
/// request's caller sees them all.
#[tokio::test]
async fn no_caller_sees_nothing() {
    use axum::extract::State;
    use isogate::{Caller, Principal};
    let (a, b) = (Fake::new("a", 3), Fake::new("b", 2));
    let state = state_with(vec![a.clone(), b], "");
    let nobody = Caller::none();
    assert!(!nobody.may_see("a"));
    assert_eq!(state.visible_providers(&nobody).count(), 0);
    let selection = isogate::listing::select(&state, &nobody, &[]).unwrap();
    assert!(selection.is_empty(), "no provider selected for no caller");
    let named = isogate::listing::select(&state, &nobody, &["a".to_string()]);
    assert_eq!(
        named.err().and_then(|e| e.explicit_code()),
        Some("provider_forbidden")
    );
    let resp = isogate::list_providers(State(state.clone()), nobody).await;
    let body = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .unwrap();
    let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        body["data"],
        json!([]),
        "a handler run without a caller lists nothing"
    );
    assert_eq!(a.lists(), 0);
    // The anonymous caller of an unauthenticated request does see them all.
    let anyone = Caller::new(Arc::new(Principal::anonymous()));
    assert_eq!(state.visible_providers(&anyone).count(), 2);
    // And through the router the same server lists both.
    let r = send(&state, "GET", "/v1/providers", &[], None).await;
    assert_eq!(r.body["data"].as_array().map(Vec::len), Some(2));
}

/// Scopes come from the route list's groups: open routes answer without a
/// key, the API needs read for GETs and write for the rest (unknown paths
/// included, so no key learns what exists), cache invalidation needs admin.
#[tokio::test]
async fn route_groups_decide_scopes() {
    let (state, _, _) = keyed("");
    for uri in [
        "/healthz",
        "/metrics",
        "/ui",
        "/ui/",
        "/ui/assets/app.js",
        "/docs",
        "/openapi.json",
    ] {
        let r = send(&state, "GET", uri, &[], None).await;
        assert_ne!(r.status, 401, "{uri} is open");
    }
    for uri in ["/uix", "/v1/isos", "/v1/nothing-here"] {
        let r = send(&state, "GET", uri, &[], None).await;
        assert_problem(&r, 401, "missing_api_key");
    }
    for (method, uri) in [
        ("POST", "/v1/providers/a/isos"),
        ("DELETE", "/v1/providers/a/isos/1"),
        ("POST", "/v1/cache/invalidate"),
    ] {
        let r = as_key(&state, method, uri, READER).await;
        assert_problem(&r, 403, "insufficient_scope");
    }
    let r = as_key(&state, "POST", "/v1/cache/invalidate", WRITER).await;
    assert_problem(&r, 403, "insufficient_scope");
    let r = as_key(&state, "POST", "/v1/cache/invalidate", ADMIN).await;
    assert!(r.status < 300, "admin invalidates: {}", r.status);
}
