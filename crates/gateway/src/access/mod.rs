//! Who is calling and what they may see: the keys table built from `[auth]`
//! ([`keys`]), the [`Caller`] value every provider filter takes, and the
//! per-key rate limits. No HTTP here: the guard that reads keys off requests
//! is `http::auth`.
//!
//! Provider allow-list: providers outside a key's list are left out of
//! federated listings, stats and `/v1/providers` as if they were not
//! configured. Naming one explicitly (a provider path, `provider=`, or a
//! global id) is a 403 `provider_forbidden`: configured provider names are not
//! treated as secrets, and a 403 tells an operator what to fix.

pub mod caller;
pub mod keys;
pub(crate) mod ratelimit;

pub use caller::{Caller, provider_forbidden};
pub use keys::{Keys, Principal};
