//! Serving a simulator on loopback with faults, counters and a control API.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use bytes::Bytes;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use rand::Rng;
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};

use crate::control::{Control, Faults};

/// Builds an upstream-shaped error answer: each simulator passes its own, so
/// injected errors look like the upstream's real ones.
pub type ErrorShape = Arc<dyn Fn(StatusCode, &str) -> Response + Send + Sync>;

/// Where to listen.
#[derive(Clone, Debug)]
pub struct ServeOptions {
    /// The address to bind; loopback by default.
    pub host: IpAddr,
    /// The port; 0 picks a free one.
    pub port: u16,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            host: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 0,
        }
    }
}

#[derive(Clone)]
struct Layered {
    control: Arc<Control>,
    error_shape: ErrorShape,
}

/// A running simulator. Dropping it stops it.
pub struct SimServer {
    name: &'static str,
    addr: SocketAddr,
    base_path: String,
    control: Arc<Control>,
    app: Router,
    task: Option<JoinHandle<()>>,
    /// Cleared by `stop_listening`: connections whose tasks have not been
    /// torn down yet (aborts are asynchronous) drop requests instead of
    /// answering them, so a stopped simulator never answers.
    serving: Arc<AtomicBool>,
}

impl std::fmt::Debug for SimServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimServer")
            .field("name", &self.name)
            .field("base_url", &self.base_url())
            .finish()
    }
}

impl SimServer {
    /// Serves `app` with the fault and counter layer and the `/__sim/` control
    /// API. `base_path` is appended to the origin to form [`SimServer::base_url`],
    /// the URL an adapter is configured with (e.g. `/api/v2`).
    pub async fn start(
        name: &'static str,
        app: Router,
        serve: &ServeOptions,
        base_path: &str,
        faults: Faults,
        error_shape: ErrorShape,
    ) -> std::io::Result<SimServer> {
        let control = Arc::new(Control::new(faults));
        let layered = Layered {
            control: control.clone(),
            error_shape,
        };
        let app = app
            .layer(middleware::from_fn_with_state(layered, fault_layer))
            .merge(control_api(control.clone()));
        let listener = TcpListener::bind(SocketAddr::new(serve.host, serve.port)).await?;
        let addr = listener.local_addr()?;
        let mut server = SimServer {
            name,
            addr,
            base_path: base_path.trim_end_matches('/').to_owned(),
            control,
            app,
            task: None,
            serving: Arc::new(AtomicBool::new(true)),
        };
        server.task = Some(spawn_accept_loop(
            listener,
            server.app.clone(),
            server.serving.clone(),
        ));
        tracing::debug!(sim = name, %addr, "simulator listening");
        Ok(server)
    }

    /// The simulator's name (`cloudmc-v2`, `vss`, ...).
    pub fn name(&self) -> &'static str {
        self.name
    }
    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
    /// `http://127.0.0.1:PORT`.
    pub fn origin(&self) -> String {
        format!("http://{}", self.addr)
    }
    /// The URL an adapter is configured with: origin plus the API base path.
    pub fn base_url(&self) -> String {
        format!("{}{}", self.origin(), self.base_path)
    }
    /// Faults and counters.
    pub fn control(&self) -> &Arc<Control> {
        &self.control
    }

    /// Closes the listener and every open connection: from now on clients
    /// see refused connections (and pooled connections are reset).
    pub fn stop_listening(&mut self) {
        self.serving.store(false, Ordering::SeqCst);
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }

    /// Listens again on the same port.
    pub async fn resume_listening(&mut self) -> std::io::Result<()> {
        if self.task.is_some() {
            return Ok(());
        }
        let mut tries = 0;
        let listener = loop {
            match TcpListener::bind(self.addr).await {
                Ok(l) => break l,
                Err(e) if tries < 50 => {
                    tries += 1;
                    tracing::debug!(error = %e, "rebinding simulator port");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err(e) => return Err(e),
            }
        };
        self.serving.store(true, Ordering::SeqCst);
        self.task = Some(spawn_accept_loop(
            listener,
            self.app.clone(),
            self.serving.clone(),
        ));
        Ok(())
    }

    /// Stops serving.
    pub fn shutdown(mut self) {
        self.stop_listening();
    }
}

impl Drop for SimServer {
    fn drop(&mut self) {
        self.stop_listening();
    }
}

// Connections live in a JoinSet owned by the accept task, so aborting the
// task drops every connection too (axum::serve would leave them running).
fn spawn_accept_loop(
    listener: TcpListener,
    app: Router,
    serving: Arc<AtomicBool>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut conns = JoinSet::new();
        loop {
            tokio::select! {
                accepted = listener.accept() => {
                    let Ok((stream, _)) = accepted else { continue };
                    let _ = stream.set_nodelay(true);
                    let inner = TowerToHyperService::new(app.clone());
                    let serving = serving.clone();
                    // A service error makes hyper close the connection
                    // without an answer, as a stopped upstream would.
                    let service = hyper::service::service_fn(move |req| {
                        let answer = serving
                            .load(Ordering::SeqCst)
                            .then(|| hyper::service::Service::call(&inner, req));
                        async move {
                            match answer {
                                Some(fut) => fut.await.map_err(|never| match never {}),
                                None => Err(std::io::Error::new(
                                    std::io::ErrorKind::ConnectionAborted,
                                    "simulator stopped listening",
                                )),
                            }
                        }
                    });
                    conns.spawn(async move {
                        let _ = auto::Builder::new(TokioExecutor::new())
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    });
                }
                Some(_) = conns.join_next(), if !conns.is_empty() => {}
            }
        }
    })
}

async fn fault_layer(State(layered): State<Layered>, req: Request, next: Next) -> Response {
    let method = req.method().as_str().to_owned();
    let path = req.uri().path().to_owned();
    let control = &layered.control;
    control.record(&format!("{method} {path}"));
    let faults = control.faults();
    if !faults.applies_to(&method, &path) {
        return next.run(req).await;
    }
    let delay = faults.latency_ms
        + if faults.jitter_ms > 0 {
            rand::rng().random_range(0..=faults.jitter_ms)
        } else {
            0
        };
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    if faults.hang {
        control.record_fault();
        std::future::pending::<()>().await;
    }
    if control.roll_limit(faults.rate_limit_rate) {
        control.record_fault();
        let mut resp = (layered.error_shape)(StatusCode::TOO_MANY_REQUESTS, "rate limit exceeded");
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(faults.retry_after_s));
        return resp;
    }
    if control.roll_error(faults.error_rate) {
        control.record_fault();
        let status =
            StatusCode::from_u16(faults.error_status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
        let status = if status.as_u16() < 400 {
            StatusCode::SERVICE_UNAVAILABLE
        } else {
            status
        };
        return (layered.error_shape)(status, "injected failure");
    }
    if faults.errors_in_200 {
        control.record_fault();
        return (layered.error_shape)(StatusCode::OK, "injected error in a 200 answer");
    }
    let resp = next.run(req).await;
    if !(faults.malformed_json || faults.truncate) {
        return resp;
    }
    control.record_fault();
    let (mut parts, body) = resp.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    if faults.malformed_json {
        parts.status = StatusCode::OK;
        parts.headers.remove(header::CONTENT_LENGTH);
        parts.headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        return Response::from_parts(parts, Body::from(r#"{"data": [{"id": "#));
    }
    // Promise the whole length, send half, then fail the stream: the client
    // sees the connection cut mid-body.
    let half = Bytes::copy_from_slice(&bytes[..bytes.len() / 2]);
    parts.headers.insert(
        header::CONTENT_LENGTH,
        HeaderValue::from(bytes.len().max(1)),
    );
    // The pause lets hyper flush headers and the half before the cut.
    let cut = async {
        tokio::time::sleep(Duration::from_millis(20)).await;
        Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "injected truncation",
        ))
    };
    let stream = futures::StreamExt::chain(
        futures::stream::once(async { Ok::<Bytes, std::io::Error>(half) }),
        futures::stream::once(cut),
    );
    Response::from_parts(parts, Body::from_stream(stream))
}

fn control_api(control: Arc<Control>) -> Router {
    Router::new()
        .route(
            "/__sim/faults",
            get(|State(c): State<Arc<Control>>| async move { Json(c.faults()) }).put(
                |State(c): State<Arc<Control>>, Json(f): Json<Faults>| async move {
                    c.set_faults(f);
                    StatusCode::NO_CONTENT
                },
            ),
        )
        .route(
            "/__sim/counters",
            get(|State(c): State<Arc<Control>>| async move {
                Json(serde_json::json!({
                    "total": c.total(),
                    "faulted": c.faulted(),
                    "routes": c.counts(),
                }))
            }),
        )
        .route(
            "/__sim/counters/reset",
            post(|State(c): State<Arc<Control>>| async move {
                c.reset_counters();
                StatusCode::NO_CONTENT
            }),
        )
        .with_state(control)
}

/// A JSON error answer, for simulators whose errors are JSON.
pub fn json_error(status: StatusCode, body: serde_json::Value) -> Response {
    (status, Json(body)).into_response()
}
