//! The real binary's configuration contract: a deployment serves exactly the
//! providers it configures (file or `ISOGATE_PROVIDERS__...`), the embedded
//! demo only when nothing is configured or `--demo` asks for it, no providers
//! is a one-line error naming the way out, and `check-config` names where
//! each provider came from.

use std::path::PathBuf;

use serde_json::Value;

const VSS_CAMPUS: &str = "[providers.vss-campus]\nkind = \"vss\"\nbase_url = \"sim:vss\"\n\
                          username = \"sim-user\"\npassword = \"sim-password\"\n";

/// The Cox provider `images`, from variables alone.
const COX_ENV: [(&str, &str); 5] = [
    ("ISOGATE_PROVIDERS__IMAGES__KIND", "cox"),
    ("ISOGATE_PROVIDERS__IMAGES__BASE_URL", "sim:cox"),
    ("ISOGATE_PROVIDERS__IMAGES__API_KEY", "sim-cox-key"),
    ("ISOGATE_PROVIDERS__IMAGES__SERVICE_CODE", "edge-services"),
    ("ISOGATE_PROVIDERS__IMAGES__ENVIRONMENT", "test-area"),
];

const DEMO: [&str; 5] = [
    "cloudmc-legacy",
    "coxedge-images",
    "coxedge-prod",
    "hostkey",
    "vss-prod",
];

fn config_file(name: &str, body: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("isogate-e2e-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, body).unwrap();
    path
}

async fn json(url: &str) -> Value {
    let resp = reqwest::get(url).await.expect("request");
    assert_eq!(resp.status().as_u16(), 200, "{url}");
    resp.json().await.expect("json")
}

/// The names `GET /v1/providers` lists.
async fn providers(gw: &isogate_e2e::Gateway) -> Vec<String> {
    let body = json(&format!("{}/v1/providers", gw.base)).await;
    body["data"]
        .as_array()
        .unwrap_or_else(|| panic!("{body}"))
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_owned())
        .collect()
}

/// `check-config` with `args` and `env`: exit code, stdout, stderr.
fn check_config(args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String, String) {
    let out = isogate_e2e::command()
        .args(args)
        .arg("check-config")
        .envs(env.iter().copied())
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn a_file_with_one_provider_serves_exactly_that_one() {
    let path = config_file("one.toml", VSS_CAMPUS);
    let gw = isogate_e2e::start_with(&["--config", path.to_str().unwrap()], &[]);
    assert_eq!(providers(&gw).await, ["vss-campus"]);
    let listing = json(&format!("{}/v1/isos?per_page=5", gw.base)).await;
    let sources = listing["sources"].as_array().unwrap();
    assert_eq!(sources.len(), 1, "{listing}");
    assert_eq!(sources[0]["provider"], "vss-campus", "{listing}");
    assert_eq!(sources[0]["status"], "ok", "{listing}");
    assert!(listing["meta"]["total"].as_u64().unwrap() > 0, "{listing}");
}

#[tokio::test]
async fn providers_from_variables_alone_are_served_without_the_demo() {
    let gw = isogate_e2e::start_with(&[], &COX_ENV);
    assert_eq!(providers(&gw).await, ["images"]);
    let listing = json(&format!("{}/v1/isos?per_page=5", gw.base)).await;
    assert_eq!(listing["sources"][0]["provider"], "images", "{listing}");
    assert_eq!(listing["sources"][0]["status"], "ok", "{listing}");
}

#[tokio::test]
async fn the_demo_starts_only_when_nothing_is_configured_or_asked_for() {
    // Nothing configured (gateway-only variables do not count): the demo.
    let gw = isogate_e2e::start_with(&[], &[("ISOGATE_AUTH__MODE", "none")]);
    assert_eq!(providers(&gw).await, DEMO);
    drop(gw);
    // `isogate demo` is the same as `--demo`.
    let gw = isogate_e2e::start_with(&["demo"], &[]);
    assert_eq!(providers(&gw).await, DEMO);
    drop(gw);
    // `--demo` under a file: the file's provider joins the demo's, and its
    // keys override a demo provider's.
    let path = config_file(
        "over-demo.toml",
        &format!("{VSS_CAMPUS}[providers.vss-prod]\ncatalogue = \"public\"\n"),
    );
    let gw = isogate_e2e::start_with(&["--demo", "--config", path.to_str().unwrap()], &[]);
    let mut expected: Vec<&str> = DEMO.to_vec();
    expected.push("vss-campus");
    expected.sort();
    assert_eq!(providers(&gw).await, expected);
    drop(gw);
    // A file, or provider variables, turn the demo off: the same file alone
    // overrides a demo provider that is not there.
    let (code, _, err) = check_config(&["--config", path.to_str().unwrap()], &[]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("providers.vss-prod.kind: missing"), "{err}");
    let one = config_file("one-only.toml", VSS_CAMPUS);
    let (code, out, err) = check_config(&["--config", one.to_str().unwrap()], &[]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.starts_with("config ok: 1 provider(s)\n"), "{out}");
    let (code, out, err) = check_config(&[], &COX_ENV);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.starts_with("config ok: 1 provider(s)\n"), "{out}");
}

#[test]
fn no_providers_is_one_line_naming_how_to_add_one_or_run_the_demo() {
    let path = config_file("none.toml", "[server]\nlisten = \"127.0.0.1:0\"\n");
    let serve = isogate_e2e::command()
        .args(["--config", path.to_str().unwrap()])
        .output()
        .unwrap();
    let (code, _, err) = check_config(&["--config", path.to_str().unwrap()], &[]);
    for (code, err) in [
        (
            serve.status.code(),
            String::from_utf8_lossy(&serve.stderr).into_owned(),
        ),
        (code, err),
    ] {
        assert_eq!(code, Some(2), "{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        for hint in [
            "no providers configured",
            "[providers.<name>] kind = ",
            "ISOGATE_PROVIDERS__<NAME>__KIND",
            "--demo",
        ] {
            assert!(err.contains(hint), "{hint} missing: {err}");
        }
    }
}

#[test]
fn check_config_names_where_each_provider_came_from() {
    let (code, out, err) = check_config(&[], &[]);
    assert_eq!(code, Some(0), "{err}");
    let mut expected = "config ok: 5 provider(s)\n".to_owned();
    let kinds = ["cloudmc", "cox", "cloudmc", "action", "vss"];
    for (name, kind) in DEMO.iter().zip(kinds) {
        expected.push_str(&format!("  {name} ({kind}) from embedded demo\n"));
    }
    assert_eq!(out, expected);

    let path = config_file("origins.toml", VSS_CAMPUS);
    let mut env = COX_ENV.to_vec();
    env.push(("ISOGATE_PROVIDERS__VSS_CAMPUS__CATALOGUE", "public"));
    let (code, out, err) = check_config(&["--config", path.to_str().unwrap()], &env);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(
        out,
        format!(
            "config ok: 2 provider(s)\n  images (cox) from env ISOGATE_PROVIDERS__IMAGES__*\n  \
             vss-campus (vss) from {} + env ISOGATE_PROVIDERS__VSS_CAMPUS__*\n",
            path.display()
        )
    );

    let (code, out, err) = check_config(&["--demo", "--config", path.to_str().unwrap()], &[]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.starts_with("config ok: 6 provider(s)\n"), "{out}");
    assert!(
        out.contains("  vss-prod (vss) from embedded demo\n"),
        "{out}"
    );
    assert!(
        out.contains(&format!("  vss-campus (vss) from {}\n", path.display())),
        "{out}"
    );
}

#[test]
fn check_config_runs_the_webhook_url_guard() {
    let hook = |allow: &str| {
        format!(
            "{VSS_CAMPUS}[feed]\nwebhook_host_allow = [{allow}]\n\
             [[webhooks]]\nurl = \"http://127.0.0.1:9/hooks/secret-token\"\nsecret = \"s3cret-value\"\n"
        )
    };
    // Loopback is refused unless allow-listed, as at start.
    let path = config_file("hook-refused.toml", &hook(""));
    let (code, _, err) = check_config(&["--config", path.to_str().unwrap()], &[]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("webhooks[0].url refused"), "{err}");
    assert!(
        err.contains("webhook_host_allow"),
        "names the way out: {err}"
    );
    assert!(
        !err.contains("secret-token"),
        "no URL path (it may be the credential): {err}"
    );
    let path = config_file("hook-allowed.toml", &hook("\"127.0.0.1\""));
    let (code, out, err) = check_config(&["--config", path.to_str().unwrap()], &[]);
    assert_eq!(code, Some(0), "{out}{err}");
}
