//! Server-Sent Events framing (`text/event-stream`), framework-free: a
//! `Stream<Item = Bytes>` the gateway's handler turns into a body.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use futures::Stream;

use crate::event::{EventId, ParseIdError, Record};
use crate::log::Subscription;

/// The response's `Content-Type`.
pub const CONTENT_TYPE: &str = "text/event-stream";
/// The SSE `event:` name of the final frame to a slow client.
pub const DROPPED: &str = "dropped";

/// How one SSE stream behaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SseOptions {
    /// A `: keep-alive` comment after this long without a frame, so proxies
    /// do not close an idle stream (most close after 60 s).
    pub heartbeat: Duration,
    /// Live events a client may leave unread; past this it is dropped with
    /// a final `dropped` event (it resumes with `Last-Event-ID`).
    pub max_buffered: usize,
    /// Sent as `retry:` first: how long a browser waits before reconnecting.
    pub retry: Option<Duration>,
}

impl Default for SseOptions {
    fn default() -> Self {
        SseOptions {
            heartbeat: Duration::from_secs(15),
            max_buffered: 256,
            retry: Some(Duration::from_secs(3)),
        }
    }
}

/// One event as an SSE frame: `id:`, `event:` (the short type), `data:`
/// (one line of JSON: the CloudEvent), a blank line.
pub fn frame(record: &Record) -> Bytes {
    let id = record.id().to_string();
    let ty = record.ty().short();
    let json = record.json();
    let mut b = BytesMut::with_capacity(json.len() + id.len() + ty.len() + 24);
    b.put_slice(b"id: ");
    b.put_slice(id.as_bytes());
    b.put_slice(b"\nevent: ");
    b.put_slice(ty.as_bytes());
    b.put_slice(b"\ndata: ");
    b.put_slice(json);
    b.put_slice(b"\n\n");
    b.freeze()
}

/// A comment frame (ignored by clients; keeps the connection busy).
pub fn comment(text: &str) -> Bytes {
    let mut b = BytesMut::with_capacity(text.len() + 4);
    for line in text.lines() {
        b.put_slice(b": ");
        b.put_slice(line.as_bytes());
        b.put_u8(b'\n');
    }
    b.put_u8(b'\n');
    b.freeze()
}

/// The final frame to a slow client. No `id:` line, so the client's last
/// event id stays the last event it really got.
pub fn dropped_frame(position: EventId) -> Bytes {
    let data = serde_json::json!({
        "type": DROPPED,
        "reason": "slow_client",
        "last_event_id": position.to_string(),
    });
    Bytes::from(format!("event: {DROPPED}\ndata: {data}\n\n"))
}

/// The resume point of a request: the `Last-Event-ID` header (sent by a
/// reconnecting `EventSource`) wins over `?since=` (the URL it reconnects
/// to still holds the first one). Empty values count as absent.
pub fn resume_point(
    header: Option<&str>,
    since: Option<&str>,
) -> Result<Option<EventId>, ParseIdError> {
    match header
        .filter(|h| !h.trim().is_empty())
        .or(since.filter(|s| !s.trim().is_empty()))
    {
        Some(s) => s.parse().map(Some),
        None => Ok(None),
    }
}

enum Phase {
    Start,
    Running,
    Done,
}

struct StreamState {
    sub: Subscription,
    opts: SseOptions,
    phase: Phase,
}

/// The SSE body of one subscription: a `retry:` and a `: connected`
/// comment first (so headers and the first bytes leave at once), then one
/// frame per event, a heartbeat comment after every idle
/// [`SseOptions::heartbeat`], and the end of the stream after a
/// `dropped` frame when the client leaves more than
/// [`SseOptions::max_buffered`] live events unread, or when the log goes.
///
/// With axum: `Body::from_stream(sse_stream(..).map(Ok::<_, Infallible>))`.
pub fn sse_stream(sub: Subscription, opts: SseOptions) -> impl Stream<Item = Bytes> + Send {
    let state = StreamState {
        sub,
        opts,
        phase: Phase::Start,
    };
    futures::stream::unfold(state, |mut st| async move {
        match st.phase {
            Phase::Done => return None,
            Phase::Start => {
                st.phase = Phase::Running;
                let mut b = BytesMut::new();
                if let Some(retry) = st.opts.retry {
                    b.put_slice(format!("retry: {}\n", retry.as_millis()).as_bytes());
                }
                b.put_slice(b": connected\n\n");
                return Some((b.freeze(), st));
            }
            Phase::Running => {}
        }
        if st.sub.lag() > st.opts.max_buffered {
            st.phase = Phase::Done;
            let frame = dropped_frame(st.sub.position());
            return Some((frame, st));
        }
        tokio::select! {
            r = st.sub.recv() => r.map(|rec| (frame(&rec), st)),
            () = tokio::time::sleep(st.opts.heartbeat) => Some((comment("keep-alive"), st)),
        }
    })
}

/// Limits concurrent streams per key (an API key, or a client address).
#[derive(Clone, Debug)]
pub struct ConnectionLimiter {
    max_per_key: usize,
    open: Arc<Mutex<HashMap<String, usize>>>,
}

/// One held connection slot; released when dropped (move it into the
/// stream so it lives exactly as long as the response body).
#[derive(Debug)]
pub struct ConnectionPermit {
    key: String,
    open: Arc<Mutex<HashMap<String, usize>>>,
}

impl ConnectionLimiter {
    /// At most `max_per_key` open streams per key.
    pub fn new(max_per_key: usize) -> ConnectionLimiter {
        ConnectionLimiter {
            max_per_key,
            open: Arc::default(),
        }
    }

    /// A slot for `key`, or `None` when it has `max_per_key` open (answer 429).
    pub fn try_acquire(&self, key: &str) -> Option<ConnectionPermit> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let n = open.entry(key.to_owned()).or_insert(0);
        if *n >= self.max_per_key {
            return None;
        }
        *n += 1;
        Some(ConnectionPermit {
            key: key.to_owned(),
            open: self.open.clone(),
        })
    }

    /// Open streams of `key`.
    pub fn open(&self, key: &str) -> usize {
        let open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        open.get(key).copied().unwrap_or(0)
    }
}

impl Drop for ConnectionPermit {
    fn drop(&mut self) {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = open.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.key);
            }
        }
    }
}
