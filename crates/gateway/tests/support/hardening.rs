//! Helpers of the hardening tests: the embedded default with keys set per
//! section, API keys, and requests with headers.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{HeaderMap, Request};
use http_body_util::BodyExt;
use isogate::config::{Config, EMBEDDED_DEFAULT};
use isogate::{AppState, Embedded, app, build_state};
use isogate_sim::SimServer;
use sha2::{Digest, Sha256};
use tower::ServiceExt;

/// Sets `key = value` lines in `[section]` of `toml` (replacing any), adding
/// the section at the end when it is missing.
pub fn set(toml: &str, section: &str, pairs: &[(&str, &str)]) -> String {
    let header = format!("[{section}]");
    let mut out = Vec::new();
    let mut inside = false;
    let mut found = false;
    for line in toml.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('[') {
            inside = trimmed == header;
            out.push(line.to_owned());
            if inside {
                found = true;
                out.extend(pairs.iter().map(|(k, v)| format!("{k} = {v}")));
            }
            continue;
        }
        if inside
            && pairs
                .iter()
                .any(|(k, _)| trimmed.split('=').next().map(str::trim) == Some(*k))
        {
            continue;
        }
        out.push(line.to_owned());
    }
    if !found {
        out.push(header);
        out.extend(pairs.iter().map(|(k, v)| format!("{k} = {v}")));
    }
    out.join("\n") + "\n"
}

/// One `[[auth.keys]]` entry for `secret`.
pub fn key_entry(name: &str, secret: &str, scopes: &[&str], providers: &[&str]) -> String {
    let list = |xs: &[&str]| {
        xs.iter()
            .map(|x| format!("\"{x}\""))
            .collect::<Vec<_>>()
            .join(", ")
    };
    format!(
        "\n[[auth.keys]]\nname = \"{name}\"\nsha256 = \"{}\"\nscopes = [{}]\nproviders = [{}]\n",
        hex::encode(Sha256::digest(secret.as_bytes())),
        list(scopes),
        list(providers)
    )
}

/// The embedded demo (real adapters over the simulators) after `edit`.
pub async fn demo(edit: impl FnOnce(String) -> String) -> (AppState, Embedded) {
    let toml = edit(EMBEDDED_DEFAULT.to_owned());
    let (config, entries) = Config::from_toml(&toml).unwrap();
    let embedded = Embedded::start(&config.simulators, &entries).await.unwrap();
    let state = build_state(config, &entries, &embedded).unwrap();
    state.set_ready();
    (state, embedded)
}

/// A simulator by name.
pub fn sim<'a>(sims: &'a Embedded, name: &str) -> &'a SimServer {
    sims.servers().iter().find(|s| s.name() == name).unwrap()
}

/// An answer.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: serde_json::Value,
    pub text: String,
    pub elapsed: Duration,
}

/// Sends one request through the whole router.
pub async fn send(
    state: &AppState,
    method: &str,
    uri: &str,
    headers: &[(&str, &str)],
    body: Option<serde_json::Value>,
) -> Answer {
    let mut req = Request::builder().method(method).uri(uri);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let body = match body {
        Some(v) => {
            req = req.header("content-type", "application/json");
            Body::from(v.to_string())
        }
        None => Body::empty(),
    };
    let started = Instant::now();
    let resp = app(state.clone())
        .oneshot(req.body(body).unwrap())
        .await
        .unwrap();
    let elapsed = started.elapsed();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    let text = String::from_utf8_lossy(&bytes).into_owned();
    Answer {
        status,
        headers,
        body: serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
        text,
        elapsed,
    }
}

/// Asserts a problem answer with `status` and `code`.
pub fn assert_problem(a: &Answer, status: u16, code: &str) {
    assert_eq!(a.status, status, "{}", a.text);
    assert_eq!(
        a.headers["content-type"], "application/problem+json",
        "{}",
        a.text
    );
    assert_eq!(a.body["code"], code, "{}", a.text);
}
