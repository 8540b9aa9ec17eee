//! Keyset cursors: opaque (base64url), tamper-evident (HMAC-SHA256 with a
//! server key) and bound to the query that made them.
//!
//! A cursor holds the last item's sort-key values and id, plus a fingerprint
//! of the query's selection and order (filters, `q`, providers, kinds, sort;
//! not `per_page`, `fields` or `raw`, which may change between pages). The
//! next page is every matching item strictly after that position, so items
//! inserted or removed between requests never make another item repeat or
//! go missing. (An item whose *sort values* change between requests moves in
//! the order, and may then be seen twice or not at all: the nature of keyset
//! paging.)

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::error::QueryError;
use super::parse::Query;
use super::sort::Position;
use super::value::FieldType;
use crate::Iso;

type HmacSha256 = Hmac<Sha256>;

const MAC_LEN: usize = 32;
/// Longer tokens are refused before any decoding work.
const MAX_TOKEN_LEN: usize = 8192;
const VERSION: u8 = 1;

#[derive(Serialize, Deserialize)]
struct Payload {
    /// Format version.
    v: u8,
    /// The query fingerprint (hex, 128 bits).
    f: String,
    /// Sort-key values.
    k: Vec<super::value::Scalar>,
    /// Item id.
    i: String,
}

/// Makes and checks cursors with one server key.
#[derive(Clone)]
pub struct CursorCodec {
    mac: HmacSha256,
}

impl fmt::Debug for CursorCodec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never show the key.
        f.write_str("CursorCodec { .. }")
    }
}

impl CursorCodec {
    /// A codec keyed with `key` (any length; 32 random bytes is right).
    pub fn new(key: &[u8]) -> Self {
        CursorCodec {
            mac: HmacSha256::new_from_slice(key).expect("HMAC takes keys of any length"),
        }
    }

    /// The cursor that continues `query` after `last`.
    pub fn encode(&self, query: &Query, last: &Iso) -> String {
        let pos = Position::of(last, &query.sort);
        let payload = Payload {
            v: VERSION,
            f: query.fingerprint()[..32].to_owned(),
            k: pos.keys,
            i: pos.id,
        };
        // Serialising plain data to JSON cannot fail.
        let mut bytes = serde_json::to_vec(&payload).unwrap_or_default();
        let mut mac = self.mac.clone();
        mac.update(&bytes);
        bytes.extend_from_slice(&mac.finalize().into_bytes());
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// The position `token` stands for, if it was made by this server for
    /// this query; otherwise a [`QueryError`] on `cursor`.
    pub fn decode(&self, token: &str, query: &Query) -> Result<Position, QueryError> {
        const EXPECTED: &str = "the next_cursor of a previous page of this query";
        let err = |msg: &str| QueryError::new("cursor", None, EXPECTED, msg);
        let malformed = || err("found a malformed cursor");
        if token.len() > MAX_TOKEN_LEN {
            return Err(malformed());
        }
        let bytes = URL_SAFE_NO_PAD.decode(token).map_err(|_| malformed())?;
        if bytes.len() <= MAC_LEN {
            return Err(malformed());
        }
        let (payload, tag) = bytes.split_at(bytes.len() - MAC_LEN);
        let mut mac = self.mac.clone();
        mac.update(payload);
        // Constant-time comparison.
        mac.verify_slice(tag)
            .map_err(|_| err("found a cursor that was altered or made with another key"))?;
        let payload: Payload = serde_json::from_slice(payload).map_err(|_| malformed())?;
        if payload.v != VERSION {
            return Err(err("found a cursor of another format version"));
        }
        if payload.f != query.fingerprint()[..32] {
            return Err(err(
                "found a cursor made for a different query (filter, q, provider, kind or sort changed)",
            ));
        }
        let fits = payload.k.len() == query.sort.len()
            && payload
                .k
                .iter()
                .zip(&query.sort)
                .all(|(v, k)| v.as_val().fits(FieldType::of(&k.field)));
        if !fits {
            return Err(malformed());
        }
        Ok(Position {
            keys: payload.k,
            id: payload.i,
        })
    }
}

impl Query {
    /// A hex SHA-256 over what decides which items a query selects and in
    /// which order (filters, `q`, providers, kinds, sort). Queries that differ
    /// only in the order of their filters, providers or kinds share it.
    pub fn fingerprint(&self) -> String {
        let mut h = Sha256::new();
        let mut put = |tag: &str, s: &str| {
            h.update(tag.as_bytes());
            h.update((s.len() as u64).to_le_bytes());
            h.update(s.as_bytes());
        };
        put("v", "1");
        let mut filters: Vec<(String, &str, &str)> = self
            .filters
            .iter()
            .map(|f| (f.field.name(), f.op.name(), f.raw.as_str()))
            .collect();
        filters.sort();
        for (field, op, raw) in &filters {
            put("f", field);
            put("o", op);
            put("r", raw);
        }
        if let Some(q) = &self.q {
            put("q", q);
        }
        let mut providers: Vec<&str> = self.providers.iter().map(String::as_str).collect();
        providers.sort_unstable();
        providers.dedup();
        for p in providers {
            put("p", p);
        }
        let mut kinds: Vec<&str> = self.kinds.iter().map(|k| k.as_str()).collect();
        kinds.sort_unstable();
        kinds.dedup();
        for k in kinds {
            put("k", k);
        }
        for s in &self.sort {
            put("s", &s.field.name());
            put(
                "d",
                match s.direction {
                    super::ast::Direction::Asc => "asc",
                    super::ast::Direction::Desc => "desc",
                },
            );
        }
        hex(&h.finalize())
    }
}

fn hex(bytes: &[u8]) -> String {
    use fmt::Write;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}
