//! `[auth]`: API keys (as SHA-256 digests), their scopes and provider
//! allow-lists, the per-key rate limits, and the bind policy (no keys, no
//! public address). Plain data: the keys table built from it lives in
//! `access/`, the guard that enforces it in `http/auth.rs`.

use std::collections::BTreeSet;

use serde::Deserialize;

/// `[auth]`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// `keys` or `none`; unset means `keys` when any key is configured, else `none`
    /// (and then the server only binds loopback addresses).
    pub mode: Option<AuthMode>,
    /// The keys.
    pub keys: Vec<KeyConfig>,
    /// Per-key request rate.
    pub rate_limit: RateLimitConfig,
}

/// How requests are authenticated.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthMode {
    /// A configured key is required on every non-open route.
    Keys,
    /// No authentication (loopback demos, or behind an authenticating proxy).
    None,
}

/// One `[[auth.keys]]` entry.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyConfig {
    /// Who holds the key (logs, rate-limit buckets); never the key itself.
    pub name: String,
    /// Lower-case hex SHA-256 of the key (`printf %s KEY | sha256sum`).
    pub sha256: String,
    /// Any of `read`, `write`, `admin`.
    pub scopes: Vec<String>,
    /// Provider names the key may use; `["*"]` (the default) for all.
    #[serde(default = "all_providers")]
    pub providers: Vec<String>,
}

fn all_providers() -> Vec<String> {
    vec!["*".into()]
}

/// `[auth.rate_limit]`: a token bucket per key. `refresh=true` listings draw
/// from a second, stricter bucket because each one reaches every upstream.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitConfig {
    /// Sustained requests per second per key; 0 disables the limit.
    pub per_second: u32,
    /// Requests a key may send at once above the sustained rate.
    pub burst: u32,
    /// Sustained `refresh=true` listings per minute per key; 0 disables.
    pub refresh_per_minute: u32,
    /// `refresh=true` listings a key may send at once.
    pub refresh_burst: u32,
    /// Apply the same limits to anonymous callers (`mode = "none"`), all
    /// sharing one bucket. Off by default so local benchmarks are not throttled.
    pub anonymous: bool,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        RateLimitConfig {
            per_second: 50,
            burst: 100,
            refresh_per_minute: 12,
            refresh_burst: 3,
            anonymous: false,
        }
    }
}

impl AuthConfig {
    /// The mode in force.
    pub fn effective_mode(&self) -> AuthMode {
        self.mode.unwrap_or(if self.keys.is_empty() {
            AuthMode::None
        } else {
            AuthMode::Keys
        })
    }

    /// Checks every key; the error names the key (by index and name) and field.
    pub fn validate(&self) -> Result<(), String> {
        if self.mode == Some(AuthMode::Keys) && self.keys.is_empty() {
            return Err(".keys: mode = \"keys\" needs at least one [[auth.keys]]".into());
        }
        let mut names = BTreeSet::new();
        for (i, key) in self.keys.iter().enumerate() {
            let at = format!(".keys[{i}] ('{}')", key.name);
            if key.name.is_empty() || !names.insert(key.name.as_str()) {
                return Err(format!("{at}.name: empty or used twice"));
            }
            if key.sha256.len() != 64 || hex::decode(&key.sha256).is_err() {
                return Err(format!("{at}.sha256: expected 64 hex digits"));
            }
            if key.scopes.is_empty() {
                return Err(format!("{at}.scopes: expected some of read, write, admin"));
            }
            for scope in &key.scopes {
                if Scope::parse(scope).is_none() {
                    return Err(format!(
                        "{at}.scopes: unknown scope '{scope}', expected read, write or admin"
                    ));
                }
            }
            if key.providers.is_empty() {
                return Err(format!("{at}.providers: expected names or [\"*\"]"));
            }
        }
        Ok(())
    }
}

/// Refuses to serve a non-loopback address without keys unless `[auth]
/// mode = "none"` says so explicitly.
pub fn check_listen(auth: &AuthConfig, listen: std::net::SocketAddr) -> Result<(), String> {
    if auth.mode.is_none() && auth.keys.is_empty() && !listen.ip().is_loopback() {
        return Err(format!(
            "refusing to listen on {listen} without API keys: configure [[auth.keys]], \
             or set [auth] mode = \"none\" to serve unauthenticated on purpose"
        ));
    }
    Ok(())
}

/// What a route needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Reads.
    Read,
    /// Changes to upstream catalogues.
    Write,
    /// Gateway administration.
    Admin,
}

impl Scope {
    /// `read`, `write` or `admin`.
    pub fn parse(s: &str) -> Option<Scope> {
        match s {
            "read" => Some(Scope::Read),
            "write" => Some(Scope::Write),
            "admin" => Some(Scope::Admin),
            _ => None,
        }
    }
    /// The config and problem spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Write => "write",
            Scope::Admin => "admin",
        }
    }
}
