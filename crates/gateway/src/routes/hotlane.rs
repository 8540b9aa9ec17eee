//! The hot lane: a repeated listing answered in the outermost layer.
//!
//! A cached listing's answer is a map lookup; before this layer, the
//! middleware around it (three boxed middleware futures, a deadline timer,
//! the handler's extractors, a task-local scope) cost more than the lookup
//! itself. The lane authorises the request exactly as `auth::guard` does,
//! and when a [`HotAnswer`](crate::listing::render::HotAnswer) for it is stored, it
//! answers with its metrics, log line and request id as `telemetry::Observe`
//! would. Anything else passes through unchanged, marked as already
//! authorised so the key is not checked (or charged to its rate limit) twice.
//!
//! Not installed with CORS (its headers follow the request's origin). With
//! compression on, the lane answers requests that accept no encoding, as
//! the compression layer would (identity, `Vary: Accept-Encoding`); the
//! rest pass on.

use std::convert::Infallible;
use std::future::{Ready, ready};
use std::task::{Context, Poll};
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use futures::future::Either;
use tower::{Layer, Service};

use crate::access::Caller;
use crate::config::auth::Scope;
use crate::http::auth::{self, Authorized};
use crate::http::telemetry;
use crate::routes::isos::{Hot, HotMiss, hot_answer};
use crate::state::AppState;

/// The federated listing's route.
const LIST_ISOS: &str = "/v1/isos";
/// One provider's listing route.
const LIST_PROVIDER_ISOS: &str = "/v1/providers/{provider}/isos";

/// How the answers behind the lane are encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    /// As they are: compression is off.
    Identity,
    /// Compressed for clients that accept it: the lane serves only requests
    /// without `Accept-Encoding`.
    IdentityOfCompressed,
}

/// Adds [`HotLane`] around a route.
#[derive(Clone, Debug)]
pub struct HotLaneLayer {
    state: AppState,
    encoding: Encoding,
}

impl HotLaneLayer {
    /// A lane answering from `state`'s stored answers.
    pub fn new(state: AppState, encoding: Encoding) -> Self {
        HotLaneLayer { state, encoding }
    }
}

impl<S> Layer<S> for HotLaneLayer {
    type Service = HotLane<S>;

    fn layer(&self, inner: S) -> HotLane<S> {
        HotLane {
            state: self.state.clone(),
            encoding: self.encoding,
            inner,
        }
    }
}

/// Answers a stored listing or passes the request to `inner`.
#[derive(Clone, Debug)]
pub struct HotLane<S> {
    state: AppState,
    encoding: Encoding,
    inner: S,
}

impl<S> Service<Request> for HotLane<S>
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Either<Ready<Result<Response, Infallible>>, S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request) -> Self::Future {
        match answer(&self.state, self.encoding, &mut req) {
            Some(resp) => Either::Left(ready(Ok(resp))),
            None => Either::Right(self.inner.call(req)),
        }
    }
}

/// The stored answer to `req`, or `None` to pass it on.
fn answer(state: &AppState, encoding: Encoding, req: &mut Request) -> Option<Response> {
    if req.method() != Method::GET || crate::http::shared_limit::on(state) {
        // Shared rate limits need a Redis round trip: the guard's, not this lane's.
        return None;
    }
    let compressed = encoding == Encoding::IdentityOfCompressed;
    if compressed && req.headers().contains_key(header::ACCEPT_ENCODING) {
        return None;
    }
    let (route, only) = match req.extensions().get::<MatchedPath>()?.as_str() {
        LIST_ISOS => (LIST_ISOS, None),
        // A percent-encoded name is decoded by the router: leave it to it.
        LIST_PROVIDER_ISOS => (
            LIST_PROVIDER_ISOS,
            Some(provider_segment(req.uri().path()).filter(|name| !name.contains('%'))?),
        ),
        _ => return None,
    };
    let started = Instant::now();
    // A rejected request passes on: the guard rejects it again, with the
    // problem body and the logging of every other error.
    // Listings are GETs of the API group: read.
    let caller = auth::authorize(state, req, Some(Scope::Read)).ok()?;
    let visible = caller.clone().map(Caller::new).unwrap_or_default();
    let hot = hot_answer(state, only, &visible, req.uri().query(), req.headers());
    match hot {
        Hot::Answer(mut resp) => {
            // As the compression layer: bodies under 32 bytes (a 304's)
            // are not compressible and get no `Vary`.
            if compressed && resp.status() == StatusCode::OK {
                resp.headers_mut()
                    .append(header::VARY, HeaderValue::from_static("accept-encoding"));
            }
            let id = telemetry::request_id(req.headers());
            telemetry::finish(route, "GET", &id, started, &mut resp);
            Some(resp)
        }
        Hot::Miss(slot) => {
            if let Some(caller) = caller {
                req.extensions_mut().insert(Authorized(caller));
            }
            // The handler takes the key from here instead of building and
            // looking it up a second time.
            req.extensions_mut().insert(HotMiss(slot));
            None
        }
    }
}

/// `name` in `/v1/providers/name/isos`.
fn provider_segment(path: &str) -> Option<&str> {
    path.strip_prefix("/v1/providers/")?.strip_suffix("/isos")
}
