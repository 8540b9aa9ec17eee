//! Upstream shapes, decoded leniently: ids and sizes come as numbers or
//! strings, and any field may be missing.

use serde::Deserialize;
use serde_json::Value;

/// An ISO as `list_iso` (five fields), or `add`/`update`/`upload`/`uploaded`
/// (the full record of the seed's `add` example) give it.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct IsoRecord {
    pub id: Value,
    pub name: Option<String>,
    pub short_name: Option<String>,
    pub iso_name: Option<String>,
    pub description: Option<String>,
    pub admin_only: Option<Value>,
    pub status: Option<String>,
    pub size: Option<Value>,
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
}

/// One `history` entry.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct HistoryItem {
    pub id: Value,
    pub date: Option<String>,
    pub description: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub login: Option<String>,
    pub message: Option<String>,
    pub iso_name: Option<String>,
}

/// A JSON number or numeric string as text (ids), or `None`.
pub(crate) fn id_text(v: &Value) -> Option<String> {
    match v {
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        _ => None,
    }
}

/// A JSON number or numeric string as an unsigned integer.
pub(crate) fn as_u64(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}
