//! Concurrent paging: round trips, request counts, failed pages, and a
//! catalogue changing under the walk.

mod common;

use std::time::{Duration, Instant};

use common::{pages, setup, setup_with};
use isogate_core::{ErrorKind, IsoProvider, IsoProviderExt, ListOptions};
use isogate_sim::Faults;
use isogate_sim::vss::Options;
use isogate_vss::{Catalogue, VssConfig};

#[tokio::test]
async fn concurrency_is_bounded_by_config() {
    let s = setup_with(
        Options {
            scale: Some(1_000),
            faults: Faults {
                latency_ms: 30,
                ..Default::default()
            },
            ..Default::default()
        },
        |sim| VssConfig {
            per_page: 100,
            page_concurrency: 3,
            ..common::config(sim, Catalogue::Public)
        },
    )
    .await;
    s.provider.list_all().await.unwrap(); // token
    let t = Instant::now();
    assert_eq!(s.provider.list_all().await.unwrap().len(), 1_000);
    let took = t.elapsed();
    // 1 + ceil(9/3) = 4 sequential round trips of 30 ms.
    assert!(took >= Duration::from_millis(120), "{took:?}");
    assert_eq!(pages(&s.sim, "/v2/iso"), 20);
}

#[tokio::test]
async fn a_failed_page_fails_the_listing_naming_the_page() {
    let s = setup(
        Options {
            scale: Some(1_000),
            ..Default::default()
        },
        Catalogue::Public,
    )
    .await;
    s.provider.list_all().await.unwrap();
    // Every page request fails: the first page is named.
    s.sim.control().set_faults(Faults {
        error_rate: 1.0,
        error_status: 500,
        path_contains: Some("/v2/iso".into()),
        methods: vec!["GET".into()],
        ..Default::default()
    });
    let e = s.provider.list_all().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Upstream);
    assert!(e.retryable());
    assert!(e.message().contains("/v2/iso page 1"), "{}", e.message());
    assert_eq!(e.provider(), Some("vss-test"));
    assert_eq!(e.operation(), Some("list"));
    assert_eq!(e.upstream_status(), Some(500));

    // Every other request fails: whichever page fails is named.
    s.sim.control().set_faults(Faults {
        error_rate: 0.5,
        error_status: 503,
        ..Default::default()
    });
    match s.provider.list_all().await {
        Ok(items) => panic!("listing of {} items despite failed pages", items.len()),
        Err(e) => {
            assert!(e.message().contains("page"), "{}", e.message());
            assert_eq!(e.kind(), ErrorKind::Upstream);
        }
    }
}

#[tokio::test]
async fn allow_incomplete_returns_what_it_has_and_says_why() {
    let s = setup_with(
        Options {
            scale: Some(1_000),
            ..Default::default()
        },
        |sim| VssConfig {
            allow_incomplete: true,
            page_concurrency: 1,
            ..common::config(sim, Catalogue::Public)
        },
    )
    .await;
    s.provider.list_all().await.unwrap();
    s.sim.control().reset_counters();
    // Requests 1 (page 1) and 3 succeed; 2 and 4 fail (0.5 spread).
    s.sim.control().set_faults(Faults {
        error_rate: 0.5,
        error_status: 503,
        ..Default::default()
    });
    let listing = s.provider.list(&ListOptions::default()).await.unwrap();
    let why = listing.incomplete.expect("marked incomplete");
    assert!(why.contains("2 of 4 pages failed"), "{why}");
    assert!(why.contains("page 2 of 4"), "{why}");
    assert_eq!(listing.items.len(), 500);
}

#[tokio::test]
async fn a_catalogue_growing_mid_walk_is_walked_again() {
    let s = setup_with(
        Options {
            scale: Some(600),
            ..Default::default()
        },
        |sim| VssConfig {
            page_concurrency: 1,
            ..common::config(sim, Catalogue::Public)
        },
    )
    .await;
    s.provider.list_all().await.unwrap();
    // After page 1 of the next walk, 50 ISOs appear.
    s.handle.grow_public_after(1, 50);
    s.sim.control().reset_counters();
    let items = s.provider.list_all().await.unwrap();
    assert_eq!(
        items.len(),
        650,
        "the second walk saw the grown catalogue whole"
    );
    assert_eq!(
        pages(&s.sim, "/v2/iso"),
        3 + 3,
        "one walk of 3 pages, then another"
    );

    // Growing again during the re-walk too: an error, not a silent mix.
    s.handle.grow_public_after(1, 10);
    s.handle.grow_public_after(4, 10);
    let res = s.provider.list_all().await;
    match res {
        Err(e) => {
            assert_eq!(e.kind(), ErrorKind::Upstream);
            assert!(e.retryable());
            assert!(e.message().contains("changed"), "{}", e.message());
        }
        Ok(items) => panic!("{} items from a catalogue that kept changing", items.len()),
    }
}

#[tokio::test]
async fn both_catalogues_keep_colliding_ids_apart() {
    let s = setup(Options::default(), Catalogue::Both).await;
    let items = s.provider.list_all().await.unwrap();
    assert_eq!(items.len(), 242);
    assert!(items.iter().any(|i| i.native_id == "1"));
    assert!(items.iter().any(|i| i.native_id == "personal-1"));
    let public = s.provider.get("1", false).await.unwrap();
    let personal = s.provider.get("personal-1", true).await.unwrap();
    assert_ne!(public.name, personal.name);
    assert_eq!(personal.labels["catalogue"], "personal");
    assert!(personal.raw.is_some());
    let listed = items.iter().find(|i| i.native_id == "personal-1").unwrap();
    assert_eq!(&personal.name, &listed.name);
    assert_eq!(personal.created_at, listed.created_at);
    for missing in ["999999", "personal-999", "abc"] {
        let e = s.provider.get(missing, false).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFound, "{missing}");
    }
    let only_public = setup(Options::default(), Catalogue::Public).await;
    let e = only_public
        .provider
        .get("personal-1", false)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
    assert_eq!(
        only_public.sim.control().total(),
        0,
        "decided without a request"
    );
}

#[tokio::test]
async fn empty_catalogues_are_empty_listings() {
    let s = setup(
        Options {
            scale: Some(0),
            personal: 0,
            pending_uploads: 0,
            ..Default::default()
        },
        Catalogue::Both,
    )
    .await;
    let listing = s.provider.list(&ListOptions::default()).await.unwrap();
    assert!(listing.items.is_empty());
    assert!(listing.incomplete.is_none());
    assert_eq!(pages(&s.sim, "/v2/iso"), 1);
    assert_eq!(pages(&s.sim, "/v2/user/image/iso"), 1);
}

#[tokio::test]
async fn built_page_urls_follow_next_url_form_and_fall_back_to_walking_it() {
    use isogate_sim::vss::PageLinks;
    let s = setup_with(
        Options {
            scale: Some(1_000),
            ..Default::default()
        },
        |sim| VssConfig {
            per_page: 100,
            ..common::config(sim, Catalogue::Public)
        },
    )
    .await;
    let want: Vec<String> = s
        .provider
        .list_all()
        .await
        .unwrap()
        .into_iter()
        .map(|i| i.native_id)
        .collect();
    assert_eq!(want.len(), 1_000);
    assert_eq!(
        pages(&s.sim, "/v2/iso"),
        10,
        "concurrent: one request a page"
    );
    for links in [
        PageLinks::WrongPage,
        PageLinks::OtherPerPage,
        PageLinks::Reject,
    ] {
        s.handle.set_page_links(links);
        s.sim.control().reset_counters();
        let got: Vec<String> = s
            .provider
            .list_all()
            .await
            .unwrap_or_else(|e| panic!("{links:?}: {e}"))
            .into_iter()
            .map(|i| i.native_id)
            .collect();
        assert_eq!(got, want, "{links:?}: the same items in the same order");
        let requests = pages(&s.sim, "/v2/iso");
        // Page 1, at least page 3 built (page 2 matches its cursor), then
        // pages 2..10 by next_url: more than a concurrent walk, fewer than two.
        assert!(
            (12..=19).contains(&requests),
            "{links:?}: {requests} page requests"
        );
    }
}
