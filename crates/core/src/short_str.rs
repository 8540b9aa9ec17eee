//! A string kept inline when short: `os.version` (`24.04.1`, `2012 R2`),
//! which recognition writes for most items of every snapshot, the provider,
//! OS type and zone names and the labels, where a `String`'s allocation
//! (and its free when the snapshot goes) was a large part of the work. The
//! same size as a `String`.

use std::borrow::Borrow;
use std::fmt;
use std::ops::Deref;

use serde::{Deserialize, Serialize};

/// The most bytes kept inline (`CompactString`'s, on 64-bit targets).
#[cfg(test)]
const INLINE: usize = 24;

/// An immutable string, inline up to 24 bytes, else on the heap. Reads as
/// a `&str` (`Deref`) with no check (a `CompactString`: an inline copy
/// read back through `from_utf8`, as this type first did, cost a hundred
/// instructions per read); serialises as a string.
// Compared, ordered, hashed and serialised as its text, as
// `CompactString` is (so `Borrow<str>` keeps `Hash` and `Eq` agreeing).
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ShortStr(compact_str::CompactString);

impl ShortStr {
    /// `s`, copied.
    #[inline]
    pub fn new(s: &str) -> Self {
        ShortStr(compact_str::CompactString::new(s))
    }

    /// The parts, concatenated (no intermediate `String` when they fit inline).
    pub fn from_parts(parts: &[&str]) -> Self {
        let n: usize = parts.iter().map(|p| p.len()).sum();
        let mut out = compact_str::CompactString::with_capacity(n);
        parts.iter().for_each(|p| out.push_str(p));
        ShortStr(out)
    }

    /// The text.
    #[inline]
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// The text's bytes: comparing them orders as comparing the text does
    /// (UTF-8 sorts bytewise).
    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl Deref for ShortStr {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for ShortStr {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl Borrow<str> for ShortStr {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl From<&str> for ShortStr {
    fn from(s: &str) -> Self {
        Self::new(s)
    }
}

impl From<String> for ShortStr {
    fn from(s: String) -> Self {
        // Inline when short; a long one keeps its allocation.
        ShortStr(compact_str::CompactString::from(s))
    }
}

impl From<ShortStr> for String {
    fn from(s: ShortStr) -> Self {
        s.0.into_string()
    }
}

impl PartialEq<str> for ShortStr {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for ShortStr {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl PartialEq<String> for ShortStr {
    fn eq(&self, other: &String) -> bool {
        self.0 == other
    }
}

impl fmt::Debug for ShortStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for ShortStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn it_is_the_size_of_a_string_and_reads_back_whatever_its_length() {
        assert_eq!(std::mem::size_of::<Option<ShortStr>>(), 24);
        for s in [
            "",
            "9.4",
            "2012 R2",
            "1234567890123456789012",
            "12345678901234567890123",
            "1234567890123456789012345",
            "ünïcødé-ß-24.04",
        ] {
            let a = ShortStr::new(s);
            assert_eq!(a.as_str(), s);
            assert_eq!(ShortStr::from(s.to_owned()), a);
            assert_eq!(String::from(a.clone()), s);
            assert_eq!(serde_json::to_value(&a).unwrap(), s);
            assert_eq!(serde_json::from_value::<ShortStr>(s.into()).unwrap(), a);
        }
        assert!(!ShortStr::new(&"x".repeat(INLINE)).0.is_heap_allocated());
        assert!(ShortStr::new(&"x".repeat(INLINE + 1)).0.is_heap_allocated());
        assert_eq!(ShortStr::from_parts(&["2012", " R2"]), "2012 R2");
        assert_eq!(
            ShortStr::from_parts(&["1234567890", "12345678901234"]).as_str(),
            "123456789012345678901234"
        );
        assert!(ShortStr::new("9.10") < ShortStr::new("9.4"));
    }
}
