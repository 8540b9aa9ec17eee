//! Upstream records and history entries into the normalised model.
//!
//! - name: `iso_name` (the file name, which `mount_iso` and `update` use),
//!   else `name`, else `short_name`; the others go to labels `display_name`
//!   and `short_name`.
//! - `private` holds the owner's email for a private image: owner = it,
//!   visibility private. Null or empty: public. Absent (`list_iso` items):
//!   the caller's default, see [`crate::ActionProvider`].
//! - `status`: Ready/Active/OK -> ready, Pending/Queued/New -> pending,
//!   Processing/Uploading/Downloading/Deleting -> processing, Error/Failed ->
//!   failed, anything else unknown (kept in `labels.upstream_status`); absent
//!   (`list_iso` lists mountable images only) -> ready.
//! - `size` 0 (an upload still in progress) is unknown, not zero bytes.
//! - `created_at`/`updated_at` (RFC 3339) and history `date` ("2024-01-15
//!   10:30:00", read as UTC) through `parse_timestamp`; an unparseable one is
//!   null plus a `*_raw` label.
//! - login answers, callback keys and callback states: see [`login`],
//!   [`callback_key`] and [`callback`]; each follows the live module as its
//!   own client reads it (source: hostkey-cloud/terraform-provider-hostkey
//!   `internal/invapi`, the function named at each).

use isogate_core::time::parse_or_label;
use isogate_core::{
    Error, HistoryEntry, Iso, ItemKind, Labels, ProviderKind, Result, Status, TaskError,
    TaskStatus, Visibility,
};
use serde_json::Value;

use crate::model::{HistoryItem, IsoRecord, as_u64, id_text};

/// The normalised status of an upstream status word.
pub(crate) fn status(word: Option<&str>) -> Status {
    let Some(w) = word.map(str::trim) else {
        return Status::Ready;
    };
    match w.to_ascii_lowercase().as_str() {
        "ready" | "active" | "ok" | "available" => Status::Ready,
        "pending" | "queued" | "new" | "waiting" => Status::Pending,
        "processing" | "uploading" | "downloading" | "deleting" | "in progress" => {
            Status::Processing
        }
        "error" | "failed" | "fail" | "broken" => Status::Failed,
        _ => Status::Unknown,
    }
}

/// One upstream ISO object (`list_iso` item, full record, or both merged).
pub(crate) fn to_iso(
    provider: &str,
    object: &Value,
    absent_private: Visibility,
    include_raw: bool,
) -> Result<Iso> {
    let rec: IsoRecord = serde_json::from_value(object.clone()).map_err(|e| {
        Error::upstream(format!("ISO record could not be decoded: {e}")).with_retryable(false)
    })?;
    let native_id = id_text(&rec.id)
        .ok_or_else(|| Error::upstream("ISO record has no id").with_retryable(false))?;
    let name = non_empty(&rec.iso_name)
        .or(non_empty(&rec.name))
        .or(non_empty(&rec.short_name))
        .unwrap_or(&native_id)
        .to_owned();
    let mut iso = Iso::new(
        provider,
        ProviderKind::Action,
        ItemKind::Iso,
        &native_id,
        &name,
    );
    let labels = &mut iso.labels;
    if let Some(n) = non_empty(&rec.name).filter(|n| *n != name) {
        labels.insert("display_name".into(), n.to_owned());
    }
    if let Some(s) = non_empty(&rec.short_name).filter(|s| *s != name) {
        labels.insert("short_name".into(), s.to_owned());
    }
    if rec.admin_only.as_ref().and_then(as_u64) == Some(1) {
        labels.insert("admin_only".into(), "true".into());
    }
    iso.description = non_empty(&rec.description).map(str::to_owned);
    iso.size_bytes = rec.size.as_ref().and_then(as_u64).filter(|s| *s > 0);
    iso.status = status(rec.status.as_deref());
    if iso.status == Status::Unknown
        && let Some(s) = &rec.status
    {
        iso.labels.insert("upstream_status".into(), s.clone());
    }
    // Read from the object: serde folds an explicit null into `None`.
    (iso.visibility, iso.owner) = match object.get("private") {
        None => (absent_private, None),
        Some(Value::String(email)) if !email.trim().is_empty() => {
            (Visibility::Private, Some(email.trim().to_owned()))
        }
        Some(Value::Null | Value::String(_)) => (Visibility::Public, None),
        Some(Value::Number(n)) if n.as_u64() == Some(0) => (Visibility::Public, None),
        Some(_) => (Visibility::Unknown, None),
    };
    iso.created_at = timestamp(&rec.created_at, "created_at_raw", &mut iso.labels);
    iso.updated_at = timestamp(&rec.updated_at, "updated_at_raw", &mut iso.labels);
    if include_raw {
        iso.raw = Some(object.clone());
    }
    Ok(iso)
}

fn non_empty(s: &Option<String>) -> Option<&str> {
    s.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

fn timestamp(
    raw: &Option<String>,
    label: &str,
    labels: &mut Labels,
) -> Option<chrono::DateTime<chrono::Utc>> {
    parse_or_label(raw.as_deref(), label, labels)
}

/// `history`'s `data` array into entries, oldest first (the module may
/// answer newest first); ties keep the upstream's entry id order.
pub(crate) fn history(data: &Value) -> Result<Vec<HistoryEntry>> {
    let items: Vec<HistoryItem> = match data {
        Value::Null => Vec::new(),
        other => serde_json::from_value(other.clone()).map_err(|e| {
            Error::upstream(format!("history could not be decoded: {e}")).with_retryable(false)
        })?,
    };
    let mut entries: Vec<(Option<u64>, HistoryEntry)> = items
        .into_iter()
        .map(|h| {
            let mut labels = Labels::new();
            let at = timestamp(&h.date, "date_raw", &mut labels);
            if let Some(n) = h.iso_name.filter(|n| !n.is_empty()) {
                labels.insert("iso_name".into(), n);
            }
            if let Some(id) = id_text(&h.id) {
                labels.insert("entry_id".into(), id);
            }
            let message = h.message.filter(|m| !m.is_empty());
            if let Some(d) = h.description.filter(|d| !d.is_empty())
                && message.as_deref() != Some(d.as_str())
            {
                labels.insert("description".into(), d);
            }
            let entry = HistoryEntry {
                at,
                operation: h.kind.unwrap_or_else(|| "unknown".into()),
                actor: h.login.filter(|l| !l.is_empty()),
                message,
                labels,
            };
            (as_u64(&h.id), entry)
        })
        .collect();
    entries.sort_by(|(ia, a), (ib, b)| (a.at, ia).cmp(&(b.at, ib)));
    Ok(entries.into_iter().map(|(_, e)| e).collect())
}

/// What a login answer says.
#[derive(Debug, PartialEq)]
pub(crate) struct Login {
    pub token: String,
    /// Unix time after which the module will refuse the token, if it said.
    pub expires: Option<u64>,
    /// The base URL the account's later calls go to, if the answer named one.
    pub invapi: Option<String>,
}

/// `auth.php`'s answer, top-level (older) or under `result` (newer), each
/// value taken from the top level first, as upstream's `LoginResponse.Normalized` does.
pub(crate) fn login(body: &Value) -> Result<Login> {
    let nested = body.get("result").filter(|r| r.is_object());
    let field = |name: &str| {
        body.get(name)
            .filter(|v| !v.is_null() && v.as_str() != Some("") && v.as_u64() != Some(0))
            .or_else(|| nested.and_then(|r| r.get(name)))
    };
    let token = field("token")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| Error::upstream("login answer holds no token").with_retryable(false))?;
    let expires = field("token_expire").and_then(|v| match v {
        Value::Number(n) => n.as_u64().filter(|e| *e > 0),
        Value::String(s) => s.trim().parse::<u64>().ok().or_else(|| {
            isogate_core::time::parse_timestamp(s).map(|t| t.timestamp().max(0) as u64)
        }),
        _ => None,
    });
    let invapi = field("invapi")
        .and_then(Value::as_str)
        .and_then(invapi_base);
    Ok(Login {
        token: token.to_owned(),
        expires,
        invapi,
    })
}

/// A login answer's `invapi` host as a base URL: a bare host gets
/// `https://` (upstream's `normalizeBaseURL`); anything that is not an
/// http(s) URL with a host and without credentials is ignored.
pub(crate) fn invapi_base(raw: &str) -> Option<String> {
    let raw = raw.trim();
    if raw.is_empty() {
        return None;
    }
    let full = if raw.starts_with("http://") || raw.starts_with("https://") {
        raw.to_owned()
    } else if raw.contains("://") {
        return None;
    } else {
        format!("https://{raw}")
    };
    let u = url::Url::parse(&full).ok()?;
    let ok = u.host().is_some()
        && u.username().is_empty()
        && u.password().is_none()
        && u.query().is_none()
        && u.fragment().is_none();
    ok.then(|| full.trim_end_matches('/').to_owned())
}

/// The callback key of an async answer: top-level `callback` (what the live
/// module sends, upstream's `OrderInstanceResponse.Callback`), else the older
/// `data.callback` or a bare string `data`; `key`, `task_key` tolerated [guess].
pub(crate) fn callback_key(body: &Value) -> Option<String> {
    let names = ["callback", "key", "callback_key", "task_key", "task"];
    let from = |v: &Value| {
        names
            .iter()
            .find_map(|n| v.get(n).and_then(Value::as_str).map(str::to_owned))
    };
    from(body)
        .or_else(|| {
            body.get("data")
                .and_then(|d| d.as_str().map(str::to_owned).or_else(|| from(d)))
        })
        .filter(|k| !k.is_empty())
}

/// One `eq_callback` state, as a task's status, result and error.
#[derive(Debug, PartialEq)]
pub(crate) struct CallbackState {
    pub status: TaskStatus,
    pub result: Option<Value>,
    pub error: Option<TaskError>,
    /// `attach`/`detach` from the answer's `action`, else `callback`.
    pub operation: &'static str,
}

/// An `eq_callback` check answer, as upstream's `callbackTerminal` reads it:
/// `Not ready`, or `OK` with a `scope` that is not `deploy_done`, is still
/// running; `OK` with scope `deploy_done` is done; `error`/`failed`/
/// `cancelled` (or an `OK` whose `context` reports an error) ended badly.
/// An `OK` without any `scope` (modules older than scopes) is done.
pub(crate) fn callback(body: &Value) -> CallbackState {
    let result = match body.get("result") {
        Some(Value::String(s)) => s.trim().to_ascii_lowercase(),
        Some(Value::Number(n)) if matches!(n.as_f64(), Some(r) if r == 0.0 || r == 1.0) => {
            "ok".to_owned()
        }
        Some(Value::Number(n)) => format!("error {n}"),
        _ => String::new(),
    };
    let text = |v: Option<&Value>| match v {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.to_ascii_lowercase()),
        Some(other) => Some(other.to_string().to_ascii_lowercase()),
    };
    let scope = text(body.get("scope"));
    let context = text(body.get("context"));
    let operation = match body.get("action").and_then(Value::as_str) {
        Some("mount_iso") => "attach",
        Some("unmount_iso") => "detach",
        _ => "callback",
    };
    let failed = |code: &str| {
        let message = crate::error::upstream_message(body.to_string().as_bytes())
            .filter(|m| !m.eq_ignore_ascii_case(result.as_str()))
            .or_else(|| scope.clone().filter(|s| !s.is_empty()))
            .unwrap_or_else(|| format!("callback ended: {result}"));
        (
            TaskStatus::Failed,
            Some(TaskError {
                code: code.to_owned(),
                message,
            }),
        )
    };
    let (status, error) = match result.as_str() {
        "ok" => {
            let done = scope
                .as_deref()
                .is_none_or(|s| s.contains("deploy_done") || s.contains("autodeploy completed"));
            if context.as_deref().is_some_and(|c| c.contains("error")) {
                failed("upstream_error")
            } else if done {
                (TaskStatus::Succeeded, None)
            } else {
                (TaskStatus::Pending, None)
            }
        }
        "not ready" | "pending" | "in progress" | "running" => (TaskStatus::Pending, None),
        "cancelled" | "canceled" => failed("cancelled"),
        "failed" | "fail" => failed("upstream_failed"),
        _ => failed("upstream_error"),
    };
    let result = (status == TaskStatus::Succeeded).then(|| {
        body.get("data")
            .or_else(|| body.get("context"))
            .filter(|d| !d.is_null())
            .cloned()
            .unwrap_or_else(|| Value::Object(Default::default()))
    });
    CallbackState {
        status,
        result,
        error,
        operation,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    // The seed's `"private": "[email protected]"` is a scraping artefact (an
    // obfuscated e-mail), not data: a real owner address stands in for it.
    #[test]
    fn full_records_normalise_every_field() {
        let rec = json!({
            "id": 123, "name": "Ubuntu 22.04", "short_name": "ubuntu22",
            "iso_name": "ubuntu-22.04.iso", "private": "owner@client.example",
            "description": "Ubuntu Server 22.04 LTS", "admin_only": 0, "status": "Pending",
            "created_at": "2024-01-15T10:30:00Z", "updated_at": "not a date", "size": "0"
        });
        let iso = to_iso("hk", &rec, Visibility::Unknown, true).unwrap();
        assert_eq!(iso.id, "hk:123");
        assert_eq!(iso.name, "ubuntu-22.04.iso");
        assert_eq!(iso.labels["display_name"], "Ubuntu 22.04");
        assert_eq!(iso.labels["short_name"], "ubuntu22");
        assert_eq!(iso.owner.as_deref(), Some("owner@client.example"));
        assert_eq!(iso.visibility, Visibility::Private);
        assert_eq!(iso.status, Status::Pending);
        assert_eq!(iso.size_bytes, None);
        assert_eq!(
            iso.created_at.unwrap().to_rfc3339(),
            "2024-01-15T10:30:00+00:00"
        );
        assert_eq!(iso.updated_at, None);
        assert_eq!(iso.labels["updated_at_raw"], "not a date");
        assert_eq!(iso.raw.as_ref(), Some(&rec));
    }

    #[test]
    fn list_iso_items_are_ready_and_take_the_default_visibility() {
        let item = json!({"id": "124", "iso_name": "w.iso", "description": "",
            "size": 5368709120u64, "created_at": "2024-01-16T09:15:00Z"});
        let iso = to_iso("hk", &item, Visibility::Public, false).unwrap();
        assert_eq!(
            (iso.native_id.as_str(), iso.status, iso.visibility),
            ("124", Status::Ready, Visibility::Public)
        );
        assert_eq!(iso.size_bytes, Some(5_368_709_120));
        assert_eq!(iso.description, None);
        assert!(iso.raw.is_none());
        let public = json!({"id": 1, "name": "N", "private": null, "status": "Frozen"});
        let iso = to_iso("hk", &public, Visibility::Unknown, false).unwrap();
        assert_eq!(
            (iso.name.as_str(), iso.visibility),
            ("N", Visibility::Public)
        );
        assert_eq!(iso.status, Status::Unknown);
        assert_eq!(iso.labels["upstream_status"], "Frozen");
        assert!(to_iso("hk", &json!({"iso_name": "x"}), Visibility::Public, false).is_err());
    }

    #[test]
    fn statuses_map_case_insensitively() {
        for (w, s) in [
            ("Ready", Status::Ready),
            ("PENDING", Status::Pending),
            ("Deleting", Status::Processing),
            ("Error", Status::Failed),
            ("weird", Status::Unknown),
        ] {
            assert_eq!(status(Some(w)), s, "{w}");
        }
        assert_eq!(status(None), Status::Ready);
    }

    #[test]
    fn history_is_oldest_first_with_naive_utc_dates() {
        let data = json!([
            {"id": 3, "date": "2024-01-15 10:31:00", "type": "mount", "login": "a@b.c",
             "message": "ISO mounted", "description": "ISO mounted", "iso_name": "u.iso"},
            {"id": 2, "date": "2024-01-15 10:30:00", "type": "update", "message": "b"},
            {"id": 1, "date": "2024-01-15 10:30:00", "type": "upload", "message": "a",
             "description": "ISO uploaded"},
            {"id": 4, "date": "garbage", "type": "delete"}
        ]);
        let h = history(&data).unwrap();
        let ops: Vec<_> = h.iter().map(|e| e.operation.as_str()).collect();
        assert_eq!(ops, ["delete", "upload", "update", "mount"]);
        assert_eq!(h[0].labels["date_raw"], "garbage");
        assert_eq!(h[1].labels["description"], "ISO uploaded");
        assert_eq!(h[1].at.unwrap().to_rfc3339(), "2024-01-15T10:30:00+00:00");
        assert_eq!(h[3].actor.as_deref(), Some("a@b.c"));
        assert!(!h[3].labels.contains_key("description"));
        assert!(history(&Value::Null).unwrap().is_empty());
    }
}
