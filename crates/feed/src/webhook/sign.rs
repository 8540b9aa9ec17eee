//! The Standard Webhooks signature.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretSlice, SecretString};
use sha2::Sha256;

use super::WebhookError;

/// The HMAC key of one endpoint.
#[derive(Clone, Debug)]
pub struct SigningKey(SecretSlice<u8>);

impl SigningKey {
    /// From the configured secret: per the spec a `whsec_` secret is the
    /// base64 of the key bytes (the part after the prefix is decoded); any
    /// other secret is used as its UTF-8 bytes. Empty keys are refused.
    pub fn from_secret(secret: &SecretString) -> Result<SigningKey, WebhookError> {
        let s = secret.expose_secret().trim();
        let bytes = match s.strip_prefix("whsec_") {
            Some(b64) => STANDARD.decode(b64).map_err(|_| {
                WebhookError::Config("a whsec_ secret must be base64 after the prefix".into())
            })?,
            None => s.as_bytes().to_vec(),
        };
        if bytes.is_empty() {
            return Err(WebhookError::Config("the webhook secret is empty".into()));
        }
        Ok(SigningKey(bytes.into()))
    }
}

/// `v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>`.
pub fn sign(key: &SigningKey, id: &str, timestamp: i64, body: &[u8]) -> String {
    // Any key length is valid for HMAC.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key.0.expose_secret())
        .expect("HMAC takes keys of any length");
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_specifications_test_vector() {
        // The example of the Standard Webhooks reference libraries.
        let key =
            SigningKey::from_secret(&"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into()).unwrap();
        let sig = sign(
            &key,
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            br#"{"test": 2432232314}"#,
        );
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn secrets_are_decoded_only_with_the_prefix() {
        let raw = SigningKey::from_secret(&"plain-secret".into()).unwrap();
        assert_eq!(raw.0.expose_secret(), b"plain-secret");
        let b64 = SigningKey::from_secret(&"whsec_cGxhaW4=".into()).unwrap();
        assert_eq!(b64.0.expose_secret(), b"plain");
        assert!(SigningKey::from_secret(&"whsec_not base64!".into()).is_err());
        assert!(SigningKey::from_secret(&"  ".into()).is_err());
        assert!(SigningKey::from_secret(&"whsec_".into()).is_err());
    }
}
