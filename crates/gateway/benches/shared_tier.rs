//! Issue 17's benchmark, in one run of one process: a replica joining a warm
//! shared tier against the cold federated listing it replaces, and cached
//! answers with the tier on against off.
//!
//! The five simulators (CloudMC v1, v2, Cox and the action module at 22,500
//! items each, VSS at 10,000 public ISOs: ~100k items) run on loopback at
//! 50 ms per upstream request, as `bench/driver.py cold` sets them; a real
//! `redis-server` (persistence off) is started on a free port. Every
//! gateway is the full `app(state)` over the demo config's five providers.
//!
//! - cold: tier off, every snapshot dropped, `GET /v1/isos?per_page=50`
//!   (upstream round trips + decode + recognise + federation + render).
//! - cold, lease winner: the same with the tier on (adds encode + publish).
//! - join: a new replica (its own state and cache, tier on) whose first
//!   request finds all five snapshots in Redis: GET + decode + adopt + render.
//!   With the change feed off the simulators' counters must not move; with
//!   it on (the default) the joins that fell back upstream are counted (the
//!   feed's hashing can hold the async workers past a Redis call's timeout).
//! - cold and join each with the change feed on (the default config) and
//!   off: the feed hashes every item of every snapshot that lands.
//! - one snapshot of every item (~98k) under one name: `get_snapshot`
//!   (GET + decode), `decode` on all cores and on one, `encode`.
//! - hot: the cached 50-item page through the router, tier off vs on,
//!   alternating rounds.
//!
//! Cold and join alternate within each round, so a busy machine slows both.
//! `cargo bench -p isogate --bench shared_tier` (ROUNDS=n to change the 7 rounds).

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use isogate::config::{Config, EMBEDDED_DEFAULT};
use isogate::{AppState, Embedded, app, build_state};
use isogate_shared_tier::{SharedTier, SharedTierConfig, Snapshot};
use isogate_sim::{Faults, SimServer};
use tower::ServiceExt;

// The gateway binary's allocator.
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOC: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

const SCALE: usize = 22_500;
const VSS_SCALE: usize = 10_000;
const LATENCY_MS: u64 = 50;
const HOT_REQUESTS: usize = 2_000;

struct Redis(Child, u16);

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn redis_server() -> Redis {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let child = Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("redis-server (Debian package `redis-server`) on PATH");
    let r = Redis(child, port);
    for _ in 0..250 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return r;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("redis-server did not come up on port {port}");
}

async fn simulators() -> Vec<SimServer> {
    let faults = || Faults {
        latency_ms: LATENCY_MS,
        ..Faults::default()
    };
    let seed = 42;
    let mut sims = Vec::new();
    for version in [
        isogate_sim::cloudmc::ApiVersion::V1,
        isogate_sim::cloudmc::ApiVersion::V2,
    ] {
        sims.push(
            isogate_sim::cloudmc::start(isogate_sim::cloudmc::Options {
                seed,
                scale: Some(SCALE),
                version,
                faults: faults(),
                ..Default::default()
            })
            .await
            .expect("cloudmc sim"),
        );
    }
    sims.push(
        isogate_sim::cox::start(isogate_sim::cox::Options {
            seed,
            scale: Some(SCALE),
            faults: faults(),
            ..Default::default()
        })
        .await
        .expect("cox sim"),
    );
    sims.push(
        isogate_sim::vss::start(isogate_sim::vss::Options {
            seed,
            scale: Some(VSS_SCALE),
            faults: faults(),
            ..Default::default()
        })
        .await
        .expect("vss sim"),
    );
    sims.push(
        isogate_sim::action::start(isogate_sim::action::Options {
            seed,
            scale: Some(SCALE),
            faults: faults(),
            ..Default::default()
        })
        .await
        .expect("action sim"),
    );
    sims
}

/// The demo config over these simulators, snapshots fresh for the whole
/// run, the tier on when `redis` is given, the change feed (on by default)
/// off when `feed` is false.
fn config(
    sims: &[SimServer],
    redis: Option<u16>,
    feed: bool,
) -> (Config, Vec<isogate::config::ProviderEntry>) {
    let mut toml = EMBEDDED_DEFAULT.replace(
        "[cache]\nfresh_ttl_s = 30\nstale_ttl_s = 300\nstale_if_error_s = 3600\n",
        "[cache]\nfresh_ttl_s = 86400\nstale_ttl_s = 86400\nstale_if_error_s = 86400\n",
    );
    assert!(
        toml.contains("fresh_ttl_s = 86400"),
        "the demo config's [cache] changed"
    );
    for s in sims {
        toml = toml.replace(
            &format!("\"sim:{}\"", s.name()),
            &format!("\"{}\"", s.base_url()),
        );
    }
    toml = toml.replace(
        "[server]\n",
        "[server]\ncursor_key = \"bench-shared-tier-cursor-key-0123456789\"\n",
    );
    if let Some(port) = redis {
        toml.push_str(&format!(
            "\n[cache.shared]\nurl = \"redis://127.0.0.1:{port}\"\n"
        ));
    }
    if feed {
        // The feed as main.rs starts it, without pollers (they would
        // refresh snapshots in the middle of a timing).
        toml.push_str("\n[feed]\ndefault_poll_interval_s = 0\n");
    } else {
        toml.push_str("\n[feed]\nenabled = false\n");
    }
    Config::from_toml(&toml).expect("bench config")
}

async fn gateway(sims: &[SimServer], redis: Option<u16>, feed: bool) -> (AppState, Router) {
    let (config, entries) = config(sims, redis, feed);
    let state = build_state(config, &entries, &Embedded::default()).expect("state");
    state.set_ready();
    if let Some(shared) = state.cache().shared() {
        // A replica connects when it starts, before its first request.
        shared.tier().ping().await.expect("redis reachable");
    }
    if feed {
        // As main.rs does: with the tier, the feed goes through the shared
        // stream, its diffs made off the request path.
        isogate::feed::start(&state).await.expect("feed");
    }
    let router = app(state.clone());
    (state, router)
}

async fn get(router: &Router, uri: &str) -> serde_json::Value {
    let req = Request::get(uri).body(Body::empty()).expect("request");
    let resp = router.clone().oneshot(req).await.expect("infallible");
    assert_eq!(resp.status(), StatusCode::OK, "{uri}");
    let body = resp.into_body().collect().await.expect("body").to_bytes();
    serde_json::from_slice(&body).expect("json")
}

/// The first page, timed; every source must have answered.
async fn first_page(router: &Router) -> Duration {
    let t = Instant::now();
    let body = get(router, "/v1/isos?per_page=50").await;
    let took = t.elapsed();
    assert_eq!(body["meta"]["partial"], false, "{}", body["meta"]);
    took
}

async fn drop_snapshots(state: &AppState) {
    for h in state.providers() {
        state.cache().invalidate(&h.name).await;
    }
}

/// Every simulator's request counters.
fn upstream_requests(sims: &[SimServer]) -> Vec<(String, u64)> {
    sims.iter()
        .flat_map(|s| {
            s.control()
                .counts()
                .into_iter()
                .map(move |(k, v)| (format!("{} {k}", s.name()), v))
        })
        .collect()
}

async fn total_items(state: &AppState) -> usize {
    let mut n = 0;
    for h in state.providers() {
        n += state
            .cache()
            .peek(&h.name)
            .await
            .map_or(0, |s| s.items.len());
    }
    n
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

struct Series(&'static str, Vec<f64>);

impl Series {
    fn median(&self) -> f64 {
        let mut v = self.1.clone();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    }
    fn min(&self) -> f64 {
        self.1.iter().copied().fold(f64::INFINITY, f64::min)
    }
    fn max(&self) -> f64 {
        self.1.iter().copied().fold(0.0, f64::max)
    }
    fn row(&self, unit: &str) {
        println!(
            "| {} | {:.1} {unit} | {:.1}-{:.1} |",
            self.0,
            self.median(),
            self.min(),
            self.max()
        );
    }
}

fn main() {
    let rounds: usize = std::env::var("ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(7);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let redis = redis_server();
    rt.block_on(run(rounds, redis.1));
    drop(redis);
}

async fn run(rounds: usize, redis: u16) {
    let sims = simulators().await;
    let (off, off_router) = gateway(&sims, None, true).await;
    let (off_nf, off_nf_router) = gateway(&sims, None, false).await;
    let (winner, winner_router) = gateway(&sims, Some(redis), true).await;

    let mut cold = Series("cold federated listing, tier off", Vec::new());
    let mut cold_nf = Series("cold federated listing, tier off, feed off", Vec::new());
    let mut cold_on = Series("cold federated listing, tier on (lease winner)", Vec::new());
    let mut join = Series("replica joining the warm tier: first page", Vec::new());
    let mut join_nf = Series(
        "replica joining the warm tier, feed off: first page",
        Vec::new(),
    );
    let mut join_load = Series(
        "  of which (feed off): five snapshots loaded (GET + decode + adopt)",
        Vec::new(),
    );
    let mut join_render = Series(
        "  of which (feed off): the first page from them (federation + render)",
        Vec::new(),
    );
    // Joins (feed on) in which a Redis call timed out and the replica
    // fetched upstream itself instead (see BENCHMARKS.md).
    let mut fell_back = 0;
    let mut items = 0;
    let mut bytes = 0usize;
    for round in 0..=rounds {
        // Round 0 warms connections, pools and allocator on every path.
        let keep = round > 0;
        for (state, router, series) in [
            (&off, &off_router, &mut cold),
            (&off_nf, &off_nf_router, &mut cold_nf),
            (&winner, &winner_router, &mut cold_on),
        ] {
            drop_snapshots(state).await;
            let t = first_page(router).await;
            if keep {
                series.1.push(ms(t));
            }
        }
        items = total_items(&off).await;

        // A new replica: its own state and cache over the tier the winner filled.
        let (joiner, joiner_router) = gateway(&sims, Some(redis), true).await;
        let before = upstream_requests(&sims);
        let t = first_page(&joiner_router).await;
        if keep {
            join.1.push(ms(t));
            fell_back += usize::from(upstream_requests(&sims) != before);
        }
        if round == rounds {
            for h in joiner.providers() {
                let s = joiner.cache().peek(&h.name).await.expect("adopted");
                let w = winner.cache().peek(&h.name).await.expect("published");
                if s.tier_version.is_none() {
                    continue; // one of the fallbacks
                }
                assert_eq!(s.tier_version, w.tier_version, "{}", h.name);
                assert!(
                    s.items == w.items,
                    "{}: the adopted rows, recognised identity included, are the fetched ones",
                    h.name
                );
            }
        }
        drop(joiner_router);
        drop(joiner);

        let (joiner, joiner_router) = gateway(&sims, Some(redis), false).await;
        let t = first_page(&joiner_router).await;
        assert_eq!(
            upstream_requests(&sims),
            before,
            "the joining replica (feed off) answered from the tier, not upstream"
        );
        if keep {
            join_nf.1.push(ms(t));
        }
        drop(joiner_router);
        drop(joiner);

        // The same join in two steps: loads first (all providers at once, as
        // a request does), then the page.
        let (joiner, joiner_router) = gateway(&sims, Some(redis), false).await;
        let t = Instant::now();
        let loads = futures::future::join_all(
            joiner
                .providers()
                .map(|h| joiner.cache().refresh(&h.provider)),
        )
        .await;
        let loaded = t.elapsed();
        assert!(loads.iter().all(Result::is_ok));
        let rendered = first_page(&joiner_router).await;
        assert_eq!(upstream_requests(&sims), before, "loaded from the tier");
        if keep {
            join_load.1.push(ms(loaded));
            join_render.1.push(ms(rendered));
        }
        drop(joiner_router);
        drop(joiner);
    }

    // One snapshot of every provider's items under one name (~98k: the
    // issue's "100k-item snapshot").
    let mut all = Vec::new();
    for h in winner.providers() {
        let s = winner.cache().peek(&h.name).await.expect("warm");
        all.extend(s.items.iter().cloned());
    }
    all.truncate(100_000);
    let n = all.len();
    let tier = SharedTier::new(&SharedTierConfig::new(format!("redis://127.0.0.1:{redis}")))
        .expect("tier");
    let snap = Snapshot {
        version: tier.next_version().await.expect("version"),
        fetched_at: chrono::Utc::now(),
        incomplete: None,
        items: all,
    };
    let encoded = isogate_shared_tier::encode(&snap).expect("encode");
    bytes += encoded.len();
    tier.publish_snapshot("bench-100k", &snap)
        .await
        .expect("publish");
    let mut get100k = Series(
        "one snapshot of every item (~100k): GET + decode",
        Vec::new(),
    );
    let mut dec100k = Series(
        "one snapshot of every item (~100k): decode alone",
        Vec::new(),
    );
    let mut dec100k_1 = Series(
        "one snapshot of every item (~100k): decode alone, one thread",
        Vec::new(),
    );
    let mut enc100k = Series(
        "one snapshot of every item (~100k): encode + compress",
        Vec::new(),
    );
    for round in 0..=rounds {
        let t = Instant::now();
        let s = tier.get_snapshot("bench-100k").await.expect("get");
        let took = t.elapsed();
        assert_eq!(s.as_ref().map(|s| s.items.len()), Some(n));
        drop(s);
        let e = encoded.clone();
        let t = Instant::now();
        let d = tokio::task::spawn_blocking(move || isogate_shared_tier::decode(&e))
            .await
            .expect("task")
            .expect("decode");
        let took_dec = t.elapsed();
        assert!(d == snap, "the snapshot round-trips");
        drop(d);
        let e = encoded.clone();
        let t = Instant::now();
        let d = tokio::task::spawn_blocking(move || isogate_shared_tier::decode_on(&e, 1))
            .await
            .expect("task")
            .expect("decode");
        let took_dec_1 = t.elapsed();
        drop(d);
        let t = Instant::now();
        let e = isogate_shared_tier::encode(&snap).expect("encode");
        let took_enc = t.elapsed();
        drop(e);
        if round > 0 {
            get100k.1.push(ms(took));
            dec100k.1.push(ms(took_dec));
            dec100k_1.1.push(ms(took_dec_1));
            enc100k.1.push(ms(took_enc));
        }
    }

    // Hot path: the cached page, tier off vs on (the joined replica's kind of state).
    let (on, on_router) = gateway(&sims, Some(redis), true).await;
    first_page(&on_router).await;
    let mut hot_off = Series("cached page of 50, tier off", Vec::new());
    let mut hot_on = Series("cached page of 50, tier on", Vec::new());
    let status_before = on.cache().shared().expect("tier").tier().status();
    let commands_before = redis_commands(redis);
    for round in 0..=rounds {
        let order: [(&Router, bool); 2] = if round % 2 == 0 {
            [(&off_router, false), (&on_router, true)]
        } else {
            [(&on_router, true), (&off_router, false)]
        };
        for (router, is_on) in order {
            let t = Instant::now();
            for _ in 0..HOT_REQUESTS {
                let req = Request::get("/v1/isos?per_page=50")
                    .body(Body::empty())
                    .expect("request");
                let resp = router.clone().oneshot(req).await.expect("infallible");
                assert_eq!(resp.status(), StatusCode::OK);
                let _ = resp.into_body().collect().await.expect("body");
            }
            let per = t.elapsed().as_secs_f64() * 1e6 / HOT_REQUESTS as f64;
            if round > 0 {
                if is_on { &mut hot_on } else { &mut hot_off }.1.push(per);
            }
        }
    }
    let status_after = on.cache().shared().expect("tier").tier().status();
    assert_eq!(
        status_before, status_after,
        "the hot path made no tier call"
    );
    // This process's other replicas are idle too: whatever Redis counts
    // during the hot rounds is the hot path's (the `INFO` call itself is one).
    let commands = commands_before
        .zip(redis_commands(redis))
        .map(|(a, b)| b - a - 1);

    println!(
        "\n## shared tier, one run: {items} items over 5 providers, {LATENCY_MS} ms per upstream request, {rounds} rounds\n"
    );
    println!("| step | median | range |\n|---|---|---|");
    for s in [
        &cold,
        &cold_nf,
        &cold_on,
        &join,
        &join_nf,
        &join_load,
        &join_render,
    ] {
        s.row("ms");
    }
    for s in [&get100k, &dec100k, &dec100k_1, &enc100k] {
        s.row("ms");
    }
    for s in [&hot_off, &hot_on] {
        s.row("µs/request");
    }
    println!();
    println!(
        "join / cold (median): {:.1} %; best join / best cold: {:.1} %; joins that fell back upstream: {fell_back} of {rounds}",
        100.0 * join.median() / cold.median(),
        100.0 * join.min() / cold.min()
    );
    println!(
        "feed off: join / cold (median): {:.1} %; best / best: {:.1} %",
        100.0 * join_nf.median() / cold_nf.median(),
        100.0 * join_nf.min() / cold_nf.min()
    );
    println!(
        "one-snapshot GET + decode / cold (median): {:.1} %; / cold with the feed off: {:.1} %",
        100.0 * get100k.median() / cold.median(),
        100.0 * get100k.median() / cold_nf.median()
    );
    println!(
        "cold with the tier on (lease winner) / off: {:.2}x",
        cold_on.median() / cold.median()
    );
    println!(
        "hot path, tier on / off: {:.3}x; Redis commands during the {} hot requests with the tier on: {}",
        hot_on.median() / hot_off.median(),
        rounds * HOT_REQUESTS,
        commands.map_or("unknown (no redis-cli)".to_owned(), |n| n.to_string())
    );
    println!(
        "the one snapshot of {n} items in Redis: {bytes} bytes, {:.1} B/item",
        bytes as f64 / n as f64
    );
    drop((off, off_nf, winner, on));
}

/// Commands Redis has processed so far (`INFO stats`), to show the hot path
/// sends none.
fn redis_commands(port: u16) -> Option<u64> {
    let out = Command::new("redis-cli")
        .args(["-p", &port.to_string(), "info", "stats"])
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("total_commands_processed:"))
        .and_then(|n| n.trim().parse().ok())
}
