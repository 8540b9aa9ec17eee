//! `/ui`: the dashboard, a static page compiled into the binary.
//!
//! The files live in `crates/gateway/ui/` (plain ES modules, no build step)
//! and are embedded with `include_bytes!`, so the page works offline and
//! ships with the binary it talks to. They are open (no key): they hold no
//! catalogue data, and the page's own API calls carry the key. Every answer
//! carries `Content-Security-Policy: default-src 'self'`, which is why the
//! page has no inline script or style. Not in the OpenAPI document: it is
//! not part of the API.

use std::sync::OnceLock;

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use isogate_core::Error;
use sha2::{Digest, Sha256};

use crate::http::error::ApiError;
use crate::state::AppState;

/// The policy on every `/ui` answer. `frame-ancestors` is not covered by
/// `default-src`, so clickjacking is refused separately.
pub const CSP: &str = "default-src 'self'; frame-ancestors 'none'";

/// How long a browser may keep a file without asking again.
#[derive(Clone, Copy)]
enum Cache {
    /// Our own files change with the binary: revalidate by ETag every time.
    Revalidate,
    /// Vendored files carry their version in their name: keep them.
    Immutable,
}

struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
    cache: Cache,
}

const JS: &str = "text/javascript; charset=utf-8";

macro_rules! asset {
    ($name:literal, $type:expr, $cache:expr) => {
        asset!("", $name, $type, $cache)
    };
    ($dir:literal, $name:literal, $type:expr, $cache:expr) => {
        Asset {
            name: $name,
            content_type: $type,
            body: include_bytes!(concat!("../../ui/", $dir, $name)),
            cache: $cache,
        }
    };
}

/// The page itself, then everything under `/ui/assets/`.
static INDEX: Asset = asset!("index.html", "text/html; charset=utf-8", Cache::Revalidate);
static ASSETS: [Asset; 11] = [
    asset!("app.css", "text/css; charset=utf-8", Cache::Revalidate),
    asset!("app.js", JS, Cache::Revalidate),
    asset!("api.js", JS, Cache::Revalidate),
    asset!("util.js", JS, Cache::Revalidate),
    asset!("catalogue.js", JS, Cache::Revalidate),
    asset!("sources.js", JS, Cache::Revalidate),
    asset!("stats.js", JS, Cache::Revalidate),
    asset!("live.js", JS, Cache::Revalidate),
    asset!("images.js", JS, Cache::Revalidate),
    asset!("icon.svg", "image/svg+xml", Cache::Revalidate),
    asset!("vendor/", "chart-4.5.1.umd.min.js", JS, Cache::Immutable),
];

/// The `/ui` routes, merged into the API router.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/ui", get(index))
        .route("/ui/", get(index))
        .route("/ui/assets/{file}", get(asset))
}

async fn index(headers: HeaderMap) -> Response {
    serve(&INDEX, etag(usize::MAX), &headers)
}

async fn asset(Path(file): Path<String>, headers: HeaderMap) -> Response {
    match ASSETS.iter().position(|a| a.name == file) {
        Some(i) => serve(&ASSETS[i], etag(i), &headers),
        None => ApiError::coded(
            Error::not_found(format!("no dashboard asset '{file}'")),
            "route_not_found",
        )
        .into_response(),
    }
}

/// A strong ETag per file (its SHA-256, shortened), computed once.
fn etag(i: usize) -> &'static str {
    static TAGS: OnceLock<Vec<String>> = OnceLock::new();
    let tags = TAGS.get_or_init(|| {
        std::iter::once(&INDEX)
            .chain(ASSETS.iter())
            .map(|a| format!("\"{}\"", &hex::encode(Sha256::digest(a.body))[..16]))
            .collect()
    });
    if i == usize::MAX {
        &tags[0]
    } else {
        &tags[i + 1]
    }
}

fn serve(asset: &Asset, etag: &'static str, headers: &HeaderMap) -> Response {
    let cache = match asset.cache {
        Cache::Revalidate => "no-cache",
        Cache::Immutable => "public, max-age=31536000, immutable",
    };
    let common = [
        (header::CONTENT_SECURITY_POLICY, CSP),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::CACHE_CONTROL, cache),
        (header::ETAG, etag),
    ];
    let matches = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    if matches {
        return (StatusCode::NOT_MODIFIED, common).into_response();
    }
    let mut resp = (common, asset.body).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(asset.content_type),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(asset: &Asset) -> &str {
        std::str::from_utf8(asset.body).unwrap_or("")
    }

    #[test]
    fn every_file_the_page_loads_is_served() {
        // index.html's /ui/assets/ links and every module's relative imports.
        let mut wanted: Vec<String> = text(&INDEX)
            .split("/ui/assets/")
            .skip(1)
            .map(|rest| rest.split('"').next().unwrap_or("").to_owned())
            .collect();
        for a in ASSETS
            .iter()
            .filter(|a| a.name.ends_with(".js") && !a.name.starts_with("chart"))
        {
            wanted.extend(
                text(a)
                    .split("from \"./")
                    .skip(1)
                    .map(|rest| rest.split('"').next().unwrap_or("").to_owned()),
            );
        }
        assert!(wanted.len() > 8, "{wanted:?}");
        for name in wanted {
            assert!(
                ASSETS.iter().any(|a| a.name == name),
                "{name} is not served"
            );
        }
    }

    #[test]
    fn no_inline_script_or_style_the_policy_would_block() {
        let html = text(&INDEX);
        assert!(!html.contains("style="), "inline style attribute");
        assert!(!html.contains("<style"), "inline stylesheet");
        for script in html.split("<script").skip(1) {
            assert!(
                script.contains(" src=\"/ui/assets/"),
                "inline script: {script}"
            );
        }
    }

    #[test]
    fn answers_carry_the_policy_and_type_and_revalidate_by_etag() {
        let resp = serve(&ASSETS[1], etag(1), &HeaderMap::new());
        assert_eq!(resp.status(), StatusCode::OK);
        let h = resp.headers();
        assert_eq!(h[header::CONTENT_TYPE], JS);
        assert!(
            h[header::CONTENT_SECURITY_POLICY]
                .to_str()
                .unwrap()
                .starts_with("default-src 'self'")
        );
        assert_eq!(h[header::CACHE_CONTROL], "no-cache");
        let tag = h[header::ETAG].clone();
        let mut again = HeaderMap::new();
        again.insert(header::IF_NONE_MATCH, tag);
        let resp = serve(&ASSETS[1], etag(1), &again);
        assert_eq!(resp.status(), StatusCode::NOT_MODIFIED);
        // Another file's tag does not match.
        let resp = serve(&ASSETS[0], etag(0), &again);
        assert_eq!(resp.status(), StatusCode::OK);
        let chart = ASSETS
            .iter()
            .position(|a| a.name.starts_with("chart-"))
            .unwrap();
        let resp = serve(&ASSETS[chart], etag(chart), &HeaderMap::new());
        assert!(
            resp.headers()[header::CACHE_CONTROL]
                .to_str()
                .unwrap()
                .contains("immutable")
        );
    }
}
