//! The conformance suite: one set of checks every adapter runs against its
//! simulator. Each check asserts one contract sentence of
//! [`isogate_core::IsoProvider`]'s docs and is named after it (`list#2`).
//!
//! Usage, in an adapter's `tests/conformance.rs`:
//! ```text
//! let sim = isogate_sim::vss::start(Default::default()).await?;
//! let provider = Arc::new(VssProvider::new("vss-test", config_for(&sim))?);
//! let fixtures = Fixtures {
//!     missing_id: "999999".into(),
//!     secrets: vec!["the-password".into()],
//!     ..Default::default()
//! };
//! isogate_testkit::run_conformance(Subject::new(provider, sim, fixtures)).await;
//! ```
//! The provider must be configured with a request timeout of at most 2 s, so
//! the fault checks (a hanging upstream) finish quickly. Any tokio runtime
//! works; on `#[tokio::test]`'s default current-thread runtime a provider
//! that *blocks the thread* (rather than awaiting) cannot be timed out, so
//! prefer `#[tokio::test(flavor = "multi_thread", worker_threads = 2)]`.
//! With the simulators' default task delays the whole suite takes 2 to 6 s.
//!
//! # How it runs
//! Checks run one after another against the one simulator (faults are
//! global to it). Each runs in its own task, bounded by a timeout (10 s, or
//! [`Fixtures::check_timeout`]; 8 s for the hang cases): a hang or a panic inside the provider is a failure of
//! that check, not a stuck or aborted run. After every check the simulator is
//! healed ([`isogate_sim::Control::heal`]) and listening again. At the end
//! [`run_conformance`] panics with every failed sentence id and why, so one
//! run shows everything; it prints passes and skips to stderr.
//!
//! "`Accepted` whose task succeeds" means: the task names the provider, and
//! [`isogate_core::IsoProviderExt::wait_task`] (every 50 ms, up to 6 s) ends
//! in `succeeded`. Every task seen is kept for `task#1` and `task#3`.
//!
//! Only what `provider.capability()` switches off is skipped, and for each
//! such operation `all#2` asserts the call is `Unsupported`, names the
//! provider, and reaches the simulator not at all (`Control::total`
//! unchanged). Write checks change the simulator's state (it is real):
//! import creates an item, delete removes the imported one, and so on.
//!
//! # Every error seen, every log line
//! Every error any check receives is also checked against `all#1` (it names
//! the provider, and a non-empty operation; in the fault cases below exactly
//! `list` or `get`) and `all#4` (its message, `Display`, `Debug` and source
//! chain hold none of [`Fixtures::secrets`]). The provider's `Debug` output
//! is checked against the secrets too, and so is every `tracing` event the
//! provider emits (any level) while a check runs: each check runs with a
//! capturing subscriber (events from tasks the provider spawns itself are
//! captured only if they carry the current subscriber along).
//!
//! # Faults (all#3): what each must produce
//! Injected through [`isogate_sim::Faults`] on every request of the adapter
//! (login and token calls included), on `list`, and on `get` of a listed item
//! where `get` is supported:
//!
//! | fault | required error | `retryable()` | other |
//! |---|---|---|---|
//! | `latency_ms: 300, jitter_ms: 100` | none: the call succeeds | | |
//! | `hang: true` (on `list` only) | `Timeout` | `true` | within 8 s (configure <= 2 s) |
//! | `error_rate: 1.0, error_status: 500` | `Upstream` | `true` | also for the action module (its 5xx are real HTTP statuses) |
//! | `error_rate: 1.0, error_status: 503` | `Upstream` | `true` | not `Unavailable`: the upstream answered |
//! | `rate_limit_rate: 1.0, retry_after_s: 3` | `RateLimited` | `true` | `retry_after() == Some(3 s)` |
//! | `malformed_json: true` (status 200, invalid JSON) | `Upstream` | `false` | |
//! | `truncate: true` (headers, half the body, then the connection is cut) | `Upstream` | `false` | a body cut after the headers is an undecodable body, not `Unavailable`: map `reqwest::Error::is_body()`/`is_decode()` to `Upstream` not retryable |
//! | listener stopped (`SimServer::stop_listening`) | `Unavailable` | `true` | |
//! | wrong credentials ([`Fixtures::unauthorized`], when given) | `Unauthorized` | any | |
//!
//! Every one of them must name the provider, and the operation called
//! (`list` or `get`) (`all#1`).
//!
//! # Writes go out once (all#5)
//! For every supported write (`import`, `update`, `delete`, `attach`,
//! `detach`, `download_url`, `sync`), the suite answers every request with
//! 503 and makes the call once: it must fail (`Upstream`, retryable), at
//! least one request must reach the simulator, and no `METHOD /path` may be
//! requested twice during the call. The first supported write is also made
//! (1) against a hanging upstream: `Timeout`, retryable; and (2) with its
//! answer cut after the upstream acted (`truncate`): `Ok`, or `Upstream` not
//! retryable; both again with no route requested twice. (Login, token or
//! lookup requests before the write are fine; sending any of them, or the
//! write, twice is not.)
//!
//! # Sentences and what is asserted
//! - `list#1` a healthy listing is `Ok`, complete (`incomplete` is `None`),
//!   non-empty (the simulators are seeded), and every item has the right
//!   `provider`, `provider_kind` and `id == GlobalId::encode(name, native_id)`;
//!   with [`Fixtures::expected_count`] the count is checked too.
//! - `list#2` with [`Fixtures::empty`], that provider lists `Ok`, empty and
//!   complete; and a filter matching nothing (`name eq <no such name>`) gives
//!   `Ok`, an empty list when pushed down.
//! - `list#3` native ids (and global ids) are unique.
//! - `list#4` `raw` is `Some` (not `null`) on every item with `include_raw`,
//!   `None` on every item without.
//! - `list#5` for probe filters built from the catalogue (`name` with
//!   `like`, `eq`, `ne`, `in`; `native_id eq`; `status eq`; an absent label;
//!   and where the items have them `description like`, `size_bytes ge/lt`,
//!   `created_at ge`, `os.name eq`, `bootable eq`, `zones.id eq`): reported
//!   indices are in range, every returned item matches every filter reported
//!   pushed, and filtering the answer locally gives the same items as
//!   filtering the whole catalogue locally. "Locally" is the core query
//!   engine ([`isogate_core::query::CompiledFilter`]): `eq` exact by byte,
//!   `like` case-insensitive, a missing value fails all but `ne`. With
//!   `sort=name,asc` reported as `sorted`, names must be in byte order.
//! - `list#6` with every second request failing (`error_rate: 0.5`), a
//!   listing is an error, or complete, or says `incomplete`.
//! - `get#1` the first, middle and last listed items equal `get` of them,
//!   `raw` aside. `get#2` [`Fixtures::missing_id`] is `NotFound`. `get#3`
//!   `""`, `"."`, `".."`, `"a/../b"`, `"a//b"`, `"a\0b"`, `"a\nb"` are
//!   `InvalidInput` with no request made.
//! - `import#1` [`Fixtures::valid_import`] gives `Item`, or `Accepted` whose
//!   task succeeds; then the new item is in a listing. `import#2`
//!   [`Fixtures::invalid_import`] is `InvalidInput` with no request made.
//! - `update#1` [`Fixtures::update`] (default: a new description) on the
//!   imported item (else [`Fixtures::update_id`], else the first listed) gives
//!   `Item` showing the change or `Done`; a later `get` shows it.
//!   `update#2` a missing id is `NotFound`.
//! - `attach#1` first frees [`Fixtures::instance_id`] with a `detach` (when
//!   supported; its outcome is not judged, as nothing may be mounted), then
//!   attaches [`Fixtures::attach_id`] (else the first `ready` listed item):
//!   `Done`, or `Accepted` whose task succeeds. `attach#2` a missing item is
//!   `NotFound`. `detach#1` then gives `Done` or `Accepted` whose task
//!   succeeds (any finished state when `attach` is not supported).
//! - `download_url#1` on [`Fixtures::extractable_id`] (else a listed item with
//!   `extractable == Some(true)`) gives a non-empty `Url`, or `Accepted` whose
//!   task succeeds with a string `result.url`. `download_url#2` an item with
//!   `extractable == Some(false)` (or [`Fixtures::non_extractable_id`]) is
//!   `Conflict` (its state forbids it); a missing one is `NotFound`.
//! - `history#1` history of the imported (else first listed) item is `Ok`,
//!   with entries whose `at` is known in non-decreasing order.
//! - `sync#1` gives `Accepted`; `task(id)` of its task is `Ok` with that id,
//!   and the task finishes (succeeded or failed) within 6 s.
//! - `task#1` every task any check saw reads back with its id and
//!   `provider == name`. `task#2` an unknown id ([`Fixtures::missing_task_id`],
//!   else `missing_id`) is `NotFound`. `task#3` a finished task reads the same
//!   status again; a failed one carries a non-empty message.
//! - `delete#1` deleting the imported item (else [`Fixtures::delete_id`], else
//!   the last listed item) gives `Done` or `Accepted` whose task succeeds;
//!   then `get` is `NotFound`. `delete#2` a missing id is `NotFound`.

mod checks;
mod harness;
mod logs;
mod matcher;
pub mod redis;
pub mod tools;
pub mod webhooks;

use std::sync::Arc;
use std::time::Duration;

use isogate_core::{ImportRequest, IsoProvider, UpdateRequest};
use isogate_sim::SimServer;

pub use harness::run_conformance;

/// What the suite needs to know about one upstream to exercise its writes.
/// Everything but `missing_id` is optional; a supported write whose fixture
/// is missing (e.g. `import` without `valid_import`) is a failure, so that no
/// supported operation goes unchecked.
#[derive(Clone, Default)]
pub struct Fixtures {
    /// An import the upstream accepts (e.g. an `http` URL for CloudMC).
    pub valid_import: Option<ImportRequest>,
    /// An import the upstream's documented rules forbid (e.g. `ftp://`).
    pub invalid_import: Option<ImportRequest>,
    /// An instance or server id the simulator knows, for attach/detach.
    pub instance_id: Option<String>,
    /// A native id that is not in the catalogue (well-formed for the upstream).
    pub missing_id: String,
    /// Credentials the provider was configured with (API key, password):
    /// no error text and no `Debug` output may contain any of them (`all#4`).
    pub secrets: Vec<String>,
    /// How many items the simulator's catalogue holds at the start, when
    /// known; `list#1` then checks the listing is complete.
    pub expected_count: Option<usize>,
    /// A task id the provider would accept but that does not exist; default
    /// `missing_id`.
    pub missing_task_id: Option<String>,
    /// The change `update#1` makes; default: a new description.
    pub update: Option<UpdateRequest>,
    /// The item `update#1` changes when nothing was imported.
    pub update_id: Option<String>,
    /// The item `attach#1` mounts; default: the first `ready` listed item.
    pub attach_id: Option<String>,
    /// An item `download_url#1` may export; default: the first listed item
    /// with `extractable == Some(true)`.
    pub extractable_id: Option<String>,
    /// An item the upstream will not export; default: the first listed item
    /// with `extractable == Some(false)`.
    pub non_extractable_id: Option<String>,
    /// The item `delete#1` removes when nothing was imported; default: the
    /// last listed item.
    pub delete_id: Option<String>,
    /// The same provider configured with wrong credentials, against the same
    /// simulator: its `list` must be `Unauthorized` (`all#3`).
    pub unauthorized: Option<Arc<dyn IsoProvider>>,
    /// The same kind of provider against an empty catalogue (e.g. a second
    /// simulator started with no items; keep it alive until
    /// [`run_conformance`] returns): its `list` must be `Ok` and empty (`list#2`).
    pub empty: Option<Arc<dyn IsoProvider>>,
    /// The bound of each ordinary check; default 10 s. (Checks against a
    /// hanging upstream keep their own 8 s bound.)
    pub check_timeout: Option<Duration>,
}

// By hand, so that the secrets never reach a test log.
impl std::fmt::Debug for Fixtures {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fixtures")
            .field("valid_import", &self.valid_import)
            .field("invalid_import", &self.invalid_import)
            .field("instance_id", &self.instance_id)
            .field("missing_id", &self.missing_id)
            .field(
                "secrets",
                &format_args!("[{} redacted]", self.secrets.len()),
            )
            .field("expected_count", &self.expected_count)
            .field("missing_task_id", &self.missing_task_id)
            .field("update", &self.update)
            .field("update_id", &self.update_id)
            .field("attach_id", &self.attach_id)
            .field("extractable_id", &self.extractable_id)
            .field("non_extractable_id", &self.non_extractable_id)
            .field("delete_id", &self.delete_id)
            .field("unauthorized", &self.unauthorized.is_some())
            .field("empty", &self.empty.is_some())
            .field("check_timeout", &self.check_timeout)
            .finish()
    }
}

/// The provider under test, the simulator behind it, and its fixtures.
#[derive(Debug)]
pub struct Subject {
    /// The adapter, configured against `sim` with a short timeout.
    pub provider: Arc<dyn IsoProvider>,
    /// The simulator it talks to (the suite injects faults and stops its listener).
    pub sim: SimServer,
    /// Upstream-specific inputs.
    pub fixtures: Fixtures,
}

impl Subject {
    /// Bundles a subject.
    pub fn new(provider: Arc<dyn IsoProvider>, sim: SimServer, fixtures: Fixtures) -> Self {
        Subject {
            provider,
            sim,
            fixtures,
        }
    }
}
