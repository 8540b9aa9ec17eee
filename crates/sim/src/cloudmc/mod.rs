//! Simulator of CloudMC ISOs, API v1 (`/v1`) and API v2 (`/api/v2`, as run by
//! Cox Edge "compute-on"), after seeds 000 and 001 and PROVIDERS.md.
//!
//! Paths (`{base}` is `/api/v2` or `/v1`; a v2 simulator answers under
//! `/api/v1` too, as current CloudMC does):
//! - `GET {base}/services/{service}/{env}/isos`, `GET .../isos/{id}`
//! - `POST .../isos` (import), `POST .../isos/{id}?operation=attach|generateDownloadUrl`,
//!   `DELETE .../isos/{id}`, `POST .../instances/{id}?operation=detachIso|attachIso`
//! - `GET {base}/tasks/{id}`
//!
//! Every call needs `MC-Api-Key`; an optional `org_id` query parameter is
//! accepted everywhere. Successes are `{"data": ...}` (lists add
//! `"metadata": {"recordCount": N}`); errors are
//! `{"errors":[{"code":N,"message":"...","context":{...}}]}`.
//!
//! Choices where the seeds say nothing ([guess]):
//! - A missing or wrong `MC-Api-Key` is **401** in the errors shape, code 1001
//!   (CloudMC's docs list 400/403/404/405/500 only; 401 is what its gateway
//!   answers for a bad key). An `org_id` other than [`ORG_ID`] is 403, code 1003.
//! - Error codes: 1001 auth, 1003 forbidden, 2004 not found, 2005 operation
//!   not allowed, 2012 validation, 9000 internal/injected.
//! - Unknown service code or environment is 404; unknown paths are 404.
//! - v1 serves list and get only: `POST`/`DELETE` on the ISO paths are 405;
//!   the instances and tasks endpoints do not exist there (404).
//! - v1 objects: `id, name, description, size, ready, bootable, osTypeId,
//!   osTypeName, zoneId`. v2 adds `architectureWidth, availablePublicly,
//!   extractable, zoneName, created, availableInZones`. `zoneId`/`zoneName`
//!   are `""` when an ISO is in several zones ("Empty if available in
//!   multiple zones"), in both versions.
//! - Import (CloudStack `registerIso` is synchronous) answers `{"data": iso}`
//!   with `ready: false` and `size: 0`; the ISO becomes ready after
//!   `task_delay`. With `import_as_task` it answers a task instead, whose
//!   result is the ISO. `description` is required (seed), `url` must be
//!   `http://`, `zoneId` may be left out only when there is one zone,
//!   `osTypeId` is required iff `bootable` is true; `extractable` is accepted.
//! - Attach, detach, download URL and delete answer
//!   `{"taskId":"...","taskStatus":"PENDING"}`. Their effect is applied at once
//!   (so one-ISO-per-instance holds between racing calls); the task reads
//!   PENDING for `task_delay`, then SUCCESS or FAILED (the docs' states).
//!   Request-shape problems
//!   (unknown ISO/instance, bootable ISO, not extractable, not ready) are
//!   synchronous 400/404 errors; attaching to an instance that already has an
//!   ISO, or detaching from one that has none, is a task that ends in FAILED
//!   (as a CloudStack async job fails).
//! - Tasks are read as `{"data":{"id","status","created","result"}}` with an
//!   RFC 3339 `created`, or with `legacy_tasks` in the old shape
//!   `{"taskId","taskStatus","result"}` whose failure reads `FAILURE`. A failed task's
//!   result is `{"errors":[{code,message,context}]}`; download URL results are
//!   `{"url": ...}`.
//! - Deleting an ISO attached to an instance is a 400.

mod catalogue;
mod handlers;
mod state;

use std::sync::Arc;
use std::time::Duration;

use crate::{Faults, ServeOptions, SimServer};

pub(crate) use catalogue::uuid as uuid_from;
pub(crate) use handlers::{check_credentials, not_allowed, not_found};
pub(crate) use state::errors_response;

/// The API key the simulator accepts unless told otherwise.
pub const DEFAULT_API_KEY: &str = "sim-cloudmc-key";
/// The service code in every path.
pub const SERVICE_CODE: &str = "compute-on";
/// The environment in every path.
pub const ENVIRONMENT: &str = "test_area";
/// The one sub-organisation `org_id` accepted besides none at all.
pub const ORG_ID: &str = "5c4d7a44-3a3f-4c8e-9a71-0e6d2a1b9f10";
/// Instances that exist, for attach and detach (the same for every seed).
pub const INSTANCE_IDS: [&str; 4] = [
    "c043e651-8b3f-4941-b47f-5ecb77f3423b",
    "5f0a2b8e-1d3c-4e7a-9b6f-2c8d4e1a7b30",
    "9e7d6c5b-4a39-4827-8615-0f1e2d3c4b5a",
    "1a2b3c4d-5e6f-4a8b-9c0d-e1f2a3b4c5d6",
];
/// The seed's example ISO, present in every catalogue exactly as documented.
pub const SEED_ISO_ID: &str = "0b3fea04-b1ed-48cf-921d-96795dfe9a81";
/// The seed's example zone (`zone1`), the first zone of every catalogue.
pub const SEED_ZONE_ID: &str = "ea901007-056b-4c50-bb3a-2dd635fce2ab";
/// The seed's example OS type (`Other (64-bit)`).
pub const SEED_OS_TYPE_ID: &str = "d38dc1d9-dd34-4fdd-8f51-a973f8fe5f3b";

/// The second base path of a v2 simulator (see [`ApiVersion::base_paths`]).
pub const V2_ALSO_AT: &str = "/api/v1";

/// Which CloudMC API generation to speak.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ApiVersion {
    /// Old CloudMC: `/v1`, fewer fields, list and get only.
    V1,
    /// Cox Edge compute-on: `/api/v2`, every seed operation.
    #[default]
    V2,
}

impl ApiVersion {
    /// The API base path.
    pub fn base_path(self) -> &'static str {
        match self {
            ApiVersion::V1 => "/v1",
            ApiVersion::V2 => "/api/v2",
        }
    }

    /// Every base path served: current CloudMC also serves the full v2
    /// field set and every ISO operation under `/api/v1` (PROVIDERS.md), so
    /// the version is about fields and operations, not the URL.
    pub fn base_paths(self) -> &'static [&'static str] {
        match self {
            ApiVersion::V1 => &["/v1"],
            ApiVersion::V2 => &["/api/v2", V2_ALSO_AT],
        }
    }
}

/// How to start the simulator.
#[derive(Clone, Debug)]
pub struct Options {
    /// Where to listen.
    pub serve: ServeOptions,
    /// Catalogue seed.
    pub seed: u64,
    /// Number of ISOs (the seed's example included); `None` for about three dozen.
    pub scale: Option<usize>,
    /// Faults injected from the start.
    pub faults: Faults,
    /// API generation.
    pub version: ApiVersion,
    /// How long tasks stay PENDING and imports stay `ready: false`.
    pub task_delay: Duration,
    /// The accepted `MC-Api-Key`.
    pub api_key: String,
    /// Answer tasks in the old `{"taskId","taskStatus","result"}` shape.
    pub legacy_tasks: bool,
    /// Number of zones (at least 1); with 1, imports may leave out `zoneId`.
    pub zones: usize,
    /// Answer imports with a task instead of the new ISO.
    pub import_as_task: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            serve: ServeOptions::default(),
            seed: 0,
            scale: None,
            faults: Faults::default(),
            version: ApiVersion::V2,
            task_delay: Duration::from_millis(300),
            api_key: DEFAULT_API_KEY.to_owned(),
            legacy_tasks: false,
            zones: 3,
            import_as_task: false,
        }
    }
}

/// Starts the simulator; its `base_url()` ends in the version's base path.
pub async fn start(opts: Options) -> std::io::Result<SimServer> {
    let base = opts.version.base_path();
    let name = match opts.version {
        ApiVersion::V1 => "cloudmc-v1",
        ApiVersion::V2 => "cloudmc-v2",
    };
    let state = Arc::new(state::Sim::new(&opts));
    let app = handlers::router(state, opts.version.base_paths());
    let shape: crate::ErrorShape = Arc::new(|status, msg| {
        let code = if status.as_u16() == 429 { 1429 } else { 9000 };
        errors_response(status, code, msg, serde_json::json!({}))
    });
    SimServer::start(name, app, &opts.serve, base, opts.faults, shape).await
}
