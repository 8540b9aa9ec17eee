//! The token lifecycle: one request in flight, renewal before expiry and
//! after a 401, clean failure when a fresh token is refused too.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{pages, setup, setup_with, token_requests};
use isogate_core::{ErrorKind, IsoProvider, IsoProviderExt, Outcome};
use isogate_sim::Faults;
use isogate_sim::vss::{self, Options};
use isogate_vss::{Catalogue, VssConfig, VssProvider};

async fn fifty_listings(p: &Arc<VssProvider>) -> Vec<usize> {
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let p = p.clone();
            tokio::spawn(async move { p.list_all().await.map(|l| l.len()) })
        })
        .collect();
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap().unwrap());
    }
    out
}

#[tokio::test]
async fn concurrent_first_calls_share_one_token_request() {
    let s = setup(
        Options {
            faults: Faults {
                latency_ms: 20,
                ..Default::default()
            },
            ..Default::default()
        },
        Catalogue::Public,
    )
    .await;
    let p = Arc::new(s.provider);
    assert!(fifty_listings(&p).await.iter().all(|n| *n == 230));
    assert_eq!(token_requests(&s.sim), 1);
}

#[tokio::test]
async fn expiry_triggers_exactly_one_renewal_under_fifty_concurrent_listings() {
    let s = setup(
        Options {
            token_ttl: Duration::from_secs(3),
            ..Default::default()
        },
        Catalogue::Public,
    )
    .await;
    let p = Arc::new(s.provider);
    p.list_all().await.unwrap();
    assert_eq!(token_requests(&s.sim), 1);
    // Renewal is due at 2.4 s (a fifth of the lifetime before expiry);
    // before it, the cached token serves everyone (room for a loaded CI box).
    assert!(fifty_listings(&p).await.iter().all(|n| *n == 230));
    assert_eq!(token_requests(&s.sim), 1);
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let before = pages(&s.sim, "/v2/iso");
    assert!(fifty_listings(&p).await.iter().all(|n| *n == 230));
    assert_eq!(
        token_requests(&s.sim),
        2,
        "one renewal, shared by all fifty"
    );
    assert_eq!(
        pages(&s.sim, "/v2/iso") - before,
        50,
        "no request was refused and repeated"
    );
}

#[tokio::test]
async fn tokens_expired_upstream_are_renewed_once_for_fifty_concurrent_listings() {
    let s = setup(Options::default(), Catalogue::Public).await;
    let p = Arc::new(s.provider);
    p.list_all().await.unwrap();
    s.handle.expire_all_tokens();
    assert!(fifty_listings(&p).await.iter().all(|n| *n == 230));
    assert_eq!(token_requests(&s.sim), 2, "one renewal after the 401s");
}

#[tokio::test]
async fn a_revoked_token_is_renewed_once_and_then_fails_cleanly() {
    let s = setup(Options::default(), Catalogue::Public).await;
    s.provider.list_all().await.unwrap();
    // Revoked: renewed once, the call succeeds.
    s.handle.revoke_all_tokens();
    s.sim.control().reset_counters();
    assert_eq!(s.provider.list_all().await.unwrap().len(), 230);
    assert_eq!(token_requests(&s.sim), 1);
    assert_eq!(
        pages(&s.sim, "/v2/iso"),
        2,
        "the refused page and its retry"
    );

    // Revoked, and every fresh token is refused too (the API answers 401
    // to everything): one renewal, one retry, then Unauthorized.
    s.handle.revoke_all_tokens();
    s.sim.control().reset_counters();
    s.sim.control().set_faults(Faults {
        error_rate: 1.0,
        error_status: 401,
        path_contains: Some("/v2/".into()),
        ..Default::default()
    });
    let e = s.provider.list_all().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unauthorized);
    assert_eq!(e.provider(), Some("vss-test"));
    assert_eq!(e.operation(), Some("list"));
    assert!(!e.to_string().contains(vss::DEFAULT_PASSWORD));
    assert_eq!(token_requests(&s.sim), 1);
    assert_eq!(pages(&s.sim, "/v2/iso"), 2);
}

#[tokio::test]
async fn wrong_credentials_and_static_tokens() {
    let s = setup_with(Options::default(), |sim| VssConfig {
        password: Some("wrong".to_owned().into()),
        ..common::config(sim, Catalogue::Both)
    })
    .await;
    let e = s.provider.list_all().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unauthorized);
    // Both catalogues were walked at once, yet one token request was made:
    // the second waiter shares the first one's failure.
    assert_eq!(token_requests(&s.sim), 1);
    assert_eq!(s.sim.control().total(), 1);

    // A static token is used as is, and a refusal is final.
    let token: serde_json::Value = reqwest::Client::new()
        .post(format!("{}/auth/request-token", s.sim.base_url()))
        .basic_auth(vss::DEFAULT_USERNAME, Some(vss::DEFAULT_PASSWORD))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let with_token = VssProvider::new(
        "vss-static",
        VssConfig {
            username: None,
            password: None,
            token: Some(token["token"].as_str().unwrap().to_owned().into()),
            ..common::config(&s.sim, Catalogue::Public)
        },
    )
    .unwrap();
    s.sim.control().reset_counters();
    assert_eq!(with_token.list_all().await.unwrap().len(), 230);
    s.handle.revoke_all_tokens();
    let e = with_token.list_all().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unauthorized);
    assert_eq!(token_requests(&s.sim), 0);
    assert_eq!(pages(&s.sim, "/v2/iso"), 2);
}

#[tokio::test]
async fn sync_is_a_task_and_is_never_resent() {
    let s = setup(Options::default(), Catalogue::Personal).await;
    assert_eq!(s.provider.list_all().await.unwrap().len(), 12);
    s.handle.upload_personal("fresh-upload");
    let Outcome::Accepted { task } = s.provider.sync().await.unwrap() else {
        panic!("sync is accepted")
    };
    assert_eq!(task.operation, "sync");
    assert_eq!(task.provider, "vss-test");
    let done = s
        .provider
        .wait_task(&task.id, Duration::from_millis(20), Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(done.status, isogate_core::TaskStatus::Succeeded);
    let added = done.result.unwrap()["added"].clone();
    assert!(
        added
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v == "fresh-upload")
    );
    let items = s.provider.list_all().await.unwrap();
    assert_eq!(items.len(), 12 + 4);
    let fresh = items.iter().find(|i| i.name == "fresh-upload").unwrap();
    assert!(fresh.native_id.starts_with("personal-"));
    assert_eq!(fresh.owner.as_deref(), Some(vss::DEFAULT_USERNAME));

    s.handle.fail_next_sync("VSKEY-STOR is unreachable");
    let Outcome::Accepted { task } = s.provider.sync().await.unwrap() else {
        panic!("sync is accepted")
    };
    let failed = s
        .provider
        .wait_task(&task.id, Duration::from_millis(20), Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(failed.status, isogate_core::TaskStatus::Failed);
    assert_eq!(failed.error.unwrap().message, "VSKEY-STOR is unreachable");
    assert_eq!(
        s.provider.task("424242").await.unwrap_err().kind(),
        ErrorKind::NotFound
    );

    // A revoked token on the write: refused once, not resent; the next call
    // fetches a new token.
    s.handle.revoke_all_tokens();
    s.sim.control().reset_counters();
    let e = s.provider.sync().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unauthorized);
    assert_eq!(s.sim.control().count("PATCH /v2/user/image/iso"), 1);
    assert!(matches!(
        s.provider.sync().await.unwrap(),
        Outcome::Accepted { .. }
    ));
    assert_eq!(token_requests(&s.sim), 1);
}

#[tokio::test]
async fn without_duration_the_lifetime_comes_from_exp_and_the_jwt() {
    use isogate_sim::vss::TokenAnswer;
    for form in [TokenAnswer::WithoutDuration, TokenAnswer::TokenOnly] {
        let s = setup(
            Options {
                token_ttl: Duration::from_secs(2),
                token_answer: form,
                ..Default::default()
            },
            Catalogue::Public,
        )
        .await;
        s.provider.list_all().await.unwrap();
        s.provider.list_all().await.unwrap();
        assert_eq!(token_requests(&s.sim), 1, "{form:?}: the token is cached");
        // Past its `exp`: renewed before use, so no request is refused (a
        // 5-minute guess would have sent the expired token and been refused).
        tokio::time::sleep(Duration::from_millis(2_200)).await;
        let before = pages(&s.sim, "/v2/iso");
        s.provider.list_all().await.unwrap();
        assert_eq!(token_requests(&s.sim), 2, "{form:?}: renewed once");
        assert_eq!(
            pages(&s.sim, "/v2/iso") - before,
            1,
            "{form:?}: renewed before it expired, not after a 401"
        );
    }
}
