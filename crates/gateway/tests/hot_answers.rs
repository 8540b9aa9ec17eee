//! Hot answers (stored bytes of repeated listings) are never staler than the
//! full path would be: a snapshot change or an age tick retires them.

mod support;

use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use support::{Fake, get, item, state_with};

const FRESH: &str = "[cache]\nfresh_ttl_s = 60\nstale_ttl_s = 120\n";

#[tokio::test]
async fn a_repeated_listing_is_the_same_answer_until_a_snapshot_changes() {
    let a = Fake::new("a", 3);
    let b = Fake::new("b", 2);
    let state = state_with(vec![a.clone(), b.clone()], FRESH);
    let uri = "/v1/isos?per_page=10&sort=name";
    let (first, _) = get(&state, uri).await;
    assert_eq!(first.headers()["cache-status"], "isogate; fwd=miss; stored");
    // The second renders from the page cache and stores the answer; the third is served from it.
    let (second, body2) = get(&state, uri).await;
    let (third, body3) = get(&state, uri).await;
    assert_eq!(body2, body3);
    assert_eq!(
        second.headers()[header::ETAG],
        third.headers()[header::ETAG]
    );
    assert_eq!(third.headers()["cache-status"], "isogate; hit");
    assert_eq!(body3["meta"]["total"], 5);
    assert!(
        body3["sources"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["from_cache"] == true)
    );
    assert_eq!((a.lists(), b.lists()), (1, 1));

    // Conditional requests work on the stored answer too.
    let etag = third.headers()[header::ETAG].clone();
    let req = Request::get(uri)
        .header(header::IF_NONE_MATCH, etag.clone())
        .body(Body::empty())
        .unwrap();
    let (not_modified, _) = support::call(&state, req).await;
    assert_eq!(not_modified.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(not_modified.headers()[header::ETAG], etag);

    // Upstream changes and one provider's snapshot is dropped: the next
    // answer has the new item, not the stored bytes.
    a.items.lock().unwrap().push(item("a", "9999", "a-aaa-new"));
    state.cache().invalidate("a").await;
    let (after, body) = get(&state, uri).await;
    assert_eq!(body["meta"]["total"], 6);
    assert_eq!(body["data"][0]["name"], "a-aaa-new");
    assert_ne!(after.headers()[header::ETAG], etag);
    assert_eq!(a.lists(), 2);
    assert_eq!(b.lists(), 1);
}

#[tokio::test]
async fn a_stored_answer_does_not_freeze_the_ages() {
    let a = Fake::new("a", 2);
    let state = state_with(vec![a.clone()], FRESH);
    let uri = "/v1/isos?per_page=1";
    for _ in 0..3 {
        let (_, body) = get(&state, uri).await;
        assert_eq!(body["sources"][0]["age_s"], 0);
    }
    tokio::time::sleep(Duration::from_millis(1050)).await;
    let (_, body) = get(&state, uri).await;
    assert_eq!(body["sources"][0]["age_s"], 1);
    assert_eq!(a.lists(), 1);
}

#[tokio::test]
async fn different_queries_and_routes_do_not_share_stored_answers() {
    let a = Fake::new("a", 4);
    let b = Fake::new("b", 4);
    let state = state_with(vec![a.clone(), b.clone()], FRESH);
    for _ in 0..3 {
        let (_, all) = get(&state, "/v1/isos?per_page=2").await;
        let (_, one) = get(&state, "/v1/providers/b/isos?per_page=2").await;
        let (_, named) = get(&state, "/v1/isos?per_page=2&provider=b").await;
        assert_eq!(all["meta"]["total"], 8);
        assert_eq!(one["meta"]["total"], 4);
        assert_eq!(one["sources"].as_array().unwrap().len(), 1);
        assert_eq!(named["meta"]["total"], 4);
        // The federated form names the skipped provider too.
        assert_eq!(named["sources"].as_array().unwrap().len(), 2);
        assert!(one["data"][0]["id"].as_str().unwrap().starts_with("b:"));
    }
}
