//! Cox Edge answers errors exactly as CloudMC does
//! (`{"errors":[{"code","message","context"}]}`), so the one mapping is
//! CloudMC's; these tests pin it on Cox-shaped bodies.

pub use isogate_cloudmc::error::parse_error;

#[cfg(test)]
mod tests {
    use super::*;
    use isogate_core::ErrorKind;

    #[test]
    fn recorded_cox_bodies_map_to_kinds() {
        let cases: &[(u16, &str, ErrorKind, bool, &str)] = &[
            (
                400,
                r#"{"errors":[{"code":2012,"message":"An image id must be stackId/family/tag","context":{"field":"id"}}]}"#,
                ErrorKind::InvalidInput,
                false,
                "stackId/family/tag",
            ),
            (
                401,
                r#"{"errors":[{"code":1001,"message":"An API key is required in the MC-Api-Key header","context":{}}]}"#,
                ErrorKind::Unauthorized,
                false,
                "API key is required",
            ),
            (
                404,
                r#"{"errors":[{"code":2004,"message":"Image 'a/b/c' was not found","context":{"id":"a/b/c"}}]}"#,
                ErrorKind::NotFound,
                false,
                "Image 'a/b/c' was not found",
            ),
            (
                404,
                r#"{"errors":[{"code":2004,"message":"Environment 'prod' was not found","context":{"id":"prod"}}]}"#,
                ErrorKind::NotFound,
                false,
                "Environment",
            ),
            (
                503,
                r#"{"errors":[{"code":9000,"message":"injected failure","context":{}}]}"#,
                ErrorKind::Upstream,
                true,
                "injected failure",
            ),
            (502, "Bad Gateway", ErrorKind::Upstream, true, "HTTP 502"),
        ];
        for (status, body, kind, retryable, contains) in cases {
            let e = parse_error(*status, body.as_bytes());
            assert_eq!(e.kind(), *kind, "{status} {body}");
            assert_eq!(e.retryable(), *retryable, "{status} {body}");
            assert!(e.message().contains(contains), "{}", e.message());
        }
    }
}
