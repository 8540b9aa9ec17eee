//! The OpenAPI 3.1 document, generated from the handlers' annotations.

use isogate_core::Operation;
use serde::Serialize;
use utoipa::OpenApi;

/// The listing query language (DESIGN.md "Query language").
#[derive(Debug, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // documentation only: listings parse the raw query themselves
pub struct ListParams {
    /// `field,op,value`; repeatable or `;`-joined, AND-ed. ops: eq ne lt le gt ge like in.
    /// Fields: id provider provider_kind native_id kind name description size_bytes status
    /// bootable visibility os.id os.name arch_bits zones.id zones.name owner extractable
    /// created_at updated_at labels.<key>. `like` takes % and _ (case-insensitive); `in` takes |-separated values.
    filter: Option<String>,
    /// Case-insensitive substring over name and description.
    q: Option<String>,
    /// Comma list of provider names.
    provider: Option<String>,
    /// Comma list of `iso`, `image`.
    kind: Option<String>,
    /// `field,asc|desc`, several `;`-joined; id is always the final tiebreak.
    sort: Option<String>,
    /// Page size (default 50, max 1000).
    per_page: Option<u32>,
    /// Opaque keyset cursor from `meta.next_cursor`.
    cursor: Option<String>,
    /// 1-based offset page (instead of cursor).
    page: Option<u32>,
    /// Comma list of fields to return (id always included).
    fields: Option<String>,
    /// Fetch now instead of from the cache (rate-limited per provider).
    refresh: Option<bool>,
    /// Include each upstream object as received (bypasses the cache).
    raw: Option<bool>,
}

/// `{"url": ...}`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UrlResponse {
    /// The generated download URL.
    pub url: String,
}

/// `{"data": [HistoryEntry]}`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct HistoryResponse {
    /// Oldest first.
    pub data: Vec<isogate_core::HistoryEntry>,
}

/// The document.
#[derive(OpenApi)]
#[openapi(
    info(title = "isogate", description = "One REST API in front of many ISO and image catalogues."),
    paths(
        crate::routes::isos::list_isos,
        crate::routes::stats::get_stats,
        crate::routes::isos::get_iso,
        crate::routes::images::list_images,
        crate::routes::images::get_coverage,
        crate::routes::providers::list_providers,
        crate::routes::isos::list_provider_isos,
        crate::routes::items::get_provider_iso,
        crate::routes::items::import_iso,
        crate::routes::items::update_iso,
        crate::routes::items::delete_iso,
        crate::routes::items::attach_iso,
        crate::routes::items::detach_iso,
        crate::routes::items::create_download_url,
        crate::routes::items::get_iso_history,
        crate::routes::providers::sync_provider,
        crate::routes::providers::get_task,
        crate::routes::admin::invalidate_cache,
        crate::routes::events::get_events,
        crate::routes::webhooks::list_webhooks,
        crate::routes::health::healthz,
        crate::routes::health::readyz,
        crate::routes::health::get_metrics,
    ),
    modifiers(&Guarded),
    tags(
        (name = "listings", description = "Federated and per-provider listings"),
        (name = "images", description = "The same image across providers: identities and coverage"),
        (name = "items", description = "One provider's items and operations"),
        (name = "providers", description = "Providers, sync and tasks"),
        (name = "admin", description = "Cache administration"),
        (name = "events", description = "The change feed (Server-Sent Events) and its webhooks"),
        (name = "operations", description = "Health and metrics"),
    )
)]
#[derive(Debug)]
pub struct ApiDoc;

/// Adds what the layers around the handlers answer on every `/v1` route
/// (they wrap the handlers, so the handlers' annotations cannot say it): the
/// API-key schemes and 401, 403 and 429 problems (added per configuration by
/// [`document_for`]), 431, and the request deadline's 504.
#[derive(Debug)]
struct Guarded;

impl utoipa::Modify for Guarded {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{
            ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
        };
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        components.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-Api-Key"))),
        );
        for (path, item) in openapi.paths.paths.iter_mut() {
            if !path.starts_with("/v1/") {
                continue;
            }
            let ops = [
                &mut item.get,
                &mut item.post,
                &mut item.patch,
                &mut item.delete,
                &mut item.put,
            ];
            for op in ops.into_iter().flatten() {
                // Either header works.
                op.security = Some(vec![
                    SecurityRequirement::new("bearer", Vec::<String>::new()),
                    SecurityRequirement::new("api_key", Vec::<String>::new()),
                ]);
                for (code, description) in GUARD_ANSWERS {
                    op.responses
                        .responses
                        .entry(code.to_owned())
                        .or_insert_with(|| problem(description).into());
                }
            }
        }
    }
}

/// What the auth, limit and deadline layers may answer on any `/v1` route.
const GUARD_ANSWERS: [(&str, &str); 5] = [
    (
        "401",
        "No API key, or an unknown one (when keys are configured)",
    ),
    (
        "403",
        "The key lacks the scope, or the provider is outside its allow-list",
    ),
    ("429", "Rate limit exceeded; see Retry-After"),
    ("431", "Request headers larger than the configured limit"),
    (
        "504",
        "The request took longer than the configured deadline, or the upstream timed out",
    ),
];

fn problem(description: &str) -> utoipa::openapi::Response {
    use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/problem+json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("Problem")))
                .build(),
        )
        .build()
}

/// The document as the annotations give it (every route, keys on).
pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// The document describing the running configuration (what `/openapi.json`
/// serves): the configured provider names, the page-size limit, security
/// only when keys are required, and the parameters' grammar as the server
/// enforces it, so a client generated from it, or a fuzzer, sends only what
/// the server accepts.
pub fn document_for(state: &crate::state::AppState) -> serde_json::Value {
    let mut doc = serde_json::to_value(document()).unwrap_or_default();
    let names: Vec<String> = state.providers().map(|h| h.name.clone()).collect();
    let keys = state.keys();
    let keyed = keys.mode() == crate::config::auth::AuthMode::Keys;
    let limited = keyed || state.config().auth.rate_limit.anonymous;
    let grammar = Grammar::new(
        &names,
        state.config().server.max_filters,
        state.config().server.max_per_page,
    );
    if let Some(paths) = doc.get_mut("paths").and_then(|p| p.as_object_mut()) {
        for (path, item) in paths.iter_mut() {
            let Some(item) = item.as_object_mut() else {
                continue;
            };
            item.retain(|method, op| {
                // The providers that can do it: any other is answered 405.
                let able: Vec<String> = match capability_of(method, path) {
                    Some(cap) => state
                        .providers()
                        .filter(|h| h.capability.supports(cap))
                        .map(|h| h.name.clone())
                        .collect(),
                    None => names.clone(),
                };
                if path == "/v1/events" && !state.config().feed.enabled {
                    // Answered 404 feed_disabled: nothing to call.
                    return false;
                }
                if able.is_empty() && path.contains("{provider}") {
                    // No configured provider can: nothing to call.
                    return false;
                }
                tailor_operation(path, op, &grammar, &able, keyed, limited);
                true
            });
        }
    }
    if !keyed && let Some(components) = doc.get_mut("components").and_then(|c| c.as_object_mut()) {
        components.remove("securitySchemes");
    }
    if let Some(schemas) = doc
        .get_mut("components")
        .and_then(|c| c.get_mut("schemas"))
        .and_then(|s| s.as_object_mut())
    {
        tailor_schemas(schemas);
    }
    concrete_imports(&mut doc, state);
    sse_messages(&mut doc);
    doc
}

/// `/v1/events` answers Server-Sent Events: each message is `id`, `event`
/// and a `data` line holding one CloudEvent as JSON (OpenAPI 3.2's
/// `itemSchema` shape), not a JSON body that is an Event.
fn sse_messages(doc: &mut serde_json::Value) {
    use serde_json::json;
    let Some(content) = doc["paths"]["/v1/events"]["get"]["responses"]["200"]["content"]
        .get_mut("text/event-stream")
    else {
        return;
    };
    content["schema"] = json!({
        "type": "object",
        "description": "One Server-Sent Events message",
        "properties": {
            "id": {"type": "string", "description": "The event id (resume with Last-Event-ID)"},
            "event": {"type": "string", "description": "The short event type (iso.added, reset, ...)"},
            "data": {"type": "string", "contentMediaType": "application/json",
                     "contentSchema": {"$ref": "#/components/schemas/Event"},
                     "description": "The CloudEvent, as one line of JSON"},
            "retry": {"type": "integer", "minimum": 0}
        }
    });
}

/// Import rules differ per provider (CloudMC v2 downloads only over http,
/// the action module only over https; CloudMC needs a zone and ties
/// `os_type_id` to `bootable`), and a body schema cannot depend on a path
/// parameter: so each import-capable provider gets its own concrete path
/// (`/v1/providers/<name>/isos`, POST only; it wins over the template) with
/// its own body schema, and the template keeps the listing alone.
fn concrete_imports(doc: &mut serde_json::Value, state: &crate::state::AppState) {
    use serde_json::json;
    const TEMPLATE: &str = "/v1/providers/{provider}/isos";
    let Some(template) = doc["paths"]
        .get_mut(TEMPLATE)
        .and_then(|item| item.as_object_mut())
        .and_then(|item| item.remove("post"))
    else {
        return;
    };
    let listing = doc["paths"][TEMPLATE].get("get").cloned();
    let mut concrete = Vec::new();
    let base = doc["components"]["schemas"]["ImportRequest"].clone();
    for handle in state
        .providers()
        .filter(|h| h.capability.supports(Operation::Import))
    {
        let name = &handle.name;
        let ident: String = name
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        let schema_name = format!("ImportRequest_{ident}");
        let mut schema = base.clone();
        let schemes = handle
            .import_schemes
            .iter()
            .map(|s| escape(s))
            .collect::<Vec<_>>()
            .join("|");
        schema["properties"]["url"]["pattern"] =
            json!(IMPORT_URL.replacen("https?", &format!("({schemes})"), 1));
        schema["properties"]["url"]["description"] = json!(format!(
            "{} URL of the ISO, fetched by the upstream; private, loopback and \
             metadata addresses are refused",
            handle.import_schemes.join(" or ")
        ));
        if handle.kind == isogate_core::ProviderKind::Cloudmc {
            // The seed: `zoneId` may be left out only when the environment
            // has one zone, and `osTypeId` goes with `bootable: true` only.
            schema["required"] = json!(["name", "url", "zone_id"]);
            schema["properties"]["zone_id"] = json!({"type": "string", "minLength": 1,
                "description": "Target zone (required by CloudMC unless the environment has one zone)"});
            // `if`/`then`, not `anyOf`: a generated client turns a top-level
            // anyOf into a union of bodies without the common fields.
            schema["if"] = json!({"required": ["bootable"],
                "properties": {"bootable": {"enum": [true]}}});
            schema["then"] = json!({"required": ["os_type_id"],
                "properties": {"os_type_id": {"type": "string"}}});
            schema["else"] = json!({"properties": {"os_type_id": {"type": "null"}}});
        }
        doc["components"]["schemas"][&schema_name] = schema;
        let mut op = template.clone();
        op["operationId"] = json!(format!("import_iso_{ident}"));
        op["summary"] = json!(format!("Import an ISO into {name}"));
        if let Some(params) = op.get_mut("parameters").and_then(|p| p.as_array_mut()) {
            params.retain(|p| !(p["in"] == "path" && p["name"] == "provider"));
        }
        if let Some(content) = op["requestBody"]["content"].as_object_mut() {
            for body in content.values_mut() {
                body["schema"] = json!({"$ref": format!("#/components/schemas/{schema_name}")});
            }
        }
        // A concrete path wins over the template for every method (OpenAPI
        // 3.1, "Path Templating Matching"), so it carries this provider's
        // listing too, and the template's enum leaves the provider out.
        let mut item = json!({"post": op});
        if let Some(list) = &listing {
            let mut list = list.clone();
            list["operationId"] = json!(format!("list_provider_isos_{ident}"));
            list["summary"] = json!(format!("List {name}'s items"));
            if let Some(params) = list.get_mut("parameters").and_then(|p| p.as_array_mut()) {
                params.retain(|p| !(p["in"] == "path" && p["name"] == "provider"));
            }
            item["get"] = list;
        }
        doc["paths"][format!("/v1/providers/{name}/isos")] = item;
        concrete.push(name.clone());
    }
    if let Some(get) = doc["paths"][TEMPLATE].get_mut("get")
        && let Some(params) = get.get_mut("parameters").and_then(|p| p.as_array_mut())
    {
        for param in params.iter_mut() {
            if param["in"] == "path"
                && param["name"] == "provider"
                && let Some(names) = param["schema"]["enum"].as_array_mut()
            {
                names.retain(|n| !concrete.iter().any(|c| n == c.as_str()));
            }
        }
    }
}

/// The capability an operation on a provider needs.
fn capability_of(method: &str, path: &str) -> Option<Operation> {
    let resource = path.strip_prefix("/v1/providers/{provider}")?;
    Some(match (method, resource) {
        ("get", "/isos") => Operation::List,
        ("post", "/isos") => Operation::Import,
        ("get", "/isos/{native_id}") => Operation::Get,
        ("patch", "/isos/{native_id}") => Operation::Update,
        ("delete", "/isos/{native_id}") => Operation::Delete,
        ("post", "/isos/{native_id}/attach") => Operation::Attach,
        ("post", "/isos/{native_id}/download-url") => Operation::DownloadUrl,
        ("get", "/isos/{native_id}/history") => Operation::History,
        ("post", "/instances/{instance}/detach-iso") => Operation::Detach,
        ("post", "/sync") => Operation::Sync,
        ("get", "/tasks/{task}") => Operation::Task,
        _ => return None,
    })
}

fn tailor_operation(
    path: &str,
    op: &mut serde_json::Value,
    grammar: &Grammar,
    able: &[String],
    keyed: bool,
    limited: bool,
) {
    use serde_json::json;
    let mut also: Vec<(&str, &str)> = Vec::new();
    if op.get("requestBody").is_some() {
        also.extend([
            ("400", "Malformed body"),
            ("413", "Body larger than the configured limit"),
            ("415", "Body is not JSON (Content-Type: application/json)"),
        ]);
    }
    if op
        .get("parameters")
        .and_then(|p| p.as_array())
        .is_some_and(|ps| ps.iter().any(|p| p["name"] == "cursor"))
    {
        also.push((
            "404",
            "The cursor was not issued by this server for this query, or no such provider",
        ));
    }
    if path.contains("{native_id}") || path.contains("{instance}") || path.contains("{task}") {
        also.push(("400", "Invalid id"));
    }
    let method_of = |m: &str| op.get("operationId").and_then(|o| o.as_str()) == Some(m);
    if method_of("import_iso") || method_of("update_iso") {
        also.push(("409", "The name is already taken at the provider"));
    }
    if method_of("create_download_url") {
        also.push((
            "409",
            "The ISO was not imported as extractable, or is not ready yet",
        ));
    }
    if path == "/v1/cache/invalidate" {
        // The body is optional: all providers when absent.
        op["requestBody"]["required"] = json!(false);
    }
    if let Some(responses) = op.get_mut("responses").and_then(|r| r.as_object_mut()) {
        for (code, description) in also {
            responses
                .entry(code)
                .or_insert_with(|| serde_json::to_value(problem(description)).unwrap_or_default());
        }
    }
    if !keyed {
        if let Some(op) = op.as_object_mut() {
            op.remove("security");
        }
        if let Some(responses) = responses_of(op) {
            responses.remove("401");
            responses.remove("403");
        }
    }
    // The stream limit per key answers 429 whatever the rate limits.
    if !limited
        && path != "/v1/events"
        && let Some(responses) = responses_of(op)
    {
        responses.remove("429");
    }
    // Every problem is application/problem+json, whatever the annotation says.
    if let Some(responses) = responses_of(op) {
        for (code, resp) in responses.iter_mut() {
            let is_problem = code.starts_with('4') || code.starts_with('5');
            // `get_mut`: indexing would insert a null `content`.
            let content = resp.get_mut("content").and_then(|c| c.as_object_mut());
            if let (true, Some(content)) = (is_problem, content)
                && let Some(body) = content.remove("application/json")
            {
                content.insert("application/problem+json".into(), body);
            }
        }
    }
    if path.contains("{provider}")
        && let Some(responses) = responses_of(op)
    {
        responses.entry("503").or_insert_with(|| {
            serde_json::to_value(problem(
                "The upstream is unreachable, or its circuit breaker is open",
            ))
            .unwrap_or_default()
        });
    }
    if path == "/v1/isos/stats" {
        // Stats take the listing's filters only; paging, sort and
        // projection do not apply to figures.
        if let Some(params) = op.get_mut("parameters").and_then(|p| p.as_array_mut()) {
            params.retain(|p| {
                ["group_by", "filter", "q", "provider", "kind"]
                    .iter()
                    .any(|n| p["name"] == *n)
            });
        }
    }
    if path == "/v1/providers/{provider}/isos" {
        // The path names the provider; a second one in the query could only conflict.
        if let Some(params) = op.get_mut("parameters").and_then(|p| p.as_array_mut()) {
            params.retain(|p| !(p["in"] == "query" && p["name"] == "provider"));
        }
    }
    let Some(params) = op.get_mut("parameters").and_then(|p| p.as_array_mut()) else {
        return;
    };
    // `/v1/images*`: `filter`/`sort` speak of groups, `item_filter` of items.
    let groups = path.starts_with("/v1/images");
    for param in params {
        let name = param["name"].as_str().unwrap_or_default().to_owned();
        let place = param["in"].as_str().unwrap_or_default().to_owned();
        let schema = match (place.as_str(), name.as_str()) {
            ("path", "provider") => json!({"type": "string", "enum": able}),
            ("path", "id") => json!({"type": "string", "pattern": grammar.global_id}),
            ("path", "native_id") => json!({"type": "string", "pattern": NATIVE_ID,
                "maxLength": MAX_ID_CHARS}),
            ("path", "instance" | "task") => json!({"type": "string", "pattern": NATIVE_SEGMENT,
                "maxLength": MAX_ID_CHARS}),
            ("query", "filter") if groups => {
                json!({"type": "string", "pattern": grammar.group_filter})
            }
            ("query", "sort") if groups => json!({"type": "string", "pattern": grammar.group_sort}),
            ("query", "filter" | "item_filter") => {
                json!({"type": "string", "pattern": grammar.filter})
            }
            ("query", "sort") => json!({"type": "string", "pattern": grammar.sort}),
            ("query", "fields") => json!({"type": "string", "pattern": grammar.fields}),
            ("query", "kind") => json!({"type": "string", "pattern": grammar.kind}),
            ("query", "provider" | "providers") => {
                json!({"type": "string", "pattern": grammar.provider_list})
            }
            ("query", "group_by") => json!({"type": "string", "pattern": grammar.group_by}),
            ("query", "per_page") => {
                json!({"type": "integer", "minimum": 1, "maximum": grammar.max_per_page})
            }
            ("query", "page") => json!({"type": "integer", "minimum": 1, "maximum": u32::MAX}),
            _ => continue,
        };
        param["schema"] = schema;
        if let Some(p) = param.as_object_mut() {
            p.remove("required");
            if place == "path" {
                p.insert("required".into(), json!(true));
            }
        }
    }
}

/// An operation's responses (`get_mut`: indexing would insert a null).
fn responses_of(
    op: &mut serde_json::Value,
) -> Option<&mut serde_json::Map<String, serde_json::Value>> {
    op.get_mut("responses").and_then(|r| r.as_object_mut())
}

/// Request bodies the server parses strictly say so.
/// An item name as the gateway accepts it for every provider (see
/// `crate::routes::items::check_name`): no `/`, no control character, not
/// blank.
const ITEM_NAME: &str = r"^[^/\u0000-\u001f\u007f-\u009f]*[^/\s\u0000-\u001f\u007f-\u009f][^/\u0000-\u001f\u007f-\u009f]*$";

fn tailor_schemas(schemas: &mut serde_json::Map<String, serde_json::Value>) {
    use serde_json::json;
    if let Some(import) = schemas.get_mut("ImportRequest") {
        import["properties"]["url"] = json!({
            "type": "string",
            "format": "uri",
            // What the import guard lets through with no DNS: http(s) to a
            // public host name (literal addresses and local names are refused).
            "pattern": IMPORT_URL,
            "description": "http(s) URL of the ISO, fetched by the upstream; \
                            private, loopback and metadata addresses are refused"
        });
    }
    if let Some(import) = schemas.get_mut("ImportRequest") {
        import["properties"]["name"]["minLength"] = json!(1);
        import["properties"]["name"]["pattern"] = json!(ITEM_NAME);
    }
    if let Some(update) = schemas.get_mut("UpdateRequest") {
        update["properties"]["name"]["minLength"] = json!(1);
        update["properties"]["name"]["pattern"] = json!(ITEM_NAME);
        // At least one of the two, as a string (null is the same as absent).
        update["anyOf"] = json!([
            {"required": ["name"], "properties": {"name": {"type": "string"}}},
            {"required": ["description"], "properties": {"description": {"type": "string"}}}
        ]);
    }
    if let Some(attach) = schemas.get_mut("AttachRequest") {
        attach["properties"]["instance_id"]["pattern"] = json!(NATIVE_SEGMENT);
        attach["properties"]["instance_id"]["maxLength"] = json!(MAX_ID_CHARS);
    }
    if let Some(list) = schemas.get_mut("ListResponse") {
        // `fields=` projects the items: any subset of an item's fields.
        list["properties"]["data"]["items"] = json!({
            "anyOf": [{"$ref": "#/components/schemas/Iso"}, {"type": "object"}]
        });
    }
    for name in ["InvalidateRequest"] {
        if let Some(schema) = schemas.get_mut(name) {
            schema["additionalProperties"] = json!(false);
        }
    }
}

/// Native ids no upstream could accept are refused before any call: no
/// control character, no empty, `.` or `..` segment.
const NATIVE_SEGMENT: &str = r"^([^/\x00-\x1f\x7f-\x9f.][^/\x00-\x1f\x7f-\x9f]*|\.[^/\x00-\x1f\x7f-\x9f.][^/\x00-\x1f\x7f-\x9f]*|\.\.[^/\x00-\x1f\x7f-\x9f]+)$";
const NATIVE_ID: &str = r"^(([^/\x00-\x1f\x7f-\x9f.][^/\x00-\x1f\x7f-\x9f]*|\.[^/\x00-\x1f\x7f-\x9f.][^/\x00-\x1f\x7f-\x9f]*|\.\.[^/\x00-\x1f\x7f-\x9f]+)/)*([^/\x00-\x1f\x7f-\x9f.][^/\x00-\x1f\x7f-\x9f]*|\.[^/\x00-\x1f\x7f-\x9f.][^/\x00-\x1f\x7f-\x9f]*|\.\.[^/\x00-\x1f\x7f-\x9f]+)$";
/// Characters, not bytes: four bytes each at most keeps under the byte limit.
const MAX_ID_CHARS: usize = isogate_core::id::MAX_NATIVE_ID_LEN / 4;
/// An import URL the gateway takes without DNS (`server.import_dns = "skip"`,
/// the demo): http(s), a host name of letter-led labels under a public
/// top-level domain (no address in any spelling, no local name, no port, no
/// credentials), a path of unreserved characters ending in a file name. With `skip` the gateway
/// enforces exactly this (`routes::items::import_iso`), so the document is
/// exact; with `strict` it resolves the host and checks every address
/// instead, and this stays the part a client can check offline.
pub(crate) const IMPORT_URL: &str = r"^https?://[a-z][a-z0-9-]{0,30}(\.[a-z][a-z0-9-]{0,30}){1,3}\.(com|org|net|io)(/[A-Za-z0-9._~-]{0,64}){0,7}/[A-Za-z0-9._~-]{0,32}[A-Za-z0-9_~-][A-Za-z0-9._~-]{0,32}$";

/// The listing grammar of DESIGN.md as ECMA/Python-compatible patterns
/// (`^...$`, no look-around or `\p`): what the query parser accepts.
struct Grammar {
    global_id: String,
    filter: String,
    sort: String,
    /// `filter`/`sort` of `/v1/images*`: over image groups, not items.
    group_filter: String,
    group_sort: String,
    fields: String,
    kind: String,
    provider_list: String,
    group_by: String,
    max_per_page: u32,
}

impl Grammar {
    fn new(providers: &[String], max_filters: usize, max_per_page: u32) -> Grammar {
        let names = providers
            .iter()
            .map(|n| escape(n))
            .collect::<Vec<_>>()
            .join("|");
        let text = "(id|provider|native_id|name|description|os\\.id|os\\.name|os\\.family|os\\.version|arch|edition|zones\\.id|zones\\.name|owner|labels\\.[^;,]+)";
        let cmp = "(eq|ne|lt|le|gt|ge)";
        let num = "[0-9]{1,19}";
        let boolean = "(true|false)";
        let date = "[1-9][0-9]{3}-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])";
        let time = format!(
            "{date}(T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\\.[0-9]{{1,9}})?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9]))?"
        );
        let typed =
            |fields: &str, value: &str| format!("{fields},({cmp},{value}|in,{value}(\\|{value})*)");
        let enum_of = |values: &[&str]| format!("({})", values.join("|"));
        let enums = [
            (
                "provider_kind",
                enum_of(&["cloudmc", "vss", "action", "cox"]),
            ),
            ("kind", enum_of(&["iso", "image"])),
            (
                "status",
                enum_of(&["ready", "pending", "processing", "failed", "unknown"]),
            ),
            ("visibility", enum_of(&["public", "private", "unknown"])),
        ];
        let mut segments = vec![
            format!("{text},(eq|ne|lt|le|gt|ge|like|in),[^;]*"),
            typed("(size_bytes|arch_bits)", num),
            typed("(bootable|extractable)", boolean),
            typed("(created_at|updated_at)", &time),
        ];
        for (field, values) in &enums {
            segments.push(format!("{field},like,[^;]*"));
            segments.push(typed(field, values));
        }
        let segment = format!("({})", segments.join("|"));
        let more = max_filters.saturating_sub(1);
        let field = format!(
            "({text}|size_bytes|arch_bits|bootable|extractable|created_at|updated_at|provider_kind|kind|status|visibility)"
        );
        let list = |item: &str| format!("^({item}(,{item})*)?$");
        // Image groups (`isogate_core::identity::GroupField`).
        let group_text = "(family|version|arch|edition|provider)";
        let group_numbers = typed("(providers|items|size_bytes)", num);
        // Group booleans take eq, ne and in only.
        let group_boolean = format!("consistent,((eq|ne),{boolean}|in,{boolean}(\\|{boolean})*)");
        let group_segment = format!(
            "({group_text},(eq|ne|lt|le|gt|ge|like|in),[^;]*|{group_numbers}|{group_boolean})"
        );
        let group_field = format!("({group_text}|providers|items|size_bytes|consistent)");
        Grammar {
            global_id: format!(
                "^({names}):([^%/\\x00-\\x1f\\x7f-\\x9f.][^%/\\x00-\\x1f\\x7f-\\x9f]*|\\.[^%/\\x00-\\x1f\\x7f-\\x9f.][^%/\\x00-\\x1f\\x7f-\\x9f]*|\\.\\.[^%/\\x00-\\x1f\\x7f-\\x9f]+)$"
            ),
            filter: format!("^{segment}?(;{segment}?){{0,{more}}}$"),
            group_filter: format!("^{group_segment}?(;{group_segment}?){{0,{more}}}$"),
            group_sort: format!("^({group_field}(,(asc|desc))?)?$"),
            // One key: the parser refuses a key given twice, which a
            // pattern cannot say; several `;`-joined keys still work.
            sort: format!("^({field}(,(asc|desc))?)?$"),
            fields: list(&format!("({})", isogate_core::query::FIELD_NAMES.join("|"))),
            kind: list("(iso|image)"),
            provider_list: list(&format!("({names})")),
            group_by: list(&format!(
                "({})",
                crate::routes::stats::GROUPS
                    .iter()
                    .map(|g| escape(g))
                    .collect::<Vec<_>>()
                    .join("|")
            )),
            max_per_page,
        }
    }
}

/// A provider name as a literal in a pattern.
fn escape(name: &str) -> String {
    name.chars()
        .flat_map(|c| {
            let special = "\\^$.|?*+()[]{}-/".contains(c);
            special
                .then_some('\\')
                .into_iter()
                .chain(std::iter::once(c))
        })
        .collect()
}

/// The methods the document served for `state` documents on `path`, upper
/// case, for the `Allow` header of an OPTIONS or a 405: those of the one path
/// the URL falls under, concrete paths before templates and a longer
/// template first (an item path ending in `/history` is the history
/// resource), as OpenAPI matches them. A provider's own capability 405
/// (`routes::common::require`) is narrower: it lists what that provider does.
pub fn documented_methods(state: &crate::state::AppState, path: &str) -> Vec<String> {
    allowed_by(&document_for(state), path)
}

fn allowed_by(doc: &serde_json::Value, path: &str) -> Vec<String> {
    const ORDER: [&str; 7] = ["get", "head", "post", "put", "patch", "delete", "options"];
    let segments: Vec<&str> = path.split('/').collect();
    let Some(paths) = doc["paths"].as_object() else {
        return Vec::new();
    };
    let best = paths
        .iter()
        .map(|(template, item)| {
            (
                template.split('/').map(str::to_owned).collect::<Vec<_>>(),
                item,
            )
        })
        .filter(|(template, _)| matches_template(template, &segments))
        .min_by_key(|(template, _)| {
            let templated = template.iter().filter(|t| t.starts_with('{')).count();
            (templated, std::cmp::Reverse(template.len()))
        });
    let Some((_, item)) = best else {
        return Vec::new();
    };
    ORDER
        .iter()
        .filter(|m| item.get(**m).is_some())
        .map(|m| m.to_uppercase())
        .collect()
}

fn matches_template(template: &[String], segments: &[&str]) -> bool {
    let Some(at) = template.iter().position(|t| t == "{native_id}") else {
        return template.len() == segments.len()
            && template
                .iter()
                .zip(segments)
                .all(|(t, s)| t == s || (t.starts_with('{') && !s.is_empty()));
    };
    let tail = template.len() - at - 1;
    if segments.len() < template.len() {
        return false;
    }
    let fixed = |t: &[String], s: &[&str]| {
        t.iter()
            .zip(s)
            .all(|(t, s)| t == s || (t.starts_with('{') && !s.is_empty()))
    };
    fixed(&template[..at], &segments[..at])
        && fixed(&template[at + 1..], &segments[segments.len() - tail..])
}
