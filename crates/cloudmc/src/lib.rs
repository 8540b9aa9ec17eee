//! isogate-cloudmc: CloudMC ISOs (API v1 and v2), and the shared CloudMC
//! HTTP client ([`client::CloudMcClient`]) that `isogate-cox` builds on.
//!
//! Operations by `api_version`:
//! - v1: list, get (the v1 seed documents nothing else).
//! - v2: list, get, import, attach, detach, download URL, delete, tasks.
//!
//! Choices:
//! - Import: CloudStack's `registerIso` is synchronous, so an answer
//!   `{"data": iso}` is `Outcome::Item` (status `processing` until the upstream
//!   says `ready`); a task answer is `Outcome::Accepted`. The request is
//!   checked first (import#2): `http://` URL only, `osTypeId` required when
//!   bootable and only then. A missing description is sent as the name (the
//!   seed requires one). `params` are not used by CloudMC and are ignored.
//! - Attach, detach, download URL and delete answer `Outcome::Accepted`; the
//!   task id is the upstream's, verbatim. The upstream's task answer does not
//!   say which operation started it, so the provider remembers the operation
//!   of tasks it started (the last 4096) and reports `unknown` for others.
//!   An empty delete answer is `Outcome::Done`.
//! - A download URL is in the succeeded task's `result.url`.
//!   Refused with a 400, it is told apart by reading the item: not
//!   extractable or not ready is `Conflict` (a state, not bad input).

pub mod client;
pub mod config;
pub mod convert;
pub mod error;
mod model;

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use async_trait::async_trait;
use isogate_core::{
    AttachRequest, Capability, DetachRequest, Error, ErrorKind, ImportRequest, Iso, IsoProvider,
    ListOptions, Listing, Outcome, ProviderKind, Result, Status, Task, validate_native_id,
};
use serde_json::{Value, json};

pub use client::CloudMcClient;
pub use config::{ApiVersion, CloudMcConfig};

use client::WriteAnswer;

/// How many started tasks' operations are remembered.
const REMEMBERED_TASKS: usize = 4096;

/// A CloudMC ISO catalogue (one service connection and environment).
#[derive(Debug)]
pub struct CloudMcProvider {
    name: String,
    version: ApiVersion,
    client: CloudMcClient,
    capability: Capability,
    operations: Mutex<(HashMap<String, String>, VecDeque<String>)>,
}

impl CloudMcProvider {
    /// A provider named `name` (its instance name in ids and errors).
    pub fn new(name: &str, config: CloudMcConfig) -> Result<CloudMcProvider> {
        config
            .validate()
            .map_err(|e| e.with_provider(name).with_operation("config"))?;
        let client = CloudMcClient::new(config.client_settings())
            .map_err(|e| e.with_provider(name).with_operation("config"))?;
        let capability = match config.api_version {
            // The v1 seed documents list and get only.
            ApiVersion::V1 => Capability {
                list: true,
                get: true,
                ..Default::default()
            },
            // The v2 seed: list, get, import, attach, generateDownloadUrl,
            // delete; detach via instances; tasks at {base}/tasks. No paging,
            // filters or sorting are documented, so nothing is pushed down.
            ApiVersion::V2 => Capability {
                list: true,
                get: true,
                import: true,
                delete: true,
                attach: true,
                detach: true,
                download_url: true,
                tasks: true,
                // The v2 seed's import: "`url` ... N.B. only `http` protocol
                // is supported".
                import_schemes: &["http"],
                ..Default::default()
            },
        };
        Ok(CloudMcProvider {
            name: name.to_owned(),
            version: config.api_version,
            client,
            capability,
            operations: Mutex::new((HashMap::new(), VecDeque::new())),
        })
    }

    /// Why the item cannot give a download URL now, if its state says so.
    async fn download_conflict(&self, native_id: &str) -> Option<Error> {
        let iso = self.get(native_id, false).await.ok()?;
        let why = if iso.extractable == Some(false) {
            "the ISO was not imported as extractable"
        } else if iso.status != Status::Ready {
            "the ISO is not ready yet"
        } else {
            return None;
        };
        Some(Error::new(
            ErrorKind::Conflict,
            format!("no download URL: {why}"),
        ))
    }

    /// The shared client (for tools built on this provider).
    pub fn client(&self) -> &CloudMcClient {
        &self.client
    }

    /// The API version configured.
    pub fn api_version(&self) -> ApiVersion {
        self.version
    }

    fn fail(&self, op: &'static str) -> impl Fn(Error) -> Error + '_ {
        move |e| e.or_provider(&self.name).or_operation(op)
    }

    fn check(&self, op: &'static str, allowed: bool) -> Result<()> {
        if allowed {
            Ok(())
        } else {
            Err(Error::unsupported(op).with_provider(&self.name))
        }
    }

    fn remember(&self, task_id: &str, op: &str) {
        let mut guard = self.operations.lock().unwrap_or_else(|p| p.into_inner());
        let (map, order) = &mut *guard;
        if map.insert(task_id.to_owned(), op.to_owned()).is_none() {
            order.push_back(task_id.to_owned());
        }
        while order.len() > REMEMBERED_TASKS {
            if let Some(old) = order.pop_front() {
                map.remove(&old);
            }
        }
    }

    fn operation_of(&self, task_id: &str) -> String {
        let guard = self.operations.lock().unwrap_or_else(|p| p.into_inner());
        guard
            .0
            .get(task_id)
            .cloned()
            .unwrap_or_else(|| "unknown".into())
    }

    /// A write's answer as an outcome: tasks are `Accepted`, data is an item.
    fn outcome(&self, op: &'static str, answer: WriteAnswer) -> Result<Outcome> {
        match answer {
            WriteAnswer::Task(t) => {
                self.remember(&t.id, op);
                Ok(Outcome::Accepted {
                    task: convert::task_from_upstream(&self.name, op, t),
                })
            }
            WriteAnswer::Data(v) if op == "import" => Ok(Outcome::Item {
                item: Box::new(convert::iso_from_value(&self.name, v, false)?),
            }),
            WriteAnswer::Data(_) | WriteAnswer::Empty if op == "delete" => Ok(Outcome::Done),
            _ => Err(Error::upstream(
                "upstream answered without the task this operation starts",
            )),
        }
    }
}

fn check_id(id: &str, what: &str) -> Result<()> {
    validate_native_id(id, false)
        .map_err(|e| Error::invalid_input(format!("{what}: {}", e.message())))
}

/// The seed's import rules, checked before any request (import#2).
fn import_body(req: &ImportRequest) -> Result<Value> {
    if req.name.trim().is_empty() {
        return Err(Error::invalid_input("import: name is required"));
    }
    let url = url::Url::parse(&req.url)
        .map_err(|_| Error::invalid_input("import: url is not an absolute URL"))?;
    if url.scheme() != "http" || !url.has_host() {
        return Err(Error::invalid_input(
            "import: CloudMC only imports from http:// URLs",
        ));
    }
    let bootable = req.bootable.unwrap_or(false);
    match (&req.os_type_id, bootable) {
        (None, true) => {
            return Err(Error::invalid_input(
                "import: os_type_id is required when bootable is true",
            ));
        }
        (Some(_), false) => {
            return Err(Error::invalid_input(
                "import: os_type_id may only be given when bootable is true",
            ));
        }
        _ => {}
    }
    let description = req
        .description
        .clone()
        .filter(|d| !d.trim().is_empty())
        .unwrap_or_else(|| req.name.clone());
    let mut body = json!({"name": req.name, "description": description, "url": req.url});
    if let Some(zone) = &req.zone_id {
        body["zoneId"] = json!(zone);
    }
    if let Some(b) = req.bootable {
        body["bootable"] = json!(b);
    }
    if let Some(os) = &req.os_type_id {
        body["osTypeId"] = json!(os);
    }
    if let Some(x) = req.extractable {
        body["extractable"] = json!(x);
    }
    Ok(body)
}

#[async_trait]
impl IsoProvider for CloudMcProvider {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> ProviderKind {
        ProviderKind::Cloudmc
    }

    fn capability(&self) -> Capability {
        self.capability
    }

    async fn list(&self, opts: &ListOptions) -> Result<Listing> {
        let items = self
            .client
            .list_isos(|v| convert::iso_from_value(&self.name, v, opts.include_raw))
            .await
            .map_err(self.fail("list"))?;
        Ok(Listing {
            items,
            ..Default::default()
        })
    }

    async fn get(&self, native_id: &str, include_raw: bool) -> Result<Iso> {
        check_id(native_id, "id").map_err(self.fail("get"))?;
        let raw = self
            .client
            .get_iso(native_id)
            .await
            .map_err(self.fail("get"))?;
        convert::iso_from_value(&self.name, raw, include_raw).map_err(self.fail("get"))
    }

    async fn import(&self, req: &ImportRequest) -> Result<Outcome> {
        self.check("import", self.capability.import)?;
        let body = import_body(req).map_err(self.fail("import"))?;
        let answer = self
            .client
            .import_iso(&body)
            .await
            .map_err(self.fail("import"))?;
        self.outcome("import", answer).map_err(self.fail("import"))
    }

    async fn delete(&self, native_id: &str) -> Result<Outcome> {
        self.check("delete", self.capability.delete)?;
        check_id(native_id, "id").map_err(self.fail("delete"))?;
        let answer = self
            .client
            .delete_iso(native_id)
            .await
            .map_err(self.fail("delete"))?;
        self.outcome("delete", answer).map_err(self.fail("delete"))
    }

    async fn attach(&self, native_id: &str, req: &AttachRequest) -> Result<Outcome> {
        self.check("attach", self.capability.attach)?;
        check_id(native_id, "id").map_err(self.fail("attach"))?;
        check_id(&req.instance_id, "instance_id").map_err(self.fail("attach"))?;
        let answer = self
            .client
            .attach_iso(native_id, &req.instance_id)
            .await
            .map_err(self.fail("attach"))?;
        self.outcome("attach", answer).map_err(self.fail("attach"))
    }

    async fn detach(&self, req: &DetachRequest) -> Result<Outcome> {
        self.check("detach", self.capability.detach)?;
        check_id(&req.instance_id, "instance_id").map_err(self.fail("detach"))?;
        let answer = self
            .client
            .detach_iso(&req.instance_id)
            .await
            .map_err(self.fail("detach"))?;
        self.outcome("detach", answer).map_err(self.fail("detach"))
    }

    async fn download_url(&self, native_id: &str) -> Result<Outcome> {
        self.check("download_url", self.capability.download_url)?;
        check_id(native_id, "id").map_err(self.fail("download_url"))?;
        let answer = match self.client.generate_download_url(native_id).await {
            Ok(answer) => answer,
            Err(e) if e.kind() == ErrorKind::InvalidInput => {
                // CloudMC answers 400 for an ISO not extractable or not
                // ready as for a malformed request: read the item to tell
                // a state conflict (409) from bad input, on this path only.
                return Err(self.download_conflict(native_id).await.unwrap_or(e))
                    .map_err(self.fail("download_url"));
            }
            Err(e) => return Err(e).map_err(self.fail("download_url")),
        };
        self.outcome("download_url", answer)
            .map_err(self.fail("download_url"))
    }

    async fn task(&self, task_id: &str) -> Result<Task> {
        self.check("tasks", self.capability.tasks)?;
        check_id(task_id, "task id").map_err(self.fail("task"))?;
        let t = self.client.task(task_id).await.map_err(self.fail("task"))?;
        Ok(convert::task_from_upstream(
            &self.name,
            &self.operation_of(task_id),
            t,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn import_rules_are_checked_before_sending() {
        let ok = ImportRequest {
            name: "tools".into(),
            url: "http://mirror.example/tools.iso".into(),
            ..Default::default()
        };
        let body = import_body(&ok).unwrap();
        assert_eq!(body["description"], "tools");
        assert!(body.get("zoneId").is_none());
        for (bad, why) in [
            (
                ImportRequest {
                    url: "https://mirror.example/x.iso".into(),
                    ..ok.clone()
                },
                "http://",
            ),
            (
                ImportRequest {
                    url: "ftp://mirror.example/x.iso".into(),
                    ..ok.clone()
                },
                "http://",
            ),
            (
                ImportRequest {
                    bootable: Some(true),
                    ..ok.clone()
                },
                "required",
            ),
            (
                ImportRequest {
                    os_type_id: Some("os".into()),
                    ..ok.clone()
                },
                "only",
            ),
            (
                ImportRequest {
                    name: " ".into(),
                    ..ok.clone()
                },
                "name",
            ),
        ] {
            let e = import_body(&bad).unwrap_err();
            assert_eq!(e.kind(), isogate_core::ErrorKind::InvalidInput);
            assert!(e.message().contains(why), "{}", e.message());
        }
        let boot = ImportRequest {
            bootable: Some(true),
            os_type_id: Some("os".into()),
            zone_id: Some("z".into()),
            extractable: Some(true),
            ..ok
        };
        let body = import_body(&boot).unwrap();
        assert_eq!(body["osTypeId"], "os");
        assert_eq!(body["zoneId"], "z");
        assert_eq!(body["bootable"], true);
        assert_eq!(body["extractable"], true);
    }
}
