//! The one mapping from an upstream answer to an isogate error.
//!
//! The module answers errors with HTTP 200 as often as not, in these shapes:
//! `{"code":-1,"message":"invalid argument iso_name"}` (any non-zero or
//! string `code`), `{"error":"..."}`, `{"result":"<not OK>","message":"..."}`
//! or a numeric `result` other than 0/1; proxies in front of it answer
//! non-2xx statuses with HTML. The status decides where it is telling
//! (401/403/404/400/422/429/5xx); otherwise the message's wording does.
//! (Source: hostkey-cloud/terraform-provider-hostkey `internal/invapi`,
//! `decodeAPIError` and `isAuthFailure`.)

use isogate_core::{Error, ErrorKind};
use serde_json::Value;

/// Whether a `code` field says error: any number but 0, or any string
/// (upstream compares the raw JSON with `0`), null and absent do not.
pub(crate) fn is_error_code(code: Option<&Value>) -> bool {
    match code {
        None | Some(Value::Null) => false,
        Some(Value::Number(n)) => n.as_f64() != Some(0.0),
        Some(_) => true,
    }
}

/// Whether a decoded 2xx body is an error answer (any of the shapes).
pub(crate) fn is_error_body(body: &Value) -> bool {
    if body.get("error").is_some_and(|e| !e.is_null()) {
        return true;
    }
    if is_error_code(body.get("code")) {
        return true;
    }
    match body.get("result") {
        Some(Value::String(r)) => !r.eq_ignore_ascii_case("ok"),
        // auth.php answers `{"result":{"token":..}}`: an object is success.
        Some(Value::Object(_)) => false,
        // Upstream: a numeric result of 0 or 1 is success, any other a code.
        Some(Value::Number(n)) => !matches!(n.as_f64(), Some(r) if r == 0.0 || r == 1.0),
        Some(Value::Bool(b)) => !b,
        Some(_) => true,
        None => body.get("message").is_some() && body.get("data").is_none(),
    }
}

/// The upstream's own words, if the body is JSON and has any; trimmed and
/// bounded, control characters dropped.
pub(crate) fn upstream_message(body: &[u8]) -> Option<String> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let pick = |v: &Value| -> Option<String> {
        match v {
            Value::String(s) if !s.trim().is_empty() => Some(s.clone()),
            Value::Object(o) => o.get("message").and_then(Value::as_str).map(str::to_owned),
            _ => None,
        }
    };
    let msg = v
        .get("message")
        .and_then(pick)
        .or_else(|| v.get("error").and_then(pick))
        .or_else(|| v.get("result").and_then(pick))?;
    Some(msg.chars().filter(|c| !c.is_control()).take(200).collect())
}

/// Whether an answer's words are one of the session failures upstream's own
/// client re-logs in for (`isAuthFailure`, plus "invalid hash").
pub(crate) fn is_auth_message(body: &[u8]) -> bool {
    upstream_message(body).is_some_and(|m| {
        let m = m.to_ascii_lowercase();
        [
            "invalid token",
            "token expired",
            "token is invalid",
            "invalid hash",
            "unauthorized",
            "not authorized",
            "authentication failed",
        ]
        .iter()
        .any(|w| m.contains(w))
    })
}

/// Whether a decoded 2xx `eq_callback` body is a callback state (returned
/// to the caller, even when the state is "error") rather than an error
/// answer: a `result` word or number, no `error`, no error `code`, and not
/// a session failure.
pub(crate) fn is_callback_state(body: &Value) -> bool {
    if body.get("error").is_some_and(|e| !e.is_null()) || is_error_code(body.get("code")) {
        return false;
    }
    matches!(
        body.get("result"),
        Some(Value::String(_) | Value::Number(_))
    ) && !is_auth_message(body.to_string().as_bytes())
}

/// The kind a message's wording says.
fn kind_of(message: &str) -> ErrorKind {
    let m = message.to_ascii_lowercase();
    let has = |words: &[&str]| words.iter().any(|w| m.contains(w));
    if has(&[
        "token",
        // Upstream's word for a session it does not know (an auth failure).
        "invalid hash",
        "authoriz",
        "unauthori",
        "invalid key",
        "login",
        "authenticat",
    ]) {
        ErrorKind::Unauthorized
    } else if has(&[
        "permission",
        "denied",
        "admin",
        "forbidden",
        "not allowed",
        "privilege",
    ]) {
        ErrorKind::Forbidden
    } else if has(&["not found", "no such", "does not exist", "not exist"]) {
        ErrorKind::NotFound
    } else if has(&["already exists", "already exist", "duplicate"]) {
        // "invalid argument iso_name: already exists": the request is well
        // formed, the name is taken (a state conflict, not bad input).
        ErrorKind::Conflict
    } else if has(&[
        "invalid argument",
        "invalid",
        "required",
        "unknown action",
        "must be",
    ]) {
        ErrorKind::InvalidInput
    } else {
        ErrorKind::Upstream
    }
}

/// The text of an error answer without words: its code or numeric result.
fn generic(body: &[u8]) -> String {
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let code = v
        .get("code")
        .filter(|c| is_error_code(Some(c)))
        .or_else(|| v.get("result").filter(|r| r.is_number()));
    let text = |c: &Value| match c {
        Value::String(s) => s.chars().filter(|c| !c.is_control()).take(40).collect(),
        other => other.to_string(),
    };
    match code {
        Some(c) => format!("upstream reported error code {}", text(c)),
        None => "upstream reported an error".to_owned(),
    }
}

/// Maps an upstream error answer (any status, raw body) to an error.
/// The caller adds `retry_after`, provider and operation.
pub fn parse_error(status: u16, body: &[u8]) -> Error {
    let message = upstream_message(body);
    let by_status = match status {
        401 => Some(ErrorKind::Unauthorized),
        403 => Some(ErrorKind::Forbidden),
        404 => Some(ErrorKind::NotFound),
        400 | 422 => Some(ErrorKind::InvalidInput),
        429 => Some(ErrorKind::RateLimited),
        500..=599 => Some(ErrorKind::Upstream),
        200..=299 => None,
        _ => Some(ErrorKind::Upstream),
    };
    let (kind, text) = match (by_status, message) {
        (Some(kind), Some(m)) => (kind, m),
        (Some(kind), None) => (kind, format!("upstream answered HTTP {status}")),
        (None, Some(m)) => (kind_of(&m), m),
        (None, None) if serde_json::from_slice::<Value>(body).is_err() => {
            return Error::upstream("upstream answer could not be decoded")
                .with_status(status)
                .with_retryable(false);
        }
        (None, None) => (ErrorKind::Upstream, generic(body)),
    };
    Error::new(kind, text)
        .with_status(status)
        .with_retryable(matches!(status, 500..=599 | 429))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_shape_maps_to_its_kind() {
        use ErrorKind::*;
        let table: &[(u16, &str, ErrorKind, bool, &str)] = &[
            // The three documented HTTP-200 shapes.
            (
                200,
                r#"{"code":-1,"message":"invalid argument iso_name"}"#,
                InvalidInput,
                false,
                "invalid argument iso_name",
            ),
            (
                200,
                r#"{"code":-1,"message":"invalid argument id"}"#,
                InvalidInput,
                false,
                "invalid argument id",
            ),
            (
                200,
                r#"{"error":"permission denied: administrator privileges required"}"#,
                Forbidden,
                false,
                "permission denied",
            ),
            (
                200,
                r#"{"error":"Access denied"}"#,
                Forbidden,
                false,
                "Access denied",
            ),
            (
                200,
                r#"{"error":"Only admin can do this"}"#,
                Forbidden,
                false,
                "admin",
            ),
            (
                200,
                r#"{"result":"Error","message":"ISO not found"}"#,
                NotFound,
                false,
                "ISO not found",
            ),
            (
                200,
                r#"{"result":"Error","message":"server not found"}"#,
                NotFound,
                false,
                "server not found",
            ),
            (
                200,
                r#"{"error":"callback not found"}"#,
                NotFound,
                false,
                "callback not found",
            ),
            (
                200,
                r#"{"result":"fail","message":"disk quota exceeded"}"#,
                Upstream,
                false,
                "disk quota",
            ),
            (200, r#"{"result":"Error"}"#, Upstream, false, "Error"),
            // A taken name is a conflict, though worded "invalid argument".
            (
                200,
                r#"{"code":-1,"message":"invalid argument iso_name: already exists"}"#,
                Conflict,
                false,
                "already exists",
            ),
            (
                200,
                r#"{"code":-1,"message":"unknown action del"}"#,
                InvalidInput,
                false,
                "unknown action",
            ),
            // Tokens, both documented signals.
            (
                200,
                r#"{"code":-1,"message":"token expired"}"#,
                Unauthorized,
                false,
                "token expired",
            ),
            (
                200,
                r#"{"result":"Error","message":"Invalid token"}"#,
                Unauthorized,
                false,
                "Invalid token",
            ),
            (
                401,
                r#"{"result":"Error","message":"invalid token"}"#,
                Unauthorized,
                false,
                "invalid token",
            ),
            (401, "", Unauthorized, false, "HTTP 401"),
            (
                200,
                r#"{"result":"Error","message":"authorization failed: invalid key"}"#,
                Unauthorized,
                false,
                "authorization failed",
            ),
            (
                200,
                r#"{"error":{"code":5,"message":"token is invalid"}}"#,
                Unauthorized,
                false,
                "token is invalid",
            ),
            // Statuses from the module or the web server in front of it.
            (
                403,
                "<html>403 Forbidden</html>",
                Forbidden,
                false,
                "HTTP 403",
            ),
            (
                404,
                "<html>404 Not Found</html>",
                NotFound,
                false,
                "HTTP 404",
            ),
            (
                400,
                r#"{"message":"bad form"}"#,
                InvalidInput,
                false,
                "bad form",
            ),
            (422, "", InvalidInput, false, "HTTP 422"),
            (429, "<html>429</html>", RateLimited, true, "HTTP 429"),
            (
                500,
                "<html><h1>500 Internal Server Error</h1></html>",
                Upstream,
                true,
                "HTTP 500",
            ),
            (
                502,
                "<html>502 Bad Gateway</html>",
                Upstream,
                true,
                "HTTP 502",
            ),
            (
                503,
                r#"{"error":"maintenance"}"#,
                Upstream,
                true,
                "maintenance",
            ),
            (302, "", Upstream, false, "HTTP 302"),
            // Undecodable 200 answers.
            (
                200,
                r#"{"data": [{"id": "#,
                Upstream,
                false,
                "could not be decoded",
            ),
            (
                200,
                "<html>Fatal error</html>",
                Upstream,
                false,
                "could not be decoded",
            ),
        ];
        for (status, body, kind, retryable, needle) in table {
            let e = parse_error(*status, body.as_bytes());
            assert_eq!(e.kind(), *kind, "{status} {body}");
            assert_eq!(e.retryable(), *retryable, "{status} {body}");
            assert!(
                e.message().contains(needle),
                "{status} {body}: {}",
                e.message()
            );
            assert_eq!(e.upstream_status(), Some(*status));
            assert!(
                !e.message().contains("<html"),
                "no upstream HTML in messages"
            );
        }
    }

    #[test]
    fn error_bodies_are_told_from_answers() {
        let yes = [
            r#"{"code":-1,"message":"x"}"#,
            r#"{"error":"x"}"#,
            r#"{"result":"Error","message":"x"}"#,
            r#"{"result":false}"#,
            r#"{"message":"token expired"}"#,
            r#"{"result":5}"#,
            r#"{"result":-1,"message":"x"}"#,
            r#"{"code":"E_AUTH"}"#,
            r#"{"code":"0","result":"OK"}"#,
            r#"{"code":3,"result":"OK","message":"x"}"#,
        ];
        let no = [
            r#"{"result":"OK","action":"list_iso","module":"iso","server_id":1,"iso_images":[]}"#,
            r#"{"result":"ok","data":[]}"#,
            r#"{"result":{"token":"t","token_expire":1}}"#,
            r#"{"token":"t"}"#,
            r#"{"code":0,"result":"OK","data":{}}"#,
            r#"{"result":1,"data":[]}"#,
            r#"{"result":0}"#,
            r#"{"code":null,"result":"OK","callback":"k"}"#,
        ];
        for b in yes {
            assert!(is_error_body(&serde_json::from_str(b).unwrap()), "{b}");
        }
        for b in no {
            assert!(!is_error_body(&serde_json::from_str(b).unwrap()), "{b}");
        }
    }

    #[test]
    fn long_or_control_laden_messages_are_bounded() {
        let body = format!(r#"{{"message":"{}\u0007"}}"#, "x".repeat(1000));
        let e = parse_error(200, body.as_bytes());
        assert!(e.message().len() <= 200);
        assert!(!e.message().contains('\u{7}'));
    }
}
