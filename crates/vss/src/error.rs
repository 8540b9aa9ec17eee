//! VSS errors: a non-2xx answer with `{"error": "...", "message": "..."}`, or
//! anything else (proxies answer HTML or plain text).

use isogate_core::{Error, ErrorKind};

/// The longest upstream message kept.
const MAX_MESSAGE: usize = 200;

/// Maps an upstream error answer to an [`Error`] (kind by status, message
/// from the body when it is the documented JSON shape). The caller adds
/// `retry_after` from a 429's header, the provider and the operation.
pub fn parse_error(status: u16, body: &[u8]) -> Error {
    let kind = match status {
        400 | 409 | 413 | 422 => ErrorKind::InvalidInput,
        401 => ErrorKind::Unauthorized,
        403 => ErrorKind::Forbidden,
        404 | 410 => ErrorKind::NotFound,
        429 => ErrorKind::RateLimited,
        _ => ErrorKind::Upstream,
    };
    let detail = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            let text = |k: &str| match v.get(k)? {
                serde_json::Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
                serde_json::Value::Number(n) => Some(n.to_string()),
                _ => None,
            };
            match (text("error"), text("message")) {
                (Some(e), Some(m)) => Some(format!("{e}: {m}")),
                (e, m) => e.or(m),
            }
        });
    let message = match detail {
        Some(d) => format!("VSS answered {status}: {}", clip(&d)),
        None if body.is_empty() => format!("VSS answered {status} with an empty body"),
        None => format!("VSS answered {status} with a body that is not its JSON error shape"),
    };
    let retryable = status >= 500 || status == 429;
    Error::new(kind, message)
        .with_status(status)
        .with_retryable(retryable)
}

fn clip(s: &str) -> String {
    let one_line: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if one_line.chars().count() <= MAX_MESSAGE {
        one_line
    } else {
        let cut: String = one_line.chars().take(MAX_MESSAGE).collect();
        format!("{cut}...")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorded_bodies_map_to_kinds_and_messages() {
        let cases: &[(u16, &str, ErrorKind, bool, &str)] = &[
            (
                401,
                r#"{"error":"Unauthorized","message":"Token expired."}"#,
                ErrorKind::Unauthorized,
                false,
                "Unauthorized: Token expired.",
            ),
            (
                401,
                r#"{"error":"Unauthorized","message":"Invalid username or password."}"#,
                ErrorKind::Unauthorized,
                false,
                "Invalid username or password.",
            ),
            (
                400,
                r#"{"error":"Bad Request","message":"invalid filter field 'nope'"}"#,
                ErrorKind::InvalidInput,
                false,
                "invalid filter field 'nope'",
            ),
            (
                403,
                r#"{"error":"Forbidden","message":"Insufficient permissions"}"#,
                ErrorKind::Forbidden,
                false,
                "Insufficient permissions",
            ),
            (
                404,
                r#"{"error":"Not Found","message":"Request not found."}"#,
                ErrorKind::NotFound,
                false,
                "Request not found.",
            ),
            (
                429,
                r#"{"error":"Too Many Requests","message":"rate limit exceeded"}"#,
                ErrorKind::RateLimited,
                true,
                "rate limit exceeded",
            ),
            (
                500,
                r#"{"error":"Internal Server Error","message":"injected failure"}"#,
                ErrorKind::Upstream,
                true,
                "injected failure",
            ),
            (
                503,
                r#"{"error":503,"message":"api unavailable"}"#,
                ErrorKind::Upstream,
                true,
                "503: api unavailable",
            ),
            (
                502,
                "<html><body>Bad Gateway</body></html>",
                ErrorKind::Upstream,
                true,
                "not its JSON error shape",
            ),
            (504, "", ErrorKind::Upstream, true, "empty body"),
            (
                400,
                r#"{"message":"only a message"}"#,
                ErrorKind::InvalidInput,
                false,
                "only a message",
            ),
            (
                422,
                r#"{"error":"Unprocessable Entity"}"#,
                ErrorKind::InvalidInput,
                false,
                "Unprocessable Entity",
            ),
            (
                418,
                r#"["not", "an", "object"]"#,
                ErrorKind::Upstream,
                false,
                "not its JSON error shape",
            ),
        ];
        for (status, body, kind, retryable, needle) in cases {
            let e = parse_error(*status, body.as_bytes());
            assert_eq!(e.kind(), *kind, "{status} {body}");
            assert_eq!(e.retryable(), *retryable, "{status} {body}");
            assert_eq!(e.upstream_status(), Some(*status));
            assert!(
                e.message().contains(needle),
                "{} lacks {needle}",
                e.message()
            );
        }
    }

    #[test]
    fn long_or_multiline_messages_are_clipped_to_one_line() {
        let long = format!(r#"{{"error":"x","message":"{}\nmore"}}"#, "a".repeat(500));
        let e = parse_error(500, long.as_bytes());
        assert!(e.message().len() < 300);
        assert!(!e.message().contains('\n'));
    }
}
