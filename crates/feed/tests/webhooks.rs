//! Webhook delivery to a loopback receiver: Standard Webhooks signatures
//! checked by an independent implementation, retries through an outage in
//! order, dead letters after the window, the URL guard, the config.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use isogate_core::{Iso, ItemKind, ProviderKind};
use isogate_feed::{
    AllowHosts, EndpointStatus, EventData, EventDraft, EventLog, EventType, LogOptions,
    WebhookConfig, WebhookDispatcher,
};
use isogate_testkit::webhooks::verify;
use secrecy::SecretString;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

#[derive(Clone, Debug)]
struct Got {
    headers: HeaderMap,
    body: Bytes,
}

#[derive(Clone, Default)]
struct Receiver {
    /// What to answer (200, or e.g. 503 to simulate an outage).
    answer: Arc<AtomicU16>,
    /// Requests whose signature verified and that were answered 2xx.
    accepted: Arc<Mutex<Vec<Got>>>,
    /// Every request seen.
    attempts: Arc<Mutex<Vec<String>>>,
}

async fn hook(State(r): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let id = headers
        .get("webhook-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    r.attempts.lock().unwrap().push(id);
    if verify(SECRET, &headers, &body).is_err() {
        return StatusCode::UNAUTHORIZED;
    }
    let answer = StatusCode::from_u16(r.answer.load(Ordering::SeqCst)).unwrap();
    if answer.is_success() {
        r.accepted.lock().unwrap().push(Got { headers, body });
    }
    answer
}

/// Serves `r` on `addr` until the returned sender is dropped or fired.
async fn serve(r: Receiver, addr: SocketAddr) -> (SocketAddr, tokio::sync::oneshot::Sender<()>) {
    let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new()
        .route("/hooks/secret-token", axum::routing::post(hook))
        .with_state(r);
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = rx.await;
            })
            .await
            .unwrap();
    });
    (addr, tx)
}

fn receiver(answer: u16) -> Receiver {
    let r = Receiver::default();
    r.answer.store(answer, Ordering::SeqCst);
    r
}

fn config(addr: SocketAddr) -> WebhookConfig {
    let mut c = WebhookConfig::new(
        &format!("http://{addr}/hooks/secret-token"),
        SecretString::from(SECRET),
    );
    c.timeout_ms = 500;
    c.backoff_initial_ms = 40;
    c.backoff_max_ms = 200;
    c.retry_window_ms = 10_000;
    c
}

fn loopback() -> Arc<AllowHosts> {
    Arc::new(AllowHosts(vec!["127.0.0.1".into()]))
}

fn added(provider: &str, n: usize) -> EventDraft {
    let i = Iso::new(
        provider,
        ProviderKind::Vss,
        ItemKind::Iso,
        &format!("n{n}"),
        "x",
    );
    EventDraft {
        ty: EventType::IsoAdded,
        provider: Some(provider.into()),
        subject: Some(i.id.clone()),
        data: EventData::Item(Box::new(i)),
    }
}

async fn until(what: &str, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(
            start.elapsed() < Duration::from_secs(8),
            "timed out waiting: {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn accepted_ids(r: &Receiver) -> Vec<String> {
    r.accepted
        .lock()
        .unwrap()
        .iter()
        .map(|g| g.headers["webhook-id"].to_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn deliveries_verify_independently_and_a_tampered_body_is_rejected() {
    let r = receiver(200);
    let (addr, _stop) = serve(r.clone(), "127.0.0.1:0".parse().unwrap()).await;
    let log = EventLog::new(LogOptions::default());
    let mut only_a = config(addr);
    only_a.providers = vec!["a".into()];
    only_a.types = vec!["iso.*".into()];
    let d = WebhookDispatcher::start(&log, &[only_a], loopback())
        .await
        .unwrap();
    let mut want = Vec::new();
    for n in 0..3 {
        want.push(log.append(added("a", n)).id().to_string());
        log.append(added("b", n)); // another provider's: never sent
    }
    until("3 deliveries", || r.accepted.lock().unwrap().len() == 3).await;
    assert_eq!(accepted_ids(&r), want);
    let got = r.accepted.lock().unwrap()[0].clone();
    assert_eq!(
        got.headers["content-type"],
        "application/cloudevents+json; charset=utf-8"
    );
    let ev: serde_json::Value = serde_json::from_slice(&got.body).unwrap();
    assert_eq!(ev["id"], want[0], "webhook-id is the event id");
    assert_eq!(ev["source"], "/providers/a");
    assert!(verify(SECRET, &got.headers, &got.body).is_ok());

    // Tampered: one byte of the body, or another secret.
    let mut tampered = got.body.to_vec();
    let at = tampered.iter().position(|&b| b == b'a').unwrap();
    tampered[at] = b'b';
    assert!(verify(SECRET, &got.headers, &tampered).is_err());
    assert!(verify("whsec_dGhlIHdyb25nIGtleQ==", &got.headers, &got.body).is_err());
    // ... and the receiver refuses the tampered request on the wire.
    let mut req = reqwest::Client::new().post(format!("http://{addr}/hooks/secret-token"));
    for (k, v) in &got.headers {
        if k.as_str().starts_with("webhook-") {
            req = req.header(k.as_str(), v.to_str().unwrap());
        }
    }
    let resp = req.body(tampered).send().await.unwrap();
    assert_eq!(resp.status(), 401);

    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        r.accepted.lock().unwrap().len(),
        3,
        "b's events never went out"
    );
    until("3 delivered", || d.status()[0].delivered == 3).await;
    let st = &d.status()[0];
    assert_eq!((st.delivered, st.dead_lettered, st.queued), (3, 0, 0));
    assert_eq!(st.last_delivered.as_deref(), Some(want[2].as_str()));
}

#[tokio::test]
async fn a_receiver_down_for_a_while_gets_every_event_in_order_after_it_returns() {
    // Phase 1: nothing listens on the port. Phase 2: it answers 503. Phase 3: 200.
    let port_probe = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = port_probe.local_addr().unwrap();
    drop(port_probe);
    let log = EventLog::new(LogOptions::default());
    let d = WebhookDispatcher::start(&log, &[config(addr)], loopback())
        .await
        .unwrap();
    let mut want: Vec<String> = Vec::new();
    for n in 0..5 {
        want.push(log.append(added("a", n)).id().to_string());
    }
    until("a refused connection", || {
        d.status()[0].failed_attempts >= 2
    })
    .await;
    assert_eq!(
        d.status()[0].last_error.as_deref(),
        Some("connection failed")
    );
    let r = receiver(503);
    let (_, stop) = serve(r.clone(), addr).await;
    for n in 5..10 {
        want.push(log.append(added("a", n)).id().to_string());
    }
    until("503s", || r.attempts.lock().unwrap().len() >= 3).await;
    assert_eq!(d.status()[0].last_error.as_deref(), Some("HTTP 503"));
    assert!(r.accepted.lock().unwrap().is_empty());
    r.answer.store(200, Ordering::SeqCst);
    until("all 10", || r.accepted.lock().unwrap().len() == 10).await;
    assert_eq!(
        accepted_ids(&r),
        want,
        "every event, in order, once accepted"
    );
    // While it was down only the head event was tried: one in flight, in order.
    let attempts = r.attempts.lock().unwrap().clone();
    let mut firsts: Vec<String> = Vec::new();
    for a in &attempts {
        if !firsts.contains(a) {
            firsts.push(a.clone());
        }
    }
    assert_eq!(firsts, want, "first attempts follow the log order");
    // The receiver records before it answers: wait for the answers to land.
    until("10 delivered", || d.status()[0].delivered == 10).await;
    let st: EndpointStatus = d.status()[0].clone();
    assert_eq!(st.dead_lettered, 0);
    assert!(st.failed_attempts >= 5);
    drop(stop);
}

#[tokio::test]
async fn events_are_dead_lettered_after_the_window_and_later_ones_still_go() {
    let r = receiver(503);
    let (addr, _stop) = serve(r.clone(), "127.0.0.1:0".parse().unwrap()).await;
    let log = EventLog::new(LogOptions::default());
    let mut c = config(addr);
    c.retry_window_ms = 300;
    let d = WebhookDispatcher::start(&log, &[c], loopback())
        .await
        .unwrap();
    let first = log.append(added("a", 0)).id().to_string();
    let second = log.append(added("a", 1)).id().to_string();
    let started = Instant::now();
    until("two dead letters", || d.status()[0].dead_lettered == 2).await;
    // Given up when the next attempt would start past the window: at the
    // latest one maximal backoff (200 ms) before its end.
    assert!(
        started.elapsed() >= Duration::from_millis(100),
        "retried over the window"
    );
    assert!(started.elapsed() < Duration::from_secs(3));
    let attempts = r.attempts.lock().unwrap().clone();
    assert!(
        attempts.iter().filter(|a| **a == first).count() >= 2,
        "retried: {attempts:?}"
    );
    assert!(attempts.contains(&second));
    let st = d.status()[0].clone();
    assert_eq!(st.last_dead_lettered.as_deref(), Some(second.as_str()));
    assert_eq!(st.last_error.as_deref(), Some("HTTP 503"));
    assert_eq!(st.queued, 0);
    // The status shows neither the secret nor the URL's path (often a token).
    let shown = serde_json::to_string(&d.status()).unwrap();
    assert!(!shown.contains("whsec") && !shown.contains("MfKQ9r8"));
    assert!(!shown.contains("secret-token"), "{shown}");
    assert_eq!(st.url, format!("http://{addr}/…"));

    r.answer.store(200, Ordering::SeqCst);
    let third = log.append(added("a", 2)).id().to_string();
    until("the next event", || accepted_ids(&r) == vec![third.clone()]).await;
}

#[tokio::test]
async fn the_url_guard_and_the_config_are_checked_at_start() {
    let log = EventLog::new(LogOptions::default());
    let addr: SocketAddr = "127.0.0.1:9".parse().unwrap();
    let e = WebhookDispatcher::start(&log, &[config(addr)], Arc::new(AllowHosts(vec![])))
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("webhooks[0]: url refused"), "{e}");
    assert!(!e.contains("secret-token") && !e.contains("whsec"), "{e}");

    let mut bad_types = config(addr);
    bad_types.types = vec!["iso.exploded".into()];
    let mut bad_filter = config(addr);
    bad_filter.filter = Some("size_bytes,gt,big".into());
    let mut no_secret = config(addr);
    no_secret.secret = None;
    let mut ftp = config(addr);
    ftp.url = "ftp://127.0.0.1/x".into();
    for (c, want) in [
        (bad_types, "unknown event type"),
        (bad_filter, "filter"),
        (no_secret, "needs a secret"),
        (ftp, "not http or https"),
    ] {
        let e = WebhookDispatcher::start(&log, &[c], loopback())
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains(want), "{e}");
    }
}

#[tokio::test]
async fn webhooks_are_read_from_toml_with_a_secret_file() {
    let dir = std::env::temp_dir().join(format!("isogate-feed-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("hook.secret");
    std::fs::write(&file, format!("{SECRET}\n")).unwrap();
    let text = format!(
        r#"
[[webhooks]]
url = "http://127.0.0.1:1/hooks/secret-token"
secret_file = "{}"
types = ["iso.added", "io.isogate.provider.status"]
filter = "kind,eq,iso"
providers = ["a"]
retry_window_ms = 1000

[[webhooks]]
url = "https://inventory.example.com/hook"
secret = "plain"
"#,
        file.display()
    );
    #[derive(serde::Deserialize)]
    struct Top {
        webhooks: Vec<WebhookConfig>,
    }
    let top: Top = toml::from_str(&text).unwrap();
    assert_eq!(top.webhooks.len(), 2);
    let w = &top.webhooks[0];
    assert_eq!(w.retry_window_ms, 1000);
    assert_eq!(w.backoff_initial_ms, 1000, "defaults apply");
    assert!(w.signing_key().is_ok());
    assert!(w.selector().is_ok());
    assert!(top.webhooks[1].signing_key().is_ok());
    // The secret never shows in Debug.
    assert!(!format!("{:?}", top.webhooks[1]).contains("plain"));
    let unknown: Result<Top, _> =
        toml::from_str("[[webhooks]]\nurl = \"http://x\"\nsecrt = \"s\"\n");
    assert!(unknown.is_err(), "unknown keys are refused");
    std::fs::remove_dir_all(&dir).unwrap();
}
