//! The access token's lifecycle: requested with Basic auth, cached in an
//! [`isogate_http::TokenCache`] (renewed before it expires and once after a
//! 401, never more than one token request in flight, a failure shared with
//! the callers that queued for it). The request itself is the client's; this
//! module only says how long a token lives.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use isogate_http::{Fresh, Margin, Token, TokenCache};
use secrecy::SecretString;

use crate::model::TokenAnswer;

/// Renew a fifth of the lifetime before expiry, at most a minute before, so
/// short-lived tokens are still used for most of their life.
const MARGIN: Margin = Margin {
    max: Duration::from_secs(60),
    fraction: 5,
};

/// A token and which issue of it this is.
pub(crate) type Issued = Token<SecretString>;

/// How requests are authorised.
pub(crate) enum Auth {
    /// A token from the configuration: used as is, never renewed.
    Static(SecretString),
    /// Username and password: tokens are requested and renewed.
    Login(Box<Login>),
}

pub(crate) struct Login {
    pub username: String,
    pub password: SecretString,
    pub cache: TokenCache<SecretString>,
}

impl Login {
    pub fn new(username: String, password: SecretString) -> Login {
        Login {
            username,
            password,
            cache: TokenCache::new(MARGIN),
        }
    }
}

/// What the cache keeps of a token answer.
pub(crate) fn fresh(answer: TokenAnswer) -> Fresh<SecretString> {
    let lifetime = lifetime(&answer);
    Fresh {
        value: SecretString::from(answer.token),
        lifetime: Some(lifetime),
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

/// How long a token lives, counted from its request.
fn lifetime(answer: &TokenAnswer) -> Duration {
    // `duration` is relative, so immune to clock skew; without it (VSS's
    // clients read the JWT's `exp`), the answer's `exp`, then the token's.
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or_default();
    let until = |e: f64| Some(e - now).filter(|d| d.is_finite() && *d > 0.0);
    answer
        .duration
        .filter(|d| d.is_finite() && *d > 0.0)
        .or_else(|| answer.exp.and_then(until))
        .or_else(|| jwt_exp(&answer.token).and_then(until))
        .map(|s| Duration::from_secs_f64(s.min(365.0 * 86_400.0)))
        .unwrap_or(Duration::from_secs(300))
}

/// How long after the request a token should be renewed.
#[cfg(test)]
pub(crate) fn renew_after(answer: &TokenAnswer) -> Duration {
    MARGIN.renew_after(lifetime(answer))
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
