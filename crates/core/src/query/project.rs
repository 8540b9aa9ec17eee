//! Sparse projection (`fields=`) and the serialisation of listed items.

use serde::ser::{Serialize, SerializeMap, Serializer};

use super::parse::{FIELD_NAMES, Query};
use crate::Iso;

/// An item as a listing shows it: only the chosen fields (`id` always, first),
/// and `raw` only when asked for. Serialises straight to the output, without
/// an intermediate `serde_json::Value`.
#[derive(Clone, Copy, Debug)]
pub struct Projected<'a> {
    item: &'a Iso,
    fields: Option<&'a [String]>,
    raw: bool,
}

impl<'a> Projected<'a> {
    /// `item` with `fields` (`None`: every field) and `raw` when `raw` is true
    /// and the item holds it. Unknown names in `fields` are skipped.
    pub fn new(item: &'a Iso, fields: Option<&'a [String]>, raw: bool) -> Self {
        Projected { item, fields, raw }
    }
}

impl Query {
    /// `item` as this query asks to show it (`fields`, `raw`).
    pub fn view<'a>(&'a self, item: &'a Iso) -> Projected<'a> {
        Projected::new(item, self.fields.as_deref(), self.raw)
    }

    /// A page's items as this query asks to show them, ready to serialise as
    /// the listing's `data`.
    pub fn views<'a>(&'a self, items: &[&'a Iso]) -> Vec<Projected<'a>> {
        items.iter().map(|i| self.view(i)).collect()
    }
}

/// `item` reduced to `fields` (plus `id`), as JSON. `raw` appears when listed
/// and the item holds it.
pub fn project(item: &Iso, fields: &[String]) -> serde_json::Value {
    // Serialising the model to a Value cannot fail (string keys, no floats).
    serde_json::to_value(Projected::new(item, Some(fields), true)).unwrap_or_default()
}

impl Serialize for Projected<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("id", &self.item.id)?;
        match self.fields {
            None => {
                for name in &FIELD_NAMES[1..] {
                    self.entry(&mut map, name)?;
                }
            }
            Some(fields) => {
                for name in fields.iter().filter(|n| *n != "id") {
                    self.entry(&mut map, name)?;
                }
            }
        }
        map.end()
    }
}

impl Projected<'_> {
    fn entry<M: SerializeMap>(&self, map: &mut M, name: &str) -> Result<(), M::Error> {
        let i = self.item;
        match name {
            "provider" => map.serialize_entry(name, &i.provider),
            "provider_kind" => map.serialize_entry(name, &i.provider_kind),
            "native_id" => map.serialize_entry(name, &i.native_id),
            "kind" => map.serialize_entry(name, &i.kind),
            "name" => map.serialize_entry(name, &i.name),
            "description" => map.serialize_entry(name, &i.description),
            "size_bytes" => map.serialize_entry(name, &i.size_bytes),
            "status" => map.serialize_entry(name, &i.status),
            "bootable" => map.serialize_entry(name, &i.bootable),
            "visibility" => map.serialize_entry(name, &i.visibility),
            "os" => map.serialize_entry(name, &i.os),
            "arch_bits" => map.serialize_entry(name, &i.arch_bits),
            "arch" => map.serialize_entry(name, &i.arch),
            "edition" => map.serialize_entry(name, &i.edition),
            "zones" => map.serialize_entry(name, &i.zones),
            "owner" => map.serialize_entry(name, &i.owner),
            "extractable" => map.serialize_entry(name, &i.extractable),
            "created_at" => map.serialize_entry(name, &i.created_at),
            "updated_at" => map.serialize_entry(name, &i.updated_at),
            "labels" => map.serialize_entry(name, &i.labels),
            // Like `raw`, only when there is some (most items have none).
            "identity_evidence" => match &i.identity_evidence {
                Some(ev) => map.serialize_entry(name, ev),
                None => Ok(()),
            },
            "raw" => match &i.raw {
                Some(raw) if self.raw => map.serialize_entry(name, raw),
                _ => Ok(()),
            },
            _ => Ok(()),
        }
    }
}
