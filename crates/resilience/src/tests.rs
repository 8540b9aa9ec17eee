//! The layers over a scripted provider: what is retried, how long it waits,
//! what the budget allows, and how the breaker moves.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use isogate_core::{
    Capability, Error, ErrorKind, ImportRequest, IsoProvider, ListOptions, Listing, Outcome,
    ProviderKind, Result,
};

use super::breaker::BreakerState;
use super::{Resilience, wrap};

/// Answers each call with the next scripted error (or success when none is left).
#[derive(Debug, Default)]
struct Scripted {
    script: Mutex<VecDeque<Error>>,
    calls: AtomicUsize,
    delay: Duration,
}

impl Scripted {
    fn new(errors: Vec<Error>) -> Arc<Scripted> {
        Arc::new(Scripted {
            script: Mutex::new(errors.into()),
            ..Default::default()
        })
    }
    fn next(&self) -> Result<()> {
        match self.script.lock().unwrap().pop_front() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

#[async_trait]
impl IsoProvider for Scripted {
    fn name(&self) -> &str {
        "scripted"
    }
    fn kind(&self) -> ProviderKind {
        ProviderKind::Cloudmc
    }
    fn capability(&self) -> Capability {
        Capability {
            list: true,
            import: true,
            ..Default::default()
        }
    }
    async fn list(&self, _opts: &ListOptions) -> Result<Listing> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(self.delay).await;
        self.next().map(|()| Listing::default())
    }
    async fn import(&self, _req: &ImportRequest) -> Result<Outcome> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.next().map(|()| Outcome::Done)
    }
}

fn unavailable() -> Error {
    Error::new(ErrorKind::Unavailable, "down")
}

fn settings() -> Resilience {
    Resilience {
        retry_base_ms: 1,
        retry_max_ms: 200,
        ..Resilience::default()
    }
}

#[tokio::test]
async fn reads_are_retried_writes_never() {
    let p = Scripted::new(vec![unavailable(), unavailable()]);
    let (layered, _) = wrap(p.clone(), &settings());
    layered.list(&ListOptions::default()).await.unwrap();
    assert_eq!(p.calls.load(Ordering::SeqCst), 3);
    let p = Scripted::new(vec![unavailable()]);
    let (layered, _) = wrap(p.clone(), &settings());
    let e = layered.import(&ImportRequest::default()).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unavailable);
    assert_eq!(p.calls.load(Ordering::SeqCst), 1, "a write is sent once");
    // Not retryable: no retry.
    let p = Scripted::new(vec![Error::upstream("bad body")]);
    let (layered, _) = wrap(p.clone(), &settings());
    layered.list(&ListOptions::default()).await.unwrap_err();
    assert_eq!(p.calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn retry_after_is_honoured_and_a_long_one_is_passed_on() {
    let limited = |ms| {
        Error::new(ErrorKind::RateLimited, "slow down").with_retry_after(Duration::from_millis(ms))
    };
    let p = Scripted::new(vec![limited(80)]);
    let (layered, _) = wrap(p.clone(), &settings());
    let started = Instant::now();
    layered.list(&ListOptions::default()).await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(80));
    let p = Scripted::new(vec![limited(5_000)]);
    let (layered, _) = wrap(p.clone(), &settings());
    let started = Instant::now();
    let e = layered.list(&ListOptions::default()).await.unwrap_err();
    assert_eq!(e.retry_after(), Some(Duration::from_millis(5_000)));
    assert!(started.elapsed() < Duration::from_millis(100));
    assert_eq!(p.calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn the_budget_caps_retries_at_a_fraction_of_reads() {
    // Every call fails: without a budget 100 reads would make 300 calls.
    let p = Scripted::new((0..1000).map(|_| unavailable()).collect());
    let s = Resilience {
        breaker_failures: 0,
        ..settings()
    };
    let (layered, _) = wrap(p.clone(), &s);
    for _ in 0..100 {
        layered.list(&ListOptions::default()).await.unwrap_err();
    }
    let calls = p.calls.load(Ordering::SeqCst);
    assert!((100..=112).contains(&calls), "{calls}");
}

#[tokio::test]
async fn timeouts_count_as_failures_and_the_breaker_recovers_through_one_probe() {
    let p = Arc::new(Scripted {
        delay: Duration::from_millis(50),
        ..Default::default()
    });
    let s = Resilience {
        timeout_ms: 10,
        retries: 0,
        breaker_failures: 2,
        breaker_cooldown_ms: 60,
        ..settings()
    };
    let (layered, breaker) = wrap(p.clone(), &s);
    for _ in 0..2 {
        let e = layered.list(&ListOptions::default()).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Timeout);
    }
    assert_eq!(breaker.info().state, BreakerState::Open);
    let started = Instant::now();
    let e = layered.list(&ListOptions::default()).await.unwrap_err();
    assert!(started.elapsed() < Duration::from_millis(5));
    assert_eq!(e.message(), "circuit open");
    assert_eq!(e.provider(), Some("scripted"));
    assert_eq!(p.calls.load(Ordering::SeqCst), 2);
    tokio::time::sleep(Duration::from_millis(70)).await;
    assert_eq!(breaker.info().state, BreakerState::HalfOpen);
    // The probe times out too: open again, for another cool-down.
    layered.list(&ListOptions::default()).await.unwrap_err();
    assert_eq!(breaker.info().state, BreakerState::Open);
    assert_eq!(breaker.info().opened_total, 2);
}
