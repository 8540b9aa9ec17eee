//! Decoding a 2xx JSON answer into its DTO with an error that says what
//! failed and where, and never echoes the body (which may hold tokens or
//! other tenants' data).

use isogate_core::{Error, Result};
use serde::de::DeserializeOwned;

/// Decodes `body` as the `what` of an answer ("answer", "task", ...).
pub fn decode<T: DeserializeOwned>(what: &str, body: &[u8]) -> Result<T> {
    serde_json::from_slice(body).map_err(|e| decode_error(what, &e))
}

/// `Upstream`, not retryable: "could not decode upstream {what}: ...", with
/// serde's reason (an expectation, a field name, a position) but every value
/// it quotes from the body cut out.
pub fn decode_error(what: &str, e: &serde_json::Error) -> Error {
    Error::upstream(format!(
        "could not decode upstream {what}: {}",
        redact(&e.to_string())
    ))
    .with_retryable(false)
}

/// serde_json quotes body data in `invalid type: string "..."`, `invalid
/// value: ...` and `unknown variant `...``; the rest of its messages name
/// only the schema (`missing field `data``) and a position.
fn redact(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    // Quoted strings: `"` ... `"` (serde escapes inner quotes as \").
    while let Some(start) = rest.find('"') {
        out.push_str(&rest[..=start]);
        let tail = &rest[start + 1..];
        let mut end = None;
        let mut escaped = false;
        for (i, c) in tail.char_indices() {
            match c {
                '\\' if !escaped => escaped = true,
                '"' if !escaped => {
                    end = Some(i);
                    break;
                }
                _ => escaped = false,
            }
        }
        match end {
            Some(i) => {
                out.push_str("...\"");
                rest = &tail[i + 1..];
            }
            None => {
                out.push_str("...");
                rest = "";
            }
        }
    }
    out.push_str(rest);
    // `unknown variant `x`` and `unknown field `x``: the name came from the body.
    for marker in ["unknown variant `", "unknown field `"] {
        if let Some(at) = out.find(marker) {
            let from = at + marker.len();
            if let Some(len) = out[from..].find('`') {
                out.replace_range(from..from + len, "...");
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    #[serde(deny_unknown_fields)]
    struct Page {
        data: Vec<Item>,
    }
    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Item {
        id: String,
        size: Option<u64>,
        kind: Option<Kind>,
    }
    #[derive(Debug, serde::Deserialize)]
    enum Kind {
        Iso,
    }

    #[test]
    fn errors_name_what_failed_and_never_echo_the_body() {
        let cases: &[(&str, &str)] = &[
            (r#"{"metadata":{}}"#, "unknown field `...`"),
            (r#"{}"#, "missing field `data`"),
            (r#"{"data":null}"#, "invalid type: null"),
            (r#"{"data":[{"id":"a"},{"id":"#, "EOF while parsing"),
            (r#"{"data":[]} trailing"#, "trailing characters"),
            (r#"[{"id":"a"}]"#, "invalid type: map"),
            (r#""SENTINEL""#, "invalid type: string"),
            (
                r#"{"data":[{"id":"a","size":"SENTINEL"}]}"#,
                "invalid type: string \"...\"",
            ),
            (
                r#"{"data":[{"id":"a","kind":"SENTINEL"}]}"#,
                "unknown variant `...`",
            ),
            (
                r#"{"data":[{"id":"a","size":"SEN\"TINEL"}]}"#,
                "invalid type: string",
            ),
            ("<html>SENTINEL</html>", "expected value"),
        ];
        for (body, why) in cases {
            let e = decode::<Page>("answer", body.as_bytes()).unwrap_err();
            assert_eq!(e.kind(), isogate_core::ErrorKind::Upstream, "{body}");
            assert!(!e.retryable(), "{body}");
            assert!(
                e.message()
                    .starts_with("could not decode upstream answer: "),
                "{body}: {e}"
            );
            assert!(e.message().contains(why), "{body}: {}", e.message());
            assert!(!e.message().contains("SENTINEL"), "{body}: {}", e.message());
            assert!(!e.message().contains("TINEL"), "{body}: {}", e.message());
        }
        let ok: Page = decode("answer", br#"{"data":[{"id":"a"}]}"#).unwrap();
        assert_eq!(ok.data.len(), 1);
    }
}
