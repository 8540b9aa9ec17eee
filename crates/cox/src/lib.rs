//! isogate-cox
