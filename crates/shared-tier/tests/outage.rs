//! Redis killed, hung, restarted; passwords; the cursor key.

mod common;

use std::time::Duration;

use chrono::Utc;
use common::{RedisServer, TierOf};
use isogate_shared_tier::{Scope, SharedTier, SharedTierConfig, Snapshot, TierError, testdata};
use secrecy::ExposeSecret;
use tokio::time::Instant;

fn snap(version: u64) -> Snapshot {
    Snapshot {
        version,
        fetched_at: Utc::now(),
        incomplete: None,
        items: testdata::catalogue("p", 5),
    }
}

/// Every kind of call, once; each must come back as a connection error, fast.
async fn all_calls_fail_fast(t: &SharedTier, within: Duration) {
    let mut errs: Vec<(&str, TierError)> = Vec::new();
    let mut timed = |name: &'static str, started: Instant, r: Result<(), TierError>| {
        let took = started.elapsed();
        let e = r.expect_err(name);
        assert!(e.is_connection(), "{name}: {e}");
        assert!(took < within, "{name} took {took:?}");
        errs.push((name, e));
    };
    let s = Instant::now();
    timed("ping", s, t.ping().await);
    let s = Instant::now();
    timed("next_version", s, t.next_version().await.map(|_| ()));
    let s = Instant::now();
    timed("get_snapshot", s, t.get_snapshot("p").await.map(|_| ()));
    let s = Instant::now();
    timed(
        "snapshot_version",
        s,
        t.snapshot_version("p").await.map(|_| ()),
    );
    let s = Instant::now();
    timed(
        "publish_snapshot",
        s,
        t.publish_snapshot("p", &snap(u64::MAX / 2))
            .await
            .map(|_| ()),
    );
    let s = Instant::now();
    timed("try_lease", s, t.try_lease("p").await.map(|_| ()));
    let s = Instant::now();
    timed(
        "invalidate",
        s,
        t.invalidate(&Scope::All, &["p"]).await.map(|_| ()),
    );
    let s = Instant::now();
    timed("allow", s, t.allow("k", 5.0, 1).await.map(|_| ()));
    let s = Instant::now();
    timed(
        "establish_cursor_key",
        s,
        t.establish_cursor_key().await.map(|_| ()),
    );
    let s = Instant::now();
    timed(
        "wait_for_snapshot",
        s,
        t.wait_for_snapshot("p", 0, Instant::now() + Duration::from_secs(5))
            .await
            .map(|_| ()),
    );
    assert_eq!(errs.len(), 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_then_restarted_on_the_same_port() {
    let mut redis = RedisServer::start();
    let cfg = SharedTierConfig {
        reconnect_min_ms: 50,
        reconnect_max_ms: 300,
        ..redis.config()
    };
    let t = SharedTier::new(&cfg).expect("tier");
    let v = t.next_version().await.expect("v");
    t.publish_snapshot("p", &snap(v)).await.expect("publish");
    assert!(t.status().connected);

    redis.kill();
    // Refused connections fail at once; nothing waits for the full timeout.
    all_calls_fail_fast(&t, Duration::from_millis(400)).await;
    let st = t.status();
    assert!(!st.connected);
    assert!(st.errors >= 10);
    assert!(st.last_error.is_some());

    redis.restart();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if t.ping().await.is_ok() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no reconnect: {:?}",
            t.status().last_error
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(t.status().connected);
    // The server is empty (no persistence); the tier works from scratch.
    assert_eq!(t.get_snapshot("p").await.expect("get"), None);
    let v2 = t.next_version().await.expect("v");
    assert!(v2 > v);
    t.publish_snapshot("p", &snap(v2)).await.expect("publish");
    assert_eq!(t.snapshot_version("p").await.expect("v"), Some(v2));
}

/// A hung Redis (SIGSTOP): every call gives up after `call_timeout_ms` with
/// a Timeout, then works again once it resumes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_redis_costs_one_short_timeout_per_call() {
    let redis = RedisServer::start();
    let cfg = SharedTierConfig {
        call_timeout_ms: 100,
        snapshot_timeout_ms: 300,
        ..redis.config()
    };
    let t = SharedTier::new(&cfg).expect("tier");
    t.ping().await.expect("ping");
    redis.pause();
    // A snapshot read starts with the small version check: it gives up at
    // the short timeout (only the transfer itself gets `snapshot_timeout_ms`).
    let s = Instant::now();
    let e = t.get_snapshot("p").await.expect_err("hung");
    assert!(
        matches!(
            e,
            TierError::Timeout {
                op: "get_snapshot",
                ms: 100
            }
        ),
        "{e}"
    );
    assert!(
        s.elapsed() < Duration::from_millis(250),
        "{:?}",
        s.elapsed()
    );
    // The first failure is retried at once, with the short timeout.
    let s = Instant::now();
    let e = t.try_lease("p").await.expect_err("hung");
    assert!(
        matches!(
            e,
            TierError::Timeout {
                op: "try_lease",
                ms: 100
            }
        ),
        "{e}"
    );
    assert!(
        s.elapsed() < Duration::from_millis(250),
        "{:?}",
        s.elapsed()
    );
    // Then the handle backs off: calls fail at once instead of each paying a timeout.
    for _ in 0..5 {
        let s = Instant::now();
        let e = t.allow("k", 10.0, 1).await.expect_err("hung");
        assert!(e.is_connection(), "{e}");
        assert!(
            s.elapsed() < Duration::from_millis(150),
            "{:?}",
            s.elapsed()
        );
    }
    assert!(!t.status().connected);
    redis.resume();
    let deadline = Instant::now() + Duration::from_secs(5);
    while t.ping().await.is_err() {
        assert!(
            Instant::now() < deadline,
            "not back: {:?}",
            t.status().last_error
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(t.status().connected);
}

const PW: &str = "s3cr3t-Pa55word";

/// The password never shows: not in Debug, not in errors, not in the status.
#[tokio::test]
async fn the_password_never_leaks() {
    let redis = RedisServer::with_password(PW);
    let good = redis.config();
    assert!(!format!("{good:?}").contains(PW));
    let t = SharedTier::new(&good).expect("tier");
    assert!(!format!("{t:?}").contains(PW), "{t:?}");
    t.ping().await.expect("the right password works");

    let wrong = SharedTierConfig::new(format!("redis://:{PW}-wrong@127.0.0.1:{}", redis.port));
    let w = SharedTier::new(&wrong).expect("tier");
    let e = w.ping().await.expect_err("wrong password");
    let shown = format!("{e} {e:?} {:?}", w.status());
    assert!(!shown.contains(PW), "{shown}");
    assert!(w.status().last_error.is_some());

    // Nothing listening: the error names no password either.
    let gone = SharedTierConfig::new(format!("redis://user:{PW}@127.0.0.1:1"));
    let g = SharedTier::new(&gone).expect("tier");
    let e = g.ping().await.expect_err("refused");
    assert!(!format!("{e} {e:?} {:?}", g.status()).contains(PW));

    // A malformed URL: the config error names the key, not the value.
    let bad = SharedTierConfig::new(format!("http://:{PW}@h"));
    let e = SharedTier::new(&bad).expect_err("bad scheme");
    assert!(!format!("{e} {e:?}").contains(PW), "{e}");

    // From TOML with url_file, like the other secrets.
    let dir = std::env::temp_dir().join(format!("isogate-shared-tier-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let file = dir.join("redis-url");
    std::fs::write(&file, format!("{}\n", redis.url())).expect("write");
    let cfg: SharedTierConfig = toml::from_str(&format!(
        "url_file = {:?}\nprefix = \"prod\"\ncall_timeout_ms = 120\n",
        file
    ))
    .expect("toml");
    assert_eq!(cfg.prefix, "prod");
    SharedTier::new(&cfg)
        .expect("tier")
        .ping()
        .await
        .expect("ping via url_file");
    let missing: SharedTierConfig =
        toml::from_str("url_file = \"/nonexistent/isogate-redis-url\"").expect("toml");
    let e = SharedTier::new(&missing).expect_err("missing file");
    assert!(e.to_string().contains("url_file"), "{e}");
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_establish_one_cursor_key() {
    let redis = RedisServer::start();
    let replicas: Vec<SharedTier> = (0..4).map(|_| redis.tier()).collect();
    let mut tasks = Vec::new();
    for r in &replicas {
        let r = r.clone();
        tasks.push(tokio::spawn(async move { r.establish_cursor_key().await }));
    }
    let mut keys = Vec::new();
    for t in tasks {
        keys.push(
            t.await
                .expect("task")
                .expect("key")
                .expose_secret()
                .to_vec(),
        );
    }
    assert_eq!(keys[0].len(), 32);
    assert!(
        keys.iter().all(|k| *k == keys[0]),
        "every replica got the same key"
    );
    assert_ne!(keys[0], vec![0u8; 32]);
}

#[test]
fn config_is_checked_before_any_io() {
    for (url, ok) in [
        ("redis://h:6379", true),
        ("rediss://h:6380/1", true),
        ("http://h", false),
        ("", false),
    ] {
        assert_eq!(SharedTierConfig::new(url).validate().is_ok(), ok, "{url}");
    }
    let cfg = SharedTierConfig {
        prefix: "a{b}".into(),
        ..SharedTierConfig::new("redis://h")
    };
    assert!(cfg.validate().is_err(), "braces would break the hash tag");
    let both = SharedTierConfig {
        url_file: Some("/x".into()),
        ..SharedTierConfig::new("redis://h")
    };
    assert!(both.validate().is_err());
    let none: SharedTierConfig = toml::from_str("").expect("toml");
    assert!(!none.enabled());
    assert_eq!(
        (none.prefix.as_str(), none.call_timeout_ms),
        ("isogate", 150)
    );
}
