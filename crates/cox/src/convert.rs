//! Cox images to the normalised model.
//!
//! - `kind = image`, `provider_kind = cox`; the native id is the upstream's
//!   `stackId/family/tag`.
//! - `name` is the `reference` (`cox-edge/ubuntu:v20201110`), else `family:tag`.
//! - `status`: READY, PENDING, PROCESSING, FAILED map to their namesakes;
//!   IMAGE_STATUS_UNKNOWN and anything else to `unknown` with the original in
//!   the label `upstream_status`.
//! - `visibility` [guess]: Cox's default images (slug `cox-edge`) are
//!   `public`, custom stacks' images `private`.
//! - labels: `family`, `tag`, `reference`, `slug`, `stack_id` (when present).
//! - `createdAt` (RFC 3339) -> `created_at`; unparseable -> `None` plus `created_raw`.
//! - Images carry no size, OS, zones, bootable or extractable flag: those stay unknown.
//!
//! Source: Cox's own Go client (coxedge/terraform-provider-coxedge
//! `apiclient`: the image object, ids with `/` concatenated raw) and seed 004.

use isogate_cloudmc::error::decode_error;
use isogate_core::time::parse_or_label;
use isogate_core::{Iso, ItemKind, ProviderKind, Result, Status, Visibility};
use serde::Deserialize;
use serde_json::Value;

use crate::model::ImageDto;

/// The slug of Cox's default images.
pub const SYSTEM_SLUG: &str = "cox-edge";

fn non_empty(s: Option<String>) -> Option<String> {
    s.filter(|s| !s.trim().is_empty())
}

/// One raw image object to the model; `include_raw` keeps `raw`.
pub fn image_from_value(provider: &str, raw: Value, include_raw: bool) -> Result<Iso> {
    let dto = ImageDto::deserialize(&raw).map_err(|e| decode_error("image object", &e))?;
    let family = non_empty(dto.family);
    let tag = non_empty(dto.tag);
    let reference = non_empty(dto.reference);
    let slug = non_empty(dto.slug);
    let name = reference.clone().unwrap_or_else(|| match (&family, &tag) {
        (Some(f), Some(t)) => format!("{f}:{t}"),
        _ => dto.id.clone(),
    });
    let mut iso = Iso::new(provider, ProviderKind::Cox, ItemKind::Image, &dto.id, &name);
    iso.description = non_empty(dto.description);
    let upstream_status = dto.status.unwrap_or_default();
    iso.status = match upstream_status.as_str() {
        "READY" => Status::Ready,
        "PENDING" => Status::Pending,
        "PROCESSING" => Status::Processing,
        "FAILED" => Status::Failed,
        _ => Status::Unknown,
    };
    if iso.status == Status::Unknown {
        iso.labels
            .insert("upstream_status".into(), upstream_status.clone());
    }
    iso.visibility = match slug.as_deref() {
        Some(SYSTEM_SLUG) => Visibility::Public,
        Some(_) => Visibility::Private,
        None => Visibility::Unknown,
    };
    for (key, value) in [
        ("family", family),
        ("tag", tag),
        ("reference", reference),
        ("slug", slug),
        ("stack_id", non_empty(dto.stack_id)),
    ] {
        if let Some(v) = value {
            iso.labels.insert(key.into(), v);
        }
    }
    iso.created_at = parse_or_label(dto.created_at.as_deref(), "created_raw", &mut iso.labels);
    if include_raw {
        iso.raw = Some(raw);
    }
    Ok(iso)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use isogate_core::{ErrorKind, ZoneRef};
    use serde_json::json;

    fn seed_list() -> Value {
        json!([
            {
              "stackId": "a8050b2b-39eb-4929-bce5-1af42055903e",
              "id": "a8050b2b-39eb-4929-bce5-1af42055903e/centos7/v20201110",
              "slug": "cox-edge",
              "family": "centos7",
              "tag": "v20201110",
              "createdAt": "2020-11-10T20:33:32.609434Z",
              "description": "Image using centos7",
              "reference": "cox-edge/centos7:v20201110",
              "status": "READY"
            },
            {
              "stackId": "a8050b2b-39eb-4929-bce5-1af42055903e",
              "id": "a8050b2b-39eb-4929-bce5-1af42055903e/ubuntu/v20201110",
              "slug": "cox-edge",
              "family": "ubuntu",
              "tag": "v20201110",
              "createdAt": "2020-11-10T20:34:11.328575Z",
              "description": "test 2",
              "reference": "cox-edge/ubuntu:v20201110",
              "status": "READY"
            }
        ])
    }

    fn labels(pairs: &[(&str, &str)]) -> isogate_core::Labels {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn the_seed_examples_convert_field_by_field() {
        let raw = seed_list();
        let first = image_from_value("cox-prod", raw[0].clone(), false).unwrap();
        let expected = Iso {
            id: "cox-prod:a8050b2b-39eb-4929-bce5-1af42055903e%2Fcentos7%2Fv20201110".into(),
            provider: "cox-prod".into(),
            provider_kind: ProviderKind::Cox,
            native_id: "a8050b2b-39eb-4929-bce5-1af42055903e/centos7/v20201110".into(),
            kind: ItemKind::Image,
            name: "cox-edge/centos7:v20201110".into(),
            description: Some("Image using centos7".into()),
            size_bytes: None,
            status: Status::Ready,
            bootable: None,
            visibility: Visibility::Public,
            os: None,
            arch_bits: None,
            arch: None,
            edition: None,
            zones: Vec::<ZoneRef>::new(),
            owner: None,
            extractable: None,
            created_at: Some(
                chrono::Utc
                    .with_ymd_and_hms(2020, 11, 10, 20, 33, 32)
                    .unwrap()
                    + chrono::Duration::microseconds(609_434),
            ),
            updated_at: None,
            labels: labels(&[
                ("family", "centos7"),
                ("tag", "v20201110"),
                ("reference", "cox-edge/centos7:v20201110"),
                ("slug", "cox-edge"),
                ("stack_id", "a8050b2b-39eb-4929-bce5-1af42055903e"),
            ]),
            identity_evidence: None,
            raw: None,
        };
        assert_eq!(first, expected);
        let j = serde_json::to_value(&first).unwrap();
        assert_eq!(j["kind"], "image");
        assert_eq!(j["provider_kind"], "cox");
        assert_eq!(j["created_at"], "2020-11-10T20:33:32.609434Z");

        let second = image_from_value("cox-prod", raw[1].clone(), true).unwrap();
        assert_eq!(second.name, "cox-edge/ubuntu:v20201110");
        assert_eq!(second.description.as_deref(), Some("test 2"));
        assert_eq!(second.labels["family"], "ubuntu");
        assert_eq!(second.raw, Some(raw[1].clone()));
    }

    #[test]
    fn statuses_map_and_unknowns_keep_the_original() {
        for (upstream, status) in [
            ("READY", Status::Ready),
            ("PENDING", Status::Pending),
            ("PROCESSING", Status::Processing),
            ("FAILED", Status::Failed),
            ("IMAGE_STATUS_UNKNOWN", Status::Unknown),
            ("DEPRECATED_SOON", Status::Unknown),
        ] {
            let mut v = seed_list()[0].clone();
            v["status"] = json!(upstream);
            let iso = image_from_value("c", v, false).unwrap();
            assert_eq!(iso.status, status, "{upstream}");
            assert_eq!(
                iso.labels.get("upstream_status"),
                (status == Status::Unknown).then_some(upstream)
            );
        }
    }

    #[test]
    fn custom_stacks_are_private_and_bad_dates_are_labelled() {
        let v = json!({"id": "s/f/t", "stackId": "s", "slug": "acme-web", "family": "f",
            "tag": "t", "createdAt": "someday", "status": "READY"});
        let iso = image_from_value("c", v, false).unwrap();
        assert_eq!(iso.visibility, Visibility::Private);
        assert_eq!(iso.name, "f:t");
        assert_eq!(iso.created_at, None);
        assert_eq!(iso.labels["created_raw"], "someday");
        assert_eq!(iso.description, None);
        let e = image_from_value("c", json!({"family": "f"}), false).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Upstream);
        assert!(!e.retryable());
    }
}
