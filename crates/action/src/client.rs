//! The form-encoded client: one method per upstream action, the token login
//! at `auth.php`, and the callback check at `eq_callback.php`.
//!
//! Tokens: one is cached; it is renewed before `token_expire` and, when the
//! module reports it invalid or expired (HTTP 401 or a message saying so),
//! exactly once more before the call fails `Unauthorized`. Concurrent callers
//! share one login (the cache's lock is held while logging in). Resending a
//! write after a token rejection is safe: a rejected token means the module
//! did nothing.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use isogate_core::{Error, ErrorKind, Result};
use reqwest::header::RETRY_AFTER;
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use tokio::sync::Mutex;

use crate::config::ActionConfig;
use crate::error::{is_error_body, parse_error};

/// Renew this long before the announced expiry, so a token does not lapse in flight.
const EXPIRY_MARGIN: Duration = Duration::from_secs(5);

struct Token {
    value: SecretString,
    /// Unix time after which the module will refuse it, if it said.
    expires: Option<u64>,
    generation: u64,
}

pub(crate) struct Client {
    http: reqwest::Client,
    base: String,
    module: String,
    key: SecretString,
    token: Mutex<Option<Token>>,
    generation: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("base", &self.base)
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

/// Maps a transport failure (contract all#3); never shows the URL.
fn transport(e: reqwest::Error) -> Error {
    let kind = if e.is_timeout() {
        ErrorKind::Timeout
    } else if e.is_body() || e.is_decode() {
        // The answer started and broke off: the request may have taken effect.
        return Error::upstream("upstream answer was cut off or undecodable")
            .with_retryable(false)
            .with_source(e.without_url());
    } else {
        // Refused, reset, or closed before a status line.
        ErrorKind::Unavailable
    };
    let what = match kind {
        ErrorKind::Timeout => "upstream did not answer in time",
        _ => "upstream could not be reached",
    };
    Error::new(kind, what).with_source(e.without_url())
}

impl Client {
    pub(crate) fn new(config: &ActionConfig) -> Result<Client> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_millis(config.timeout_ms))
            .connect_timeout(Duration::from_millis(config.connect_timeout_ms))
            .build()
            .map_err(|e| Error::config(format!("http client: {}", e.without_url())))?;
        Ok(Client {
            http,
            base: config.base_url.trim_end_matches('/').to_owned(),
            module: config.module.clone(),
            key: config.api_key.clone(),
            token: Mutex::new(None),
            generation: Default::default(),
        })
    }

    /// POSTs a form: status, body, and `Retry-After` in seconds.
    async fn post_raw(
        &self,
        script: &str,
        form: &[Field],
    ) -> Result<(u16, Bytes, Option<Duration>)> {
        let resp = self
            .http
            .post(format!("{}/{script}", self.base))
            .form(form)
            .send()
            .await
            .map_err(transport)?;
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let body = resp.bytes().await.map_err(transport)?;
        Ok((status, body, retry_after))
    }

    /// POSTs a form and returns the decoded success body; every error
    /// answer, whatever its status, goes through `parse_error`.
    async fn post(&self, script: &str, form: &[Field]) -> Result<Value> {
        let (status, body, retry_after) = self.post_raw(script, form).await?;
        match serde_json::from_slice::<Value>(&body) {
            Ok(v) if (200..300).contains(&status) && !is_error_body(&v) => Ok(v),
            _ => Err(error_with_retry(status, &body, retry_after)),
        }
    }

    /// `auth.php` `action=login&key=...`: `{"result":{"token","token_expire",..}}`
    /// or, from older deployments, a top-level `token`.
    async fn login(&self) -> Result<Token> {
        let form = [
            bare("action", "login"),
            bare("key", self.key.expose_secret()),
        ];
        let body = self.post("auth.php", &form).await?;
        let holder = match body.get("result") {
            Some(r @ Value::Object(_)) => r,
            _ => &body,
        };
        let token = holder
            .get("token")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| Error::upstream("login answer holds no token").with_retryable(false))?;
        let expires = holder.get("token_expire").and_then(|v| match v {
            Value::Number(n) => n.as_u64(),
            Value::String(s) => s.parse::<u64>().ok().or_else(|| {
                isogate_core::time::parse_timestamp(s).map(|t| t.timestamp().max(0) as u64)
            }),
            _ => None,
        });
        let generation = self
            .generation
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst)
            + 1;
        tracing::debug!(generation, "action module login");
        Ok(Token {
            value: SecretString::from(token.to_owned()),
            expires,
            generation,
        })
    }

    /// The cached token, logging in first when there is none or it is due.
    async fn token(&self) -> Result<(SecretString, u64)> {
        let mut slot = self.token.lock().await;
        let due = |t: &Token| {
            t.expires
                .is_some_and(|e| e <= now_unix() + EXPIRY_MARGIN.as_secs())
        };
        if slot.as_ref().is_none_or(due) {
            *slot = Some(self.login().await?);
        }
        let t = slot.as_ref().ok_or_else(|| Error::upstream("no token"))?;
        Ok((t.value.clone(), t.generation))
    }

    /// Drops the cached token unless another caller already replaced it.
    async fn invalidate(&self, generation: u64) {
        let mut slot = self.token.lock().await;
        if slot.as_ref().is_some_and(|t| t.generation == generation) {
            *slot = None;
        }
    }

    /// One call to `<module>.php`, with the one re-login the protocol needs.
    async fn call(&self, action: &str, fields: Vec<Field>) -> Result<Value> {
        let send = |token: SecretString| {
            let mut form = vec![bare("action", action), bare("token", token.expose_secret())];
            form.extend(fields.iter().cloned());
            async move { self.post(&format!("{}.php", self.module), &form).await }
        };
        let (token, generation) = self.token().await?;
        match send(token).await {
            Err(e) if e.kind() == ErrorKind::Unauthorized => {
                self.invalidate(generation).await;
                let (token, _) = self.token().await?;
                send(token).await
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

    /// `eq_callback.php` `action=check&key=...`. A `result` of "Not ready",
    /// "OK" or anything else with a message is the callback's state and is
    /// returned as the body; the `error`/`code` shapes (unknown key, bad
    /// argument) and non-2xx answers are errors.
    pub(crate) async fn check(&self, key: &str) -> Result<Value> {
        let form = [bare("action", "check"), bare("key", key)];
        let (status, body, retry_after) = self.post_raw("eq_callback.php", &form).await?;
        match serde_json::from_slice::<Value>(&body) {
            Ok(v)
                if (200..300).contains(&status)
                    && v.get("result").is_some_and(Value::is_string)
                    && v.get("error").is_none_or(Value::is_null)
                    && v.get("code").and_then(Value::as_i64).is_none_or(|c| c >= 0) =>
            {
                Ok(v)
            }
            _ => Err(error_with_retry(status, &body, retry_after)),
        }
    }
}

fn error_with_retry(status: u16, body: &[u8], retry_after: Option<Duration>) -> Error {
    let e = parse_error(status, body);
    match retry_after {
        Some(after) if e.kind() == ErrorKind::RateLimited => e.with_retry_after(after),
        _ => e,
    }
}
