//! The one mapping from a CloudMC error answer to isogate's [`Error`], and of
//! transport failures (contract all#3).
//!
//! CloudMC errors are `{"errors":[{"code":2012,"message":"...","context":{...}}]}`
//! with HTTP 400/403/404/405/500 (and 401 for a bad key), and also inside a
//! 2xx (see [`answer_error`]). Only the first error's `message` and `code` are
//! kept; `context` may echo request data and is dropped.

use isogate_core::{Error, ErrorKind};
use serde::Deserialize;

/// Upstream messages are cut to this many characters.
const MAX_MESSAGE: usize = 300;

#[derive(Deserialize)]
struct ErrorsBody {
    #[serde(default)]
    errors: Vec<ErrorItem>,
}

#[derive(Deserialize)]
struct ErrorItem {
    #[serde(default)]
    code: Option<serde_json::Value>,
    #[serde(default)]
    message: Option<String>,
}

/// The first error's message (and code) from a CloudMC errors body, if any.
pub fn upstream_message(body: &[u8]) -> Option<String> {
    let parsed: ErrorsBody = serde_json::from_slice(body).ok()?;
    let first = parsed.errors.into_iter().next()?;
    let message = first.message.filter(|m| !m.trim().is_empty())?;
    let message: String = message.chars().take(MAX_MESSAGE).collect();
    Some(match first.code {
        Some(serde_json::Value::Number(n)) => format!("{message} (code {n})"),
        Some(serde_json::Value::String(s)) if !s.is_empty() => format!("{message} (code {s})"),
        _ => message,
    })
}

/// Whether a 2xx body carries a top-level `errors` field that makes it an
/// error. `"errors": null` or `[]` next to a `data` field is a success (an
/// empty error list says nothing failed) [guess]; without `data` it is not.
fn has_errors_field(body: &[u8]) -> bool {
    // `Some(Null)` for `"errors": null`, `None` when the key is absent.
    fn present<'de, D: serde::Deserializer<'de>>(
        d: D,
    ) -> Result<Option<serde_json::Value>, D::Error> {
        serde_json::Value::deserialize(d).map(Some)
    }
    #[derive(Deserialize)]
    struct Probe {
        #[serde(default, deserialize_with = "present")]
        errors: Option<serde_json::Value>,
        #[serde(default)]
        data: Option<serde::de::IgnoredAny>,
    }
    // The probe re-reads the body, so only bodies that can hold the key pay
    // for it (a 22k-item listing is ~10 MB; `str::contains` is a fast scan).
    let maybe = match std::str::from_utf8(body) {
        Ok(s) => s.contains("\"errors\""),
        Err(_) => body.windows(8).any(|w| w == b"\"errors\""),
    };
    // Only an object has fields (serde would read an array as a struct too).
    let object = body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
    if !maybe || !object {
        return false;
    }
    match serde_json::from_slice::<Probe>(body) {
        Ok(Probe {
            errors: Some(errors),
            data,
        }) => {
            let empty = errors.is_null() || errors.as_array().is_some_and(Vec::is_empty);
            !empty || data.is_none()
        }
        // No top-level `errors`, or not an object: the decoder reports it.
        _ => false,
    }
}

/// The error an answer stands for, if any: every non-2xx, and a 2xx whose
/// body has a top-level `errors` field, both through [`parse_error`].
// CloudMC `_getting_started.md`: "if the response contains the errors field,
// the request was not successful", whatever the HTTP status.
pub fn answer_error(status: u16, body: &[u8]) -> Option<Error> {
    if !(200..300).contains(&status) || has_errors_field(body) {
        Some(parse_error(status, body))
    } else {
        None
    }
}

/// Maps a CloudMC error answer to an error of the right kind.
///
/// 400/409/422 `InvalidInput` (`NotFound` when the message says what it
/// names "does not exist"), 401 `Unauthorized`, 403 `Forbidden`, 404
/// `NotFound`, 405 `Unsupported`, 429 `RateLimited` (retryable; the caller
/// adds `Retry-After`), 5xx `Upstream` retryable, any other status (a 2xx
/// with `errors` included) `Upstream` not retryable. The message is the
/// upstream's first error message when the body has one.
pub fn parse_error(status: u16, body: &[u8]) -> Error {
    let kind = match status {
        400 | 409 | 422 => ErrorKind::InvalidInput,
        401 => ErrorKind::Unauthorized,
        403 => ErrorKind::Forbidden,
        404 => ErrorKind::NotFound,
        405 => ErrorKind::Unsupported,
        429 => ErrorKind::RateLimited,
        _ => ErrorKind::Upstream,
    };
    let extracted = upstream_message(body);
    // A 400 about a referenced entity that does not exist (a zone, an OS
    // type) is not bad input: the thing named is not found.
    let kind = match (kind, &extracted) {
        (ErrorKind::InvalidInput, Some(m)) if m.to_ascii_lowercase().contains("does not exist") => {
            ErrorKind::NotFound
        }
        (kind, _) => kind,
    };
    let message = extracted.unwrap_or_else(|| {
        if (200..300).contains(&status) {
            format!("upstream answered HTTP {status} with an errors field but no message")
        } else {
            format!("upstream answered HTTP {status} without an error message")
        }
    });
    let err = Error::new(kind, message).with_status(status);
    match status {
        500..=599 | 429 => err.with_retryable(true),
        _ => err,
    }
}

pub use isogate_http::{decode_error, parse_retry_after};

/// Maps a failure to send a request or to read its answer's headers.
pub fn transport_error(e: reqwest::Error) -> Error {
    isogate_http::transport_error("upstream", e)
}

/// Maps a failure to read an answer's body (the headers had arrived).
pub fn body_error(e: reqwest::Error) -> Error {
    isogate_http::body_error("upstream", e)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// (status, recorded body, kind, retryable, message contains)
    const CASES: &[(u16, &str, ErrorKind, bool, &str)] = &[
        (
            400,
            r#"{"errors":[{"code":2012,"message":"Zone 'z' does not exist","context":{"field":"zoneId"}}]}"#,
            ErrorKind::NotFound,
            false,
            "Zone 'z' does not exist",
        ),
        (
            400,
            r#"{"errors":[{"code":2012,"message":"Only the http protocol is supported for ISO URLs","context":{"field":"url"}}]}"#,
            ErrorKind::InvalidInput,
            false,
            "Only the http protocol is supported for ISO URLs (code 2012)",
        ),
        (
            401,
            r#"{"errors":[{"code":1001,"message":"The API key is invalid","context":{}}]}"#,
            ErrorKind::Unauthorized,
            false,
            "The API key is invalid",
        ),
        (
            403,
            r#"{"errors":[{"code":1003,"message":"You do not have access to this organization","context":{"org_id":"x"}}]}"#,
            ErrorKind::Forbidden,
            false,
            "access to this organization",
        ),
        (
            404,
            r#"{"errors":[{"code":2004,"message":"ISO 'nope' was not found","context":{"id":"nope"}}]}"#,
            ErrorKind::NotFound,
            false,
            "ISO 'nope' was not found",
        ),
        (
            405,
            r#"{"errors":[{"code":2005,"message":"Method POST is not allowed on this resource","context":{}}]}"#,
            ErrorKind::Unsupported,
            false,
            "not allowed",
        ),
        (
            429,
            r#"{"errors":[{"code":1429,"message":"rate limit exceeded","context":{}}]}"#,
            ErrorKind::RateLimited,
            true,
            "rate limit exceeded",
        ),
        (
            500,
            r#"{"errors":[{"code":9000,"message":"injected failure","context":{}}]}"#,
            ErrorKind::Upstream,
            true,
            "injected failure (code 9000)",
        ),
        (
            503,
            "<html><body>Service Unavailable</body></html>",
            ErrorKind::Upstream,
            true,
            "HTTP 503",
        ),
        (
            400,
            r#"{"errors":[{"code":"FIELD_REQUIRED","message":"'name' is required"}]}"#,
            ErrorKind::InvalidInput,
            false,
            "'name' is required (code FIELD_REQUIRED)",
        ),
        (404, "", ErrorKind::NotFound, false, "HTTP 404"),
        (
            409,
            r#"{"errors":[]}"#,
            ErrorKind::InvalidInput,
            false,
            "HTTP 409",
        ),
        (
            418,
            r#"{"errors":[{"message":"  "}]}"#,
            ErrorKind::Upstream,
            false,
            "HTTP 418",
        ),
    ];

    #[test]
    fn recorded_bodies_map_to_kinds_and_messages() {
        for (status, body, kind, retryable, contains) in CASES {
            let e = parse_error(*status, body.as_bytes());
            assert_eq!(e.kind(), *kind, "{status} {body}");
            assert_eq!(e.retryable(), *retryable, "{status} {body}");
            assert!(e.message().contains(contains), "{status}: {}", e.message());
            assert_eq!(e.upstream_status(), Some(*status));
        }
    }

    #[test]
    fn errors_inside_a_2xx_are_errors_and_nested_ones_are_not() {
        let e = answer_error(
            200,
            br#"{"errors":[{"code":2004,"message":"ISO 'x' was not found","context":{}}]}"#,
        )
        .unwrap();
        assert_eq!(e.kind(), ErrorKind::Upstream);
        assert!(!e.retryable());
        assert_eq!(e.upstream_status(), Some(200));
        assert_eq!(e.message(), "ISO 'x' was not found (code 2004)");
        let e = answer_error(202, br#"{"errors":[]}"#).unwrap();
        assert!(
            e.message().contains("HTTP 202 with an errors field"),
            "{}",
            e.message()
        );
        assert!(answer_error(200, br#"{"errors":null}"#).is_some());
        for fine in [
            &br#"{"data":[{"id":"a","name":"errors"}]}"#[..],
            br#"{"data":{"id":"t","status":"FAILED","result":{"errors":[{"message":"m"}]}}}"#,
            br#"{"taskId":"t","taskStatus":"FAILED","result":{"errors":[{"message":"m"}]}}"#,
            br#"{"data":[],"errors":[]}"#,
            br#"{"data":[],"errors":null}"#,
            br#"["errors"]"#,
            b"",
            b"not json \"errors\"",
        ] {
            assert!(
                answer_error(200, fine).is_none(),
                "{}",
                String::from_utf8_lossy(fine)
            );
        }
        assert_eq!(answer_error(404, b"").unwrap().kind(), ErrorKind::NotFound);
    }

    #[test]
    fn long_messages_are_cut_and_context_is_dropped() {
        let long = "x".repeat(2000);
        let body = format!(
            r#"{{"errors":[{{"code":1,"message":"{long}","context":{{"secret":"s3cr3t"}}}}]}}"#
        );
        let e = parse_error(400, body.as_bytes());
        assert!(e.message().len() < 400);
        assert!(!e.message().contains("s3cr3t"));
    }

    #[test]
    fn retry_after_takes_seconds_and_dates() {
        assert_eq!(parse_retry_after("7"), Some(Duration::from_secs(7)));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon"), None);
    }
}
