//! The typed view of the model the query language works on: each field's
//! type, its value on an item (borrowed, no allocation), and parsing a query
//! value into that type.

use std::cmp::Ordering;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::ast::Field;
use crate::Iso;

/// The type of a field, which decides how its values parse and compare.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldType {
    /// Compared exactly, by byte order (`like` is the case-insensitive test).
    Text,
    /// One of a fixed set of snake_case names, compared as text.
    Enum(&'static [&'static str]),
    /// An unsigned integer.
    Number,
    /// `true` or `false` (`false` sorts first).
    Bool,
    /// A point in time.
    Timestamp,
}

const PROVIDER_KINDS: &[&str] = &["cloudmc", "vss", "action", "cox"];
const KINDS: &[&str] = &["iso", "image"];
const STATUSES: &[&str] = &["ready", "pending", "processing", "failed", "unknown"];
const VISIBILITIES: &[&str] = &["public", "private", "unknown"];

impl FieldType {
    /// The type of `field`.
    pub fn of(field: &Field) -> FieldType {
        match field {
            Field::ProviderKind => FieldType::Enum(PROVIDER_KINDS),
            Field::Kind => FieldType::Enum(KINDS),
            Field::Status => FieldType::Enum(STATUSES),
            Field::Visibility => FieldType::Enum(VISIBILITIES),
            Field::SizeBytes | Field::ArchBits => FieldType::Number,
            Field::Bootable | Field::Extractable => FieldType::Bool,
            Field::CreatedAt | Field::UpdatedAt => FieldType::Timestamp,
            Field::Id
            | Field::Provider
            | Field::NativeId
            | Field::Name
            | Field::Description
            | Field::OsId
            | Field::OsName
            | Field::OsFamily
            | Field::OsVersion
            | Field::Arch
            | Field::Edition
            | Field::ZoneId
            | Field::ZoneName
            | Field::Owner
            | Field::Label(_) => FieldType::Text,
        }
    }

    /// What a value of this type looks like, for error messages.
    pub fn expected(self) -> String {
        match self {
            FieldType::Text => "text".to_owned(),
            FieldType::Enum(names) => format!("one of {}", names.join(",")),
            FieldType::Number => "an unsigned integer".to_owned(),
            FieldType::Bool => "true or false".to_owned(),
            FieldType::Timestamp => {
                "a timestamp (RFC 3339 like 2024-01-15T10:30:00Z, or a date like 2024-01-15)"
                    .to_owned()
            }
        }
    }

    /// Parses a query value of this type; `None` when it is not one.
    ///
    /// Timestamps accept everything [`crate::time::parse_timestamp`] does, plus
    /// a bare date (`2024-01-15`, midnight UTC).
    pub fn parse(self, raw: &str) -> Option<Scalar> {
        Some(match self {
            FieldType::Text => Scalar::Str(raw.to_owned()),
            FieldType::Enum(names) => Scalar::Str(names.iter().find(|n| **n == raw)?.to_string()),
            FieldType::Number => {
                if raw.is_empty() || !raw.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                Scalar::Num(raw.parse().ok()?)
            }
            FieldType::Bool => match raw {
                "true" => Scalar::Bool(true),
                "false" => Scalar::Bool(false),
                _ => return None,
            },
            FieldType::Timestamp => Scalar::Time(parse_time(raw)?),
        })
    }
}

fn parse_time(raw: &str) -> Option<DateTime<Utc>> {
    if let Some(t) = crate::time::parse_timestamp(raw) {
        return Some(t);
    }
    let date = NaiveDate::parse_from_str(raw.trim(), "%Y-%m-%d").ok()?;
    Some(date.and_hms_opt(0, 0, 0)?.and_utc())
}

/// A field's value on one item, borrowed from it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Val<'a> {
    /// The item has no value for the field.
    Null,
    /// Text and enum names.
    Str(&'a str),
    /// Numbers.
    Num(u64),
    /// Booleans.
    Bool(bool),
    /// Timestamps.
    Time(DateTime<Utc>),
}

impl Val<'_> {
    /// The order of two present values of the same type; `None` when either
    /// is `Null` or the types differ.
    #[inline]
    pub fn cmp_present(&self, other: &Val<'_>) -> Option<Ordering> {
        match (self, other) {
            (Val::Str(a), Val::Str(b)) => Some(cmp_bytes(a.as_bytes(), b.as_bytes())),
            (Val::Num(a), Val::Num(b)) => Some(a.cmp(b)),
            (Val::Bool(a), Val::Bool(b)) => Some(a.cmp(b)),
            (Val::Time(a), Val::Time(b)) => Some(a.cmp(b)),
            _ => None,
        }
    }

    /// Whether this value could belong to a field of type `ty`.
    pub fn fits(&self, ty: FieldType) -> bool {
        matches!(
            (self, ty),
            (Val::Null, _)
                | (Val::Str(_), FieldType::Text | FieldType::Enum(_))
                | (Val::Num(_), FieldType::Number)
                | (Val::Bool(_), FieldType::Bool)
                | (Val::Time(_), FieldType::Timestamp)
        )
    }
}

/// Byte order, as `<[u8]>::cmp`, but inline: most strings a listing compares
/// differ in their first eight bytes, where a call to `memcmp` would cost
/// more than the comparison.
#[inline]
pub fn cmp_bytes(a: &[u8], b: &[u8]) -> Ordering {
    let (mut a8, mut b8) = (a.chunks_exact(8), b.chunks_exact(8));
    for (x, y) in (&mut a8).zip(&mut b8) {
        let (x, y) = (word(x), word(y));
        if x != y {
            return x.cmp(&y);
        }
    }
    let n = a.len().min(b.len()) / 8 * 8;
    let (ta, tb) = (&a[n..], &b[n..]);
    for (x, y) in ta.iter().zip(tb) {
        if x != y {
            return x.cmp(y);
        }
    }
    a.len().cmp(&b.len())
}

#[inline]
fn word(bytes: &[u8]) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(bytes);
    // Big-endian, so integer order is byte order.
    u64::from_be_bytes(w)
}

/// An owned value parsed from a query or a cursor.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Scalar {
    /// No value.
    #[serde(rename = "n")]
    Null,
    /// Text and enum names.
    #[serde(rename = "s")]
    Str(String),
    /// Numbers.
    #[serde(rename = "u")]
    Num(u64),
    /// Booleans.
    #[serde(rename = "b")]
    Bool(bool),
    /// Timestamps.
    #[serde(rename = "t")]
    Time(DateTime<Utc>),
}

impl Scalar {
    /// Borrows it as a [`Val`].
    #[inline]
    pub fn as_val(&self) -> Val<'_> {
        match self {
            Scalar::Null => Val::Null,
            Scalar::Str(s) => Val::Str(s),
            Scalar::Num(n) => Val::Num(*n),
            Scalar::Bool(b) => Val::Bool(*b),
            Scalar::Time(t) => Val::Time(*t),
        }
    }

    /// Copies a [`Val`] out.
    pub fn from_val(v: Val<'_>) -> Scalar {
        match v {
            Val::Null => Scalar::Null,
            Val::Str(s) => Scalar::Str(s.to_owned()),
            Val::Num(n) => Scalar::Num(n),
            Val::Bool(b) => Scalar::Bool(b),
            Val::Time(t) => Scalar::Time(t),
        }
    }
}

/// The value of a single-valued `field` on `item`.
///
/// `zones.id` and `zones.name` hold several values; here they yield the
/// smallest (by byte order), which is what sorting uses. Filters test every
/// zone instead (see `CompiledFilter`).
#[inline]
pub fn value_of<'a>(item: &'a Iso, field: &Field) -> Val<'a> {
    fn opt<S: std::ops::Deref<Target = str>>(s: &Option<S>) -> Val<'_> {
        s.as_deref().map_or(Val::Null, Val::Str)
    }
    match field {
        Field::Id => Val::Str(&item.id),
        Field::Provider => Val::Str(&item.provider),
        Field::ProviderKind => Val::Str(item.provider_kind.as_str()),
        Field::NativeId => Val::Str(&item.native_id),
        Field::Kind => Val::Str(item.kind.as_str()),
        Field::Name => Val::Str(&item.name),
        Field::Description => opt(&item.description),
        Field::SizeBytes => item.size_bytes.map_or(Val::Null, Val::Num),
        Field::Status => Val::Str(item.status.as_str()),
        Field::Bootable => item.bootable.map_or(Val::Null, Val::Bool),
        Field::Visibility => Val::Str(item.visibility.as_str()),
        Field::OsId => item.os.as_ref().map_or(Val::Null, |o| opt(&o.id)),
        Field::OsName => item.os.as_ref().map_or(Val::Null, |o| opt(&o.name)),
        Field::ArchBits => item.arch_bits.map_or(Val::Null, |n| Val::Num(u64::from(n))),
        Field::OsFamily => item.os.as_ref().map_or(Val::Null, |o| opt(&o.family)),
        Field::OsVersion => item.os.as_ref().map_or(Val::Null, |o| opt(&o.version)),
        Field::Arch => opt(&item.arch),
        Field::Edition => opt(&item.edition),
        Field::ZoneId => item
            .zones
            .iter()
            .map(|z| z.id.as_str())
            .min()
            .map_or(Val::Null, Val::Str),
        Field::ZoneName => item
            .zones
            .iter()
            .filter_map(|z| z.name.as_deref())
            .min()
            .map_or(Val::Null, Val::Str),
        Field::Owner => opt(&item.owner),
        Field::Extractable => item.extractable.map_or(Val::Null, Val::Bool),
        Field::CreatedAt => item.created_at.map_or(Val::Null, Val::Time),
        Field::UpdatedAt => item.updated_at.map_or(Val::Null, Val::Time),
        Field::Label(key) => item.labels.get(key).map_or(Val::Null, Val::Str),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #[test]
        fn cmp_bytes_is_byte_order(a in proptest::collection::vec(0u8..4, 0..20), b in proptest::collection::vec(0u8..4, 0..20)) {
            proptest::prop_assert_eq!(cmp_bytes(&a, &b), a.cmp(&b));
        }
    }

    #[test]
    fn cmp_bytes_on_long_shared_prefixes() {
        let a = "ubuntu-22.04-server-amd64";
        for b in [
            "ubuntu-22.04-server-amd64",
            "ubuntu-22.04-server-amd6",
            "ubuntu-22.04-server-arm64",
            "ubuntu-22.04-server",
            "",
        ] {
            assert_eq!(cmp_bytes(a.as_bytes(), b.as_bytes()), a.cmp(b), "{b}");
            assert_eq!(cmp_bytes(b.as_bytes(), a.as_bytes()), b.cmp(a), "{b}");
        }
    }
}
