//! isogate adapter for the action-style ISO module (HOSTKEY "InvAPI", seed 003).
//!
//! The module is a PHP script taking `application/x-www-form-urlencoded`
//! POSTs: `action`, `token` and `params[...]` (some actions take bare `id`
//! and `iso` fields). See [`client`] for login and token renewal and
//! [`error::parse_error`] for the error shapes.
//!
//! Operations:
//! - list: `list_iso` for the configured server (mountable images) and/or
//!   `uploaded` (the account's own images in every status), merged by id;
//!   fields of the `uploaded` record fill and override the five `list_iso` ones.
//! - get: from the listing.
//! - import: `upload` by https URL (an `http` or other URL is `InvalidInput`
//!   before any request). The module names the image after the URL's file;
//!   a different `name` or a `description` is then set with one `update`.
//!   With `admin = true`, `add` registers it instead (owner `params[private]`
//!   from the request's `params.email` or the configured `email`).
//! - update: `update` (`name` -> `params[iso_name]`, the model's name).
//! - delete: `del` with `params[pending]=1` (immediate); when the module
//!   refuses `del` as an unknown action, the alternative `delete` is sent.
//!   A refusal says the module did nothing, so this is not a retry.
//! - attach/detach: `mount_iso` (server id = `instance_id`, ISO name looked up
//!   from the native id) and `unmount_iso`, answered `Accepted` with a task
//!   whose id is the callback key; `task(id)` is one `eq_callback.php` check
//!   (with the token): `Not ready` and `OK` with scope `pending` are pending,
//!   scope `deploy_done` succeeded, `error`/`failed`/`cancelled` failed.
//! - history: `history`, oldest first.
//!
//! Visibility of `list_iso` items, which carry no `private` field: with a
//! client key and `uploaded` in the listing, every private image of the
//! account comes with its record, so the rest are public; otherwise unknown.

pub mod config;
pub mod error;

mod client;
mod convert;
#[cfg(test)]
mod live_shapes;
mod model;

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::Utc;
use isogate_core::{
    AttachRequest, Capability, DetachRequest, Error, ErrorKind, HistoryEntry, ImportRequest, Iso,
    IsoProvider, ListOptions, Listing, Outcome, ProviderKind, Result, Task, TaskStatus,
    UpdateRequest, Visibility, validate_native_id,
};
use serde_json::Value;

pub use config::{ActionConfig, ListSource};
pub use error::parse_error;

use client::Client;
use model::id_text;

/// One action-module account.
#[derive(Debug)]
pub struct ActionProvider {
    name: String,
    config: ActionConfig,
    client: Client,
    capability: Capability,
}

/// Native ids of the module are integers: anything else cannot exist there.
fn numeric_id(native_id: &str) -> Result<&str> {
    validate_native_id(native_id, false)?;
    if native_id.bytes().all(|b| b.is_ascii_digit()) {
        Ok(native_id)
    } else {
        Err(Error::not_found(format!(
            "no ISO with id '{native_id}' (ids are numeric)"
        )))
    }
}

impl ActionProvider {
    /// A provider named `name` (the instance name in global ids).
    pub fn new(name: &str, config: ActionConfig) -> Result<ActionProvider> {
        config
            .validate()
            .map_err(|e| e.with_provider(name).with_operation("config"))?;
        let client = Client::new(&config).map_err(|e| e.with_provider(name))?;
        // Seed 003 documents exactly these actions: list_iso/uploaded (list,
        // get), upload/add (import), update, del/delete, mount_iso and
        // unmount_iso with callback keys (attach, detach, tasks), history.
        // It has no download URL, no sync, and no filters, sorting or paging.
        let capability = Capability {
            list: true,
            get: true,
            import: true,
            update: true,
            delete: true,
            attach: true,
            detach: true,
            history: true,
            tasks: true,
            // iso/upload: "params[url] | ISO image URL (https://...)".
            import_schemes: &["https"],
            ..Default::default()
        };
        Ok(ActionProvider {
            name: name.to_owned(),
            config,
            client,
            capability,
        })
    }

    fn fail(&self, op: &str) -> impl Fn(Error) -> Error + '_ {
        let op = op.to_owned();
        move |e: Error| e.or_provider(&self.name).or_operation(&op)
    }

    /// The merged upstream objects, by id, in id order.
    async fn objects(&self) -> Result<Vec<Value>> {
        let mut merged: BTreeMap<(usize, String), Value> = BTreeMap::new();
        let mut put = |obj: &Value| -> Result<()> {
            let id = obj
                .get("id")
                .and_then(id_text)
                .ok_or_else(|| Error::upstream("ISO record has no id").with_retryable(false))?;
            // Numeric ids sort numerically: by length first, then text.
            let slot = merged
                .entry((id.len(), id))
                .or_insert_with(|| Value::Object(Default::default()));
            if let (Value::Object(into), Value::Object(from)) = (slot, obj) {
                into.extend(from.iter().map(|(k, v)| (k.clone(), v.clone())));
            }
            Ok(())
        };
        let array = |v: Option<&Value>, what: &str| -> Result<Vec<Value>> {
            match v {
                Some(Value::Array(a)) => Ok(a.clone()),
                Some(Value::Null) | None => Ok(Vec::new()),
                Some(_) => {
                    Err(Error::upstream(format!("{what} is not a list")).with_retryable(false))
                }
            }
        };
        if self.config.list_source.list_iso() {
            let body = self
                .client
                .list_iso(self.config.server_id.as_deref())
                .await?;
            for obj in array(body.get("iso_images"), "iso_images")? {
                put(&obj)?;
            }
        }
        if self.config.list_source.uploaded() {
            let email = self.config.email.as_deref().filter(|_| self.config.admin);
            let body = self.client.uploaded(email).await?;
            for obj in array(body.get("data"), "uploaded data")? {
                put(&obj)?;
            }
        }
        Ok(merged.into_values().collect())
    }

    fn absent_private(&self) -> Visibility {
        if !self.config.admin && self.config.list_source.uploaded() {
            Visibility::Public
        } else {
            Visibility::Unknown
        }
    }

    async fn find(&self, native_id: &str, include_raw: bool) -> Result<Iso> {
        let id = numeric_id(native_id)?;
        let obj = self
            .objects()
            .await?
            .into_iter()
            .find(|o| o.get("id").and_then(id_text).as_deref() == Some(id))
            .ok_or_else(|| Error::not_found(format!("no ISO with id {id}")))?;
        convert::to_iso(&self.name, &obj, self.absent_private(), include_raw)
    }

    /// The item as `get` shows it now, else as the write's answer shows it.
    async fn item_after_write(&self, id: &str, answer: &Value) -> Result<Outcome> {
        let item = match self.find(id, false).await {
            Ok(item) => item,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                convert::to_iso(&self.name, answer, self.absent_private(), false)?
            }
            Err(e) => return Err(e),
        };
        Ok(Outcome::Item {
            item: Box::new(item),
        })
    }

    fn accepted(&self, key: String, operation: &str) -> Outcome {
        Outcome::Accepted {
            task: Task {
                id: key,
                provider: self.name.clone(),
                operation: operation.to_owned(),
                status: TaskStatus::Pending,
                result: None,
                error: None,
                created_at: Some(Utc::now()),
            },
        }
    }

    async fn do_import(&self, req: &ImportRequest) -> Result<Outcome> {
        let url = url::Url::parse(req.url.trim())
            .map_err(|_| Error::invalid_input("url: not an absolute URL"))?;
        if url.scheme() != "https" {
            return Err(Error::invalid_input(
                "url: the module only downloads https:// URLs",
            ));
        }
        let file = url
            .path_segments()
            .and_then(|mut s| s.next_back())
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .ok_or_else(|| Error::invalid_input("url: must end in a file name"))?;
        let extra = |k: &str| req.params.get(k).filter(|v| !v.is_empty()).cloned();
        let email = extra("email").or_else(|| self.config.email.clone());
        let name = req.name.trim();
        let description = req
            .description
            .as_deref()
            .map(str::trim)
            .filter(|d| !d.is_empty());
        if self.config.admin {
            let owner = email.ok_or_else(|| {
                Error::invalid_input("params.email: add needs the owner's email (params[private])")
            })?;
            let iso_name = extra("iso_name").unwrap_or(file);
            let display = if name.is_empty() {
                iso_name.clone()
            } else {
                name.to_owned()
            };
            let short = extra("short_name").unwrap_or_else(|| {
                // The module requires a non-empty short name: from the display
                // name, else (a name with no ASCII letter or digit) the file's.
                [display.as_str(), iso_name.as_str()]
                    .iter()
                    .map(|from| short_name(from))
                    .find(|s| !s.is_empty())
                    .unwrap_or_else(|| "iso".to_owned())
            });
            let mut params = vec![
                ("name", display),
                ("short_name", short),
                ("iso_name", iso_name),
                ("private", owner),
            ];
            if let Some(d) = description {
                params.push(("description", d.to_owned()));
            }
            if let Some(s) = extra("status") {
                params.push(("status", s));
            }
            let body = self.client.add(params).await?;
            let data = body.get("data").cloned().unwrap_or(Value::Null);
            let id = data
                .get("id")
                .and_then(id_text)
                .ok_or_else(|| Error::upstream("add answer holds no id"))?;
            return self.item_after_write(&id, &data).await;
        }
        let customer = extra("customer_id").or_else(|| self.config.customer_id.clone());
        let body = self
            .client
            .upload(url.as_str(), email.as_deref(), customer.as_deref())
            .await?;
        let mut data = body.get("data").cloned().unwrap_or(Value::Null);
        let id = data
            .get("id")
            .and_then(id_text)
            .ok_or_else(|| Error::upstream("upload answer holds no id").with_retryable(false))?;
        let current = data
            .get("iso_name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let rename = (!name.is_empty() && name != current).then_some(name);
        if rename.is_some() || description.is_some() {
            let body = self.client.update(&id, description, rename).await?;
            if let Some(d) = body.get("data").filter(|d| d.is_object()) {
                data = d.clone();
            }
        }
        self.item_after_write(&id, &data).await
    }
}

#[async_trait]
impl IsoProvider for ActionProvider {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> ProviderKind {
        ProviderKind::Action
    }

    fn capability(&self) -> Capability {
        self.capability
    }

    async fn list(&self, opts: &ListOptions) -> Result<Listing> {
        let run = async {
            let mut items = Vec::new();
            for obj in self.objects().await? {
                items.push(convert::to_iso(
                    &self.name,
                    &obj,
                    self.absent_private(),
                    opts.include_raw,
                )?);
            }
            Ok(Listing {
                items,
                ..Default::default()
            })
        };
        run.await.map_err(self.fail("list"))
    }

    async fn get(&self, native_id: &str, include_raw: bool) -> Result<Iso> {
        self.find(native_id, include_raw)
            .await
            .map_err(self.fail("get"))
    }

    async fn import(&self, req: &ImportRequest) -> Result<Outcome> {
        self.do_import(req).await.map_err(self.fail("import"))
    }

    async fn update(&self, native_id: &str, req: &UpdateRequest) -> Result<Outcome> {
        let run = async {
            let id = numeric_id(native_id)?;
            let name = req.name.as_deref().map(str::trim);
            if name == Some("") {
                return Err(Error::invalid_input("name: must not be empty"));
            }
            let body = self
                .client
                .update(id, req.description.as_deref(), name)
                .await?;
            let data = body.get("data").cloned().unwrap_or(Value::Null);
            self.item_after_write(id, &data).await
        };
        run.await.map_err(self.fail("update"))
    }

    async fn delete(&self, native_id: &str) -> Result<Outcome> {
        let run = async {
            let id = numeric_id(native_id)?;
            match self.client.del(id, true).await {
                Err(e)
                    if e.kind() == ErrorKind::InvalidInput
                        && e.message().to_ascii_lowercase().contains("unknown action") =>
                {
                    tracing::debug!(provider = %self.name, "del refused as unknown; using delete");
                    self.client.delete(id).await?;
                }
                other => {
                    other?;
                }
            }
            Ok(Outcome::Done)
        };
        run.await.map_err(self.fail("delete"))
    }

    async fn attach(&self, native_id: &str, req: &AttachRequest) -> Result<Outcome> {
        let run = async {
            let server = server_id(&req.instance_id)?;
            let item = self.find(native_id, true).await?;
            let iso_name = item
                .raw
                .as_ref()
                .and_then(|r| r.get("iso_name"))
                .and_then(Value::as_str)
                .unwrap_or(&item.name)
                .to_owned();
            let body = self.client.mount_iso(server, &iso_name).await?;
            let key = convert::callback_key(&body)
                .ok_or_else(|| Error::upstream("mount_iso answer holds no callback key"))?;
            Ok(self.accepted(key, "attach"))
        };
        run.await.map_err(self.fail("attach"))
    }

    async fn detach(&self, req: &DetachRequest) -> Result<Outcome> {
        let run = async {
            let server = server_id(&req.instance_id)?;
            let body = self.client.unmount_iso(server).await?;
            let key = convert::callback_key(&body)
                .ok_or_else(|| Error::upstream("unmount_iso answer holds no callback key"))?;
            Ok(self.accepted(key, "detach"))
        };
        run.await.map_err(self.fail("detach"))
    }

    async fn history(&self, native_id: &str) -> Result<Vec<HistoryEntry>> {
        let run = async {
            let id = numeric_id(native_id)?;
            let body = self.client.history(id).await?;
            convert::history(body.get("data").unwrap_or(&Value::Null))
        };
        run.await.map_err(self.fail("history"))
    }

    async fn task(&self, task_id: &str) -> Result<Task> {
        let run = async {
            validate_native_id(task_id, false)?;
            let body = self.client.check(task_id).await?;
            let state = convert::callback(&body);
            Ok(Task {
                id: task_id.to_owned(),
                provider: self.name.clone(),
                operation: state.operation.to_owned(),
                status: state.status,
                result: state.result,
                error: state.error,
                created_at: None,
            })
        };
        run.await.map_err(self.fail("task"))
    }
}

/// A short name: the ASCII letters and digits of `from`, lower case, at most 32.
fn short_name(from: &str) -> String {
    from.chars()
        .filter(char::is_ascii_alphanumeric)
        .take(32)
        .collect::<String>()
        .to_ascii_lowercase()
}

/// Server ids are integers in the module: another id names no server there
/// (not found, as for ISO ids); only an empty one is malformed.
fn server_id(instance_id: &str) -> Result<&str> {
    // Only a truly empty id is malformed; blanks (U+00A0 too) name no server.
    if instance_id.is_empty() {
        return Err(Error::invalid_input("instance_id: must not be empty"));
    }
    let id = instance_id.trim();
    if !id.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Error::not_found(format!(
            "no server with id '{id}' (the module's server ids are numeric)"
        )));
    }
    Ok(id)
}
