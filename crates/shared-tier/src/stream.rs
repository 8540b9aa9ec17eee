//! The change feed's Redis Stream (issue 18, across replicas).
//!
//! One stream per deployment, `{prefix}:feed` (the pub/sub channel is
//! already called `{prefix}:events`; keys and channels do not collide in
//! Redis, but one name for two things would confuse whoever reads
//! `MONITOR`). Entries hold one field, `e`: the event's JSON, its id left
//! for Redis to assign (`XADD ... MAXLEN ~ <history> *`).
//!
//! - [`SharedTier::feed_append`] adds one snapshot's events atomically (one
//!   Lua script), guarded by a compare-and-set on a per-provider key, so
//!   exactly one replica appends the diff of one change (see the gateway's
//!   `listing/feed_shared.rs` for what the guard holds).
//! - [`SharedTier::feed_range_after`] answers a `Last-Event-ID`: whether the
//!   stream can resume from it, and the entries after it (`XRANGE (id +`),
//!   in one atomic read.
//! - [`FeedReader`] follows the stream (`XREAD BLOCK`) on its own
//!   connection: a blocking read would stall every other call sharing the
//!   multiplexed one.
//! - Webhook endpoints are consumer groups: [`SharedTier::group_create`],
//!   [`SharedTier::group_read`] (`XREADGROUP`), [`SharedTier::group_ack`],
//!   [`SharedTier::group_claim`] (`XAUTOCLAIM` of a dead consumer's
//!   entries), and a short per-endpoint lease so one consumer at a time
//!   delivers to an endpoint, in stream order.

use std::sync::LazyLock;
use std::time::Duration;

use redis::Value;

use crate::{Keys, SharedTier, TierError};

/// One stream entry: its id and its `e` field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamEntry {
    /// The id Redis assigned (`<ms>-<seq>`).
    pub id: String,
    /// The event's JSON; empty for an entry trimmed while pending in a group.
    pub body: Vec<u8>,
}

/// The guard of one [`SharedTier::feed_append`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AppendGuard {
    /// Append unconditionally.
    None,
    /// One snapshot's diff: append only if the feed's baseline version of
    /// `provider` (`feedbase:<provider>`) is `expect` (`""`: none yet), then
    /// make it `set` (even with no events), and keep a copy of the tier's
    /// snapshot as the feed's baseline (`feedsnap:<provider>`, a server-side
    /// `COPY`) when the tier's snapshot still is version `set`, so a replica
    /// whose own baseline lags can diff from it ([`SharedTier::feed_baseline`]).
    Baseline {
        /// The provider.
        provider: String,
        /// The baseline version it must hold.
        expect: String,
        /// Its value afterwards.
        set: String,
    },
    /// Append only if `key`'s value differs from `set`, then set it.
    Changes {
        /// The guarded key's name under the prefix.
        key: String,
        /// The new value.
        set: String,
    },
}

/// What [`SharedTier::feed_append`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AppendOutcome {
    /// Appended; the ids Redis gave, in order.
    Appended(Vec<String>),
    /// The guard refused; the key's value now (`""`: missing).
    Refused(String),
}

/// What [`SharedTier::feed_range_after`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RangeAfter {
    /// Whether everything after the id is still in the stream: the id is an
    /// entry, the newest ever added, or `0-0` while nothing was trimmed.
    pub resumable: bool,
    /// The oldest entry's id, if the stream has one.
    pub first: Option<String>,
    /// The newest id ever added (`0-0` for a new or missing stream).
    pub last: String,
    /// The entries after the id, oldest first (empty when not resumable).
    pub entries: Vec<StreamEntry>,
}

const APPEND: &str = r#"
-- KEYS: stream, guard (or the stream again), [snap, meta, feedsnap].
-- ARGV: maxlen, mode, expect, set, bodies...
local mode = ARGV[2]
if mode ~= 'none' then
  local cur = redis.call('GET', KEYS[2]) or ''
  if mode == 'expect' and cur ~= ARGV[3] then return {'0', cur} end
  if mode == 'changes' and cur == ARGV[4] then return {'0', cur} end
  if ARGV[4] == '' then redis.call('DEL', KEYS[2]) else redis.call('SET', KEYS[2], ARGV[4]) end
  if mode == 'expect' and KEYS[5] then
    if redis.call('HGET', KEYS[4], 'pub') == ARGV[4] and redis.call('EXISTS', KEYS[3]) == 1 then
      redis.call('COPY', KEYS[3], KEYS[5], 'REPLACE')
    else
      redis.call('DEL', KEYS[5])
    end
  end
end
local out = {'1'}
for i = 5, #ARGV do
  out[#out + 1] = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'e', ARGV[i])
end
return out
"#;

const RANGE_AFTER: &str = r#"
-- KEYS: stream. ARGV: id, count. Returns {resumable, first, last, id, body, ...}.
if redis.call('EXISTS', KEYS[1]) == 0 then
  -- Nothing was ever added: only the start resumes (there is nothing to miss).
  if ARGV[1] == '0-0' then return {'1', '', '0-0'} end
  return {'0', '', '0-0'}
end
local info = redis.call('XINFO', 'STREAM', KEYS[1])
local last, first, length, added = '0-0', '', 0, 0
for i = 1, #info, 2 do
  local k, v = info[i], info[i + 1]
  if k == 'last-generated-id' then last = v
  elseif k == 'length' then length = v
  elseif k == 'entries-added' then added = v
  elseif k == 'first-entry' and v then first = v[1] end
end
local id = ARGV[1]
-- Trimming does not record what it dropped (max-deleted-entry-id counts
-- XDEL only), so an id that is no entry resumes only as the newest id, or
-- as the start of a stream that never lost one: a client whose id was
-- trimmed at the very edge gets a reset it could have done without, never
-- a gap.
local ok = id == last or (id == '0-0' and added == length)
  or #redis.call('XRANGE', KEYS[1], id, id) == 1
if not ok then return {'0', first, last} end
local out = {'1', first, last}
for _, e in ipairs(redis.call('XRANGE', KEYS[1], '(' .. id, '+', 'COUNT', ARGV[2])) do
  out[#out + 1] = e[1]
  local body = ''
  for j = 1, #e[2], 2 do if e[2][j] == 'e' then body = e[2][j + 1] end end
  out[#out + 1] = body
end
return out
"#;

const CLAIM: &str = r#"
-- KEYS: stream. ARGV: group, consumer, min idle ms, count.
-- Moves entries idle past min idle to the consumer; answers how many
-- entries other consumers still hold (in flight, or not idle long enough).
redis.call('XAUTOCLAIM', KEYS[1], ARGV[1], ARGV[2], ARGV[3], '0-0', 'COUNT', ARGV[4], 'JUSTID')
local others = 0
local summary = redis.call('XPENDING', KEYS[1], ARGV[1])
if summary[4] then
  for _, c in ipairs(summary[4]) do
    if c[1] ~= ARGV[2] then others = others + tonumber(c[2]) end
  end
end
return others
"#;

const TAKE_LEASE: &str = r#"
-- KEYS: lease. ARGV: token, ttl ms. Takes a free lease or renews our own.
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
return 0
"#;

// Built once: a Script hashes its source, and an invocation borrows it.
static APPEND_SCRIPT: LazyLock<redis::Script> = LazyLock::new(|| redis::Script::new(APPEND));
static RANGE_AFTER_SCRIPT: LazyLock<redis::Script> =
    LazyLock::new(|| redis::Script::new(RANGE_AFTER));
static CLAIM_SCRIPT: LazyLock<redis::Script> = LazyLock::new(|| redis::Script::new(CLAIM));
static TAKE_LEASE_SCRIPT: LazyLock<redis::Script> =
    LazyLock::new(|| redis::Script::new(TAKE_LEASE));

impl Keys {
    /// The change feed's stream.
    pub(crate) fn feed(&self) -> String {
        format!("{}:feed", self.tag)
    }
    /// Any key under the prefix.
    pub(crate) fn named(&self, name: &str) -> String {
        format!("{}:{name}", self.tag)
    }
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::BulkString(b) => String::from_utf8(b.clone()).ok(),
        Value::SimpleString(s) => Some(s.clone()),
        Value::Int(n) => Some(n.to_string()),
        Value::Okay => Some("OK".into()),
        _ => None,
    }
}

fn bytes(v: &Value) -> Vec<u8> {
    match v {
        Value::BulkString(b) => b.clone(),
        Value::SimpleString(s) => s.clone().into_bytes(),
        _ => Vec::new(),
    }
}

fn malformed(op: &'static str) -> TierError {
    TierError::Redis {
        op,
        message: "unexpected reply shape".into(),
    }
}

/// `[id, [field, value, ...]]` entries (XRANGE, XREAD, XREADGROUP).
fn entries(v: &Value) -> Vec<StreamEntry> {
    let Value::Array(list) = v else {
        return Vec::new();
    };
    list.iter()
        .filter_map(|e| {
            let Value::Array(parts) = e else { return None };
            let id = text(parts.first()?)?;
            let mut body = Vec::new();
            if let Some(Value::Array(fields)) = parts.get(1) {
                for pair in fields.chunks(2) {
                    if pair.len() == 2 && text(&pair[0]).as_deref() == Some("e") {
                        body = bytes(&pair[1]);
                    }
                }
            }
            Some(StreamEntry { id, body })
        })
        .collect()
}

/// The entries of an `XREAD` / `XREADGROUP` reply for one stream (nil: none).
fn read_reply(v: &Value) -> Vec<StreamEntry> {
    match v {
        Value::Array(streams) => streams
            .iter()
            .flat_map(|s| match s {
                Value::Array(kv) if kv.len() == 2 => entries(&kv[1]),
                _ => Vec::new(),
            })
            .collect(),
        Value::Map(streams) => streams.iter().flat_map(|(_, v)| entries(v)).collect(),
        _ => Vec::new(),
    }
}

impl SharedTier {
    /// Appends `bodies` (event JSON, in order) to the feed's stream under
    /// `guard`, trimming it to about `maxlen` entries.
    pub async fn feed_append(
        &self,
        guard: &AppendGuard,
        bodies: &[Vec<u8>],
        maxlen: usize,
    ) -> Result<AppendOutcome, TierError> {
        let k = &self.inner.keys;
        let mut inv = APPEND_SCRIPT.prepare_invoke();
        let (mode, key, expect, set) = match guard {
            AppendGuard::None => ("none", k.feed(), "", ""),
            AppendGuard::Baseline {
                provider,
                expect,
                set,
            } => (
                "expect",
                k.named(&format!("feedbase:{provider}")),
                expect.as_str(),
                set.as_str(),
            ),
            AppendGuard::Changes { key, set } => ("changes", k.named(key), "", set.as_str()),
        };
        inv.key(k.feed()).key(key);
        if let AppendGuard::Baseline { provider, .. } = guard {
            inv.key(k.snap(provider))
                .key(k.meta(provider))
                .key(k.named(&format!("feedsnap:{provider}")));
        }
        inv.arg(maxlen.max(1)).arg(mode).arg(expect).arg(set);
        for b in bodies {
            inv.arg(b.as_slice());
        }
        let mut c = self.conn();
        let out: Vec<String> = self
            .call(
                "feed_append",
                self.inner.config.snapshot_timeout(),
                async move { inv.invoke_async(&mut c).await },
            )
            .await?;
        match out.split_first() {
            Some((ok, ids)) if ok == "1" => Ok(AppendOutcome::Appended(ids.to_vec())),
            Some((_, cur)) => Ok(AppendOutcome::Refused(
                cur.first().cloned().unwrap_or_default(),
            )),
            None => Err(malformed("feed_append")),
        }
    }

    /// The feed's baseline snapshot of `provider` (see
    /// [`AppendGuard::Baseline`]), if one is kept.
    pub async fn feed_baseline(
        &self,
        provider: &str,
    ) -> Result<Option<crate::Snapshot>, TierError> {
        let key = self.inner.keys.named(&format!("feedsnap:{provider}"));
        let mut c = self.conn();
        let bytes: Option<Vec<u8>> = self
            .call(
                "feed_baseline",
                self.inner.config.snapshot_timeout(),
                async move { redis::cmd("GET").arg(key).query_async(&mut c).await },
            )
            .await?;
        let Some(bytes) = bytes.filter(|b| !b.is_empty()) else {
            return Ok(None);
        };
        tokio::task::spawn_blocking(move || crate::decode(&bytes))
            .await
            .unwrap_or(Err(crate::CodecError::Corrupt("decoder task failed")))
            .map(Some)
            .map_err(|source| TierError::Codec {
                provider: provider.to_owned(),
                source,
            })
    }

    /// Whether the stream can resume after `id`, and what comes after it
    /// (at most `count` entries).
    pub async fn feed_range_after(&self, id: &str, count: usize) -> Result<RangeAfter, TierError> {
        let mut inv = RANGE_AFTER_SCRIPT.prepare_invoke();
        inv.key(self.inner.keys.feed()).arg(id).arg(count.max(1));
        let mut c = self.conn();
        let out: Vec<Value> = self
            .call(
                "feed_range_after",
                self.inner.config.snapshot_timeout(),
                async move { inv.invoke_async(&mut c).await },
            )
            .await?;
        if out.len() < 3 {
            return Err(malformed("feed_range_after"));
        }
        let first = text(&out[1]).filter(|s| !s.is_empty());
        let entries = out[3..]
            .chunks(2)
            .filter(|p| p.len() == 2)
            .filter_map(|p| {
                Some(StreamEntry {
                    id: text(&p[0])?,
                    body: bytes(&p[1]),
                })
            })
            .collect();
        Ok(RangeAfter {
            resumable: text(&out[0]).as_deref() == Some("1"),
            first,
            last: text(&out[2]).unwrap_or_else(|| "0-0".into()),
            entries,
        })
    }

    /// The newest id ever added to the stream (`0-0` when there is none):
    /// where a reader that wants only new entries starts.
    pub async fn feed_last_id(&self) -> Result<String, TierError> {
        Ok(self.feed_range_after("0-0", 1).await?.last)
    }

    /// A reader following the stream on a connection of its own.
    pub fn feed_reader(&self) -> FeedReader {
        FeedReader {
            tier: self.clone(),
            conn: None,
        }
    }

    /// Creates the consumer group `group` (new entries only: `$`) and the
    /// stream if missing; an existing group is left as it is.
    pub async fn group_create(&self, group: &str) -> Result<(), TierError> {
        let key = self.inner.keys.feed();
        let group = group.to_owned();
        let mut c = self.conn();
        let r = self
            .call("group_create", self.small(), async move {
                let r = redis::cmd("XGROUP")
                    .arg("CREATE")
                    .arg(key)
                    .arg(group)
                    .arg("$")
                    .arg("MKSTREAM")
                    .query_async::<Value>(&mut c)
                    .await;
                match r {
                    Err(e) if e.code() == Some("BUSYGROUP") => Ok(Value::Okay),
                    other => other,
                }
            })
            .await;
        r.map(|_| ())
    }

    /// `XREADGROUP` for `consumer`: `pending = true` reads its own
    /// delivered-but-unacknowledged entries (id `0`), else new ones (`>`).
    pub async fn group_read(
        &self,
        group: &str,
        consumer: &str,
        pending: bool,
        count: usize,
    ) -> Result<Vec<StreamEntry>, TierError> {
        let key = self.inner.keys.feed();
        let mut cmd = redis::cmd("XREADGROUP");
        cmd.arg("GROUP")
            .arg(group)
            .arg(consumer)
            .arg("COUNT")
            .arg(count.max(1))
            .arg("STREAMS")
            .arg(key)
            .arg(if pending { "0" } else { ">" });
        let mut c = self.conn();
        let v: Value = self
            .call(
                "group_read",
                self.inner.config.snapshot_timeout(),
                async move { cmd.query_async(&mut c).await },
            )
            .await?;
        Ok(read_reply(&v))
    }

    /// Acknowledges `ids` in `group` (delivered, dead-lettered or not for it).
    pub async fn group_ack(&self, group: &str, ids: &[String]) -> Result<(), TierError> {
        if ids.is_empty() {
            return Ok(());
        }
        let mut cmd = redis::cmd("XACK");
        cmd.arg(self.inner.keys.feed()).arg(group).arg(ids);
        let mut c = self.conn();
        self.call("group_ack", self.small(), async move {
            cmd.query_async::<i64>(&mut c).await
        })
        .await
        .map(|_| ())
    }

    /// Takes over entries other consumers of `group` left pending for at
    /// least `min_idle` (`XAUTOCLAIM`); answers how many they still hold.
    pub async fn group_claim(
        &self,
        group: &str,
        consumer: &str,
        min_idle: Duration,
        count: usize,
    ) -> Result<u64, TierError> {
        let mut inv = CLAIM_SCRIPT.prepare_invoke();
        inv.key(self.inner.keys.feed())
            .arg(group)
            .arg(consumer)
            .arg(min_idle.as_millis() as u64)
            .arg(count.max(1));
        let mut c = self.conn();
        let n: i64 = self
            .call("group_claim", self.small(), async move {
                inv.invoke_async(&mut c).await
            })
            .await?;
        Ok(n.max(0) as u64)
    }

    /// Takes (or renews) the lease `name` for `token` for `ttl`: `false`
    /// while someone else holds it.
    pub async fn take_named_lease(
        &self,
        name: &str,
        token: &str,
        ttl: Duration,
    ) -> Result<bool, TierError> {
        let mut inv = TAKE_LEASE_SCRIPT.prepare_invoke();
        inv.key(self.inner.keys.named(name))
            .arg(token)
            .arg(ttl.as_millis().max(1) as u64);
        let mut c = self.conn();
        let n: i64 = self
            .call("take_named_lease", self.small(), async move {
                inv.invoke_async(&mut c).await
            })
            .await?;
        Ok(n == 1)
    }

    /// Gives the lease `name` back if `token` still holds it.
    pub async fn release_named_lease(&self, name: &str, token: &str) -> Result<bool, TierError> {
        let mut inv = self.inner.release.prepare_invoke();
        inv.key(self.inner.keys.named(name)).arg(token);
        let mut c = self.conn();
        let n: i64 = self
            .call("release_named_lease", self.small(), async move {
                inv.invoke_async(&mut c).await
            })
            .await?;
        Ok(n == 1)
    }
}

/// Follows the stream with `XREAD BLOCK` on a connection of its own
/// (opened on first use, dropped and reopened after any failure).
pub struct FeedReader {
    tier: SharedTier,
    conn: Option<redis::aio::MultiplexedConnection>,
}

impl std::fmt::Debug for FeedReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FeedReader")
            .field("connected", &self.conn.is_some())
            .finish()
    }
}

impl FeedReader {
    /// The entries after `after`, waiting up to `block` for one; empty
    /// when none came.
    pub async fn read(
        &mut self,
        after: &str,
        block: Duration,
        count: usize,
    ) -> Result<Vec<StreamEntry>, TierError> {
        let inner = &self.tier.inner;
        let timeout = block + inner.config.snapshot_timeout();
        if self.conn.is_none() {
            let cfg = redis::AsyncConnectionConfig::new()
                .set_connection_timeout(Some(inner.config.snapshot_timeout()))
                .set_response_timeout(Some(timeout));
            let client = inner.client.clone();
            let conn = self
                .tier
                .call("feed_read", inner.config.snapshot_timeout(), async move {
                    client
                        .get_multiplexed_async_connection_with_config(&cfg)
                        .await
                })
                .await?;
            self.conn = Some(conn);
        }
        let Some(conn) = self.conn.as_mut() else {
            return Err(malformed("feed_read"));
        };
        let mut cmd = redis::cmd("XREAD");
        cmd.arg("COUNT")
            .arg(count.max(1))
            .arg("BLOCK")
            .arg(block.as_millis().max(1) as u64)
            .arg("STREAMS")
            .arg(inner.keys.feed())
            .arg(after);
        let mut c = conn.clone();
        let r: Result<Value, TierError> = self
            .tier
            .call("feed_read", timeout, async move {
                cmd.query_async(&mut c).await
            })
            .await;
        match r {
            Ok(v) => Ok(read_reply(&v)),
            Err(e) => {
                self.conn = None;
                Err(e)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(s: &str) -> Value {
        Value::BulkString(s.as_bytes().to_vec())
    }

    #[test]
    fn read_replies_are_parsed_in_order_and_nil_is_empty() {
        let entry = |id: &str, body: &str| {
            Value::Array(vec![bulk(id), Value::Array(vec![bulk("e"), bulk(body)])])
        };
        let reply = Value::Array(vec![Value::Array(vec![
            bulk("{p}:feed"),
            Value::Array(vec![entry("1-0", "{\"a\":1}"), entry("1-1", "{}")]),
        ])]);
        let got = read_reply(&reply);
        assert_eq!(
            got,
            [
                StreamEntry {
                    id: "1-0".into(),
                    body: b"{\"a\":1}".to_vec()
                },
                StreamEntry {
                    id: "1-1".into(),
                    body: b"{}".to_vec()
                }
            ]
        );
        assert!(read_reply(&Value::Nil).is_empty());
        // A pending entry trimmed from the stream comes back without fields.
        let trimmed = Value::Array(vec![Value::Array(vec![
            bulk("{p}:feed"),
            Value::Array(vec![Value::Array(vec![bulk("2-0"), Value::Nil])]),
        ])]);
        assert_eq!(read_reply(&trimmed)[0].body, Vec::<u8>::new());
    }
}
