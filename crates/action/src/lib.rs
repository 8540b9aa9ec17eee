//! isogate-action
