//! CloudMC's wire types, as received.

use serde::Deserialize;
use serde_json::Value;

/// `{"data": T}`; lists add `metadata.recordCount`, which is not needed
/// (the whole list always comes back).
#[derive(Debug, Deserialize)]
pub(crate) struct DataEnvelope<T> {
    pub data: T,
}

/// A write's answer: a task in the older shape, or `{"data": ...}`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AcceptedBody {
    pub task_id: Option<String>,
    pub task_status: Option<String>,
    pub result: Option<Value>,
    pub data: Option<Value>,
}

/// A task: `{"data":{"id","status","created","result"}}` or
/// `{"taskId","taskStatus","created"?,"result"}`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TaskBody {
    pub data: Option<Value>,
    pub task_id: Option<String>,
    pub task_status: Option<String>,
    pub created: Option<String>,
    pub result: Option<Value>,
}

/// An ISO, v1 or v2 (v1 lacks `architectureWidth`, `availablePublicly`,
/// `extractable`, `zoneName`, `created`, `availableInZones`).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct IsoDto {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    /// Documented as a string, shown as a number: both are accepted.
    #[serde(default)]
    pub architecture_width: Option<Value>,
    #[serde(default)]
    pub size: Option<Value>,
    #[serde(default)]
    pub ready: Option<bool>,
    #[serde(default)]
    pub bootable: Option<bool>,
    #[serde(default)]
    pub available_publicly: Option<bool>,
    #[serde(default)]
    pub extractable: Option<bool>,
    #[serde(default)]
    pub os_type_id: Option<String>,
    #[serde(default)]
    pub os_type_name: Option<String>,
    #[serde(default)]
    pub zone_id: Option<String>,
    #[serde(default)]
    pub zone_name: Option<String>,
    #[serde(default)]
    pub created: Option<String>,
    #[serde(default)]
    pub available_in_zones: Option<Vec<String>>,
}
