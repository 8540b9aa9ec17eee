//! One `ApiError: IntoResponse` for every route: RFC 9457 problem+json with a
//! stable `code`, the provider when one is involved, the request id and the
//! retryable flag. Upstream bodies and URLs never reach it: adapters only put
//! what they extracted into `isogate_core::Error::message`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use isogate_core::{Error, ErrorKind};
use serde::Serialize;

/// An error answered to a client.
#[derive(Debug)]
pub struct ApiError {
    /// The cause (its [`Error::with_code`] refines the kind's code).
    pub error: Error,
    /// For gateway-level problems whose status the kind does not say (413, 415).
    pub status: Option<StatusCode>,
    /// The `Allow` header of a 405: the methods the resource does support.
    pub allow: Option<String>,
}

/// The problem+json body.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// A URI naming the problem type.
    #[serde(rename = "type")]
    pub type_uri: String,
    /// Short summary of the type.
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// What happened, in words.
    pub detail: String,
    /// Stable snake_case code.
    pub code: String,
    /// The provider involved, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// The request id (also in `X-Request-Id`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// Whether retrying the same request may succeed.
    pub retryable: bool,
}

impl ApiError {
    /// With a gateway-specific code (e.g. `payload_too_large`).
    pub fn coded(error: Error, code: &'static str) -> Self {
        ApiError {
            error: error.with_code(code),
            status: None,
            allow: None,
        }
    }

    /// With a gateway-specific code and status.
    pub fn with_status(error: Error, code: &'static str, status: StatusCode) -> Self {
        ApiError {
            error: error.with_code(code),
            status: Some(status),
            allow: None,
        }
    }

    /// With the methods the resource supports, for a 405's `Allow` header.
    pub fn with_allow(mut self, methods: &[&str]) -> Self {
        self.allow = Some(methods.join(", "));
        self
    }

    /// The HTTP status for this error: the one place kinds map to statuses.
    pub fn status(&self) -> StatusCode {
        if let Some(status) = self.status {
            return status;
        }
        let from_upstream = self.error.provider().is_some();
        match self.error.kind() {
            ErrorKind::NotFound => StatusCode::NOT_FOUND,
            // The gateway's own credentials for an upstream were refused:
            // that is the gateway's problem, not the caller's.
            ErrorKind::Unauthorized if from_upstream => StatusCode::BAD_GATEWAY,
            ErrorKind::Unauthorized => StatusCode::UNAUTHORIZED,
            ErrorKind::Forbidden => StatusCode::FORBIDDEN,
            ErrorKind::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            // A provider that cannot do an operation is not a server fault
            // (monitoring counts 5xx as outages): the resource does not
            // support the method, as Kubernetes answers an unsupported verb.
            // 501 stays for what the gateway itself does not implement: nothing.
            ErrorKind::Unsupported => StatusCode::METHOD_NOT_ALLOWED,
            ErrorKind::InvalidInput => StatusCode::BAD_REQUEST,
            ErrorKind::Conflict => StatusCode::CONFLICT,
            ErrorKind::Upstream => StatusCode::BAD_GATEWAY,
            ErrorKind::Timeout => StatusCode::GATEWAY_TIMEOUT,
            ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ErrorKind::ConfigInvalid => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable code.
    pub fn code(&self) -> &'static str {
        if let Some(code) = self.error.explicit_code() {
            return code;
        }
        match self.error.kind() {
            ErrorKind::Unauthorized if self.error.provider().is_some() => "upstream_unauthorized",
            kind => kind.code(),
        }
    }

    /// The problem body (the request id is filled in by the response layer).
    pub fn problem(&self) -> Problem {
        let status = self.status();
        Problem {
            type_uri: format!("urn:isogate:problem:{}", self.code()),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail: self.error.to_string(),
            code: self.code().to_owned(),
            provider: self.error.provider().map(str::to_owned),
            request_id: None,
            retryable: self.error.retryable(),
        }
    }
}

impl From<Error> for ApiError {
    fn from(error: Error) -> Self {
        ApiError {
            error,
            status: None,
            allow: None,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let mut resp = problem_response(status, &self.problem(), self.error.retry_after());
        // RFC 9110: a 405 always says what is allowed, if only nothing.
        if status == StatusCode::METHOD_NOT_ALLOWED {
            let allow = self.allow.as_deref().unwrap_or("");
            if let Ok(v) = HeaderValue::from_str(allow) {
                resp.headers_mut().insert(header::ALLOW, v);
            }
        }
        resp
    }
}

/// A problem answer's body as data, kept on the response so the request-id
/// layer writes the body again with `request_id` instead of parsing it.
#[derive(Clone, Debug)]
pub(crate) struct ProblemBody(pub(crate) Problem);

/// Writes a problem body; the request-id layer stamps `request_id` into it.
pub fn problem_response(
    status: StatusCode,
    problem: &Problem,
    retry_after: Option<std::time::Duration>,
) -> Response {
    let body = serde_json::to_vec(problem).unwrap_or_default();
    let mut resp = (status, body).into_response();
    resp.extensions_mut().insert(ProblemBody(problem.clone()));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    if let Some(after) = retry_after {
        resp.headers_mut().insert(
            header::RETRY_AFTER,
            HeaderValue::from(after.as_secs().max(1)),
        );
    }
    resp
}

/// A quick 400 for bad input.
pub fn bad_request(message: impl Into<String>) -> ApiError {
    Error::invalid_input(message).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unsupported_operation_is_a_405_with_its_allow_header() {
        let resp = ApiError::from(Error::unsupported("delete"))
            .with_allow(&["GET"])
            .into_response();
        assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(resp.headers()[header::ALLOW], "GET");
        // Without a list the header is still there, empty: nothing is allowed.
        let resp = ApiError::from(Error::unsupported("sync")).into_response();
        assert_eq!(resp.headers()[header::ALLOW], "");
    }

    #[test]
    fn every_kind_has_one_status_and_upstream_auth_is_a_gateway_problem() {
        let cases = [
            (Error::not_found("x"), 404, "not_found"),
            (
                Error::new(ErrorKind::Unauthorized, "x"),
                401,
                "unauthorized",
            ),
            (
                Error::new(ErrorKind::Unauthorized, "x").with_provider("vss"),
                502,
                "upstream_unauthorized",
            ),
            (Error::new(ErrorKind::Forbidden, "x"), 403, "forbidden"),
            (Error::new(ErrorKind::RateLimited, "x"), 429, "rate_limited"),
            (Error::unsupported("attach"), 405, "unsupported"),
            (Error::invalid_input("x"), 400, "invalid_input"),
            (Error::new(ErrorKind::Conflict, "x"), 409, "conflict"),
            (Error::upstream("x"), 502, "upstream_error"),
            (Error::new(ErrorKind::Timeout, "x"), 504, "upstream_timeout"),
            (
                Error::new(ErrorKind::Unavailable, "x"),
                503,
                "upstream_unavailable",
            ),
            (Error::config("x"), 500, "config_invalid"),
        ];
        for (error, status, code) in cases {
            let api = ApiError::from(error);
            assert_eq!(api.status().as_u16(), status, "{code}");
            assert_eq!(api.code(), code);
            assert_eq!(
                api.problem().type_uri,
                format!("urn:isogate:problem:{code}")
            );
        }
    }
}
