#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| isogate_fuzz::query_parse(data));
