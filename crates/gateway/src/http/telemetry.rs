//! Metrics recorder, request ids, and per-request metrics and logs.

use std::cell::RefCell;
use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::OnceLock;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue, Method, header};
use axum::response::Response;
use chrono::Utc;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tower::{Layer, Service};

use crate::http::error::ProblemBody;
use crate::http::logformat::LineFormat;
use crate::http::logsink::LogSink;

static RECORDER: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the Prometheus recorder once per process (idempotent, so route
/// tests can build many apps).
pub fn init_metrics() {
    RECORDER.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets(&[
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ])
            .ok()?
            .build_recorder();
        let handle = recorder.handle();
        metrics::set_global_recorder(recorder).ok()?;
        Some(handle)
    });
}

/// The Prometheus text of every metric.
pub fn render_metrics() -> String {
    RECORDER
        .get()
        .and_then(|h| h.as_ref())
        .map(PrometheusHandle::render)
        .unwrap_or_default()
}

/// A constant: a name given as text is parsed on every use.
const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Adds [`Observe`] around a service: request id in and out, metrics by
/// route and status, one log line per request; problem bodies get the
/// request id stamped in. A concrete layer (no boxed `Next` per request, as
/// `middleware::from_fn` would build).
#[derive(Clone, Copy, Debug, Default)]
pub struct ObserveLayer;

impl<S> Layer<S> for ObserveLayer {
    type Service = Observe<S>;
    fn layer(&self, inner: S) -> Observe<S> {
        Observe { inner }
    }
}

/// See [`ObserveLayer`].
#[derive(Clone, Debug)]
pub struct Observe<S> {
    inner: S,
}

impl<S> Service<Request> for Observe<S>
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Observed<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        let started = Instant::now();
        let id = request_id(req.headers());
        let route = req.extensions().get::<MatchedPath>().cloned();
        let method = method_label(req.method());
        Observed {
            inner: self.inner.call(req),
            started,
            id,
            route,
            method,
        }
    }
}

pin_project_lite::pin_project! {
    /// The answer of an observed request, recorded when it is ready.
    pub struct Observed<F> {
        #[pin]
        inner: F,
        started: Instant,
        id: String,
        route: Option<MatchedPath>,
        method: &'static str,
    }
}

impl<F> Future for Observed<F>
where
    F: Future<Output = Result<Response, Infallible>>,
{
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let Ok(mut resp) = std::task::ready!(this.inner.poll(cx));
        stamp_request_id(&mut resp, this.id);
        let route = this.route.as_ref().map_or("unmatched", MatchedPath::as_str);
        finish(route, this.method, this.id, *this.started, &mut resp);
        Poll::Ready(Ok(resp))
    }
}

/// The request's id: `X-Request-Id` when it is sane (printable ASCII, at
/// most 64 bytes, so it is safe in a log line as is), else a new one.
pub(crate) fn request_id(headers: &axum::http::HeaderMap) -> String {
    headers
        .get(&X_REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 64 && v.bytes().all(|b| b.is_ascii_graphic()))
        .map_or_else(new_request_id, str::to_owned)
}

/// Records the answered request: metrics, the log line, `X-Request-Id`.
pub(crate) fn finish(
    route: &str,
    method: &'static str,
    id: &str,
    started: Instant,
    resp: &mut Response,
) {
    let status = resp.status().as_u16();
    let elapsed = started.elapsed();
    record(route, method, status, elapsed.as_secs_f64());
    log_request(id, method, route, status, elapsed);
    if let Ok(v) = HeaderValue::from_str(id) {
        resp.headers_mut().insert(X_REQUEST_ID, v);
    }
}

/// The request line. With the text format, written straight to the sink in
/// the same shape `LineFormat` gives it (the fields are known to need no
/// escaping), which skips tracing's field visitors: half the line's cost.
fn log_request(id: &str, method: &'static str, route: &str, status: u16, elapsed: Duration) {
    if DIRECT_TEXT.get().is_some() && tracing::enabled!(tracing::Level::INFO) {
        thread_local! {
            static LINE: RefCell<String> = const { RefCell::new(String::new()) };
        }
        LINE.with_borrow_mut(|line| {
            line.clear();
            crate::http::logformat::request_line(
                line,
                Utc::now(),
                id,
                method,
                route,
                status,
                elapsed,
            );
            LogSink::stdout().append(line.as_bytes());
        });
        return;
    }
    tracing::info!(request_id = %id, method, route, status, elapsed_ms = elapsed.as_secs_f64() * 1000.0, "request");
}

/// Set when the process logs text to the stdout sink.
static DIRECT_TEXT: OnceLock<()> = OnceLock::new();

/// 128 random bits as 32 lowercase hex digits.
fn new_request_id() -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut id = [0u8; 32];
    for (pair, b) in id.chunks_exact_mut(2).zip(rand::random::<[u8; 16]>()) {
        pair[0] = HEX[usize::from(b >> 4)];
        pair[1] = HEX[usize::from(b & 0xf)];
    }
    // Hex digits are ASCII.
    String::from_utf8_lossy(&id).into_owned()
}

/// The method as a metric label: the standard ones by name, any other
/// `other`, so a client inventing methods cannot grow the label set.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// One route's registered metric handles.
struct RouteMetrics {
    seconds: metrics::Histogram,
    requests: Vec<(&'static str, u16, metrics::Counter)>,
}

thread_local! {
    // Handles are registered once per (route, method, status) and thread:
    // registering builds and hashes a labelled key under the registry's
    // lock, which per request cost more than the rest of a cached answer.
    static HANDLES: RefCell<HashMap<Box<str>, RouteMetrics, foldhash::fast::RandomState>> =
        RefCell::new(HashMap::default());
}

fn record(route: &str, method: &'static str, status: u16, elapsed: f64) {
    HANDLES.with_borrow_mut(|handles| {
        if !handles.contains_key(route) {
            let seconds = metrics::histogram!("isogate_http_request_seconds", "route" => route.to_owned());
            handles.insert(
                route.into(),
                RouteMetrics {
                    seconds,
                    requests: Vec::new(),
                },
            );
        }
        let Some(entry) = handles.get_mut(route) else {
            return;
        };
        entry.seconds.record(elapsed);
        if let Some((.., counter)) = entry
            .requests
            .iter()
            .find(|(m, s, _)| *m == method && *s == status)
        {
            counter.increment(1);
            return;
        }
        let counter = metrics::counter!("isogate_http_requests_total", "route" => route.to_owned(), "method" => method, "status" => status.to_string());
        counter.increment(1);
        entry.requests.push((method, status, counter));
    });
}

/// Writes a problem answer's body again with the request id (from the
/// problem kept as data on the response: nothing is parsed).
fn stamp_request_id(resp: &mut Response, id: &str) {
    let Some(ProblemBody(mut problem)) = resp.extensions_mut().remove::<ProblemBody>() else {
        return;
    };
    problem.request_id = Some(id.to_owned());
    let Ok(body) = serde_json::to_vec(&problem) else {
        return;
    };
    // Written plain: a compression layer inside may have encoded the first
    // body, and a problem is a few hundred bytes.
    resp.headers_mut().remove(header::CONTENT_LENGTH);
    resp.headers_mut().remove(header::CONTENT_ENCODING);
    *resp.body_mut() = Body::from(body);
}

/// Writes the log lines still buffered (before exit, or before printing to
/// stdout directly, to keep the order).
pub fn flush_logs() {
    LogSink::stdout().flush();
}

/// Logs: `RUST_LOG`-style filter from `ISOGATE_LOG` (default info), text or JSON.
pub fn init_logging(format: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("ISOGATE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(false)
        .with_writer(LogSink::stdout().clone());
    let installed = if format == "json" {
        builder.json().try_init()
    } else {
        builder.event_format(LineFormat).try_init()
    };
    if installed.is_ok() && format != "json" {
        let _ = DIRECT_TEXT.set(());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_32_lowercase_hex_digits_and_differ() {
        let ids: Vec<String> = (0..64).map(|_| new_request_id()).collect();
        for id in &ids {
            assert_eq!(id.len(), 32, "{id}");
            assert!(
                id.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
                "{id}"
            );
        }
        let distinct: std::collections::HashSet<_> = ids.iter().collect();
        assert_eq!(distinct.len(), ids.len());
        // Every position takes every digit over many ids (no stuck nibble).
        let many: Vec<String> = (0..2000).map(|_| new_request_id()).collect();
        for pos in 0..32 {
            let seen: std::collections::HashSet<u8> =
                many.iter().map(|id| id.as_bytes()[pos]).collect();
            assert_eq!(seen.len(), 16, "position {pos}");
        }
    }
}
