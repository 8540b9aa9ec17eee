//! The VSS HTTP client: one method per upstream endpoint, raw DTOs, errors
//! mapped to kinds (contract all#3). The bearer token is attached here and
//! renewed once on a 401 for reads (the protocol's re-login); writes are sent
//! once, and a 401 on them only drops the token for the next call.

use isogate_core::{Error, ErrorKind, Result};
use reqwest::header::CONTENT_TYPE;
use reqwest::{Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;

use crate::config::VssConfig;
use crate::error::parse_error;
use crate::model::{Page, RequestAnswer, SyncAnswer, TokenAnswer};
use crate::token::{Auth, Issued, Login};
use isogate_http::Fresh;

/// The public catalogue.
pub(crate) const PUBLIC: &str = "/v2/iso";
/// The user's personal catalogue (GET lists, PATCH syncs).
pub(crate) const PERSONAL: &str = "/v2/user/image/iso";

pub(crate) struct Client {
    http: reqwest::Client,
    origin: String,
    auth: Auth,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let auth = match &self.auth {
            Auth::Static(_) => "static token",
            Auth::Login(_) => "username and password",
        };
        f.debug_struct("Client")
            .field("origin", &self.origin)
            .field("auth", &auth)
            .finish()
    }
}

/// An answer that was not an error, or a 401 the caller may recover from.
enum Answer {
    Body(bytes::Bytes),
    Rejected(Error),
}

impl Client {
    pub fn new(cfg: &VssConfig) -> Result<Client> {
        let http = reqwest::Client::builder()
            .timeout(cfg.timeout())
            .connect_timeout(cfg.connect_timeout())
            .user_agent(concat!("isogate-vss/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::config(format!("HTTP client: {}", e.without_url())))?;
        let auth = match (&cfg.token, &cfg.username, &cfg.password) {
            (Some(t), _, _) => Auth::Static(t.clone()),
            (None, Some(u), Some(p)) => Auth::Login(Box::new(Login::new(u.clone(), p.clone()))),
            _ => {
                return Err(Error::config(
                    "field `username`: required unless `token` is given",
                ));
            }
        };
        Ok(Client {
            http,
            origin: cfg.origin(),
            auth,
        })
    }

    /// `POST /auth/request-token` with Basic auth and `{"otp": null}`.
    pub async fn request_token(
        &self,
        username: &str,
        password: &SecretString,
    ) -> Result<TokenAnswer> {
        let req = self
            .http
            .post(format!("{}/auth/request-token", self.origin))
            .basic_auth(username, Some(password.expose_secret()))
            .json(&serde_json::json!({"otp": null}));
        match self.exchange(req).await? {
            Answer::Body(b) => decode(&b),
            Answer::Rejected(e) => Err(e),
        }
    }

    /// `GET {resource}?expand=1&per_page=..&page=..[&filter=..][&sort=..]`.
    pub async fn list_page(
        &self,
        resource: &str,
        page: u64,
        per_page: u32,
        filter: Option<&str>,
        sort: Option<&str>,
    ) -> Result<Page> {
        let mut query = vec![
            ("expand", "1".to_owned()),
            ("per_page", per_page.to_string()),
            ("page", page.to_string()),
        ];
        if let Some(f) = filter {
            query.push(("filter", f.to_owned()));
        }
        if let Some(s) = sort {
            query.push(("sort", s.to_owned()));
        }
        decode(&self.read(resource, &query).await?)
    }

    /// `GET` of an absolute page URL (a `next_url`, or one built in its form).
    pub async fn list_url(&self, url: &url::Url) -> Result<Page> {
        decode(&self.read(url.as_str(), &[]).await?)
    }

    /// Whether `url` may be sent this client's token: http(s) with a host,
    /// and https whenever the configured origin is (never a downgrade).
    pub fn may_follow(&self, url: &url::Url) -> bool {
        let https = self.origin.starts_with("https:");
        url.has_host()
            && url.username().is_empty()
            && url.password().is_none()
            && match url.scheme() {
                "https" => true,
                "http" => !https,
                _ => false,
            }
    }

    /// `PATCH /v2/user/image/iso`: submits a sync request (sent once).
    pub async fn sync_personal(&self) -> Result<SyncAnswer> {
        decode(&self.write(Method::PATCH, PERSONAL).await?)
    }

    /// `GET /v2/request/image_sync/{id}`.
    pub async fn image_sync_request(&self, id: &str) -> Result<RequestAnswer> {
        decode(
            &self
                .read(&format!("/v2/request/image_sync/{id}"), &[])
                .await?,
        )
    }

    async fn token(&self) -> Result<Issued> {
        match &self.auth {
            Auth::Static(t) => Ok(Issued {
                value: t.clone(),
                generation: 0,
            }),
            Auth::Login(l) => l.cache.get(|| self.login(l)).await,
        }
    }

    async fn login(&self, login: &Login) -> Result<Fresh<SecretString>> {
        let answer = self.request_token(&login.username, &login.password).await?;
        Ok(crate::token::fresh(answer))
    }

    /// `path` is under the origin, or (a page link) an absolute URL.
    fn authed(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        token: &SecretString,
    ) -> reqwest::RequestBuilder {
        let url = if path.starts_with('/') {
            format!("{}{path}", self.origin)
        } else {
            path.to_owned()
        };
        self.http
            .request(method, url)
            .query(query)
            .bearer_auth(token.expose_secret())
            .header(CONTENT_TYPE, "application/json")
    }

    async fn read(&self, path: &str, query: &[(&str, String)]) -> Result<bytes::Bytes> {
        let issued = self.token().await?;
        let first = self.authed(Method::GET, path, query, &issued.value);
        let rejected = match self.exchange(first).await? {
            Answer::Body(b) => return Ok(b),
            Answer::Rejected(e) => e,
        };
        let Auth::Login(login) = &self.auth else {
            return Err(rejected);
        };
        // Revoked or expired early: one new token, one more try, then give up.
        let fresh = login
            .cache
            .renew(issued.generation, || self.login(login))
            .await?;
        let again = self.authed(Method::GET, path, query, &fresh.value);
        match self.exchange(again).await? {
            Answer::Body(b) => Ok(b),
            Answer::Rejected(e) => Err(Error::new(
                ErrorKind::Unauthorized,
                format!("{} (again with a freshly issued token)", e.message()),
            )
            .with_status(401)),
        }
    }

    async fn write(&self, method: Method, path: &str) -> Result<bytes::Bytes> {
        let issued = self.token().await?;
        match self
            .exchange(self.authed(method, path, &[], &issued.value))
            .await?
        {
            Answer::Body(b) => Ok(b),
            Answer::Rejected(e) => {
                if let Auth::Login(login) = &self.auth {
                    login.cache.invalidate(issued.generation).await;
                }
                Err(e)
            }
        }
    }

    /// Sends one request and reads the whole answer.
    async fn exchange(&self, req: reqwest::RequestBuilder) -> Result<Answer> {
        let resp = req.send().await.map_err(transport)?;
        let status = resp.status();
        let retry_after = isogate_http::retry_after(resp.headers());
        let body = resp.bytes().await.map_err(body_error)?;
        if status.is_success() {
            return Ok(Answer::Body(body));
        }
        let mut e = parse_error(status.as_u16(), &body);
        if let (Some(after), StatusCode::TOO_MANY_REQUESTS) = (retry_after, status) {
            e = e.with_retry_after(after);
        }
        if status == StatusCode::UNAUTHORIZED {
            return Ok(Answer::Rejected(e));
        }
        Err(e)
    }
}

pub(crate) fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T> {
    isogate_http::decode("VSS answer", body)
}

/// Failures before an answer's headers arrived.
pub(crate) fn transport(e: reqwest::Error) -> Error {
    isogate_http::transport_error("VSS", e)
}

/// Failures while reading a body whose headers arrived.
fn body_error(e: reqwest::Error) -> Error {
    isogate_http::body_error("VSS", e)
}
