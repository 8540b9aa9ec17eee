//! CloudMC's wire types, as received.

use serde::Deserialize;
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

/// `{"data": T}`; lists add `metadata.recordCount`, which is not needed
/// (the whole list always comes back).
#[derive(Debug, Deserialize)]
pub(crate) struct DataEnvelope<T> {
    pub data: T,
}

/// `{"data": [..]}` whose elements are converted one by one as they are
/// decoded: a listing never holds every raw object at once (22k objects as
/// `Value`s were 45 MB at the peak of a cold load, interleaved in memory with
/// the items that stay).
pub(crate) struct EachData<'a, F, T> {
    /// Converts one raw element.
    pub convert: &'a mut F,
    /// The first conversion error: decoding stops there, and this, not
    /// serde's message, is what the caller reports.
    pub failed: &'a mut Option<isogate_core::Error>,
    pub items: std::marker::PhantomData<T>,
}

impl<'de, F, T> DeserializeSeed<'de> for EachData<'_, F, T>
where
    F: FnMut(Value) -> isogate_core::Result<T>,
{
    type Value = Vec<T>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Vec<T>, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de, F, T> Visitor<'de> for EachData<'_, F, T>
where
    F: FnMut(Value) -> isogate_core::Result<T>,
{
    type Value = Vec<T>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an object with a data array")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Vec<T>, A::Error> {
        let mut items = None;
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            if key == "data" && items.is_none() {
                items = Some(map.next_value_seed(EachElement {
                    convert: &mut *self.convert,
                    failed: &mut *self.failed,
                    items: std::marker::PhantomData,
                })?);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        items.ok_or_else(|| serde::de::Error::missing_field("data"))
    }
}

/// The `data` array of [`EachData`].
struct EachElement<'a, F, T> {
    convert: &'a mut F,
    failed: &'a mut Option<isogate_core::Error>,
    items: std::marker::PhantomData<T>,
}

impl<'de, F, T> DeserializeSeed<'de> for EachElement<'_, F, T>
where
    F: FnMut(Value) -> isogate_core::Result<T>,
{
    type Value = Vec<T>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Vec<T>, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de, F, T> Visitor<'de> for EachElement<'_, F, T>
where
    F: FnMut(Value) -> isogate_core::Result<T>,
{
    type Value = Vec<T>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a sequence")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(raw) = seq.next_element::<Value>()? {
            match (self.convert)(raw) {
                Ok(item) => items.push(item),
                Err(e) => {
                    *self.failed = Some(e);
                    return Err(serde::de::Error::custom(
                        "an element could not be converted",
                    ));
                }
            }
        }
        Ok(items)
    }
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
