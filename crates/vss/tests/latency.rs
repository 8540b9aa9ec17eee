//! Listing 2,000 ISOs at 40 ms per request: exactly ceil(2000/250) page
//! requests, and about two round trips (its own test binary, so no other
//! test competes for the CPU while it is timed).
//!
//! Wall time is round trips plus CPU (parsing, converting, and the
//! simulator's own rendering, all in one debug-built process). The CPU part
//! is measured first with the latency off and allowed on top of the four
//! round trips: eight sequential pages (eight round trips) or waves of two
//! pages (five) still fail, two waves of four (three) would still pass.

mod common;

use std::time::{Duration, Instant};

use common::{pages, setup, token_requests};
use isogate_core::{Iso, IsoProviderExt};
use isogate_sim::Faults;
use isogate_sim::vss::Options;
use isogate_vss::Catalogue;

const LATENCY: Duration = Duration::from_millis(40);

/// The fastest of three warm listings, each checked for its request count.
async fn best_of_three(s: &common::Setup) -> (Duration, Vec<Iso>) {
    let mut best = Duration::MAX;
    let mut items = Vec::new();
    for _ in 0..3 {
        s.sim.control().reset_counters();
        let t = Instant::now();
        items = s.provider.list_all().await.unwrap();
        best = best.min(t.elapsed());
        assert_eq!(items.len(), 2_000);
        assert_eq!(pages(&s.sim, "/v2/iso"), 8, "ceil(2000/250) page requests");
        assert_eq!(token_requests(&s.sim), 0, "the token is cached");
    }
    (best, items)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_thousand_isos_take_eight_page_requests_and_about_two_round_trips() {
    let s = setup(
        Options {
            scale: Some(2_000),
            ..Default::default()
        },
        Catalogue::Public,
    )
    .await;
    // Cold: token, first page, then the other seven at once.
    let cold = Instant::now();
    assert_eq!(s.provider.list_all().await.unwrap().len(), 2_000);
    let cold = cold.elapsed();
    assert_eq!(pages(&s.sim, "/v2/iso"), 8, "ceil(2000/250) page requests");
    assert_eq!(token_requests(&s.sim), 1);

    let (cpu, _) = best_of_three(&s).await;
    s.sim.control().set_faults(Faults {
        latency_ms: LATENCY.as_millis() as u64,
        ..Default::default()
    });
    let (best, items) = best_of_three(&s).await;
    eprintln!(
        "2000 ISOs: {best:?} at {LATENCY:?}/request, {cpu:?} with no latency (cold start {cold:?})"
    );
    assert!(
        best >= 2 * LATENCY,
        "two sequential round trips at least: {best:?}"
    );
    assert!(
        best < 4 * LATENCY + cpu,
        "under four round trips plus the CPU time: {best:?} (CPU {cpu:?})"
    );
    let mut ids: Vec<&str> = items.iter().map(|i| i.native_id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 2_000);
}
