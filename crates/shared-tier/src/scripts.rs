//! The Lua scripts. Each runs atomically on the server, so "compare then
//! write" cannot interleave with another replica's write.
//!
//! Numbers leave Lua through `string.format('%d')`: Lua 5.1 prints numbers
//! with `%.14g`, which would turn a 16-digit version into `1.8e+15`.

/// Shared helper: the next tier-wide version. The counter is seeded from the
/// Redis server's clock (microseconds) when it does not exist, so versions
/// keep growing across a Redis restart without persistence; `base` records
/// the seed, and publishes below it (taken before the restart) are refused.
const NEXT_VERSION: &str = r#"
local function fmt(n) return string.format('%d', n) end
local function next_version(seq, base)
  local v = redis.call('INCR', seq)
  if v == 1 then
    local t = redis.call('TIME')
    local s = t[1] .. string.format('%06d', tonumber(t[2]))
    redis.call('SET', seq, s)
    redis.call('SET', base, s)
    return tonumber(s)
  end
  return v
end
"#;

/// KEYS: seq, base. Returns the version.
pub(crate) fn next_version() -> redis::Script {
    redis::Script::new(&format!(
        "{NEXT_VERSION}\nreturn next_version(KEYS[1], KEYS[2])"
    ))
}

/// KEYS: lease, seq, base. ARGV: token, ttl ms.
/// Returns {1, version} when won, {0, pttl} when held.
pub(crate) fn acquire_lease() -> redis::Script {
    redis::Script::new(&format!(
        "{NEXT_VERSION}
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return {{1, next_version(KEYS[2], KEYS[3])}}
end
return {{0, redis.call('PTTL', KEYS[1])}}"
    ))
}

/// KEYS: lease. ARGV: token. Deletes only our own lease.
pub(crate) const RELEASE_LEASE: &str = r#"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"#;

/// KEYS: lease. ARGV: token, ttl ms. Extends only our own lease.
pub(crate) const EXTEND_LEASE: &str = r#"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"#;

/// KEYS: snap, meta, base, global floor.
/// ARGV: version, ttl ms, bytes, channel, origin, provider.
/// Stores only a version above everything this provider has seen: the highest
/// published (`meta.pub`, kept past the snapshot's TTL), its last
/// invalidation (`meta.floor`) and the last invalidate-all. Returns
/// {1, version} stored, {0, newest} older, {2, base} from before a Redis restart.
pub(crate) const PUBLISH_SNAPSHOT: &str = r#"
local function fmt(n) return string.format('%d', n) end
local v = tonumber(ARGV[1])
local base = tonumber(redis.call('GET', KEYS[3]) or '-1')
if base < 0 or v < base then return {2, base} end
local newest = math.max(
  tonumber(redis.call('HGET', KEYS[2], 'pub') or '0'),
  tonumber(redis.call('HGET', KEYS[2], 'floor') or '0'),
  tonumber(redis.call('GET', KEYS[4]) or '0'))
if v <= newest then return {0, newest} end
redis.call('SET', KEYS[1], ARGV[3], 'PX', ARGV[2])
redis.call('HSET', KEYS[2], 'pub', ARGV[1])
redis.call('PUBLISH', ARGV[4], 's|' .. ARGV[5] .. '|' .. ARGV[1] .. '|' .. ARGV[6])
return {1, v}
"#;

/// KEYS: seq, base, floor target (a provider's meta hash, or the global floor
/// key for all), then the snapshot keys to delete.
/// ARGV: 'p' or '*', channel, origin, provider (or '*').
/// Takes a version, so fetches that started before it can no longer publish.
pub(crate) fn invalidate() -> redis::Script {
    redis::Script::new(&format!(
        "{NEXT_VERSION}
local v = next_version(KEYS[1], KEYS[2])
if ARGV[1] == '*' then
  redis.call('SET', KEYS[3], fmt(v))
else
  redis.call('HSET', KEYS[3], 'floor', fmt(v))
end
for i = 4, #KEYS do redis.call('DEL', KEYS[i]) end
redis.call('PUBLISH', ARGV[2], 'i|' .. ARGV[3] .. '|' .. fmt(v) .. '|' .. ARGV[4])
return v"
    ))
}

/// GCRA. KEYS: the limiter key. ARGV: emission interval (us), burst.
/// Uses the server's clock so every replica agrees on "now".
/// Returns {1, 0} allowed, {0, retry_after_us} limited.
pub(crate) const GCRA: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tolerance = interval * tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local new_tat = tat + interval
local ahead = new_tat - now
if ahead > tolerance then
  return {0, math.ceil(ahead - tolerance)}
end
redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX', math.ceil(ahead / 1000) + 1)
return {1, 0}
"#;

/// KEYS: the cursor key's key. ARGV: a fresh random key.
/// Sets it only if there is none, then returns whichever is stored.
pub(crate) const ESTABLISH_CURSOR_KEY: &str = r#"
redis.call('SET', KEYS[1], ARGV[1], 'NX')
return redis.call('GET', KEYS[1])
"#;

/// KEYS: snap, meta, global floor, lease. ARGV: 'head' (the header bytes
/// only) or 'full'. Returns {bytes or '', lease exists}. A snapshot at or
/// below its provider's invalidation floor is not returned, so an
/// invalidate-all covers providers it could not name and delete.
pub(crate) const READ_SNAPSHOT: &str = r#"
local leased = redis.call('EXISTS', KEYS[4])
local pub = tonumber(redis.call('HGET', KEYS[2], 'pub') or '0')
local floor = math.max(
  tonumber(redis.call('HGET', KEYS[2], 'floor') or '0'),
  tonumber(redis.call('GET', KEYS[3]) or '0'))
if pub <= floor then return {'', leased} end
if ARGV[1] == 'head' then return {redis.call('GETRANGE', KEYS[1], 0, 27), leased} end
return {redis.call('GET', KEYS[1]) or '', leased}
"#;
