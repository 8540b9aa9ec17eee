//! What recognition adds to a cold CloudMC or Cox listing, in one run: the
//! adapters' decode of 100k items (the list body as the simulator sends it
//! -> each element decoded and converted to a normalised item, as
//! `get_data_each` does) against `identity::recognise_all` (as `listing::cache::prepare` runs it) over the same items.
//! The bodies are fetched once, through the adapters' own client, before
//! timing; no HTTP is timed.
//!
//! With `ISOGATE_COUNT_ONCE=<n>` it decodes and recognises `n` items of
//! each once (in `decode_all` and `recognise_all`) and exits: run that
//! under `valgrind --tool=callgrind` for instruction counts, which a busy
//! shared machine does not disturb as it does times.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BatchSize, Criterion, criterion_group};
use isogate_cloudmc::CloudMcClient;
use isogate_cloudmc::client::{ClientSettings, decode_each};
use isogate_core::Iso;
use isogate_core::identity::{self, recognise};
use secrecy::SecretString;

// The gateway binary's allocator: decode is allocation-bound, and glibc's
// malloc would make it look slower (and the ratio better) than it is.
#[global_allocator]
static ALLOC: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

const N: usize = 100_000;

fn count() -> Option<usize> {
    std::env::var("ISOGATE_COUNT_ONCE").ok()?.parse().ok()
}

fn settings(base_url: String, key: &str, service: &str, env: &str) -> ClientSettings {
    ClientSettings {
        base_url,
        api_key: SecretString::from(key),
        service_code: service.into(),
        environment: env.into(),
        org_id: None,
        timeout: Duration::from_secs(60),
        connect_timeout: Duration::from_secs(5),
    }
}

/// The `GET .../isos` (CloudMC v2) and `GET .../images` (Cox) bodies.
fn bodies(n: usize) -> (bytes::Bytes, bytes::Bytes) {
    use isogate_sim::{cloudmc, cox};
    let rt = tokio::runtime::Runtime::new().expect("a runtime");
    rt.block_on(async {
        let mc = cloudmc::start(cloudmc::Options {
            scale: Some(n),
            ..Default::default()
        })
        .await
        .expect("the CloudMC simulator starts");
        let cx = cox::start(cox::Options {
            scale: Some(n),
            ..Default::default()
        })
        .await
        .expect("the Cox simulator starts");
        let get = |s: ClientSettings, what: &'static str| async move {
            let c = CloudMcClient::new(s).expect("a client");
            c.send(reqwest::Method::GET, c.entity_url(&[what]), &[], None)
                .await
                .expect("a listing")
        };
        let m = get(
            settings(
                mc.base_url(),
                cloudmc::DEFAULT_API_KEY,
                cloudmc::SERVICE_CODE,
                cloudmc::ENVIRONMENT,
            ),
            "isos",
        )
        .await;
        let x = get(
            settings(
                cx.base_url(),
                cox::DEFAULT_API_KEY,
                cox::SERVICE_CODE,
                cox::ENVIRONMENT,
            ),
            "images",
        )
        .await;
        (m, x)
    })
}

fn cloudmc_decode(body: &[u8]) -> Vec<Iso> {
    decode_each(body, |v| {
        isogate_cloudmc::convert::iso_from_value("cloudmc", v, false)
    })
    .expect("decodes")
}

fn cox_decode(body: &[u8]) -> Vec<Iso> {
    decode_each(body, |v| {
        isogate_cox::convert::image_from_value("cox", v, false)
    })
    .expect("decodes")
}

/// An adapter's decode of one list body.
type Decode = fn(&[u8]) -> Vec<Iso>;

#[inline(never)]
fn decode_all(body: &[u8], decode: Decode) -> Vec<Iso> {
    decode(body)
}

#[inline(never)]
fn recognise_all(items: &mut [Iso]) {
    identity::recognise_all(items);
}

fn case(c: &mut Criterion, name: &str, body: &[u8], decode: Decode) {
    let items = decode_all(body, decode);
    let recognised = items
        .iter()
        .cloned()
        .map(|mut i| {
            recognise(&mut i);
            i
        })
        .filter(|i| i.os.as_ref().is_some_and(|o| o.family.is_some()))
        .count();
    println!(
        "{name}: {} items, {recognised} with a family, {} body bytes",
        items.len(),
        body.len()
    );
    let mut g = c.benchmark_group(format!("{name}_100k"));
    g.sample_size(10);
    g.bench_function("decode", |b| {
        // The items are dropped outside the timing: freeing them is no part of decode.
        b.iter_with_large_drop(|| decode_all(black_box(body), decode))
    });
    g.bench_function("recognise", |b| {
        // Over freshly decoded items, as `listing::cache::prepare` runs:
        // a clone would lay them out closer together than a decode does.
        // One decode per timed call: `LargeInput` decodes a whole batch
        // first, so all but the last listing it recognises were decoded
        // one or more listings ago, colder than `prepare` ever sees them.
        b.iter_batched_ref(
            || decode_all(body, decode),
            |items| recognise_all(items),
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

fn bench(c: &mut Criterion) {
    let (mc, cx) = bodies(N);
    case(c, "cloudmc_v2", &mc, cloudmc_decode);
    case(c, "cox", &cx, cox_decode);
}

criterion_group!(benches, bench);

fn main() {
    if let Some(n) = count() {
        let (mc, cx) = bodies(n);
        // One body each, so the counts of the two adapters stay apart:
        // `ISOGATE_COUNT_ONCE_ONLY=cox` or `=cloudmc` picks one.
        let only = std::env::var("ISOGATE_COUNT_ONCE_ONLY").unwrap_or_default();
        let (body, decode): (&[u8], Decode) = if only == "cox" {
            (&cx, cox_decode)
        } else {
            (&mc, cloudmc_decode)
        };
        let mut items = decode_all(body, decode);
        recognise_all(&mut items);
        println!("{} items decoded and recognised once", items.len());
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
