//! Gateway API keys: who is calling, what they may do, which providers they see.
//!
//! Keys are configured as SHA-256 digests (`[[auth.keys]]`), never in clear.
//! A request presents its key as `Authorization: Bearer <key>` or
//! `X-Api-Key: <key>`; the digest of what it presented is compared with every
//! configured digest in constant time.
//!
//! Scopes by route (open routes need no key):
//! - open: `/healthz`, `/readyz`, `/metrics`, `/openapi.json`, `/docs`,
//!   `/ui` and `/ui/assets/*` (probes, scrapers, documentation and the
//!   dashboard's static files; they expose no catalogue data: the dashboard's
//!   own API calls carry the key).
//! - `admin`: `POST /v1/cache/invalidate`.
//! - `write`: every other POST, PATCH and DELETE (imports, updates, deletes,
//!   attach/detach, download URLs, sync).
//! - `read`: every GET (and HEAD/OPTIONS).
//!
//! Scopes do not imply one another: a key that should read and write lists both.
//!
//! Provider allow-list: providers outside a key's list are left out of
//! federated listings, stats and `/v1/providers` as if they were not
//! configured. Naming one explicitly (a provider path, `provider=`, or a
//! global id) is a 403 `provider_forbidden`: configured provider names are not
//! treated as secrets, and a 403 tells an operator what to fix.
//!
//! The caller is carried to the handlers in a task-local ([`current`]) set by
//! [`guard`] around the request, so listing code can filter without every
//! handler taking an extra argument. Outside a request (background refreshes)
//! nothing is filtered.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use isogate_core::{Error, ErrorKind};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::http::error::ApiError;
use crate::http::ratelimit::RateLimits;
use crate::state::AppState;

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
    fn parse(s: &str) -> Option<Scope> {
        match s {
            "read" => Some(Scope::Read),
            "write" => Some(Scope::Write),
            "admin" => Some(Scope::Admin),
            _ => None,
        }
    }
    fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Write => "write",
            Scope::Admin => "admin",
        }
    }
}

/// The groups of the route list, each guarded with the scope it names: the
/// route list says which group a route is in, so no path string decides a
/// scope.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RouteGroup {
    /// Health, metrics, the OpenAPI document and viewer, the dashboard.
    Open,
    /// The API: `read` for GET/HEAD/OPTIONS, `write` for the rest.
    Api,
    /// Operator actions (cache invalidation): `admin`.
    Admin,
}

impl RouteGroup {
    /// The scope a request with `method` needs in this group; `None`: open.
    pub fn scope(self, method: &Method) -> Option<Scope> {
        match self {
            RouteGroup::Open => None,
            RouteGroup::Admin => Some(Scope::Admin),
            RouteGroup::Api => match *method {
                Method::GET | Method::HEAD | Method::OPTIONS => Some(Scope::Read),
                _ => Some(Scope::Write),
            },
        }
    }
}

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
    anonymous: Arc<Principal>,
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
    fn find(&self, presented: &str) -> Option<Arc<Principal>> {
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

/// Who is calling, as the guard found it: a request extension that the
/// handlers extract and pass to whatever filters by provider. It is a value,
/// not ambient state, so work spawned off a request cannot silently lose a
/// key's allow-list; and no caller (an open route, a test, a spawned task)
/// sees no provider at all.
#[derive(Clone, Debug, Default)]
pub struct Caller(Option<Arc<Principal>>);

impl Caller {
    /// A request made by `principal`.
    pub fn new(principal: Arc<Principal>) -> Caller {
        Caller(Some(principal))
    }
    /// No caller: nothing is visible.
    pub fn none() -> Caller {
        Caller(None)
    }
    /// The principal, if a guarded route found one.
    pub fn principal(&self) -> Option<&Principal> {
        self.0.as_deref()
    }
    /// Whether this caller may see `provider` (never, without a caller).
    pub fn may_see(&self, provider: &str) -> bool {
        self.0.as_ref().is_some_and(|p| p.allows(provider))
    }
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Caller {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(parts
            .extensions
            .get::<Caller>()
            .cloned()
            .unwrap_or_default())
    }
}

/// A 403 for a provider outside the caller's allow-list.
pub fn provider_forbidden(provider: &str) -> ApiError {
    ApiError::coded(
        Error::new(
            ErrorKind::Forbidden,
            format!("this API key may not use provider '{provider}'"),
        ),
        "provider_forbidden",
    )
}

/// The request middleware: header size, key, scope, rate limit; then the
/// handler runs with the caller as a [`Caller`] extension.
pub async fn guard(
    State((state, group)): State<(AppState, RouteGroup)>,
    mut req: Request,
    next: Next,
) -> Response {
    // Checked already by the hot lane, which let the request through.
    if let Some(Authorized(principal)) = req.extensions().get::<Authorized>().cloned() {
        req.extensions_mut().insert(Caller::new(principal));
        return next.run(req).await;
    }
    match authorize(&state, &req, group.scope(req.method())) {
        Ok(Some(principal)) => {
            let refresh = is_refresh(req.uri().query());
            if let Err(rejection) =
                crate::http::shared_limit::check(&state, &principal.name, refresh).await
            {
                return rejection.into_response();
            }
            req.extensions_mut().insert(Caller::new(principal));
            next.run(req).await
        }
        Ok(None) => next.run(req).await,
        Err(rejection) => rejection.into_response(),
    }
}

/// A request that passed [`authorize`] (and was charged to its key's rate
/// limit) before routing; only this crate can attach one.
#[derive(Clone, Debug)]
pub(crate) struct Authorized(pub(crate) Arc<Principal>);

/// Why [`authorize`] turned a request away.
#[derive(Debug)]
pub(crate) enum Rejection {
    HeadersTooLarge(usize),
    MissingKey,
    InvalidKey,
    MissingScope(Scope),
    RateLimited { wait: Duration, refresh: bool },
}

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        match self {
            Rejection::HeadersTooLarge(max) => ApiError::with_status(
                Error::invalid_input(format!("the request headers are larger than {max} bytes")),
                "headers_too_large",
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            )
            .into_response(),
            Rejection::MissingKey => unauthorized("an API key is required", "missing_api_key"),
            Rejection::InvalidKey => unauthorized("the API key is not valid", "invalid_api_key"),
            Rejection::MissingScope(scope) => ApiError::coded(
                Error::new(
                    ErrorKind::Forbidden,
                    format!("this API key lacks the '{}' scope", scope.as_str()),
                ),
                "insufficient_scope",
            )
            .into_response(),
            Rejection::RateLimited { wait, refresh } => rate_limited(wait, refresh),
        }
    }
}

/// Header size, key, `scope` and rate limit of `req`: the caller, or `None`
/// for an open route (no scope). Takes one request from the key's rate limit.
pub(crate) fn authorize(
    state: &AppState,
    req: &Request,
    scope: Option<Scope>,
) -> Result<Option<Arc<Principal>>, Rejection> {
    let max_headers = state.config().server.max_header_bytes;
    let header_bytes: usize = req
        .headers()
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len() + 4)
        .sum();
    if header_bytes > max_headers {
        return Err(Rejection::HeadersTooLarge(max_headers));
    }
    let Some(scope) = scope else {
        return Ok(None);
    };
    let keys = state.keys();
    let principal = match keys.mode() {
        AuthMode::None => keys.anonymous.clone(),
        AuthMode::Keys => {
            let presented = presented_key(req).ok_or(Rejection::MissingKey)?;
            keys.find(presented).ok_or(Rejection::InvalidKey)?
        }
    };
    if !principal.has(scope) {
        return Err(Rejection::MissingScope(scope));
    }
    // With the shared tier, the guard charges the shared buckets instead.
    if keys.limited() && !crate::http::shared_limit::on(state) {
        let refresh = is_refresh(req.uri().query());
        keys.limits
            .check(&principal.name, refresh)
            .map_err(|wait| Rejection::RateLimited { wait, refresh })?;
    }
    Ok(Some(principal))
}

fn presented_key(req: &Request) -> Option<&str> {
    if let Some(v) = req.headers().get("x-api-key") {
        return v
            .to_str()
            .ok()
            .map(str::trim_ascii)
            .filter(|k| !k.is_empty());
    }
    let auth = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, rest) = auth.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| rest.trim_ascii())
        .filter(|k| !k.is_empty())
}

fn is_refresh(query: Option<&str>) -> bool {
    // Runs on every request: most queries do not mention it at all (a
    // percent-encoded name would still contain "refresh" once decoded,
    // but not as text: the full parse decides those).
    let query = query.unwrap_or("");
    if !query.contains("refresh") && !query.contains('%') {
        return false;
    }
    url::form_urlencoded::parse(query.as_bytes())
        .any(|(k, v)| k == "refresh" && !matches!(v.as_ref(), "false" | "0" | ""))
}

fn unauthorized(message: &str, code: &'static str) -> Response {
    let mut resp =
        ApiError::coded(Error::new(ErrorKind::Unauthorized, message), code).into_response();
    resp.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"isogate\""),
    );
    resp
}

fn rate_limited(wait: Duration, refresh: bool) -> Response {
    let what = if refresh {
        "refresh=true listings"
    } else {
        "requests"
    };
    ApiError::coded(
        Error::new(
            ErrorKind::RateLimited,
            format!("too many {what} for this API key; retry later"),
        )
        .with_retry_after(wait),
        if refresh {
            "refresh_rate_limited"
        } else {
            "rate_limited"
        },
    )
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(name: &str, secret: &str, scopes: &[&str], providers: &[&str]) -> KeyConfig {
        KeyConfig {
            name: name.into(),
            sha256: hex::encode(Sha256::digest(secret.as_bytes())),
            scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
            providers: providers.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    #[test]
    fn keys_are_found_by_digest_and_carry_scopes_and_providers() {
        let config = AuthConfig {
            keys: vec![
                key("ro", "k-ro", &["read"], &["a"]),
                key("all", "k-all", &["read", "write", "admin"], &["*"]),
            ],
            ..Default::default()
        };
        config.validate().unwrap();
        let keys = Keys::from_config(&config);
        assert_eq!(keys.mode(), AuthMode::Keys);
        let ro = keys.find("k-ro").unwrap();
        assert_eq!(ro.name, "ro");
        assert!(ro.has(Scope::Read) && !ro.has(Scope::Write));
        assert!(ro.allows("a") && !ro.allows("b"));
        let all = keys.find("k-all").unwrap();
        assert!(all.allows("anything") && all.has(Scope::Admin));
        assert!(keys.find("k-r").is_none());
        assert!(keys.find("").is_none());
    }

    #[test]
    fn validation_names_the_key_and_field() {
        let mut bad = key("x", "s", &["read"], &["*"]);
        bad.sha256 = "abc".into();
        let e = AuthConfig {
            keys: vec![bad],
            ..Default::default()
        }
        .validate()
        .unwrap_err();
        assert!(e.contains("keys[0] ('x').sha256"), "{e}");
        let e = AuthConfig {
            keys: vec![key("x", "s", &["root"], &["*"])],
            ..Default::default()
        }
        .validate()
        .unwrap_err();
        assert!(e.contains("unknown scope 'root'"), "{e}");
        let e = AuthConfig {
            mode: Some(AuthMode::Keys),
            ..Default::default()
        }
        .validate()
        .unwrap_err();
        assert!(e.contains("at least one"), "{e}");
        assert_eq!(AuthConfig::default().effective_mode(), AuthMode::None);
    }

    #[test]
    fn keyless_non_loopback_listen_needs_an_explicit_mode_none() {
        let public: std::net::SocketAddr = "0.0.0.0:8080".parse().unwrap();
        let local: std::net::SocketAddr = "127.0.0.1:8080".parse().unwrap();
        let v6local: std::net::SocketAddr = "[::1]:8080".parse().unwrap();
        let none = AuthConfig::default();
        assert!(
            check_listen(&none, public)
                .unwrap_err()
                .contains("mode = \"none\"")
        );
        check_listen(&none, local).unwrap();
        check_listen(&none, v6local).unwrap();
        let explicit = AuthConfig {
            mode: Some(AuthMode::None),
            ..Default::default()
        };
        check_listen(&explicit, public).unwrap();
        let keyed = AuthConfig {
            keys: vec![key("k", "s", &["read"], &["*"])],
            ..Default::default()
        };
        check_listen(&keyed, public).unwrap();
    }

    #[test]
    fn scopes_follow_method_and_route() {
        // Which route is in which group is the route list's (lib.rs);
        // hardening_auth::route_groups_decide_scopes holds it end to end.
        assert_eq!(RouteGroup::Open.scope(&Method::GET), None);
        assert_eq!(RouteGroup::Open.scope(&Method::POST), None);
        assert_eq!(RouteGroup::Api.scope(&Method::GET), Some(Scope::Read));
        assert_eq!(RouteGroup::Api.scope(&Method::POST), Some(Scope::Write));
        assert_eq!(RouteGroup::Api.scope(&Method::DELETE), Some(Scope::Write));
        assert_eq!(RouteGroup::Admin.scope(&Method::POST), Some(Scope::Admin));
        assert!(is_refresh(Some("a=1&refresh=true")));
        assert!(!is_refresh(Some("refresh=false")));
        assert!(!is_refresh(None));
        assert!(!is_refresh(Some("per_page=50&sort=name")));
        // Encoded names and values count once decoded.
        assert!(is_refresh(Some("per_page=5&re%66resh=1")));
        assert!(is_refresh(Some("refresh=%74rue")));
        assert!(!is_refresh(Some("q=%41&refresh=0")));
    }
}
