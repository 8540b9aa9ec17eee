//! The simulator's mutable state: catalogue, attachments and tasks.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, Utc};
use rand::rngs::StdRng;
use serde_json::{Value, json};

use super::catalogue::{self, IsoRec, OsType, Zone};
use super::{ApiVersion, Options};
use crate::rng::seeded;

/// Error codes ([guess]; see the module docs).
pub(crate) const CODE_AUTH: u32 = 1001;
pub(crate) const CODE_FORBIDDEN: u32 = 1003;
pub(crate) const CODE_NOT_FOUND: u32 = 2004;
pub(crate) const CODE_NOT_ALLOWED: u32 = 2005;
pub(crate) const CODE_INVALID: u32 = 2012;
pub(crate) const CODE_CONFLICT: u32 = 2017;

/// `{"errors":[{"code","message","context"}]}` with the given status.
pub(crate) fn errors_response(
    status: StatusCode,
    code: u32,
    message: &str,
    context: Value,
) -> Response {
    crate::server::json_error(
        status,
        json!({"errors": [{"code": code, "message": message, "context": context}]}),
    )
}

/// A synchronous error answer, built by handlers.
#[derive(Debug)]
pub(crate) struct ApiError {
    pub status: StatusCode,
    pub code: u32,
    pub message: String,
    pub context: Value,
}

impl ApiError {
    pub fn new(status: StatusCode, code: u32, message: impl Into<String>, context: Value) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            context,
        }
    }
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            CODE_INVALID,
            message,
            json!({"field": field}),
        )
    }
    pub fn not_found(what: &str, id: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            CODE_NOT_FOUND,
            format!("{what} '{id}' was not found"),
            json!({"id": id}),
        )
    }
}

impl axum::response::IntoResponse for ApiError {
    fn into_response(self) -> Response {
        errors_response(self.status, self.code, &self.message, self.context)
    }
}

/// How a task ends.
#[derive(Clone, Debug)]
pub(crate) enum TaskEnd {
    Success(Value),
    Failure { code: u32, message: String },
}

#[derive(Clone, Debug)]
pub(crate) struct TaskRec {
    pub id: String,
    pub created: DateTime<Utc>,
    pub done_at: Instant,
    pub end: TaskEnd,
}

impl TaskRec {
    /// `(status, result)` as of now. A failure reads `FAILED` (what the
    /// CloudMC docs send), or `FAILURE` in the old shape (what Cox's Go
    /// client also checks), so adapters meet both.
    fn state(&self, legacy: bool) -> (&'static str, Value) {
        if Instant::now() < self.done_at {
            return ("PENDING", Value::Null);
        }
        match &self.end {
            TaskEnd::Success(v) => ("SUCCESS", v.clone()),
            TaskEnd::Failure { code, message } => (
                if legacy { "FAILURE" } else { "FAILED" },
                json!({"errors": [{"code": code, "message": message, "context": {"taskId": self.id}}]}),
            ),
        }
    }

    /// The body of `GET {base}/tasks/{id}`.
    pub fn to_json(&self, legacy: bool) -> Value {
        let (status, result) = self.state(legacy);
        if legacy {
            let mut v = json!({"taskId": self.id, "taskStatus": status});
            if !result.is_null() {
                v["result"] = result;
            }
            return v;
        }
        let mut data = json!({
            "id": self.id,
            "status": status,
            // RFC 3339, as the CloudMC docs show task `created` (ISOs keep
            // the seed's 12-hour form).
            "created": self.created.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        });
        if !result.is_null() {
            data["result"] = result;
        }
        json!({ "data": data })
    }
}

pub(crate) struct Inner {
    pub isos: Vec<IsoRec>,
    /// instance id -> attached ISO id.
    pub attached: HashMap<String, String>,
    pub tasks: HashMap<String, TaskRec>,
    pub rng: StdRng,
}

/// The shared state of one simulator.
pub(crate) struct Sim {
    pub version: ApiVersion,
    pub api_key: String,
    pub task_delay: Duration,
    pub legacy_tasks: bool,
    pub import_as_task: bool,
    pub zones: Vec<Zone>,
    pub os_types: Vec<OsType>,
    pub inner: Mutex<Inner>,
}

impl Sim {
    pub fn new(opts: &Options) -> Sim {
        let zones = catalogue::zones(opts.seed, opts.zones);
        let os_types = catalogue::os_types();
        let isos = catalogue::isos(opts.seed, opts.scale, &zones, &os_types);
        Sim {
            version: opts.version,
            api_key: opts.api_key.clone(),
            task_delay: opts.task_delay,
            legacy_tasks: opts.legacy_tasks,
            import_as_task: opts.import_as_task,
            zones,
            os_types,
            inner: Mutex::new(Inner {
                isos,
                attached: HashMap::new(),
                tasks: HashMap::new(),
                rng: seeded(opts.seed, "cloudmc:runtime"),
            }),
        }
    }

    pub fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Inner {
    pub fn new_id(&mut self) -> String {
        catalogue::uuid(&mut self.rng)
    }

    /// Records a task ending after `delay`; returns its id.
    pub fn start_task(&mut self, delay: Duration, end: TaskEnd) -> String {
        let id = self.new_id();
        self.tasks.insert(
            id.clone(),
            TaskRec {
                id: id.clone(),
                created: Utc::now(),
                done_at: Instant::now() + delay,
                end,
            },
        );
        id
    }

    pub fn iso(&self, id: &str) -> Option<&IsoRec> {
        self.isos.iter().find(|i| i.id == id)
    }
}
