//! The caller of a request, as an explicit value.

use std::sync::Arc;

use isogate_core::{Error, ErrorKind};

use crate::access::keys::Principal;

/// Who is calling, as the guard found it: a request extension that the
/// handlers extract and pass to whatever filters by provider. It is a value,
/// not ambient state, so work spawned off a request cannot silently lose a
/// key's allow-list; and no caller (an open route, a test, a spawned task)
/// sees no provider at all.
#[derive(Clone, Debug, Default)]
pub struct Caller(Option<Arc<Principal>>);

impl Caller {
    /// A request made by `principal`.
    pub fn new(principal: Arc<Principal>) -> Caller {
        Caller(Some(principal))
    }
    /// No caller: nothing is visible.
    pub fn none() -> Caller {
        Caller(None)
    }
    /// The principal, if a guarded route found one.
    pub fn principal(&self) -> Option<&Principal> {
        self.0.as_deref()
    }
    /// Whether this caller may see `provider` (never, without a caller).
    pub fn may_see(&self, provider: &str) -> bool {
        self.0.as_ref().is_some_and(|p| p.allows(provider))
    }
}

/// A 403 for a provider outside the caller's allow-list.
pub fn provider_forbidden(provider: &str) -> Error {
    Error::new(
        ErrorKind::Forbidden,
        format!("this API key may not use provider '{provider}'"),
    )
    .with_code("provider_forbidden")
}
