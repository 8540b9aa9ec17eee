//! Filter + sort + first page over synthetic catalogues of 10k and 100k items
//! (the gateway answers every listing this way from cached snapshots).

use std::hint::black_box;

use chrono::{TimeZone, Utc};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use isogate_core::query::{CursorCodec, Query, execute};
use isogate_core::{Iso, ItemKind, OsRef, ProviderKind, Status, Visibility, ZoneRef};

const FAMILIES: [&str; 6] = ["ubuntu", "debian", "centos", "windows", "alpine", "rocky"];
const STATUSES: [Status; 4] = [
    Status::Ready,
    Status::Ready,
    Status::Processing,
    Status::Failed,
];

/// A deterministic catalogue spread over 4 providers, with the optional
/// fields filled most of the time.
fn catalogue(n: usize) -> Vec<Iso> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut rnd = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    (0..n)
        .map(|k| {
            let r = rnd();
            let family = FAMILIES[(r % 6) as usize];
            let provider =
                ["vss-prod", "cloudmc-a", "cloudmc-b", "cox-edge"][(r >> 8) as usize % 4];
            let name = format!("{family}-{}.{:02}-{k}", 10 + (r >> 12) % 15, (r >> 20) % 12);
            let mut i = Iso::new(
                provider,
                ProviderKind::Vss,
                ItemKind::Iso,
                &format!("{k:08x}"),
                &name,
            );
            i.description = ((r >> 24) % 4 != 0).then(|| format!("{family} installer image {k}"));
            i.size_bytes = ((r >> 28) % 10 != 0).then_some((r >> 32) % 8_000_000_000);
            i.status = STATUSES[(r >> 40) as usize % 4];
            i.bootable = Some((r >> 42) % 2 == 0);
            i.visibility = if (r >> 43) % 2 == 0 {
                Visibility::Public
            } else {
                Visibility::Private
            };
            i.os = Some(OsRef {
                id: Some(format!("os-{}", r % 40)),
                name: Some(format!("{family} (64-bit)").into()),
                ..Default::default()
            });
            i.arch_bits = Some(64);
            i.zones = vec![ZoneRef {
                id: format!("zone-{}", (r >> 44) % 5),
                name: Some(format!("Zone {}", (r >> 44) % 5).into()),
            }];
            i.created_at = Utc
                .timestamp_opt(1_500_000_000 + ((r >> 16) % 200_000_000) as i64, 0)
                .single();
            i.labels.insert("family".into(), family.into());
            i
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let codec = CursorCodec::new(b"bench key");
    let queries = [
        (
            "filter_sort",
            "filter=status,eq,ready;size_bytes,gt,1000000000&sort=name",
        ),
        (
            "like_q_sort_desc",
            "filter=name,like,ubuntu-2%&q=installer&sort=created_at,desc;size_bytes",
        ),
        ("unfiltered_sort_size", "sort=size_bytes,desc"),
    ];
    let mut group = c.benchmark_group("query_first_page");
    for n in [10_000usize, 100_000] {
        let items = catalogue(n);
        for (label, qs) in queries {
            let query = Query::from_query_string(qs).unwrap();
            group.bench_with_input(BenchmarkId::new(label, n), &items, |b, items| {
                b.iter(|| {
                    let page = execute(black_box(&query), items.iter(), &codec).unwrap();
                    black_box((page.items.len(), page.total, page.next_cursor))
                })
            });
        }
        // The next page: cursor decode + the same pass.
        let query = Query::from_query_string(queries[0].1).unwrap();
        let cursor = execute(&query, &items, &codec)
            .unwrap()
            .next_cursor
            .unwrap();
        let next = Query::from_query_string(&format!("{}&cursor={cursor}", queries[0].1)).unwrap();
        group.bench_with_input(
            BenchmarkId::new("filter_sort_page2", n),
            &items,
            |b, items| {
                b.iter(|| {
                    black_box(
                        execute(black_box(&next), items.iter(), &codec)
                            .unwrap()
                            .items
                            .len(),
                    )
                })
            },
        );
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
