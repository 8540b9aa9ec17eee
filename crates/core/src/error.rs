//! One error type for every provider and the gateway: a kind, a retryable
//! flag and context. `Display` never includes upstream bodies, URLs or secrets;
//! adapters put only what they chose to extract into `message`.

use std::fmt;
use std::time::Duration;

/// A result with isogate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong, coarse enough for a client to act on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The item, task or instance does not exist (upstream 404 or equivalent).
    NotFound,
    /// The credentials were missing, wrong or expired.
    Unauthorized,
    /// The credentials are valid but not allowed to do this.
    Forbidden,
    /// The upstream (or the gateway) asked the caller to slow down.
    RateLimited,
    /// The provider cannot do this operation at all.
    Unsupported,
    /// The request was malformed or broke an upstream rule.
    InvalidInput,
    /// Well formed, but the item's current state forbids it (a name already
    /// taken, a download URL of an ISO not extractable or not ready yet).
    Conflict,
    /// The upstream failed or answered something that could not be understood.
    Upstream,
    /// The upstream did not answer in time.
    Timeout,
    /// The upstream could not be reached (refused, reset, breaker open).
    Unavailable,
    /// The configuration is wrong.
    ConfigInvalid,
}

impl ErrorKind {
    /// The stable snake_case code used in problem+json answers and sources.
    pub fn code(self) -> &'static str {
        match self {
            ErrorKind::NotFound => "not_found",
            ErrorKind::Unauthorized => "unauthorized",
            ErrorKind::Forbidden => "forbidden",
            ErrorKind::RateLimited => "rate_limited",
            ErrorKind::Unsupported => "unsupported",
            ErrorKind::InvalidInput => "invalid_input",
            ErrorKind::Conflict => "conflict",
            ErrorKind::Upstream => "upstream_error",
            ErrorKind::Timeout => "upstream_timeout",
            ErrorKind::Unavailable => "upstream_unavailable",
            ErrorKind::ConfigInvalid => "config_invalid",
        }
    }

    /// Whether an error of this kind is worth retrying by default.
    pub fn retryable_by_default(self) -> bool {
        matches!(
            self,
            ErrorKind::Timeout | ErrorKind::Unavailable | ErrorKind::RateLimited
        )
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// The error of every isogate operation. Boxed inside, so a `Result` of it
/// stays one pointer wide on the happy path.
#[derive(Debug)]
pub struct Error {
    inner: Box<Inner>,
}

#[derive(Debug)]
struct Inner {
    kind: ErrorKind,
    retryable: bool,
    message: String,
    provider: Option<String>,
    operation: Option<String>,
    upstream_status: Option<u16>,
    retry_after: Option<Duration>,
    code: Option<&'static str>,
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.inner
            .source
            .as_deref()
            .map(|s| s as &(dyn std::error::Error + 'static))
    }
}

impl Error {
    /// A new error of `kind`; retryable as [`ErrorKind::retryable_by_default`] says.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            inner: Box::new(Inner {
                kind,
                retryable: kind.retryable_by_default(),
                message: message.into(),
                provider: None,
                operation: None,
                upstream_status: None,
                retry_after: None,
                code: None,
                source: None,
            }),
        }
    }

    /// `NotFound`.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, message)
    }
    /// `InvalidInput`.
    pub fn invalid_input(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidInput, message)
    }
    /// `Unsupported` for the named operation (a capability name).
    pub fn unsupported(operation: &str) -> Self {
        Self::new(
            ErrorKind::Unsupported,
            format!("operation '{operation}' is not supported by this provider"),
        )
        .with_operation(operation)
    }
    /// `Upstream`.
    pub fn upstream(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Upstream, message)
    }
    /// `ConfigInvalid`.
    pub fn config(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::ConfigInvalid, message)
    }

    /// Names the provider instance (its configured name).
    pub fn with_provider(mut self, provider: impl Into<String>) -> Self {
        self.inner.provider = Some(provider.into());
        self
    }
    /// Names the provider instance unless one is named already.
    pub fn or_provider(mut self, provider: &str) -> Self {
        if self.inner.provider.is_none() {
            self.inner.provider = Some(provider.to_owned());
        }
        self
    }
    /// Names the operation (`list`, `get`, `import`, ...).
    pub fn with_operation(mut self, operation: impl Into<String>) -> Self {
        self.inner.operation = Some(operation.into());
        self
    }
    /// Names the operation unless one is named already.
    pub fn or_operation(mut self, operation: &str) -> Self {
        if self.inner.operation.is_none() {
            self.inner.operation = Some(operation.to_owned());
        }
        self
    }
    /// Records the upstream HTTP status.
    pub fn with_status(mut self, status: u16) -> Self {
        self.inner.upstream_status = Some(status);
        self
    }
    /// Refines the kind's code with a more precise stable one (e.g.
    /// `unknown_provider` for an `InvalidInput`), for problems the gateway
    /// itself finds.
    pub fn with_code(mut self, code: &'static str) -> Self {
        self.inner.code = Some(code);
        self
    }
    /// Overrides the retryable flag.
    pub fn with_retryable(mut self, retryable: bool) -> Self {
        self.inner.retryable = retryable;
        self
    }
    /// Records how long the upstream asked us to wait.
    pub fn with_retry_after(mut self, after: Duration) -> Self {
        self.inner.retry_after = Some(after);
        self
    }
    /// Keeps the underlying cause (it must not carry secrets in its `Display`).
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.inner.source = Some(Box::new(source));
        self
    }

    /// The kind.
    pub fn kind(&self) -> ErrorKind {
        self.inner.kind
    }
    /// Whether retrying the same call may succeed.
    pub fn retryable(&self) -> bool {
        self.inner.retryable
    }
    /// The human-readable message, free of secrets.
    pub fn message(&self) -> &str {
        &self.inner.message
    }
    /// The provider instance involved, if any.
    pub fn provider(&self) -> Option<&str> {
        self.inner.provider.as_deref()
    }
    /// The operation, if known.
    pub fn operation(&self) -> Option<&str> {
        self.inner.operation.as_deref()
    }
    /// The upstream HTTP status, if one was received.
    pub fn upstream_status(&self) -> Option<u16> {
        self.inner.upstream_status
    }
    /// How long the upstream asked us to wait, if it said.
    pub fn retry_after(&self) -> Option<Duration> {
        self.inner.retry_after
    }
    /// The stable code: the one given by [`Error::with_code`], else the kind's.
    pub fn code(&self) -> &'static str {
        self.inner.code.unwrap_or_else(|| self.inner.kind.code())
    }
    /// The code given by [`Error::with_code`], if any.
    pub fn explicit_code(&self) -> Option<&'static str> {
        self.inner.code
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(p) = &self.inner.provider {
            write!(f, "{p}: ")?;
        }
        if let Some(op) = &self.inner.operation {
            write!(f, "{op}: ")?;
        }
        write!(f, "{}", self.inner.message)?;
        if let Some(s) = self.inner.upstream_status {
            write!(f, " (upstream status {s})")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_provider_operation_and_status() {
        let e = Error::new(ErrorKind::Upstream, "boom")
            .with_provider("vss-prod")
            .with_operation("list")
            .with_status(502);
        assert_eq!(e.to_string(), "vss-prod: list: boom (upstream status 502)");
        assert_eq!(e.code(), "upstream_error");
        assert!(!e.retryable());
    }

    #[test]
    fn retryable_defaults_follow_kind_and_can_be_overridden() {
        assert!(Error::new(ErrorKind::Timeout, "t").retryable());
        assert!(Error::new(ErrorKind::Unavailable, "u").retryable());
        assert!(!Error::invalid_input("x").retryable());
        assert!(Error::upstream("5xx").with_retryable(true).retryable());
    }

    #[test]
    fn or_provider_keeps_the_first_name() {
        let e = Error::not_found("x").with_provider("a").or_provider("b");
        assert_eq!(e.provider(), Some("a"));
        assert_eq!(Error::unsupported("attach").operation(), Some("attach"));
    }
}

#[cfg(test)]
mod size_tests {
    #[test]
    fn results_of_error_stay_small() {
        assert_eq!(
            std::mem::size_of::<super::Error>(),
            std::mem::size_of::<usize>()
        );
    }
}
