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
//! The caller reaches the handlers as a [`Caller`] request extension (and
//! extractor), an explicit value passed to whatever filters by provider; the
//! allow-list rules are [`crate::access`]'s.

use std::convert::Infallible;
use std::future::{Ready, ready};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::Request;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::future::{BoxFuture, Either};
use isogate_core::{Error, ErrorKind};
use tower::{Layer, Service};

use crate::access::{Caller, Principal};
use crate::config::auth::{AuthMode, Scope};
use crate::http::error::ApiError;
use crate::state::AppState;

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

/// The request guard: header size, key, scope, rate limit; then the
/// handler runs with the caller as a [`Caller`] extension. A concrete layer:
/// only the shared-tier rate limit (a Redis round trip) boxes a future.
#[derive(Clone, Debug)]
pub struct GuardLayer {
    state: AppState,
    group: RouteGroup,
}

impl GuardLayer {
    /// The guard of `group`'s routes.
    pub fn new(state: AppState, group: RouteGroup) -> Self {
        GuardLayer { state, group }
    }
}

impl<S> Layer<S> for GuardLayer {
    type Service = Guard<S>;
    fn layer(&self, inner: S) -> Guard<S> {
        Guard {
            state: self.state.clone(),
            group: self.group,
            inner,
        }
    }
}

/// See [`GuardLayer`].
#[derive(Clone, Debug)]
pub struct Guard<S> {
    state: AppState,
    group: RouteGroup,
    inner: S,
}

type Answer = Result<Response, Infallible>;

impl<S> Service<Request> for Guard<S>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Either<S::Future, Either<Ready<Answer>, BoxFuture<'static, Answer>>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request) -> Self::Future {
        // Checked already by the hot lane, which let the request through.
        if let Some(Authorized(principal)) = req.extensions_mut().remove::<Authorized>() {
            req.extensions_mut().insert(Caller::new(principal));
            return Either::Left(self.inner.call(req));
        }
        match authorize(&self.state, &req, self.group.scope(req.method())) {
            Ok(Some(principal)) if crate::http::shared_limit::on(&self.state) => {
                // The ready clone serves this request; `self` keeps a fresh one.
                let clone = self.inner.clone();
                let mut inner = std::mem::replace(&mut self.inner, clone);
                let state = self.state.clone();
                Either::Right(Either::Right(Box::pin(async move {
                    let refresh = is_refresh(req.uri().query());
                    if let Err(rejection) =
                        crate::http::shared_limit::check(&state, &principal.name, refresh).await
                    {
                        return Ok(rejection.into_response());
                    }
                    req.extensions_mut().insert(Caller::new(principal));
                    inner.call(req).await
                })))
            }
            Ok(Some(principal)) => {
                req.extensions_mut().insert(Caller::new(principal));
                Either::Left(self.inner.call(req))
            }
            Ok(None) => Either::Left(self.inner.call(req)),
            Err(rejection) => Either::Right(Either::Left(ready(Ok(rejection.into_response())))),
        }
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
    use crate::access::Keys;
    use crate::config::auth::{AuthConfig, KeyConfig, check_listen};
    use sha2::{Digest, Sha256};

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
