//! Upstream providers: the registry that builds one handle per configured
//! provider, and the embedded demo simulators.

pub mod embedded;
pub mod registry;
