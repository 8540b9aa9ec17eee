//! isogate-vss
