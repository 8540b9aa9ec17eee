//! The HTTP edge around the handlers: authentication and scopes, rate
//! limits, telemetry and logs, the problem-details error.

pub mod auth;
pub mod error;
pub mod logformat;
pub mod logsink;
pub mod ratelimit;
pub mod telemetry;
