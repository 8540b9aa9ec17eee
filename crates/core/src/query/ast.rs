//! The typed query: what the parser produces and adapters may push down.
//! Adapters read `Filter::{field, op, raw}` and `SortKey::{field, direction}`;
//! keep those stable.

use serde::{Deserialize, Serialize};

/// A field of the normalised model a filter or sort can name.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Field {
    /// `id`
    Id,
    /// `provider`
    Provider,
    /// `provider_kind`
    ProviderKind,
    /// `native_id`
    NativeId,
    /// `kind`
    Kind,
    /// `name`
    Name,
    /// `description`
    Description,
    /// `size_bytes`
    SizeBytes,
    /// `status`
    Status,
    /// `bootable`
    Bootable,
    /// `visibility`
    Visibility,
    /// `os.id`
    OsId,
    /// `os.name`
    OsName,
    /// `arch_bits`
    ArchBits,
    /// `zones.id` (matches when any zone matches)
    ZoneId,
    /// `zones.name` (matches when any zone matches)
    ZoneName,
    /// `owner`
    Owner,
    /// `extractable`
    Extractable,
    /// `created_at`
    CreatedAt,
    /// `updated_at`
    UpdatedAt,
    /// `os.family` (recognised)
    OsFamily,
    /// `os.version` (recognised)
    OsVersion,
    /// `arch` (recognised, normalised)
    Arch,
    /// `edition` (recognised)
    Edition,
    /// `labels.<key>`
    Label(String),
}

impl Field {
    /// Every field name but labels, as written in queries.
    pub const NAMES: [&'static str; 24] = [
        "id",
        "provider",
        "provider_kind",
        "native_id",
        "kind",
        "name",
        "description",
        "size_bytes",
        "status",
        "bootable",
        "visibility",
        "os.id",
        "os.name",
        "arch_bits",
        "zones.id",
        "zones.name",
        "owner",
        "extractable",
        "created_at",
        "updated_at",
        "os.family",
        "os.version",
        "arch",
        "edition",
    ];

    /// Parses a field name (`labels.<key>` included); `None` if unknown.
    pub fn from_name(name: &str) -> Option<Field> {
        Some(match name {
            "id" => Field::Id,
            "provider" => Field::Provider,
            "provider_kind" => Field::ProviderKind,
            "native_id" => Field::NativeId,
            "kind" => Field::Kind,
            "name" => Field::Name,
            "description" => Field::Description,
            "size_bytes" => Field::SizeBytes,
            "status" => Field::Status,
            "bootable" => Field::Bootable,
            "visibility" => Field::Visibility,
            "os.id" => Field::OsId,
            "os.name" => Field::OsName,
            "arch_bits" => Field::ArchBits,
            "zones.id" => Field::ZoneId,
            "zones.name" => Field::ZoneName,
            "owner" => Field::Owner,
            "extractable" => Field::Extractable,
            "created_at" => Field::CreatedAt,
            "updated_at" => Field::UpdatedAt,
            "os.family" => Field::OsFamily,
            "os.version" => Field::OsVersion,
            "arch" => Field::Arch,
            "edition" => Field::Edition,
            other => {
                let key = other.strip_prefix("labels.")?;
                if key.is_empty() {
                    return None;
                }
                Field::Label(key.to_owned())
            }
        })
    }

    /// The name as written in queries.
    pub fn name(&self) -> String {
        match self {
            Field::Label(k) => format!("labels.{k}"),
            other => Field::NAMES[other.index()].to_owned(),
        }
    }

    fn index(&self) -> usize {
        match self {
            Field::Id => 0,
            Field::Provider => 1,
            Field::ProviderKind => 2,
            Field::NativeId => 3,
            Field::Kind => 4,
            Field::Name => 5,
            Field::Description => 6,
            Field::SizeBytes => 7,
            Field::Status => 8,
            Field::Bootable => 9,
            Field::Visibility => 10,
            Field::OsId => 11,
            Field::OsName => 12,
            Field::ArchBits => 13,
            Field::ZoneId => 14,
            Field::ZoneName => 15,
            Field::Owner => 16,
            Field::Extractable => 17,
            Field::CreatedAt => 18,
            Field::UpdatedAt => 19,
            Field::OsFamily => 20,
            Field::OsVersion => 21,
            Field::Arch => 22,
            Field::Edition => 23,
            Field::Label(_) => usize::MAX,
        }
    }
}

/// A filter operator (the VSS grammar).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    /// `eq`
    Eq,
    /// `ne`
    Ne,
    /// `lt`
    Lt,
    /// `le`
    Le,
    /// `gt`
    Gt,
    /// `ge`
    Ge,
    /// `like`: `%` any run, `_` one character, case-insensitive.
    Like,
    /// `in`: `|`-separated values.
    In,
}

impl Op {
    /// Parses an operator name.
    pub fn from_name(name: &str) -> Option<Op> {
        Some(match name {
            "eq" => Op::Eq,
            "ne" => Op::Ne,
            "lt" => Op::Lt,
            "le" => Op::Le,
            "gt" => Op::Gt,
            "ge" => Op::Ge,
            "like" => Op::Like,
            "in" => Op::In,
            _ => return None,
        })
    }

    /// The operator name.
    pub fn name(self) -> &'static str {
        match self {
            Op::Eq => "eq",
            Op::Ne => "ne",
            Op::Lt => "lt",
            Op::Le => "le",
            Op::Gt => "gt",
            Op::Ge => "ge",
            Op::Like => "like",
            Op::In => "in",
        }
    }
}

/// One `field,op,value` condition.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Filter {
    /// The field it tests.
    pub field: Field,
    /// The operator.
    pub op: Op,
    /// The value exactly as given (for `in`, still `|`-separated).
    pub raw: String,
}

/// Sort direction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Smallest first.
    Asc,
    /// Largest first.
    Desc,
}

/// One `field,asc|desc` sort key.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SortKey {
    /// The field.
    pub field: Field,
    /// The direction.
    pub direction: Direction,
}
