//! Upstream providers: the handle the gateway keeps per configured provider,
//! the registry that builds them, and the embedded demo simulators.

pub mod embedded;
pub mod handle;
pub mod registry;

pub use handle::ProviderHandle;
