//! The receiver's side of Standard Webhooks (standardwebhooks.com), written
//! from the spec, not from the feed crate, so the feed's tests and the
//! gateway's check its signatures independently.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use http::HeaderMap;
use sha2::Sha256;

/// How far a delivery's `webhook-timestamp` may be from now (the spec's
/// suggested tolerance).
const TOLERANCE_S: i64 = 300;

/// Checks a delivery's `webhook-id`, `webhook-timestamp` and
/// `webhook-signature` headers against `body` and the endpoint's `secret`
/// (`whsec_` and base64): `Err` says what is wrong.
pub fn verify(secret: &str, headers: &HeaderMap, body: &[u8]) -> Result<(), String> {
    let h = |n: &str| {
        headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .ok_or(format!("missing {n}"))
    };
    let (id, ts, sigs) = (
        h("webhook-id")?,
        h("webhook-timestamp")?,
        h("webhook-signature")?,
    );
    let ts_n: i64 = ts.parse().map_err(|_| "bad timestamp")?;
    if (chrono::Utc::now().timestamp() - ts_n).abs() > TOLERANCE_S {
        return Err("timestamp outside tolerance".into());
    }
    let key = secret
        .strip_prefix("whsec_")
        .and_then(|k| STANDARD.decode(k).ok())
        .ok_or("the secret is not whsec_ and base64")?;
    let mut content = format!("{id}.{ts}.").into_bytes();
    content.extend_from_slice(body);
    for sig in sigs.split(' ') {
        if let Some(b64) = sig.strip_prefix("v1,")
            && let Ok(got) = STANDARD.decode(b64)
            && Hmac::<Sha256>::new_from_slice(&key)
                .map_err(|e| e.to_string())?
                .chain_update(&content)
                .verify_slice(&got)
                .is_ok()
        {
            return Ok(());
        }
    }
    Err("no valid signature".into())
}
