//! Simulator of the University of Toronto ITS Private Cloud (VSS) API v2, ISO
//! part: good enough for the real PyPI clients (`pyvss`, `vss-cli`).
//!
//! The base URL is the origin (`http://127.0.0.1:PORT`), as pyvss's
//! `api_endpoint`: the token endpoint is `{base}/auth/request-token` and the
//! API is under `{base}/v2`.
//!
//! | route | what |
//! |---|---|
//! | `POST /auth/request-token` | HTTP Basic auth (body `{"otp": null}`, any or no body tolerated); answers `{"duration","exp","exp_date","token","type":"ACCESS"}` (or without `duration`, or only `token`/`type`: [`TokenAnswer`]), the token an HS256 JWT with `iat exp exp_ms jti otp username type` |
//! | `GET /v2/iso` | public ISOs, paged (see [`query`] for every parameter's semantics) |
//! | `OPTIONS /v2/iso`, `OPTIONS /v2/user/image/iso` | methods, parameters, fields, operators; no token needed |
//! | `GET /v2/iso/{id}` | one public ISO `{"data": {...}}` [guess: the URLs a non-expanded listing gives must resolve] |
//! | `GET /v2/user/image/iso` | personal ISOs, paged like `/v2/iso` |
//! | `GET /v2/user/image/iso/{id}` | one personal ISO [guess] |
//! | `PATCH /v2/user/image/iso` | starts a sync: 202 `{"data":{"request":{"id","status":"SUBMITTED","task_id"},"message"}}` |
//! | `GET /v2/request/image_sync[/{id}]` | sync requests, paged / one |
//! | `POST /__sim/vss/revoke`, `POST /__sim/vss/expire` | test hooks: refuse every token issued so far as revoked / expired (these pass through the fault layer) |
//!
//! Every `/v2` route but OPTIONS needs `Authorization: Bearer <token>`;
//! missing, forged, expired and revoked tokens are 401. Errors are
//! `{"error": "<reason phrase>", "message": "..."}` with `Content-Type:
//! application/json`, unknown routes and methods included.
//!
//! Sync requests progress with time [guess on the exact strings; they are
//! pyvss's `RequestStatus` names]: `SUBMITTED`, then `IN_PROGRESS` after one
//! `sync_step`, then `PROCESSED` after two, when every file uploaded to the
//! personal store ([`VssHandle::upload_personal`], plus `pending_uploads`
//! seeded ones) becomes a personal ISO and is named in `added`. A failing
//! request ([`VssHandle::fail_next_sync`]) ends `ERROR` with
//! `message.errors`.
//!
//! Timestamps are Toronto local time in today's form, `2020-04-21 Tue
//! 02:10:03 EDT`, except every fourth ISO, which keeps the 2017-era
//! `2017-03-13 15:24:44 EDT`; filters and sorts compare that text.
//!
//! [`PageLinks`] makes page URLs a client builds itself (rather than
//! following `next_url`) misbehave, for clients that fall back to `next_url`.
//!
//! Public and personal ISOs live in separate upstream tables: their ids both
//! start at 1 and collide.
//!
//! Tests start it with [`start_with_handle`] to get a [`VssHandle`]: revoke
//! or expire tokens, shorten their lifetime, upload files to the personal
//! store, fail the next sync, grow the public catalogue mid-walk.
//!
//! Checked against the real PyPI clients on every `cargo test` by
//! `crates/vss/tests/real_clients.rs`, which runs
//! `crates/sim/scripts/vss_pyvss_check.py` (pyvss: token, every page of
//! both catalogues at several sizes, filter, sort, sync, errors) and
//! `crates/sim/scripts/vss_cli_check.sh` (vss-cli) against it.

mod auth;
pub(crate) mod catalogue;
mod clock;
pub mod query;
mod routes;

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, Utc};

use crate::{Faults, ServeOptions, SimServer};
use catalogue::{IsoRec, SyncRequest};

/// The default user.
pub const DEFAULT_USERNAME: &str = "sim-user";
/// The default password.
pub const DEFAULT_PASSWORD: &str = "sim-password";

/// What `POST /auth/request-token` answers besides the token.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TokenAnswer {
    /// `{"duration","exp","exp_date","token","type"}` (pyvss's docs).
    #[default]
    Full,
    /// No `duration`: clients take the lifetime from `exp`.
    WithoutDuration,
    /// `{"token","type"}` only: the lifetime is the JWT's `exp` claim.
    TokenOnly,
}

/// How the simulator answers page URLs a client built itself instead of
/// following `meta.pages.next_url`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PageLinks {
    /// Plain `page=N` links; any page URL is honoured (the default).
    #[default]
    Plain,
    /// Links carry a `cursor=N` too; a request whose `page` is not its
    /// cursor's is served the cursor's page (a cursor-paged upstream).
    WrongPage,
    /// As `WrongPage`, but a mismatched page is served with another `per_page`.
    OtherPerPage,
    /// As `WrongPage`, but a mismatched page is a 400.
    Reject,
}

/// How to start the simulator.
#[derive(Clone, Debug)]
pub struct Options {
    /// Where to listen.
    pub serve: ServeOptions,
    /// Catalogue seed.
    pub seed: u64,
    /// Number of public ISOs (default 230, across ~30 distributions).
    pub scale: Option<usize>,
    /// Faults injected from the start.
    pub faults: Faults,
    /// Number of personal ISOs (default 12).
    pub personal: usize,
    /// Files waiting in the personal store, registered by the first sync (default 3).
    pub pending_uploads: usize,
    /// The one user's name.
    pub username: String,
    /// The one user's password.
    pub password: String,
    /// Lifetime of issued tokens (default 24 h).
    pub token_ttl: Duration,
    /// Time a sync request spends in each of `SUBMITTED` and `IN_PROGRESS` (default 300 ms).
    pub sync_step: Duration,
    /// The token answer's fields (default all of them).
    pub token_answer: TokenAnswer,
    /// How self-built page URLs are answered (default: honoured).
    pub page_links: PageLinks,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            serve: ServeOptions::default(),
            seed: 0,
            scale: None,
            faults: Faults::default(),
            personal: 12,
            pending_uploads: 3,
            username: DEFAULT_USERNAME.into(),
            password: DEFAULT_PASSWORD.into(),
            token_ttl: Duration::from_secs(24 * 3600),
            sync_step: Duration::from_millis(300),
            token_answer: TokenAnswer::default(),
            page_links: PageLinks::default(),
        }
    }
}

#[derive(Debug)]
pub(crate) struct Data {
    pub public: Vec<IsoRec>,
    pub personal: Vec<IsoRec>,
    pub uploads: Vec<String>,
    pub requests: Vec<SyncRequest>,
    pub fail_next: Option<String>,
    /// After this many public list requests, add this many public ISOs.
    pub growth: Vec<(u64, usize)>,
    pub public_lists: u64,
}

#[derive(Debug)]
pub(crate) struct State {
    pub seed: u64,
    pub username: String,
    pub password: String,
    pub tokens: auth::Tokens,
    pub token_ttl_ms: AtomicI64,
    pub sync_step_ms: AtomicI64,
    pub token_answer: Mutex<TokenAnswer>,
    pub page_links: Mutex<PageLinks>,
    data: Mutex<Data>,
}

impl State {
    /// The data, with sync requests advanced to `now`.
    pub fn data(&self, now: DateTime<Utc>) -> MutexGuard<'_, Data> {
        let mut d = self.data.lock().unwrap_or_else(|p| p.into_inner());
        let step = self.sync_step_ms.load(Ordering::SeqCst);
        let Data {
            personal,
            uploads,
            requests,
            ..
        } = &mut *d;
        for r in requests.iter_mut() {
            if matches!(r.status, catalogue::PROCESSED | catalogue::ERROR) {
                continue;
            }
            let elapsed = (now - r.created_on).num_milliseconds();
            if elapsed >= 2 * step {
                r.updated_on = now;
                if let Some(msg) = r.fail_with.take() {
                    r.status = catalogue::ERROR;
                    r.errors.push(msg);
                } else {
                    r.status = catalogue::PROCESSED;
                    for name in uploads.drain(..) {
                        let id = personal.iter().map(|i| i.id).max().unwrap_or(0) + 1;
                        personal.push(catalogue::personal_rec(id, &self.username, &name, now));
                        r.added.push(name);
                    }
                }
            } else if elapsed >= step && r.status == catalogue::SUBMITTED {
                r.status = catalogue::IN_PROGRESS;
                r.updated_on = now;
            }
        }
        d
    }
}

/// Run-time hooks into a running VSS simulator, for tests.
#[derive(Clone, Debug)]
pub struct VssHandle {
    state: Arc<State>,
}

impl VssHandle {
    /// Every token issued so far is refused (401 "Token has been revoked.").
    pub fn revoke_all_tokens(&self) {
        self.state.tokens.revoke_all();
    }
    /// Every token issued so far is refused (401 "Token expired.").
    pub fn expire_all_tokens(&self) {
        self.state.tokens.expire_all();
    }
    /// The lifetime of tokens issued from now on.
    pub fn set_token_ttl(&self, ttl: Duration) {
        self.state
            .token_ttl_ms
            .store(ttl.as_millis() as i64, Ordering::SeqCst);
    }
    /// What token answers carry from now on.
    pub fn set_token_answer(&self, form: TokenAnswer) {
        *self
            .state
            .token_answer
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = form;
    }
    /// How self-built page URLs are answered from now on.
    pub fn set_page_links(&self, links: PageLinks) {
        *self
            .state
            .page_links
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = links;
    }
    /// How many tokens were issued.
    pub fn tokens_issued(&self) -> u64 {
        self.state.tokens.issued()
    }
    /// How long a sync request spends in each non-final status.
    pub fn set_sync_step(&self, step: Duration) {
        self.state
            .sync_step_ms
            .store(step.as_millis() as i64, Ordering::SeqCst);
    }
    /// Puts a file (`name`, without `.iso`) in the personal store; the next
    /// processed sync registers it as a personal ISO.
    pub fn upload_personal(&self, name: &str) {
        self.state.data(Utc::now()).uploads.push(name.to_owned());
    }
    /// The next sync request ends `ERROR` with this message.
    pub fn fail_next_sync(&self, message: &str) {
        self.state.data(Utc::now()).fail_next = Some(message.to_owned());
    }
    /// Appends `n` public ISOs.
    pub fn add_public(&self, n: usize) {
        let mut d = self.state.data(Utc::now());
        grow(&mut d, self.state.seed, n);
    }
    /// After `list_requests` more `GET /v2/iso` requests, `n` public ISOs are
    /// added (a catalogue changing under a paging client). Several growths
    /// can be scheduled.
    pub fn grow_public_after(&self, list_requests: u64, n: usize) {
        let mut d = self.state.data(Utc::now());
        let at = d.public_lists + list_requests;
        d.growth.push((at, n));
    }
    /// Number of public ISOs.
    pub fn public_count(&self) -> usize {
        self.state.data(Utc::now()).public.len()
    }
    /// Number of personal ISOs.
    pub fn personal_count(&self) -> usize {
        self.state.data(Utc::now()).personal.len()
    }
}

pub(crate) fn grow(d: &mut Data, seed: u64, n: usize) {
    let have = d.public.len();
    let more = catalogue::public(seed, have + n);
    let next_id = d.public.iter().map(|i| i.id).max().unwrap_or(0) + 1;
    for (k, mut rec) in more.into_iter().skip(have).enumerate() {
        rec.id = next_id + k as i64;
        d.public.push(rec);
    }
}

/// The `{"error","message"}` answer, also the shape of injected faults.
pub fn error(status: StatusCode, message: &str) -> Response {
    crate::server::json_error(
        status,
        serde_json::json!({
            "error": status.canonical_reason().unwrap_or("Error"),
            "message": message,
        }),
    )
}

/// Starts the simulator.
pub async fn start(opts: Options) -> std::io::Result<SimServer> {
    Ok(start_with_handle(opts).await?.0)
}

/// Starts the simulator and returns a handle to change it at run time.
pub async fn start_with_handle(opts: Options) -> std::io::Result<(SimServer, VssHandle)> {
    let n = opts.scale.unwrap_or(catalogue::DEFAULT_PUBLIC);
    let data = Data {
        public: catalogue::public(opts.seed, n),
        personal: catalogue::personal(opts.seed, &opts.username, opts.personal),
        uploads: (1..=opts.pending_uploads)
            .map(|i| format!("uploaded-{i}"))
            .collect(),
        requests: Vec::new(),
        fail_next: None,
        growth: Vec::new(),
        public_lists: 0,
    };
    let state = Arc::new(State {
        seed: opts.seed,
        username: opts.username,
        password: opts.password,
        tokens: auth::Tokens::new(opts.seed),
        token_ttl_ms: AtomicI64::new(opts.token_ttl.as_millis() as i64),
        sync_step_ms: AtomicI64::new(opts.sync_step.as_millis() as i64),
        token_answer: Mutex::new(opts.token_answer),
        page_links: Mutex::new(opts.page_links),
        data: Mutex::new(data),
    });
    let shape: crate::ErrorShape = Arc::new(error);
    let server = SimServer::start(
        "vss",
        routes::router(state.clone()),
        &opts.serve,
        "",
        opts.faults,
        shape,
    )
    .await?;
    Ok((server, VssHandle { state }))
}
