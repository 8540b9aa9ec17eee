//! The ten `iso.php` actions, with the seed's roles and required parameters.
//! Every answer here is HTTP 200; errors come in the three documented shapes:
//! `{"code":-1,"message":"invalid argument X"}` for a missing or bad parameter,
//! `{"error":"permission denied..."}` for a role violation, and
//! `{"result":"Error","message":"... not found"}` for a missing object.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use chrono::Utc;
use serde_json::{Value, json};

use super::state::{IsoRec, Session, State, rfc3339, size_for};

pub(crate) type Form = HashMap<String, String>;

pub(crate) fn ok(action: &str, data: Value) -> Value {
    json!({"result": "OK", "action": action, "module": "iso", "data": data})
}

/// An async answer: the live module puts the callback key at the top level;
/// the legacy form has it under `data`.
fn async_ok(state: &State, action: &str, key: String) -> Value {
    if state.legacy {
        ok(action, json!({"callback": key}))
    } else {
        json!({"result": "OK", "action": action, "module": "iso", "callback": key})
    }
}

pub(crate) fn invalid(arg: &str) -> Value {
    json!({"code": -1, "message": format!("invalid argument {arg}")})
}

fn denied(what: &str) -> Value {
    json!({"error": format!("permission denied: {what}")})
}

fn not_found(what: &str) -> Value {
    json!({"result": "Error", "message": format!("{what} not found")})
}

fn param<'a>(form: &'a Form, name: &str) -> Option<&'a str> {
    form.get(&format!("params[{name}]"))
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
}

fn bare<'a>(form: &'a Form, name: &str) -> Option<&'a str> {
    form.get(name).map(|s| s.trim()).filter(|s| !s.is_empty())
}

fn int(v: Option<&str>) -> Option<u64> {
    v.and_then(|s| s.parse().ok())
}

fn valid_email(s: &str) -> bool {
    s.split_once('@')
        .is_some_and(|(user, host)| !user.is_empty() && host.contains('.') && !host.contains('@'))
}

fn truthy(v: Option<&str>) -> bool {
    matches!(v, Some("1" | "true" | "yes" | "on"))
}

/// Runs one action for a logged-in session.
pub(crate) fn dispatch(
    state: &mut State,
    session: &Session,
    action: &str,
    form: &Form,
    delay: Duration,
) -> Value {
    match action {
        "add" => add(state, session, form, delay),
        "del" => del(
            state,
            session,
            int(param(form, "id")),
            param(form, "pending"),
            "del",
        ),
        "delete" => del(state, session, int(bare(form, "id")), Some("1"), "delete"),
        "history" => history(state, session, form),
        "list_iso" => list_iso(state, session, form),
        "mount_iso" => mount(state, session, form, delay),
        "unmount_iso" => unmount(state, session, form, delay),
        "update" => update(state, session, form),
        "upload" => upload(state, session, form, delay),
        "uploaded" => uploaded(state, session, form),
        other => json!({"code": -1, "message": format!("unknown action {other}")}),
    }
}

fn add(state: &mut State, session: &Session, form: &Form, delay: Duration) -> Value {
    if !session.admin {
        return denied("administrator privileges required");
    }
    let required = |name: &str| {
        param(form, name)
            .map(str::to_owned)
            .ok_or_else(|| invalid(name))
    };
    let fields = (|| {
        Ok::<_, Value>((
            required("name")?,
            required("short_name")?,
            required("iso_name")?,
            required("private")?,
        ))
    })();
    let (name, short_name, iso_name, private) = match fields {
        Ok(f) => f,
        Err(e) => return e,
    };
    if !valid_email(&private) {
        return invalid("private");
    }
    let admin_only = match param(form, "admin_only") {
        None | Some("0") => 0,
        Some("1") => 1,
        Some(_) => return invalid("admin_only"),
    };
    let status = param(form, "status").unwrap_or("Pending").to_owned();
    let description = param(form, "description").unwrap_or_default().to_owned();
    let now = rfc3339(Utc::now());
    // Seed: "adds a new ISO image or updates an existing one by name".
    let existing = state
        .isos
        .values()
        .find(|r| r.live() && r.name == name)
        .map(|r| r.id);
    if state
        .isos
        .values()
        .any(|r| r.live() && r.iso_name == iso_name && Some(r.id) != existing)
    {
        return json!({"code": -1, "message": "invalid argument iso_name: already exists"});
    }
    let id = existing.unwrap_or_else(|| {
        state.next_id += 1;
        state.next_id - 1
    });
    let pending = status.eq_ignore_ascii_case("pending");
    let final_size = size_for(&iso_name);
    let created_at = state
        .isos
        .get(&id)
        .map(|r| r.created_at.clone())
        .unwrap_or_else(|| now.clone());
    let rec = IsoRec {
        id,
        name,
        short_name,
        iso_name,
        private: Some(private),
        description,
        admin_only,
        status,
        size: if pending { 0 } else { final_size },
        created_at,
        updated_at: now,
        ready_at: pending.then(|| Instant::now() + delay),
        final_size,
        purge_at: None,
    };
    let msg = if existing.is_some() {
        "ISO updated"
    } else {
        "ISO added"
    };
    state.log(&rec, "add", &session.email, msg);
    let data = rec.record();
    state.isos.insert(id, rec);
    ok("add", data)
}

fn del(
    state: &mut State,
    session: &Session,
    id: Option<u64>,
    pending: Option<&str>,
    action: &str,
) -> Value {
    let Some(id) = id else {
        return invalid("id");
    };
    let Some(rec) = state
        .isos
        .get(&id)
        .filter(|r| State::visible(r, session))
        .cloned()
    else {
        return not_found("ISO");
    };
    if !State::may_modify(&rec, session) {
        return denied("only administrators and owners of private images may delete");
    }
    state.log(&rec, "delete", &session.email, "ISO deleted");
    if truthy(pending) {
        state.isos.remove(&id);
    } else if let Some(r) = state.isos.get_mut(&id) {
        // Queued: gone from every listing now, purged by the next tick.
        r.status = "Deleting".into();
        r.purge_at = Some(Instant::now());
    }
    ok(action, json!({"id": id}))
}

fn history(state: &mut State, session: &Session, form: &Form) -> Value {
    let Some(id) = int(bare(form, "id")) else {
        return invalid("id");
    };
    let known = match state.isos.get(&id) {
        Some(rec) => State::visible(rec, session),
        // A deleted ISO keeps its history.
        None => state.history.iter().any(|h| h.iso_id == id),
    };
    if !known {
        return not_found("ISO");
    }
    let entries: Vec<Value> = state
        .history
        .iter()
        .rev()
        .filter(|h| h.iso_id == id)
        .filter_map(|h| serde_json::to_value(h).ok())
        .collect();
    ok("history", Value::Array(entries))
}

/// Checks the bare `id` as a server id the session may use.
fn server_for(state: &State, session: &Session, form: &Form) -> Result<u64, Value> {
    let id = int(bare(form, "id")).ok_or_else(|| invalid("id"))?;
    let server = state.servers.get(&id).ok_or_else(|| not_found("server"))?;
    if !session.admin && server.owner != session.email {
        return Err(denied("server belongs to another customer"));
    }
    Ok(id)
}

fn list_iso(state: &mut State, session: &Session, form: &Form) -> Value {
    // Seed: the server id is required for clients; staff may list everything.
    let server_id = if session.admin && bare(form, "id").is_none() {
        Value::Null
    } else {
        match server_for(state, session, form) {
            Ok(id) => json!(id),
            Err(e) => return e,
        }
    };
    let images: Vec<Value> = state
        .isos
        .values()
        .filter(|r| State::visible(r, session) && r.status == "Ready")
        .map(IsoRec::list_item)
        .collect();
    json!({
        "result": "OK",
        "action": "list_iso",
        "module": "iso",
        "server_id": server_id,
        "iso_images": images,
    })
}

fn mount(state: &mut State, session: &Session, form: &Form, delay: Duration) -> Value {
    let server = match server_for(state, session, form) {
        Ok(id) => id,
        Err(e) => return e,
    };
    let Some(name) = bare(form, "iso") else {
        return invalid("iso");
    };
    let Some(iso) = state
        .isos
        .values()
        .find(|r| r.iso_name == name && State::visible(r, session))
        .cloned()
    else {
        return not_found("ISO");
    };
    if iso.status != "Ready" {
        return json!({"result": "Error", "message": format!("ISO is not ready (status {})", iso.status)});
    }
    let key = state.start_callback("mount_iso", server, Some(iso.id), &session.email, delay);
    async_ok(state, "mount_iso", key)
}

fn unmount(state: &mut State, session: &Session, form: &Form, delay: Duration) -> Value {
    let server = match server_for(state, session, form) {
        Ok(id) => id,
        Err(e) => return e,
    };
    let key = state.start_callback("unmount_iso", server, None, &session.email, delay);
    async_ok(state, "unmount_iso", key)
}

fn update(state: &mut State, session: &Session, form: &Form) -> Value {
    let Some(id) = int(param(form, "id")) else {
        return invalid("id");
    };
    let Some(rec) = state
        .isos
        .get(&id)
        .filter(|r| State::visible(r, session))
        .cloned()
    else {
        return not_found("ISO");
    };
    if !State::may_modify(&rec, session) {
        return denied("only administrators and owners of private images may update");
    }
    let iso_name = form.get("params[iso_name]").map(|s| s.trim().to_owned());
    if let Some(n) = &iso_name {
        if n.is_empty() || n.contains('/') {
            return invalid("iso_name");
        }
        if state
            .isos
            .values()
            .any(|r| r.live() && r.id != id && &r.iso_name == n)
        {
            return json!({"code": -1, "message": "invalid argument iso_name: already exists"});
        }
    }
    let description = form.get("params[description]").map(|s| s.trim().to_owned());
    let Some(r) = state.isos.get_mut(&id) else {
        return not_found("ISO");
    };
    if let Some(n) = iso_name {
        r.iso_name = n;
    }
    if let Some(d) = description {
        r.description = d;
    }
    r.updated_at = rfc3339(Utc::now());
    let rec = r.clone();
    state.log(&rec, "update", &session.email, "ISO updated");
    ok("update", rec.record())
}

fn upload(state: &mut State, session: &Session, form: &Form, delay: Duration) -> Value {
    let Some(url) = param(form, "url") else {
        return invalid("url");
    };
    // https only; the file name is the last path segment.
    let file = url::Url::parse(url)
        .ok()
        .filter(|u| u.scheme() == "https" && u.host().is_some());
    let Some(file) = file
        .as_ref()
        .and_then(|u| u.path_segments())
        .and_then(|mut s| s.next_back())
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
    else {
        return invalid("url");
    };
    let owner = if session.admin {
        // Seed: email and customer_id are required for staff.
        match param(form, "email") {
            Some(e) if valid_email(e) => e.to_owned(),
            _ => return invalid("email"),
        }
    } else {
        session.email.clone()
    };
    if session.admin && int(param(form, "customer_id")).is_none() {
        return invalid("customer_id");
    }
    let id = state.next_id;
    state.next_id += 1;
    let stem = file.strip_suffix(".iso").unwrap_or(&file).to_owned();
    let iso_name = if state.isos.values().any(|r| r.live() && r.iso_name == file) {
        format!("{stem}-{id}.iso")
    } else {
        file.clone()
    };
    let now = rfc3339(Utc::now());
    let rec = IsoRec {
        id,
        name: iso_name.clone(),
        short_name: stem,
        final_size: size_for(&iso_name),
        iso_name,
        private: Some(owner),
        description: String::new(),
        admin_only: 0,
        status: "Pending".into(),
        size: 0,
        created_at: now.clone(),
        updated_at: now,
        ready_at: Some(Instant::now() + delay),
        purge_at: None,
    };
    state.log(&rec, "upload", &session.email, "ISO uploaded");
    let data = rec.record();
    state.isos.insert(id, rec);
    ok("upload", data)
}

fn uploaded(state: &mut State, session: &Session, form: &Form) -> Value {
    let email = if session.admin {
        // Seed: the email is required for the employee role.
        match param(form, "email") {
            Some(e) if valid_email(e) => e.to_owned(),
            _ => return invalid("email"),
        }
    } else {
        session.email.clone()
    };
    let data: Vec<Value> = state
        .isos
        .values()
        .filter(|r| r.live() && r.private.as_deref() == Some(email.as_str()))
        .map(IsoRec::record)
        .collect();
    ok("uploaded", Value::Array(data))
}
