//! What diffing a snapshot costs: the content hash of every item and the
//! differ's pass, over 100k items of a realistic shape. Includes the hash
//! the feed used before (SHA-256 over a JSON value built per item), so one
//! run gives the ratio.
//!
//! `cargo bench -p isogate-feed --bench diff -- --warm-up-time 1 --measurement-time 3`

use criterion::{Criterion, criterion_group, criterion_main};
use isogate_core::{Iso, ItemKind, ProviderKind, ZoneRef};
use isogate_feed::{Differ, content_hash};
use sha2::{Digest, Sha256};

const N: usize = 100_000;

fn items() -> Vec<Iso> {
    (0..N)
        .map(|i| {
            let mut it = Iso::new(
                "cloudmc-prod",
                ProviderKind::Cloudmc,
                ItemKind::Iso,
                &format!("{i:08x}-7c1e-4d2a-9f00-{i:012x}"),
                &format!("ubuntu-24.04.{}-live-server-amd64.iso", i % 7),
            );
            it.description = Some(format!("Ubuntu 24.04 LTS server image number {i}"));
            it.size_bytes = Some(2_600_000_000 + i as u64);
            it.zones = vec![ZoneRef {
                id: format!("zone-{}", i % 5),
                name: Some(format!("Zone {}", i % 5).into()),
            }];
            it.labels = isogate_core::Labels::from([
                ("family".to_owned(), "ubuntu".to_owned()),
                ("checksum".to_owned(), format!("sha256:{i:064x}")),
            ]);
            isogate_core::identity::recognise(&mut it);
            it
        })
        .collect()
}

/// The previous content hash, for the ratio.
fn sha256_of_value(item: &Iso) -> [u8; 32] {
    let mut fields = match serde_json::to_value(item) {
        Ok(serde_json::Value::Object(m)) => m,
        _ => serde_json::Map::new(),
    };
    fields.remove("raw");
    Sha256::digest(serde_json::to_vec(&fields).unwrap_or_default()).into()
}

fn bench(c: &mut Criterion) {
    let items = items();
    let mut g = c.benchmark_group("feed_diff_100k");
    g.sample_size(10);
    g.bench_function("sha256_of_json_value (before)", |b| {
        b.iter(|| items.iter().map(sha256_of_value).fold(0u8, |a, h| a ^ h[0]))
    });
    g.bench_function("content_hash xxh3 (now)", |b| {
        b.iter(|| items.iter().map(content_hash).fold(0u128, |a, h| a ^ h))
    });
    g.bench_function("differ second snapshot", |b| {
        let mut d = Differ::new();
        d.snapshot("cloudmc-prod", &items, true);
        b.iter(|| d.snapshot("cloudmc-prod", &items, true).len())
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
