//! Recorded-shape fixtures: every body of `fixtures/live.json` (the forms
//! live Cox Edge sends) through the adapter's own decoding, table-style.
//! Cox images ride on the CloudMC client: the same answer check, decoders
//! and table runner, with Cox's own conversion.

#[path = "../../cloudmc/tests/support/fixture_table.rs"]
mod fixture_table;

use isogate_cox::convert::image_from_value;

#[test]
fn every_recorded_body_decodes_to_what_the_table_says() {
    fixture_table::run_table(
        include_str!("fixtures/live.json"),
        |provider, v| image_from_value(provider, v, false),
        &[("list", 3), ("get", 1), ("error", 8), ("task", 6)],
    );
}
