//! The cargo-fuzz bodies of `fuzz/` run as proptests, so CI (stable, no
//! libFuzzer) still exercises them: random and structured inputs for the
//! query parser and the global-id decoder, no panics, invariants hold.

#[path = "../../../fuzz/src/lib.rs"]
mod fuzz_bodies;

use proptest::prelude::*;

fn query_like() -> impl Strategy<Value = String> {
    let key = prop_oneof![
        Just("filter".to_owned()),
        Just("sort".to_owned()),
        Just("q".to_owned()),
        Just("per_page".to_owned()),
        Just("page".to_owned()),
        Just("cursor".to_owned()),
        Just("fields".to_owned()),
        Just("provider".to_owned()),
        Just("refresh".to_owned()),
        Just("raw".to_owned()),
        Just("kind".to_owned()),
        "[a-z_]{0,8}".prop_map(|s| s),
    ];
    let value = prop_oneof![
        "[a-z_]{1,10},(eq|ne|gt|ge|lt|le|in|contains|prefix|exists|re)?,[ -~]{0,12}",
        "-?[a-z_]{1,10}(,-?[a-z_]{1,10}){0,3}",
        "[0-9]{0,12}",
        "[ -~]{0,20}",
        "\\PC{0,12}",
    ];
    prop::collection::vec((key, value), 0..8).prop_map(|pairs| {
        pairs
            .into_iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&")
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn query_parser_never_panics(q in query_like(), raw in prop::collection::vec(any::<u8>(), 0..64)) {
        fuzz_bodies::query_parse(q.as_bytes());
        fuzz_bodies::query_parse(&raw);
    }

    #[test]
    fn global_ids_round_trip(s in "[a-z-]{0,8}:[ -~]{0,24}|\\PC{0,24}", raw in prop::collection::vec(any::<u8>(), 0..48)) {
        fuzz_bodies::global_id(s.as_bytes());
        fuzz_bodies::global_id(&raw);
    }
}
