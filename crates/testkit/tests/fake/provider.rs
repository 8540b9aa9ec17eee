//! A test-only adapter for the fake upstream, written to the contract, with
//! switches that break it on purpose for the negative self-test.

use std::time::Duration;

use async_trait::async_trait;
use isogate_core::query::{Field, Op};
use isogate_core::{
    AttachRequest, Capability, DetachRequest, Error, ErrorKind, HistoryEntry, ImportRequest, Iso,
    IsoProvider, ItemKind, ListOptions, Listing, Outcome, ProviderKind, Pushdown, Result, Status,
    Task, TaskError, TaskStatus, UpdateRequest, validate_native_id,
};
use reqwest::Method;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};

/// Deliberate contract breaches.
#[derive(Clone, Copy, Debug, Default)]
pub struct Broken {
    /// get#2: a 404 becomes `Upstream`.
    pub missing_is_upstream: bool,
    /// all#4: error messages and a log line carry the API key.
    pub leak_secret: bool,
    /// all#5: a write answered 5xx is sent again.
    pub retry_writes: bool,
    /// sync#1: sync panics.
    pub panic_in_sync: bool,
    /// history#1: history never returns.
    pub hang_in_history: bool,
    /// all#3: a cut body is `Unavailable`.
    pub truncation_unavailable: bool,
    /// list#5: `name like` is reported pushed down but not applied.
    pub false_pushdown: bool,
    /// get#1: `get` drops the description.
    pub get_differs: bool,
    /// all#1: `task` errors name no provider.
    pub anonymous_task_errors: bool,
    /// list#2: an empty answer is `NotFound`.
    pub empty_is_error: bool,
    /// all#2: the capability switches history off, but history still calls.
    pub history_off_but_called: bool,
    /// get#3: ids are sent as they are.
    pub unvalidated_ids: bool,
    /// import#2: the upstream is left to reject bad imports.
    pub unvalidated_import: bool,
}

pub struct FakeProvider {
    name: String,
    base: String,
    key: SecretString,
    http: reqwest::Client,
    broken: Broken,
}

impl std::fmt::Debug for FakeProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeProvider")
            .field("name", &self.name)
            .field("base", &self.base)
            .field("key", &self.key)
            .finish()
    }
}

impl FakeProvider {
    pub fn new(name: &str, base: String, key: &str, broken: Broken) -> FakeProvider {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(1))
            .build()
            .expect("client");
        FakeProvider {
            name: name.to_owned(),
            base,
            key: SecretString::from(key.to_owned()),
            http,
            broken,
        }
    }

    fn err(&self, op: &str, e: Error) -> Error {
        e.with_provider(&self.name).with_operation(op)
    }

    fn transport(&self, op: &str, e: reqwest::Error) -> Error {
        let e = e.without_url();
        let kind = if e.is_timeout() {
            ErrorKind::Timeout
        } else if (e.is_body() || e.is_decode()) && !self.broken.truncation_unavailable {
            ErrorKind::Upstream
        } else {
            ErrorKind::Unavailable
        };
        let msg = format!("transport: {e}");
        self.err(op, Error::new(kind, msg).with_source(e))
    }

    fn status_error(&self, op: &str, status: u16, retry_after: Option<u64>, body: &[u8]) -> Error {
        let upstream: String = serde_json::from_slice::<Value>(body)
            .ok()
            .and_then(|v| v.get("message").and_then(Value::as_str).map(str::to_owned))
            .unwrap_or_else(|| "no message".into());
        let mut msg = format!("upstream said: {upstream}");
        if self.broken.leak_secret {
            msg.push_str(&format!(" (key {})", self.key.expose_secret()));
        }
        let kind = match status {
            401 => ErrorKind::Unauthorized,
            403 => ErrorKind::Forbidden,
            404 if self.broken.missing_is_upstream => ErrorKind::Upstream,
            404 => ErrorKind::NotFound,
            400 | 422 => ErrorKind::InvalidInput,
            409 => ErrorKind::Conflict,
            429 => ErrorKind::RateLimited,
            _ => ErrorKind::Upstream,
        };
        let mut e = Error::new(kind, msg).with_status(status);
        if status >= 500 {
            e = e.with_retryable(true);
        }
        if let Some(s) = retry_after {
            e = e.with_retry_after(Duration::from_secs(s));
        }
        self.err(op, e)
    }

    /// One request; the decoded JSON body (`Null` for an empty one).
    async fn call(
        &self,
        op: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value> {
        if self.broken.leak_secret {
            tracing::debug!(key = self.key.expose_secret(), path, "calling the fake");
        }
        let write = method != Method::GET;
        let mut tries = if write && self.broken.retry_writes {
            2
        } else {
            1
        };
        loop {
            tries -= 1;
            let mut req = self
                .http
                .request(method.clone(), format!("{}{path}", self.base))
                .header("x-api-key", self.key.expose_secret());
            if let Some(b) = &body {
                req = req.json(b);
            }
            let resp = req.send().await.map_err(|e| self.transport(op, e))?;
            let status = resp.status().as_u16();
            let retry_after = resp
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse().ok());
            let bytes = resp.bytes().await.map_err(|e| self.transport(op, e))?;
            if status >= 500 && tries > 0 {
                continue;
            }
            if !(200..300).contains(&status) {
                return Err(self.status_error(op, status, retry_after, &bytes));
            }
            if bytes.is_empty() {
                return Ok(Value::Null);
            }
            return serde_json::from_slice(&bytes)
                .map_err(|e| self.err(op, Error::upstream(format!("undecodable body: {e}"))));
        }
    }

    fn check_id(&self, op: &str, id: &str) -> Result<()> {
        if self.broken.unvalidated_ids {
            return Ok(());
        }
        validate_native_id(id, false).map_err(|e| self.err(op, e))
    }

    fn iso(&self, op: &str, v: &Value, raw: bool) -> Result<Iso> {
        let id = v.get("id").and_then(Value::as_u64);
        let name = v.get("name").and_then(Value::as_str);
        let (Some(id), Some(name)) = (id, name) else {
            return Err(self.err(op, Error::upstream("item without id or name")));
        };
        let mut iso = Iso::new(
            &self.name,
            ProviderKind::Cloudmc,
            ItemKind::Iso,
            &id.to_string(),
            name,
        );
        iso.description = v
            .get("description")
            .and_then(Value::as_str)
            .map(str::to_owned);
        iso.extractable = v.get("extractable").and_then(Value::as_bool);
        iso.status = match v.get("ready").and_then(Value::as_bool) {
            Some(true) => Status::Ready,
            Some(false) => Status::Processing,
            None => Status::Unknown,
        };
        if raw {
            iso.raw = Some(v.clone());
        }
        Ok(iso)
    }

    fn task_of(&self, op: &str, v: &Value) -> Result<Task> {
        let id = v
            .get("task_id")
            .or_else(|| v.get("id"))
            .and_then(Value::as_str);
        let Some(id) = id else {
            return Err(self.err(op, Error::upstream("task without id")));
        };
        let status = match v.get("status").and_then(Value::as_str) {
            Some("succeeded") => TaskStatus::Succeeded,
            Some("failed") => TaskStatus::Failed,
            _ => TaskStatus::Pending,
        };
        Ok(Task {
            id: id.to_owned(),
            provider: self.name.clone(),
            operation: v.get("op").and_then(Value::as_str).unwrap_or(op).to_owned(),
            status,
            result: v.get("result").filter(|r| !r.is_null()).cloned(),
            error: v.get("error").and_then(Value::as_str).map(|m| TaskError {
                code: "upstream".into(),
                message: m.to_owned(),
            }),
            created_at: None,
        })
    }
}

#[async_trait]
impl IsoProvider for FakeProvider {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> ProviderKind {
        ProviderKind::Cloudmc
    }

    fn capability(&self) -> Capability {
        // Everything the fake upstream serves; only `name eq` filters upstream.
        Capability {
            list: true,
            get: true,
            import: true,
            update: true,
            delete: true,
            attach: true,
            detach: true,
            download_url: true,
            history: !self.broken.history_off_but_called,
            sync: true,
            tasks: true,
            filter_pushdown: true,
            ..Default::default()
        }
    }

    async fn list(&self, opts: &ListOptions) -> Result<Listing> {
        let pushed = opts
            .filters
            .iter()
            .position(|f| f.field == Field::Name && f.op == Op::Eq);
        let claimed = opts
            .filters
            .iter()
            .position(|f| f.field == Field::Name && f.op == Op::Like)
            .filter(|_| self.broken.false_pushdown);
        let path = match pushed {
            Some(i) => {
                let q = serde_urlencoded_name(&opts.filters[i].raw);
                format!("/isos?name={q}")
            }
            None => "/isos".to_owned(),
        };
        let v = self.call("list", Method::GET, &path, None).await?;
        let Some(data) = v.get("data").and_then(Value::as_array) else {
            return Err(self.err("list", Error::upstream("no data array")));
        };
        if data.is_empty() && self.broken.empty_is_error {
            return Err(self.err("list", Error::not_found("nothing listed")));
        }
        let items = data
            .iter()
            .map(|x| self.iso("list", x, opts.include_raw))
            .collect::<Result<Vec<_>>>()?;
        Ok(Listing {
            items,
            pushdown: Pushdown {
                filters: pushed.into_iter().chain(claimed).collect(),
                sorted: false,
            },
            incomplete: None,
        })
    }

    async fn get(&self, native_id: &str, include_raw: bool) -> Result<Iso> {
        self.check_id("get", native_id)?;
        let v = self
            .call("get", Method::GET, &format!("/isos/{native_id}"), None)
            .await?;
        let mut iso = self.iso("get", v.get("data").unwrap_or(&Value::Null), include_raw)?;
        if self.broken.get_differs {
            iso.description = None;
        }
        Ok(iso)
    }

    async fn import(&self, req: &ImportRequest) -> Result<Outcome> {
        let invalid = req.name.trim().is_empty() || !req.url.starts_with("http://");
        if invalid && !self.broken.unvalidated_import {
            return Err(self.err(
                "import",
                Error::invalid_input("a name and an http:// URL are required"),
            ));
        }
        let body = json!({"name": req.name, "url": req.url, "description": req.description});
        let v = self
            .call("import", Method::POST, "/isos", Some(body))
            .await?;
        Ok(Outcome::Accepted {
            task: self.task_of("import", &v)?,
        })
    }

    async fn update(&self, native_id: &str, req: &UpdateRequest) -> Result<Outcome> {
        self.check_id("update", native_id)?;
        let body = json!({"name": req.name, "description": req.description});
        let v = self
            .call(
                "update",
                Method::PATCH,
                &format!("/isos/{native_id}"),
                Some(body),
            )
            .await?;
        let item = self.iso("update", v.get("data").unwrap_or(&Value::Null), false)?;
        Ok(Outcome::Item {
            item: Box::new(item),
        })
    }

    async fn delete(&self, native_id: &str) -> Result<Outcome> {
        self.check_id("delete", native_id)?;
        self.call(
            "delete",
            Method::DELETE,
            &format!("/isos/{native_id}"),
            None,
        )
        .await?;
        Ok(Outcome::Done)
    }

    async fn attach(&self, native_id: &str, req: &AttachRequest) -> Result<Outcome> {
        self.check_id("attach", native_id)?;
        let body = json!({"instance_id": req.instance_id});
        let v = self
            .call(
                "attach",
                Method::POST,
                &format!("/isos/{native_id}/attach"),
                Some(body),
            )
            .await?;
        Ok(Outcome::Accepted {
            task: self.task_of("attach", &v)?,
        })
    }

    async fn detach(&self, req: &DetachRequest) -> Result<Outcome> {
        self.check_id("detach", &req.instance_id)?;
        let path = format!("/instances/{}/detach", req.instance_id);
        self.call("detach", Method::POST, &path, None).await?;
        Ok(Outcome::Done)
    }

    async fn download_url(&self, native_id: &str) -> Result<Outcome> {
        self.check_id("download_url", native_id)?;
        let path = format!("/isos/{native_id}/download");
        let v = self.call("download_url", Method::POST, &path, None).await?;
        Ok(Outcome::Accepted {
            task: self.task_of("download_url", &v)?,
        })
    }

    async fn history(&self, native_id: &str) -> Result<Vec<HistoryEntry>> {
        if self.broken.hang_in_history {
            std::future::pending::<()>().await;
        }
        self.check_id("history", native_id)?;
        let path = format!("/isos/{native_id}/history");
        let v = self.call("history", Method::GET, &path, None).await?;
        let entries = v
            .get("data")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        Ok(entries
            .iter()
            .map(|e| HistoryEntry {
                at: e
                    .get("at")
                    .and_then(Value::as_str)
                    .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
                    .map(|t| t.to_utc()),
                operation: e
                    .get("op")
                    .and_then(Value::as_str)
                    .unwrap_or("unknown")
                    .to_owned(),
                actor: None,
                message: None,
                labels: Default::default(),
            })
            .collect())
    }

    async fn sync(&self) -> Result<Outcome> {
        if self.broken.panic_in_sync {
            panic!("sync exploded");
        }
        let v = self.call("sync", Method::POST, "/sync", None).await?;
        Ok(Outcome::Accepted {
            task: self.task_of("sync", &v)?,
        })
    }

    async fn task(&self, task_id: &str) -> Result<Task> {
        let r = self.task_inner(task_id).await;
        if self.broken.anonymous_task_errors {
            return r.map_err(|e| Error::new(e.kind(), e.message().to_owned()));
        }
        r
    }
}

impl FakeProvider {
    async fn task_inner(&self, task_id: &str) -> Result<Task> {
        self.check_id("task", task_id)?;
        let v = self
            .call("task", Method::GET, &format!("/tasks/{task_id}"), None)
            .await?;
        self.task_of("task", &v)
    }
}

/// Percent-encodes a query value (the fake's names are plain, but be exact).
fn serde_urlencoded_name(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}
