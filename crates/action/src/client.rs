//! The form-encoded client: one method per upstream action, the token login
//! at `auth.php`, and the callback check at `eq_callback.php` (with the
//! token, as upstream's own client sends it).
//!
//! Tokens: one is cached; login asks for `ttl` seconds; it is renewed before
//! `token_expire` and, when the module reports it invalid or expired (HTTP
//! 401 or a message saying "invalid token", "token expired", "invalid hash"),
//! exactly once more before the call fails `Unauthorized`.
//!
//! Hosts: the API key only ever goes to the configured `base_url`; when a
//! login answer names an `invapi` host, every later call (module and
//! callback) goes there instead, as upstream's client does. An https base is
//! never switched to plain http. Concurrent callers
//! share one login (the cache's lock is held while logging in). Resending a
//! write after a token rejection is safe: a rejected token means the module
//! did nothing.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use isogate_core::{Error, ErrorKind, Result};
use isogate_http::{Fresh, Margin, TokenCache};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

use crate::config::ActionConfig;
use crate::convert;
use crate::error::{is_callback_state, is_error_body, parse_error};

/// Renew 5 s before the announced expiry, so a token does not lapse in flight.
const EXPIRY_MARGIN: Margin = Margin {
    max: Duration::from_secs(5),
    fraction: 1,
};

pub(crate) struct Client {
    http: reqwest::Client,
    /// Where `auth.php` is (the configured base).
    login_base: String,
    /// Where calls go: the configured base, or the `invapi` host a login named.
    base: std::sync::RwLock<String>,
    module: String,
    key: SecretString,
    ttl_s: u64,
    token: TokenCache<SecretString>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("base", &self.login_base)
            .field("module", &self.module)
            .finish_non_exhaustive()
    }
}

/// One form field.
pub(crate) type Field = (String, String);

fn p(name: &str, value: impl Into<String>) -> Field {
    (format!("params[{name}]"), value.into())
}
fn bare(name: &str, value: impl Into<String>) -> Field {
    (name.to_owned(), value.into())
}

fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Client {
    pub(crate) fn new(config: &ActionConfig) -> Result<Client> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_millis(config.timeout_ms))
            .connect_timeout(Duration::from_millis(config.connect_timeout_ms))
            .build()
            .map_err(|e| Error::config(format!("http client: {}", e.without_url())))?;
        let base = config.base_url.trim_end_matches('/').to_owned();
        Ok(Client {
            http,
            base: std::sync::RwLock::new(base.clone()),
            login_base: base,
            module: config.module.clone(),
            key: config.api_key.clone(),
            ttl_s: config.token_ttl_s,
            token: TokenCache::new(EXPIRY_MARGIN),
        })
    }

    /// Where calls go now.
    pub(crate) fn base(&self) -> String {
        self.base.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// POSTs a form: status, body, and `Retry-After`.
    async fn post_raw(
        &self,
        base: &str,
        script: &str,
        form: &[Field],
    ) -> Result<(u16, Bytes, Option<Duration>)> {
        let resp = self
            .http
            .post(format!("{base}/{script}"))
            .form(form)
            .send()
            .await
            .map_err(|e| isogate_http::transport_error("upstream", e))?;
        let status = resp.status().as_u16();
        let retry_after = isogate_http::retry_after(resp.headers());
        let body = resp
            .bytes()
            .await
            .map_err(|e| isogate_http::body_error("upstream", e))?;
        Ok((status, body, retry_after))
    }

    /// POSTs a form and returns the decoded 2xx body that `accept` takes;
    /// every other answer, whatever its status, goes through `parse_error`.
    async fn post(
        &self,
        base: &str,
        script: &str,
        form: &[Field],
        accept: fn(&Value) -> bool,
    ) -> Result<Value> {
        let (status, body, retry_after) = self.post_raw(base, script, form).await?;
        match serde_json::from_slice::<Value>(&body) {
            Ok(v) if (200..300).contains(&status) && accept(&v) => Ok(v),
            _ => Err(error_with_retry(status, &body, retry_after)),
        }
    }

    /// `auth.php` `action=login&key=...&ttl=...` at the configured base;
    /// the answer's shapes are [`convert::login`]'s.
    async fn login(&self) -> Result<Fresh<SecretString>> {
        let form = [
            bare("action", "login"),
            bare("key", self.key.expose_secret()),
            bare("ttl", self.ttl_s.to_string()),
        ];
        let body = self
            .post(&self.login_base, "auth.php", &form, |v| !is_error_body(v))
            .await?;
        let login = convert::login(&body)?;
        if let Some(host) = login.invapi {
            self.use_base(host);
        }
        tracing::debug!("action module login");
        Ok(Fresh {
            value: SecretString::from(login.token),
            // `expires` is the module's Unix time; no expiry: until refused.
            lifetime: login
                .expires
                .map(|e| Duration::from_secs(e.saturating_sub(now_unix()))),
        })
    }

    /// Sends later calls to the `invapi` host a login named (never from
    /// https down to http).
    fn use_base(&self, host: String) {
        let mut base = self.base.write().unwrap_or_else(|p| p.into_inner());
        if *base == host {
            return;
        }
        if self.login_base.starts_with("https://") && !host.starts_with("https://") {
            tracing::warn!(
                "action module login named a plain-http invapi host; kept the https one"
            );
            return;
        }
        tracing::debug!("action module login named another invapi host; later calls go there");
        *base = host;
    }

    /// One call to `<module>.php`, with the one re-login the protocol needs.
    async fn call(&self, action: &str, fields: Vec<Field>) -> Result<Value> {
        let script = format!("{}.php", self.module);
        self.call_script(&script, action, fields, |v| !is_error_body(v))
            .await
    }

    /// One call with the token to `script` on the current base, logging in
    /// once more when the token is refused.
    async fn call_script(
        &self,
        script: &str,
        action: &str,
        fields: Vec<Field>,
        accept: fn(&Value) -> bool,
    ) -> Result<Value> {
        let send = |token: SecretString| {
            let mut form = vec![bare("action", action), bare("token", token.expose_secret())];
            form.extend(fields.iter().cloned());
            async move { self.post(&self.base(), script, &form, accept).await }
        };
        let login = || self.login();
        let token = self.token.get(login).await?;
        match send(token.value).await {
            Err(e) if e.kind() == ErrorKind::Unauthorized => {
                // The one re-login: another caller's fresh token, or a new one.
                let fresh = self.token.renew(token.generation, login).await?;
                send(fresh.value).await
            }
            other => other,
        }
    }

    pub(crate) async fn add(&self, params: Vec<(&str, String)>) -> Result<Value> {
        let fields = params.into_iter().map(|(k, v)| p(k, v)).collect();
        self.call("add", fields).await
    }

    pub(crate) async fn del(&self, id: &str, pending: bool) -> Result<Value> {
        let mut fields = vec![p("id", id)];
        if pending {
            fields.push(p("pending", "1"));
        }
        self.call("del", fields).await
    }

    pub(crate) async fn delete(&self, id: &str) -> Result<Value> {
        self.call("delete", vec![bare("id", id)]).await
    }

    pub(crate) async fn history(&self, id: &str) -> Result<Value> {
        self.call("history", vec![bare("id", id)]).await
    }

    pub(crate) async fn list_iso(&self, server_id: Option<&str>) -> Result<Value> {
        let fields = server_id.map(|s| bare("id", s)).into_iter().collect();
        self.call("list_iso", fields).await
    }

    pub(crate) async fn mount_iso(&self, server_id: &str, iso_name: &str) -> Result<Value> {
        let fields = vec![bare("id", server_id), bare("iso", iso_name)];
        self.call("mount_iso", fields).await
    }

    pub(crate) async fn unmount_iso(&self, server_id: &str) -> Result<Value> {
        self.call("unmount_iso", vec![bare("id", server_id)]).await
    }

    pub(crate) async fn update(
        &self,
        id: &str,
        description: Option<&str>,
        iso_name: Option<&str>,
    ) -> Result<Value> {
        let mut fields = vec![p("id", id)];
        if let Some(d) = description {
            fields.push(p("description", d));
        }
        if let Some(n) = iso_name {
            fields.push(p("iso_name", n));
        }
        self.call("update", fields).await
    }

    pub(crate) async fn upload(
        &self,
        url: &str,
        email: Option<&str>,
        customer_id: Option<&str>,
    ) -> Result<Value> {
        let mut fields = vec![p("url", url)];
        if let Some(e) = email {
            fields.push(p("email", e));
        }
        if let Some(c) = customer_id {
            fields.push(p("customer_id", c));
        }
        self.call("upload", fields).await
    }

    pub(crate) async fn uploaded(&self, email: Option<&str>) -> Result<Value> {
        let fields = email.map(|e| p("email", e)).into_iter().collect();
        self.call("uploaded", fields).await
    }

    /// `eq_callback.php` `action=check&key=...&token=...`. Any callback
    /// state (see [`convert::callback`]), "error" and "cancelled" included,
    /// is returned as the body; the `error`/`code` shapes (unknown key, bad
    /// argument), session failures and non-2xx answers are errors.
    pub(crate) async fn check(&self, key: &str) -> Result<Value> {
        self.call_script(
            "eq_callback.php",
            "check",
            vec![bare("key", key)],
            is_callback_state,
        )
        .await
    }
}

fn error_with_retry(status: u16, body: &[u8], retry_after: Option<Duration>) -> Error {
    let e = parse_error(status, body);
    match retry_after {
        Some(after) if e.kind() == ErrorKind::RateLimited => e.with_retry_after(after),
        _ => e,
    }
}
