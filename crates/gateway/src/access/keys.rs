//! The keys in force: each configured digest with its principal (name,
//! scopes, providers), compared in constant time; replaced whole on reload.

use std::collections::BTreeSet;
use std::sync::Arc;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::access::ratelimit::RateLimits;
use crate::config::auth::{AuthConfig, AuthMode, Scope};

/// A configured key, ready for comparison.
#[derive(Clone)]
struct Key {
    digest: [u8; 32],
    principal: Arc<Principal>,
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The digest is not the key, but it is offline-guessable for weak keys.
        f.debug_struct("Key")
            .field("name", &self.principal.name)
            .finish_non_exhaustive()
    }
}

/// Who is calling.
#[derive(Clone, Debug)]
pub struct Principal {
    /// The key's name, or `anonymous`.
    pub name: String,
    scopes: Vec<Scope>,
    /// `None`: every provider.
    providers: Option<BTreeSet<String>>,
}

impl Principal {
    /// The caller when authentication is off: everything allowed.
    pub fn anonymous() -> Principal {
        Principal {
            name: "anonymous".into(),
            scopes: vec![Scope::Read, Scope::Write, Scope::Admin],
            providers: None,
        }
    }
    /// Whether the caller holds `scope`.
    pub fn has(&self, scope: Scope) -> bool {
        self.scopes.contains(&scope)
    }
    /// Whether the caller may use `provider`.
    pub fn allows(&self, provider: &str) -> bool {
        self.providers.as_ref().is_none_or(|p| p.contains(provider))
    }
}

/// The keys in force; replaced whole on reload.
#[derive(Clone, Debug)]
pub struct Keys {
    mode: AuthMode,
    keys: Vec<Key>,
    /// The rate limits of this generation of keys.
    pub limits: Arc<RateLimits>,
    anonymous_limited: bool,
    /// The caller when authentication is off, shared by every request.
    pub(crate) anonymous: Arc<Principal>,
}

impl Keys {
    /// From `[auth]` (already validated).
    pub fn from_config(config: &AuthConfig) -> Keys {
        let keys = config
            .keys
            .iter()
            .filter_map(|k| {
                let digest: [u8; 32] = hex::decode(&k.sha256).ok()?.try_into().ok()?;
                let providers = if k.providers.iter().any(|p| p == "*") {
                    None
                } else {
                    Some(k.providers.iter().cloned().collect())
                };
                Some(Key {
                    digest,
                    principal: Arc::new(Principal {
                        name: k.name.clone(),
                        scopes: k.scopes.iter().filter_map(|s| Scope::parse(s)).collect(),
                        providers,
                    }),
                })
            })
            .collect();
        Keys {
            mode: config.effective_mode(),
            keys,
            limits: Arc::new(RateLimits::new(&config.rate_limit)),
            anonymous_limited: config.rate_limit.anonymous,
            anonymous: Arc::new(Principal::anonymous()),
        }
    }

    /// Whether requests are charged to a rate limit.
    pub fn limited(&self) -> bool {
        self.mode == AuthMode::Keys || self.anonymous_limited
    }

    /// The mode in force.
    pub fn mode(&self) -> AuthMode {
        self.mode
    }

    /// The principal holding `presented`, comparing against every key so the
    /// time taken does not say which (or whether one) matched.
    pub(crate) fn find(&self, presented: &str) -> Option<Arc<Principal>> {
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        let mut found = None;
        for key in &self.keys {
            if bool::from(key.digest.ct_eq(&digest)) {
                found = Some(key.principal.clone());
            }
        }
        found
    }
}
