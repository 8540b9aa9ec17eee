//! The one trait every upstream adapter implements.
//!
//! Every method's doc lists its contract as numbered sentences; the
//! conformance suite in `isogate-testkit` asserts exactly those sentences,
//! citing them by method and number (e.g. `list#2`).
//!
//! Contract sentences that hold for every method:
//! - **all#1** Every error names the provider (`Error::provider()` is the
//!   provider's [`IsoProvider::name`]) and the operation.
//! - **all#2** A method the provider's [`Capability`] does not switch on
//!   returns `Unsupported` without contacting the upstream.
//! - **all#3** Transport failures map to kinds: no answer within the
//!   configured timeout is `Timeout`; a refused or reset connection is
//!   `Unavailable`; an upstream 5xx is `Upstream`; a 429 is `RateLimited`
//!   with `retry_after` when the upstream gave one; all four are retryable.
//!   A body that cannot be decoded (malformed or truncated) is `Upstream` and
//!   not retryable. Rejected credentials are `Unauthorized`. None of them panic.
//! - **all#4** No error message, `Debug` output or log line holds a credential.
//! - **all#5** Writes (`import`, `update`, `delete`, `attach`, `detach`,
//!   `download_url`, `sync`) are sent to the upstream at most once per call:
//!   they are never retried automatically.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::query::{Filter, SortKey};
use crate::{
    Capability, Error, HistoryEntry, Iso, Operation, Outcome, ProviderKind, Result, Task,
    TaskStatus,
};

/// How to list.
#[derive(Clone, Debug, Default)]
pub struct ListOptions {
    /// Filters the caller will apply; the provider may apply some upstream.
    pub filters: Vec<Filter>,
    /// The caller's sort; the provider may sort upstream.
    pub sort: Vec<SortKey>,
    /// Keep each upstream object in `Iso::raw`.
    pub include_raw: bool,
}

/// What a provider did of a [`ListOptions`] upstream.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Pushdown {
    /// Indices into `ListOptions::filters` that the upstream applied.
    pub filters: Vec<usize>,
    /// Whether the items come back in `ListOptions::sort` order.
    pub sorted: bool,
}

/// A provider's answer to `list`.
#[derive(Clone, Debug, Default)]
pub struct Listing {
    /// The items.
    pub items: Vec<Iso>,
    /// Which parts of the query the upstream applied.
    pub pushdown: Pushdown,
    /// `Some(reason)` when the provider was configured to return what it had
    /// after part of the walk failed; `None` when the listing is complete.
    pub incomplete: Option<String>,
}

/// Register an ISO from a URL.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ImportRequest {
    /// Display name.
    pub name: String,
    /// Description.
    #[serde(default)]
    pub description: Option<String>,
    /// Where the upstream downloads it from (checked by the gateway first).
    pub url: String,
    /// Target zone, where the upstream has zones.
    #[serde(default)]
    pub zone_id: Option<String>,
    /// Whether it is bootable.
    #[serde(default)]
    pub bootable: Option<bool>,
    /// OS type, required by CloudMC when bootable.
    #[serde(default)]
    pub os_type_id: Option<String>,
    /// Whether download URLs may be generated later.
    #[serde(default)]
    pub extractable: Option<bool>,
    /// Provider-specific extras (e.g. the action module's `email`, `customer_id`).
    #[serde(default)]
    pub params: BTreeMap<String, String>,
}

/// Change an item's metadata.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UpdateRequest {
    /// New name.
    #[serde(default)]
    pub name: Option<String>,
    /// New description.
    #[serde(default)]
    pub description: Option<String>,
}

/// Mount an item on an instance or server.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AttachRequest {
    /// The instance or server id, verbatim.
    pub instance_id: String,
}

/// Unmount whatever is mounted on an instance or server.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DetachRequest {
    /// The instance or server id, verbatim.
    pub instance_id: String,
}

/// One upstream ISO or image catalogue.
#[async_trait]
pub trait IsoProvider: Send + Sync + std::fmt::Debug {
    /// The configured instance name (`coxedge-prod`); part of every global id.
    fn name(&self) -> &str;

    /// The family of upstream API.
    fn kind(&self) -> ProviderKind;

    /// What this provider supports; constant for the provider's lifetime.
    fn capability(&self) -> Capability;

    /// The whole catalogue.
    ///
    /// - **list#1** Returns every item of the catalogue; each has `provider`
    ///   equal to [`IsoProvider::name`], `provider_kind` equal to
    ///   [`IsoProvider::kind`], and `id` equal to
    ///   `GlobalId::encode(name, native_id)`.
    /// - **list#2** An empty catalogue is an empty list, not an error.
    /// - **list#3** Native ids are unique within one listing.
    /// - **list#4** `raw` is present on every item exactly when
    ///   `include_raw` was asked for.
    /// - **list#5** Filters named in `Listing::pushdown` were applied upstream
    ///   and give the same answer as applying them locally; the caller applies
    ///   the rest.
    /// - **list#6** A listing is never silently truncated: one that could not
    ///   be completed is an error, unless the provider is configured to return
    ///   partial results, and then `incomplete` says why.
    async fn list(&self, opts: &ListOptions) -> Result<Listing> {
        let _ = opts;
        Err(unsupported(self, Operation::List))
    }

    /// One item by native id.
    ///
    /// - **get#1** Returns the item with that native id, equal to the one a
    ///   listing holds (`raw` aside).
    /// - **get#2** A missing id is `NotFound`.
    /// - **get#3** An id no upstream could accept (empty, a `.`/`..` or empty
    ///   segment, control characters) is `InvalidInput`, and no request is made.
    async fn get(&self, native_id: &str, include_raw: bool) -> Result<Iso> {
        let _ = (native_id, include_raw);
        Err(unsupported(self, Operation::Get))
    }

    /// Register an ISO from a URL.
    ///
    /// - **import#1** Returns `Outcome::Item` with the new item, or
    ///   `Outcome::Accepted` with a task; once done, the item is in listings.
    /// - **import#2** A request the upstream's documented rules forbid (URL
    ///   scheme, missing required field) is `InvalidInput`, and no request is made.
    async fn import(&self, req: &ImportRequest) -> Result<Outcome> {
        let _ = req;
        Err(unsupported(self, Operation::Import))
    }

    /// Change name and/or description.
    ///
    /// - **update#1** Returns `Outcome::Item` with the item as it is now, or
    ///   `Outcome::Done`; a later `get` shows the change.
    /// - **update#2** A missing id is `NotFound`.
    async fn update(&self, native_id: &str, req: &UpdateRequest) -> Result<Outcome> {
        let _ = (native_id, req);
        Err(unsupported(self, Operation::Update))
    }

    /// Remove an item.
    ///
    /// - **delete#1** Returns `Outcome::Done` or `Outcome::Accepted`; once
    ///   done, `get` of that id is `NotFound`.
    /// - **delete#2** A missing id is `NotFound`.
    async fn delete(&self, native_id: &str) -> Result<Outcome> {
        let _ = native_id;
        Err(unsupported(self, Operation::Delete))
    }

    /// Mount an item on an instance or server.
    ///
    /// - **attach#1** Returns `Outcome::Done` or `Outcome::Accepted`.
    /// - **attach#2** A missing item is `NotFound`.
    async fn attach(&self, native_id: &str, req: &AttachRequest) -> Result<Outcome> {
        let _ = (native_id, req);
        Err(unsupported(self, Operation::Attach))
    }

    /// Unmount whatever is mounted on an instance or server.
    ///
    /// - **detach#1** Returns `Outcome::Done` or `Outcome::Accepted`.
    async fn detach(&self, req: &DetachRequest) -> Result<Outcome> {
        let _ = req;
        Err(unsupported(self, Operation::Detach))
    }

    /// Generate a download URL.
    ///
    /// - **download_url#1** Returns `Outcome::Url`, or `Outcome::Accepted`
    ///   whose task, once succeeded, has the URL in `result.url`.
    /// - **download_url#2** An item the upstream will not export (not
    ///   extractable) is `InvalidInput`; a missing one is `NotFound`.
    async fn download_url(&self, native_id: &str) -> Result<Outcome> {
        let _ = native_id;
        Err(unsupported(self, Operation::DownloadUrl))
    }

    /// The operations done on an item.
    ///
    /// - **history#1** Returns the entries oldest first; an item with no
    ///   history has an empty list.
    async fn history(&self, native_id: &str) -> Result<Vec<HistoryEntry>> {
        let _ = native_id;
        Err(unsupported(self, Operation::History))
    }

    /// Re-read a personal catalogue from its store.
    ///
    /// - **sync#1** Returns `Outcome::Accepted` with a task that can be read
    ///   with [`IsoProvider::task`].
    async fn sync(&self) -> Result<Outcome> {
        Err(unsupported(self, Operation::Sync))
    }

    /// The state of an asynchronous operation this provider started.
    ///
    /// - **task#1** Returns the task; `provider` is [`IsoProvider::name`].
    /// - **task#2** An unknown task id is `NotFound`.
    /// - **task#3** A task moves from `pending` to `succeeded` or `failed`
    ///   and never back; a failed task carries the upstream's message.
    async fn task(&self, task_id: &str) -> Result<Task> {
        let _ = task_id;
        Err(unsupported(self, Operation::Task))
    }
}

fn unsupported<P: IsoProvider + ?Sized>(p: &P, operation: Operation) -> Error {
    Error::unsupported(operation.as_str()).with_provider(p.name())
}

/// Conveniences on top of [`IsoProvider`]; implemented for every provider.
#[async_trait]
pub trait IsoProviderExt: IsoProvider {
    /// The whole catalogue with no pushdown and no raw objects.
    async fn list_all(&self) -> Result<Vec<Iso>> {
        Ok(self.list(&ListOptions::default()).await?.items)
    }

    /// Whether the capability switches the operation on.
    fn supports(&self, operation: Operation) -> bool {
        self.capability().supports(operation)
    }

    /// Polls [`IsoProvider::task`] every `interval` until the task leaves
    /// `pending` or `timeout` passes (then `Timeout`).
    async fn wait_task(
        &self,
        task_id: &str,
        interval: Duration,
        timeout: Duration,
    ) -> Result<Task> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let task = self.task(task_id).await?;
            if task.status != TaskStatus::Pending {
                return Ok(task);
            }
            if std::time::Instant::now() >= deadline {
                return Err(Error::new(
                    crate::ErrorKind::Timeout,
                    format!("task {task_id} still pending after {timeout:?}"),
                )
                .with_provider(self.name())
                .with_operation(Operation::Task.method()));
            }
            tokio::time::sleep(interval).await;
        }
    }
}

impl<T: IsoProvider + ?Sized> IsoProviderExt for T {}
