//! The snapshot format: round trips, typed errors on anything foreign, and
//! its size on a realistic catalogue.

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use isogate_core::identity::{Attribute, Evidence, SourceField};
use isogate_core::{Iso, ItemKind, OsRef, ProviderKind, Status, Visibility, ZoneRef};
use isogate_shared_tier::{
    CHUNK_ITEMS, CodecError, FORMAT_VERSION, Snapshot, decode, decode_header, encode, testdata,
};
use proptest::prelude::*;

fn opt<T: std::fmt::Debug + Clone + 'static>(
    s: impl Strategy<Value = T> + 'static,
) -> BoxedStrategy<Option<T>> {
    prop_oneof![Just(None), s.prop_map(Some)].boxed()
}

fn time() -> impl Strategy<Value = DateTime<Utc>> {
    (-62_000_000_000i64..250_000_000_000, 0u32..1_000_000_000)
        .prop_map(|(s, n)| DateTime::from_timestamp(s, n).expect("in range"))
}

fn raw() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        "\\PC{0,12}".prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(2, 8, 4, |inner| {
        prop::collection::btree_map("[a-z]{1,6}", inner, 0..4)
            .prop_map(|m| serde_json::Value::Object(m.into_iter().collect()))
    })
}

fn evidence() -> impl Strategy<Value = Evidence> {
    (
        prop_oneof![
            Just(Attribute::Family),
            Just(Attribute::Version),
            Just(Attribute::Arch),
            Just(Attribute::Edition)
        ],
        prop_oneof![
            Just(SourceField::Name),
            Just(SourceField::Path),
            Just(SourceField::LabelFamily),
            Just(SourceField::LabelTag),
            Just(SourceField::Description),
            Just(SourceField::OsName)
        ],
        prop_oneof![
            Just(Cow::Borrowed("after_family")),
            Just(Cow::Borrowed("x86 64")),
            "\\PC{0,12}".prop_map(Cow::Owned),
        ],
    )
        .prop_map(|(attribute, field, rule)| Evidence {
            attribute,
            field,
            rule,
        })
}

/// The recognised identity (issue 20): stored in the snapshot since format 2.
fn identity() -> impl Strategy<Value = IdentityFields> {
    (
        opt("[a-z-]{1,12}"),
        opt("[0-9.]{1,8}"),
        opt("[a-z0-9_]{1,8}"),
        opt("[a-z-]{1,10}"),
        opt(prop::collection::vec(evidence(), 0..5)),
    )
}

type IdentityFields = (
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<Vec<Evidence>>,
);

fn iso() -> impl Strategy<Value = Iso> {
    let ident = (
        "[a-z][a-z0-9-]{0,10}",
        prop_oneof![
            Just(ProviderKind::Cloudmc),
            Just(ProviderKind::Vss),
            Just(ProviderKind::Action),
            Just(ProviderKind::Cox)
        ],
        prop_oneof![Just(ItemKind::Iso), Just(ItemKind::Image)],
        "\\PC{1,20}",
        "\\PC{0,30}",
        any::<bool>(),
        "\\PC{1,20}",
    );
    let body = (
        opt("\\PC{0,60}"),
        opt(any::<u64>()),
        prop_oneof![
            Just(Status::Ready),
            Just(Status::Pending),
            Just(Status::Processing),
            Just(Status::Failed),
            Just(Status::Unknown)
        ],
        opt(any::<bool>()),
        prop_oneof![
            Just(Visibility::Public),
            Just(Visibility::Private),
            Just(Visibility::Unknown)
        ],
        opt(
            (opt("\\PC{0,10}"), opt("\\PC{0,10}")).prop_map(|(id, name)| OsRef {
                id,
                name: name.map(Into::into),
                ..OsRef::default()
            }),
        ),
        opt(any::<u32>()),
        prop::collection::vec(
            ("\\PC{0,8}", opt("\\PC{0,8}")).prop_map(|(id, name)| ZoneRef {
                id,
                name: name.map(Into::into),
            }),
            0..3,
        ),
        opt("\\PC{0,8}"),
        opt(any::<bool>()),
    );
    let tail = (
        opt(time()),
        opt(time()),
        prop::collection::btree_map("\\PC{0,8}", "\\PC{0,12}", 0..4),
        opt(raw()),
        identity(),
    );
    (ident, body, tail).prop_map(|(i, b, t)| {
        let mut item = Iso::new(&i.0, i.1, i.2, &i.3, &i.4);
        if i.5 {
            // An id the provider did not derive the usual way.
            item.id = i.6;
        }
        item.description = b.0;
        item.size_bytes = b.1;
        item.status = b.2;
        item.bootable = b.3;
        item.visibility = b.4;
        item.os = b.5;
        item.arch_bits = b.6;
        item.zones = b.7;
        item.owner = b.8;
        item.extractable = b.9;
        item.created_at = t.0;
        item.updated_at = t.1;
        item.labels = t.2.into_iter().collect();
        item.raw = t.3;
        let (family, version, arch, edition, evidence) = t.4;
        if let Some(os) = item.os.as_mut() {
            os.family = family.map(Into::into);
            os.version = version.map(Into::into);
        }
        item.arch = arch.map(Into::into);
        item.edition = edition.map(Into::into);
        item.identity_evidence = evidence.map(Into::into);
        item
    })
}

fn snapshot() -> impl Strategy<Value = Snapshot> {
    (
        any::<u64>(),
        time(),
        opt("\\PC{0,20}"),
        prop::collection::vec(iso(), 0..12),
    )
        .prop_map(|(version, fetched_at, incomplete, items)| Snapshot {
            version,
            fetched_at,
            incomplete,
            items,
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn round_trip(s in snapshot()) {
        let bytes = encode(&s).expect("encodes");
        let h = decode_header(&bytes).expect("header");
        prop_assert_eq!(h.version, s.version);
        prop_assert_eq!(h.fetched_at, s.fetched_at);
        prop_assert_eq!(decode(&bytes).expect("decodes"), s);
    }

    /// Any flipped byte, any truncation: an error or (if the flip hit a
    /// string's content or the version) a snapshot, never a panic.
    #[test]
    fn corruption_is_an_error_not_a_panic(s in snapshot(), at in any::<prop::sample::Index>(), flip in 1u8..=255, cut in any::<prop::sample::Index>()) {
        let bytes = encode(&s).expect("encodes");
        let mut bad = bytes.clone();
        let i = at.index(bad.len());
        bad[i] ^= flip;
        let _ = decode(&bad);
        let _ = decode(&bytes[..cut.index(bytes.len())]).expect_err("a truncated snapshot is refused");
    }

    /// The payload itself, garbled before compression, still only errors.
    #[test]
    fn garbage_payload_is_an_error(junk in prop::collection::vec(any::<u8>(), 0..300)) {
        let _ = decode(&junk);
        let mut framed = b"IGS".to_vec();
        framed.push(FORMAT_VERSION);
        framed.extend_from_slice(&junk);
        let _ = decode(&framed);
    }
}

/// A snapshot of several chunks (decoded on several threads where there
/// are cores), recognised like the gateway's, built once.
fn chunked() -> &'static (Snapshot, Vec<u8>) {
    static S: std::sync::OnceLock<(Snapshot, Vec<u8>)> = std::sync::OnceLock::new();
    S.get_or_init(|| {
        let mut items = testdata::catalogue("p", 2 * CHUNK_ITEMS + 100);
        items.iter_mut().for_each(isogate_core::identity::recognise);
        let s = Snapshot {
            version: 9,
            fetched_at: Utc::now(),
            incomplete: Some("vss: page 3 failed".into()),
            items,
        };
        let bytes = encode(&s).expect("encodes");
        (s, bytes)
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// The chunk directory and later chunks: any flip or cut is an error or
    /// a snapshot, never a panic or a hang of the decoding threads.
    #[test]
    fn corruption_of_a_chunked_snapshot_is_an_error_not_a_panic(at in any::<prop::sample::Index>(), flip in 1u8..=255, cut in any::<prop::sample::Index>()) {
        let (_, bytes) = chunked();
        let mut bad = bytes.clone();
        let i = at.index(bad.len());
        bad[i] ^= flip;
        let _ = decode(&bad);
        let _ = decode(&bytes[..cut.index(bytes.len())]).expect_err("a truncated snapshot is refused");
    }
}

#[test]
fn a_chunked_snapshot_round_trips_in_order_with_its_identity() {
    let (s, bytes) = chunked();
    let back = decode(bytes).expect("decodes");
    assert_eq!(back.items.len(), s.items.len());
    assert!(back == *s, "items, order and identity survive");
    assert!(
        back.items.iter().filter(|i| i.arch.is_some()).count() > s.items.len() / 2,
        "the catalogue's identity was recognised and kept"
    );
    assert!(
        back.items
            .iter()
            .any(|i| i.identity_evidence.as_ref().is_some_and(|e| !e.is_empty())),
        "evidence kept"
    );
    // Recognised values borrow the rule table's copies, as recognition's do,
    // instead of one allocation each per item.
    let borrowed = |c: &Option<Cow<'static, str>>| matches!(c, Some(Cow::Borrowed(_)));
    for i in back.items.iter().filter(|i| i.arch.is_some()) {
        assert!(borrowed(&i.arch), "{:?}", i.arch);
        assert!(
            i.edition.is_none() || borrowed(&i.edition),
            "{:?}",
            i.edition
        );
        let family = i.os.as_ref().map(|o| &o.family);
        assert!(
            family.is_none_or(|f| f.is_none() || borrowed(f)),
            "{family:?}"
        );
    }
    // A flip in the last chunk's frame is caught by its checksum.
    let mut bad = bytes.clone();
    let n = bad.len();
    bad[n - 3] ^= 0x5a;
    assert!(decode(&bad).is_err());
}

/// A complete snapshot of three catalogue items.
fn small(version: u64) -> Snapshot {
    Snapshot {
        version,
        fetched_at: Utc::now(),
        incomplete: None,
        items: testdata::catalogue("p", 3),
    }
}

#[test]
fn older_formats_are_refused_not_misread() {
    // What a build before the chunked format wrote: same header layout, one
    // zstd frame, no identity. Refused at the header, before decompressing.
    let mut old = b"IGS".to_vec();
    old.push(1);
    old.extend_from_slice(&42u64.to_le_bytes());
    old.extend_from_slice(&1_700_000_000i64.to_le_bytes());
    old.extend_from_slice(&0u32.to_le_bytes());
    let payload = [0u8, 0, 0];
    old.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    old.extend_from_slice(&zstd::bulk::compress(&payload, 1).expect("zstd"));
    assert_eq!(FORMAT_VERSION, 3);
    assert_eq!(decode(&old), Err(CodecError::UnsupportedFormat(1)));
    assert_eq!(decode_header(&old), Err(CodecError::UnsupportedFormat(1)));
    // Format 2 had the chunk layout but each string among the fields: this
    // build's bytes under its number must not be read as what they are not.
    let s = small(9);
    let mut two = encode(&s).expect("encode");
    two[3] = 2;
    assert_eq!(decode(&two), Err(CodecError::UnsupportedFormat(2)));
    assert_eq!(decode_header(&two), Err(CodecError::UnsupportedFormat(2)));
}

#[test]
fn unknown_format_and_foreign_bytes_are_typed() {
    let s = small(7);
    let mut bytes = encode(&s).expect("encodes");
    bytes[3] = FORMAT_VERSION + 1;
    assert_eq!(
        decode(&bytes),
        Err(CodecError::UnsupportedFormat(FORMAT_VERSION + 1))
    );
    assert_eq!(
        decode_header(&bytes),
        Err(CodecError::UnsupportedFormat(FORMAT_VERSION + 1))
    );
    assert_eq!(decode(b"{\"items\":[]}"), Err(CodecError::BadMagic));
    assert_eq!(decode(b""), Err(CodecError::Truncated));
    bytes[3] = FORMAT_VERSION;
    let n = bytes.len();
    bytes[n - 2] ^= 0x55; // inside the zstd frame: the checksum catches it
    assert!(
        matches!(
            decode(&bytes),
            Err(CodecError::Decompress(_)) | Err(CodecError::Corrupt(_))
        ),
        "{:?}",
        decode(&bytes)
    );
}

#[test]
fn realistic_catalogue_bytes_per_item() {
    // 20k keeps the debug-build test short; the bench reports 100k (release).
    const N: usize = 20_000;
    let mut items = testdata::catalogue("cloudmc-prod", N);
    // As the gateway publishes them: recognised.
    items.iter_mut().for_each(isogate_core::identity::recognise);
    let json = serde_json::to_vec(&items).expect("json");
    let s = Snapshot {
        version: 1,
        fetched_at: Utc::now(),
        incomplete: None,
        items,
    };
    let t = std::time::Instant::now();
    let bytes = encode(&s).expect("encodes");
    let enc = t.elapsed();
    let t = std::time::Instant::now();
    let back = decode(&bytes).expect("decodes");
    let dec = t.elapsed();
    assert_eq!(back.items.len(), N);
    assert!(back == s, "the catalogue round-trips");
    let per_item = bytes.len() as f64 / N as f64;
    eprintln!(
        "{N} items: {} bytes in Redis ({per_item:.1} B/item; JSON {:.1} B/item); encode {enc:?}, decode {dec:?} (debug build)",
        bytes.len(),
        json.len() as f64 / N as f64
    );
    // The checksum label alone is 32 incompressible hex chars (16 bytes of entropy)
    // and the UUID another 16: a realistic item cannot go far below ~40 B.
    assert!(per_item < 120.0, "{per_item:.1} B/item");
    let labels = back.items[0].labels.clone();
    assert!(labels.contains_key("checksum"));
}

/// `bytes` with each chunk's decompressed payload passed through `edit`
/// and compressed again, lengths fixed up: what a writer with a bug (or
/// someone with access to Redis) could store, past zstd's checksum, so
/// that the item parser itself meets the damage.
fn with_chunks_edited(bytes: &[u8], mut edit: impl FnMut(&mut Vec<u8>)) -> Vec<u8> {
    let u32_at =
        |b: &[u8], at: usize| u32::from_le_bytes(b[at..at + 4].try_into().unwrap()) as usize;
    let mut out = bytes[..24].to_vec();
    let n_chunks = u32_at(bytes, 28);
    let table_raw = u32_at(bytes, 32);
    let table_len = u32_at(bytes, 36);
    let mut pos = 40 + table_len;
    let table = &bytes[32..pos];
    let mut total = table_raw;
    let mut chunks = Vec::new();
    for _ in 0..n_chunks {
        let items = u32_at(bytes, pos);
        let raw_len = u32_at(bytes, pos + 4);
        let frame_len = u32_at(bytes, pos + 8);
        let frame = &bytes[pos + 12..pos + 12 + frame_len];
        let mut raw = zstd::bulk::decompress(frame, raw_len).expect("a valid chunk");
        edit(&mut raw);
        total += raw.len();
        chunks.push((
            items,
            raw.len(),
            zstd::bulk::compress(&raw, 1).expect("zstd"),
        ));
        pos += 12 + frame_len;
    }
    out.extend_from_slice(&(total as u32).to_le_bytes());
    out.extend_from_slice(&(n_chunks as u32).to_le_bytes());
    out.extend_from_slice(table);
    for (items, raw_len, frame) in chunks {
        out.extend_from_slice(&(items as u32).to_le_bytes());
        out.extend_from_slice(&(raw_len as u32).to_le_bytes());
        out.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        out.extend_from_slice(&frame);
    }
    out
}

#[test]
fn an_unedited_rebuild_decodes_as_the_original() {
    let (s, bytes) = chunked();
    // (Not the same bytes: the encoder's frames carry a checksum.)
    let same = with_chunks_edited(bytes, |_| {});
    assert!(decode(&same).expect("decodes") == *s);
}

#[test]
fn a_string_section_that_is_not_utf8_is_corrupt() {
    let mut s = chunked().0.clone();
    s.items.truncate(3);
    s.items[0].name = "é".repeat(8);
    let bytes = encode(&s).expect("encode");
    // The section holds item 0's name: its first `é` made to start with a
    // continuation byte. The section is checked whole, before any item.
    let bad = with_chunks_edited(&bytes, |raw| {
        let at = raw
            .windows(2)
            .position(|w| w == "é".as_bytes())
            .expect("an é");
        raw[at] = 0x80;
    });
    assert_eq!(decode(&bad), Err(CodecError::Corrupt("UTF-8")));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Damage inside a well-formed frame reaches the parser: any flip or
    /// cut of a chunk's payload is an error or a snapshot, never a panic.
    #[test]
    fn a_damaged_payload_behind_a_valid_frame_is_an_error_not_a_panic(at in any::<prop::sample::Index>(), flip in 1u8..=255, cut in any::<prop::sample::Index>()) {
        let (_, bytes) = chunked();
        let flipped = with_chunks_edited(bytes, |raw| {
            let i = at.index(raw.len());
            raw[i] ^= flip;
        });
        let _ = decode(&flipped);
        let mut once = true;
        let cut = with_chunks_edited(bytes, |raw| {
            if std::mem::take(&mut once) {
                raw.truncate(cut.index(raw.len()));
            }
        });
        prop_assert!(decode(&cut).is_err(), "a chunk cut short is refused");
    }
}
