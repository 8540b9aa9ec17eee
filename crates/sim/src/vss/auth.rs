//! Access tokens: HS256 JWTs over a per-simulator secret, the shape pyvss
//! decodes (unverified) for its `otp` flag.

use std::sync::atomic::{AtomicU64, Ordering};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// The claims of an access token.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Claims {
    pub iat: i64,
    /// Expiry, seconds since the epoch.
    pub exp: i64,
    /// Expiry in milliseconds, so short test lifetimes are exact.
    pub exp_ms: i64,
    /// Serial number; revocation rejects every serial below a mark.
    pub jti: u64,
    pub otp: bool,
    pub username: String,
    #[serde(rename = "type")]
    pub kind: String,
}

/// Why a token was refused.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    Invalid,
    Expired,
    Revoked,
}

impl Refusal {
    pub fn message(&self) -> &'static str {
        match self {
            Refusal::Invalid => "Invalid token.",
            Refusal::Expired => "Token expired.",
            Refusal::Revoked => "Token has been revoked.",
        }
    }
}

/// Issues and checks tokens.
#[derive(Debug)]
pub(crate) struct Tokens {
    secret: Vec<u8>,
    next_jti: AtomicU64,
    revoked_below: AtomicU64,
    expired_below: AtomicU64,
}

impl Tokens {
    pub fn new(seed: u64) -> Self {
        Tokens {
            secret: format!("isogate-vss-sim-{seed}").into_bytes(),
            next_jti: AtomicU64::new(1),
            revoked_below: AtomicU64::new(0),
            expired_below: AtomicU64::new(0),
        }
    }

    fn mac(&self) -> HmacSha256 {
        // HMAC accepts keys of any length.
        HmacSha256::new_from_slice(&self.secret).unwrap_or_else(|_| unreachable!())
    }

    /// A new token for `username` valid for `ttl_ms`; returns it with its claims.
    pub fn issue(&self, username: &str, now_ms: i64, ttl_ms: i64) -> (String, Claims) {
        let exp_ms = now_ms + ttl_ms;
        let claims = Claims {
            iat: now_ms / 1000,
            exp: exp_ms / 1000,
            exp_ms,
            jti: self.next_jti.fetch_add(1, Ordering::SeqCst),
            otp: false,
            username: username.to_owned(),
            kind: "ACCESS".into(),
        };
        let header = B64.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
        let payload = B64.encode(serde_json::to_vec(&claims).unwrap_or_default());
        let signing_input = format!("{header}.{payload}");
        let mut mac = self.mac();
        mac.update(signing_input.as_bytes());
        let sig = B64.encode(mac.finalize().into_bytes());
        (format!("{signing_input}.{sig}"), claims)
    }

    /// Checks signature, expiry and revocation.
    pub fn verify(&self, token: &str, now_ms: i64) -> Result<Claims, Refusal> {
        let mut parts = token.split('.');
        let (Some(h), Some(p), Some(s), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(Refusal::Invalid);
        };
        let sig = B64.decode(s).map_err(|_| Refusal::Invalid)?;
        let mut mac = self.mac();
        mac.update(format!("{h}.{p}").as_bytes());
        mac.verify_slice(&sig).map_err(|_| Refusal::Invalid)?;
        let claims: Claims = B64
            .decode(p)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or(Refusal::Invalid)?;
        if claims.jti < self.revoked_below.load(Ordering::SeqCst) {
            return Err(Refusal::Revoked);
        }
        if claims.jti < self.expired_below.load(Ordering::SeqCst) || now_ms >= claims.exp_ms {
            return Err(Refusal::Expired);
        }
        Ok(claims)
    }

    /// Every token issued so far is refused as revoked.
    pub fn revoke_all(&self) {
        self.revoked_below
            .store(self.next_jti.load(Ordering::SeqCst), Ordering::SeqCst);
    }

    /// Every token issued so far is refused as expired.
    pub fn expire_all(&self) {
        self.expired_below
            .store(self.next_jti.load(Ordering::SeqCst), Ordering::SeqCst);
    }

    /// How many tokens were issued.
    pub fn issued(&self) -> u64 {
        self.next_jti.load(Ordering::SeqCst) - 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_verify_expire_and_revoke() {
        let t = Tokens::new(1);
        let (tok, c) = t.issue("u", 1_000_000, 5_000);
        assert_eq!(t.verify(&tok, 1_000_001).unwrap().username, "u");
        assert_eq!(c.exp, 1_005);
        assert_eq!(t.verify(&tok, 1_005_000).unwrap_err(), Refusal::Expired);
        let mut forged = tok.clone();
        forged.push('A');
        assert_eq!(t.verify(&forged, 1_000_001).unwrap_err(), Refusal::Invalid);
        assert_eq!(
            Tokens::new(2).verify(&tok, 1_000_001).unwrap_err(),
            Refusal::Invalid
        );
        t.revoke_all();
        assert_eq!(t.verify(&tok, 1_000_001).unwrap_err(), Refusal::Revoked);
        let (fresh, _) = t.issue("u", 1_000_000, 5_000);
        assert!(t.verify(&fresh, 1_000_001).is_ok());
        assert_eq!(t.issued(), 2);
    }
}
