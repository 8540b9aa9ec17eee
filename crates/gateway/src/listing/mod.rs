//! The listing path: federation over providers, the snapshot cache, and the
//! rendered pages and answers.

pub mod answer;
pub mod cache;
mod catalogue;
mod federation;
pub mod feed;
pub mod feed_shared;
pub mod render;
pub mod shared;

pub use catalogue::Catalogue;
pub use federation::*;
