//! The snapshot wire format: what one provider's normalised listing looks
//! like in Redis.
//!
//! ```text
//! "IGS" | format u8 | version u64 LE | fetched_at: secs i64 LE, nanos u32 LE
//!       | payload length u32 LE | zstd frame (level 1, with checksum) of the payload
//! ```
//!
//! The header stays uncompressed so a reader can tell the format and the
//! version before paying for decompression. The payload is a hand-rolled
//! varint encoding rather than serde (postcard/bincode): `Iso::raw` is a
//! `serde_json::Value`, which non-self-describing formats cannot decode, and
//! a fixed layout lets us intern the strings that repeat across a catalogue
//! (provider, zones, OS, owner, labels) and drop the global id when it is the
//! one `GlobalId::encode` derives. Every read is bounds-checked: corrupt or
//! foreign bytes come out as a [`CodecError`], never a panic.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use isogate_core::{GlobalId, Iso, ItemKind, OsRef, ProviderKind, Status, Visibility, ZoneRef};

/// The format this build writes and the only one it reads.
pub const FORMAT_VERSION: u8 = 1;
const MAGIC: &[u8; 3] = b"IGS";
const HEADER_LEN: usize = 3 + 1 + 8 + 8 + 4 + 4;
/// A payload larger than this is refused on both sides: a corrupt length
/// must not make a reader allocate gigabytes.
pub const MAX_PAYLOAD: usize = 512 << 20;
/// zstd level 1. On the bench's 100k-item catalogue levels 1 and 3 give the
/// same size (78 B/item) and level 1 compresses in half the time; level 9 is
/// 8 % smaller at ~9x the time; lz4_flex is 50 % larger (118 B/item) for a
/// decompression only ~15 ms faster, which the decode dwarfs.
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
    /// Written by a newer (or unknown) build.
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

/// Encodes and compresses a snapshot.
pub fn encode(snapshot: &Snapshot) -> Result<Vec<u8>, CodecError> {
    let payload = encode_payload(snapshot);
    if payload.len() > MAX_PAYLOAD {
        return Err(CodecError::TooLarge(payload.len()));
    }
    let mut compressor = zstd::bulk::Compressor::new(ZSTD_LEVEL)
        .map_err(|e| CodecError::Decompress(e.to_string()))?;
    compressor
        .include_checksum(true)
        .map_err(|e| CodecError::Decompress(e.to_string()))?;
    let compressed = compressor
        .compress(&payload)
        .map_err(|e| CodecError::Decompress(e.to_string()))?;
    let mut out = Vec::with_capacity(HEADER_LEN + compressed.len());
    out.extend_from_slice(MAGIC);
    out.push(FORMAT_VERSION);
    out.extend_from_slice(&snapshot.version.to_le_bytes());
    out.extend_from_slice(&snapshot.fetched_at.timestamp().to_le_bytes());
    out.extend_from_slice(&snapshot.fetched_at.timestamp_subsec_nanos().to_le_bytes());
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&compressed);
    Ok(out)
}

/// Decompresses and decodes a snapshot.
pub fn decode(bytes: &[u8]) -> Result<Snapshot, CodecError> {
    let header = decode_header(bytes)?;
    let len = u32::from_le_bytes(bytes[24..28].try_into().expect("4 bytes")) as usize;
    if len > MAX_PAYLOAD {
        return Err(CodecError::TooLarge(len));
    }
    let frame = &bytes[HEADER_LEN..];
    // The frame states its own size; both must agree before we allocate.
    match zstd::zstd_safe::get_frame_content_size(frame) {
        Ok(Some(n)) if n == len as u64 => {}
        Ok(_) => return Err(CodecError::Corrupt("payload length")),
        Err(_) => return Err(CodecError::Decompress("bad frame header".into())),
    }
    let payload =
        zstd::bulk::decompress(frame, len).map_err(|e| CodecError::Decompress(e.to_string()))?;
    if payload.len() != len {
        return Err(CodecError::Corrupt("payload length"));
    }
    decode_payload(&payload, header)
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
const F_ALL: u32 = (1 << 13) - 1;

/// The uncompressed payload (public for the bench's codec comparison).
#[doc(hidden)]
pub fn encode_payload(s: &Snapshot) -> Vec<u8> {
    let mut table = Interner::default();
    let mut body = Vec::with_capacity(s.items.len() * 160);
    for item in &s.items {
        encode_item(&mut body, &mut table, item);
    }
    let mut out = Vec::with_capacity(body.len() + table.bytes.len() + 32);
    put_opt_str(&mut out, s.incomplete.as_deref());
    put_var(&mut out, table.count as u64);
    out.extend_from_slice(&table.bytes);
    put_var(&mut out, s.items.len() as u64);
    out.extend_from_slice(&body);
    out
}

fn encode_item(b: &mut Vec<u8>, t: &mut Interner, i: &Iso) {
    let mut flags = 0;
    let derived = is_derived_id(&i.id, &i.provider, &i.native_id);
    if derived {
        flags |= F_ID_DERIVED;
    }
    if i.description.is_some() {
        flags |= F_DESCRIPTION;
    }
    if i.size_bytes.is_some() {
        flags |= F_SIZE;
    }
    match i.bootable {
        Some(true) => flags |= F_BOOTABLE | F_BOOTABLE_TRUE,
        Some(false) => flags |= F_BOOTABLE,
        None => {}
    }
    if i.os.is_some() {
        flags |= F_OS;
    }
    if i.arch_bits.is_some() {
        flags |= F_ARCH;
    }
    if i.owner.is_some() {
        flags |= F_OWNER;
    }
    match i.extractable {
        Some(true) => flags |= F_EXTRACTABLE | F_EXTRACTABLE_TRUE,
        Some(false) => flags |= F_EXTRACTABLE,
        None => {}
    }
    if i.created_at.is_some() {
        flags |= F_CREATED;
    }
    if i.updated_at.is_some() {
        flags |= F_UPDATED;
    }
    if i.raw.is_some() {
        flags |= F_RAW;
    }
    put_var(b, flags as u64);
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
    t.put(b, &i.provider);
    if !derived {
        put_str(b, &i.id);
    }
    put_str(b, &i.native_id);
    put_str(b, &i.name);
    if let Some(d) = &i.description {
        put_str(b, d);
    }
    if let Some(n) = i.size_bytes {
        put_var(b, n);
    }
    if let Some(os) = &i.os {
        t.put_opt(b, os.id.as_deref());
        t.put_opt(b, os.name.as_deref());
    }
    if let Some(a) = i.arch_bits {
        put_var(b, a as u64);
    }
    if let Some(o) = &i.owner {
        t.put(b, o);
    }
    if let Some(c) = &i.created_at {
        put_time(b, c);
    }
    if let Some(u) = &i.updated_at {
        put_time(b, u);
    }
    put_var(b, i.zones.len() as u64);
    for z in &i.zones {
        t.put(b, &z.id);
        t.put_opt(b, z.name.as_deref());
    }
    put_var(b, i.labels.len() as u64);
    for (k, v) in &i.labels {
        t.put(b, k);
        t.put(b, v);
    }
    if let Some(raw) = &i.raw {
        put_str(b, &raw.to_string());
    }
}

fn decode_payload(p: &[u8], h: Header) -> Result<Snapshot, CodecError> {
    let mut r = Reader { buf: p, pos: 0 };
    let incomplete = r.opt_str()?;
    let n_table = r.count()?;
    let mut table = Vec::with_capacity(n_table);
    for _ in 0..n_table {
        table.push(r.str()?);
    }
    let n_items = r.count()?;
    let mut items = Vec::with_capacity(n_items);
    for _ in 0..n_items {
        items.push(decode_item(&mut r, &table)?);
    }
    if r.pos != p.len() {
        return Err(CodecError::Corrupt("trailing bytes"));
    }
    Ok(Snapshot {
        version: h.version,
        fetched_at: h.fetched_at,
        incomplete,
        items,
    })
}

fn decode_item(r: &mut Reader<'_>, t: &[String]) -> Result<Iso, CodecError> {
    let flags = r.var()?;
    if flags > F_ALL as u64 {
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
    let provider = r.interned(t)?;
    let id = if has(F_ID_DERIVED) {
        None
    } else {
        Some(r.str()?)
    };
    let native_id = r.str()?;
    let name = r.str()?;
    let id = id.unwrap_or_else(|| derive_id(&provider, &native_id));
    let description = if has(F_DESCRIPTION) {
        Some(r.str()?)
    } else {
        None
    };
    let size_bytes = if has(F_SIZE) { Some(r.var()?) } else { None };
    let bootable = has(F_BOOTABLE).then(|| has(F_BOOTABLE_TRUE));
    let os = if has(F_OS) {
        Some(OsRef {
            id: r.opt_interned(t)?,
            name: r.opt_interned(t)?,
            // Derived, not stored: see `decode_item`.
            family: None,
            version: None,
        })
    } else {
        None
    };
    let arch_bits = if has(F_ARCH) {
        Some(u32::try_from(r.var()?).map_err(|_| CodecError::Corrupt("arch bits"))?)
    } else {
        None
    };
    let owner = if has(F_OWNER) {
        Some(r.interned(t)?)
    } else {
        None
    };
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
    let n_zones = r.count()?;
    let mut zones = Vec::with_capacity(n_zones);
    for _ in 0..n_zones {
        zones.push(ZoneRef {
            id: r.interned(t)?,
            name: r.opt_interned(t)?,
        });
    }
    let n_labels = r.count()?;
    let mut labels = BTreeMap::new();
    for _ in 0..n_labels {
        let k = r.interned(t)?;
        let v = r.interned(t)?;
        labels.insert(k, v);
    }
    let raw = if has(F_RAW) {
        let s = r.str()?;
        Some(serde_json::from_str(&s).map_err(|_| CodecError::Corrupt("raw JSON"))?)
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
        // The image identity is derived from the fields above by
        // `isogate_core::identity::recognise`, which the gateway runs on every
        // snapshot it keeps: it is not stored, so the format stays as it was.
        arch: None,
        edition: None,
        identity_evidence: None,
        zones,
        owner,
        extractable,
        created_at,
        updated_at,
        labels,
        raw,
    })
}

fn unreserved(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// `GlobalId::encode`, without the percent-encoder's detour for the common
/// native id that needs no escaping (UUIDs, slugs): decoding 100k items
/// spends noticeable time here otherwise.
fn derive_id(provider: &str, native_id: &str) -> String {
    if unreserved(native_id) {
        let mut id = String::with_capacity(provider.len() + 1 + native_id.len());
        id.push_str(provider);
        id.push(':');
        id.push_str(native_id);
        id
    } else {
        GlobalId::encode(provider, native_id)
    }
}

fn is_derived_id(id: &str, provider: &str, native_id: &str) -> bool {
    if unreserved(native_id) {
        id.len() == provider.len() + 1 + native_id.len()
            && id.starts_with(provider)
            && id.as_bytes()[provider.len()] == b':'
            && id.ends_with(native_id)
    } else {
        id == GlobalId::encode(provider, native_id)
    }
}

/// Strings that repeat across a catalogue, written once in a table.
#[derive(Default)]
struct Interner {
    index: HashMap<String, u64, foldhash::fast::RandomState>,
    bytes: Vec<u8>,
    count: usize,
}

impl Interner {
    fn idx(&mut self, s: &str) -> u64 {
        if let Some(&i) = self.index.get(s) {
            return i;
        }
        let i = self.count as u64;
        self.count += 1;
        put_str(&mut self.bytes, s);
        self.index.insert(s.to_owned(), i);
        i
    }
    fn put(&mut self, b: &mut Vec<u8>, s: &str) {
        let i = self.idx(s);
        put_var(b, i);
    }
    /// 0 for None, index + 1 otherwise.
    fn put_opt(&mut self, b: &mut Vec<u8>, s: Option<&str>) {
        match s {
            None => put_var(b, 0),
            Some(s) => {
                let i = self.idx(s);
                put_var(b, i + 1);
            }
        }
    }
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
    put_var(b, t.timestamp_subsec_nanos() as u64);
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn byte(&mut self) -> Result<u8, CodecError> {
        let b = *self.buf.get(self.pos).ok_or(CodecError::Truncated)?;
        self.pos += 1;
        Ok(b)
    }
    fn var(&mut self) -> Result<u64, CodecError> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            v |= ((b & 0x7f) as u64) << shift;
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
    fn str(&mut self) -> Result<String, CodecError> {
        let n = self.count()?;
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        std::str::from_utf8(s)
            .map(str::to_owned)
            .map_err(|_| CodecError::Corrupt("UTF-8"))
    }
    fn opt_str(&mut self) -> Result<Option<String>, CodecError> {
        match self.byte()? {
            0 => Ok(None),
            1 => Ok(Some(self.str()?)),
            _ => Err(CodecError::Corrupt("option tag")),
        }
    }
    fn interned(&mut self, t: &[String]) -> Result<String, CodecError> {
        let i = self.var()?;
        t.get(i as usize)
            .cloned()
            .ok_or(CodecError::Corrupt("string index"))
    }
    fn opt_interned(&mut self, t: &[String]) -> Result<Option<String>, CodecError> {
        match self.var()? {
            0 => Ok(None),
            i => t
                .get((i - 1) as usize)
                .cloned()
                .map(Some)
                .ok_or(CodecError::Corrupt("string index")),
        }
    }
    fn time(&mut self) -> Result<DateTime<Utc>, CodecError> {
        let z = self.var()?;
        let secs = ((z >> 1) as i64) ^ -((z & 1) as i64);
        let nanos = u32::try_from(self.var()?).map_err(|_| CodecError::Corrupt("nanos"))?;
        DateTime::from_timestamp(secs, nanos).ok_or(CodecError::Corrupt("timestamp"))
    }
}
