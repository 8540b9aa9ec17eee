//! Invalidation across replicas over pub/sub, and the subscriber's
//! reconnect with a "resync needed" event.

mod common;

use std::time::Duration;

use common::{RedisServer, TierOf};
use isogate_shared_tier::{Scope, SharedTier, SharedTierConfig, TierEvent};
use tokio::sync::broadcast::Receiver;
use tokio::time::Instant;

async fn next_matching(
    rx: &mut Receiver<TierEvent>,
    within: Duration,
    pred: impl Fn(&TierEvent) -> bool,
) -> Option<TierEvent> {
    let deadline = Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Ok(ev)) if pred(&ev) => return Some(ev),
            Ok(Ok(_)) => continue,
            Ok(Err(e)) => panic!("receiver: {e}"),
            Err(_) => return None,
        }
    }
}

async fn wait_subscribed(t: &SharedTier) {
    let deadline = Instant::now() + Duration::from_secs(3);
    while !t.status().subscriber_connected {
        assert!(Instant::now() < deadline, "subscriber did not connect");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_subscribers_get_an_invalidation_within_a_second() {
    let redis = RedisServer::start();
    let replicas: Vec<SharedTier> = (0..3).map(|_| redis.tier()).collect();
    let mut rxs = Vec::new();
    for r in &replicas {
        r.start_subscriber();
        rxs.push(r.events());
        wait_subscribed(r).await;
    }
    for (scope, label) in [
        (Scope::Provider("cloudmc-a".into()), "one"),
        (Scope::All, "all"),
    ] {
        let sent = Instant::now();
        let v = replicas[0]
            .invalidate(&scope, &["cloudmc-a"])
            .await
            .expect("invalidate");
        for (i, rx) in rxs.iter_mut().enumerate() {
            let want = scope.clone();
            let ev = next_matching(
                rx,
                Duration::from_secs(1),
                |e| matches!(e, TierEvent::Invalidated { scope, .. } if *scope == want),
            )
            .await
            .unwrap_or_else(|| {
                panic!("replica {i} did not hear the {label} invalidation within 1 s")
            });
            assert_eq!(
                ev,
                TierEvent::Invalidated {
                    scope: scope.clone(),
                    version: v,
                    from_self: i == 0
                },
                "replica {i}"
            );
        }
        assert!(sent.elapsed() < Duration::from_secs(1));
    }
    assert_eq!(replicas[0].status().invalidations_sent, 2);
    assert_eq!(
        replicas[0].status().invalidations_received,
        0,
        "its own do not count"
    );
    assert_eq!(replicas[1].status().invalidations_received, 2);
    assert_eq!(replicas[2].status().invalidations_received, 2);
}

/// Redis restarts under the subscribers: each reconnects (with backoff),
/// reports `Resync`, and hears the next invalidation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_reconnects_and_asks_for_a_resync() {
    let mut redis = RedisServer::start();
    let cfg = SharedTierConfig {
        reconnect_min_ms: 50,
        reconnect_max_ms: 400,
        ..redis.config()
    };
    let a = SharedTier::new(&cfg).expect("tier");
    let b = SharedTier::new(&cfg).expect("tier");
    a.start_subscriber();
    let mut rx = a.events();
    wait_subscribed(&a).await;
    redis.kill();
    let deadline = Instant::now() + Duration::from_secs(3);
    while a.status().subscriber_connected {
        assert!(
            Instant::now() < deadline,
            "the subscriber did not notice the loss"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(600)).await; // a few failed reconnects
    redis.restart();
    next_matching(&mut rx, Duration::from_secs(4), |e| *e == TierEvent::Resync)
        .await
        .expect("a Resync after the reconnect");
    assert!(a.status().subscriber_connected);
    assert_eq!(a.status().resyncs, 1);
    let v = b
        .invalidate(&Scope::Provider("p".into()), &[])
        .await
        .expect("invalidate");
    let ev = next_matching(&mut rx, Duration::from_secs(1), |e| {
        matches!(e, TierEvent::Invalidated { .. })
    })
    .await;
    assert_eq!(
        ev,
        Some(TierEvent::Invalidated {
            scope: Scope::Provider("p".into()),
            version: v,
            from_self: false
        })
    );
}

/// A subscriber started while Redis is down missed everything before it
/// connected: it reports `Resync` on its first connect too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_that_starts_while_redis_is_down_resyncs_when_it_comes() {
    let mut redis = RedisServer::start();
    redis.kill();
    let cfg = SharedTierConfig {
        reconnect_min_ms: 50,
        reconnect_max_ms: 200,
        ..redis.config()
    };
    let a = SharedTier::new(&cfg).expect("a handle is built without Redis");
    a.start_subscriber();
    let mut rx = a.events();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!a.status().subscriber_connected);
    assert!(a.status().last_error.is_some());
    redis.restart();
    next_matching(&mut rx, Duration::from_secs(3), |e| *e == TierEvent::Resync)
        .await
        .expect("Resync");
}
