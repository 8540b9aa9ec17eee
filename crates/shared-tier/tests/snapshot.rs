//! Snapshots in Redis: round trip, versions never go back, invalidation
//! floors, and a Redis restart (no persistence) does not let old versions in.

mod common;

use chrono::Utc;
use common::{RedisServer, TierOf};
use isogate_shared_tier::{LeaseAttempt, PublishOutcome, Scope, SharedTier, Snapshot, testdata};

fn snap(version: u64, n: usize) -> Snapshot {
    Snapshot {
        version,
        fetched_at: Utc::now(),
        incomplete: None,
        items: testdata::catalogue("p", n),
    }
}

#[tokio::test]
async fn publish_then_get_round_trips_and_counts_hits() {
    let redis = RedisServer::start();
    let tier = redis.tier();
    assert_eq!(tier.get_snapshot("p").await.expect("get"), None);
    let v = tier.next_version().await.expect("version");
    let s = snap(v, 50);
    assert_eq!(
        tier.publish_snapshot("p", &s).await.expect("publish"),
        PublishOutcome::Stored
    );
    assert_eq!(tier.snapshot_version("p").await.expect("version"), Some(v));
    // Another replica reads it.
    let other = redis.tier();
    assert_eq!(other.get_snapshot("p").await.expect("get"), Some(s));
    assert_eq!(other.snapshot_version("q").await.expect("version"), None);
    let st = other.status();
    assert_eq!((st.hits, st.misses), (1, 0));
    assert!(st.connected);
    assert_eq!(tier.status().misses, 1);
    assert_eq!(tier.status().publishes_stored, 1);
}

#[tokio::test]
async fn versions_grow_across_handles() {
    let redis = RedisServer::start();
    let (a, b) = (redis.tier(), redis.tier());
    let mut last = 0;
    for i in 0..20 {
        let v = if i % 2 == 0 {
            a.next_version().await
        } else {
            b.next_version().await
        }
        .expect("version");
        assert!(v > last, "{v} after {last}");
        last = v;
    }
    // Seeded from the server clock (microseconds), not from 1.
    assert!(last > 1_600_000_000_000_000, "{last}");
}

#[tokio::test]
async fn an_older_snapshot_never_replaces_a_newer_one() {
    let redis = RedisServer::start();
    let tier = redis.tier();
    let old = tier.next_version().await.expect("v");
    let new = tier.next_version().await.expect("v");
    assert_eq!(
        tier.publish_snapshot("p", &snap(new, 3))
            .await
            .expect("publish"),
        PublishOutcome::Stored
    );
    assert_eq!(
        tier.publish_snapshot("p", &snap(old, 3))
            .await
            .expect("publish"),
        PublishOutcome::RejectedOlder { newest: new }
    );
    assert_eq!(
        tier.publish_snapshot("p", &snap(new, 3))
            .await
            .expect("publish"),
        PublishOutcome::RejectedOlder { newest: new },
        "the same version is not newer"
    );
    assert_eq!(tier.snapshot_version("p").await.expect("v"), Some(new));
    assert_eq!(tier.status().publishes_rejected_older, 2);
}

/// 8 publishers race, each with versions taken in a shuffled order: the
/// survivor is always the largest version any of them published.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_publishers_keep_the_newest() {
    let redis = RedisServer::start();
    let tier = redis.tier();
    for round in 0..5 {
        let mut versions = Vec::new();
        for _ in 0..8 {
            versions.push(tier.next_version().await.expect("v"));
        }
        let newest = *versions.iter().max().expect("some");
        // Publish in reverse-ish order so older ones often arrive last.
        versions.rotate_left(round * 3 % 8);
        versions.reverse();
        let mut tasks = Vec::new();
        for v in versions {
            let t = SharedTier::clone(&redis.tier());
            tasks.push(tokio::spawn(async move {
                t.publish_snapshot("p", &snap(v, 20)).await
            }));
        }
        let mut stored = 0;
        for t in tasks {
            if t.await.expect("task").expect("publish") == PublishOutcome::Stored {
                stored += 1;
            }
        }
        assert!(stored >= 1);
        assert_eq!(
            tier.snapshot_version("p").await.expect("v"),
            Some(newest),
            "round {round}"
        );
        assert_eq!(
            tier.get_snapshot("p")
                .await
                .expect("get")
                .map(|s| s.version),
            Some(newest)
        );
    }
}

/// The fetch that was running when a write invalidated the provider
/// finishes later: its (older) result must not come back.
#[tokio::test]
async fn an_invalidation_during_a_fetch_beats_the_fetch() {
    let redis = RedisServer::start();
    let tier = redis.tier();
    let v0 = tier.next_version().await.expect("v");
    tier.publish_snapshot("p", &snap(v0, 3))
        .await
        .expect("publish");
    // A replica wins the lease: its fetch starts with this version.
    let LeaseAttempt::Won(lease) = tier.try_lease("p").await.expect("lease") else {
        panic!("nobody else holds it");
    };
    let in_flight = lease.version;
    let inv = tier
        .invalidate(&Scope::Provider("p".into()), &[])
        .await
        .expect("invalidate");
    assert!(inv > in_flight);
    assert_eq!(tier.get_snapshot("p").await.expect("get"), None, "dropped");
    assert_eq!(
        tier.publish_snapshot("p", &snap(in_flight, 3))
            .await
            .expect("publish"),
        PublishOutcome::RejectedOlder { newest: inv }
    );
    // A fetch started after the invalidation publishes fine.
    let after = tier.next_version().await.expect("v");
    assert_eq!(
        tier.publish_snapshot("p", &snap(after, 3))
            .await
            .expect("publish"),
        PublishOutcome::Stored
    );

    // Invalidate-all floors every provider, listed or not.
    let a = tier.next_version().await.expect("v");
    tier.publish_snapshot("q", &snap(tier.next_version().await.expect("v"), 1))
        .await
        .expect("publish");
    let r = tier.next_version().await.expect("v");
    tier.publish_snapshot("r", &snap(r, 1))
        .await
        .expect("publish");
    let all = tier
        .invalidate(&Scope::All, &["p", "q"])
        .await
        .expect("invalidate");
    // "r" was not named, so its key survives, but it is below the floor: never served.
    assert_eq!(tier.get_snapshot("r").await.expect("get"), None);
    assert_eq!(tier.snapshot_version("r").await.expect("v"), None);
    assert_eq!(tier.snapshot_version("p").await.expect("v"), None);
    assert_eq!(tier.snapshot_version("q").await.expect("v"), None);
    for p in ["p", "q", "unlisted"] {
        assert_eq!(
            tier.publish_snapshot(p, &snap(a, 1))
                .await
                .expect("publish"),
            PublishOutcome::RejectedOlder { newest: all },
            "{p}"
        );
    }
    assert_eq!(tier.status().invalidations_sent, 2);
}

/// A Redis without persistence restarts empty: versions continue above the
/// old ones (server-clock seed), and a version taken before the restart is
/// refused rather than resurrected.
#[tokio::test]
async fn a_redis_restart_keeps_versions_monotonic() {
    let mut redis = RedisServer::start();
    let tier = redis.tier();
    let before = tier.next_version().await.expect("v");
    let stale = tier.next_version().await.expect("v");
    tier.publish_snapshot("p", &snap(before, 2))
        .await
        .expect("publish");
    redis.kill();
    redis.restart();
    let mut after = None;
    for _ in 0..50 {
        if let Ok(v) = tier.next_version().await {
            after = Some(v);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let after = after.expect("the client reconnects to the restarted server");
    assert!(after > stale, "{after} > {stale}");
    assert_eq!(
        tier.publish_snapshot("p", &snap(stale, 2))
            .await
            .expect("publish"),
        PublishOutcome::RejectedEpoch
    );
    assert_eq!(
        tier.publish_snapshot("p", &snap(after, 2))
            .await
            .expect("publish"),
        PublishOutcome::Stored
    );
}
