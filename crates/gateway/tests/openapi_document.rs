//! The served document describes the running configuration: security only
//! when keys are required, problems as problem+json, provider enums scoped
//! to capability, and `Allow` headers that agree with it.

#[path = "support/live.rs"]
mod live;

use live::Live;
use serde_json::Value;

async fn served(keys: bool) -> (Live, Value) {
    let live = Live::start(keys).await;
    let mut cmd = std::process::Command::new("curl");
    cmd.args(["-sf", &format!("{}/openapi.json", live.base())]);
    let out = live::run(cmd).await;
    assert!(out.status.success(), "{}", live::text(&out));
    let doc = serde_json::from_slice(&out.stdout).unwrap();
    (live, doc)
}

fn operations(doc: &Value) -> impl Iterator<Item = (&String, &String, &Value)> {
    doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .unwrap()
                .iter()
                .map(move |(method, op)| (path, method, op))
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn security_is_declared_exactly_when_keys_are_required() {
    let (_open, doc) = served(false).await;
    assert!(doc["components"].get("securitySchemes").is_none());
    for (path, method, op) in operations(&doc) {
        assert!(op.get("security").is_none(), "{method} {path}");
        assert!(op["responses"].get("401").is_none(), "{method} {path}");
    }
    let (_keyed, doc) = served(true).await;
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["bearer"]["scheme"], "bearer");
    assert_eq!(schemes["api_key"]["name"], "X-Api-Key");
    for (path, method, op) in operations(&doc).filter(|(p, _, _)| p.starts_with("/v1/")) {
        assert_eq!(
            op["security"].as_array().unwrap().len(),
            2,
            "{method} {path}"
        );
        assert!(op["responses"].get("401").is_some(), "{method} {path}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn problems_are_problem_json_and_providers_are_scoped_to_capability() {
    let (_live, doc) = served(false).await;
    for (path, method, op) in operations(&doc) {
        for (code, resp) in op["responses"].as_object().unwrap() {
            if (code.starts_with('4') || code.starts_with('5'))
                && let Some(content) = resp.get("content")
            {
                let types: Vec<&String> = content.as_object().unwrap().keys().collect();
                assert_eq!(
                    types,
                    ["application/problem+json"],
                    "{method} {path} {code}"
                );
            }
        }
    }
    let provider_enum = |path: &str, method: &str| -> Vec<String> {
        doc["paths"][path][method]["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "provider" && p["in"] == "path")
            .unwrap()["schema"]["enum"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect()
    };
    // CloudMC v1 lists but cannot delete; Cox cannot import; VSS alone syncs.
    let delete = provider_enum("/v1/providers/{provider}/isos/{native_id}", "delete");
    assert!(!delete.contains(&"cloudmc-legacy".to_owned()), "{delete:?}");
    let list = provider_enum("/v1/providers/{provider}/isos", "get");
    assert!(list.contains(&"cloudmc-legacy".to_owned()), "{list:?}");
    // Import is per provider (each its own URL rules): CloudMC v2 over
    // http, the action module over https, none for Cox.
    assert!(doc["paths"]["/v1/providers/{provider}/isos"]["post"].is_null());
    let url_of = |name: &str| {
        let op = &doc["paths"][format!("/v1/providers/{name}/isos")]["post"];
        let schema = op["requestBody"]["content"]["application/json"]["schema"]["$ref"]
            .as_str()
            .unwrap_or_default()
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_owned();
        doc["components"]["schemas"][schema]["properties"]["url"]["pattern"]
            .as_str()
            .map(str::to_owned)
    };
    let v2 = url_of("coxedge-prod").expect("coxedge-prod imports");
    let action = url_of("hostkey").expect("hostkey imports");
    assert!(v2.starts_with("^(http)://"), "{v2}");
    assert!(action.starts_with("^(https)://"), "{action}");
    assert_eq!(url_of("coxedge-images"), None);
    assert_eq!(
        provider_enum("/v1/providers/{provider}/sync", "post"),
        ["vss-prod"]
    );
    // The per-provider listing has no second, conflicting `provider`.
    let params = doc["paths"]["/v1/providers/{provider}/isos"]["get"]["parameters"].to_string();
    assert_eq!(params.matches("\"provider\"").count(), 1, "{params}");
    // The optional body of invalidate is optional in the document too.
    assert_eq!(
        doc["paths"]["/v1/cache/invalidate"]["post"]["requestBody"]["required"],
        false
    );
    let per_page = doc["paths"]["/v1/isos"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "per_page")
        .unwrap()["schema"]
        .clone();
    assert_eq!(
        (per_page["minimum"].clone(), per_page["maximum"].clone()),
        (1.into(), 1000.into())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsupported_operations_and_methods_answer_405_with_the_allow_the_document_implies() {
    let live = Live::start(false).await;
    let head = |method: &'static str, path: &'static str| {
        let url = format!("{}{path}", live.base());
        async move {
            let mut cmd = std::process::Command::new("curl");
            cmd.args(["-s", "-o", "/dev/null", "-D", "-", "-X", method, &url]);
            String::from_utf8_lossy(&live::run(cmd).await.stdout).to_lowercase()
        }
    };
    // CloudMC v1 items: get only.
    let h = head("DELETE", "/v1/providers/cloudmc-legacy/isos/x").await;
    assert!(
        h.starts_with("http/1.1 405") && h.contains("\r\nallow: get\r\n"),
        "{h}"
    );
    // A method no document entry has: the documented ones of that path.
    let h = head("PUT", "/v1/providers/vss-prod/isos/x/history").await;
    assert!(
        h.starts_with("http/1.1 405") && h.contains("\r\nallow: get\r\n"),
        "{h}"
    );
    let h = head("OPTIONS", "/v1/providers/vss-prod/isos/x").await;
    assert!(
        h.contains("\r\nallow: get, patch, delete\r\n")
            || h.contains("\r\nallow: delete, get, patch\r\n"),
        "{h}"
    );
}

/// The router and the document are two lists (the item routes share one
/// catch-all, since native ids hold `/` and a route cannot match a suffix
/// after a wildcard), so they are held together here: every documented
/// operation is routed (never `route_not_found` or `method_not_allowed`), and
/// every route of the route list (lib.rs, ui.rs) is documented or open.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_documented_operation_is_routed_and_every_route_documented() {
    let (live, doc) = served(false).await;
    let mut checked = 0;
    for (path, method, _) in operations(&doc) {
        let concrete = path
            .replace("{provider}", "vss-prod")
            .replace("{native_id}", "x")
            .replace("{id}", "vss-prod:x")
            .replace("{instance}", "i-1")
            .replace("{task}", "t-1");
        let url = if concrete == "/v1/events" {
            format!("{}{concrete}?timeout_s=1", live.base())
        } else {
            format!("{}{concrete}", live.base())
        };
        let mut cmd = std::process::Command::new("curl");
        cmd.args(["-s", "-m", "10", "-X", &method.to_uppercase(), &url]);
        if method == "post" || method == "patch" {
            cmd.args(["-H", "content-type: application/json", "-d", "{}"]);
        }
        let out = live::run(cmd).await;
        let body = String::from_utf8_lossy(&out.stdout);
        for code in ["\"route_not_found\"", "\"method_not_allowed\""] {
            assert!(
                !body.contains(code),
                "{method} {path} is documented but answered {code}: {body}"
            );
        }
        checked += 1;
    }
    assert!(checked >= 20, "only {checked} operations in the document");

    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut routed = Vec::new();
    for file in ["lib.rs", "routes/ui.rs"] {
        let text = std::fs::read_to_string(src.join(file)).unwrap();
        for (at, _) in text.match_indices(".route(\"") {
            let rest = &text[at + ".route(\"".len()..];
            routed.push(rest[..rest.find('"').unwrap()].to_owned());
        }
    }
    let paths = doc["paths"].as_object().unwrap();
    // Open pages and assets, not API operations.
    let open = [
        "/openapi.json",
        "/docs",
        "/docs/{*file}",
        "/ui",
        "/ui/",
        "/ui/assets/{file}",
    ];
    for route in &routed {
        let documented = match route.strip_suffix("/{*native_id}") {
            Some(base) => paths
                .keys()
                .any(|p| p.starts_with(&format!("{base}/{{native_id}}"))),
            None => paths.contains_key(route),
        };
        assert!(
            documented || open.contains(&route.as_str()),
            "route {route} is not in the document"
        );
    }
    assert!(
        routed.len() >= 15,
        "only {} routes read from lib.rs",
        routed.len()
    );
}
