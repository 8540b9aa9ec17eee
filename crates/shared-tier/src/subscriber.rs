//! The task that listens on the tier's channel.
//!
//! Pub/sub delivers at most once and nothing while disconnected, so after
//! any gap (a reconnect, or a first connect that did not succeed at once)
//! it sends [`TierEvent::Resync`]: the gateway then compares its snapshot
//! versions with Redis's. TTLs are the backstop behind that.

use std::sync::Weak;
use std::sync::atomic::Ordering;
use std::time::Duration;

use futures::StreamExt;

use crate::status::bump;
use crate::{Inner, Scope};

/// What the subscriber tells the replica.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TierEvent {
    /// A replica stored a new snapshot of `provider`.
    SnapshotPublished {
        /// The provider.
        provider: String,
        /// Its version.
        version: u64,
        /// Whether this handle published it.
        from_self: bool,
    },
    /// A replica invalidated `scope`: drop the local copies older than `version`.
    Invalidated {
        /// What to drop.
        scope: Scope,
        /// The invalidation's version.
        version: u64,
        /// Whether this handle sent it.
        from_self: bool,
    },
    /// Messages may have been missed: compare versions with Redis.
    Resync,
}

/// How often the subscriber pings its connection: a Redis that hangs without
/// closing the socket is noticed within about this long.
const KEEPALIVE: Duration = Duration::from_secs(1);

pub(crate) async fn run(weak: Weak<Inner>) {
    let mut missed = false;
    let mut delay = Duration::ZERO;
    loop {
        if !delay.is_zero() {
            tokio::time::sleep(jitter(delay)).await;
        }
        // Upgraded per attempt only: a dropped SharedTier ends the task.
        let Some(inner) = weak.upgrade() else { return };
        let min = Duration::from_millis(inner.config.reconnect_min_ms);
        let max = Duration::from_millis(inner.config.reconnect_max_ms).max(min);
        delay = if session(&inner, &weak, &mut missed).await {
            min
        } else {
            (delay * 2).clamp(min, max)
        };
    }
}

/// One connection's life: subscribe, relay messages until it breaks.
/// Returns whether it got as far as subscribing.
async fn session(inner: &Inner, weak: &Weak<Inner>, missed: &mut bool) -> bool {
    let client = inner.client.clone();
    let channel = inner.keys.channel();
    let connect = async {
        let mut ps = client.get_async_pubsub().await?;
        ps.subscribe(&channel).await?;
        Ok::<_, redis::RedisError>(ps)
    };
    let ps = match tokio::time::timeout(inner.config.snapshot_timeout(), connect).await {
        Ok(Ok(ps)) => ps,
        Ok(Err(e)) => {
            let msg = inner.redactor.scrub(&e.to_string());
            inner.status.error(
                format!("shared tier: subscribe: redis unavailable: {msg}"),
                false,
            );
            *missed = true;
            return false;
        }
        Err(_) => {
            inner
                .status
                .error("shared tier: subscribe timed out".into(), false);
            *missed = true;
            return false;
        }
    };
    inner
        .status
        .subscriber_connected
        .store(true, Ordering::Relaxed);
    if *missed {
        bump(&inner.status.resyncs);
        let _ = inner.events.send(TierEvent::Resync);
    }
    let origin = inner.origin.clone();
    let (mut sink, mut stream) = ps.split();
    let mut tick = tokio::time::interval(KEEPALIVE);
    tick.tick().await;
    loop {
        tokio::select! {
            msg = stream.next() => {
                let Some(msg) = msg else { break };
                let Some(ev) = parse(msg.get_payload_bytes(), &origin) else { continue };
                if let TierEvent::Invalidated { from_self: false, .. } = ev {
                    bump(&inner.status.invalidations_received);
                }
                let _ = inner.events.send(ev);
            }
            _ = tick.tick() => {
                if weak.strong_count() <= 1 {
                    // Only this task's upgrade is left: the handle is gone.
                    break;
                }
                let ping = tokio::time::timeout(inner.config.snapshot_timeout(), sink.ping::<redis::Value>());
                if !matches!(ping.await, Ok(Ok(_))) {
                    break;
                }
            }
        }
    }
    inner
        .status
        .subscriber_connected
        .store(false, Ordering::Relaxed);
    inner
        .status
        .error("shared tier: subscriber connection lost".into(), false);
    *missed = true;
    true
}

/// `s|origin|version|provider` or `i|origin|version|provider-or-*`; anything
/// else (another build's message) is ignored.
fn parse(payload: &[u8], own: &str) -> Option<TierEvent> {
    let s = std::str::from_utf8(payload).ok()?;
    let mut parts = s.splitn(4, '|');
    let (kind, origin, version, provider) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let version = version.parse().ok()?;
    let from_self = origin == own;
    match kind {
        "s" => Some(TierEvent::SnapshotPublished {
            provider: provider.to_owned(),
            version,
            from_self,
        }),
        "i" => Some(TierEvent::Invalidated {
            scope: if provider == "*" {
                Scope::All
            } else {
                Scope::Provider(provider.to_owned())
            },
            version,
            from_self,
        }),
        _ => None,
    }
}

/// Backoff with +-25 % jitter, so replicas do not reconnect in step.
fn jitter(d: Duration) -> Duration {
    let f = 0.75 + rand::random::<f64>() * 0.5;
    d.mul_f64(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_table() {
        let cases: &[(&str, Option<TierEvent>)] = &[
            (
                "s|me|12|a|b",
                Some(TierEvent::SnapshotPublished {
                    provider: "a|b".into(),
                    version: 12,
                    from_self: true,
                }),
            ),
            (
                "i|other|7|*",
                Some(TierEvent::Invalidated {
                    scope: Scope::All,
                    version: 7,
                    from_self: false,
                }),
            ),
            (
                "i|other|7|p",
                Some(TierEvent::Invalidated {
                    scope: Scope::Provider("p".into()),
                    version: 7,
                    from_self: false,
                }),
            ),
            ("x|me|1|p", None),
            ("i|me|notanumber|p", None),
            ("i|me", None),
        ];
        for (input, want) in cases {
            assert_eq!(&parse(input.as_bytes(), "me"), want, "{input}");
        }
    }
}
