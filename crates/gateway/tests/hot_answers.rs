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

mod lane {
    //! The hot lane (`isogate::hotlane`) in front of a handler that only
    //! counts: what it answers never reaches the handler, and answers as the
    //! full path does; everything else reaches the handler.

    use std::convert::Infallible;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use axum::Router;
    use axum::body::Body;
    use axum::http::{Request, Response, StatusCode, header};
    use http_body_util::BodyExt;
    use isogate::AppState;
    use isogate::hotlane::{Encoding, HotLaneLayer};
    use tower::ServiceExt;

    use crate::support::{Fake, state_with};

    const KEY: &str = "lane-key-1";
    const NARROW: &str = "lane-key-2";

    fn keyed(compression: bool, extra: &str) -> AppState {
        let digest = |k: &str| hex::encode(<sha2::Sha256 as sha2::Digest>::digest(k.as_bytes()));
        let toml = format!(
            "[server]\ncompression = {compression}\n[cache]\nfresh_ttl_s = 60\nstale_ttl_s = 120\n{extra}\
             [[auth.keys]]\nname = \"wide\"\nsha256 = \"{}\"\nscopes = [\"read\"]\n\
             [[auth.keys]]\nname = \"narrow\"\nsha256 = \"{}\"\nscopes = [\"read\"]\nproviders = [\"a\"]\n",
            digest(KEY),
            digest(NARROW)
        );
        state_with(vec![Fake::new("a", 3), Fake::new("b", 2)], &toml)
    }

    struct Answer {
        status: StatusCode,
        headers: axum::http::HeaderMap,
        body: bytes::Bytes,
    }

    async fn answer(resp: Response<Body>) -> Answer {
        let (parts, body) = resp.into_parts();
        Answer {
            status: parts.status,
            headers: parts.headers,
            body: body.collect().await.unwrap().to_bytes(),
        }
    }

    fn request(method: &str, uri: &str, headers: &[(&str, &str)]) -> Request<Body> {
        let mut req = Request::builder().method(method).uri(uri);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        req.body(Body::empty()).unwrap()
    }

    /// The whole router.
    async fn full(state: &AppState, method: &str, uri: &str, headers: &[(&str, &str)]) -> Answer {
        let resp = isogate::app(state.clone())
            .oneshot(request(method, uri, headers))
            .await
            .unwrap();
        answer(resp).await
    }

    /// The lane over both listing routes, in front of a counting handler.
    fn lane(state: &AppState, encoding: Encoding) -> (Router, Arc<AtomicUsize>) {
        let reached = Arc::new(AtomicUsize::new(0));
        let seen = reached.clone();
        let handler = tower::service_fn(move |_req: Request<Body>| {
            seen.fetch_add(1, Ordering::SeqCst);
            async {
                Ok::<_, Infallible>(
                    Response::builder()
                        .status(StatusCode::IM_A_TEAPOT)
                        .body(Body::empty())
                        .unwrap(),
                )
            }
        });
        let router = Router::new()
            .route_service("/v1/isos", handler.clone())
            .route_service("/v1/providers/{provider}/isos", handler)
            .layer(HotLaneLayer::new(state.clone(), encoding));
        (router, reached)
    }

    async fn through(router: &Router, method: &str, uri: &str, headers: &[(&str, &str)]) -> Answer {
        answer(
            router
                .clone()
                .oneshot(request(method, uri, headers))
                .await
                .unwrap(),
        )
        .await
    }

    const AUTH: (&str, &str) = ("authorization", "Bearer lane-key-1");

    #[tokio::test]
    async fn stored_listings_are_answered_before_the_handler_as_the_full_path_answers() {
        for (compression, encoding) in [
            (false, Encoding::Identity),
            (true, Encoding::IdentityOfCompressed),
        ] {
            let state = keyed(compression, "");
            let (router, reached) = lane(&state, encoding);
            for uri in [
                "/v1/isos?per_page=2&sort=name",
                "/v1/providers/b/isos?per_page=1",
            ] {
                // Stored on the second ask (a repeated page).
                for _ in 0..2 {
                    assert_eq!(
                        full(&state, "GET", uri, &[AUTH]).await.status,
                        StatusCode::OK
                    );
                }
                let reference = full(&state, "GET", uri, &[AUTH]).await;
                let fast = through(&router, "GET", uri, &[AUTH]).await;
                assert_eq!(reached.load(Ordering::SeqCst), 0, "{uri}");
                assert_eq!(fast.status, StatusCode::OK);
                assert_eq!(fast.body, reference.body, "{uri}");
                for name in ["content-type", "etag", "cache-status", "vary"] {
                    assert_eq!(
                        fast.headers.get(name),
                        reference.headers.get(name),
                        "{name}"
                    );
                }
                assert_eq!(fast.headers["cache-status"], "isogate; hit");
                assert_eq!(
                    fast.headers.contains_key(header::VARY),
                    compression,
                    "Vary: Accept-Encoding exactly when compression is on"
                );
                let id = fast.headers["x-request-id"].to_str().unwrap();
                assert!(
                    id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()),
                    "{id}"
                );
                // Its own request id and a conditional request.
                let etag = fast.headers[header::ETAG].to_str().unwrap().to_owned();
                let cond = through(
                    &router,
                    "GET",
                    uri,
                    &[
                        AUTH,
                        ("if-none-match", &etag),
                        ("x-request-id", "given-id-7"),
                    ],
                )
                .await;
                assert_eq!(cond.status, StatusCode::NOT_MODIFIED);
                assert!(cond.body.is_empty());
                assert_eq!(cond.headers[header::ETAG], etag.as_str());
                assert_eq!(cond.headers["x-request-id"], "given-id-7");
                assert!(!cond.headers.contains_key(header::VARY));
                assert_eq!(reached.load(Ordering::SeqCst), 0, "{uri}");
            }
        }
    }

    #[tokio::test]
    async fn what_the_lane_cannot_answer_reaches_the_handler() {
        let state = keyed(true, "");
        let (router, reached) = lane(&state, Encoding::IdentityOfCompressed);
        let uri = "/v1/isos?per_page=2";
        for _ in 0..3 {
            assert_eq!(
                full(&state, "GET", uri, &[AUTH]).await.status,
                StatusCode::OK
            );
        }
        let narrow = ("x-api-key", NARROW);
        for (method, uri, headers) in [
            ("GET", uri, vec![]),
            ("GET", uri, vec![("authorization", "Bearer wrong")]),
            ("POST", uri, vec![AUTH]),
            ("GET", "/v1/isos?per_page=3", vec![AUTH]),
            ("GET", "/v1/providers/%62/isos?per_page=1", vec![AUTH]),
            ("GET", uri, vec![AUTH, ("accept-encoding", "gzip")]),
            // Stored for the wide key: not for one that sees less.
            ("GET", uri, vec![narrow]),
        ] {
            let before = reached.load(Ordering::SeqCst);
            let r = through(&router, method, uri, &headers).await;
            assert_eq!(
                r.status,
                StatusCode::IM_A_TEAPOT,
                "{method} {uri} {headers:?}"
            );
            assert_eq!(reached.load(Ordering::SeqCst), before + 1);
        }
        // The narrow key's own answer, through the full path, is its own.
        let r = full(&state, "GET", uri, &[narrow]).await;
        let body: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(body["meta"]["total"], 3);
    }

    #[tokio::test]
    async fn a_listing_is_charged_once_to_its_key_rate_limit() {
        let state = keyed(false, "[auth.rate_limit]\nper_second = 1\nburst = 3\n");
        let uri = "/v1/isos?per_page=2";
        // A miss, a stored page (the lane authorises, the handler answers)
        // and a lane answer: three requests, three tokens.
        for (n, status) in ["isogate; fwd=miss; stored", "isogate; hit", "isogate; hit"]
            .into_iter()
            .enumerate()
        {
            let r = full(&state, "GET", uri, &[AUTH]).await;
            assert_eq!(r.status, StatusCode::OK, "request {n}");
            assert_eq!(r.headers["cache-status"], status);
        }
        let r = full(&state, "GET", uri, &[AUTH]).await;
        assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
        let body: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(body["code"], "rate_limited");
        assert!(body["request_id"].is_string());
    }

    #[tokio::test]
    async fn lane_answers_are_counted_in_the_metrics_by_route_and_status() {
        let state = keyed(false, "");
        let uri = "/v1/providers/a/isos?per_page=1";
        for _ in 0..3 {
            full(&state, "GET", uri, &[AUTH]).await;
        }
        let etag = full(&state, "GET", uri, &[AUTH]).await.headers[header::ETAG]
            .to_str()
            .unwrap()
            .to_owned();
        // 304s on this route come from this test only (metrics are per process).
        let count = |text: &str| {
            let name = "isogate_http_requests_total{route=\"/v1/providers/{provider}/isos\",method=\"GET\",status=\"304\"}";
            text.lines()
                .find_map(|l| l.strip_prefix(name))
                .map_or(0, |v| v.trim().parse::<u64>().unwrap())
        };
        let before = count(&String::from_utf8_lossy(
            &full(&state, "GET", "/metrics", &[]).await.body,
        ));
        let (router, reached) = lane(&state, Encoding::Identity);
        for _ in 0..2 {
            let r = through(&router, "GET", uri, &[AUTH, ("if-none-match", &etag)]).await;
            assert_eq!(r.status, StatusCode::NOT_MODIFIED);
        }
        assert_eq!(reached.load(Ordering::SeqCst), 0);
        let after = count(&String::from_utf8_lossy(
            &full(&state, "GET", "/metrics", &[]).await.body,
        ));
        assert_eq!(after - before, 2);
    }
}

/// A problem's body carries the request id, written from the problem itself
/// (not parsed back out of the bytes), with or without compression; a
/// compressed error answer comes out plain, its `Content-Encoding` gone.
#[tokio::test]
async fn problems_carry_the_request_id_with_compression_on_or_off() {
    for toml in ["", "[server]\ncompression = true\n"] {
        let state = state_with(vec![Fake::new("a", 1)], toml);
        let req = Request::get("/v1/isos?sort=nope")
            .header(header::ACCEPT_ENCODING, "gzip")
            .header("x-request-id", "req-problem-1")
            .body(Body::empty())
            .unwrap();
        let (resp, body) = support::call(&state, req).await;
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{toml}");
        assert!(
            resp.headers().get(header::CONTENT_ENCODING).is_none(),
            "{toml}"
        );
        assert_eq!(body["request_id"], "req-problem-1", "{toml}: {body}");
        assert_eq!(body["code"], "invalid_query", "{toml}");
        assert_eq!(resp.headers()["x-request-id"], "req-problem-1");
    }
}
