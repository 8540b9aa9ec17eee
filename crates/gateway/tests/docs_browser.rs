//! `/docs` in headless Chromium (Debian's), driven by Playwright from the
//! test venv: Swagger UI renders the operations of the served document,
//! offers "Try it out", and logs no console error (nothing fetched from
//! outside the gateway: a CDN link would fail offline and log one).

#[path = "support/live.rs"]
mod live;

use std::process::Command;

use live::{Live, run, scratch, text};

const SCRIPT: &str = r##"
import json, sys
from playwright.sync_api import sync_playwright

base, chromium, profile = sys.argv[1], sys.argv[2], sys.argv[3]
errors, foreign = [], []
with sync_playwright() as p:
    browser = p.chromium.launch_persistent_context(
        profile, executable_path=chromium, headless=True,
        args=["--headless", "--no-sandbox", "--disable-gpu",
              "--disable-background-networking", "--disable-component-update",
              "--disable-sync", "--no-first-run"])
    page = browser.new_page()
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda r: foreign.append(r.url) if not r.url.startswith(base) else None)
    page.goto(base + "/docs", wait_until="networkidle")
    page.wait_for_selector(".opblock-summary-path", timeout=15000)
    paths = page.locator(".opblock-summary-path").all_inner_texts()
    summaries = page.locator(".opblock-summary-description").all_inner_texts()
    # Open the federated listing and find the "Try it out" control.
    page.locator("#operations-listings-list_isos .opblock-summary").click()
    page.wait_for_selector("#operations-listings-list_isos .try-out__btn, "
                           "#operations-listings-list_isos .execute", timeout=10000)
    try_it = page.locator("#operations-listings-list_isos .try-out__btn, "
                          "#operations-listings-list_isos .execute").count()
    browser.close()
print(json.dumps({"paths": paths, "summaries": summaries, "errors": errors,
                  "foreign": foreign, "try_it": try_it}))
"##;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docs_renders_the_documents_operations_with_try_it_out_and_no_console_error() {
    let bin = isogate_testkit::tools::python_env();
    let chromium = isogate_testkit::tools::chromium();
    let live = Live::start(false).await;
    let dir = scratch("docs-browser");
    let script = dir.join("docs.py");
    std::fs::write(&script, SCRIPT).unwrap();
    let mut cmd = Command::new(bin.join("python"));
    cmd.arg(&script)
        .arg(live.base())
        .arg(&chromium)
        .arg(dir.join("profile"));
    let out = run(cmd).await;
    assert!(
        out.status.success(),
        "Playwright could not load /docs in Chromium:\n{}",
        text(&out)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let seen: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap_or(""))
        .unwrap_or_else(|e| panic!("no result from the browser script ({e}):\n{}", text(&out)));
    let paths: Vec<&str> = seen["paths"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p.as_str())
        .map(|p| p.trim_end_matches('\u{200b}').trim())
        .collect();
    let doc = serde_json::to_value(isogate::openapi::document()).unwrap();
    for path in doc["paths"].as_object().unwrap().keys() {
        assert!(
            paths.iter().any(|p| p.replace('\u{200b}', "") == *path),
            "/docs does not render {path}; rendered: {paths:?}"
        );
    }
    let summaries = seen["summaries"].to_string();
    assert!(
        summaries.contains("Federated listing over every provider"),
        "the /v1/isos summary is missing: {summaries}"
    );
    assert!(
        seen["try_it"].as_u64().unwrap() >= 1,
        "no Try it out: {seen}"
    );
    assert_eq!(seen["errors"], serde_json::json!([]), "console errors");
    assert_eq!(
        seen["foreign"],
        serde_json::json!([]),
        "requests outside the gateway"
    );
}

#[tokio::test]
async fn the_viewers_assets_need_no_key() {
    let live = Live::start(true).await;
    let base = live.base();
    let get = |path: &'static str| {
        let url = format!("{base}{path}");
        async move {
            let mut cmd = Command::new("curl");
            cmd.args([
                "-s",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code} %{content_type}",
                &url,
            ]);
            String::from_utf8_lossy(&run(cmd).await.stdout).into_owned()
        }
    };
    assert!(get("/docs").await.starts_with("200 text/html"));
    assert!(
        get("/docs/swagger-ui-bundle.js")
            .await
            .starts_with("200 text/javascript")
    );
    let init = get("/docs/swagger-initializer.js").await;
    assert!(init.starts_with("200"), "{init}");
    assert!(get("/docs/nothing.js").await.starts_with("404"));
}
