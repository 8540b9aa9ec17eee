//! Faithful simulators of the upstream APIs isogate fronts, for tests, the
//! embedded demo and benchmarks.
//!
//! Every simulator is an axum app served on loopback by [`SimServer`], which
//! adds what tests need around it:
//! - fault injection ([`Faults`]), set at start and changeable at run time
//!   through [`Control`] or the HTTP control API under `/__sim/`;
//! - request counters per `METHOD /path` (and named counters a simulator
//!   bumps itself, e.g. per action), so tests can assert coalescing and that
//!   writes happen exactly once;
//! - a listener that can be stopped and resumed on the same port, so clients
//!   see real refused connections.
//!
//! One module per upstream: [`cloudmc`] (API v1 and v2 ISOs), [`cox`] (Cox
//! Edge images), [`vss`] (ITS Private Cloud API v2) and [`action`] (HOSTKEY
//! InvAPI-style ISO module). Each exposes `Options` (with `Default`) and
//! `start(Options) -> io::Result<SimServer>`.

pub mod action;
pub mod cloudmc;
pub mod control;
pub mod cox;
mod releases;
pub mod rng;
pub mod server;
pub mod vss;

pub use control::{Control, Faults};
pub use server::{ErrorShape, ServeOptions, SimServer};
