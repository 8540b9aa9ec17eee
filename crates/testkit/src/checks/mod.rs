//! Every check, in the order they run: the ones that must see an untouched
//! simulator (no request yet, seeded catalogue) first, writes next (each
//! building on the state the previous left), faults last.

mod faults;
mod read;
mod unsupported;
mod write;

use crate::harness::{Check, Ctx};

pub(crate) use write::WriteCall;

/// The whole suite for this provider.
pub(crate) fn all(ctx: &Ctx) -> Vec<Check> {
    let mut checks = unsupported::checks(ctx);
    checks.extend(read::checks());
    checks.extend(write::checks());
    checks.extend(faults::checks(ctx));
    checks
}
