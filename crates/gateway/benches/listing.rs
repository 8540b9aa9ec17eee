//! The listing hot path through the whole router (`app(state)`, every
//! middleware but the socket) over four in-memory providers of 25k items each
//! (100k in all): the cached 50- and 1,000-item pages, and a filter+sort page
//! whose query changes every iteration so the rendered-answer cache misses.
//!
//! No tracing subscriber is installed, so the per-request log line costs
//! nothing here; the load harness (bench/load.sh) measures it for real.

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use chrono::{TimeZone, Utc};
use criterion::{Criterion, criterion_group, criterion_main};
use http_body_util::BodyExt;
use isogate::config::Config;
use isogate::{AppState, ProviderHandle, app};
use isogate_core::{
    Capability, Iso, IsoProvider, ItemKind, ListOptions, Listing, OsRef, ProviderKind, Result,
    Status, Visibility, ZoneRef,
};
use tower::ServiceExt;

const PROVIDERS: [&str; 4] = ["vss-prod", "cloudmc-a", "cloudmc-b", "cox-edge"];
const PER_PROVIDER: usize = 25_000;
const FAMILIES: [&str; 6] = ["ubuntu", "debian", "centos", "windows", "alpine", "rocky"];
const STATUSES: [Status; 4] = [
    Status::Ready,
    Status::Ready,
    Status::Processing,
    Status::Failed,
];

/// A provider that answers its fixed catalogue instantly.
#[derive(Debug)]
struct Fixed {
    name: String,
    items: Vec<Iso>,
}

#[async_trait]
impl IsoProvider for Fixed {
    fn name(&self) -> &str {
        &self.name
    }
    fn kind(&self) -> ProviderKind {
        ProviderKind::Vss
    }
    fn capability(&self) -> Capability {
        Capability {
            list: true,
            ..Default::default()
        }
    }
    async fn list(&self, _opts: &ListOptions) -> Result<Listing> {
        Ok(Listing {
            items: self.items.clone(),
            ..Default::default()
        })
    }
}

/// A deterministic catalogue with the optional fields filled most of the
/// time (the same shape as the core query bench).
fn catalogue(provider: &str, seed: u64, n: usize) -> Vec<Iso> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15 ^ seed;
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

fn router() -> Router {
    // Windows long enough that no snapshot ages out during a run.
    let (config, _) = Config::from_toml(
        "[cache]\nfresh_ttl_s = 86400\nstale_ttl_s = 86400\nstale_if_error_s = 86400\n",
    )
    .expect("bench config");
    let handles = PROVIDERS
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let provider = Fixed {
                name: (*name).to_owned(),
                items: catalogue(name, i as u64, PER_PROVIDER),
            };
            ProviderHandle::new(Arc::new(provider), Duration::from_secs(10))
        })
        .collect();
    let state = AppState::new(config, handles);
    state.set_ready();
    app(state)
}

async fn fetch(router: &Router, uri: &str) -> usize {
    let req = Request::get(uri).body(Body::empty()).expect("request");
    let resp = router.clone().oneshot(req).await.expect("infallible");
    assert_eq!(resp.status(), StatusCode::OK, "{uri}");
    resp.into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes()
        .len()
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let router = router();
    let mut group = c.benchmark_group("listing_100k");
    for (label, uri) in [
        ("cached_page_50", "/v1/isos?per_page=50"),
        ("cached_page_1000", "/v1/isos?per_page=1000"),
    ] {
        // Fill the snapshot and rendered caches first.
        rt.block_on(fetch(&router, uri));
        group.bench_function(label, |b| {
            b.iter(|| black_box(rt.block_on(fetch(&router, uri))))
        });
    }
    // A new size bound every time: the rendered cache never has the answer.
    let bound = AtomicU64::new(0);
    group.bench_function("uncached_filter_sort_page_50", |b| {
        b.iter(|| {
            let n = bound.fetch_add(7919, Ordering::Relaxed) % 4_000_000_000;
            let uri = format!(
                "/v1/isos?filter=status,eq,ready;size_bytes,gt,{n}&sort=name,desc&per_page=50"
            );
            black_box(rt.block_on(fetch(&router, &uri)))
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).measurement_time(Duration::from_secs(5));
    targets = bench
}
criterion_main!(benches);
