//! Outbound request safety: the SSRF guard for import URLs.

pub mod ssrf;
