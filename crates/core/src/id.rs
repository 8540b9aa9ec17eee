//! Global ids: `provider:native_id`, with the native id percent-encoded so that
//! ids holding `/`, `:`, `%` (Cox ids hold slashes) survive a URL path segment
//! and split back losslessly.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};

use crate::{Error, Result};

/// Everything but the RFC 3986 unreserved characters is encoded, so the result
/// is a single safe path segment and the first `:` is always the separator.
const NATIVE_ID: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// A decoded global id.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct GlobalId {
    /// The configured provider instance name.
    pub provider: String,
    /// The upstream's id, verbatim.
    pub native_id: String,
}

/// The RFC 3986 unreserved characters: what [`NATIVE_ID`] leaves as it is.
static UNRESERVED: [bool; 256] = {
    let mut t = [false; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        t[c] = b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~');
        c += 1;
    }
    t
};

/// Whether `s` needs no escaping. Every byte is looked up and the answers
/// and-ed, without a branch per byte: a UUID's mix of digits, letters and
/// dashes mispredicted the classifying branches often enough that the
/// check cost a snapshot decode (which derives every id) more than the copy.
fn all_unreserved(s: &str) -> bool {
    s.bytes()
        .fold(true, |ok, b| ok & UNRESERVED[usize::from(b)])
}

/// Percent-encodes everything but RFC 3986 unreserved characters, so any
/// string becomes one safe URL path segment.
pub fn encode_segment(s: &str) -> String {
    utf8_percent_encode(s, NATIVE_ID).to_string()
}

impl GlobalId {
    /// `provider:percent-encoded(native_id)`.
    pub fn encode(provider: &str, native_id: &str) -> String {
        // Most native ids (UUIDs, numbers, slugs) need no escaping: copied
        // straight, without the encoder and `format!` (a tenth of a cold
        // VSS decode went there).
        let plain = all_unreserved(native_id);
        // An escaped byte takes three: room for a few (Cox's two slashes).
        let room = if plain { 0 } else { 8 };
        let mut id = String::with_capacity(provider.len() + 1 + native_id.len() + room);
        id.push_str(provider);
        id.push(':');
        if plain {
            id.push_str(native_id);
        } else {
            // Straight into the id: no intermediate string, no `format!`.
            id.extend(utf8_percent_encode(native_id, NATIVE_ID));
        }
        id
    }

    /// Whether `id` is [`GlobalId::encode`]`(provider, native_id)`, told
    /// without building it when the native id needs no escaping.
    pub fn is_encoding_of(id: &str, provider: &str, native_id: &str) -> bool {
        if all_unreserved(native_id) {
            id.strip_prefix(provider).and_then(|r| r.strip_prefix(':')) == Some(native_id)
        } else {
            id == Self::encode(provider, native_id)
        }
    }

    /// Splits at the first `:` and percent-decodes the native id. A missing
    /// separator, an empty provider or native id, or a decoding that is not
    /// UTF-8 is `InvalidInput`.
    pub fn decode(global: &str) -> Result<GlobalId> {
        let (provider, encoded) = global
            .split_once(':')
            .ok_or_else(|| Error::invalid_input("global id must look like 'provider:native_id'"))?;
        if provider.is_empty() {
            return Err(Error::invalid_input("global id has an empty provider name"));
        }
        let native_id = percent_decode_str(encoded)
            .decode_utf8()
            .map_err(|_| Error::invalid_input("global id's native part is not UTF-8 once decoded"))?
            .into_owned();
        if native_id.is_empty() {
            return Err(Error::invalid_input("global id has an empty native id"));
        }
        Ok(GlobalId {
            provider: provider.to_owned(),
            native_id,
        })
    }

    /// The encoded form.
    pub fn to_encoded(&self) -> String {
        Self::encode(&self.provider, &self.native_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn cox_ids_with_slashes_round_trip_as_one_segment() {
        let g = GlobalId::encode("cox", "a8050b2b/ubuntu/v20201110");
        assert_eq!(g, "cox:a8050b2b%2Fubuntu%2Fv20201110");
        let d = GlobalId::decode(&g).unwrap();
        assert_eq!(d.provider, "cox");
        assert_eq!(d.native_id, "a8050b2b/ubuntu/v20201110");
    }

    #[test]
    fn the_unreserved_table_is_what_the_encoder_leaves_alone() {
        for b in 0..=127u8 {
            let c = char::from(b).to_string();
            assert_eq!(
                UNRESERVED[usize::from(b)],
                encode_segment(&c) == c,
                "{b:#x}"
            );
        }
        // Bytes of multi-byte characters are always escaped.
        assert!(UNRESERVED[128..].iter().all(|u| !u));
    }

    #[test]
    fn malformed_global_ids_are_invalid_input() {
        for bad in ["nocolon", ":x", "p:", "p:%FF"] {
            let e = GlobalId::decode(bad).unwrap_err();
            assert_eq!(e.kind(), crate::ErrorKind::InvalidInput, "{bad}");
        }
    }

    proptest! {
        #[test]
        fn encoding_round_trips_for_arbitrary_strings(provider in "[a-z][a-z0-9-]{0,15}", native in "\\PC+") {
            let g = GlobalId::encode(&provider, &native);
            prop_assert!(!g[provider.len() + 1..].contains([':', '/', '?', '#', ' ']));
            let d = GlobalId::decode(&g).unwrap();
            prop_assert_eq!(d.provider, provider);
            prop_assert_eq!(d.native_id, native);
        }

        /// The copy taken for ids that need no escaping is what the encoder gives.
        #[test]
        fn the_fast_path_is_the_encoder(provider in "[a-z][a-z0-9-]{0,15}", native in "[A-Za-z0-9._~-]{1,40}|\\PC{1,20}") {
            prop_assert_eq!(
                GlobalId::encode(&provider, &native),
                format!("{provider}:{}", encode_segment(&native))
            );
            let id = GlobalId::encode(&provider, &native);
            prop_assert!(GlobalId::is_encoding_of(&id, &provider, &native));
            let (longer_id, other_provider) = (format!("{id}x"), format!("{provider}x"));
            prop_assert!(!GlobalId::is_encoding_of(&longer_id, &provider, &native));
            prop_assert!(!GlobalId::is_encoding_of(&id, &other_provider, &native));
        }
    }
}

/// The longest native id accepted anywhere (no upstream documents longer ones).
pub const MAX_NATIVE_ID_LEN: usize = 512;

/// Rejects native ids no upstream could accept, before any request is made:
/// empty, longer than [`MAX_NATIVE_ID_LEN`], holding control characters (NUL
/// included), or, split at `/`, holding an empty, `.` or `..` segment. With
/// `allow_slash` false a `/` itself is rejected. Errors are `InvalidInput`.
pub fn validate_native_id(native_id: &str, allow_slash: bool) -> Result<()> {
    if native_id.is_empty() {
        return Err(Error::invalid_input("native id is empty"));
    }
    if native_id.len() > MAX_NATIVE_ID_LEN {
        return Err(Error::invalid_input(format!(
            "native id is longer than {MAX_NATIVE_ID_LEN} bytes"
        )));
    }
    if native_id.chars().any(char::is_control) {
        return Err(Error::invalid_input("native id holds a control character"));
    }
    if !allow_slash && native_id.contains('/') {
        return Err(Error::invalid_input("native id must not contain '/'"));
    }
    if native_id
        .split('/')
        .any(|seg| seg.is_empty() || seg == "." || seg == "..")
    {
        return Err(Error::invalid_input(
            "native id holds an empty, '.' or '..' segment",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod validate_tests {
    use super::*;

    #[test]
    fn hostile_ids_are_rejected_and_ordinary_ones_pass() {
        for bad in [
            "",
            "..",
            "a/../b",
            "a//b",
            "/a",
            "a/",
            "./a",
            "a\0b",
            "a\nb",
            &"x".repeat(513),
        ] {
            assert!(validate_native_id(bad, true).is_err(), "{bad:?}");
        }
        assert!(validate_native_id("a/b", false).is_err());
        for good in [
            "0b3fea04-b1ed-48cf-921d-96795dfe9a81",
            "stack/ubuntu/v1",
            "223",
            "a.b..c",
        ] {
            assert!(validate_native_id(good, true).is_ok(), "{good:?}");
        }
    }
}
