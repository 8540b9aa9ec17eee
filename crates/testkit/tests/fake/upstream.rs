//! A minimal JSON upstream for the self-test: an in-memory catalogue behind
//! an API key, with tasks that finish on their second read.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use isogate_sim::{Faults, ServeOptions, SimServer};
use serde::Deserialize;
use serde_json::{Value, json};

pub const KEY: &str = "fake-api-key-7f3a9c";
pub const INSTANCES: [&str; 2] = ["vm-1", "vm-2"];

#[derive(Debug, Clone)]
struct Item {
    id: u64,
    name: String,
    description: String,
    extractable: bool,
    ready: bool,
}

impl Item {
    fn json(&self) -> Value {
        json!({"id": self.id, "name": self.name, "description": self.description,
               "extractable": self.extractable, "ready": self.ready})
    }
}

#[derive(Debug, Clone)]
struct TaskRec {
    op: String,
    reads: u32,
    fails: bool,
    result: Value,
    /// The item an import task makes ready.
    item: Option<u64>,
}

#[derive(Debug, Default)]
struct Db {
    items: Vec<Item>,
    next_id: u64,
    tasks: BTreeMap<String, TaskRec>,
    history: BTreeMap<u64, Vec<(String, String)>>,
}

type Shared = Arc<Mutex<Db>>;

fn db(s: &Shared) -> std::sync::MutexGuard<'_, Db> {
    s.lock().unwrap_or_else(|p| p.into_inner())
}

fn err(status: StatusCode, message: &str) -> Response {
    (
        status,
        Json(json!({"error": status.as_u16(), "message": message})),
    )
        .into_response()
}

/// An error answer not rendered yet (small, unlike a `Response`).
struct Refusal(StatusCode, &'static str);

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        err(self.0, self.1)
    }
}

fn authed(h: &HeaderMap) -> Result<(), Refusal> {
    match h.get("x-api-key").and_then(|v| v.to_str().ok()) {
        Some(k) if k == KEY => Ok(()),
        _ => Err(Refusal(StatusCode::UNAUTHORIZED, "bad api key")),
    }
}

impl Db {
    fn item(&mut self, id: &str) -> Result<&mut Item, Refusal> {
        self.items
            .iter_mut()
            .find(|i| i.id.to_string() == id)
            .ok_or(Refusal(StatusCode::NOT_FOUND, "no such iso"))
    }

    fn task(&mut self, op: &str, item: Option<u64>, fails: bool, result: Value) -> Response {
        let id = format!("t-{}", self.tasks.len() + 1);
        self.tasks.insert(
            id.clone(),
            TaskRec {
                op: op.to_owned(),
                reads: 0,
                fails,
                result,
                item,
            },
        );
        (
            StatusCode::ACCEPTED,
            Json(json!({"task_id": id, "status": "pending"})),
        )
            .into_response()
    }

    fn log(&mut self, id: u64, op: &str) {
        let at = chrono::Utc::now().to_rfc3339();
        self.history
            .entry(id)
            .or_default()
            .push((at, op.to_owned()));
    }
}

#[derive(Deserialize)]
struct ListQuery {
    name: Option<String>,
}

async fn list(State(s): State<Shared>, h: HeaderMap, Query(q): Query<ListQuery>) -> Response {
    if let Err(r) = authed(&h) {
        return r.into_response();
    }
    let db = db(&s);
    let data: Vec<Value> = db
        .items
        .iter()
        .filter(|i| q.name.as_ref().is_none_or(|n| &i.name == n))
        .map(Item::json)
        .collect();
    Json(json!({"data": data})).into_response()
}

async fn get_one(State(s): State<Shared>, h: HeaderMap, Path(id): Path<String>) -> Response {
    if let Err(r) = authed(&h) {
        return r.into_response();
    }
    match db(&s).item(&id) {
        Ok(i) => Json(json!({"data": i.json()})).into_response(),
        Err(r) => r.into_response(),
    }
}

#[derive(Deserialize)]
struct NewIso {
    name: String,
    url: String,
    description: Option<String>,
}

async fn import(State(s): State<Shared>, h: HeaderMap, Json(b): Json<NewIso>) -> Response {
    if let Err(r) = authed(&h) {
        return r.into_response();
    }
    if !b.url.starts_with("http://") {
        return err(StatusCode::BAD_REQUEST, "url must be http");
    }
    let mut db = db(&s);
    db.next_id += 1;
    let id = db.next_id;
    db.items.push(Item {
        id,
        name: b.name,
        description: b.description.unwrap_or_default(),
        extractable: false,
        ready: false,
    });
    db.log(id, "upload");
    db.task("import", Some(id), false, json!({"id": id}))
}

#[derive(Deserialize)]
struct Patch {
    name: Option<String>,
    description: Option<String>,
}

async fn update(
    State(s): State<Shared>,
    h: HeaderMap,
    Path(id): Path<String>,
    Json(b): Json<Patch>,
) -> Response {
    if let Err(r) = authed(&h) {
        return r.into_response();
    }
    let mut db = db(&s);
    let item = match db.item(&id) {
        Ok(i) => i,
        Err(r) => return r.into_response(),
    };
    if let Some(n) = b.name {
        item.name = n;
    }
    if let Some(d) = b.description {
        item.description = d;
    }
    let (out, n) = (item.json(), item.id);
    db.log(n, "update");
    Json(json!({"data": out})).into_response()
}

async fn delete(State(s): State<Shared>, h: HeaderMap, Path(id): Path<String>) -> Response {
    if let Err(r) = authed(&h) {
        return r.into_response();
    }
    let mut db = db(&s);
    if let Err(r) = db.item(&id) {
        return r.into_response();
    }
    db.items.retain(|i| i.id.to_string() != id);
    StatusCode::NO_CONTENT.into_response()
}

#[derive(Deserialize)]
struct Attach {
    instance_id: String,
}

async fn attach(
    State(s): State<Shared>,
    h: HeaderMap,
    Path(id): Path<String>,
    Json(b): Json<Attach>,
) -> Response {
    if let Err(r) = authed(&h) {
        return r.into_response();
    }
    let mut db = db(&s);
    let n = match db.item(&id) {
        Ok(i) => i.id,
        Err(r) => return r.into_response(),
    };
    if !INSTANCES.contains(&b.instance_id.as_str()) {
        return err(StatusCode::NOT_FOUND, "no such instance");
    }
    db.log(n, "mount");
    db.task("attach", None, false, json!({}))
}

async fn detach(State(s): State<Shared>, h: HeaderMap, Path(inst): Path<String>) -> Response {
    if let Err(r) = authed(&h) {
        return r.into_response();
    }
    if !INSTANCES.contains(&inst.as_str()) {
        return err(StatusCode::NOT_FOUND, "no such instance");
    }
    let _ = s;
    Json(json!({})).into_response()
}

async fn download(State(s): State<Shared>, h: HeaderMap, Path(id): Path<String>) -> Response {
    if let Err(r) = authed(&h) {
        return r.into_response();
    }
    let mut db = db(&s);
    match db.item(&id) {
        Ok(i) if i.extractable => {
            let url = format!("http://downloads.example/{}.iso", i.id);
            db.task("download_url", None, false, json!({"url": url}))
        }
        Ok(_) => err(StatusCode::CONFLICT, "iso is not extractable"),
        Err(r) => r.into_response(),
    }
}

async fn history(State(s): State<Shared>, h: HeaderMap, Path(id): Path<String>) -> Response {
    if let Err(r) = authed(&h) {
        return r.into_response();
    }
    let mut db = db(&s);
    let n = match db.item(&id) {
        Ok(i) => i.id,
        Err(r) => return r.into_response(),
    };
    let data: Vec<Value> = db
        .history
        .get(&n)
        .into_iter()
        .flatten()
        .map(|(at, op)| json!({"at": at, "op": op}))
        .collect();
    Json(json!({"data": data})).into_response()
}

async fn sync(State(s): State<Shared>, h: HeaderMap) -> Response {
    if let Err(r) = authed(&h) {
        return r.into_response();
    }
    // A failing task, so task#3's message rule is exercised.
    db(&s).task("sync", None, true, json!({}))
}

async fn task(State(s): State<Shared>, h: HeaderMap, Path(id): Path<String>) -> Response {
    if let Err(r) = authed(&h) {
        return r.into_response();
    }
    let mut db = db(&s);
    let Some(t) = db.tasks.get_mut(&id) else {
        return err(StatusCode::NOT_FOUND, "no such task");
    };
    t.reads += 1;
    let t = t.clone();
    let status = match (t.reads, t.fails) {
        (1, _) => "pending",
        (_, false) => "succeeded",
        (_, true) => "failed",
    };
    if status == "succeeded"
        && let Some(n) = t.item
        && let Ok(item) = db.item(&n.to_string())
    {
        item.ready = true;
    }
    let error = (status == "failed").then_some("store unreachable");
    Json(json!({"id": id, "op": t.op, "status": status, "result": t.result, "error": error}))
        .into_response()
}

/// Starts the fake with `n` seeded items (every third one extractable).
pub async fn start(n: u64) -> SimServer {
    let mut db = Db::default();
    for id in 1..=n {
        db.items.push(Item {
            id,
            name: format!(
                "{}-linux-{id}",
                ["alpine", "debian", "ubuntu"][id as usize % 3]
            ),
            description: format!("seeded {id}"),
            extractable: id % 3 == 0,
            ready: true,
        });
        db.log(id, "upload");
    }
    db.next_id = n;
    let app = Router::new()
        .route("/api/isos", get(list).post(import))
        .route("/api/isos/{id}", get(get_one).patch(update).delete(delete))
        .route("/api/isos/{id}/attach", post(attach))
        .route("/api/isos/{id}/download", post(download))
        .route("/api/isos/{id}/history", get(history))
        .route("/api/instances/{id}/detach", post(detach))
        .route("/api/sync", post(sync))
        .route("/api/tasks/{id}", get(task))
        .with_state(Arc::new(Mutex::new(db)));
    let shape: isogate_sim::ErrorShape = Arc::new(err);
    SimServer::start(
        "fake",
        app,
        &ServeOptions::default(),
        "/api",
        Faults::default(),
        shape,
    )
    .await
    .expect("the fake upstream starts")
}
