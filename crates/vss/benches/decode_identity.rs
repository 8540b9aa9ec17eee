//! What recognition adds to a cold VSS listing, in one run: the adapter's
//! decode of 100k ISOs (page bodies as the simulator sends them -> DTOs ->
//! normalised items) against `identity::recognise_all` (as `listing::cache::prepare` runs it) over the same items.
//! The bodies are fetched once, before timing; no HTTP is timed.
//!
//! With `ISOGATE_COUNT_ONCE=<n>` it decodes and recognises `n` items once
//! each (in `decode_all` and `recognise_all`) and exits: run that under
//! `valgrind --tool=callgrind` for instruction counts, which a busy shared
//! machine does not disturb as it does times.

use std::hint::black_box;

use criterion::{BatchSize, Criterion, criterion_group};
use isogate_core::identity::{self, recognise};
use isogate_sim::vss::{DEFAULT_PASSWORD, DEFAULT_USERNAME, Options};

// The gateway binary's allocator: decode is allocation-bound, and glibc's
// malloc would make it look slower (and the ratio better) than it is.
#[global_allocator]
static ALLOC: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

const N: usize = 100_000;

fn count() -> Option<usize> {
    std::env::var("ISOGATE_COUNT_ONCE").ok()?.parse().ok()
}
/// The adapter's own page size (and the simulator's maximum).
const PER_PAGE: usize = 250;

fn bodies(n: usize) -> Vec<bytes::Bytes> {
    let rt = tokio::runtime::Runtime::new().expect("a runtime");
    rt.block_on(async {
        let sim = isogate_sim::vss::start(Options {
            scale: Some(n),
            personal: 0,
            ..Default::default()
        })
        .await
        .expect("the VSS simulator starts");
        let http = reqwest::Client::new();
        let answer: serde_json::Value = http
            .post(format!("{}/auth/request-token", sim.base_url()))
            .basic_auth(DEFAULT_USERNAME, Some(DEFAULT_PASSWORD))
            .json(&serde_json::json!({"otp": null}))
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .expect("a token")
            .json()
            .await
            .expect("a token answer");
        let token = answer["token"].as_str().expect("a token").to_owned();
        let mut out = Vec::new();
        for page in 1..=n.div_ceil(PER_PAGE) {
            let body = http
                .get(format!("{}/v2/iso", sim.base_url()))
                .query(&[
                    ("expand", "1".to_owned()),
                    ("per_page", PER_PAGE.to_string()),
                    ("page", page.to_string()),
                ])
                .bearer_auth(&token)
                .send()
                .await
                .and_then(|r| r.error_for_status())
                .expect("a page")
                .bytes()
                .await
                .expect("a page body");
            out.push(body);
        }
        out
    })
}

#[inline(never)]
fn decode_all(bodies: &[bytes::Bytes]) -> Vec<isogate_core::Iso> {
    let mut items = Vec::new();
    for b in bodies {
        items.extend(isogate_vss::decode_public_page("vss", b).expect("decodes"));
    }
    items
}

#[inline(never)]
fn recognise_all(items: &mut [isogate_core::Iso]) {
    identity::recognise_all(items);
}

fn bench(c: &mut Criterion) {
    let bodies = bodies(N);
    let items = decode_all(&bodies);
    assert_eq!(items.len(), N);
    let recognised = items
        .iter()
        .cloned()
        .map(|mut i| {
            recognise(&mut i);
            i
        })
        .filter(|i| i.os.as_ref().is_some_and(|o| o.family.is_some()))
        .count();
    println!("vss: {recognised} of {N} items have a family");
    let mut g = c.benchmark_group("vss_100k");
    g.sample_size(10);
    g.bench_function("decode", |b| {
        // The items are dropped outside the timing: freeing them is no part of decode.
        b.iter_with_large_drop(|| decode_all(black_box(&bodies)))
    });
    g.bench_function("recognise", |b| {
        // Over freshly decoded items, as `listing::cache::prepare` runs:
        // a clone would lay them out closer together than a decode does.
        // One decode per timed call: `LargeInput` decodes a whole batch
        // first, so all but the last listing it recognises were decoded
        // one or more listings ago, colder than `prepare` ever sees them.
        b.iter_batched_ref(
            || decode_all(&bodies),
            |items| recognise_all(items),
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

criterion_group!(benches, bench);

fn main() {
    if let Some(n) = count() {
        let bodies = bodies(n);
        let mut items = decode_all(&bodies);
        recognise_all(&mut items);
        println!("vss: {} items decoded and recognised once", items.len());
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
