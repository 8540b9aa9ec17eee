//! Routes and handlers of the CloudMC simulator.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::Utc;
use rand::Rng;
use serde_json::{Map, Value, json};

use super::catalogue::IsoRec;
use super::state::{
    ApiError, CODE_AUTH, CODE_CONFLICT, CODE_FORBIDDEN, CODE_NOT_ALLOWED, CODE_NOT_FOUND, Sim,
    TaskEnd, errors_response,
};
use super::{ApiVersion, ENVIRONMENT, INSTANCE_IDS, ORG_ID, SERVICE_CODE};

type Res = Result<Response, ApiError>;

pub(crate) fn router(sim: Arc<Sim>, bases: &[&str]) -> Router {
    let mut app = Router::new();
    for base in bases {
        app = routes(app, sim.version, base);
    }
    app.fallback(not_found)
        .layer(middleware::from_fn_with_state(sim.clone(), auth))
        .with_state(sim)
}

fn routes(mut app: Router<Arc<Sim>>, version: ApiVersion, base: &str) -> Router<Arc<Sim>> {
    let svc = format!("{base}/services/{{service}}/{{env}}");
    if version == ApiVersion::V2 {
        app = app
            .route(
                &format!("{svc}/isos"),
                get(list).post(import).fallback(not_allowed),
            )
            .route(
                &format!("{svc}/isos/{{id}}"),
                get(get_one)
                    .post(iso_operation)
                    .delete(delete)
                    .fallback(not_allowed),
            )
            .route(
                &format!("{svc}/instances/{{id}}"),
                post(instance_operation).fallback(not_allowed),
            )
            .route(
                &format!("{base}/tasks/{{id}}"),
                get(task).fallback(not_allowed),
            );
    } else {
        app = app
            .route(&format!("{svc}/isos"), get(list).fallback(not_allowed))
            .route(
                &format!("{svc}/isos/{{id}}"),
                get(get_one).fallback(not_allowed),
            );
    }
    app
}

/// Rejects a missing or wrong `MC-Api-Key` (401) and an unknown `org_id` (403).
pub(crate) fn check_credentials(
    headers: &HeaderMap,
    query: Option<&str>,
    key: &str,
) -> Option<Response> {
    let given = headers.get("mc-api-key").and_then(|v| v.to_str().ok());
    let message = match given {
        None => Some("An API key is required in the MC-Api-Key header"),
        Some(k) if k != key => Some("The API key is invalid"),
        Some(_) => None,
    };
    if let Some(message) = message {
        return Some(errors_response(
            StatusCode::UNAUTHORIZED,
            CODE_AUTH,
            message,
            json!({}),
        ));
    }
    let org = url::form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .find(|(k, _)| k == "org_id")
        .map(|(_, v)| v.into_owned());
    match org {
        Some(org) if org != ORG_ID => Some(errors_response(
            StatusCode::FORBIDDEN,
            CODE_FORBIDDEN,
            "You do not have access to this organization",
            json!({"org_id": org}),
        )),
        _ => None,
    }
}

async fn auth(State(sim): State<Arc<Sim>>, req: Request, next: Next) -> Response {
    if let Some(resp) = check_credentials(req.headers(), req.uri().query(), &sim.api_key) {
        return resp;
    }
    next.run(req).await
}

pub(crate) async fn not_found(method: Method, uri: axum::http::Uri) -> Response {
    errors_response(
        StatusCode::NOT_FOUND,
        CODE_NOT_FOUND,
        &format!("No endpoint {method} {}", uri.path()),
        json!({}),
    )
}

pub(crate) async fn not_allowed(method: Method) -> Response {
    errors_response(
        StatusCode::METHOD_NOT_ALLOWED,
        CODE_NOT_ALLOWED,
        &format!("Method {method} is not allowed on this resource"),
        json!({"method": method.as_str()}),
    )
}

fn check_scope(service: &str, env: &str) -> Result<(), ApiError> {
    if service != SERVICE_CODE {
        return Err(ApiError::not_found("Service connection", service));
    }
    if env != ENVIRONMENT {
        return Err(ApiError::not_found("Environment", env));
    }
    Ok(())
}

fn accepted(task_id: &str) -> Response {
    Json(json!({"taskId": task_id, "taskStatus": "PENDING"})).into_response()
}

async fn list(State(sim): State<Arc<Sim>>, Path((service, env)): Path<(String, String)>) -> Res {
    check_scope(&service, &env)?;
    let data: Vec<Value> = sim
        .lock()
        .isos
        .iter()
        .map(|i| i.to_json(sim.version))
        .collect();
    let count = data.len();
    Ok(Json(json!({"data": data, "metadata": {"recordCount": count}})).into_response())
}

async fn get_one(
    State(sim): State<Arc<Sim>>,
    Path((service, env, id)): Path<(String, String, String)>,
) -> Res {
    check_scope(&service, &env)?;
    let inner = sim.lock();
    let iso = inner
        .iso(&id)
        .ok_or_else(|| ApiError::not_found("ISO", &id))?;
    Ok(Json(json!({"data": iso.to_json(sim.version)})).into_response())
}

fn body_object(body: &Bytes) -> Result<Map<String, Value>, ApiError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(ApiError::invalid(
            "body",
            "The request body must be a JSON object",
        )),
    }
}

fn opt_str<'a>(obj: &'a Map<String, Value>, field: &str) -> Result<Option<&'a str>, ApiError> {
    match obj.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(ApiError::invalid(
            field,
            format!("'{field}' must be a string"),
        )),
    }
}

fn required_str<'a>(obj: &'a Map<String, Value>, field: &str) -> Result<&'a str, ApiError> {
    match opt_str(obj, field)? {
        Some(s) if !s.trim().is_empty() => Ok(s),
        _ => Err(ApiError::invalid(field, format!("'{field}' is required"))),
    }
}

fn opt_bool(obj: &Map<String, Value>, field: &str) -> Result<Option<bool>, ApiError> {
    match obj.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(ApiError::invalid(
            field,
            format!("'{field}' must be a boolean"),
        )),
    }
}

async fn import(
    State(sim): State<Arc<Sim>>,
    Path((service, env)): Path<(String, String)>,
    body: Bytes,
) -> Res {
    check_scope(&service, &env)?;
    let obj = body_object(&body)?;
    let name = required_str(&obj, "name")?;
    // Required by the seed, but may be empty.
    let description = opt_str(&obj, "description")?
        .ok_or_else(|| ApiError::invalid("description", "'description' is required"))?;
    let url = required_str(&obj, "url")?;
    match url::Url::parse(url) {
        Ok(u) if u.scheme() == "http" && u.host_str().is_some_and(|h| !h.is_empty()) => {}
        Ok(u) if u.scheme() != "http" => {
            return Err(ApiError::invalid(
                "url",
                "Only the http protocol is supported for ISO URLs",
            ));
        }
        _ => return Err(ApiError::invalid("url", "'url' is not a valid URL")),
    }
    let zone = match opt_str(&obj, "zoneId")? {
        Some(z) => sim
            .zones
            .iter()
            .find(|zone| zone.id == z)
            .cloned()
            .ok_or_else(|| ApiError::invalid("zoneId", format!("Zone '{z}' does not exist")))?,
        None if sim.zones.len() == 1 => sim.zones[0].clone(),
        None => {
            return Err(ApiError::invalid(
                "zoneId",
                "'zoneId' is required when the environment has more than one zone",
            ));
        }
    };
    let bootable = opt_bool(&obj, "bootable")?;
    let extractable = opt_bool(&obj, "extractable")?.unwrap_or(false);
    let os_type_id = opt_str(&obj, "osTypeId")?;
    let os = match (bootable, os_type_id) {
        (Some(true), None) => {
            return Err(ApiError::invalid(
                "osTypeId",
                "'osTypeId' is required when 'bootable' is true",
            ));
        }
        (Some(true), Some(os)) => sim
            .os_types
            .iter()
            .find(|o| o.id == os)
            .cloned()
            .ok_or_else(|| {
                ApiError::invalid("osTypeId", format!("OS type '{os}' does not exist"))
            })?,
        (_, Some(_)) => {
            return Err(ApiError::invalid(
                "osTypeId",
                "'osTypeId' must only be provided if 'bootable' is true",
            ));
        }
        (_, None) => sim.os_types[0].clone(),
    };
    let mut inner = sim.lock();
    let size = inner.rng.random_range(50_000_000..5_000_000_000u64);
    let rec = IsoRec {
        id: inner.new_id(),
        name: name.to_owned(),
        description: description.to_owned(),
        arch_bits: if os.name.contains("32-bit") { 32 } else { 64 },
        size,
        ready_at: Some(Instant::now() + sim.task_delay),
        ready: false,
        bootable: bootable.unwrap_or(false),
        public: false,
        extractable,
        os,
        zones: vec![zone],
        created: Utc::now(),
    };
    inner.isos.push(rec.clone());
    if sim.import_as_task {
        let done = IsoRec {
            ready_at: None,
            ready: true,
            ..rec
        };
        let task = inner.start_task(sim.task_delay, TaskEnd::Success(done.to_json(sim.version)));
        return Ok(accepted(&task));
    }
    Ok(Json(json!({"data": rec.to_json(sim.version)})).into_response())
}

async fn iso_operation(
    State(sim): State<Arc<Sim>>,
    Path((service, env, id)): Path<(String, String, String)>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Res {
    check_scope(&service, &env)?;
    match q.get("operation").map(String::as_str) {
        Some("attach") => {
            let obj = body_object(&body)?;
            let instance = required_str(&obj, "instanceId")?;
            attach(&sim, &id, instance)
        }
        Some("generateDownloadUrl") => {
            let mut inner = sim.lock();
            let iso = inner
                .iso(&id)
                .ok_or_else(|| ApiError::not_found("ISO", &id))?;
            if !iso.extractable {
                return Err(ApiError::invalid(
                    "id",
                    "A download URL can only be generated for an extractable ISO",
                ));
            }
            if !iso.is_ready() {
                return Err(ApiError::invalid("id", "The ISO is not ready yet"));
            }
            let host = headers
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .unwrap_or("localhost")
                .to_owned();
            let file = inner.new_id();
            let url = format!("http://{host}/userdata/{file}.iso");
            let task = inner.start_task(sim.task_delay, TaskEnd::Success(json!({"url": url})));
            Ok(accepted(&task))
        }
        Some(other) => Err(ApiError::invalid(
            "operation",
            format!("Unknown operation '{other}' on ISOs"),
        )),
        None => Err(ApiError::invalid("operation", "'operation' is required")),
    }
}

/// Attaches `iso_id` to `instance`: shape problems answer at once, a busy
/// instance is a task that fails.
fn attach(sim: &Sim, iso_id: &str, instance: &str) -> Res {
    let mut inner = sim.lock();
    let iso = inner
        .iso(iso_id)
        .ok_or_else(|| ApiError::not_found("ISO", iso_id))?;
    if !INSTANCE_IDS.contains(&instance) {
        return Err(ApiError::not_found("Instance", instance));
    }
    if iso.bootable {
        return Err(ApiError::invalid(
            "id",
            "Only a non-bootable ISO can be attached to an instance",
        ));
    }
    if !iso.is_ready() {
        return Err(ApiError::invalid("id", "The ISO is not ready yet"));
    }
    let end = match inner.attached.get(instance) {
        Some(current) => TaskEnd::Failure {
            code: CODE_CONFLICT,
            message: format!(
                "Instance '{instance}' already has ISO '{current}' attached; detach it first"
            ),
        },
        None => {
            inner
                .attached
                .insert(instance.to_owned(), iso_id.to_owned());
            TaskEnd::Success(json!({"id": instance, "isoId": iso_id}))
        }
    };
    let task = inner.start_task(sim.task_delay, end);
    Ok(accepted(&task))
}

async fn instance_operation(
    State(sim): State<Arc<Sim>>,
    Path((service, env, id)): Path<(String, String, String)>,
    Query(q): Query<HashMap<String, String>>,
    body: Bytes,
) -> Res {
    check_scope(&service, &env)?;
    match q.get("operation").map(String::as_str) {
        Some("detachIso") => {
            if !INSTANCE_IDS.contains(&id.as_str()) {
                return Err(ApiError::not_found("Instance", &id));
            }
            let mut inner = sim.lock();
            let end = match inner.attached.remove(&id) {
                Some(iso) => TaskEnd::Success(json!({"id": id, "isoId": iso})),
                None => TaskEnd::Failure {
                    code: CODE_CONFLICT,
                    message: format!("No ISO is attached to instance '{id}'"),
                },
            };
            let task = inner.start_task(sim.task_delay, end);
            Ok(accepted(&task))
        }
        Some("attachIso") => {
            let obj = body_object(&body)?;
            let iso = required_str(&obj, "isoId")?;
            attach(&sim, iso, &id)
        }
        Some(other) => Err(ApiError::invalid(
            "operation",
            format!("Unknown operation '{other}' on instances"),
        )),
        None => Err(ApiError::invalid("operation", "'operation' is required")),
    }
}

async fn delete(
    State(sim): State<Arc<Sim>>,
    Path((service, env, id)): Path<(String, String, String)>,
) -> Res {
    check_scope(&service, &env)?;
    let mut inner = sim.lock();
    let pos = inner
        .isos
        .iter()
        .position(|i| i.id == id)
        .ok_or_else(|| ApiError::not_found("ISO", &id))?;
    if let Some((instance, _)) = inner.attached.iter().find(|(_, iso)| **iso == id) {
        return Err(ApiError::invalid(
            "id",
            format!("The ISO is attached to instance '{instance}'; detach it first"),
        ));
    }
    inner.isos.remove(pos);
    let task = inner.start_task(sim.task_delay, TaskEnd::Success(json!({"id": id})));
    Ok(accepted(&task))
}

async fn task(State(sim): State<Arc<Sim>>, Path(id): Path<String>) -> Res {
    let inner = sim.lock();
    let task = inner
        .tasks
        .get(&id)
        .ok_or_else(|| ApiError::not_found("Task", &id))?;
    Ok(Json(task.to_json(sim.legacy_tasks)).into_response())
}
