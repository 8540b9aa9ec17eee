//! The access token's lifecycle: requested with Basic auth, cached, renewed
//! before it expires and once after a 401, with never more than one token
//! request in flight (callers queue on one async mutex and share its result,
//! success or failure).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use isogate_core::{Error, ErrorKind, Result};
use secrecy::SecretString;
use tokio::sync::Mutex;

use crate::client::Client;
use crate::model::TokenAnswer;

/// Renew this long before expiry at most...
const MAX_MARGIN: Duration = Duration::from_secs(60);
/// ...and at most this fraction of the lifetime, so short-lived tokens are
/// still used for most of their life.
const MARGIN_FRACTION: u32 = 5;

/// A token and which issue of it this is.
#[derive(Clone)]
pub(crate) struct Issued {
    pub token: SecretString,
    pub generation: u64,
}

/// How requests are authorised.
pub(crate) enum Auth {
    /// A token from the configuration: used as is, never renewed.
    Static(SecretString),
    /// Username and password: tokens are requested and renewed.
    Login(Login),
}

pub(crate) struct Login {
    pub username: String,
    pub password: SecretString,
    state: Mutex<State>,
    /// Token requests finished (ok or not), to share a failure with waiters.
    finished: AtomicU64,
}

#[derive(Default)]
struct State {
    current: Option<(Issued, Instant)>,
    generation: u64,
    failure: Option<(u64, Failure)>,
}

/// An error's parts, to hand one failure to every waiter.
#[derive(Clone)]
struct Failure {
    kind: ErrorKind,
    message: String,
    retryable: bool,
    status: Option<u16>,
    retry_after: Option<Duration>,
}

impl Failure {
    fn of(e: &Error) -> Failure {
        Failure {
            kind: e.kind(),
            message: e.message().to_owned(),
            retryable: e.retryable(),
            status: e.upstream_status(),
            retry_after: e.retry_after(),
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
        e
    }
}

impl Login {
    pub fn new(username: String, password: SecretString) -> Login {
        Login {
            username,
            password,
            state: Mutex::new(State::default()),
            finished: AtomicU64::new(0),
        }
    }

    /// A usable token: the cached one unless it is due for renewal.
    pub async fn token(&self, client: &Client) -> Result<Issued> {
        let ticket = self.finished.load(Ordering::SeqCst);
        let mut st = self.state.lock().await;
        if let Some((issued, renew_at)) = &st.current
            && Instant::now() < *renew_at
        {
            return Ok(issued.clone());
        }
        self.fetch(client, &mut st, ticket).await
    }

    /// A token other than `rejected` (which got a 401): the one another
    /// caller already fetched, or a new one.
    pub async fn renew(&self, client: &Client, rejected: u64) -> Result<Issued> {
        let ticket = self.finished.load(Ordering::SeqCst);
        let mut st = self.state.lock().await;
        if let Some((issued, _)) = &st.current
            && issued.generation != rejected
        {
            return Ok(issued.clone());
        }
        self.fetch(client, &mut st, ticket).await
    }

    /// Forgets `rejected` so the next call fetches a new token.
    pub async fn forget(&self, rejected: u64) {
        let mut st = self.state.lock().await;
        if st
            .current
            .as_ref()
            .is_some_and(|(i, _)| i.generation == rejected)
        {
            st.current = None;
        }
    }

    async fn fetch(&self, client: &Client, st: &mut State, ticket: u64) -> Result<Issued> {
        // A request that finished failing while we queued: share its answer
        // instead of asking again.
        if let Some((seq, failure)) = &st.failure
            && *seq > ticket
        {
            return Err(failure.error());
        }
        let sent = Instant::now();
        let answer = client.request_token(&self.username, &self.password).await;
        let seq = self.finished.fetch_add(1, Ordering::SeqCst) + 1;
        match answer {
            Ok(answer) => {
                st.generation += 1;
                let issued = Issued {
                    token: SecretString::from(answer.token.clone()),
                    generation: st.generation,
                };
                st.current = Some((issued.clone(), sent + renew_after(&answer)));
                st.failure = None;
                Ok(issued)
            }
            Err(e) => {
                st.failure = Some((seq, Failure::of(&e)));
                st.current = None;
                Err(e)
            }
        }
    }
}

/// The `exp` claim of a JWT, read unverified as pyvss and vss-cli read the
/// token's claims (three base64url parts, the middle one a JSON object).
fn jwt_exp(token: &str) -> Option<f64> {
    use base64::Engine;
    let mut parts = token.split('.');
    let (_, payload, _) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || payload.len() > 8 * 1024 {
        return None;
    }
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    claims.get("exp")?.as_f64()
}

/// How long after the request a token should be renewed.
pub(crate) fn renew_after(answer: &TokenAnswer) -> Duration {
    // `duration` is relative, so immune to clock skew; without it (VSS's
    // clients read the JWT's `exp`), the answer's `exp`, then the token's.
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or_default();
    let until = |e: f64| Some(e - now).filter(|d| d.is_finite() && *d > 0.0);
    let lifetime = answer
        .duration
        .filter(|d| d.is_finite() && *d > 0.0)
        .or_else(|| answer.exp.and_then(until))
        .or_else(|| jwt_exp(&answer.token).and_then(until))
        .map(|s| Duration::from_secs_f64(s.min(365.0 * 86_400.0)))
        .unwrap_or(Duration::from_secs(300));
    let margin = (lifetime / MARGIN_FRACTION).min(MAX_MARGIN);
    lifetime - margin
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(duration: Option<f64>, exp: Option<f64>) -> TokenAnswer {
        TokenAnswer {
            token: String::new(),
            duration,
            exp,
        }
    }

    fn jwt(claims: &str) -> String {
        use base64::Engine;
        let b = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        format!("{}.{}.{}", b(r#"{"alg":"HS256"}"#), b(claims), b("sig"))
    }

    #[test]
    fn without_duration_the_jwt_exp_sets_the_lifetime() {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        let from_jwt = renew_after(&TokenAnswer {
            token: jwt(&format!(r#"{{"exp":{},"otp":false}}"#, now as u64 + 1000)),
            duration: None,
            exp: None,
        });
        assert!(
            from_jwt > Duration::from_secs(935) && from_jwt <= Duration::from_secs(940),
            "{from_jwt:?}"
        );
        // A token that is no JWT, or has no `exp`: the 5-minute default.
        for token in [
            "opaque".to_owned(),
            jwt(r#"{"otp":false}"#),
            "a.!!!.c".into(),
        ] {
            let d = renew_after(&TokenAnswer {
                token,
                duration: None,
                exp: None,
            });
            assert_eq!(d, Duration::from_secs(240));
        }
        assert_eq!(jwt_exp(&jwt(r#"{"exp":1700000000}"#)), Some(1.7e9));
    }

    #[test]
    fn renewal_leaves_a_margin_scaled_to_the_lifetime() {
        assert_eq!(
            renew_after(&answer(Some(86_400.0), None)),
            Duration::from_secs(86_340)
        );
        assert_eq!(
            renew_after(&answer(Some(10.0), None)),
            Duration::from_secs(8)
        );
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        let by_exp = renew_after(&answer(None, Some(now + 100.0)));
        assert!(by_exp > Duration::from_secs(78) && by_exp <= Duration::from_secs(80));
        assert_eq!(
            renew_after(&answer(Some(-1.0), Some(now - 5.0))),
            Duration::from_secs(240)
        );
    }
}
