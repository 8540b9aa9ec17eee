//! Instructions per cached answer, for `valgrind --tool=callgrind`: the
//! embedded demo with an API key and `info` logs (to stdout), one cold
//! listing, then N identical cached 50-item pages through the whole router
//! (no socket). Run it at two N and divide the difference: a count that
//! does not move with the neighbours, unlike req/s on a shared machine.
//!
//! `valgrind --tool=callgrind target/release/examples/hot_path 2000 >/dev/null`

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use isogate::config::{Config, EMBEDDED_DEFAULT};
use isogate::{Embedded, app, build_state};
use sha2::{Digest, Sha256};
use tower::ServiceExt;

const KEY: &str = "hot-path-key";

// As in the binary.
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let n: usize = std::env::args()
        .nth(1)
        .unwrap_or_default()
        .parse()
        .unwrap_or(1000);
    let toml = format!(
        "{EMBEDDED_DEFAULT}\n[auth]\nmode = \"keys\"\n[[auth.keys]]\nname = \"bench\"\nsha256 = \"{}\"\nscopes = [\"read\"]\n[auth.rate_limit]\nper_second = 1000000000\nburst = 1000000000\n",
        hex::encode(Sha256::digest(KEY.as_bytes()))
    );
    // As the load harness runs it: compression off, so every server sends
    // the same bytes.
    let toml = toml.replacen("compression = true", "compression = false", 1);
    let (config, entries) = Config::from_toml(&toml)?;
    isogate::init_logging("text");
    let embedded = Embedded::start(&config.simulators, &entries).await?;
    let state = build_state(config, &entries, &embedded)?;
    state.set_ready();
    let router = app(state);
    for _ in 0..=n {
        let req = Request::get("/v1/isos?per_page=50")
            .header("authorization", format!("Bearer {KEY}"))
            .body(Body::empty())?;
        let resp = router.clone().oneshot(req).await?;
        anyhow::ensure!(resp.status() == StatusCode::OK, "{}", resp.status());
        resp.into_body().collect().await?;
    }
    isogate::flush_logs();
    Ok(())
}
