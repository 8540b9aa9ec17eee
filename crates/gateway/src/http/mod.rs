//! The HTTP edge around the handlers: authentication and scopes, rate
//! limits, telemetry and logs, the problem-details error.

pub mod auth;
pub mod error;
pub(crate) mod logformat;
pub(crate) mod logsink;
pub(crate) mod shared_limit;
pub mod telemetry;
