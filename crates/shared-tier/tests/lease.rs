//! One fetch per provider across replicas: the lease, its release, its
//! expiry when the holder dies, and the waiters.

mod common;

use std::time::Duration;

use chrono::Utc;
use common::{RedisServer, TierOf};
use isogate_shared_tier::{
    LeaseAttempt, SharedTier, SharedTierConfig, Snapshot, WaitOutcome, testdata,
};
use tokio::time::Instant;

fn short_lease(redis: &RedisServer, ms: u64) -> SharedTier {
    let cfg = SharedTierConfig {
        lease_ms: ms,
        poll_ms: 50,
        ..redis.config()
    };
    SharedTier::new(&cfg).expect("tier")
}

fn won(a: LeaseAttempt) -> isogate_shared_tier::Lease {
    match a {
        LeaseAttempt::Won(l) => l,
        LeaseAttempt::Held { remaining } => panic!("expected to win, held for {remaining:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn exactly_one_of_many_replicas_wins() {
    let redis = RedisServer::start();
    let tiers: Vec<SharedTier> = (0..6).map(|_| redis.tier()).collect();
    let mut tasks = Vec::new();
    for t in &tiers {
        for _ in 0..5 {
            let t = t.clone();
            tasks.push(tokio::spawn(async move { t.try_lease("p").await }));
        }
    }
    let mut winners = 0;
    for t in tasks {
        if let LeaseAttempt::Won(l) = t.await.expect("task").expect("lease") {
            winners += 1;
            assert!(l.version > 0);
        }
    }
    assert_eq!(winners, 1);
    let won: u64 = tiers.iter().map(|t| t.status().leases_won).sum();
    let lost: u64 = tiers.iter().map(|t| t.status().leases_lost).sum();
    assert_eq!((won, lost), (1, 29));
}

#[tokio::test]
async fn release_is_compare_and_delete() {
    let redis = RedisServer::start();
    let a = short_lease(&redis, 300);
    let b = short_lease(&redis, 5_000);
    let first = won(a.try_lease("p").await.expect("lease"));
    tokio::time::sleep(Duration::from_millis(450)).await; // a's lease expires
    let second = won(b.try_lease("p").await.expect("lease"));
    assert!(second.version > first.version);
    // a's late release must not free b's lease.
    assert!(!a.release(first).await.expect("release"));
    assert!(matches!(
        a.try_lease("p").await.expect("lease"),
        LeaseAttempt::Held { .. }
    ));
    assert!(b.release(second).await.expect("release"));
    won(a.try_lease("p").await.expect("lease"));
}

#[tokio::test]
async fn extend_keeps_a_long_fetch_leased() {
    let redis = RedisServer::start();
    let a = short_lease(&redis, 300);
    let mut l = won(a.try_lease("p").await.expect("lease"));
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(a.extend(&mut l).await.expect("extend"));
    }
    assert!(matches!(
        a.try_lease("p").await.expect("lease"),
        LeaseAttempt::Held { .. }
    ));
}

/// The holder "dies" (never releases, never publishes): the waiter is told
/// the lease is free once it expires, and takes it.
#[tokio::test]
async fn a_dead_holders_lease_expires_and_another_takes_it() {
    let redis = RedisServer::start();
    let holder = short_lease(&redis, 400);
    let waiter = short_lease(&redis, 400);
    let started = Instant::now();
    let dead = won(holder.try_lease("p").await.expect("lease"));
    std::mem::forget(dead);
    let LeaseAttempt::Held { remaining } = waiter.try_lease("p").await.expect("lease") else {
        panic!("the holder still has it");
    };
    assert!(remaining <= Duration::from_millis(400) && remaining > Duration::ZERO);
    let out = waiter
        .wait_for_snapshot("p", 0, Instant::now() + Duration::from_secs(3))
        .await
        .expect("wait");
    assert!(matches!(out, WaitOutcome::LeaseFree), "{out:?}");
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(350) && waited < Duration::from_millis(1_500),
        "{waited:?}"
    );
    won(waiter.try_lease("p").await.expect("lease"));
}

/// Waiters wake on the publisher's notification (well before the poll
/// interval) and get the new snapshot.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiters_get_the_new_snapshot_by_notification() {
    let redis = RedisServer::start();
    let holder = redis.tier();
    let cfg = SharedTierConfig {
        poll_ms: 5_000,
        ..redis.config()
    };
    let waiter = SharedTier::new(&cfg).expect("tier");
    waiter.start_subscriber();
    tokio::time::sleep(Duration::from_millis(200)).await; // subscribed
    let lease = won(holder.try_lease("p").await.expect("lease"));
    let w = waiter.clone();
    let wait = tokio::spawn(async move {
        let t = Instant::now();
        (
            w.wait_for_snapshot("p", 0, Instant::now() + Duration::from_secs(4))
                .await,
            t.elapsed(),
        )
    });
    tokio::time::sleep(Duration::from_millis(150)).await;
    let s = Snapshot {
        version: lease.version,
        fetched_at: Utc::now(),
        incomplete: None,
        items: testdata::catalogue("p", 10),
    };
    holder.publish_snapshot("p", &s).await.expect("publish");
    holder.release(lease).await.expect("release");
    let (out, took) = wait.await.expect("task");
    match out.expect("wait") {
        WaitOutcome::Snapshot(got) => assert_eq!(got, s),
        other => panic!("{other:?}"),
    }
    assert!(
        took < Duration::from_millis(1_500),
        "woken by the notification, not the 5 s poll: {took:?}"
    );
}

#[tokio::test]
async fn a_waiter_never_waits_past_its_deadline() {
    let redis = RedisServer::start();
    let holder = short_lease(&redis, 10_000);
    let waiter = short_lease(&redis, 10_000);
    let _held = won(holder.try_lease("p").await.expect("lease"));
    let t = Instant::now();
    let out = waiter
        .wait_for_snapshot("p", 0, Instant::now() + Duration::from_millis(300))
        .await
        .expect("wait");
    let took = t.elapsed();
    assert!(matches!(out, WaitOutcome::Deadline), "{out:?}");
    assert!(
        took >= Duration::from_millis(290) && took < Duration::from_millis(700),
        "{took:?}"
    );
    // A deadline already past returns at once (no Redis call).
    let t = Instant::now();
    let out = waiter
        .wait_for_snapshot("p", 0, Instant::now())
        .await
        .expect("wait");
    assert!(matches!(out, WaitOutcome::Deadline));
    assert!(t.elapsed() < Duration::from_millis(100));
}
