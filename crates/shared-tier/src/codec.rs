//! The snapshot wire format: what one provider's normalised listing looks
//! like in Redis.
//!
//! ```text
//! "IGS" | format u8 | version u64 LE | fetched_at: secs i64 LE, nanos u32 LE
//!       | payload length u32 LE (all sections, uncompressed) | chunks u32 LE
//!       | table:  raw length u32 LE | frame length u32 LE | zstd frame
//!       | chunks x (items u32 LE | raw length u32 LE | frame length u32 LE | zstd frame)
//! chunk (decompressed): strings length varint | strings (UTF-8) | items
//! ```
//!
//! The header stays uncompressed so a reader can tell the format and the
//! version before paying for decompression. The table section holds the
//! strings that repeat across a catalogue (provider, zones, OS, owner,
//! labels) and the identity rules' names; each chunk of [`CHUNK_ITEMS`]
//! items is its own zstd frame (level 1, with checksum), so a replica
//! decompresses and decodes the chunks on all its cores.
//!
//! The payload is a hand-rolled varint encoding rather than serde
//! (postcard/bincode): `Iso::raw` is a `serde_json::Value`, which
//! non-self-describing formats cannot decode, and a fixed layout lets us
//! intern strings and drop the global id when it is the one
//! `GlobalId::encode` derives. The recognised image identity (issue 20) is
//! stored, not re-derived: recognising 100k items costs more than decoding
//! them. Every read is bounds-checked: corrupt or foreign bytes come out as
//! a [`CodecError`], never a panic.
//!
//! An item's literal strings (ids, names, descriptions, symbols not in the
//! table) keep their lengths among the item's fields and their bytes in
//! the chunk's string section, in order: the section is checked as UTF-8
//! once, whole, instead of each string apart (a tenth of a decode went to
//! validating short strings one by one).
//!
//! Formats 1 (one frame, no identity) and 2 (strings among the fields) are
//! refused as [`CodecError::UnsupportedFormat`]: the gateway then fetches
//! upstream and publishes format 3 under a newer version.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{LazyLock, Mutex};

use chrono::{DateTime, Utc};
use isogate_core::identity::{Attribute, Evidence, EvidenceList, RuleId, SourceField};
use isogate_core::{
    GlobalId, Iso, ItemKind, Labels, OsRef, ProviderKind, ShortStr, Status, Visibility, ZoneRef,
};

/// The format this build writes and the only one it reads.
pub const FORMAT_VERSION: u8 = 3;
const MAGIC: &[u8; 3] = b"IGS";
const HEADER_LEN: usize = 3 + 1 + 8 + 8 + 4 + 4;
/// A payload larger than this is refused on both sides: a corrupt length
/// must not make a reader allocate gigabytes.
pub const MAX_PAYLOAD: usize = 512 << 20;
/// Items per chunk: 100k items make 25 chunks (~0.8 MB raw each), enough to
/// keep 8 cores busy while a frame stays large enough to compress as well
/// as one frame does (78.2 vs 78.5 B/item measured on the bench catalogue).
pub const CHUNK_ITEMS: usize = 4096;
/// At most this many threads decode one snapshot.
const MAX_THREADS: usize = 8;
/// zstd level 1. On the bench's 100k-item catalogue levels 1 and 3 give the
/// same size and level 1 compresses in half the time; level 9 is 8 % smaller
/// at ~9x the time; lz4_flex is 50 % larger for a decompression only ~15 ms
/// faster, which the decode dwarfs.
const ZSTD_LEVEL: i32 = 1;

/// One provider's listing as shared between replicas.
#[derive(Clone, Debug, PartialEq)]
pub struct Snapshot {
    /// The tier-wide version (see `SharedTier::next_version`); larger is newer.
    pub version: u64,
    /// When the upstream fetch finished (wall clock).
    pub fetched_at: DateTime<Utc>,
    /// Why the listing is known to be incomplete, if it is.
    pub incomplete: Option<String>,
    /// The normalised items, in upstream order.
    pub items: Vec<Iso>,
}

/// The header alone, readable without decompressing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// The format version byte.
    pub format: u8,
    /// The snapshot version.
    pub version: u64,
    /// When the fetch finished.
    pub fetched_at: DateTime<Utc>,
}

/// Why bytes are not a snapshot this build can read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    /// Not a snapshot at all.
    #[error("not an isogate snapshot (bad magic)")]
    BadMagic,
    /// Written by another (older, newer or unknown) build.
    #[error("snapshot format {0} is not supported (this build reads {FORMAT_VERSION})")]
    UnsupportedFormat(u8),
    /// The bytes end early, or a length points past them.
    #[error("snapshot truncated")]
    Truncated,
    /// The compressed frame is damaged.
    #[error("snapshot payload does not decompress: {0}")]
    Decompress(String),
    /// A field holds a value no encoder writes.
    #[error("snapshot corrupt: {0}")]
    Corrupt(&'static str),
    /// The payload is over [`MAX_PAYLOAD`].
    #[error("snapshot payload of {0} bytes is over the limit")]
    TooLarge(usize),
}

/// Reads the header only.
pub fn decode_header(bytes: &[u8]) -> Result<Header, CodecError> {
    if bytes.len() < 4 || &bytes[..3] != MAGIC {
        return Err(if bytes.len() < 4 && MAGIC.starts_with(bytes) {
            CodecError::Truncated
        } else {
            CodecError::BadMagic
        });
    }
    let format = bytes[3];
    if format != FORMAT_VERSION {
        return Err(CodecError::UnsupportedFormat(format));
    }
    if bytes.len() < HEADER_LEN {
        return Err(CodecError::Truncated);
    }
    let version = u64::from_le_bytes(bytes[4..12].try_into().expect("8 bytes"));
    let secs = i64::from_le_bytes(bytes[12..20].try_into().expect("8 bytes"));
    let nanos = u32::from_le_bytes(bytes[20..24].try_into().expect("4 bytes"));
    let fetched_at =
        DateTime::from_timestamp(secs, nanos).ok_or(CodecError::Corrupt("fetch time"))?;
    Ok(Header {
        format,
        version,
        fetched_at,
    })
}

fn zstd_error(e: std::io::Error) -> CodecError {
    CodecError::Decompress(e.to_string())
}

fn compressor() -> Result<zstd::bulk::Compressor<'static>, CodecError> {
    let mut c = zstd::bulk::Compressor::new(ZSTD_LEVEL).map_err(zstd_error)?;
    c.include_checksum(true).map_err(zstd_error)?;
    Ok(c)
}

fn put_u32(out: &mut Vec<u8>, n: usize) -> Result<(), CodecError> {
    let n = u32::try_from(n).map_err(|_| CodecError::TooLarge(n))?;
    out.extend_from_slice(&n.to_le_bytes());
    Ok(())
}

/// Encodes and compresses a snapshot; the chunks are encoded and
/// compressed on all cores.
pub fn encode(snapshot: &Snapshot) -> Result<Vec<u8>, CodecError> {
    let plan = Plan::of(snapshot);
    let table = plan.table_section(snapshot);
    let chunks: Vec<&[Iso]> = snapshot.items.chunks(CHUNK_ITEMS).collect();
    let encoded = par_map(&chunks, compressor, |c, items| {
        let raw = plan.chunk(items);
        let frame = c.compress(&raw).map_err(zstd_error)?;
        Ok((items.len(), raw.len(), frame))
    })?;
    let total = encoded.iter().map(|e| e.1).sum::<usize>() + table.len();
    if total > MAX_PAYLOAD {
        return Err(CodecError::TooLarge(total));
    }
    let table_frame = compressor()?.compress(&table).map_err(zstd_error)?;
    let frames: usize = encoded.iter().map(|e| e.2.len() + 12).sum();
    let mut out = Vec::with_capacity(HEADER_LEN + 12 + table_frame.len() + frames);
    out.extend_from_slice(MAGIC);
    out.push(FORMAT_VERSION);
    out.extend_from_slice(&snapshot.version.to_le_bytes());
    out.extend_from_slice(&snapshot.fetched_at.timestamp().to_le_bytes());
    out.extend_from_slice(&snapshot.fetched_at.timestamp_subsec_nanos().to_le_bytes());
    put_u32(&mut out, total)?;
    put_u32(&mut out, encoded.len())?;
    put_u32(&mut out, table.len())?;
    put_u32(&mut out, table_frame.len())?;
    out.extend_from_slice(&table_frame);
    for (n, raw, frame) in &encoded {
        put_u32(&mut out, *n)?;
        put_u32(&mut out, *raw)?;
        put_u32(&mut out, frame.len())?;
        out.extend_from_slice(frame);
    }
    Ok(out)
}

/// The uncompressed sections, concatenated (for the bench's compressor
/// comparison; not a format anything reads).
#[doc(hidden)]
pub fn encode_payload(s: &Snapshot) -> Vec<u8> {
    let plan = Plan::of(s);
    let mut out = plan.table_section(s);
    for items in s.items.chunks(CHUNK_ITEMS) {
        out.extend_from_slice(&plan.chunk(items));
    }
    out
}

/// Decompresses and decodes a snapshot, its chunks on all cores.
pub fn decode(bytes: &[u8]) -> Result<Snapshot, CodecError> {
    // Snapshots decoding at once share the cores: a replica joining a warm
    // tier loads every provider together, and each on its own thread keeps
    // both cores busy without a helper's chunks being copied into place.
    let share = DecodeShare::enter();
    decode_on(bytes, share.threads())
}

/// How many snapshots are being decoded in this process right now.
static DECODING: AtomicUsize = AtomicUsize::new(0);

/// One decode's share of the cores, for as long as it lives.
struct DecodeShare(usize);

impl DecodeShare {
    fn enter() -> Self {
        DecodeShare(DECODING.fetch_add(1, Ordering::Relaxed) + 1)
    }

    /// The cores divided among the decodes running when this one started.
    fn threads(&self) -> usize {
        threads_among(self.0)
    }
}

/// The threads of one of `decoding` decodes running at once.
fn threads_among(decoding: usize) -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    (cores / decoding.max(1)).clamp(1, MAX_THREADS)
}

impl Drop for DecodeShare {
    fn drop(&mut self) {
        DECODING.fetch_sub(1, Ordering::Relaxed);
    }
}

/// [`decode`] on at most `threads` threads (the bench's one-core figure).
#[doc(hidden)]
pub fn decode_on(bytes: &[u8], threads: usize) -> Result<Snapshot, CodecError> {
    let header = decode_header(bytes)?;
    let mut r = Reader::new(bytes);
    r.pos = 24;
    let total = r.u32()?;
    if total > MAX_PAYLOAD {
        return Err(CodecError::TooLarge(total));
    }
    let n_chunks = r.u32()?;
    let table_raw = r.u32()?;
    let table_frame = r.slice_u32()?;
    // Each chunk's directory entry takes 12 bytes: a corrupt count cannot
    // reserve more than the bytes allow.
    if n_chunks > (bytes.len() - r.pos) / 12 {
        return Err(CodecError::Truncated);
    }
    let mut chunks = Vec::with_capacity(n_chunks);
    let mut sum = table_raw;
    let mut items = 0usize;
    for _ in 0..n_chunks {
        let n = r.u32()?;
        let raw = r.u32()?;
        let frame = r.slice_u32()?;
        // Every item takes at least two bytes (flags, kinds).
        if n > raw / 2 {
            return Err(CodecError::Corrupt("chunk item count"));
        }
        sum = sum.saturating_add(raw);
        items += n;
        chunks.push(Chunk { n, raw, frame });
    }
    if r.pos != bytes.len() {
        return Err(CodecError::Corrupt("trailing bytes"));
    }
    if sum != total {
        return Err(CodecError::Corrupt("payload length"));
    }
    let mut d = ChunkDecoder::new()?;
    let table_bytes = d.decompress(table_frame, table_raw)?.to_vec();
    let mut tr = Reader::new(&table_bytes);
    let incomplete = tr.opt_str()?.map(str::to_owned);
    let n_strings = tr.count()?;
    let mut strings = Vec::with_capacity(n_strings);
    for _ in 0..n_strings {
        strings.push(tr.str()?);
    }
    let n_rules = tr.count()?;
    let mut rules = Vec::with_capacity(n_rules);
    for _ in 0..n_rules {
        let name = static_rule(tr.str()?);
        // Resolved once here, not once per item (most are this build's).
        let id = RuleId::of(&name);
        rules.push((name, id));
    }
    if tr.pos != table_bytes.len() {
        return Err(CodecError::Corrupt("trailing bytes"));
    }
    let statics = strings
        .iter()
        .map(|s| isogate_core::identity::static_value(s))
        .collect();
    let shorts = strings.iter().map(|s| ShortStr::new(s)).collect();
    let table = Table {
        strings,
        shorts,
        statics,
        rules,
    };
    let items = decode_chunks(&chunks, &table, items, d, threads)?;
    Ok(Snapshot {
        version: header.version,
        fetched_at: header.fetched_at,
        incomplete,
        items,
    })
}

struct Chunk<'a> {
    n: usize,
    raw: usize,
    frame: &'a [u8],
}

/// One thread's decompressor and the buffer it reuses for each chunk.
struct ChunkDecoder {
    z: zstd::bulk::Decompressor<'static>,
    buf: Vec<u8>,
}

impl ChunkDecoder {
    fn new() -> Result<Self, CodecError> {
        Ok(ChunkDecoder {
            z: zstd::bulk::Decompressor::new().map_err(zstd_error)?,
            buf: Vec::new(),
        })
    }

    fn decompress(&mut self, frame: &[u8], raw: usize) -> Result<&[u8], CodecError> {
        // The frame states its own size; both must agree before we allocate.
        match zstd::zstd_safe::get_frame_content_size(frame) {
            Ok(Some(n)) if n == raw as u64 => {}
            Ok(_) => return Err(CodecError::Corrupt("payload length")),
            Err(_) => return Err(CodecError::Decompress("bad frame header".into())),
        }
        self.buf.clear();
        self.buf.reserve(raw);
        let n = self
            .z
            .decompress_to_buffer(frame, &mut self.buf)
            .map_err(zstd_error)?;
        if n != raw || self.buf.len() != raw {
            return Err(CodecError::Corrupt("payload length"));
        }
        Ok(&self.buf)
    }

    fn decode_into(
        &mut self,
        c: &Chunk<'_>,
        t: &Table<'_>,
        out: &mut Vec<Iso>,
    ) -> Result<(), CodecError> {
        let buf = self.decompress(c.frame, c.raw)?;
        let mut r = Reader::new(buf);
        let n = r.count()?;
        r.strs = std::str::from_utf8(r.take(n)?).map_err(|_| CodecError::Corrupt("UTF-8"))?;
        out.reserve(c.n);
        for _ in 0..c.n {
            out.push(decode_item(&mut r, t)?);
        }
        if r.pos != buf.len() || r.spos != r.strs.len() {
            return Err(CodecError::Corrupt("trailing bytes"));
        }
        Ok(())
    }
}

fn threads_for(chunks: usize) -> usize {
    std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(MAX_THREADS)
        .min(chunks)
        .max(1)
}

/// Decodes the chunks in order into one vector. The calling thread takes
/// chunks from the front straight into the result, helpers take them from
/// the back into their own vectors (appended at the end), so only the
/// helpers' share is copied, and a helper descheduled on a busy machine
/// delays nothing but its own chunk.
fn decode_chunks(
    chunks: &[Chunk<'_>],
    t: &Table<'_>,
    total: usize,
    mut d: ChunkDecoder,
    max_threads: usize,
) -> Result<Vec<Iso>, CodecError> {
    let mut items = Vec::with_capacity(total);
    let threads = threads_for(chunks.len()).min(max_threads).max(1);
    if threads == 1 {
        for c in chunks {
            d.decode_into(c, t, &mut items)?;
        }
        return Ok(items);
    }
    let next = Mutex::new((0usize, chunks.len()));
    let take = |front: bool| {
        let mut g = next.lock().unwrap_or_else(|p| p.into_inner());
        if g.0 >= g.1 {
            None
        } else if front {
            g.0 += 1;
            Some(g.0 - 1)
        } else {
            g.1 -= 1;
            Some(g.1)
        }
    };
    let failed = AtomicBool::new(false);
    std::thread::scope(|s| {
        let helpers: Vec<_> = (1..threads)
            .map(|_| {
                s.spawn(|| {
                    let mut d = ChunkDecoder::new()?;
                    let mut done = Vec::new();
                    while !failed.load(Ordering::Relaxed) {
                        let Some(i) = take(false) else { break };
                        let mut v = Vec::new();
                        if let Err(e) = d.decode_into(&chunks[i], t, &mut v) {
                            failed.store(true, Ordering::Relaxed);
                            return Err(e);
                        }
                        done.push((i, v));
                    }
                    Ok(done)
                })
            })
            .collect();
        let mut error = None;
        while !failed.load(Ordering::Relaxed) {
            let Some(i) = take(true) else { break };
            if let Err(e) = d.decode_into(&chunks[i], t, &mut items) {
                failed.store(true, Ordering::Relaxed);
                error = Some(e);
            }
        }
        let mut back = Vec::new();
        for h in helpers {
            match h.join() {
                Ok(Ok(done)) => back.extend(done),
                Ok(Err(e)) => {
                    error.get_or_insert(e);
                }
                Err(_) => {
                    error.get_or_insert(CodecError::Corrupt("decoder thread failed"));
                }
            }
        }
        if let Some(e) = error {
            return Err(e);
        }
        back.sort_unstable_by_key(|(i, _)| *i);
        for (_, mut v) in back {
            items.append(&mut v);
        }
        Ok(items)
    })
}

/// `f` over `inputs` on up to all cores, results in input order; `state`
/// builds each thread's reusable state (a compressor).
fn par_map<T: Sync, S, R: Send>(
    inputs: &[T],
    state: impl Fn() -> Result<S, CodecError> + Sync,
    f: impl Fn(&mut S, &T) -> Result<R, CodecError> + Sync,
) -> Result<Vec<R>, CodecError> {
    let threads = threads_for(inputs.len());
    if threads == 1 {
        let mut s = state()?;
        return inputs.iter().map(|i| f(&mut s, i)).collect();
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let done = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut s = state()?;
                    let mut out = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(input) = inputs.get(i) else { break };
                        out.push((i, f(&mut s, input)?));
                    }
                    Ok::<_, CodecError>(out)
                })
            })
            .collect();
        let mut all = Vec::with_capacity(inputs.len());
        for w in workers {
            all.extend(
                w.join()
                    .map_err(|_| CodecError::Corrupt("encoder thread failed"))??,
            );
        }
        Ok::<_, CodecError>(all)
    })?;
    let mut done = done;
    done.sort_unstable_by_key(|(i, _)| *i);
    Ok(done.into_iter().map(|(_, r)| r).collect())
}

/// The rule names of identity evidence are a small closed set (the rule
/// table's patterns), `&'static` in the model. Each distinct name is leaked
/// once per process so decoded evidence borrows it like recognised evidence
/// does, instead of allocating per item; past the cap (only a foreign or
/// corrupt table gets there) names are owned.
fn static_rule(s: &str) -> Cow<'static, str> {
    const CAP: usize = 4096;
    static RULES: LazyLock<Mutex<HashSet<&'static str>>> =
        LazyLock::new(|| Mutex::new(HashSet::new()));
    let mut set = RULES.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(&known) = set.get(s) {
        return Cow::Borrowed(known);
    }
    if set.len() >= CAP || s.len() > 128 {
        return Cow::Owned(s.to_owned());
    }
    let leaked: &'static str = Box::leak(s.to_owned().into_boxed_str());
    set.insert(leaked);
    Cow::Borrowed(leaked)
}

// Item flag bits.
const F_ID_DERIVED: u32 = 1;
const F_DESCRIPTION: u32 = 1 << 1;
const F_SIZE: u32 = 1 << 2;
const F_BOOTABLE: u32 = 1 << 3;
const F_BOOTABLE_TRUE: u32 = 1 << 4;
const F_OS: u32 = 1 << 5;
const F_ARCH: u32 = 1 << 6;
const F_OWNER: u32 = 1 << 7;
const F_EXTRACTABLE: u32 = 1 << 8;
const F_EXTRACTABLE_TRUE: u32 = 1 << 9;
const F_CREATED: u32 = 1 << 10;
const F_UPDATED: u32 = 1 << 11;
const F_RAW: u32 = 1 << 12;
const F_EVIDENCE: u32 = 1 << 13;
const F_ALL: u32 = (1 << 14) - 1;

/// The strings of the interned positions of an item, in writing order.
fn each_sym<'a>(i: &'a Iso, f: &mut impl FnMut(&'a str)) {
    f(&i.provider);
    if let Some(os) = &i.os {
        for s in [
            os.id.as_deref(),
            os.name.as_deref(),
            os.family.as_deref(),
            os.version.as_deref(),
        ]
        .into_iter()
        .flatten()
        {
            f(s);
        }
    }
    if let Some(o) = &i.owner {
        f(o);
    }
    for s in [&i.arch, &i.edition].into_iter().flatten() {
        f(s);
    }
    for z in &i.zones {
        f(&z.id);
        if let Some(n) = &z.name {
            f(n);
        }
    }
    for (k, v) in &i.labels {
        f(k);
        f(v);
    }
}

/// What the whole snapshot's strings come to: those that occur more than
/// once go to the table (by index), the rest inline, so a unique value (a
/// checksum label) is neither stored twice nor allocated twice on decode.
struct Plan<'a> {
    /// Table index of each string stored there.
    index: HashMap<&'a str, u32, foldhash::fast::RandomState>,
    table: Vec<&'a str>,
    rule_index: HashMap<&'a str, u32, foldhash::fast::RandomState>,
    rules: Vec<&'a str>,
}

impl<'a> Plan<'a> {
    fn of(s: &'a Snapshot) -> Self {
        let mut counts: HashMap<&str, u32, foldhash::fast::RandomState> = HashMap::default();
        let mut order = Vec::new();
        let mut rule_index = HashMap::default();
        let mut rules = Vec::new();
        for item in &s.items {
            each_sym(item, &mut |s| {
                let n = counts.entry(s).or_insert(0);
                if *n == 0 {
                    order.push(s);
                }
                *n += 1;
            });
            for (_, _, rule) in item.identity_evidence.iter().flat_map(|l| l.entries()) {
                if !rule_index.contains_key(rule) {
                    rule_index.insert(rule, rules.len() as u32);
                    rules.push(rule);
                }
            }
        }
        let table: Vec<&str> = order.into_iter().filter(|s| counts[s] > 1).collect();
        let index = table
            .iter()
            .enumerate()
            .map(|(i, s)| (*s, i as u32))
            .collect();
        Plan {
            index,
            table,
            rule_index,
            rules,
        }
    }

    fn table_section(&self, s: &Snapshot) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.table.iter().map(|s| s.len() + 2).sum::<usize>());
        put_opt_str(&mut out, s.incomplete.as_deref());
        put_var(&mut out, self.table.len() as u64);
        for s in &self.table {
            put_str(&mut out, s);
        }
        put_var(&mut out, self.rules.len() as u64);
        for s in &self.rules {
            put_str(&mut out, s);
        }
        out
    }

    fn chunk(&self, items: &[Iso]) -> Vec<u8> {
        let mut b = Vec::with_capacity(items.len() * 100);
        let mut strings = Vec::with_capacity(items.len() * 100);
        for item in items {
            self.item(&mut b, &mut strings, item);
        }
        let mut out = Vec::with_capacity(strings.len() + b.len() + 5);
        put_var(&mut out, strings.len() as u64);
        out.extend_from_slice(&strings);
        out.extend_from_slice(&b);
        out
    }

    /// Even: a table index (shifted); odd: an inline string's length (shifted).
    fn sym_code(&self, s: &str) -> u64 {
        match self.index.get(s) {
            Some(&i) => u64::from(i) << 1,
            None => ((s.len() as u64) << 1) | 1,
        }
    }

    /// The code here, an inline string's bytes to the string section.
    fn put_sym(&self, b: &mut Vec<u8>, strings: &mut Vec<u8>, s: &str) {
        let code = self.sym_code(s);
        put_var(b, code);
        if code & 1 == 1 {
            strings.extend_from_slice(s.as_bytes());
        }
    }

    /// 0 for None, the code + 1 otherwise.
    fn put_opt_sym(&self, b: &mut Vec<u8>, strings: &mut Vec<u8>, s: Option<&str>) {
        match s {
            None => put_var(b, 0),
            Some(s) => {
                let code = self.sym_code(s);
                put_var(b, code + 1);
                if code & 1 == 1 {
                    strings.extend_from_slice(s.as_bytes());
                }
            }
        }
    }

    fn item(&self, b: &mut Vec<u8>, strings: &mut Vec<u8>, i: &Iso) {
        // A literal string: its length here, its bytes to the string section.
        let mut put_lit = |b: &mut Vec<u8>, s: &str| {
            put_var(b, s.len() as u64);
            strings.extend_from_slice(s.as_bytes());
        };
        let mut flags = 0;
        // Only an id that is `provider:native_id` verbatim is left to the
        // reader to derive: one whose native id needs escaping (Cox's
        // slashes) is stored, as reading it back costs less than running
        // the percent-encoder again on every replica that loads it.
        let derived = i.id.len() == i.provider.len() + 1 + i.native_id.len()
            && GlobalId::is_encoding_of(&i.id, &i.provider, &i.native_id);
        for (on, f) in [
            (derived, F_ID_DERIVED),
            (i.description.is_some(), F_DESCRIPTION),
            (i.size_bytes.is_some(), F_SIZE),
            (i.bootable.is_some(), F_BOOTABLE),
            (i.bootable == Some(true), F_BOOTABLE_TRUE),
            (i.os.is_some(), F_OS),
            (i.arch_bits.is_some(), F_ARCH),
            (i.owner.is_some(), F_OWNER),
            (i.extractable.is_some(), F_EXTRACTABLE),
            (i.extractable == Some(true), F_EXTRACTABLE_TRUE),
            (i.created_at.is_some(), F_CREATED),
            (i.updated_at.is_some(), F_UPDATED),
            (i.raw.is_some(), F_RAW),
            (i.identity_evidence.is_some(), F_EVIDENCE),
        ] {
            if on {
                flags |= f;
            }
        }
        put_var(b, u64::from(flags));
        // provider kind (2 bits) | item kind (1) | status (3) | visibility (2)
        let pk = match i.provider_kind {
            ProviderKind::Cloudmc => 0,
            ProviderKind::Vss => 1,
            ProviderKind::Action => 2,
            ProviderKind::Cox => 3,
        };
        let kind = match i.kind {
            ItemKind::Iso => 0,
            ItemKind::Image => 1,
        };
        let status = match i.status {
            Status::Ready => 0,
            Status::Pending => 1,
            Status::Processing => 2,
            Status::Failed => 3,
            Status::Unknown => 4,
        };
        let vis = match i.visibility {
            Visibility::Public => 0,
            Visibility::Private => 1,
            Visibility::Unknown => 2,
        };
        b.push(pk | (kind << 2) | (status << 3) | (vis << 6));
        if !derived {
            put_lit(b, &i.id);
        }
        put_lit(b, &i.native_id);
        put_lit(b, &i.name);
        if let Some(d) = &i.description {
            put_lit(b, d);
        }
        self.put_sym(b, strings, &i.provider);
        if let Some(n) = i.size_bytes {
            put_var(b, n);
        }
        if let Some(os) = &i.os {
            for s in [
                os.id.as_deref(),
                os.name.as_deref(),
                os.family.as_deref(),
                os.version.as_deref(),
            ] {
                self.put_opt_sym(b, strings, s);
            }
        }
        if let Some(a) = i.arch_bits {
            put_var(b, u64::from(a));
        }
        if let Some(o) = &i.owner {
            self.put_sym(b, strings, o);
        }
        if let Some(c) = &i.created_at {
            put_time(b, c);
        }
        if let Some(u) = &i.updated_at {
            put_time(b, u);
        }
        self.put_opt_sym(b, strings, i.arch.as_deref());
        self.put_opt_sym(b, strings, i.edition.as_deref());
        put_var(b, i.zones.len() as u64);
        for z in &i.zones {
            self.put_sym(b, strings, &z.id);
            self.put_opt_sym(b, strings, z.name.as_deref());
        }
        put_var(b, i.labels.len() as u64);
        for (k, v) in &i.labels {
            self.put_sym(b, strings, k);
            self.put_sym(b, strings, v);
        }
        if let Some(ev) = &i.identity_evidence {
            put_var(b, ev.len() as u64);
            for (attribute, field, rule) in ev.entries() {
                let attribute = match attribute {
                    Attribute::Family => 0,
                    Attribute::Version => 1,
                    Attribute::Arch => 2,
                    Attribute::Edition => 3,
                };
                let field = match field {
                    SourceField::Name => 0,
                    SourceField::Path => 1,
                    SourceField::LabelFamily => 2,
                    SourceField::LabelTag => 3,
                    SourceField::Description => 4,
                    SourceField::OsName => 5,
                };
                b.push(attribute | (field << 2));
                put_var(b, u64::from(self.rule_index[rule]));
            }
        }
        if let Some(raw) = &i.raw {
            put_str(b, &raw.to_string());
        }
    }
}

/// The decoded table section.
struct Table<'a> {
    strings: Vec<&'a str>,
    /// The same strings made once: an item's copy of an interned short
    /// one (provider, OS and zone names, versions, labels) is then a
    /// 24-byte copy, not `ShortStr::new`'s length dispatch and `memcpy`.
    shorts: Vec<ShortStr>,
    /// Per string, the rule table's copy when it is a recognised value
    /// (`os.family`, `arch`, `edition`): those borrow it, as recognition does.
    statics: Vec<Option<&'static str>>,
    /// Each rule name with its id in this build's table, if it has one.
    rules: Vec<(Cow<'static, str>, Option<RuleId>)>,
}

fn decode_item(r: &mut Reader<'_>, t: &Table<'_>) -> Result<Iso, CodecError> {
    let flags = r.var()?;
    if flags > u64::from(F_ALL) {
        return Err(CodecError::Corrupt("item flags"));
    }
    let flags = flags as u32;
    let has = |f: u32| flags & f != 0;
    let packed = r.byte()?;
    let provider_kind = match packed & 3 {
        0 => ProviderKind::Cloudmc,
        1 => ProviderKind::Vss,
        2 => ProviderKind::Action,
        _ => ProviderKind::Cox,
    };
    let kind = if packed & 4 == 0 {
        ItemKind::Iso
    } else {
        ItemKind::Image
    };
    let status = match (packed >> 3) & 7 {
        0 => Status::Ready,
        1 => Status::Pending,
        2 => Status::Processing,
        3 => Status::Failed,
        4 => Status::Unknown,
        _ => return Err(CodecError::Corrupt("status")),
    };
    let visibility = match packed >> 6 {
        0 => Visibility::Public,
        1 => Visibility::Private,
        2 => Visibility::Unknown,
        _ => return Err(CodecError::Corrupt("visibility")),
    };
    let id = if has(F_ID_DERIVED) {
        None
    } else {
        Some(r.lit()?.to_owned())
    };
    let native_id = r.lit()?.to_owned();
    let name = r.lit()?.to_owned();
    let description = if has(F_DESCRIPTION) {
        Some(r.lit()?.to_owned())
    } else {
        None
    };
    let provider = r.sym_short(t)?;
    let id = id.unwrap_or_else(|| GlobalId::encode(&provider, &native_id));
    let size_bytes = if has(F_SIZE) { Some(r.var()?) } else { None };
    let bootable = has(F_BOOTABLE).then(|| has(F_BOOTABLE_TRUE));
    let os = if has(F_OS) {
        Some(OsRef {
            id: r.opt_sym(t)?,
            name: r.opt_sym_short(t)?,
            family: r.opt_value(t)?,
            version: r.opt_sym_short(t)?,
        })
    } else {
        None
    };
    let arch_bits = if has(F_ARCH) {
        Some(u32::try_from(r.var()?).map_err(|_| CodecError::Corrupt("arch bits"))?)
    } else {
        None
    };
    let owner = if has(F_OWNER) { Some(r.sym(t)?) } else { None };
    let extractable = has(F_EXTRACTABLE).then(|| has(F_EXTRACTABLE_TRUE));
    let created_at = if has(F_CREATED) {
        Some(r.time()?)
    } else {
        None
    };
    let updated_at = if has(F_UPDATED) {
        Some(r.time()?)
    } else {
        None
    };
    let arch = r.opt_value(t)?;
    let edition = r.opt_value(t)?;
    let n_zones = r.count()?;
    let mut zones = Vec::with_capacity(n_zones);
    for _ in 0..n_zones {
        zones.push(ZoneRef {
            id: r.sym(t)?,
            name: r.opt_sym_short(t)?,
        });
    }
    let n_labels = r.count()?;
    let mut pairs = Vec::with_capacity(n_labels.min(64));
    for _ in 0..n_labels {
        pairs.push((r.sym_short(t)?, r.sym_short(t)?));
    }
    // Written in key order, so taken as they are; anything else (not
    // this encoder's) is sorted, a repeated key's last value kept.
    let labels = Labels::from_sorted(pairs).unwrap_or_else(|pairs| {
        let mut labels = Labels::with_capacity(pairs.len());
        pairs.into_iter().for_each(|(k, v)| {
            labels.set(k, v);
        });
        labels
    });
    let identity_evidence = if has(F_EVIDENCE) {
        let n = r.count()?;
        let mut ev = EvidenceList::new();
        for _ in 0..n {
            let b = r.byte()?;
            let attribute = match b & 3 {
                0 => Attribute::Family,
                1 => Attribute::Version,
                2 => Attribute::Arch,
                _ => Attribute::Edition,
            };
            let field = match b >> 2 {
                0 => SourceField::Name,
                1 => SourceField::Path,
                2 => SourceField::LabelFamily,
                3 => SourceField::LabelTag,
                4 => SourceField::Description,
                5 => SourceField::OsName,
                _ => return Err(CodecError::Corrupt("evidence field")),
            };
            let (rule, id) = t
                .rules
                .get(r.var()? as usize)
                .ok_or(CodecError::Corrupt("rule index"))?;
            match id {
                Some(id) => ev.push_rule(attribute, field, *id),
                None => ev.push(Evidence {
                    attribute,
                    field,
                    rule: rule.clone(),
                }),
            }
        }
        Some(ev)
    } else {
        None
    };
    let raw = if has(F_RAW) {
        let s = r.bytes()?;
        Some(serde_json::from_slice(s).map_err(|_| CodecError::Corrupt("raw JSON"))?)
    } else {
        None
    };
    Ok(Iso {
        id,
        provider,
        provider_kind,
        native_id,
        kind,
        name,
        description,
        size_bytes,
        status,
        bootable,
        visibility,
        os,
        arch_bits,
        arch,
        edition,
        zones,
        owner,
        extractable,
        created_at,
        updated_at,
        labels,
        identity_evidence,
        raw,
    })
}

fn put_var(b: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        b.push((v as u8) | 0x80);
        v >>= 7;
    }
    b.push(v as u8);
}

fn put_str(b: &mut Vec<u8>, s: &str) {
    put_var(b, s.len() as u64);
    b.extend_from_slice(s.as_bytes());
}

fn put_opt_str(b: &mut Vec<u8>, s: Option<&str>) {
    match s {
        None => b.push(0),
        Some(s) => {
            b.push(1);
            put_str(b, s);
        }
    }
}

fn put_time(b: &mut Vec<u8>, t: &DateTime<Utc>) {
    let secs = t.timestamp();
    put_var(b, ((secs << 1) ^ (secs >> 63)) as u64);
    put_var(b, u64::from(t.timestamp_subsec_nanos()));
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    /// A chunk's string section (empty elsewhere), already checked as UTF-8.
    strs: &'a str,
    /// How much of it the literals read so far took.
    spos: usize,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Reader {
            buf,
            pos: 0,
            strs: "",
            spos: 0,
        }
    }
    fn byte(&mut self) -> Result<u8, CodecError> {
        let b = *self.buf.get(self.pos).ok_or(CodecError::Truncated)?;
        self.pos += 1;
        Ok(b)
    }
    fn u32(&mut self) -> Result<usize, CodecError> {
        let end = self.pos.checked_add(4).ok_or(CodecError::Truncated)?;
        let b = self.buf.get(self.pos..end).ok_or(CodecError::Truncated)?;
        self.pos = end;
        Ok(u32::from_le_bytes(b.try_into().expect("4 bytes")) as usize)
    }
    /// A u32 length, then that many bytes.
    fn slice_u32(&mut self) -> Result<&'a [u8], CodecError> {
        let n = self.u32()?;
        self.take(n)
    }
    fn take(&mut self, n: usize) -> Result<&'a [u8], CodecError> {
        let end = self.pos.checked_add(n).ok_or(CodecError::Truncated)?;
        let s = self.buf.get(self.pos..end).ok_or(CodecError::Truncated)?;
        self.pos = end;
        Ok(s)
    }
    fn var(&mut self) -> Result<u64, CodecError> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(CodecError::Corrupt("varint"))
    }
    /// A count of things each at least one byte long: never more than what is left,
    /// so a corrupt count cannot reserve a huge vector.
    fn count(&mut self) -> Result<usize, CodecError> {
        let n = self.var()?;
        if n > (self.buf.len() - self.pos) as u64 {
            return Err(CodecError::Truncated);
        }
        Ok(n as usize)
    }
    /// An item's literal string: its length here, its bytes the next of
    /// the string section (`get` refuses a cut inside a character).
    fn lit(&mut self) -> Result<&'a str, CodecError> {
        let n = self.var()?;
        self.section(n)
    }
    /// The next `n` bytes of the string section.
    fn section(&mut self, n: u64) -> Result<&'a str, CodecError> {
        let n = usize::try_from(n).map_err(|_| CodecError::Truncated)?;
        let end = self.spos.checked_add(n).ok_or(CodecError::Truncated)?;
        let s = self
            .strs
            .get(self.spos..end)
            .ok_or(CodecError::Corrupt("string section"))?;
        self.spos = end;
        Ok(s)
    }
    fn bytes(&mut self) -> Result<&'a [u8], CodecError> {
        let n = self.count()?;
        self.take(n)
    }
    fn str(&mut self) -> Result<&'a str, CodecError> {
        let s = self.bytes()?;
        std::str::from_utf8(s).map_err(|_| CodecError::Corrupt("UTF-8"))
    }
    fn opt_str(&mut self) -> Result<Option<&'a str>, CodecError> {
        match self.byte()? {
            0 => Ok(None),
            1 => Ok(Some(self.str()?)),
            _ => Err(CodecError::Corrupt("option tag")),
        }
    }
    /// An interned-or-inline string (see `Plan::sym_code`), borrowed.
    fn sym_str_of<'s>(&'s mut self, code: u64, t: &'s Table<'_>) -> Result<&'s str, CodecError> {
        if code & 1 == 0 {
            t.strings
                .get((code >> 1) as usize)
                .copied()
                .ok_or(CodecError::Corrupt("string index"))
        } else {
            self.section(code >> 1)
        }
    }
    /// A symbol as a `ShortStr`: an interned one cloned from the table's.
    fn sym_short_of(&mut self, code: u64, t: &Table<'_>) -> Result<ShortStr, CodecError> {
        if code & 1 == 0 {
            t.shorts
                .get((code >> 1) as usize)
                .cloned()
                .ok_or(CodecError::Corrupt("string index"))
        } else {
            self.sym_str_of(code, t).map(ShortStr::new)
        }
    }
    fn sym_short(&mut self, t: &Table<'_>) -> Result<ShortStr, CodecError> {
        let code = self.var()?;
        self.sym_short_of(code, t)
    }
    fn opt_sym_short(&mut self, t: &Table<'_>) -> Result<Option<ShortStr>, CodecError> {
        match self.var()? {
            0 => Ok(None),
            code => self.sym_short_of(code - 1, t).map(Some),
        }
    }
    fn sym_of(&mut self, code: u64, t: &Table<'_>) -> Result<String, CodecError> {
        self.sym_str_of(code, t).map(str::to_owned)
    }
    fn sym(&mut self, t: &Table<'_>) -> Result<String, CodecError> {
        let code = self.var()?;
        self.sym_of(code, t)
    }
    fn opt_sym(&mut self, t: &Table<'_>) -> Result<Option<String>, CodecError> {
        match self.var()? {
            0 => Ok(None),
            code => self.sym_of(code - 1, t).map(Some),
        }
    }
    /// An optional recognised value: borrowed from the rule table when it
    /// is interned and known there, else owned.
    fn opt_value(&mut self, t: &Table<'_>) -> Result<Option<Cow<'static, str>>, CodecError> {
        match self.var()? {
            0 => Ok(None),
            code => {
                let code = code - 1;
                if code & 1 == 0
                    && let Some(Some(known)) = t.statics.get((code >> 1) as usize)
                {
                    return Ok(Some(Cow::Borrowed(known)));
                }
                self.sym_of(code, t).map(|s| Some(Cow::Owned(s)))
            }
        }
    }
    fn time(&mut self) -> Result<DateTime<Utc>, CodecError> {
        let z = self.var()?;
        let secs = ((z >> 1) as i64) ^ -((z & 1) as i64);
        let nanos = u32::try_from(self.var()?).map_err(|_| CodecError::Corrupt("nanos"))?;
        DateTime::from_timestamp(secs, nanos).ok_or(CodecError::Corrupt("timestamp"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_running_together_divide_the_cores_and_give_them_back() {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        // (Not through `DecodeShare(n)`: dropping one made so would
        // uncount a decode that was never counted.)
        assert_eq!(threads_among(1), cores.min(MAX_THREADS));
        assert_eq!(threads_among(2), (cores / 2).max(1));
        assert_eq!(threads_among(cores + 5), 1, "never none");
        // Counted while alive (other tests may decode meanwhile, so only
        // this one's own share is looked at).
        let (a, b) = (DecodeShare::enter(), DecodeShare::enter());
        assert!(a.0 >= 1 && b.0 >= 2, "the second counts the first");
    }
}
