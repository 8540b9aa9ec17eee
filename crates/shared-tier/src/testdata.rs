//! A realistic catalogue for the tests and the bench, shaped like the
//! simulators' (CloudMC-style UUIDs, OS families, zones, accounts, checksum
//! labels). Deterministic; not for production use.

use chrono::{DateTime, Utc};
use isogate_core::{Iso, ItemKind, OsRef, ProviderKind, Status, Visibility, ZoneRef};

const FAMILIES: &[(&str, &str)] = &[
    ("ubuntu", "Ubuntu"),
    ("debian", "Debian GNU/Linux"),
    ("centos", "CentOS"),
    ("rocky", "Rocky Linux"),
    ("alma", "AlmaLinux"),
    ("fedora", "Fedora"),
    ("opensuse", "openSUSE Leap"),
    ("windows-server", "Windows Server"),
    ("freebsd", "FreeBSD"),
    ("arch", "Arch Linux"),
];
const RELEASES: &[&str] = &[
    "7", "8", "9", "10", "11", "12", "20.04", "22.04", "24.04", "2019", "2022", "13.2", "14.0",
];
const EDITIONS: &[&str] = &["server", "desktop", "netinst", "minimal", "live", "dvd"];
const ZONES: &[(&str, &str)] = &[
    ("3a0e1f5c-8d2b-4c41-9a7e-0b6f4d2c1e01", "ca-east-1"),
    ("7b1c2d3e-4f50-4a61-8b72-93a4b5c6d702", "ca-west-1"),
    ("c2d3e4f5-0617-4829-9a3b-4c5d6e7f8003", "us-east-1"),
    ("e4f50617-2839-4a4b-8c5d-6e7f80910204", "eu-central-1"),
];

struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 16
    }
    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[(self.next() as usize) % xs.len()]
    }
    fn uuid(&mut self) -> String {
        let a = self.next();
        let b = self.next();
        format!(
            "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
            a as u32,
            (a >> 32) as u16,
            (b & 0xfff) as u16,
            ((b >> 12) as u16 & 0x3fff) | 0x8000,
            (self.next() & 0xffff_ffff_ffff)
        )
    }
}

/// `n` items of provider `provider`.
pub fn catalogue(provider: &str, n: usize) -> Vec<Iso> {
    let mut r = Lcg(0x0150_9a7e ^ n as u64);
    let accounts: Vec<String> = (0..20)
        .map(|i| format!("acct-{:04}", 1000 + i * 37))
        .collect();
    let os: Vec<(String, String)> = FAMILIES
        .iter()
        .flat_map(|(_, long)| RELEASES.iter().take(4).map(move |rel| (*long, *rel)))
        .map(|(long, rel)| (r_uuid_for(long, rel), format!("{long} {rel} (64-bit)")))
        .collect();
    (0..n)
        .map(|i| {
            let (short, long) = *r.pick(FAMILIES);
            let rel = *r.pick(RELEASES);
            let ed = *r.pick(EDITIONS);
            let native = r.uuid();
            let mut item = Iso::new(
                provider,
                ProviderKind::Cloudmc,
                ItemKind::Iso,
                &native,
                &format!("{short}-{rel}-{ed}-amd64-r{}", i % 7),
            );
            item.description = Some(format!(
                "{long} {rel} {ed} installation media (amd64), build {}",
                r.next() % 500
            ));
            item.size_bytes = Some(300_000_000 + r.next() % 4_000_000_000);
            item.status = match r.next() % 20 {
                0 => Status::Pending,
                1 => Status::Failed,
                _ => Status::Ready,
            };
            item.bootable = Some(true);
            item.visibility = if r.next().is_multiple_of(3) {
                Visibility::Private
            } else {
                Visibility::Public
            };
            let (oid, oname) = r.pick(&os).clone();
            item.os = Some(OsRef {
                id: Some(oid),
                name: Some(oname.into()),
                ..OsRef::default()
            });
            item.arch_bits = Some(64);
            let nz = 1 + (r.next() % 3) as usize;
            let start = (r.next() as usize) % ZONES.len();
            item.zones = (0..nz)
                .map(|k| {
                    let (id, name) = ZONES[(start + k) % ZONES.len()];
                    ZoneRef {
                        id: id.into(),
                        name: Some(name.into()),
                    }
                })
                .collect();
            item.owner = Some(r.pick(&accounts).clone());
            item.extractable = Some(r.next().is_multiple_of(2));
            let created = 1_600_000_000 + (r.next() % 150_000_000) as i64;
            item.created_at = DateTime::<Utc>::from_timestamp(created, 0);
            item.updated_at =
                DateTime::<Utc>::from_timestamp(created + (r.next() % 1_000_000) as i64, 0);
            let mut labels = isogate_core::Labels::new();
            labels.insert("format".into(), "ISO".into());
            labels.insert(
                "checksum".into(),
                format!("{:016x}{:016x}", r.next(), r.next()),
            );
            labels.insert("account".into(), item.owner.clone().unwrap_or_default());
            item.labels = labels;
            item
        })
        .collect()
}

fn r_uuid_for(a: &str, b: &str) -> String {
    let mut h = Lcg(a.len() as u64 * 131 + b.len() as u64);
    for c in a.bytes().chain(b.bytes()) {
        h.0 ^= c as u64;
        h.next();
    }
    h.uuid()
}
