//! The change feed through the gateway, over real loopback HTTP: a write on
//! the demo's coxedge-prod (CloudMC v2 simulator) becomes exactly its events
//! within the poll interval, on SSE and on a signed webhook; resumption;
//! `reset`; a key's provider allow-list; the per-key stream limit.

#[path = "support/feed.rs"]
mod feed;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::HeaderMap;
use bytes::Bytes;
use feed::{Frame, Sse, WH_SECRET, verify};
use isogate::config::{Config, EMBEDDED_DEFAULT};
use isogate::{AppState, Embedded, app, build_state};
use isogate_core::{Iso, ItemKind, ProviderKind};
use serde_json::Value;
use sha2::{Digest, Sha256};

const ADMIN: &str = "feed-admin-key-0123456789";
const READER: &str = "feed-reader-key-0123456789";
const NARROW: &str = "feed-narrow-key-0123456789";

fn key(name: &str, secret: &str, scopes: &str, providers: &str) -> String {
    format!(
        "\n[[auth.keys]]\nname = \"{name}\"\nsha256 = \"{}\"\nscopes = [{scopes}]\nproviders = [{providers}]\n",
        hex::encode(Sha256::digest(secret.as_bytes()))
    )
}

struct Gw {
    addr: SocketAddr,
    state: AppState,
    _sims: Embedded,
    _stop: tokio::sync::oneshot::Sender<()>,
}

/// The demo with three keys and `extra` appended, served on loopback.
async fn gateway(extra: &str) -> Gw {
    gateway_over(EMBEDDED_DEFAULT, extra).await
}

async fn gateway_over(base: &str, extra: &str) -> Gw {
    let mut toml = base.to_owned();
    toml.push_str(&key(
        "admin",
        ADMIN,
        "\"read\", \"write\", \"admin\"",
        "\"*\"",
    ));
    toml.push_str(&key("reader", READER, "\"read\"", "\"*\""));
    toml.push_str(&key("narrow", NARROW, "\"read\"", "\"coxedge-prod\""));
    toml.push_str(extra);
    let (config, entries) = Config::from_toml(&toml).expect("config");
    let sims = Embedded::start(&config.simulators, &entries).await.unwrap();
    let state = build_state(config, &entries, &sims).unwrap();
    state.set_ready();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(isogate::serve(listener, app(state.clone()), async move {
        let _ = stopped.await;
    }));
    Gw {
        addr,
        state,
        _sims: sims,
        _stop: stop,
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

impl Gw {
    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    async fn open(&self, key: &str, query: &str, last_id: Option<&str>) -> reqwest::Response {
        let mut req = client()
            .get(self.url(&format!("/v1/events{query}")))
            .bearer_auth(key);
        if let Some(id) = last_id {
            req = req.header("last-event-id", id);
        }
        req.send().await.unwrap()
    }

    async fn stream(&self, key: &str, query: &str, last_id: Option<&str>) -> Sse {
        let resp = self.open(key, query, last_id).await;
        assert_eq!(resp.status(), 200, "{:?}", resp.text().await);
        Sse::new(resp)
    }
}

type Received = Arc<Mutex<Vec<Value>>>;

/// A webhook receiver on loopback: keeps the events whose signature verifies.
async fn receiver() -> (SocketAddr, Received, tokio::sync::oneshot::Sender<()>) {
    let got: Received = Arc::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new()
        .route(
            "/hooks/token",
            axum::routing::post(
                |axum::extract::State(got): axum::extract::State<Received>,
                 headers: HeaderMap,
                 body: Bytes| async move {
                    if verify(&headers, &body).is_err() {
                        return axum::http::StatusCode::UNAUTHORIZED;
                    }
                    got.lock()
                        .unwrap()
                        .push(serde_json::from_slice(&body).unwrap());
                    axum::http::StatusCode::NO_CONTENT
                },
            ),
        )
        .with_state(got.clone());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = rx.await;
            })
            .await
            .unwrap();
    });
    (addr, got, tx)
}

fn types(frames: &[Frame]) -> Vec<&str> {
    frames.iter().map(|f| f.event.as_str()).collect()
}

#[tokio::test]
async fn a_write_through_the_gateway_becomes_exactly_its_events_on_sse_and_webhooks() {
    let (hook_addr, received, _hook) = receiver().await;
    let gw = gateway(&format!(
        "\n[feed]\ndefault_poll_interval_s = 1\nheartbeat_s = 1\nwebhook_host_allow = [\"127.0.0.1\"]\n\
         [[webhooks]]\nname = \"inventory\"\nurl = \"http://{hook_addr}/hooks/token\"\nsecret = \"{WH_SECRET}\"\n\
         types = [\"iso.*\"]\nproviders = [\"coxedge-prod\"]\nbackoff_initial_ms = 50\n"
    ))
    .await;
    // Streams first, then the pollers: the streams see every first snapshot.
    let mut mine = gw
        .stream(ADMIN, "?provider=coxedge-prod&types=iso.*", None)
        .await;
    let mut narrow = gw.stream(NARROW, "", None).await;
    isogate::feed::start(&gw.state).await.unwrap();
    // The narrow key's first events: coxedge-prod's baseline, nothing else.
    let first = narrow
        .until(Duration::from_secs(5), |f| f.event == "provider.synced")
        .await;
    assert_eq!(
        first.last().unwrap().data["data"]["provider"],
        "coxedge-prod"
    );

    // An import through the gateway.
    let http = client();
    let listing: Value = http
        .get(gw.url("/v1/providers/coxedge-prod/isos?per_page=1"))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let zone = listing["data"][0]["zones"][0]["id"].clone();
    let body = serde_json::json!({"name": "feed-test", "url": "http://mirror.example.org/feed.iso", "zone_id": zone});
    let resp = http
        .post(gw.url("/v1/providers/coxedge-prod/isos"))
        .bearer_auth(ADMIN)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(resp.status() == 201 || resp.status() == 202, "{resp:?}");
    let imported = Instant::now();
    let added = mine
        .until(Duration::from_secs(4), |f| f.event == "iso.added")
        .await;
    assert_eq!(types(&added), ["iso.added"], "{added:#?}");
    assert!(
        imported.elapsed() < Duration::from_millis(2500),
        "within the poll interval (1 s ± 10 %) and one listing: {:?}",
        imported.elapsed()
    );
    let item = &added[0].data["data"];
    assert_eq!(item["name"], "feed-test");
    assert_eq!(item["provider"], "coxedge-prod");
    let id = item["id"].as_str().unwrap().to_owned();
    assert_eq!(added[0].data["subject"], id);
    assert_eq!(added[0].data["source"], "/providers/coxedge-prod");
    assert_eq!(added[0].data["specversion"], "1.0");

    // Its delete through the gateway.
    let native = item["native_id"].as_str().unwrap();
    let resp = http
        .delete(gw.url(&format!("/v1/providers/coxedge-prod/isos/{native}")))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "{resp:?}");
    let removed = mine
        .until(Duration::from_secs(4), |f| f.event == "iso.removed")
        .await;
    assert_eq!(types(&removed), ["iso.removed"], "{removed:#?}");
    assert_eq!(removed[0].data["subject"], id);
    // And nothing else: two more polls change nothing.
    let after = mine.drain(Duration::from_millis(2500)).await;
    assert!(after.is_empty(), "{after:#?}");

    // The narrow key saw the same two changes, and only coxedge-prod's events.
    let rest = narrow.drain(Duration::from_millis(500)).await;
    let seen: Vec<Frame> = first.into_iter().chain(rest).collect();
    for f in &seen {
        assert_eq!(f.data["source"], "/providers/coxedge-prod", "{f:#?}");
    }
    let iso: Vec<&str> = types(&seen)
        .into_iter()
        .filter(|t| t.starts_with("iso."))
        .collect();
    assert_eq!(iso, ["iso.added", "iso.removed"]);
    // It may not ask for another provider's events.
    let resp = gw.open(NARROW, "?provider=hostkey", None).await;
    assert_eq!(resp.status(), 403);

    // The webhook got both, signed (the receiver keeps only verified ones), in order.
    let start = Instant::now();
    while received.lock().unwrap().len() < 2 && start.elapsed() < Duration::from_secs(5) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let got: Vec<(String, String)> = received
        .lock()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["type"].as_str().unwrap().to_owned(),
                e["subject"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("io.isogate.iso.added".to_owned(), id.clone()),
            ("io.isogate.iso.removed".to_owned(), id.clone())
        ]
    );
    // The dispatcher's status, for admins only; and the metrics.
    let status: Value = http
        .get(gw.url("/v1/webhooks"))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ep = &status["data"][0];
    assert_eq!(ep["name"], "inventory");
    assert_eq!(ep["delivered"], 2);
    assert_eq!(
        ep["url"],
        format!("http://{hook_addr}/…"),
        "no path: it may be the credential"
    );
    let resp = http
        .get(gw.url("/v1/webhooks"))
        .bearer_auth(READER)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    let metrics = http
        .get(gw.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("isogate_webhook_delivered_total{webhook=\"inventory\"} 2"),
        "{metrics}"
    );
    assert!(metrics.contains("isogate_events_subscribers"), "{metrics}");
}

fn item(n: usize) -> Iso {
    Iso::new(
        "coxedge-prod",
        ProviderKind::Cloudmc,
        ItemKind::Iso,
        &format!("n{n}"),
        &format!("item {n}"),
    )
}

#[tokio::test]
async fn resuming_misses_nothing_repeats_nothing_and_an_old_id_gets_reset() {
    let gw = gateway("\n[feed]\nhistory = 6\nheartbeat_s = 1\n").await;
    let feed = gw.state.feed().clone();
    let mut items: Vec<Iso> = Vec::new();
    feed.snapshot("coxedge-prod", &items, true);
    let mut s = gw.stream(ADMIN, "?types=iso.added", None).await;
    for n in 0..3 {
        items.push(item(n));
        feed.snapshot("coxedge-prod", &items, true);
    }
    let a = s.next(Duration::from_secs(2)).await.unwrap();
    let b = s.next(Duration::from_secs(2)).await.unwrap();
    assert_eq!(a.data["data"]["name"], "item 0");
    assert_eq!(b.data["data"]["name"], "item 1");
    drop(s);
    for n in 3..5 {
        items.push(item(n));
        feed.snapshot("coxedge-prod", &items, true);
    }
    // The header, and `?since=` alike, resume after b: exactly 2, 3, 4.
    let last = b.id.clone().unwrap();
    for (query, header) in [
        ("?types=iso.added".to_owned(), Some(last.as_str())),
        (format!("?types=iso.added&since={last}"), None),
    ] {
        let mut again = gw.stream(ADMIN, &query, header).await;
        let got = again.drain(Duration::from_millis(700)).await;
        let names: Vec<&str> = got
            .iter()
            .map(|f| f.data["data"]["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["item 2", "item 3", "item 4"], "{query}");
        let ids: Vec<&str> = got.iter().map(|f| f.id.as_deref().unwrap()).collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]) && ids[0] > last.as_str());
    }
    // Push `a` out of the 6-event history: resuming from it is a reset.
    for n in 5..12 {
        items.push(item(n));
        feed.snapshot("coxedge-prod", &items, true);
    }
    let mut old = gw.stream(ADMIN, "", a.id.as_deref()).await;
    let reset = old.next(Duration::from_secs(2)).await.unwrap();
    assert_eq!(reset.event, "reset", "{reset:#?}");
    assert_eq!(reset.data["data"]["reason"], "expired");
    // An id this log never issued (another run) is a reset too.
    let mut other = gw.stream(ADMIN, "", Some("99999999999999-0")).await;
    let reset = other.next(Duration::from_secs(2)).await.unwrap();
    assert_eq!(reset.event, "reset");
    assert_eq!(reset.data["data"]["reason"], "unknown");
    // Garbage is a 400 naming the parameter.
    let resp = gw.open(ADMIN, "?since=yesterday", None).await;
    assert_eq!(resp.status(), 400);
    assert!(resp.text().await.unwrap().contains("since"));
}

#[tokio::test]
async fn streams_are_limited_per_key_uncompressed_unbuffered_and_outlive_the_request_deadline() {
    let base = EMBEDDED_DEFAULT.replace("request_timeout_ms = 30000", "request_timeout_ms = 300");
    assert_ne!(base, EMBEDDED_DEFAULT);
    let gw = gateway_over(
        &base,
        "\n[feed]\nmax_connections_per_key = 2\nheartbeat_s = 1\n",
    )
    .await;
    let first = client()
        .get(gw.url("/v1/events"))
        .bearer_auth(READER)
        .header("accept-encoding", "gzip, br")
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), 200);
    let h = first.headers();
    assert_eq!(h["content-type"], "text/event-stream");
    assert_eq!(h["cache-control"], "no-store");
    assert_eq!(h["x-accel-buffering"], "no");
    assert!(h.get("content-encoding").is_none(), "{h:?}");
    let mut first = Sse::new(first);
    let _second = gw.stream(READER, "", None).await;
    let third = gw.open(READER, "", None).await;
    assert_eq!(third.status(), 429);
    assert_eq!(third.headers()["content-type"], "application/problem+json");
    let problem: Value = third.json().await.unwrap();
    assert_eq!(problem["code"], "too_many_streams", "{problem}");
    // Another key has its own budget.
    let _admin = gw.stream(ADMIN, "", None).await;
    // Past the 300 ms deadline the stream still carries events.
    tokio::time::sleep(Duration::from_millis(800)).await;
    gw.state.feed().snapshot("coxedge-prod", &[], true);
    let f = first.next(Duration::from_secs(2)).await.unwrap();
    assert_eq!(f.event, "provider.synced");
    // A closed stream frees its slot (noticed at the next heartbeat).
    drop(first);
    let start = Instant::now();
    loop {
        let resp = gw.open(READER, "?timeout_s=1", None).await;
        if resp.status() == 200 {
            // `timeout_s` ends the stream promptly.
            let t = Instant::now();
            let body = resp.bytes().await.unwrap();
            assert!(t.elapsed() < Duration::from_secs(3));
            assert!(body.starts_with(b"retry: "));
            break;
        }
        assert_eq!(resp.status(), 429);
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "the slot was never freed"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn webhooks_to_private_hosts_need_the_webhook_allow_list() {
    let cfg = "\n[[webhooks]]\nurl = \"http://127.0.0.1:9/hooks\"\nsecret = \"s3cret\"\n";
    let gw = gateway(cfg).await;
    let e = isogate::feed::start(&gw.state)
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("webhooks[0]") && e.contains("refused"), "{e}");
    assert!(!e.contains("s3cret") && !e.contains("/hooks"), "{e}");
}

#[test]
fn feed_config_errors_name_the_key() {
    let cases = [
        ("[feed]\nhistory = 0\n", "feed.history"),
        ("[feed]\nhistroy = 5\n", "histroy"),
        (
            "[[webhooks]]\nurl = \"ftp://x.example/\"\nsecret = \"s\"\n",
            "webhooks[0].url",
        ),
        (
            "[[webhooks]]\nurl = \"https://x.example/\"\n",
            "webhooks[0].secret",
        ),
        (
            "[[webhooks]]\nurl = \"https://x.example/\"\nsecret = \"s\"\ntypes = [\"iso.exploded\"]\n",
            "webhooks[0].types",
        ),
        (
            "[providers.a]\nkind = \"vss\"\npoll_interval_s = \"often\"\n",
            "providers.a.poll_interval_s",
        ),
    ];
    for (toml, key) in cases {
        let e = Config::from_toml(toml).unwrap_err().to_string();
        assert!(e.contains(key), "{toml}: {e}");
    }
    let (_, entries) =
        Config::from_toml("[providers.a]\nkind = \"vss\"\npoll_interval_s = 0\n").unwrap();
    assert_eq!(entries[0].poll_interval_s, Some(0));
    assert!(!entries[0].settings.contains_key("poll_interval_s"));
}

#[tokio::test]
async fn a_poll_reports_the_providers_status_only_when_it_changes() {
    let gw = gateway("\n[feed]\nheartbeat_s = 1\n").await;
    let mut s = gw.stream(ADMIN, "?types=provider.status", None).await;
    let handle = gw.state.provider("hostkey").unwrap().clone();
    // A healthy provider at start is no news; nor is the same status again.
    isogate::feed::poll_once(&gw.state, &handle).await;
    isogate::feed::poll_once(&gw.state, &handle).await;
    assert!(s.next(Duration::from_millis(300)).await.is_none());
    let sim = gw
        ._sims
        .servers()
        .iter()
        .find(|x| x.name() == "action")
        .unwrap();
    sim.control().set_faults(isogate_sim::Faults {
        error_rate: 1.0,
        error_status: 500,
        ..Default::default()
    });
    isogate::feed::poll_once(&gw.state, &handle).await;
    sim.control().heal();
    let bad = s.next(Duration::from_secs(2)).await.unwrap();
    let d = &bad.data["data"];
    assert_eq!(d["status"], "stale", "a snapshot is still served: {bad:#?}");
    assert_eq!(bad.data["source"], "/providers/hostkey");
    assert_eq!(d["previous"], "ok");
    assert!(d["error"].is_string(), "{bad:#?}");
    isogate::feed::poll_once(&gw.state, &handle).await;
    let back = s.next(Duration::from_secs(2)).await.unwrap();
    assert_eq!(back.data["data"]["status"], "ok");
    assert_eq!(back.data["data"]["previous"], "stale");
}

#[test]
fn the_document_describes_the_stream_and_its_events() {
    let doc = serde_json::to_value(isogate::openapi::document()).unwrap();
    let op = &doc["paths"]["/v1/events"]["get"];
    let ok = &op["responses"]["200"]["content"]["text/event-stream"]["schema"];
    assert_eq!(ok["$ref"], "#/components/schemas/Event", "{op:#}");
    let names: Vec<&str> = op["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    for n in [
        "since",
        "filter",
        "provider",
        "kind",
        "types",
        "timeout_s",
        "Last-Event-ID",
    ] {
        assert!(names.contains(&n), "{n} missing: {names:?}");
    }
    assert!(op["responses"]["429"].is_object());
    let schemas = &doc["components"]["schemas"];
    for s in [
        "Event",
        "EventData",
        "ChangeData",
        "StatusData",
        "ResetData",
        "EndpointStatus",
    ] {
        assert!(schemas[s].is_object(), "{s} missing");
    }
    assert!(doc["paths"]["/v1/webhooks"]["get"].is_object());
}
