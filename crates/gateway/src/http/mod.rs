//! The HTTP edge around the handlers: authentication and scopes, rate
//! limits, telemetry and logs, the problem-details error, the hot lane.

pub mod auth;
pub mod error;
pub mod hotlane;
pub mod logformat;
pub mod logsink;
pub mod ratelimit;
pub(crate) mod shared_limit;
pub mod telemetry;
