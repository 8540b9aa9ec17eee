//! Issue 17: three replicas, each a full app on its own port, over ONE set of
//! embedded simulators (so the simulators' request counters count across
//! replicas) and one real `redis-server` per test.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use isogate::config::{Config, EMBEDDED_DEFAULT, ProviderEntry};
use isogate::{AppState, Embedded, app, build_state};
use isogate_shared_tier::{SharedTier, SharedTierConfig};
use isogate_testkit::redis::RedisServer;

/// The listing route of each simulator, as its counters name it.
const LISTINGS: [(&str, &str); 6] = [
    ("cloudmc-v1", "GET /v1/services/compute-on/test_area/isos"),
    (
        "cloudmc-v2",
        "GET /api/v2/services/compute-on/test_area/isos",
    ),
    ("cox", "GET /api/v2/services/edge-services/test-area/images"),
    ("vss", "GET /v2/iso"),
    ("vss", "GET /v2/user/image/iso"),
    ("action", "action:list_iso"),
];
const V2_LISTING: &str = "GET /api/v2/services/compute-on/test_area/isos";
/// The CloudMC v2 provider of the demo config (imports and deletes).
const V2: &str = "coxedge-prod";

// ---- replicas ----

struct Replica {
    state: AppState,
    base: String,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for Replica {
    fn drop(&mut self) {
        self.server.abort();
    }
}

struct Cluster {
    replicas: Vec<Replica>,
    sims: Embedded,
    http: reqwest::Client,
    redis: RedisServer,
}

fn config_toml(redis: &str, cache: &str, shared: &str) -> String {
    let toml = EMBEDDED_DEFAULT.replace(
        "[cache]\nfresh_ttl_s = 30\nstale_ttl_s = 300\nstale_if_error_s = 3600\nrefresh_min_interval_s = 5\n",
        "",
    );
    // One cursor key for all (required with the tier).
    let toml = toml.replace(
        "[server]\n",
        "[server]\ncursor_key = \"scale-out-test-cursor-key-0123456789\"\n",
    );
    format!(
        "{toml}\n[cache]\n{cache}\n[cache.shared]\nurl = \"{redis}\"\nreconnect_max_ms = 400\n# Debug builds on 2 busy cores: the 150 ms default is for production.\ncall_timeout_ms = 1000\n{shared}\n"
    )
}

async fn cluster(cache: &str, shared: &str) -> Cluster {
    let redis = RedisServer::start();
    let toml = config_toml(&redis.url(), cache, shared);
    let (config, entries) = Config::from_toml(&toml).unwrap();
    let sims = Embedded::start(&config.simulators, &entries).await.unwrap();
    let mut replicas = Vec::new();
    for _ in 0..3 {
        replicas.push(replica(&config, &entries, &sims).await);
    }
    Cluster {
        replicas,
        sims,
        http: reqwest::Client::new(),
        redis,
    }
}

async fn replica(config: &Config, entries: &[ProviderEntry], sims: &Embedded) -> Replica {
    let state = build_state(config.clone(), entries, sims).unwrap();
    state.set_ready();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let router = app(state.clone());
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    Replica {
        state,
        base,
        server,
    }
}

impl Cluster {
    fn listings(&self) -> Vec<u64> {
        LISTINGS
            .iter()
            .map(|(sim, route)| self.sim(sim).control().count(route))
            .collect()
    }

    fn sim(&self, name: &str) -> &isogate_sim::SimServer {
        self.sims
            .servers()
            .iter()
            .find(|s| s.name() == name)
            .unwrap()
    }

    async fn get(&self, r: usize, uri: &str) -> (u16, serde_json::Value) {
        let resp = self
            .http
            .get(format!("{}{uri}", self.replicas[r].base))
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(serde_json::Value::Null))
    }

    async fn ok(&self, r: usize, uri: &str) -> serde_json::Value {
        let (status, body) = self.get(r, uri).await;
        assert_eq!(status, 200, "replica {r} GET {uri}: {body}");
        body
    }

    async fn total(&self, r: usize) -> u64 {
        self.ok(r, &format!("/v1/providers/{V2}/isos?per_page=1"))
            .await["meta"]["total"]
            .as_u64()
            .unwrap()
    }

    fn tier(&self) -> SharedTier {
        SharedTier::new(&SharedTierConfig::new(self.redis.url())).unwrap()
    }

    async fn import(&self, r: usize, name: &str) -> u16 {
        let zone = self
            .ok(r, &format!("/v1/providers/{V2}/isos?per_page=1"))
            .await["data"][0]["zones"][0]["id"]
            .clone();
        let body = serde_json::json!({"name": name, "url": "http://mirror.example.org/s.iso", "zone_id": zone});
        self.http
            .post(format!("{}/v1/providers/{V2}/isos", self.replicas[r].base))
            .json(&body)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    /// Polls replica `r` until its CloudMC v2 total is `want`; the time it took.
    async fn until_total(&self, r: usize, want: u64, within: Duration) -> Duration {
        let started = Instant::now();
        loop {
            let got = self.total(r).await;
            if got == want {
                return started.elapsed();
            }
            assert!(
                started.elapsed() < within,
                "replica {r} still lists {got} items of {V2}, not {want}, after {within:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_hundred_cold_requests_over_three_replicas_make_one_listing_per_provider() {
    let c = cluster("fresh_ttl_s = 60", "").await;
    for server in c.sims.servers() {
        server.control().set_faults(isogate_sim::Faults {
            latency_ms: 100,
            ..Default::default()
        });
    }
    let answers = futures::future::join_all((0..300).map(|i| {
        let c = &c;
        async move {
            c.ok(i % 3, &format!("/v1/isos?per_page={}", 1 + i % 50))
                .await
        }
    }))
    .await;
    assert!(answers.iter().all(|a| a["meta"]["partial"] == false));
    let statuses: Vec<_> = c
        .replicas
        .iter()
        .map(|r| r.state.cache().shared().unwrap().tier().status())
        .collect();
    assert_eq!(
        c.listings(),
        vec![1, 1, 1, 1, 1, 1],
        "one upstream listing per provider across the three replicas (VSS: one of each catalogue); tier: {statuses:?}"
    );
    // All three serve the one published snapshot of each provider.
    for h in c.replicas[0].state.providers() {
        let versions: HashSet<Option<u64>> = futures::future::join_all(
            c.replicas
                .iter()
                .map(|r| async { r.state.cache().peek(&h.name).await.unwrap().tier_version }),
        )
        .await
        .into_iter()
        .collect();
        assert_eq!(versions.len(), 1, "{}: {versions:?}", h.name);
        assert!(versions.iter().all(Option::is_some), "{}", h.name);
    }
    // Two of them adopted it from Redis: the same rows, the recognised
    // identity (issue 20) included, as the replica that fetched.
    let pages =
        futures::future::join_all((0..3).map(|r| c.ok(r, "/v1/isos?per_page=200&sort=id"))).await;
    assert!(
        pages[0]["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| !i["arch"].is_null() && !i["os"]["family"].is_null()),
        "the demo catalogue has recognised items"
    );
    assert_eq!(pages[0]["data"], pages[1]["data"]);
    assert_eq!(pages[0]["data"], pages[2]["data"]);
    // refresh=true reaches the upstreams whatever the tier holds, once.
    let refreshed = c.ok(1, "/v1/isos?refresh=true&per_page=1").await;
    assert_eq!(refreshed["meta"]["partial"], false);
    assert_eq!(c.listings(), vec![2, 2, 2, 2, 2, 2]);
    let v2 = c.replicas[1]
        .state
        .cache()
        .peek(V2)
        .await
        .unwrap()
        .tier_version;
    assert_eq!(
        c.tier().snapshot_version(V2).await.unwrap(),
        v2,
        "and is shared"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_of_another_format_is_refetched_and_replaced() {
    let c = cluster("fresh_ttl_s = 60", "").await;
    // What a replica of an older build left in Redis: format 1 (it carries
    // no identity), under a version the tier handed out.
    let tier = c.tier();
    let old_version = tier.next_version().await.unwrap();
    let mut old = b"IGS".to_vec();
    old.push(1);
    old.extend_from_slice(&old_version.to_le_bytes());
    old.extend_from_slice(&chrono::Utc::now().timestamp().to_le_bytes());
    old.extend_from_slice(&0u32.to_le_bytes());
    old.extend_from_slice(&[0; 8]);
    assert_eq!(
        tier.publish_encoded(V2, old_version, old).await.unwrap(),
        isogate_shared_tier::PublishOutcome::Stored
    );
    let page = c
        .ok(0, &format!("/v1/providers/{V2}/isos?per_page=5"))
        .await;
    assert_eq!(page["meta"]["partial"], false, "{}", page["meta"]);
    assert!(!page["data"].as_array().unwrap().is_empty());
    assert_eq!(
        c.sim("cloudmc-v2").control().count(V2_LISTING),
        1,
        "refetched upstream"
    );
    let status = c.replicas[0]
        .state
        .cache()
        .shared()
        .unwrap()
        .tier()
        .status();
    assert!(
        status
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("format 1")),
        "a typed codec error: {status:?}"
    );
    // The refetch replaced it: another replica reads the new format.
    let newer = tier.snapshot_version(V2).await.unwrap().unwrap();
    assert!(newer > old_version, "{newer} > {old_version}");
    let shared = tier.get_snapshot(V2).await.unwrap().unwrap();
    assert!(shared.items.iter().any(|i| i.arch.is_some()));
    c.ok(1, &format!("/v1/providers/{V2}/isos?per_page=5"))
        .await;
    assert_eq!(c.sim("cloudmc-v2").control().count(V2_LISTING), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_through_one_replica_reaches_the_others_within_a_second() {
    let c = cluster("fresh_ttl_s = 60", "").await;
    let before = c.total(0).await;
    assert_eq!(c.total(1).await, before);
    assert_eq!(c.total(2).await, before);
    assert_eq!(c.sim("cloudmc-v2").control().count(V2_LISTING), 1);

    let status = c.import(0, "scale-out-import").await;
    assert!(status == 201 || status == 202, "import: {status}");
    for r in [1, 2] {
        let took = c.until_total(r, before + 1, Duration::from_secs(1)).await;
        assert!(took < Duration::from_secs(1), "replica {r}: {took:?}");
    }
    assert_eq!(c.total(0).await, before + 1);
    assert!(
        c.sim("cloudmc-v2").control().count(V2_LISTING) <= 3,
        "the write re-lists once per replica at most"
    );

    // A delete through A: B and C stop listing the item.
    let page = c
        .ok(1, &format!("/v1/providers/{V2}/isos?per_page=1000"))
        .await;
    let native = page["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == "scale-out-import")
        .map(|i| i["native_id"].as_str().unwrap().to_owned())
        .expect("the imported item is listed");
    let resp = c
        .http
        .delete(format!(
            "{}/v1/providers/{V2}/isos/{native}",
            c.replicas[0].base
        ))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "delete: {}", resp.status());
    for r in [1, 2] {
        c.until_total(r, before, Duration::from_secs(1)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalidation_during_a_lease_does_not_let_the_old_fetch_win() {
    let c = cluster("fresh_ttl_s = 60", "").await;
    let before = c.total(0).await;
    c.total(1).await;
    c.total(2).await;
    let zone = c
        .ok(0, &format!("/v1/providers/{V2}/isos?per_page=1"))
        .await["data"][0]["zones"][0]["id"]
        .clone();
    // Listings of CloudMC v2 now take 600 ms; writes do not wait.
    c.sim("cloudmc-v2")
        .control()
        .set_faults(isogate_sim::Faults {
            latency_ms: 600,
            methods: vec!["GET".into()],
            ..Default::default()
        });
    // Drop every copy, then A starts the one (slow) fetch and holds the lease.
    let resp = c
        .http
        .post(format!("{}/v1/cache/invalidate", c.replicas[2].base))
        .json(&serde_json::json!({"providers": [V2]}))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success());
    let started = Instant::now();
    for r in [0, 1] {
        while c.replicas[r].state.cache().peek(V2).await.is_some() {
            assert!(
                started.elapsed() < Duration::from_secs(1),
                "replica {r} kept its copy after C's invalidation"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    let slow = {
        let http = c.http.clone();
        let url = format!("{}/v1/providers/{V2}/isos?per_page=1", c.replicas[0].base);
        tokio::spawn(async move { http.get(url).send().await.unwrap().status().as_u16() })
    };
    tokio::time::sleep(Duration::from_millis(150)).await;
    // Through B, while A's fetch is out: the write lands upstream and
    // invalidates; A's fetch may have read the catalogue before it.
    let body = serde_json::json!({"name": "during-lease", "url": "http://mirror.example.org/l.iso", "zone_id": zone});
    let status = c
        .http
        .post(format!("{}/v1/providers/{V2}/isos", c.replicas[1].base))
        .json(&body)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16();
    assert!(status == 201 || status == 202, "import: {status}");
    assert!(
        !slow.is_finished(),
        "the write landed while A's fetch was out"
    );
    assert_eq!(slow.await.unwrap(), 200);
    c.sim("cloudmc-v2").control().heal();
    for r in 0..3 {
        c.until_total(r, before + 1, Duration::from_secs(2)).await;
    }
    // The simulator applies its latency before reading its catalogue, so
    // the overtaken fetch's rows happen to hold the write; what must hold is
    // that the tier refused to publish it (its version predates the write).
    let a = c.replicas[0]
        .state
        .cache()
        .shared()
        .unwrap()
        .tier()
        .status();
    assert!(
        a.publishes_rejected_older >= 1,
        "A's fetch that started before the invalidation was refused: {a:?}"
    );
    // What Redis holds is the post-write catalogue, not the overtaken fetch.
    if let Some(s) = c.tier().get_snapshot(V2).await.unwrap() {
        assert_eq!(s.items.len() as u64, before + 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cursor_from_one_replica_continues_on_the_others() {
    let c = cluster("fresh_ttl_s = 60", "").await;
    let whole = c.ok(0, "/v1/isos?per_page=1000&sort=name").await;
    let total = whole["meta"]["total"].as_u64().unwrap();
    assert!(total > 30, "enough items for several pages: {total}");
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut page = 0;
    loop {
        let uri = match &cursor {
            None => "/v1/isos?per_page=7&sort=name".to_owned(),
            Some(c) => format!("/v1/isos?per_page=7&sort=name&cursor={c}"),
        };
        let body = c.ok(page % 3, &uri).await;
        for item in body["data"].as_array().unwrap() {
            seen.push(item["id"].as_str().unwrap().to_owned());
        }
        page += 1;
        match body["meta"]["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    let unique: HashSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "no item repeated");
    assert_eq!(seen.len() as u64, total, "no item skipped");
    let expected: Vec<String> = whole["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_owned())
        .collect();
    if total <= 1000 {
        assert_eq!(seen, expected, "the same order as one page");
    }
}

/// Requests over all replicas for `for_`; their statuses.
async fn load(c: &Cluster, for_: Duration) -> Vec<u16> {
    let started = Instant::now();
    let mut statuses = Vec::new();
    let mut i = 0;
    while started.elapsed() < for_ {
        let batch =
            futures::future::join_all((0..6).map(|k| c.get((i + k) % 3, "/v1/isos?per_page=3")))
                .await;
        statuses.extend(batch.into_iter().map(|(s, _)| s));
        i += 1;
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    statuses
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_killed_during_load_costs_no_5xx_and_replicas_rejoin_after_restart() {
    let mut c = cluster("fresh_ttl_s = 1\nstale_ttl_s = 60", "").await;
    for r in 0..3 {
        c.ok(r, "/v1/isos?per_page=5").await;
    }
    c.redis.kill();
    let statuses = load(&c, Duration::from_millis(2500)).await;
    assert!(statuses.len() > 50);
    let fives: Vec<_> = statuses.iter().filter(|s| **s >= 500).collect();
    assert!(fives.is_empty(), "5xx with Redis down: {fives:?}");
    assert!(statuses.iter().all(|s| *s == 200));
    for r in &c.replicas {
        let tier = r.state.cache().shared().unwrap().tier().status();
        assert!(tier.errors > 0, "the replicas noticed Redis was gone");
    }
    // Degraded, not unready.
    let (status, ready) = c.get(0, "/readyz").await;
    assert_eq!(status, 200, "{ready}");
    assert_eq!(ready["shared_tier"]["status"], "degraded", "{ready}");
    let providers = c.ok(1, "/v1/providers").await;
    assert_eq!(providers["data"][0]["shared_tier"], "degraded");

    c.redis.restart();
    // Stale snapshots refresh through the tier again: within a few seconds
    // every replica holds the same published version of every provider.
    let started = Instant::now();
    loop {
        let statuses = load(&c, Duration::from_millis(300)).await;
        assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
        let mut converged = true;
        for h in c.replicas[0].state.providers() {
            let mut versions = HashSet::new();
            for r in &c.replicas {
                versions.insert(
                    r.state
                        .cache()
                        .peek(&h.name)
                        .await
                        .and_then(|s| s.tier_version),
                );
            }
            let published = c.tier().snapshot_version(&h.name).await.ok().flatten();
            converged &=
                versions.len() == 1 && published.is_some() && versions.contains(&published);
        }
        if converged {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(8),
            "replicas did not converge on one version after Redis came back"
        );
    }
    for r in &c.replicas {
        assert!(r.state.cache().shared().unwrap().tier().status().connected);
    }
    let (_, ready) = c.get(2, "/readyz").await;
    assert_eq!(ready["shared_tier"]["status"], "ok", "{ready}");
    assert!(ready["shared_tier"]["leases_won"].is_u64());
    let providers = c.ok(2, "/v1/providers").await;
    assert!(providers["data"][0]["tier_version"].is_u64(), "{providers}");
    let metrics = c
        .http
        .get(format!("{}/metrics", c.replicas[0].base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("isogate_shared_tier_connected 1"),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_limited_to_twenty_a_second_gets_twenty_a_second_over_three_replicas() {
    use sha2::Digest;
    let secret = "scale-out-reader-secret";
    let digest = hex::encode(sha2::Sha256::digest(secret.as_bytes()));
    let auth = format!(
        "[auth.rate_limit]\nper_second = 20\nburst = 1\n\n[[auth.keys]]\nname = \"hammer\"\nsha256 = \"{digest}\"\nscopes = [\"read\"]\nproviders = [\"*\"]\n"
    );
    let redis = RedisServer::start();
    let toml = format!(
        "{auth}\n{}",
        config_toml(&redis.url(), "fresh_ttl_s = 60", "")
    );
    let (config, entries) = Config::from_toml(&toml).unwrap();
    let sims = Embedded::start(&config.simulators, &entries).await.unwrap();
    let mut replicas = Vec::new();
    for _ in 0..3 {
        replicas.push(replica(&config, &entries, &sims).await);
    }
    let c = Cluster {
        replicas,
        sims,
        http: reqwest::Client::new(),
        redis,
    };
    let hammer = Duration::from_secs(2);
    let started = Instant::now();
    let workers = (0..9).map(|w| {
        let c = &c;
        async move {
            let (mut ok, mut limited) = (0u32, 0u32);
            while started.elapsed() < hammer {
                let resp = c
                    .http
                    .get(format!("{}/v1/providers", c.replicas[w % 3].base))
                    .bearer_auth(secret)
                    .send()
                    .await
                    .unwrap();
                match resp.status().as_u16() {
                    200 => ok += 1,
                    429 => limited += 1,
                    s => panic!("unexpected {s}"),
                }
            }
            (ok, limited)
        }
    });
    let results = futures::future::join_all(workers).await;
    let elapsed = started.elapsed().as_secs_f64();
    let ok: u32 = results.iter().map(|r| r.0).sum();
    let limited: u32 = results.iter().map(|r| r.1).sum();
    let expected = 1.0 + 20.0 * elapsed;
    assert!(
        limited > ok,
        "the hammer went over the limit: {ok} admitted, {limited} limited"
    );
    assert!(
        (f64::from(ok) - expected).abs() <= expected * 0.2,
        "{ok} admitted in {elapsed:.2} s over three replicas; expected about {expected:.0}"
    );
    for r in &c.replicas {
        assert_eq!(r.state.cache().shared().unwrap().tier().status().errors, 0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_killed_mid_fetch_leaves_a_lease_another_replica_fetches_after() {
    let redis = RedisServer::start();
    let toml = config_toml(&redis.url(), "fresh_ttl_s = 60", "lease_ms = 1500").replace(
        "[providers.coxedge-prod]\n",
        "[providers.coxedge-prod]\ndeadline_ms = 1000\n",
    );
    let (config, entries) = Config::from_toml(&toml).unwrap();
    let entries: Vec<ProviderEntry> = entries.into_iter().filter(|e| e.name == V2).collect();
    let sims = Embedded::start(&config.simulators, &entries).await.unwrap();
    // Replica A runs in its own runtime on its own thread, pointed at the
    // simulator by URL: dropping that runtime ends its fetch as a crash would.
    let direct = toml.replace(
        "base_url = \"sim:cloudmc-v2\"",
        &format!("base_url = \"{}\"", sims.base_url("cloudmc-v2").unwrap()),
    );
    let (base_tx, base_rx) = std::sync::mpsc::channel::<String>();
    let (kill_tx, kill_rx) = tokio::sync::oneshot::channel::<()>();
    let a = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let (config, entries) = Config::from_toml(&direct).unwrap();
            let entries: Vec<ProviderEntry> =
                entries.into_iter().filter(|e| e.name == V2).collect();
            let a = replica(&config, &entries, &Embedded::default()).await;
            base_tx.send(a.base.clone()).unwrap();
            let _ = kill_rx.await;
            drop(a);
        });
        // Drops every task of A (its fetch included) without releasing anything.
        rt.shutdown_background();
    });
    let a_base = base_rx.recv().unwrap();
    let v2 = c_sim(&sims);
    v2.control().set_faults(isogate_sim::Faults {
        hang: true,
        methods: vec!["GET".into()],
        ..Default::default()
    });
    let http = reqwest::Client::new();
    let hung = {
        let http = http.clone();
        tokio::spawn(async move {
            http.get(format!("{a_base}/v1/providers/{V2}/isos"))
                .send()
                .await
        })
    };
    // A won the lease and its fetch reached the upstream, which hangs.
    let started = Instant::now();
    while v2.control().count(V2_LISTING) == 0 {
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "A never fetched"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let won_at = Instant::now();
    kill_tx.send(()).unwrap();
    a.join().unwrap();
    // A's client sees its connection die (or nothing: A is gone either way).
    let _ = tokio::time::timeout(Duration::from_secs(2), hung).await;
    v2.control().heal();

    let c = Cluster {
        replicas: vec![
            replica(&config, &entries, &sims).await,
            replica(&config, &entries, &sims).await,
        ],
        sims,
        http,
        redis,
    };
    // B, while A's lease lives: waits half its deadline, then lists itself
    // (nothing published).
    let started = Instant::now();
    let first = c.total(0).await;
    assert!(first > 0);
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(400) && waited < Duration::from_millis(1000),
        "B waited about half its deadline for the dead holder: {waited:?}"
    );
    assert_eq!(c.sim("cloudmc-v2").control().count(V2_LISTING), 2);
    assert_eq!(c.tier().snapshot_version(V2).await.unwrap(), None);
    // Once the dead lease expired, C takes it, lists once and publishes.
    tokio::time::sleep(Duration::from_millis(1600).saturating_sub(won_at.elapsed())).await;
    let started = Instant::now();
    assert_eq!(c.total(1).await, first);
    assert!(started.elapsed() < Duration::from_millis(400));
    assert_eq!(c.sim("cloudmc-v2").control().count(V2_LISTING), 3);
    let published = c.tier().snapshot_version(V2).await.unwrap();
    assert!(published.is_some(), "the new lease holder published");
    assert_eq!(
        c.replicas[1]
            .state
            .cache()
            .peek(V2)
            .await
            .unwrap()
            .tier_version,
        published
    );
}

fn c_sim(sims: &Embedded) -> &isogate_sim::SimServer {
    sims.servers()
        .iter()
        .find(|s| s.name() == "cloudmc-v2")
        .unwrap()
}

#[tokio::test]
async fn the_tier_needs_a_cursor_key_and_a_lease_above_every_deadline() {
    let toml = config_toml("redis://127.0.0.1:9", "", "");
    let without_key = toml.replace(
        "cursor_key = \"scale-out-test-cursor-key-0123456789\"\n",
        "",
    );
    let Err(err) = Config::from_toml(&without_key) else {
        panic!("accepted")
    };
    assert!(err.to_string().contains("server.cursor_key"), "{err}");

    let short = toml.replace("[cache.shared]\n", "[cache.shared]\nlease_ms = 5000\n");
    let (config, entries) = Config::from_toml(&short).unwrap();
    let sims = Embedded::start(&config.simulators, &entries).await.unwrap();
    let Err(err) = build_state(config, &entries, &sims) else {
        panic!("accepted")
    };
    assert!(err.to_string().contains("cache.shared.lease_ms"), "{err}");
    // The URL (it may hold a password) is never in a config error.
    let bad = config_toml("http://:hunter2@127.0.0.1:9", "", "");
    let (config, entries) = Config::from_toml(&bad).unwrap();
    let Err(err) = build_state(config, &entries, &sims) else {
        panic!("accepted")
    };
    assert!(!err.to_string().contains("hunter2"), "{err}");
}
