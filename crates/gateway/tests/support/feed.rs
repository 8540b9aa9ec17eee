//! What the change-feed tests share: the webhook receiver's signature check
//! (the testkit's) and an SSE reader, both written from their specs (not
//! from the feed crate).
#![allow(dead_code)]

use std::time::{Duration, Instant};

use axum::http::HeaderMap;
use bytes::Bytes;
use futures::StreamExt;
use serde_json::Value;

/// The secret the tests' `[[webhooks]]` are configured with.
pub const WH_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// The webhook receiver's check of a delivery (the testkit's, written
/// from the spec) with the tests' secret.
pub fn verify(headers: &HeaderMap, body: &[u8]) -> Result<(), String> {
    isogate_testkit::webhooks::verify(WH_SECRET, headers, body)
}

#[derive(Debug, Clone)]
pub struct Frame {
    pub id: Option<String>,
    pub event: String,
    pub data: Value,
}

/// A minimal SSE reader written from the spec (not from the feed crate).
pub struct Sse {
    body: std::pin::Pin<Box<dyn futures::Stream<Item = reqwest::Result<Bytes>> + Send>>,
    buf: String,
}

impl Sse {
    pub fn new(resp: reqwest::Response) -> Sse {
        Sse {
            body: Box::pin(resp.bytes_stream()),
            buf: String::new(),
        }
    }

    /// The next event (comments skipped) within `wait`; `None` on timeout
    /// or when the stream ends.
    pub async fn next(&mut self, wait: Duration) -> Option<Frame> {
        let until = tokio::time::Instant::now() + wait;
        loop {
            while let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                let (mut id, mut event, mut data) = (None, String::from("message"), None);
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("id: ") {
                        id = Some(v.to_owned());
                    } else if let Some(v) = line.strip_prefix("event: ") {
                        event = v.to_owned();
                    } else if let Some(v) = line.strip_prefix("data: ") {
                        data = Some(serde_json::from_str(v).unwrap());
                    }
                }
                if let Some(data) = data {
                    return Some(Frame { id, event, data });
                }
            }
            match tokio::time::timeout_at(until, self.body.next()).await {
                Ok(Some(Ok(b))) => self.buf.push_str(std::str::from_utf8(&b).unwrap()),
                _ => return None,
            }
        }
    }

    /// Events until `n` of them satisfy `f`, within `wait`; panics otherwise.
    pub async fn collect(
        &mut self,
        n: usize,
        wait: Duration,
        f: impl Fn(&Frame) -> bool,
    ) -> Vec<Frame> {
        let start = Instant::now();
        let mut out = Vec::new();
        let mut other = Vec::new();
        while out.len() < n && start.elapsed() < wait {
            match self.next(wait.saturating_sub(start.elapsed())).await {
                Some(fr) if f(&fr) => out.push(fr),
                Some(fr) => other.push((
                    fr.id,
                    fr.event,
                    fr.data["data"]["fields"].clone(),
                    fr.data["subject"].clone(),
                )),
                None => break,
            }
        }
        assert_eq!(
            out.len(),
            n,
            "wanted {n} matching events within {wait:?}: {out:#?}; others: {other:?}"
        );
        out
    }

    /// Every event until `quiet` passes without one.
    pub async fn drain(&mut self, quiet: Duration) -> Vec<Frame> {
        let mut out = Vec::new();
        while let Some(f) = self.next(quiet).await {
            out.push(f);
        }
        out
    }

    /// Events until one satisfies `f` (it included), within `wait`.
    pub async fn until(&mut self, wait: Duration, f: impl Fn(&Frame) -> bool) -> Vec<Frame> {
        let start = Instant::now();
        let mut out = Vec::new();
        while start.elapsed() < wait {
            let Some(frame) = self.next(wait.saturating_sub(start.elapsed())).await else {
                break;
            };
            let done = f(&frame);
            out.push(frame);
            if done {
                return out;
            }
        }
        panic!("no matching event within {wait:?}; got {out:#?}");
    }
}
