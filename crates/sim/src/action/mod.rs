//! Simulator of the action-style ISO module (HOSTKEY "InvAPI"), seed 003.
//!
//! Endpoints, relative to the origin (the base URL has no path), and the
//! same three again under [`SECOND_NODE`] (a second `invapi` host):
//! - `POST /auth.php`, form `action=login&key=<api key>[&ttl=<seconds>]`:
//!   answers `{"result":{"token":"<32 hex>","token_expire":<unix seconds>,"invapi":"<base URL>","role":"client"|"admin","email":..,"customer_id":..,"servers":[..]}}`
//!   (legacy: the same fields at the top level). `invapi` names this origin,
//!   or its [`SECOND_NODE`] with [`Options::login_names_second_node`]; the
//!   token lives `ttl` seconds when sent (at most `token_ttl`).
//!   A wrong key answers HTTP 200 `{"result":"Error","message":"authorization failed: invalid key"}`.
//! - `POST /iso.php`, form `action`, `token`, `params[x]` and the bare `id`/`iso`
//!   fields exactly as the seed lists them for add, del, delete, history,
//!   list_iso, mount_iso, unmount_iso, update, upload and uploaded. Success is
//!   `{"result":"OK","action":..,"module":"iso","data":..}`; `list_iso` instead
//!   has top-level `server_id` and `iso_images[]` (the seed's five fields, and
//!   only images whose status is `Ready`: the ones that can be mounted).
//!   Errors are HTTP 200 in the three documented shapes (see [`iso`]).
//! - `POST /eq_callback.php`, form `action=check&key=<callback key>&token=<token>`
//!   (HOSTKEY's own client polls with the token): `{"result":"Not ready"}`
//!   for the first half of the callback's time, then
//!   `{"result":"OK","key":..,"action":..,"scope":"pending","context":{..}}`,
//!   then `{"result":"OK","key":..,"action":"mount_iso"|"unmount_iso","scope":"deploy_done","data":{"server_id":..,..}}`
//!   (legacy: `OK` without a scope once done) or, when the operation ended
//!   badly, `{"result":"failed"|"error"|"cancelled","key":..,"action":..,"message":..}`.
//!   An unknown key is `{"error":"callback not found"}`; a missing or unknown
//!   token `{"result":"Error","error":"invalid hash"}`, an expired one
//!   `{"code":-1,"message":"token expired"}` (both HTTP 200).
//!
//! Decisions on [guess] details:
//! - Tokens: an unknown (or missing) token answers **HTTP 401**
//!   `{"result":"Error","message":"invalid token"}`; a known but expired one
//!   answers **HTTP 200** `{"code":-1,"message":"token expired"}`, so clients
//!   meet both documented signals. `POST /__sim/action/expire-tokens` expires
//!   every session now and `POST /__sim/action/revoke-tokens` forgets them
//!   (or use [`Handle`] from [`start_with_handle`]).
//! - `mount_iso`/`unmount_iso` answer a top-level `"callback": "<32 hex>"`
//!   (legacy: `data: {"callback": ..}`); the callback completes
//!   `callback_delay` later. A mount fails (`failed`) when the ISO was deleted
//!   meanwhile; unmounting an empty drive succeeds. [`Handle::hold_callbacks`]
//!   keeps callbacks running, [`Handle::end_callbacks_with`] makes them end
//!   `error`, `failed` or `cancelled`.
//! - `upload` answers the new record (`status: "Pending"`, `size: 0`), named
//!   after the URL's last path segment (made unique with `-<id>`); it becomes
//!   `Ready` with its size `callback_delay` later. `add` without a status is
//!   `Pending` the same way. `uploaded` answers `data: [records]` of the
//!   account's private images (staff name the account with `params[email]`).
//! - `del` without `params[pending]` queues the deletion; the record leaves
//!   every listing at once either way. `history` answers newest first.
//! - Injected faults look like a PHP server behind nginx: an HTML page with
//!   the status (and `Retry-After` on 429).
//! - Counters: besides `POST /iso.php`, each action bumps `action:<name>`,
//!   logins bump `action:login` and callback checks `action:check`.

mod iso;
mod state;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State as AxState;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};

use crate::{Control, Faults, ServeOptions, SimServer};
use state::{Session, State};

/// The administrator (staff) API key accepted by default.
pub const DEFAULT_ADMIN_KEY: &str = "sim-action-admin-key";
/// The client API key accepted by default.
pub const DEFAULT_CLIENT_KEY: &str = "sim-action-client-key";
/// The client account's email (owner of its private images).
pub const CLIENT_EMAIL: &str = "client@sim.example";
/// The client account's customer id.
pub const CLIENT_CUSTOMER_ID: u64 = 1001;
/// The client's servers (usable for list_iso, mount_iso, unmount_iso).
pub const SERVER_IDS: [u64; 2] = [456, 457];
/// A server of another customer: the client is denied, staff may use it.
pub const OTHER_SERVER_ID: u64 = 999;
/// Another customer's email (owner of some private images).
pub const OTHER_EMAIL: &str = "other@sim.example";
/// The staff account's email (the `login` of its history entries).
pub const ADMIN_EMAIL: &str = "support@sim.example";
/// The path of the second `invapi` node a login can name.
pub const SECOND_NODE: &str = "/invapi2";
/// The default catalogue size.
pub const DEFAULT_SCALE: usize = 36;

/// How to start the simulator.
#[derive(Clone, Debug)]
pub struct Options {
    /// Where to listen.
    pub serve: ServeOptions,
    /// Catalogue seed.
    pub seed: u64,
    /// Catalogue size; [`DEFAULT_SCALE`] when `None`.
    pub scale: Option<usize>,
    /// Faults injected from the start.
    pub faults: Faults,
    /// The staff key.
    pub admin_key: String,
    /// The client key (account [`CLIENT_EMAIL`], servers [`SERVER_IDS`]).
    pub client_key: String,
    /// How long a token lives.
    pub token_ttl: Duration,
    /// How long mounts, unmounts and uploads take.
    pub callback_delay: Duration,
    /// Actions answered as unknown, like a deployment without them (e.g.
    /// `["del"]` for one that only has the alternative `delete`).
    pub disabled_actions: Vec<String>,
    /// Logins name [`SECOND_NODE`] as the `invapi` host (not this origin).
    pub login_names_second_node: bool,
    /// Answer in the older forms: login token at the top level,
    /// `data.callback`, callbacks `OK` without a scope once done.
    pub legacy_forms: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            serve: ServeOptions::default(),
            seed: 0,
            scale: None,
            faults: Faults::default(),
            admin_key: DEFAULT_ADMIN_KEY.to_owned(),
            client_key: DEFAULT_CLIENT_KEY.to_owned(),
            token_ttl: Duration::from_secs(3600),
            callback_delay: Duration::from_millis(300),
            disabled_actions: Vec::new(),
            login_names_second_node: false,
            legacy_forms: false,
        }
    }
}

struct Sim {
    state: Mutex<State>,
    admin_key: String,
    client_key: String,
    token_ttl: Duration,
    delay: Duration,
    disabled: Vec<String>,
    second_node: bool,
    control: OnceLock<Arc<Control>>,
}

impl Sim {
    fn bump(&self, action: &str) {
        if let Some(c) = self.control.get() {
            c.bump(&format!("action:{action}"));
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        let mut guard = self.state.lock().unwrap_or_else(|p| p.into_inner());
        guard.tick(Instant::now());
        guard
    }
}

/// Direct access to a running simulator's account, for tests.
#[derive(Clone)]
pub struct Handle(Arc<Sim>);

impl std::fmt::Debug for Handle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("action::Handle")
    }
}

impl Handle {
    /// Every issued token is expired from now on (answers "token expired").
    pub fn expire_tokens(&self) {
        expire(&self.0);
    }
    /// Every issued token is forgotten (answers HTTP 401 "invalid token").
    pub fn revoke_tokens(&self) {
        self.0.lock().sessions.clear();
    }
    /// The id of the ISO mounted on `server`, if any.
    pub fn mounted(&self, server: u64) -> Option<u64> {
        self.0.lock().servers.get(&server).and_then(|s| s.mounted)
    }
    /// While `true`, running callbacks stay `OK` with scope `pending`.
    pub fn hold_callbacks(&self, hold: bool) {
        self.0.lock().hold_callbacks = hold;
    }
    /// Callbacks completing from now end with this `result` (`"error"`,
    /// `"failed"` or `"cancelled"`) and change nothing; `None` heals.
    pub fn end_callbacks_with(&self, result: Option<&'static str>) {
        self.0.lock().callbacks_end = result;
    }
    /// The `ttl` the last login sent.
    pub fn last_login_ttl(&self) -> Option<u64> {
        self.0.lock().last_ttl
    }
}

fn expire(sim: &Sim) {
    let now = Instant::now();
    for s in sim.lock().sessions.values_mut() {
        s.expires = now;
    }
}

/// Starts the simulator.
pub async fn start(opts: Options) -> std::io::Result<SimServer> {
    Ok(start_with_handle(opts).await?.0)
}

/// Starts the simulator and returns a handle on its state as well.
pub async fn start_with_handle(opts: Options) -> std::io::Result<(SimServer, Handle)> {
    let rng = crate::rng::seeded(opts.seed, "action");
    let mut state = State::seeded(rng, opts.scale.unwrap_or(DEFAULT_SCALE));
    state.legacy = opts.legacy_forms;
    let sim = Arc::new(Sim {
        state: Mutex::new(state),
        admin_key: opts.admin_key,
        client_key: opts.client_key,
        token_ttl: opts.token_ttl,
        delay: opts.callback_delay,
        disabled: opts.disabled_actions,
        second_node: opts.login_names_second_node,
        control: OnceLock::new(),
    });
    let node = Router::new()
        .route("/auth.php", post(auth))
        .route("/iso.php", post(iso_php))
        .route("/eq_callback.php", post(callback));
    let app = Router::new()
        .merge(node.clone())
        .nest(SECOND_NODE, node)
        .route(
            "/__sim/action/expire-tokens",
            post(|AxState(sim): AxState<Arc<Sim>>| async move {
                expire(&sim);
                StatusCode::NO_CONTENT
            }),
        )
        .route(
            "/__sim/action/revoke-tokens",
            post(|AxState(sim): AxState<Arc<Sim>>| async move {
                sim.lock().sessions.clear();
                StatusCode::NO_CONTENT
            }),
        )
        .with_state(sim.clone());
    let shape: crate::ErrorShape = Arc::new(php_error_page);
    let server = SimServer::start("action", app, &opts.serve, "", opts.faults, shape).await?;
    let _ = sim.control.set(server.control().clone());
    Ok((server, Handle(sim)))
}

/// What nginx in front of PHP-FPM answers when things go wrong.
fn php_error_page(status: StatusCode, msg: &str) -> Response {
    let reason = status.canonical_reason().unwrap_or("Error");
    let code = status.as_u16();
    let body = format!(
        "<html>\r\n<head><title>{code} {reason}</title></head>\r\n<body>\r\n<center><h1>{code} {reason}</h1></center>\r\n<!-- {msg} -->\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
    );
    (status, [(header::CONTENT_TYPE, "text/html")], body).into_response()
}

fn json_200(v: Value) -> Response {
    (StatusCode::OK, axum::Json(v)).into_response()
}

/// PHP reads `$_POST` whatever the client did: an unparseable body is empty.
fn form(body: &Bytes) -> iso::Form {
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(body)
        .unwrap_or_default()
        .into_iter()
        .collect::<HashMap<_, _>>()
}

async fn auth(AxState(sim): AxState<Arc<Sim>>, headers: HeaderMap, body: Bytes) -> Response {
    let form = form(&body);
    if form.get("action").map(String::as_str) != Some("login") {
        return json_200(iso::invalid("action"));
    }
    let Some(key) = form.get("key").filter(|k| !k.is_empty()) else {
        return json_200(iso::invalid("key"));
    };
    let ttl = match form.get("ttl").map(|t| t.trim().parse::<u64>()) {
        None => None,
        Some(Ok(t)) if t > 0 => Some(t),
        Some(_) => return json_200(iso::invalid("ttl")),
    };
    sim.bump("login");
    let mut state = sim.lock();
    let (admin, email) = if *key == sim.admin_key {
        (true, ADMIN_EMAIL)
    } else if *key == sim.client_key {
        (false, CLIENT_EMAIL)
    } else {
        return json_200(
            json!({"result": "Error", "message": "authorization failed: invalid key"}),
        );
    };
    state.last_ttl = ttl;
    let lifetime = ttl.map_or(sim.token_ttl, |t| Duration::from_secs(t).min(sim.token_ttl));
    let token = state.new_key();
    state.sessions.insert(
        token.clone(),
        Session {
            admin,
            email: email.to_owned(),
            expires: Instant::now() + lifetime,
        },
    );
    let expire = SystemTime::now()
        .checked_add(lifetime)
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs());
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1");
    let node = if sim.second_node { SECOND_NODE } else { "" };
    let answer = json!({
        "token": token,
        "token_expire": expire,
        "invapi": format!("http://{host}{node}"),
        "role": if admin { "admin" } else { "client" },
        "email": email,
        "customer_id": if admin { Value::Null } else { json!(CLIENT_CUSTOMER_ID) },
        "servers": if admin { json!([]) } else { json!(SERVER_IDS) },
    });
    if state.legacy {
        json_200(answer)
    } else {
        json_200(json!({ "result": answer }))
    }
}

async fn iso_php(AxState(sim): AxState<Arc<Sim>>, body: Bytes) -> Response {
    let form = form(&body);
    let action = form.get("action").cloned().unwrap_or_default();
    sim.bump(&action);
    let mut state = sim.lock();
    let session = form
        .get("token")
        .and_then(|t| state.sessions.get(t))
        .cloned();
    let Some(session) = session else {
        let body = json!({"result": "Error", "message": "invalid token"});
        return (StatusCode::UNAUTHORIZED, axum::Json(body)).into_response();
    };
    if session.expires <= Instant::now() {
        return json_200(json!({"code": -1, "message": "token expired"}));
    }
    if action.is_empty() {
        return json_200(iso::invalid("action"));
    }
    if sim.disabled.contains(&action) {
        return json_200(json!({"code": -1, "message": format!("unknown action {action}")}));
    }
    json_200(iso::dispatch(
        &mut state, &session, &action, &form, sim.delay,
    ))
}

async fn callback(AxState(sim): AxState<Arc<Sim>>, body: Bytes) -> Response {
    let form = form(&body);
    sim.bump("check");
    let state = sim.lock();
    if form.get("action").map(String::as_str) != Some("check") {
        return json_200(iso::invalid("action"));
    }
    let Some(session) = form.get("token").and_then(|t| state.sessions.get(t)) else {
        return json_200(json!({"result": "Error", "error": "invalid hash"}));
    };
    if session.expires <= Instant::now() {
        return json_200(json!({"code": -1, "message": "token expired"}));
    }
    let Some(key) = form.get("key").filter(|k| !k.is_empty()) else {
        return json_200(iso::invalid("key"));
    };
    let Some(cb) = state.callbacks.get(key) else {
        return json_200(json!({"error": "callback not found"}));
    };
    let halfway = cb.started + (cb.ready_at - cb.started) / 2;
    json_200(match &cb.outcome {
        None if Instant::now() < halfway => json!({"result": "Not ready"}),
        None => json!({
            "result": "OK", "key": key, "action": cb.action, "scope": "pending",
            "context": {"action": cb.action, "id": cb.server.to_string()},
        }),
        Some(Ok(data)) if state.legacy => {
            json!({"result": "OK", "key": key, "action": cb.action, "data": data})
        }
        Some(Ok(data)) => json!({
            "result": "OK", "key": key, "action": cb.action, "scope": "deploy_done", "data": data,
        }),
        Some(Err((word, msg))) => {
            json!({"result": word, "key": key, "action": cb.action, "message": msg})
        }
    })
}
