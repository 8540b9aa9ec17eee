//! Issue 18 across replicas: two full gateways (each on its own port and its
//! own Tokio runtime, so one can be killed like a crashed process) over ONE
//! set of embedded simulators and one real `redis-server` per test. The
//! change feed goes through one Redis Stream: both replicas serve the same
//! event ids, a `Last-Event-ID` from one resumes on the other, and a webhook
//! is delivered once across replicas, also when the replica delivering it dies.

#[path = "support/feed.rs"]
mod feed;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::HeaderMap;
use bytes::Bytes;
use feed::{Frame, Sse, WH_SECRET, verify};
use isogate::config::{Config, EMBEDDED_DEFAULT, ProviderEntry};
use isogate::{AppState, Embedded, app, build_state};
use isogate_testkit::redis::RedisServer;
use serde_json::Value;

/// The CloudMC v2 provider of the demo config (imports and deletes).
const V2: &str = "coxedge-prod";

// ---- a webhook receiver (Standard Webhooks, written from the spec) ----

#[derive(Clone, Default)]
struct Receiver {
    /// Verified, accepted events, in arrival order.
    got: Arc<Mutex<Vec<Value>>>,
    /// Attempts answered 503 while `down`.
    refused: Arc<Mutex<Vec<String>>>,
    down: Arc<AtomicBool>,
}

impl Receiver {
    fn ids(&self) -> Vec<String> {
        self.got
            .lock()
            .unwrap()
            .iter()
            .map(|e| e["id"].as_str().unwrap().to_owned())
            .collect()
    }
}

async fn receiver() -> (SocketAddr, Receiver) {
    let r = Receiver::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new()
        .route(
            "/hooks/token",
            axum::routing::post(
                |axum::extract::State(r): axum::extract::State<Receiver>,
                 headers: HeaderMap,
                 body: Bytes| async move {
                    if verify(&headers, &body).is_err() {
                        return axum::http::StatusCode::UNAUTHORIZED;
                    }
                    let ev: Value = serde_json::from_slice(&body).unwrap();
                    if r.down.load(Ordering::SeqCst) {
                        r.refused
                            .lock()
                            .unwrap()
                            .push(ev["id"].as_str().unwrap_or_default().to_owned());
                        return axum::http::StatusCode::SERVICE_UNAVAILABLE;
                    }
                    r.got.lock().unwrap().push(ev);
                    axum::http::StatusCode::NO_CONTENT
                },
            ),
        )
        .with_state(r.clone());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (addr, r)
}

// ---- replicas, each on its own runtime ----

struct Replica {
    state: AppState,
    base: String,
    rt: Option<tokio::runtime::Runtime>,
}

impl Replica {
    /// Like a SIGKILL: every task of the replica stops where it is; nothing
    /// is released in Redis (its leases run out, its pending entries stay).
    fn kill(&mut self) {
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        self.kill();
    }
}

fn config(redis: &str, hook: SocketAddr, types: &str) -> (Config, Vec<ProviderEntry>) {
    config_polled(redis, hook, types, 1)
}

/// `poll_s` 0: no background pollers (the test polls).
fn config_polled(
    redis: &str,
    hook: SocketAddr,
    types: &str,
    poll_s: u64,
) -> (Config, Vec<ProviderEntry>) {
    let toml = EMBEDDED_DEFAULT.replace(
        "[server]\n",
        "[server]\ncursor_key = \"events-replicas-test-cursor-key-0123\"\n",
    );
    let toml = format!(
        "{toml}\n[cache.shared]\nurl = \"{redis}\"\nreconnect_max_ms = 400\ncall_timeout_ms = 1000\n\
         [feed]\ndefault_poll_interval_s = {poll_s}\nheartbeat_s = 1\nwebhook_host_allow = [\"127.0.0.1\"]\nwebhook_lease_ms = 1500\n\
         [[webhooks]]\nname = \"inventory\"\nurl = \"http://{hook}/hooks/token\"\nsecret = \"{WH_SECRET}\"\n\
         types = [\"{types}\"]\nproviders = [\"{V2}\"]\nbackoff_initial_ms = 100\nbackoff_max_ms = 200\n"
    );
    Config::from_toml(&toml).unwrap()
}

fn replica(config: &Config, entries: &[ProviderEntry], sims: &Embedded) -> Replica {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let (state, base) = std::thread::scope(|s| {
        s.spawn(|| {
            rt.block_on(async {
                let state = build_state(config.clone(), entries, sims).unwrap();
                isogate::feed::start(&state).await.unwrap();
                state.set_ready();
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                let base = format!("http://{}", listener.local_addr().unwrap());
                let router = app(state.clone());
                tokio::spawn(async move {
                    let _ = axum::serve(listener, router).await;
                });
                (state, base)
            })
        })
        .join()
        .unwrap()
    });
    Replica {
        state,
        base,
        rt: Some(rt),
    }
}

fn http() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

// ---- SSE ----

async fn sse(base: &str, query: &str, last_id: Option<&str>) -> Sse {
    let mut req = http().get(format!("{base}/v1/events{query}"));
    if let Some(id) = last_id {
        req = req.header("last-event-id", id);
    }
    let resp = req.send().await.unwrap();
    assert_eq!(resp.status(), 200);
    Sse::new(resp)
}

fn is(kind: &'static str) -> impl Fn(&Frame) -> bool {
    move |f| f.event == kind && f.data["source"] == format!("/providers/{V2}")
}

/// The feed's baseline of coxedge-prod exists: both replicas saw its
/// `provider.synced`, with the same id (one entry of the stream).
async fn synced(a: &mut Sse, b: &mut Sse) -> String {
    let x = a
        .collect(1, Duration::from_secs(8), is("provider.synced"))
        .await;
    let y = b
        .collect(1, Duration::from_secs(8), is("provider.synced"))
        .await;
    assert_eq!(x[0].id, y[0].id, "one provider.synced in the stream");
    x[0].id.clone().unwrap()
}

async fn import(base: &str, name: &str) -> Value {
    let http = http();
    let listing: Value = http
        .get(format!("{base}/v1/providers/{V2}/isos?per_page=1"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let zone = listing["data"][0]["zones"][0]["id"].clone();
    let body = serde_json::json!({"name": name, "url": "http://mirror.example.org/r.iso", "zone_id": zone});
    let resp = http
        .post(format!("{base}/v1/providers/{V2}/isos"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "{resp:?}");
    resp.json().await.unwrap_or(Value::Null)
}

async fn delivered_within(r: &Receiver, n: usize, wait: Duration) {
    let start = Instant::now();
    while r.ids().len() < n && start.elapsed() < wait {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_serve_one_stream_resume_across_each_other_and_deliver_each_webhook_once() {
    let redis = RedisServer::start();
    let (hook, received) = receiver().await;
    let (config, entries) = config(&redis.url(), hook, "iso.*");
    let sims = Embedded::start(&config.simulators, &entries).await.unwrap();
    let replicas = [
        replica(&config, &entries, &sims),
        replica(&config, &entries, &sims),
    ];
    let q = format!("?provider={V2}");
    // From the stream's start (`0-0`: nothing was trimmed yet), so the
    // first snapshots the pollers took before we connected are replayed.
    let mut a = sse(&replicas[0].base, &q, Some("0-0")).await;
    let mut b = sse(&replicas[1].base, &q, Some("0-0")).await;
    let synced_id = synced(&mut a, &mut b).await;

    // An import through replica 0, a delete through replica 1.
    import(&replicas[0].base, "replicas-feed-test").await;
    let added_a = a.collect(1, Duration::from_secs(6), is("iso.added")).await;
    let added_b = b.collect(1, Duration::from_secs(6), is("iso.added")).await;
    assert_eq!(added_a[0].id, added_b[0].id, "the same id on both replicas");
    assert_eq!(added_a[0].data, added_b[0].data, "the same event on both");
    let item = &added_a[0].data["data"];
    assert_eq!(item["name"], "replicas-feed-test");
    let native = item["native_id"].as_str().unwrap();
    let resp = http()
        .delete(format!(
            "{}/v1/providers/{V2}/isos/{native}",
            replicas[1].base
        ))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "{resp:?}");
    let removed_a = a
        .collect(1, Duration::from_secs(6), is("iso.removed"))
        .await;
    let removed_b = b
        .collect(1, Duration::from_secs(6), is("iso.removed"))
        .await;
    assert_eq!(removed_a[0].id, removed_b[0].id);
    // Nothing else of coxedge-prod: no replica appended the change twice.
    let rest: Vec<Frame> = a
        .drain(Duration::from_millis(2500))
        .await
        .into_iter()
        .filter(|f| f.event.starts_with("iso."))
        .collect();
    assert!(rest.is_empty(), "{rest:#?}");

    // A client of replica 0 resumes on replica 1: misses nothing, repeats nothing.
    let mut resumed = sse(&replicas[1].base, &q, Some(&synced_id)).await;
    let replay: Vec<Frame> = resumed
        .drain(Duration::from_millis(1500))
        .await
        .into_iter()
        .filter(|f| f.event.starts_with("iso."))
        .collect();
    let ids = |fs: &[Frame]| fs.iter().map(|f| f.id.clone().unwrap()).collect::<Vec<_>>();
    assert_eq!(
        ids(&replay),
        [
            added_a[0].id.clone().unwrap(),
            removed_a[0].id.clone().unwrap()
        ]
    );
    let mut from_added = sse(&replicas[0].base, &q, added_b[0].id.as_deref()).await;
    let replay = from_added.drain(Duration::from_millis(1000)).await;
    assert_eq!(
        ids(&replay
            .into_iter()
            .filter(|f| f.event.starts_with("iso."))
            .collect::<Vec<_>>()),
        [removed_a[0].id.clone().unwrap()]
    );
    // An id the stream never held (older than its first entry): `reset`.
    let mut old = sse(&replicas[1].base, &q, Some("1-0")).await;
    let first = old.next(Duration::from_secs(3)).await.unwrap();
    assert_eq!(first.event, "reset", "{first:#?}");
    assert_eq!(first.data["data"]["reason"], "expired");

    // The webhook got each event once, signed, in order.
    delivered_within(&received, 2, Duration::from_secs(5)).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        received.ids(),
        [
            added_a[0].id.clone().unwrap(),
            removed_a[0].id.clone().unwrap()
        ]
    );
    // Delivery is split by replica: the counts add up to one each.
    let delivered: u64 = replicas
        .iter()
        .map(|r| {
            r.state
                .webhooks()
                .unwrap()
                .status()
                .iter()
                .map(|s| s.delivered)
                .sum::<u64>()
        })
        .sum();
    assert_eq!(delivered, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_killed_with_undelivered_webhook_events_leaves_them_to_the_other() {
    let redis = RedisServer::start();
    let (hook, received) = receiver().await;
    received.down.store(true, Ordering::SeqCst);
    // Additions only: an import's later `iso.changed` (importing -> ready)
    // would make the expected set depend on the simulator's timing.
    let (config, entries) = config(&redis.url(), hook, "iso.added");
    let sims = Embedded::start(&config.simulators, &entries).await.unwrap();
    let mut replicas = [
        replica(&config, &entries, &sims),
        replica(&config, &entries, &sims),
    ];
    let q = format!("?provider={V2}");
    // From the stream's start (`0-0`: nothing was trimmed yet), so the
    // first snapshots the pollers took before we connected are replayed.
    let mut a = sse(&replicas[0].base, &q, Some("0-0")).await;
    let mut b = sse(&replicas[1].base, &q, Some("0-0")).await;
    synced(&mut a, &mut b).await;

    // Two changes while the receiver refuses everything.
    import(&replicas[0].base, "kill-test-1").await;
    let first = b.collect(1, Duration::from_secs(6), is("iso.added")).await;
    import(&replicas[1].base, "kill-test-2").await;
    let second = b.collect(1, Duration::from_secs(6), is("iso.added")).await;
    let want = [first[0].id.clone().unwrap(), second[0].id.clone().unwrap()];

    // The replica retrying them (one holds the endpoint at a time) dies.
    let start = Instant::now();
    let holder = loop {
        let busy = replicas
            .iter()
            .position(|r| r.state.webhooks().unwrap().status()[0].in_flight.is_some());
        if let Some(i) = busy {
            break i;
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "no replica is delivering; refused so far: {:?}",
            received.refused.lock().unwrap()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(
        received.refused.lock().unwrap().contains(&want[0]),
        "the first event was attempted: {:?}",
        received.refused.lock().unwrap()
    );
    replicas[holder].kill();
    received.down.store(false, Ordering::SeqCst);

    // The other takes over after the lease (1.5 s) and the entries' idle
    // time: both events, once each, in order.
    let killed_at = Instant::now();
    delivered_within(&received, 2, Duration::from_secs(10)).await;
    let took = killed_at.elapsed();
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(received.ids(), want, "after {took:?}");
    let other = &replicas[1 - holder];
    assert_eq!(other.state.webhooks().unwrap().status()[0].delivered, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_redis_down_events_stay_local_without_errors_and_the_switch_back_is_a_reset() {
    let mut redis = RedisServer::start();
    let (hook, _received) = receiver().await;
    let (config, entries) = config(&redis.url(), hook, "iso.*");
    let sims = Embedded::start(&config.simulators, &entries).await.unwrap();
    let replicas = [replica(&config, &entries, &sims)];
    let base = &replicas[0].base;
    let q = format!("?provider={V2}");
    let mut a = sse(base, &q, Some("0-0")).await;
    let mut b = sse(base, &q, Some("0-0")).await;
    let shared_id = a
        .collect(1, Duration::from_secs(8), is("provider.synced"))
        .await[0]
        .id
        .clone()
        .unwrap();
    b.collect(1, Duration::from_secs(8), is("provider.synced"))
        .await;

    // Redis dies: a write still works and its event reaches the open
    // stream, from this replica's own ring.
    redis.kill();
    let port = redis.port;
    import(base, "while-redis-is-down").await;
    let added = a.collect(1, Duration::from_secs(8), is("iso.added")).await;
    assert_eq!(added[0].data["data"]["name"], "while-redis-is-down");
    let local_id = added[0].id.clone().unwrap();
    for uri in ["/v1/isos?per_page=5", "/v1/providers", "/readyz"] {
        let resp = http().get(format!("{base}{uri}")).send().await.unwrap();
        assert!(resp.status().as_u16() < 500, "{uri}: {}", resp.status());
    }
    // A resume from a shared id is answered from the local mirror meanwhile.
    let mut resumed = sse(base, &q, Some(&shared_id)).await;
    let replay = resumed
        .collect(1, Duration::from_secs(3), is("iso.added"))
        .await;
    assert_eq!(replay[0].id.as_deref(), Some(local_id.as_str()));

    // Redis comes back (empty): the open stream is told to re-list, once,
    // and then follows the stream again.
    let _redis = RedisServer::start_on(port, None);
    let reset = b
        .collect(1, Duration::from_secs(10), |f| f.event == "reset")
        .await;
    assert_eq!(reset[0].data["data"]["reason"], "failover");
    // A client resuming across the switch with a local id gets `reset`,
    // not a silent gap.
    let mut late = sse(base, &q, Some(&local_id)).await;
    let first = late.next(Duration::from_secs(3)).await.unwrap();
    assert_eq!(first.event, "reset", "{first:#?}");
    // And a change now goes through the (new) stream.
    import(base, "after-redis-is-back").await;
    let added = b.collect(1, Duration::from_secs(8), is("iso.added")).await;
    assert_eq!(added[0].data["data"]["name"], "after-redis-is-back");
    let id = added[0].id.clone().unwrap();
    let mut again = sse(base, &q, Some(&reset[0].id.clone().unwrap())).await;
    let replay = again
        .collect(1, Duration::from_secs(3), is("iso.added"))
        .await;
    assert_eq!(
        replay[0].id.as_deref(),
        Some(id.as_str()),
        "resumed from the stream"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_both_replicas_see_is_one_status_event_and_so_is_the_recovery() {
    let redis = RedisServer::start();
    let (hook, _received) = receiver().await;
    let (config, entries) = config_polled(&redis.url(), hook, "iso.*", 0);
    let sims = Embedded::start(&config.simulators, &entries).await.unwrap();
    let replicas = [
        replica(&config, &entries, &sims),
        replica(&config, &entries, &sims),
    ];
    let mut s = sse(&replicas[1].base, "?types=provider.status", None).await;
    let poll = |r: usize| {
        let state = replicas[r].state.clone();
        async move {
            let handle = state.provider("hostkey").unwrap().clone();
            isogate::feed::poll_once(&state, &handle).await;
        }
    };
    // Healthy: no news, from either.
    poll(0).await;
    poll(1).await;
    let sim = sims
        .servers()
        .iter()
        .find(|x| x.name() == "action")
        .unwrap();
    sim.control().set_faults(isogate_sim::Faults {
        error_rate: 1.0,
        error_status: 500,
        ..Default::default()
    });
    // Both replicas see the outage (each lists and fails on its own).
    poll(0).await;
    poll(1).await;
    sim.control().heal();
    poll(1).await;
    poll(0).await;
    let mut got = Vec::new();
    while let Some(f) = s.next(Duration::from_millis(1500)).await {
        if f.event == "provider.status" {
            got.push((
                f.data["data"]["status"].as_str().unwrap().to_owned(),
                f.data["data"]["previous"].as_str().unwrap_or("").to_owned(),
            ));
        }
    }
    assert_eq!(
        got,
        [
            ("stale".to_owned(), "ok".to_owned()),
            ("ok".to_owned(), "stale".to_owned())
        ],
        "one event per change of the deployment's status, not one per replica"
    );
}
