//! Recognition over 100k items against decoding 100k normalised items from
//! JSON: a proxy for a cold listing's decode, kept for the recogniser alone
//! (`identify` is the same without writing the fields). The real ratio is
//! the adapters' `decode_identity` benches' (BENCHMARKS.md, "Image identity").

use std::hint::black_box;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use isogate_core::identity::recognise;
use isogate_core::{Iso, ItemKind, ProviderKind};

const N: usize = 100_000;

/// Real-looking names in every provider's style, some unrecognisable.
const NAMES: [&str; 12] = [
    "ubuntu-24.04.1-live-server-amd64.iso",
    "[vss-ISOs] Linux/Rocky/Rocky-9.4-x86_64-dvd.iso",
    "Rocky-9.4-x86_64-dvd",
    "debian-12.7.0-amd64-netinst.iso",
    "20348.169.210806-2348.fe_release_svc_refresh_SERVER_EVAL_x64FRE_en-us.iso",
    "cox-edge/centos7:v20201110",
    "VMware-VMvisor-Installer-8.0U2-22380479.x86_64.iso",
    "openSUSE-Leap-15.6-DVD-x86_64-Media.iso",
    "FreeBSD-14.1-RELEASE-amd64-disc1.iso",
    "alpine-virt-3.20.3-x86_64.iso",
    "my-custom-build.iso",
    "virtio-win-0.1.240.iso",
];

fn items() -> Vec<Iso> {
    (0..N)
        .map(|k| {
            let mut i = Iso::new(
                ["vss", "cloudmc", "cox", "action"][k % 4],
                ProviderKind::Vss,
                ItemKind::Iso,
                &format!("{k:08x}"),
                NAMES[k % NAMES.len()],
            );
            i.description =
                (k % 3 == 0).then(|| "Installer media uploaded by the platform team".into());
            i.size_bytes = Some(1_000_000 + k as u64);
            if k % 4 == 2 {
                i.labels.insert("family".into(), "centos7".into());
                i.labels.insert("tag".into(), "v20201110".into());
            }
            i
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let items = items();
    let json = serde_json::to_vec(&items).expect("serialisable");
    let mut g = c.benchmark_group("identity_100k");
    g.sample_size(10);
    g.bench_function("decode_json", |b| {
        b.iter(|| black_box(serde_json::from_slice::<Vec<Iso>>(black_box(&json)).expect("decodes")))
    });
    g.bench_function("recognise", |b| {
        b.iter_batched_ref(
            || items.clone(),
            |items| items.iter_mut().for_each(recognise),
            BatchSize::LargeInput,
        )
    });
    g.bench_function("identify", |b| {
        b.iter(|| {
            for i in &items {
                black_box(isogate_core::identity::identify(black_box(i)));
            }
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
