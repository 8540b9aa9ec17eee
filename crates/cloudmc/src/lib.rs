//! isogate-cloudmc
