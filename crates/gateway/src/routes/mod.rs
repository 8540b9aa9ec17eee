//! Handlers, one file per resource.

pub mod admin;
pub mod common;
pub mod docs;
pub mod events;
pub mod health;
pub mod hotlane;
pub mod images;
pub mod isos;
pub mod items;
pub mod openapi;
pub mod providers;
pub mod stats;
pub mod ui;
pub mod webhooks;
