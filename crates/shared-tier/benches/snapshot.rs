//! Loading a 100k-item snapshot from the shared tier vs decoding the same
//! items from JSON (the upstream-decode proxy), and the compressor choice.
//!
//! The decodes are timed without dropping their result (a replica keeps the
//! snapshot it loads), on jemalloc like the gateway binary.
//!
//! `decode` runs its chunks on every core (2 on the bench machine).
//!
//! `cargo bench -p isogate-shared-tier --bench snapshot`. Sizes are printed
//! once at start; with `redis-server` on PATH it also times a real GET.

use std::hint::black_box;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use chrono::Utc;
use criterion::{Criterion, criterion_group, criterion_main};
use isogate_core::Iso;
use isogate_shared_tier::{
    SharedTier, SharedTierConfig, Snapshot, decode, encode, encode_payload, testdata,
};

// The gateway binary's allocator: decoding 100k items is allocation-bound,
// and glibc's malloc would make both sides look slower than they are.
#[global_allocator]
static ALLOC: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

const N: usize = 100_000;

/// Recognised, as the gateway publishes them (the format stores the identity since 2).
fn snapshot() -> Snapshot {
    let mut items = testdata::catalogue("cloudmc-prod", N);
    items.iter_mut().for_each(isogate_core::identity::recognise);
    Snapshot {
        version: 1,
        fetched_at: Utc::now(),
        incomplete: None,
        items,
    }
}

fn sizes(s: &Snapshot, json: &[u8]) {
    let payload = encode_payload(s);
    let per = |n: usize| n as f64 / N as f64;
    eprintln!(
        "100k items: JSON {:.1} B/item, payload (uncompressed) {:.1} B/item",
        per(json.len()),
        per(payload.len())
    );
    for level in [1, 3, 9] {
        let t = std::time::Instant::now();
        let z = zstd::bulk::compress(&payload, level).expect("zstd");
        eprintln!(
            "  zstd-{level}: {:.1} B/item, compress {:?}",
            per(z.len()),
            t.elapsed()
        );
    }
    let t = std::time::Instant::now();
    let l = lz4_flex::compress_prepend_size(&payload);
    eprintln!(
        "  lz4_flex: {:.1} B/item, compress {:?}",
        per(l.len()),
        t.elapsed()
    );
    let t = std::time::Instant::now();
    let _ = lz4_flex::decompress_size_prepended(&l).expect("lz4");
    eprintln!("  lz4_flex decompress {:?}", t.elapsed());
    let z = zstd::bulk::compress(&payload, 1).expect("zstd");
    let t = std::time::Instant::now();
    let _ = zstd::bulk::decompress(&z, payload.len()).expect("zstd");
    eprintln!("  zstd-1 decompress {:?}", t.elapsed());
    eprintln!(
        "  stored snapshot (format {}, zstd-1 per chunk of {}): {:.1} B/item",
        isogate_shared_tier::FORMAT_VERSION,
        isogate_shared_tier::CHUNK_ITEMS,
        per(encode(s).expect("encode").len())
    );
}

struct Server(Child, u16);
impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn redis_server() -> Option<Server> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .ok()?
        .local_addr()
        .ok()?
        .port();
    let child = Command::new("redis-server")
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let s = Server(child, port);
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Some(s);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

fn bench(c: &mut Criterion) {
    let s = snapshot();
    let json = serde_json::to_vec(&s.items).expect("json");
    let bytes = encode(&s).expect("encode");
    sizes(&s, &json);

    let mut g = c.benchmark_group("snapshot_100k");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(4))
        .warm_up_time(Duration::from_secs(1));
    g.bench_function("encode_compress", |b| {
        b.iter(|| encode(black_box(&s)).expect("encode"))
    });
    g.bench_function("decompress_decode", |b| {
        b.iter_with_large_drop(|| decode(black_box(&bytes)).expect("decode"))
    });
    g.bench_function("decompress_decode_one_thread", |b| {
        b.iter_with_large_drop(|| {
            isogate_shared_tier::decode_on(black_box(&bytes), 1).expect("decode")
        })
    });
    // What storing the identity saves each replica that adopts a snapshot.
    g.bench_function("recognise", |b| {
        b.iter_batched(
            || s.items.clone(),
            |mut items| {
                items.iter_mut().for_each(isogate_core::identity::recognise);
                items
            },
            criterion::BatchSize::LargeInput,
        )
    });
    g.bench_function("serde_json_decode", |b| {
        b.iter_with_large_drop(|| {
            serde_json::from_slice::<Vec<Iso>>(black_box(&json)).expect("json")
        })
    });
    if let Some(server) = redis_server() {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("rt");
        let tier = rt.block_on(async {
            let cfg = SharedTierConfig::new(format!("redis://127.0.0.1:{}", server.1));
            let tier = SharedTier::new(&cfg).expect("tier");
            let v = tier.next_version().await.expect("version");
            let s = Snapshot {
                version: v,
                ..s.clone()
            };
            tier.publish_snapshot("cloudmc-prod", &s)
                .await
                .expect("publish");
            tier
        });
        g.bench_function("redis_get_decode", |b| {
            b.iter_with_large_drop(|| {
                rt.block_on(tier.get_snapshot("cloudmc-prod"))
                    .expect("get")
                    .expect("some")
            })
        });
        drop(server);
    } else {
        eprintln!("redis-server not found: skipping redis_get_decode");
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
