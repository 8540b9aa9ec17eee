//! The listing path: federation over providers, the snapshot cache, and the
//! rendered pages and answers.

pub mod cache;
mod federation;
pub mod feed;
pub mod feed_shared;
pub mod render;
pub mod shared;

pub use federation::*;
