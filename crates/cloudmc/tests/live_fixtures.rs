//! Recorded-shape fixtures: every body of `fixtures/live.json` (the forms
//! live CloudMC sends) through the adapter's own decoding, table-style.

#[path = "support/fixture_table.rs"]
mod fixture_table;

use isogate_cloudmc::convert::iso_from_value;

#[test]
fn every_recorded_body_decodes_to_what_the_table_says() {
    fixture_table::run_table(
        include_str!("fixtures/live.json"),
        |provider, v| iso_from_value(provider, v, false),
        &[
            ("list", 3),
            ("get", 1),
            ("error", 10),
            ("task", 8),
            ("write", 3),
        ],
    );
}
