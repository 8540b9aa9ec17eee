//! Upstream shapes, as VSS sends them. Unknown fields are ignored; anything
//! optional upstream is optional here.

use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;

/// `POST /auth/request-token`.
#[derive(Debug, Deserialize)]
pub(crate) struct TokenAnswer {
    pub token: String,
    /// Lifetime in seconds.
    #[serde(default)]
    pub duration: Option<f64>,
    /// Expiry, seconds since the epoch.
    #[serde(default)]
    pub exp: Option<f64>,
}

/// One page of a listing. Items stay unparsed JSON text: each is decoded
/// once, straight into [`IsoDto`] (and into a `Value` only for `raw`).
#[derive(Debug, Deserialize)]
pub(crate) struct Page {
    pub data: Vec<Box<RawValue>>,
    pub meta: Meta,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Meta {
    pub pages: Pages,
}

#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub(crate) struct Pages {
    pub page: u64,
    pub pages: u64,
    pub per_page: u64,
    pub total: u64,
    /// The next page's absolute URL with every parameter; null on the last.
    #[serde(default)]
    pub next_url: Option<String>,
}

/// An expanded ISO.
#[derive(Debug, Deserialize)]
pub(crate) struct IsoDto {
    pub id: Value,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub path: Option<String>,
    #[serde(default)]
    pub public: Option<bool>,
    #[serde(default)]
    pub data_store: Option<String>,
    #[serde(default)]
    pub created_on: Option<String>,
    #[serde(default)]
    pub updated_on: Option<String>,
}

/// `PATCH /v2/user/image/iso`.
#[derive(Debug, Deserialize)]
pub(crate) struct SyncAnswer {
    pub data: SyncData,
}

#[derive(Debug, Deserialize)]
pub(crate) struct SyncData {
    pub request: RequestRef,
}

#[derive(Debug, Deserialize)]
pub(crate) struct RequestRef {
    pub id: Value,
    #[serde(default)]
    pub status: Option<String>,
}

/// `GET /v2/request/image_sync/{id}`.
#[derive(Debug, Deserialize)]
pub(crate) struct RequestAnswer {
    pub data: SyncRequestDto,
}

#[derive(Debug, Deserialize)]
pub(crate) struct SyncRequestDto {
    pub id: Value,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub created_on: Option<String>,
    #[serde(default)]
    pub added: Option<Value>,
    #[serde(default)]
    pub deleted: Option<Value>,
    #[serde(default)]
    pub message: Option<Value>,
}

/// An id as text: VSS sends numbers, but a string is accepted too.
pub(crate) fn id_text(v: &Value) -> Option<String> {
    match v {
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        _ => None,
    }
}
