//! The shared GCRA limiter: one limit across replicas.

mod common;

use std::time::Duration;

use common::{RedisServer, TierOf};
use isogate_shared_tier::{RateDecision, SharedTier};
use tokio::time::Instant;

/// Three replicas hammer one key limited to 20/s for 2 s: about 40 admitted
/// in total (20/s, burst 1), not 3 x 40.
#[tokio::test(flavor = "multi_thread", worker_threads = 3)]
async fn three_clients_share_one_limit() {
    let redis = RedisServer::start();
    let replicas: Vec<SharedTier> = (0..3).map(|_| redis.tier()).collect();
    let start = Instant::now();
    let window = Duration::from_secs(2);
    let mut tasks = Vec::new();
    for r in &replicas {
        for _ in 0..2 {
            let r = r.clone();
            tasks.push(tokio::spawn(async move {
                let (mut ok, mut limited) = (0u32, 0u32);
                while start.elapsed() < window {
                    match r.allow("key-1f2e", 20.0, 1).await.expect("allow") {
                        RateDecision::Allowed => ok += 1,
                        RateDecision::Limited { retry_after } => {
                            assert!(retry_after <= Duration::from_millis(50), "{retry_after:?}");
                            limited += 1;
                        }
                    }
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
                (ok, limited)
            }));
        }
    }
    let (mut ok, mut limited) = (0, 0);
    for t in tasks {
        let (o, l) = t.await.expect("task");
        ok += o;
        limited += l;
    }
    let expected = 20.0 * window.as_secs_f64();
    eprintln!("admitted {ok}, limited {limited} over {window:?}");
    assert!(limited > 100, "the clients did hammer: {limited}");
    assert!(
        ((ok as f64) - expected).abs() <= expected * 0.2,
        "admitted {ok}, expected ~{expected}"
    );
}

#[tokio::test]
async fn burst_then_retry_after() {
    let redis = RedisServer::start();
    let t = redis.tier();
    for i in 0..5 {
        assert_eq!(
            t.allow("k", 1.0, 5).await.expect("allow"),
            RateDecision::Allowed,
            "#{i}"
        );
    }
    let RateDecision::Limited { retry_after } = t.allow("k", 1.0, 5).await.expect("allow") else {
        panic!("the sixth is over the burst");
    };
    assert!(
        retry_after > Duration::from_millis(900) && retry_after <= Duration::from_secs(1),
        "{retry_after:?}"
    );
    // Keys are independent.
    assert_eq!(
        t.allow("other", 1.0, 1).await.expect("allow"),
        RateDecision::Allowed
    );
}

/// With Redis gone the call fails fast and typed, so the caller falls back
/// to its local limiter.
#[tokio::test]
async fn redis_down_means_an_error_for_the_local_fallback() {
    let mut redis = RedisServer::start();
    let t = redis.tier();
    t.allow("k", 10.0, 1).await.expect("allow");
    redis.kill();
    let started = Instant::now();
    let err = t.allow("k", 10.0, 1).await.expect_err("no Redis");
    assert!(err.is_connection(), "{err}");
    assert!(
        started.elapsed() < Duration::from_millis(400),
        "{:?}",
        started.elapsed()
    );
}
