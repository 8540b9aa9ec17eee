//! Upstream ISO -> normalised [`Iso`].
//!
//! - Native ids: a public ISO's is its VSS id (`223`), a personal ISO's is
//!   `personal-<id>` (`personal-223`): the two catalogues are separate
//!   upstream tables whose ids collide, and the prefix keeps them apart in a
//!   `both` listing while a public id stays what VSS itself accepts.
//! - `path`, `data_store` and the catalogue go into labels; `public` into
//!   visibility; `created_on`/`updated_on` (`2020-04-21 Tue 02:10:03 EDT`
//!   today, `2017-11-17 13:51:31 EST` in older answers) to UTC, an
//!   unparseable one becoming `None` plus an `unparsed_<field>` label.
//! - Kind `iso`, status `ready` (VSS lists only registered, usable ISOs),
//!   size unknown. A personal ISO's owner is the store folder in its path.

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc, Weekday};
use isogate_core::time::{parse_timestamp, zone_offset};
use isogate_core::{
    Error, Iso, ItemKind, ProviderKind, Result, Status, Task, TaskError, TaskStatus, Visibility,
};
use serde_json::Value;
use serde_json::value::RawValue;

use crate::model::{IsoDto, SyncRequestDto, id_text};

/// Which catalogue an item came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Source {
    Public,
    Personal,
}

// `/v2/iso` and `/v2/user/image/iso` are separate tables, both numbered from 1
// (the seed's examples and pyvss's `get_isos` merging both lists).
/// The native-id prefix of personal ISOs.
pub(crate) const PERSONAL_PREFIX: &str = "personal-";

impl Source {
    pub fn native_id(self, upstream_id: &str) -> String {
        match self {
            Source::Public => upstream_id.to_owned(),
            Source::Personal => format!("{PERSONAL_PREFIX}{upstream_id}"),
        }
    }

    /// The catalogue and upstream id a native id names; `None` when it is
    /// not one this adapter hands out.
    pub fn parse(native_id: &str) -> Option<(Source, &str)> {
        let (source, id) = match native_id.strip_prefix(PERSONAL_PREFIX) {
            Some(rest) => (Source::Personal, rest),
            None => (Source::Public, native_id),
        };
        let numeric = !id.is_empty() && id.len() <= 19 && id.bytes().all(|b| b.is_ascii_digit());
        numeric.then_some((source, id))
    }

    fn label(self) -> &'static str {
        match self {
            Source::Public => "public",
            Source::Personal => "personal",
        }
    }
}

/// Converts one expanded ISO; `raw` is kept when asked for.
pub(crate) fn iso(provider: &str, source: Source, value: &RawValue, keep_raw: bool) -> Result<Iso> {
    let dto: IsoDto = serde_json::from_str(value.get()).map_err(|_| {
        Error::upstream("VSS listed an ISO that is not an object with an id").with_retryable(false)
    })?;
    let upstream_id = id_text(&dto.id).ok_or_else(|| {
        Error::upstream("VSS listed an ISO whose id is neither a number nor text")
            .with_retryable(false)
    })?;
    let name = dto.name.clone().unwrap_or_default();
    let mut item = Iso::new(
        provider,
        ProviderKind::Vss,
        ItemKind::Iso,
        &source.native_id(&upstream_id),
        &name,
    );
    // VSS lists only registered ISOs, usable for `PATCH /v2/vm/{id}/cd` (the seed).
    item.status = Status::Ready;
    // `public` is a boolean on every expanded ISO (the seed's example object).
    item.visibility = match dto.public {
        Some(true) => Visibility::Public,
        Some(false) => Visibility::Private,
        None => Visibility::Unknown,
    };
    item.labels
        .insert("catalogue".into(), source.label().into());
    item.labels.insert("vss_id".into(), upstream_id);
    if let Some(path) = &dto.path {
        item.labels.insert("path".into(), path.clone());
        if source == Source::Personal {
            item.owner = owner_of(path);
        }
    }
    if let Some(ds) = &dto.data_store {
        item.labels.insert("data_store".into(), ds.clone());
    }
    item.created_at = time(&mut item, "created_on", dto.created_on.as_deref());
    item.updated_at = time(&mut item, "updated_on", dto.updated_on.as_deref());
    if keep_raw {
        item.raw = serde_json::from_str::<Value>(value.get()).ok();
    }
    Ok(item)
}

fn time(item: &mut Iso, field: &str, raw: Option<&str>) -> Option<DateTime<Utc>> {
    let raw = raw?;
    let parsed = vss_time(raw).or_else(|| parse_timestamp(raw));
    if parsed.is_none() {
        item.labels
            .insert(format!("unparsed_{field}"), raw.to_owned());
    }
    parsed
}

/// VSS's own shapes, read without chrono's format parser (it is most of a
/// listing's CPU time in debug builds); same answer as `parse_timestamp`
/// (tested), anything else falls back to it.
// VSS sends `2020-04-21 Tue 02:10:03 EDT` today (vss-cli docs/use.rst raw JSON)
// and sent `2017-03-13 15:24:44 EDT` before (the seed): both are read here.
fn vss_time(s: &str) -> Option<DateTime<Utc>> {
    let b = s.as_bytes();
    let dated = b.len() >= 11 && b[4] == b'-' && b[7] == b'-' && b[10] == b' ';
    if !dated {
        return None;
    }
    // `w` is the width of the weekday token and its space, when present.
    let w = if b.len() >= 15 && b[11..14].iter().all(u8::is_ascii_alphabetic) && b[14] == b' ' {
        4
    } else {
        0
    };
    let shape = b.len() >= 21 + w && b[13 + w] == b':' && b[16 + w] == b':' && b[19 + w] == b' ';
    if !shape {
        return None;
    }
    let num = |from: usize, to: usize| -> Option<u32> {
        let digits = &b[from..to];
        if !digits.iter().all(u8::is_ascii_digit) {
            return None;
        }
        Some(digits.iter().fold(0, |n, d| n * 10 + u32::from(d - b'0')))
    };
    let date = NaiveDate::from_ymd_opt(num(0, 4)? as i32, num(5, 7)?, num(8, 10)?)?;
    if w > 0 {
        let day: Weekday = s.get(11..14)?.parse().ok()?;
        if day != date.weekday() {
            return None;
        }
    }
    let time = NaiveTime::from_hms_opt(
        num(11 + w, 13 + w)?,
        num(14 + w, 16 + w)?,
        num(17 + w, 19 + w)?,
    )?;
    let offset = zone_offset(s.get(20 + w..)?)?;
    offset
        .from_local_datetime(&NaiveDateTime::new(date, time))
        .single()
        .map(|t| t.with_timezone(&Utc))
}

/// An image-sync request as a unified task: `PROCESSED` is succeeded (with
/// `added`/`deleted` as the result), `ERROR`/`ERROR_RETRY`/`Error Processed`/
/// `CANCELLED`/`REFUSED`/`MISSED` failed (with `message.errors`), anything
/// else pending.
pub(crate) fn sync_task(
    provider: &str,
    id: String,
    status: Option<&str>,
    dto: Option<&SyncRequestDto>,
) -> Task {
    let raw_status = status.unwrap_or("SUBMITTED");
    let status = task_status(raw_status);
    let list = |v: Option<&Value>| v.cloned().unwrap_or(Value::Array(Vec::new()));
    let result = (status == TaskStatus::Succeeded).then(|| {
        serde_json::json!({
            "added": list(dto.and_then(|d| d.added.as_ref())),
            "deleted": list(dto.and_then(|d| d.deleted.as_ref())),
        })
    });
    let error = (status == TaskStatus::Failed).then(|| {
        let errors: Vec<&str> = dto
            .and_then(|d| d.message.as_ref())
            .and_then(|m| m.get("errors"))
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        TaskError {
            code: "sync_failed".into(),
            message: if errors.is_empty() {
                format!("the image sync request ended {raw_status}")
            } else {
                errors.join("; ")
            },
        }
    });
    Task {
        id,
        provider: provider.to_owned(),
        operation: "sync".into(),
        status,
        result,
        error,
        created_at: dto
            .and_then(|d| d.created_on.as_deref())
            .and_then(parse_timestamp),
    }
}

// pyvss's `RequestStatus`: PROCESSED ends well; ERROR, ERROR_RETRY and the rest fail.
/// A VSS request status to the unified one; unknown ones are still pending.
fn task_status(s: &str) -> TaskStatus {
    let norm = s.trim().to_ascii_uppercase().replace([' ', '-'], "_");
    match norm.as_str() {
        "PROCESSED" => TaskStatus::Succeeded,
        // pyvss's `RequestStatus` counts ERROR_RETRY among the failed states.
        "ERROR" | "ERROR_RETRY" | "ERROR_PROCESSED" | "CANCELLED" | "REFUSED" | "MISSED" => {
            TaskStatus::Failed
        }
        _ => TaskStatus::Pending,
    }
}

// VSKEY-STOR paths are `[datastore] <username>/<file>` (the seed's `path` example).
/// `[vssUser-xfers] jdoe/file.iso` -> `jdoe`.
fn owner_of(path: &str) -> Option<String> {
    let rest = path.split_once("] ").map_or(path, |(_, r)| r);
    let (owner, _) = rest.split_once('/')?;
    (!owner.is_empty()).then(|| owner.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn iso(provider: &str, source: Source, v: Value, keep_raw: bool) -> Result<Iso> {
        let raw = serde_json::value::to_raw_value(&v).unwrap();
        super::iso(provider, source, &raw, keep_raw)
    }

    #[test]
    fn public_and_personal_isos_normalise() {
        let v = json!({"id": 223, "name": "ubuntu", "path": "[vssUser-xfers] jdoe/ubuntu.iso",
            "public": false, "data_store": "vssUser-xfers",
            "created_on": "2017-11-17 13:51:31 EST", "updated_on": "2017-07-01 13:51:31 EDT"});
        let i = iso("vss", Source::Personal, v.clone(), true).unwrap();
        assert_eq!(i.native_id, "personal-223");
        assert_eq!(i.id, "vss:personal-223");
        assert_eq!(i.visibility, Visibility::Private);
        assert_eq!(i.owner.as_deref(), Some("jdoe"));
        assert_eq!(i.labels["path"], "[vssUser-xfers] jdoe/ubuntu.iso");
        assert_eq!(i.labels["data_store"], "vssUser-xfers");
        assert_eq!(i.labels["catalogue"], "personal");
        assert_eq!(
            i.created_at.unwrap().to_rfc3339(),
            "2017-11-17T18:51:31+00:00"
        );
        assert_eq!(
            i.updated_at.unwrap().to_rfc3339(),
            "2017-07-01T17:51:31+00:00"
        );
        assert_eq!(
            (i.kind, i.provider_kind, i.size_bytes),
            (ItemKind::Iso, ProviderKind::Vss, None)
        );
        assert_eq!(i.raw, Some(v));

        let p = iso(
            "vss",
            Source::Public,
            json!({"id": 7, "name": "x", "public": true, "created_on": "soon"}),
            false,
        )
        .unwrap();
        assert_eq!(p.native_id, "7");
        assert_eq!(p.visibility, Visibility::Public);
        assert_eq!(p.created_at, None);
        assert_eq!(p.labels["unparsed_created_on"], "soon");
        assert!(p.raw.is_none() && p.owner.is_none());

        assert!(iso("vss", Source::Public, json!({"name": "no id"}), false).is_err());
        assert!(iso("vss", Source::Public, json!({"id": null}), false).is_err());
    }

    #[test]
    fn the_fast_path_takes_the_vss_shape() {
        for s in [
            "2017-11-17 13:51:31 EST",
            "2017-07-01 13:51:31 EDT",
            "2024-01-15 10:30:00 UTC",
            "2020-04-21 Tue 02:10:03 EDT",
            "2020-04-21 Tue 02:10:03 AKDT",
            "2020-01-21 Tue 02:10:03 NST",
        ] {
            assert!(vss_time(s).is_some(), "{s}");
            assert_eq!(vss_time(s), parse_timestamp(s));
        }
        for s in [
            "2017-11-17T13:51:31Z",
            "2017-11-17 13:51:31",
            "2017-13-17 13:51:31 EST",
            "2020-04-21 Wed 02:10:03 EDT",
            "2020-04-21 Tue 02:10:03",
        ] {
            assert!(vss_time(s).is_none(), "{s}");
        }
    }

    #[test]
    fn request_statuses_map_to_task_statuses() {
        for (s, want) in [
            ("PROCESSED", TaskStatus::Succeeded),
            ("Processed", TaskStatus::Succeeded),
            ("SUBMITTED", TaskStatus::Pending),
            ("In Progress", TaskStatus::Pending),
            ("IN_PROGRESS", TaskStatus::Pending),
            ("ERROR_RETRY", TaskStatus::Failed),
            ("Error Retry", TaskStatus::Failed),
            ("Error Processed", TaskStatus::Failed),
            ("ERROR", TaskStatus::Failed),
            ("Cancelled", TaskStatus::Failed),
            ("something new", TaskStatus::Pending),
        ] {
            assert_eq!(task_status(s), want, "{s}");
        }
    }

    #[test]
    fn native_ids_parse_back() {
        assert_eq!(Source::parse("223"), Some((Source::Public, "223")));
        assert_eq!(Source::parse("personal-5"), Some((Source::Personal, "5")));
        for bad in [
            "",
            "personal-",
            "abc",
            "12a",
            "-1",
            "personal-x",
            "99999999999999999999",
        ] {
            assert_eq!(Source::parse(bad), None, "{bad}");
        }
    }

    proptest::proptest! {
        #[test]
        fn the_fast_path_agrees_with_parse_timestamp(
            y in 1990u32..2040, mo in 0u32..14, d in 0u32..33, h in 0u32..26, mi in 0u32..61, se in 0u32..62,
            zone in "(EST|EDT|PST|UTC|Z|GMT|NST|HDT|AKST|XYZ|est|\\+0100|-05:00|)",
            day in "(|Mon |Tue |Wed |Thu |Fri |Sat |Sun |Xyz |tue )",
        ) {
            let s = format!("{y:04}-{mo:02}-{d:02} {day}{h:02}:{mi:02}:{se:02} {zone}");
            if let Some(fast) = vss_time(&s) {
                proptest::prop_assert_eq!(Some(fast), parse_timestamp(&s), "{}", s);
            }
        }
    }
}
