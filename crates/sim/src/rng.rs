//! Deterministic randomness: the same seed gives the same catalogue.

use rand::SeedableRng;
use rand::rngs::StdRng;

/// A generator for one purpose (`stream`) derived from the simulator seed, so
/// catalogues of different simulators do not shift when one of them changes.
pub fn seeded(seed: u64, stream: &str) -> StdRng {
    // FNV-1a of the stream name, mixed into the seed.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in stream.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    StdRng::seed_from_u64(seed ^ h)
}
