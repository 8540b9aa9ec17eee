//! SSE framing, heartbeats, slow clients, connection limits, and a thin
//! axum handler over real loopback HTTP.

use std::convert::Infallible;
use std::pin::pin;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Query as AxQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures::{Stream, StreamExt};
use isogate_core::{Iso, ItemKind, ProviderKind};
use isogate_feed::sse::{self, CONTENT_TYPE};
use isogate_feed::{
    ConnectionLimiter, EventData, EventDraft, EventId, EventLog, EventType, LogOptions, Selector,
    SseOptions, resume_point, sse_stream,
};

fn added(n: usize) -> EventDraft {
    let i = Iso::new(
        "p",
        ProviderKind::Cox,
        ItemKind::Image,
        &format!("n{n}"),
        "x",
    );
    EventDraft {
        ty: EventType::IsoAdded,
        provider: Some("p".into()),
        subject: Some(i.id.clone()),
        data: EventData::Item(Box::new(i)),
    }
}

async fn take(s: &mut (impl Stream<Item = Bytes> + Unpin)) -> String {
    let b = tokio::time::timeout(Duration::from_secs(5), s.next())
        .await
        .expect("a frame within 5 s")
        .expect("the stream goes on");
    String::from_utf8(b.to_vec()).unwrap()
}

fn opts(heartbeat_ms: u64, max_buffered: usize) -> SseOptions {
    SseOptions {
        heartbeat: Duration::from_millis(heartbeat_ms),
        max_buffered,
        retry: Some(Duration::from_millis(1500)),
    }
}

#[tokio::test]
async fn frames_carry_id_event_and_one_line_of_json_then_a_blank_line() {
    let log = EventLog::new(LogOptions::default());
    let sub = log.subscribe_from(None, Selector::all());
    let mut s = pin!(sse_stream(sub, opts(60_000, 16)));
    assert_eq!(take(&mut s).await, "retry: 1500\n: connected\n\n");
    let rec = log.append(added(1));
    let f = take(&mut s).await;
    let lines: Vec<&str> = f.split('\n').collect();
    assert_eq!(lines.len(), 5, "{f:?}");
    assert_eq!(lines[0], format!("id: {}", rec.id()));
    assert_eq!(lines[1], "event: iso.added");
    let json = lines[2].strip_prefix("data: ").unwrap();
    let v: serde_json::Value = serde_json::from_str(json).unwrap();
    assert_eq!(v["type"], "io.isogate.iso.added");
    assert_eq!(v["id"], rec.id().to_string());
    assert_eq!(&lines[3..], ["", ""]);
    assert_eq!(Bytes::from(f), sse::frame(&rec));
}

#[tokio::test]
async fn idle_streams_get_heartbeat_comments_and_events_still_flow() {
    let log = EventLog::new(LogOptions::default());
    let sub = log.subscribe_from(None, Selector::all());
    let mut s = pin!(sse_stream(sub, opts(50, 16)));
    take(&mut s).await;
    let started = std::time::Instant::now();
    assert_eq!(take(&mut s).await, ": keep-alive\n\n");
    assert_eq!(take(&mut s).await, ": keep-alive\n\n");
    assert!(started.elapsed() >= Duration::from_millis(90));
    log.append(added(1));
    assert!(take(&mut s).await.contains("event: iso.added"));
}

#[tokio::test]
async fn a_slow_client_is_dropped_with_a_final_event_and_can_resume() {
    let log = EventLog::new(LogOptions {
        history: 1000,
        live: 1000,
    });
    let sub = log.subscribe_from(None, Selector::all());
    let mut s = pin!(sse_stream(sub, opts(60_000, 8)));
    take(&mut s).await;
    let first = log.append(added(0));
    assert!(
        take(&mut s)
            .await
            .starts_with(&format!("id: {}\n", first.id()))
    );
    // The client stops reading while 20 events arrive.
    for n in 1..=20 {
        log.append(added(n));
    }
    let last = take(&mut s).await;
    assert!(last.starts_with("event: dropped\ndata: "), "{last:?}");
    assert!(
        !last.contains("\nid:") && !last.starts_with("id:"),
        "no id: the client's last id stays"
    );
    let data: serde_json::Value = serde_json::from_str(
        last.trim_end()
            .strip_prefix("event: dropped\ndata: ")
            .unwrap(),
    )
    .unwrap();
    assert_eq!(data["last_event_id"], first.id().to_string());
    assert!(
        tokio::time::timeout(Duration::from_secs(1), s.next())
            .await
            .unwrap()
            .is_none(),
        "the stream ends"
    );
    assert_eq!(log.subscribers(), 0, "its subscription is released");
    // It reconnects with the id it had and gets exactly the rest.
    let id: EventId = data["last_event_id"].as_str().unwrap().parse().unwrap();
    let mut again = log.subscribe_from(Some(id), Selector::all());
    for _ in 1..=20 {
        let r = again.recv().await.unwrap();
        assert_eq!(r.ty(), EventType::IsoAdded);
    }
}

#[test]
fn the_resume_point_prefers_the_header_and_rejects_garbage() {
    assert_eq!(resume_point(None, None), Ok(None));
    assert_eq!(resume_point(Some(""), Some(" ")), Ok(None));
    assert_eq!(
        resume_point(None, Some("5-1")),
        Ok(Some(EventId::new(5, 1)))
    );
    assert_eq!(
        resume_point(Some("7-0"), Some("5-1")),
        Ok(Some(EventId::new(7, 0)))
    );
    assert!(resume_point(Some("yesterday"), None).is_err());
}

#[test]
fn connections_are_limited_per_key_and_released_on_drop() {
    let lim = ConnectionLimiter::new(2);
    let a1 = lim.try_acquire("a").unwrap();
    let _a2 = lim.try_acquire("a").unwrap();
    assert!(lim.try_acquire("a").is_none());
    let _b = lim.try_acquire("b").expect("other keys are counted apart");
    drop(a1);
    assert_eq!(lim.open("a"), 1);
    assert!(lim.try_acquire("a").is_some());
}

#[derive(Clone)]
struct App {
    log: EventLog,
    limiter: ConnectionLimiter,
}

/// What the gateway's `GET /v1/events` will look like (minus auth).
async fn events(
    State(app): State<App>,
    headers: HeaderMap,
    AxQuery(q): AxQuery<Vec<(String, String)>>,
) -> Response {
    let since = q
        .iter()
        .find(|(k, _)| k == "since")
        .map(|(_, v)| v.as_str());
    let header = headers.get("last-event-id").and_then(|v| v.to_str().ok());
    let Ok(from) = resume_point(header, since) else {
        return (StatusCode::BAD_REQUEST, "bad Last-Event-ID").into_response();
    };
    let Some(permit) = app.limiter.try_acquire("key") else {
        return StatusCode::TOO_MANY_REQUESTS.into_response();
    };
    let sub = app.log.subscribe_from(from, Selector::all());
    let body = sse_stream(sub, SseOptions::default()).map(move |b| {
        let _held = &permit;
        Ok::<_, Infallible>(b)
    });
    (
        [
            (header::CONTENT_TYPE, CONTENT_TYPE),
            (header::CACHE_CONTROL, "no-store"),
        ],
        Body::from_stream(body),
    )
        .into_response()
}

#[tokio::test]
async fn a_thin_axum_handler_serves_the_stream_with_last_event_id_over_http() {
    let log = EventLog::new(LogOptions::default());
    let ids: Vec<EventId> = (0..3).map(|n| log.append(added(n)).id()).collect();
    let app = App {
        log: log.clone(),
        limiter: ConnectionLimiter::new(1),
    };
    let router = axum::Router::new()
        .route("/v1/events", axum::routing::get(events))
        .with_state(app.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let url = format!("http://{addr}/v1/events");
    let client = reqwest::Client::new();
    let resp = client
        .get(format!("{url}?since=1-0"))
        .header("last-event-id", ids[0].to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], CONTENT_TYPE);
    let second = client.get(&url).send().await.unwrap();
    assert_eq!(second.status(), 429, "one stream per key here");
    let mut body = resp.bytes_stream();
    let mut text = String::new();
    while text.matches("event: iso.added").count() < 2 {
        let chunk = tokio::time::timeout(Duration::from_secs(5), body.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        text.push_str(std::str::from_utf8(&chunk).unwrap());
    }
    assert!(
        !text.contains(&format!("id: {}\n", ids[0])),
        "the header's id is not repeated"
    );
    assert!(text.contains(&format!("id: {}\n", ids[1])));
    assert!(text.contains(&format!("id: {}\n", ids[2])));
    assert!(
        !text.contains("event: reset"),
        "the header wins over ?since="
    );
    drop(body);
    // The permit goes with the body.
    for _ in 0..50 {
        if app.limiter.open("key") == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(app.limiter.open("key"), 0);
}
