//! Fuzz bodies, shared by the cargo-fuzz targets and the gateway's proptest
//! smoke (which includes this file by path, so it depends on isogate-core only).

use isogate_core::GlobalId;
use isogate_core::query::{Limits, Matcher, Query};

/// Splits fuzz bytes into query pairs the way a URL query would arrive:
/// `&`-separated, first `=` splits key from value (already decoded).
pub fn pairs(data: &[u8]) -> Vec<(String, String)> {
    String::from_utf8_lossy(data)
        .split('&')
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (k.to_owned(), v.to_owned()),
            None => (p.to_owned(), String::new()),
        })
        .collect()
}

/// The query parser never panics; what it accepts respects the limits and
/// compiles into a matcher.
pub fn query_parse(data: &[u8]) {
    let limits = Limits::default();
    let pairs = pairs(data);
    if let Ok(query) = Query::parse(&pairs, &limits) {
        assert!(query.per_page >= 1 && query.per_page <= limits.max_per_page);
        assert!(query.filters.len() <= limits.max_filters);
        let _ = Matcher::new(&query);
    }
}

/// The global-id decoder never panics, and what it accepts round-trips
/// through the encoder.
pub fn global_id(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(id) = GlobalId::decode(text) {
        let again = GlobalId::decode(&GlobalId::encode(&id.provider, &id.native_id))
            .expect("an encoded id decodes");
        assert_eq!(again.provider, id.provider);
        assert_eq!(again.native_id, id.native_id);
    }
}
