//! Simulator of Cox Edge images (a CloudMC "images" entity), after seed 004
//! and Cox's own Go client (terraform-provider-coxedge `apiclient`).
//!
//! - `GET /api/v2/services/edge-services/test-area/images[?includeOnlySystemImages=true]`
//! - `GET /api/v2/services/edge-services/test-area/images/{stackId}/{family}/{tag}`
//! - the same under the old base and service code, `/api/v1/services/cox/...`
//!   (Cox moved to `/api/v2` and `edge-services` in 2022); each base accepts
//!   only its own service code, so an adapter's configuration is checked.
//!
//! Auth, envelopes and errors are CloudMC's: `MC-Api-Key` on every call, an
//! optional `org_id` (only [`crate::cloudmc::ORG_ID`] is accepted, else 403),
//! `{"data": ...}` with `metadata.recordCount` on lists, and
//! `{"errors":[{code,message,context}]}` for failures.
//!
//! Choices where the seed says nothing ([guess]):
//! - A missing or wrong key is 401 (code 1001), as in the CloudMC simulator.
//! - System images are the ones of stack [`SYSTEM_STACK_ID`] with slug
//!   `cox-edge`; `includeOnlySystemImages=true` returns only those. Values
//!   other than `true`/`false` are a 400 (CloudMC validates booleans).
//! - Deprecated images are left out of every listing but can still be read by
//!   id (a workload may still reference one), e.g. [`DEPRECATED_IMAGE_ID`].
//! - An id that is not exactly three non-empty segments, or holds `.`/`..`
//!   segments, is a 400; an unknown well-formed id is a 404. Other methods are 405.
//! - Statuses are fixed per image (they do not progress).

use std::sync::Arc;

use axum::extract::{Path, Query, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, TimeZone, Utc};
use rand::Rng;
use serde_json::{Value, json};

use crate::cloudmc::errors_response;
use crate::rng::seeded;
use crate::{Faults, ServeOptions, SimServer};

/// The API key the simulator accepts unless told otherwise.
pub const DEFAULT_API_KEY: &str = "sim-cox-key";
/// The service code of the current paths (Cox's Go client).
pub const SERVICE_CODE: &str = "edge-services";
/// The environment in every path.
pub const ENVIRONMENT: &str = "test-area";
/// The API base path (`base_url()` ends in it).
pub const BASE_PATH: &str = "/api/v2";
/// The old base path, still served with [`LEGACY_SERVICE_CODE`].
pub const LEGACY_BASE_PATH: &str = "/api/v1";
/// The old service code, accepted under [`LEGACY_BASE_PATH`] only.
pub const LEGACY_SERVICE_CODE: &str = "cox";
/// The stack of Cox's own (system) images, as in the seed.
pub const SYSTEM_STACK_ID: &str = "a8050b2b-39eb-4929-bce5-1af42055903e";
/// The slug of system images.
pub const SYSTEM_SLUG: &str = "cox-edge";
/// The seed's example images, present in every catalogue.
pub const SEED_IMAGE_IDS: [&str; 2] = [
    "a8050b2b-39eb-4929-bce5-1af42055903e/centos7/v20201110",
    "a8050b2b-39eb-4929-bce5-1af42055903e/ubuntu/v20201110",
];
/// A deprecated system image: not listed, readable by id.
pub const DEPRECATED_IMAGE_ID: &str = "a8050b2b-39eb-4929-bce5-1af42055903e/centos7/v20190601";

/// How to start the simulator.
#[derive(Clone, Debug)]
pub struct Options {
    /// Where to listen.
    pub serve: ServeOptions,
    /// Catalogue seed.
    pub seed: u64,
    /// Number of images (deprecated ones included); `None` for about forty.
    pub scale: Option<usize>,
    /// Faults injected from the start.
    pub faults: Faults,
    /// The accepted `MC-Api-Key`.
    pub api_key: String,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            serve: ServeOptions::default(),
            seed: 0,
            scale: None,
            faults: Faults::default(),
            api_key: DEFAULT_API_KEY.to_owned(),
        }
    }
}

#[derive(Clone, Debug)]
struct Image {
    stack_id: String,
    slug: String,
    family: String,
    tag: String,
    created: DateTime<Utc>,
    description: String,
    status: &'static str,
    deprecated: bool,
}

impl Image {
    fn id(&self) -> String {
        format!("{}/{}/{}", self.stack_id, self.family, self.tag)
    }
    fn to_json(&self) -> Value {
        json!({
            "stackId": self.stack_id,
            "id": self.id(),
            "slug": self.slug,
            "family": self.family,
            "tag": self.tag,
            "createdAt": self.created.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            "description": self.description,
            "reference": format!("{}/{}:{}", self.slug, self.family, self.tag),
            "status": self.status,
        })
    }
}

struct Sim {
    api_key: String,
    images: Vec<Image>,
}

const SYSTEM_FAMILIES: [&str; 7] = [
    "centos7",
    "ubuntu",
    "debian",
    "rocky8",
    "ubuntu2204",
    "alpine",
    "windows2019",
];
const SYSTEM_TAGS: [&str; 4] = ["v20201110", "v20210315", "v20220801", "v20230920"];
const CUSTOM_STACKS: [(&str, [&str; 3]); 3] = [
    ("acme-web", ["nginx-base", "php-fpm", "varnish"]),
    (
        "edge-analytics",
        ["etl-worker", "kafka-connect", "clickhouse"],
    ),
    ("game-servers", ["minecraft", "valheim", "steamcmd"]),
];
const CUSTOM_TAGS: [&str; 4] = ["v1.0.0", "v1.1.0", "v1.2.3", "latest"];
const STATUSES: [&str; 5] = [
    "READY",
    "PENDING",
    "PROCESSING",
    "FAILED",
    "IMAGE_STATUS_UNKNOWN",
];

fn ts(secs: i64, micros: u32) -> DateTime<Utc> {
    Utc.timestamp_opt(secs, micros * 1000)
        .single()
        .expect("in range")
}

fn catalogue(seed: u64, scale: Option<usize>) -> Vec<Image> {
    let mut rng = seeded(seed, "cox:images");
    let system = |family: &str, tag: &str, created: DateTime<Utc>, deprecated: bool| Image {
        stack_id: SYSTEM_STACK_ID.to_owned(),
        slug: SYSTEM_SLUG.to_owned(),
        family: family.to_owned(),
        tag: tag.to_owned(),
        created,
        description: format!("Image using {family}"),
        status: "READY",
        deprecated,
    };
    // The seed's two examples, exactly, then one deprecated image.
    let mut out = vec![
        system("centos7", "v20201110", ts(1_605_040_412, 609_434), false),
        system("ubuntu", "v20201110", ts(1_605_040_451, 328_575), false),
        system("centos7", "v20190601", ts(1_559_390_400, 0), true),
    ];
    let mut candidates = Vec::new();
    for family in SYSTEM_FAMILIES {
        for tag in SYSTEM_TAGS {
            if !out.iter().any(|i| i.family == family && i.tag == tag) {
                candidates.push((None, family.to_owned(), tag.to_owned()));
            }
        }
    }
    let stacks: Vec<String> = CUSTOM_STACKS
        .iter()
        .map(|_| crate::cloudmc::uuid_from(&mut rng))
        .collect();
    for (s, (_, families)) in CUSTOM_STACKS.iter().enumerate() {
        for family in families {
            for tag in CUSTOM_TAGS {
                candidates.push((Some(s), (*family).to_owned(), tag.to_owned()));
            }
        }
    }
    let total = scale.unwrap_or(42);
    out.truncate(total);
    while out.len() < total {
        let k = out.len() - 3;
        let (stack, family, tag) = &candidates[k % candidates.len()];
        let round = k / candidates.len();
        let tag = if round == 0 {
            tag.clone()
        } else {
            format!("{tag}-r{round}")
        };
        let created = ts(
            1_577_836_800 + rng.random_range(0..130_000_000),
            rng.random_range(0..1_000_000),
        );
        let roll: f64 = rng.random();
        let status = if roll < 0.8 {
            "READY"
        } else {
            STATUSES[rng.random_range(1..STATUSES.len())]
        };
        let deprecated = rng.random_bool(0.1);
        out.push(match stack {
            None => Image {
                status,
                deprecated,
                ..system(family, &tag, created, false)
            },
            Some(s) => Image {
                stack_id: stacks[*s].clone(),
                slug: CUSTOM_STACKS[*s].0.to_owned(),
                family: family.clone(),
                tag,
                created,
                description: format!("Custom image {family}"),
                status,
                deprecated,
            },
        });
    }
    out
}

/// One base path and the service code it accepts.
#[derive(Clone)]
struct Scoped {
    sim: Arc<Sim>,
    service: &'static str,
}

/// Starts the simulator; its `base_url()` ends in `/api/v2`.
pub async fn start(opts: Options) -> std::io::Result<SimServer> {
    let sim = Arc::new(Sim {
        api_key: opts.api_key.clone(),
        images: catalogue(opts.seed, opts.scale),
    });
    let mut app: Router = Router::new();
    for (base, service) in [
        (BASE_PATH, SERVICE_CODE),
        (LEGACY_BASE_PATH, LEGACY_SERVICE_CODE),
    ] {
        let svc = format!("{base}/services/{{service}}/{{env}}/images");
        let scoped = Scoped {
            sim: sim.clone(),
            service,
        };
        app = app.merge(
            Router::new()
                .route(&svc, get(list).fallback(crate::cloudmc::not_allowed))
                .route(
                    &format!("{svc}/{{*id}}"),
                    get(get_one).fallback(crate::cloudmc::not_allowed),
                )
                .with_state(scoped),
        );
    }
    let app = app
        .fallback(crate::cloudmc::not_found)
        .layer(middleware::from_fn_with_state(sim, auth));
    let shape: crate::ErrorShape = Arc::new(|status, msg| {
        let code = if status.as_u16() == 429 { 1429 } else { 9000 };
        errors_response(status, code, msg, json!({}))
    });
    SimServer::start("cox", app, &opts.serve, BASE_PATH, opts.faults, shape).await
}

async fn auth(State(sim): State<Arc<Sim>>, req: Request, next: Next) -> Response {
    if let Some(resp) =
        crate::cloudmc::check_credentials(req.headers(), req.uri().query(), &sim.api_key)
    {
        return resp;
    }
    next.run(req).await
}

fn scope_error(expected: &str, service: &str, env: &str) -> Option<Response> {
    let (what, value) = if service != expected {
        ("Service connection", service)
    } else if env != ENVIRONMENT {
        ("Environment", env)
    } else {
        return None;
    };
    Some(errors_response(
        StatusCode::NOT_FOUND,
        2004,
        &format!("{what} '{value}' was not found"),
        json!({"id": value}),
    ))
}

fn invalid(field: &str, message: &str) -> Response {
    errors_response(
        StatusCode::BAD_REQUEST,
        2012,
        message,
        json!({"field": field}),
    )
}

async fn list(
    State(Scoped { sim, service: code }): State<Scoped>,
    Path((service, env)): Path<(String, String)>,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> Response {
    if let Some(resp) = scope_error(code, &service, &env) {
        return resp;
    }
    let only_system = match q
        .get("includeOnlySystemImages")
        .map(|v| v.to_ascii_lowercase())
    {
        None => false,
        Some(v) if v == "true" => true,
        Some(v) if v == "false" => false,
        Some(_) => {
            return invalid(
                "includeOnlySystemImages",
                "'includeOnlySystemImages' must be true or false",
            );
        }
    };
    let data: Vec<Value> = sim
        .images
        .iter()
        .filter(|i| !i.deprecated && (!only_system || i.slug == SYSTEM_SLUG))
        .map(Image::to_json)
        .collect();
    let count = data.len();
    Json(json!({"data": data, "metadata": {"recordCount": count}})).into_response()
}

async fn get_one(
    State(Scoped { sim, service: code }): State<Scoped>,
    Path((service, env, id)): Path<(String, String, String)>,
) -> Response {
    if let Some(resp) = scope_error(code, &service, &env) {
        return resp;
    }
    let segments: Vec<&str> = id.split('/').collect();
    if segments.len() != 3
        || segments
            .iter()
            .any(|s| s.is_empty() || *s == "." || *s == "..")
    {
        return invalid("id", "An image id must be stackId/family/tag");
    }
    match sim.images.iter().find(|i| i.id() == id) {
        Some(image) => Json(json!({"data": image.to_json()})).into_response(),
        None => errors_response(
            StatusCode::NOT_FOUND,
            2004,
            &format!("Image '{id}' was not found"),
            json!({"id": id}),
        ),
    }
}
