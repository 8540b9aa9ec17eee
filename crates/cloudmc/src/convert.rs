//! CloudMC ISO objects and tasks to the normalised model.
//!
//! - `ready`: true -> `ready`, false -> `processing` (CloudStack is still
//!   downloading or copying it), absent -> `unknown`.
//! - `availablePublicly`: true -> `public`, false -> `private`, absent (v1) -> `unknown`.
//! - `size`: bytes; `0` (what CloudStack reports before the download ends) -> unknown.
//! - `architectureWidth` (number or numeric string) -> `arch_bits`.
//! - `osTypeId`/`osTypeName` -> `os` (absent when both are empty).
//! - zones: every id of `availableInZones`, then `zoneId` if not already
//!   there; `zoneName` names the zone whose id is `zoneId`. Empty strings are absent.
//! - `created` -> `created_at`; an unparseable value is `None` plus the label
//!   `created_raw`.
//! - Empty `description` -> `None`.
//! - Tasks: `PENDING`/`SUCCESS`/`FAILED` (or `FAILURE`) -> pending/succeeded/
//!   failed; `created` (RFC 3339, or the older 12-hour form) -> `created_at`.
//!
//! Source: the CloudMC docs (cloudops/cloudmc-api-docs `_getting_started.md`:
//! task states and RFC 3339 `created`) and the ISO seeds for the fields.

use isogate_core::time::{parse_or_label, parse_timestamp};
use isogate_core::{
    Iso, ItemKind, OsRef, ProviderKind, Result, Status, Task, TaskError, TaskStatus, Visibility,
    ZoneRef,
};
use serde_json::Value;

use crate::client::{TaskState, UpstreamTask, iso_dto};

fn non_empty(s: Option<String>) -> Option<String> {
    s.filter(|s| !s.trim().is_empty())
}

fn number(v: Option<&Value>) -> Option<u64> {
    match v? {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// One raw ISO object to the model; `include_raw` keeps `raw`.
pub fn iso_from_value(provider: &str, raw: Value, include_raw: bool) -> Result<Iso> {
    let dto = iso_dto(&raw)?;
    let mut iso = Iso::new(
        provider,
        ProviderKind::Cloudmc,
        ItemKind::Iso,
        &dto.id,
        dto.name.as_deref().unwrap_or_default(),
    );
    iso.description = non_empty(dto.description);
    iso.size_bytes = number(dto.size.as_ref()).filter(|n| *n > 0);
    iso.status = match dto.ready {
        Some(true) => Status::Ready,
        Some(false) => Status::Processing,
        None => Status::Unknown,
    };
    iso.bootable = dto.bootable;
    iso.visibility = match dto.available_publicly {
        Some(true) => Visibility::Public,
        Some(false) => Visibility::Private,
        None => Visibility::Unknown,
    };
    let os_id = non_empty(dto.os_type_id);
    let os_name = non_empty(dto.os_type_name);
    if os_id.is_some() || os_name.is_some() {
        iso.os = Some(OsRef {
            id: os_id,
            name: os_name.map(Into::into),
            ..OsRef::default()
        });
    }
    iso.arch_bits = number(dto.architecture_width.as_ref()).and_then(|n| u32::try_from(n).ok());
    let zone_id = non_empty(dto.zone_id);
    let zone_name = non_empty(dto.zone_name);
    let mut ids: Vec<String> = dto
        .available_in_zones
        .unwrap_or_default()
        .into_iter()
        .filter(|z| !z.trim().is_empty())
        .collect();
    if let Some(z) = &zone_id
        && !ids.contains(z)
    {
        ids.push(z.clone());
    }
    let mut zones: Vec<ZoneRef> = Vec::with_capacity(ids.len());
    for id in ids {
        if zones.iter().all(|z| z.id != id) {
            let name = (zone_id.as_deref() == Some(id.as_str()))
                .then(|| zone_name.clone())
                .flatten();
            zones.push(ZoneRef {
                id,
                name: name.map(Into::into),
            });
        }
    }
    iso.zones = zones;
    iso.extractable = dto.extractable;
    iso.created_at = parse_or_label(dto.created.as_deref(), "created_raw", &mut iso.labels);
    if include_raw {
        iso.raw = Some(raw);
    }
    Ok(iso)
}

/// An upstream task to the unified task.
pub fn task_from_upstream(provider: &str, operation: &str, t: UpstreamTask) -> Task {
    let status = match t.state {
        TaskState::Pending => TaskStatus::Pending,
        TaskState::Success => TaskStatus::Succeeded,
        TaskState::Failure => TaskStatus::Failed,
    };
    let error = (status == TaskStatus::Failed).then(|| TaskError {
        code: "upstream_task_failed".into(),
        message: t
            .failure_message()
            .unwrap_or_else(|| "the upstream task failed without a message".into()),
    });
    Task {
        provider: provider.to_owned(),
        operation: operation.to_owned(),
        status,
        result: if status == TaskStatus::Succeeded {
            t.result.clone()
        } else {
            None
        },
        error,
        created_at: t.created.as_deref().and_then(parse_timestamp),
        id: t.id,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use serde_json::json;

    fn seed_v2() -> Value {
        json!({
            "id": "0b3fea04-b1ed-48cf-921d-96795dfe9a81",
            "name": "ubuntu",
            "description": "Example ISO",
            "architectureWidth": 64,
            "size": 52428800,
            "ready": true,
            "bootable": true,
            "availablePublicly": false,
            "extractable": false,
            "osTypeId":"d38dc1d9-dd34-4fdd-8f51-a973f8fe5f3b",
            "osTypeName": "Other (64-bit)",
            "zoneId":"ea901007-056b-4c50-bb3a-2dd635fce2ab",
            "zoneName": "zone1",
            "created": "2017-12-21 4:41:33 PM Z",
            "availableInZones": ["ea901007-056b-4c50-bb3a-2dd635fce2ab"]
        })
    }

    #[test]
    fn the_v2_seed_example_converts_field_by_field() {
        let iso = iso_from_value("coxedge-prod", seed_v2(), false).unwrap();
        let expected = Iso {
            id: "coxedge-prod:0b3fea04-b1ed-48cf-921d-96795dfe9a81".into(),
            provider: "coxedge-prod".into(),
            provider_kind: ProviderKind::Cloudmc,
            native_id: "0b3fea04-b1ed-48cf-921d-96795dfe9a81".into(),
            kind: ItemKind::Iso,
            name: "ubuntu".into(),
            description: Some("Example ISO".into()),
            size_bytes: Some(52_428_800),
            status: Status::Ready,
            bootable: Some(true),
            visibility: Visibility::Private,
            os: Some(OsRef {
                id: Some("d38dc1d9-dd34-4fdd-8f51-a973f8fe5f3b".into()),
                name: Some("Other (64-bit)".into()),
                ..Default::default()
            }),
            arch_bits: Some(64),
            arch: None,
            edition: None,
            zones: vec![ZoneRef {
                id: "ea901007-056b-4c50-bb3a-2dd635fce2ab".into(),
                name: Some("zone1".into()),
            }],
            owner: None,
            extractable: Some(false),
            created_at: Some(
                chrono::Utc
                    .with_ymd_and_hms(2017, 12, 21, 16, 41, 33)
                    .unwrap(),
            ),
            updated_at: None,
            labels: Default::default(),
            identity_evidence: None,
            raw: None,
        };
        assert_eq!(iso, expected);
        // The model's JSON, as DESIGN.md shows it.
        let j = serde_json::to_value(&iso).unwrap();
        assert_eq!(j["created_at"], "2017-12-21T16:41:33Z");
        assert_eq!(j["status"], "ready");
        assert_eq!(j["visibility"], "private");
        let with_raw = iso_from_value("coxedge-prod", seed_v2(), true).unwrap();
        assert_eq!(with_raw.raw, Some(seed_v2()));
    }

    #[test]
    fn the_v1_seed_example_converts_with_unknowns() {
        let v1 = json!({
            "id": "0b3fea04-b1ed-48cf-921d-96795dfe9a81",
            "name": "ubuntu",
            "description": "Example ISO",
            "size": 52428800,
            "ready": true,
            "bootable": true,
            "osTypeId":"d38dc1d9-dd34-4fdd-8f51-a973f8fe5f3b",
            "osTypeName": "Other (64-bit)",
            "zoneId":"ea901007-056b-4c50-bb3a-2dd635fce2ab"
        });
        let iso = iso_from_value("old", v1, false).unwrap();
        assert_eq!(iso.id, "old:0b3fea04-b1ed-48cf-921d-96795dfe9a81");
        assert_eq!(iso.name, "ubuntu");
        assert_eq!(iso.description.as_deref(), Some("Example ISO"));
        assert_eq!(iso.size_bytes, Some(52_428_800));
        assert_eq!(iso.status, Status::Ready);
        assert_eq!(iso.bootable, Some(true));
        assert_eq!(iso.visibility, Visibility::Unknown);
        assert_eq!(
            iso.os.as_ref().and_then(|o| o.name.as_deref()),
            Some("Other (64-bit)")
        );
        assert_eq!(iso.arch_bits, None);
        assert_eq!(
            iso.zones,
            vec![ZoneRef {
                id: "ea901007-056b-4c50-bb3a-2dd635fce2ab".into(),
                name: None
            }]
        );
        assert_eq!(iso.extractable, None);
        assert_eq!(iso.created_at, None);
        assert!(iso.labels.is_empty());
        assert!(iso.raw.is_none());
    }

    #[test]
    fn edge_values_normalise_without_failing() {
        let odd = json!({
            "id": "x", "name": "n", "description": "", "architectureWidth": "32",
            "size": 0, "ready": false, "availablePublicly": true,
            "osTypeId": "", "osTypeName": "", "zoneId": "", "zoneName": "",
            "created": "the day before yesterday",
            "availableInZones": ["z1", "z2", "z1"]
        });
        let iso = iso_from_value("p", odd, false).unwrap();
        assert_eq!(iso.description, None);
        assert_eq!(iso.arch_bits, Some(32));
        assert_eq!(iso.size_bytes, None);
        assert_eq!(iso.status, Status::Processing);
        assert_eq!(iso.visibility, Visibility::Public);
        assert_eq!(iso.os, None);
        assert_eq!(
            iso.zones.iter().map(|z| z.id.as_str()).collect::<Vec<_>>(),
            ["z1", "z2"]
        );
        assert_eq!(iso.created_at, None);
        assert_eq!(iso.labels["created_raw"], "the day before yesterday");
        let no_id = iso_from_value("p", json!({"name": "n"}), false).unwrap_err();
        assert_eq!(no_id.kind(), isogate_core::ErrorKind::Upstream);
        assert!(!no_id.retryable());
    }

    #[test]
    fn tasks_convert_with_the_upstream_failure_message() {
        let failed = UpstreamTask {
            id: "t".into(),
            state: TaskState::Failure,
            created: Some("2017-12-21 4:41:33 PM Z".into()),
            result: Some(json!({"errors":[{"code":2017,"message":"Instance busy"}]})),
        };
        let t = task_from_upstream("p", "attach", failed);
        assert_eq!(t.status, TaskStatus::Failed);
        assert_eq!(t.error.unwrap().message, "Instance busy");
        assert_eq!(t.result, None);
        assert_eq!(t.operation, "attach");
        assert!(t.created_at.is_some());
        let ok = UpstreamTask {
            id: "u".into(),
            state: TaskState::Success,
            created: None,
            result: Some(json!({"url": "http://d/x.iso"})),
        };
        let t = task_from_upstream("p", "download_url", ok);
        assert_eq!(t.status, TaskStatus::Succeeded);
        assert_eq!(t.result.unwrap()["url"], "http://d/x.iso");
        assert_eq!(t.error, None);
    }
}
