//! Delivery: one queue and one worker per endpoint, so events reach each
//! receiver in log order with at most one request in flight.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::Rng;
use serde::Serialize;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::config::{Resolved, WebhookConfig, WebhookError};
use super::guard::{UrlGuard, redact_url};
use super::sign::sign;
use crate::event::{EventId, Record};
use crate::log::EventLog;

/// The body's `Content-Type`: CloudEvents structured mode over HTTP.
pub const CONTENT_TYPE: &str = "application/cloudevents+json; charset=utf-8";

/// One endpoint's delivery state, for `/v1/webhooks` and `/metrics`.
/// Holds no secret and no URL path or query.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EndpointStatus {
    /// The configured name, or the redacted URL.
    pub name: String,
    /// `scheme://host:port/…`.
    pub url: String,
    /// Events delivered (answered 2xx).
    pub delivered: u64,
    /// Attempts that failed (each retry counts).
    pub failed_attempts: u64,
    /// Events given up on: retried past the window, or the queue was full.
    pub dead_lettered: u64,
    /// Events waiting, the one in flight included.
    pub queued: usize,
    /// The event being delivered now.
    pub in_flight: Option<String>,
    /// The last event delivered.
    pub last_delivered: Option<String>,
    /// When it was.
    pub last_success_at: Option<DateTime<Utc>>,
    /// The last failure (`HTTP 503`, `connection failed`, ...).
    pub last_error: Option<String>,
    /// When it was.
    pub last_error_at: Option<DateTime<Utc>>,
    /// The last event dead-lettered.
    pub last_dead_lettered: Option<String>,
}

#[derive(Debug)]
struct Endpoint {
    cfg: Resolved,
    status: Mutex<EndpointStatus>,
    guard: Arc<dyn UrlGuard>,
    client: reqwest::Client,
}

impl Endpoint {
    fn update(&self, f: impl FnOnce(&mut EndpointStatus)) {
        f(&mut self.status.lock().unwrap_or_else(|p| p.into_inner()));
    }

    fn fail(&self, why: String) {
        self.update(|s| {
            s.failed_attempts += 1;
            s.last_error = Some(why);
            s.last_error_at = Some(Utc::now());
        });
    }

    /// Counts an event that never entered the queue.
    fn overflow(&self, id: EventId) {
        self.update(|s| {
            s.queued -= 1;
            s.dead_lettered += 1;
            s.last_dead_lettered = Some(id.to_string());
            s.last_error = Some(format!("queue full ({} events)", self.cfg.queue));
            s.last_error_at = Some(Utc::now());
        });
    }
}

/// Every configured webhook, delivering from one log. Dropping it stops
/// delivery (queued events are lost: delivery is at least once while it runs).
#[derive(Debug)]
pub struct WebhookDispatcher {
    endpoints: Vec<Arc<Endpoint>>,
    tasks: Vec<JoinHandle<()>>,
}

impl WebhookDispatcher {
    /// Checks every entry (secret, types, filter, the guard on the URL)
    /// and starts delivering every event appended to `log` from now on.
    /// Must run inside a tokio runtime.
    pub async fn start(
        log: &EventLog,
        configs: &[WebhookConfig],
        guard: Arc<dyn UrlGuard>,
    ) -> Result<WebhookDispatcher, WebhookError> {
        let mut resolved = Vec::with_capacity(configs.len());
        for (i, c) in configs.iter().enumerate() {
            let r = c.resolve().map_err(|WebhookError::Config(m)| {
                WebhookError::Config(format!("webhooks[{i}]: {m}"))
            })?;
            guard.check(&r.url).await.map_err(|why| {
                WebhookError::Config(format!("webhooks[{i}]: url refused: {why}"))
            })?;
            resolved.push(r);
        }
        let mut endpoints = Vec::new();
        let mut tasks = Vec::new();
        for cfg in resolved {
            // No redirects: a 3xx to an internal address would bypass the guard.
            let client = reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(cfg.timeout)
                .user_agent(concat!("isogate-webhooks/", env!("CARGO_PKG_VERSION")))
                .build()
                .map_err(|_| WebhookError::Config("cannot build the HTTP client".into()))?;
            let ep = Arc::new(Endpoint {
                status: Mutex::new(EndpointStatus {
                    name: cfg.name.clone(),
                    url: redact_url(&cfg.url),
                    ..EndpointStatus::default()
                }),
                guard: guard.clone(),
                client,
                cfg,
            });
            // Subscribed before `start` returns: nothing appended after it is missed.
            let mut sub = log.subscribe_from(None, ep.cfg.selector.clone());
            let (tx, rx) = mpsc::channel::<(Instant, Arc<Record>)>(ep.cfg.queue);
            let intake_ep = ep.clone();
            tasks.push(tokio::spawn(async move {
                while let Some(rec) = sub.recv().await {
                    // The shared stream's entries are delivered through its
                    // consumer groups (one replica each), not by every replica.
                    if rec.is_mirrored() {
                        continue;
                    }
                    // Counted before sending so the worker never takes one off first.
                    intake_ep.update(|s| s.queued += 1);
                    match tx.try_send((Instant::now(), rec)) {
                        Ok(()) => {}
                        Err(mpsc::error::TrySendError::Full((_, rec))) => {
                            intake_ep.overflow(rec.id());
                        }
                        Err(mpsc::error::TrySendError::Closed(_)) => return,
                    }
                }
            }));
            tasks.push(tokio::spawn(worker(ep.clone(), rx)));
            endpoints.push(ep);
        }
        Ok(WebhookDispatcher { endpoints, tasks })
    }

    /// Every endpoint's state, in configuration order.
    pub fn status(&self) -> Vec<EndpointStatus> {
        self.endpoints
            .iter()
            .map(|e| e.status.lock().unwrap_or_else(|p| p.into_inner()).clone())
            .collect()
    }

    /// Every endpoint, for delivery from a queue outside the log (a
    /// consumer group of the shared stream).
    pub fn endpoints(&self) -> Vec<WebhookEndpoint> {
        self.endpoints
            .iter()
            .cloned()
            .map(WebhookEndpoint)
            .collect()
    }

    /// Stops delivery now.
    pub fn shutdown(self) {}
}

impl Drop for WebhookDispatcher {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

async fn worker(ep: Arc<Endpoint>, mut rx: mpsc::Receiver<(Instant, Arc<Record>)>) {
    while let Some((queued_at, rec)) = rx.recv().await {
        deliver_counted(&ep, queued_at, &rec).await;
    }
}

/// One queued event through to its outcome; `true` if delivered, `false`
/// if dead-lettered.
async fn deliver_counted(ep: &Endpoint, queued_at: Instant, rec: &Record) -> bool {
    ep.update(|s| s.in_flight = Some(rec.id().to_string()));
    // The outcome is counted in the same update that takes the event
    // off the queue, so a status never shows it twice or not at all.
    let delivered = deliver(ep, queued_at, rec).await;
    ep.update(|s| {
        s.in_flight = None;
        s.queued = s.queued.saturating_sub(1);
        if delivered {
            s.delivered += 1;
            s.last_delivered = Some(rec.id().to_string());
            s.last_success_at = Some(Utc::now());
        } else {
            s.dead_lettered += 1;
            s.last_dead_lettered = Some(rec.id().to_string());
        }
    });
    delivered
}

/// One endpoint of a [`WebhookDispatcher`], delivering events handed to it
/// (by a consumer of the shared stream). Shares the endpoint's status,
/// signing, retries and dead-lettering with the in-process queue.
#[derive(Clone, Debug)]
pub struct WebhookEndpoint(Arc<Endpoint>);

impl WebhookEndpoint {
    /// The configured name (or the redacted URL).
    pub fn name(&self) -> &str {
        &self.0.cfg.name
    }

    /// A stable identity of the endpoint across replicas with the same
    /// configuration: its name and full URL (never shown: it may hold a token).
    pub fn identity(&self) -> String {
        format!("{}\n{}", self.0.cfg.name, self.0.cfg.url)
    }

    /// Whether the endpoint wants `rec` (its types, filter, providers).
    pub fn wants(&self, rec: &Record) -> bool {
        self.0.cfg.selector.matches(rec)
    }

    /// Delivers `rec` (retrying within the window from `queued_at`) and
    /// counts it in the status: `true` delivered, `false` dead-lettered.
    /// Cancel-safe at any await: a cancelled delivery is counted as neither
    /// (its queue entry stays, so it is delivered later).
    pub async fn deliver(&self, rec: &Record, queued_at: Instant) -> bool {
        self.0.update(|s| s.queued += 1);
        struct Uncount<'a>(&'a Endpoint, bool);
        impl Drop for Uncount<'_> {
            fn drop(&mut self) {
                if !self.1 {
                    self.0.update(|s| {
                        s.queued = s.queued.saturating_sub(1);
                        s.in_flight = None;
                    });
                }
            }
        }
        let mut guard = Uncount(&self.0, false);
        let delivered = deliver_counted(&self.0, queued_at, rec).await;
        guard.1 = true;
        delivered
    }
}

/// Attempts until a 2xx or until the next attempt would start past the
/// window (then the event is dead-lettered). The window runs from the
/// queueing, so after a long outage a backlog drains quickly instead of
/// each event waiting a full window.
async fn deliver(ep: &Endpoint, queued_at: Instant, rec: &Record) -> bool {
    let deadline = queued_at + ep.cfg.window;
    let mut attempt: u32 = 0;
    loop {
        attempt += 1;
        match attempt_once(ep, rec).await {
            Ok(()) => return true,
            Err(failure) => {
                ep.fail(failure.why);
                let wait = backoff(&ep.cfg, attempt).max(failure.retry_after.unwrap_or_default());
                let wait = wait.min(
                    ep.cfg
                        .backoff_max
                        .max(failure.retry_after.unwrap_or_default()),
                );
                if Instant::now() + wait > deadline {
                    tracing::warn!(webhook = %ep.cfg.name, event = %rec.id(), attempts = attempt, "webhook event dead-lettered");
                    return false;
                }
                tokio::time::sleep(wait).await;
            }
        }
    }
}

/// Exponential backoff with "equal jitter": half the step fixed, half random,
/// so retries of many endpoints do not synchronise.
fn backoff(cfg: &Resolved, attempt: u32) -> Duration {
    let step = cfg
        .backoff_initial
        .saturating_mul(1u32 << attempt.saturating_sub(1).min(20))
        .min(cfg.backoff_max);
    let half = step / 2;
    let jitter = rand::rng().random_range(0..=half.as_millis().max(1) as u64);
    half + Duration::from_millis(jitter)
}

struct Failure {
    why: String,
    retry_after: Option<Duration>,
}

async fn attempt_once(ep: &Endpoint, rec: &Record) -> Result<(), Failure> {
    let fail = |why: String| Failure {
        why,
        retry_after: None,
    };
    ep.guard
        .check(&ep.cfg.url)
        .await
        .map_err(|why| fail(format!("url refused: {why}")))?;
    let id = rec.id().to_string();
    let ts = Utc::now().timestamp();
    let body = rec.json().clone();
    let signature = sign(&ep.cfg.key, &id, ts, &body);
    let resp = ep
        .client
        .post(ep.cfg.url.clone())
        .header("content-type", CONTENT_TYPE)
        .header("webhook-id", &id)
        .header("webhook-timestamp", ts.to_string())
        .header("webhook-signature", signature)
        .body(body)
        .send()
        .await
        .map_err(|e| fail(describe(&e)))?;
    let status = resp.status();
    if status.is_success() {
        return Ok(());
    }
    let retry_after = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    Err(Failure {
        why: format!("HTTP {}", status.as_u16()),
        retry_after,
    })
}

/// A transport error without the URL (reqwest's `Display` includes it).
fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".into()
    } else if e.is_connect() {
        "connection failed".into()
    } else if e.is_body() || e.is_decode() {
        "response failed".into()
    } else {
        "request failed".into()
    }
}
