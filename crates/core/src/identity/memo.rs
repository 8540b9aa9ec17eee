//! Scans of the texts that repeat across one listing's items: descriptions,
//! upstream OS type names, folders, label values. A catalogue has few of
//! each (Cox's `Image using ubuntu`, CloudMC's `Ubuntu 22.04 (64-bit)`), so
//! [`super::recognise_all`] tokenises and matches each once, not once per item.

use super::Found;

/// Slots of the direct-mapped table: a power of two.
const SLOTS: usize = 512;
/// Longer texts are scanned every time (and rarely repeat byte for byte).
const TEXT: usize = 64;
/// After this many lookups, a memo that hit fewer than a quarter of them
/// stops storing: texts that do not repeat would only pay for the copies.
const PROBATION: u32 = 1024;

#[derive(Clone)]
struct Entry {
    len: u8,
    text: [u8; TEXT],
    found: Found,
}

/// See the module doc. Its answers are exactly [`Found::of`]'s: that is a
/// function of the text alone, and a slot holds its whole text.
#[derive(Default)]
pub(super) struct Memo {
    slots: Vec<Option<Entry>>,
    lookups: u32,
    hits: u32,
    off: bool,
}

impl Memo {
    pub(super) fn found(&mut self, text: &str) -> Found {
        let b = text.as_bytes();
        if self.off || b.len() > TEXT {
            return Found::of(text);
        }
        if self.slots.is_empty() {
            self.slots = vec![None; SLOTS];
        }
        self.lookups += 1;
        if self.lookups == PROBATION && self.hits < PROBATION / 4 {
            self.off = true;
            self.slots = Vec::new();
            return Found::of(text);
        }
        let i = slot(b);
        if let Some(e) = &self.slots[i]
            && usize::from(e.len) == b.len()
            && e.text[..b.len()] == *b
        {
            self.hits += 1;
            return e.found.clone();
        }
        let found = Found::of(text);
        let mut t = [0; TEXT];
        t[..b.len()].copy_from_slice(b);
        self.slots[i] = Some(Entry {
            // At most TEXT (checked above).
            len: u8::try_from(b.len()).unwrap_or(u8::MAX),
            text: t,
            found: found.clone(),
        });
        found
    }
}

/// The slot of a text (1..=TEXT bytes): its first and last 8 bytes (word
/// loads, not a step per byte) and its length.
fn slot(b: &[u8]) -> usize {
    let (first, last) = match (b.first_chunk::<8>(), b.last_chunk::<8>()) {
        (Some(f), Some(l)) => (u64::from_le_bytes(*f), u64::from_le_bytes(*l)),
        _ => {
            let w = b.iter().fold(0u64, |w, &x| w << 8 | u64::from(x));
            (w, 0)
        }
    };
    let h = (first ^ last.rotate_left(29) ^ b.len() as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    // The top bits: SLOTS is a small power of two.
    (h >> (64 - SLOTS.trailing_zeros())) as usize
}
