//! The user-space ceiling for the load harness: the same HTTP stack as the
//! gateway (tokio, hyper, axum's router, `isogate::serve`) answering `GET /<name>` with the
//! bytes of `<dir>/<name>`, read once at start, and no middleware.
//! `bench/load.sh` runs it beside nginx so the report separates what the
//! stack costs from what isogate adds on top.
//!
//! `static_ceiling <addr> <dir>`

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(addr), Some(dir)) = (args.next(), args.next()) else {
        anyhow::bail!("usage: static_ceiling <addr> <dir>");
    };
    let mut files = HashMap::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = format!("/{}", entry.file_name().to_string_lossy());
        files.insert(name, Bytes::from(std::fs::read(entry.path())?));
    }
    let files = Arc::new(files);
    let app = Router::new().fallback(move |req: Request| {
        let body = files.get(req.uri().path()).cloned();
        async move {
            match body {
                Some(body) => ([(header::CONTENT_TYPE, "application/json")], body).into_response(),
                None => StatusCode::NOT_FOUND.into_response(),
            }
        }
    });
    let listener = tokio::net::TcpListener::bind(addr).await?;
    isogate::serve(listener, app, std::future::pending()).await?;
    Ok(())
}
