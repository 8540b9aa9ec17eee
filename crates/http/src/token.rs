//! A cached credential (a bearer token, a session key) that knows no client:
//! the caller passes the refresh as a future, so the cache and the client
//! do not import each other.
//!
//! - Single flight: one refresh at a time; callers that queued while it ran
//!   share its result, success or failure (a failing upstream gets one login
//!   attempt per wave of callers, not one per caller).
//! - A failure is not cached: the first call after it refreshes again.
//! - Renewal before expiry, by a [`Margin`] of the token's lifetime.
//! - After a 401, [`TokenCache::renew`] gives a token other than the refused
//!   one (the one another caller already fetched, or a new one), and
//!   [`TokenCache::invalidate`] drops the refused one only.

use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use isogate_core::{Error, ErrorKind, Result};
use tokio::sync::Mutex;

/// How long before its expiry a token is renewed: a fraction of its lifetime,
/// at most `max` (so short-lived tokens are still used for most of their life).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Margin {
    /// The largest margin.
    pub max: Duration,
    /// The margin is at most lifetime / `fraction` (1: up to the whole lifetime).
    pub fraction: u32,
}

impl Margin {
    /// After how long a token of `lifetime` is renewed.
    pub fn renew_after(&self, lifetime: Duration) -> Duration {
        lifetime - (lifetime / self.fraction.max(1)).min(self.max)
    }
}

/// What a refresh returns: the credential and how long it lives (`None`:
/// until refused).
#[derive(Clone, Debug)]
pub struct Fresh<T> {
    /// The credential.
    pub value: T,
    /// Its lifetime, counted from when the refresh started.
    pub lifetime: Option<Duration>,
}

/// A cached credential and which issue of it this is (for
/// [`TokenCache::renew`] and [`TokenCache::invalidate`] after a 401).
#[derive(Clone, Debug)]
pub struct Token<T> {
    /// The credential.
    pub value: T,
    /// Increases with every successful refresh; 0 is never issued.
    pub generation: u64,
}

/// See the module documentation.
pub struct TokenCache<T> {
    margin: Margin,
    state: Mutex<State<T>>,
    /// Refreshes finished (ok or not): a caller's ticket tells whether a
    /// refresh finished while it queued.
    finished: AtomicU64,
}

struct State<T> {
    current: Option<(Token<T>, Option<Instant>)>,
    generation: u64,
    failure: Option<(u64, Shared)>,
}

impl<T> fmt::Debug for TokenCache<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the credential.
        f.debug_struct("TokenCache")
            .field("margin", &self.margin)
            .finish_non_exhaustive()
    }
}

impl<T: Clone> TokenCache<T> {
    /// An empty cache renewing `margin` before expiry.
    pub fn new(margin: Margin) -> Self {
        TokenCache {
            margin,
            state: Mutex::new(State {
                current: None,
                generation: 0,
                failure: None,
            }),
            finished: AtomicU64::new(0),
        }
    }

    /// The cached token unless it is due for renewal; otherwise `refresh`'s
    /// (or the result of the refresh that finished while this call queued).
    pub async fn get<F, Fut>(&self, refresh: F) -> Result<Token<T>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Fresh<T>>>,
    {
        let ticket = self.finished.load(Ordering::SeqCst);
        let mut st = self.state.lock().await;
        if let Some((token, renew_at)) = &st.current
            && renew_at.is_none_or(|at| Instant::now() < at)
        {
            return Ok(token.clone());
        }
        self.refresh(&mut st, ticket, refresh).await
    }

    /// A token other than generation `rejected` (refused with a 401): the one
    /// another caller already fetched, or a new one.
    pub async fn renew<F, Fut>(&self, rejected: u64, refresh: F) -> Result<Token<T>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Fresh<T>>>,
    {
        let ticket = self.finished.load(Ordering::SeqCst);
        let mut st = self.state.lock().await;
        if let Some((token, _)) = &st.current
            && token.generation != rejected
        {
            return Ok(token.clone());
        }
        self.refresh(&mut st, ticket, refresh).await
    }

    /// Forgets generation `rejected` (unless another caller replaced it
    /// already), so the next call refreshes.
    pub async fn invalidate(&self, rejected: u64) {
        let mut st = self.state.lock().await;
        if st
            .current
            .as_ref()
            .is_some_and(|(t, _)| t.generation == rejected)
        {
            st.current = None;
        }
    }

    async fn refresh<F, Fut>(&self, st: &mut State<T>, ticket: u64, refresh: F) -> Result<Token<T>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Fresh<T>>>,
    {
        // A refresh that finished failing while we queued: share its answer
        // instead of asking again.
        if let Some((seq, failure)) = &st.failure
            && *seq > ticket
        {
            return Err(failure.error());
        }
        let started = Instant::now();
        let answer = refresh().await;
        let seq = self.finished.fetch_add(1, Ordering::SeqCst) + 1;
        match answer {
            Ok(fresh) => {
                st.generation += 1;
                let token = Token {
                    value: fresh.value,
                    generation: st.generation,
                };
                let renew_at = fresh.lifetime.map(|l| started + self.margin.renew_after(l));
                st.current = Some((token.clone(), renew_at));
                st.failure = None;
                Ok(token)
            }
            Err(e) => {
                st.failure = Some((seq, Shared::of(&e)));
                st.current = None;
                Err(e)
            }
        }
    }
}

/// An error's parts, to hand one failure to every waiter (`Error` owns its
/// source, so it is not `Clone`).
#[derive(Clone)]
struct Shared {
    kind: ErrorKind,
    message: String,
    retryable: bool,
    status: Option<u16>,
    retry_after: Option<Duration>,
    provider: Option<String>,
    operation: Option<String>,
}

impl Shared {
    fn of(e: &Error) -> Shared {
        Shared {
            kind: e.kind(),
            message: e.message().to_owned(),
            retryable: e.retryable(),
            status: e.upstream_status(),
            retry_after: e.retry_after(),
            provider: e.provider().map(str::to_owned),
            operation: e.operation().map(str::to_owned),
        }
    }

    fn error(&self) -> Error {
        let mut e = Error::new(self.kind, self.message.clone()).with_retryable(self.retryable);
        if let Some(s) = self.status {
            e = e.with_status(s);
        }
        if let Some(r) = self.retry_after {
            e = e.with_retry_after(r);
        }
        if let Some(p) = &self.provider {
            e = e.with_provider(p);
        }
        if let Some(o) = &self.operation {
            e = e.with_operation(o);
        }
        e
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::AtomicUsize;

    use super::*;

    const MARGIN: Margin = Margin {
        max: Duration::from_secs(60),
        fraction: 5,
    };

    /// A refresh that counts its calls, takes `delay`, and fails while `fail` is set.
    #[derive(Default)]
    struct Upstream {
        calls: AtomicUsize,
        fail: std::sync::atomic::AtomicBool,
    }

    impl Upstream {
        async fn login(
            &self,
            delay: Duration,
            lifetime: Option<Duration>,
        ) -> Result<Fresh<String>> {
            let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
            tokio::time::sleep(delay).await;
            if self.fail.load(Ordering::SeqCst) {
                return Err(Error::new(ErrorKind::Unavailable, "login refused").with_status(503));
            }
            Ok(Fresh {
                value: format!("token-{n}"),
                lifetime,
            })
        }
    }

    #[test]
    fn margins_scale_with_the_lifetime() {
        assert_eq!(
            MARGIN.renew_after(Duration::from_secs(86_400)),
            Duration::from_secs(86_340)
        );
        assert_eq!(
            MARGIN.renew_after(Duration::from_secs(10)),
            Duration::from_secs(8)
        );
        let fixed = Margin {
            max: Duration::from_secs(5),
            fraction: 1,
        };
        assert_eq!(
            fixed.renew_after(Duration::from_secs(3600)),
            Duration::from_secs(3595)
        );
        assert_eq!(fixed.renew_after(Duration::from_secs(3)), Duration::ZERO);
    }

    #[tokio::test]
    async fn fifty_concurrent_callers_share_one_refresh() {
        let cache = Arc::new(TokenCache::<String>::new(MARGIN));
        let up = Arc::new(Upstream::default());
        let mut tasks = Vec::new();
        for _ in 0..50 {
            let (cache, up) = (cache.clone(), up.clone());
            tasks.push(tokio::spawn(async move {
                cache
                    .get(|| up.login(Duration::from_millis(50), None))
                    .await
            }));
        }
        for t in tasks {
            let token = t.await.unwrap().unwrap();
            assert_eq!((token.value.as_str(), token.generation), ("token-1", 1));
        }
        assert_eq!(up.calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_failed_refresh_is_shared_then_retried_on_the_next_call() {
        let cache = Arc::new(TokenCache::<String>::new(MARGIN));
        let up = Arc::new(Upstream::default());
        up.fail.store(true, Ordering::SeqCst);
        let mut tasks = Vec::new();
        for _ in 0..20 {
            let (cache, up) = (cache.clone(), up.clone());
            tasks.push(tokio::spawn(async move {
                cache
                    .get(|| up.login(Duration::from_millis(50), None))
                    .await
            }));
        }
        for t in tasks {
            let e = t.await.unwrap().unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Unavailable);
            assert_eq!(e.message(), "login refused");
            assert_eq!(e.upstream_status(), Some(503));
            assert!(e.retryable());
        }
        assert_eq!(up.calls.load(Ordering::SeqCst), 1, "one login for the wave");
        // The failure is not cached: the next call asks again.
        up.fail.store(false, Ordering::SeqCst);
        let token = cache.get(|| up.login(Duration::ZERO, None)).await.unwrap();
        assert_eq!(token.value, "token-2");
        assert_eq!(up.calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn tokens_are_renewed_a_margin_before_expiry() {
        let cache = TokenCache::<String>::new(Margin {
            max: Duration::from_millis(150),
            fraction: 1,
        });
        let up = Upstream::default();
        let life = Some(Duration::from_millis(300));
        let first = cache.get(|| up.login(Duration::ZERO, life)).await.unwrap();
        // Well inside lifetime - margin (150 ms): cached.
        let again = cache.get(|| up.login(Duration::ZERO, life)).await.unwrap();
        assert_eq!(again.generation, first.generation);
        // Past 150 ms but before the 300 ms expiry: renewed.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let renewed = cache.get(|| up.login(Duration::ZERO, life)).await.unwrap();
        assert_eq!(renewed.generation, first.generation + 1);
        assert_eq!(up.calls.load(Ordering::SeqCst), 2);
        // No lifetime: kept until refused.
        let forever = TokenCache::<String>::new(MARGIN);
        let t = forever
            .get(|| up.login(Duration::ZERO, None))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
        let same = forever
            .get(|| up.login(Duration::ZERO, None))
            .await
            .unwrap();
        assert_eq!(same.generation, t.generation);
    }

    #[tokio::test]
    async fn a_refused_token_is_replaced_once() {
        let cache = TokenCache::<String>::new(MARGIN);
        let up = Upstream::default();
        let t1 = cache.get(|| up.login(Duration::ZERO, None)).await.unwrap();
        // Two callers got a 401 with t1: the first renews, the second gets its token.
        let t2 = cache
            .renew(t1.generation, || up.login(Duration::ZERO, None))
            .await
            .unwrap();
        let t2b = cache
            .renew(t1.generation, || up.login(Duration::ZERO, None))
            .await
            .unwrap();
        assert_eq!((t2.generation, t2b.generation), (2, 2));
        // Invalidating a stale generation keeps the current token...
        cache.invalidate(t1.generation).await;
        assert_eq!(
            cache
                .get(|| up.login(Duration::ZERO, None))
                .await
                .unwrap()
                .generation,
            2
        );
        // ...invalidating the current one makes the next call refresh.
        cache.invalidate(t2.generation).await;
        assert_eq!(
            cache
                .get(|| up.login(Duration::ZERO, None))
                .await
                .unwrap()
                .generation,
            3
        );
        assert_eq!(up.calls.load(Ordering::SeqCst), 3);
    }
}
