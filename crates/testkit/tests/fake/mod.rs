//! A fake upstream and a test-only adapter for it, to prove the suite.

pub mod provider;
pub mod upstream;
