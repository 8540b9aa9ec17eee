//! The seeded CloudMC catalogue: zones, OS types and ISOs, and their JSON per
//! API version.

use chrono::{DateTime, TimeZone, Utc};
use rand::Rng;
use rand::rngs::StdRng;
use serde_json::{Value, json};

use super::{ApiVersion, SEED_ISO_ID, SEED_OS_TYPE_ID, SEED_ZONE_ID};
use crate::rng::seeded;

/// A zone.
#[derive(Clone, Debug)]
pub(crate) struct Zone {
    pub id: String,
    pub name: String,
}

/// A CloudStack OS type.
#[derive(Clone, Debug)]
pub(crate) struct OsType {
    pub id: String,
    pub name: String,
}

/// One ISO as the simulator keeps it.
#[derive(Clone, Debug)]
pub(crate) struct IsoRec {
    pub id: String,
    pub name: String,
    pub description: String,
    pub arch_bits: u32,
    pub size: u64,
    /// Becomes ready at this instant (imports); `None` with `ready` fixed.
    pub ready_at: Option<std::time::Instant>,
    pub ready: bool,
    pub bootable: bool,
    pub public: bool,
    pub extractable: bool,
    pub os: OsType,
    pub zones: Vec<Zone>,
    pub created: DateTime<Utc>,
}

impl IsoRec {
    pub fn is_ready(&self) -> bool {
        match self.ready_at {
            Some(at) => std::time::Instant::now() >= at,
            None => self.ready,
        }
    }

    /// The object as the given API version shows it.
    pub fn to_json(&self, version: ApiVersion) -> Value {
        let ready = self.is_ready();
        // CloudStack reports 0 bytes until the download finished.
        let size = if ready { self.size } else { 0 };
        let (zone_id, zone_name) = match self.zones.as_slice() {
            [one] => (one.id.clone(), one.name.clone()),
            _ => (String::new(), String::new()),
        };
        let mut obj = json!({
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "size": size,
            "ready": ready,
            "bootable": self.bootable,
            "osTypeId": self.os.id,
            "osTypeName": self.os.name,
            "zoneId": zone_id,
        });
        if version == ApiVersion::V2 {
            let m = obj.as_object_mut().expect("object literal");
            m.insert("architectureWidth".into(), json!(self.arch_bits));
            m.insert("availablePublicly".into(), json!(self.public));
            m.insert("extractable".into(), json!(self.extractable));
            m.insert("zoneName".into(), json!(zone_name));
            m.insert("created".into(), json!(format_created(self.created)));
            let zones: Vec<&str> = self.zones.iter().map(|z| z.id.as_str()).collect();
            m.insert("availableInZones".into(), json!(zones));
        }
        obj
    }
}

/// The seed's `created` format: `2017-12-21 4:41:33 PM Z`.
pub(crate) fn format_created(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %-I:%M:%S %p Z").to_string()
}

/// A v4-shaped UUID from a generator.
pub(crate) fn uuid(rng: &mut StdRng) -> String {
    let b: [u8; 16] = rng.random();
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        u32::from_be_bytes([b[0], b[1], b[2], b[3]]),
        u16::from_be_bytes([b[4], b[5]]),
        u16::from_be_bytes([b[6], b[7]]) & 0x0fff,
        (u16::from_be_bytes([b[8], b[9]]) & 0x3fff) | 0x8000,
        u64::from_be_bytes([0, 0, b[10], b[11], b[12], b[13], b[14], b[15]]),
    )
}

const ZONE_NAMES: [&str; 6] = [
    "zone1",
    "ca-east-1",
    "us-west-2",
    "eu-central-1",
    "ap-south-1",
    "us-east-2",
];

/// `count` zones; the first is the seed's `zone1`.
pub(crate) fn zones(seed: u64, count: usize) -> Vec<Zone> {
    let mut rng = seeded(seed, "cloudmc:zones");
    (0..count.max(1))
        .map(|i| Zone {
            id: if i == 0 {
                SEED_ZONE_ID.to_owned()
            } else {
                uuid(&mut rng)
            },
            name: ZONE_NAMES
                .get(i)
                .map_or_else(|| format!("zone{}", i + 1), |n| (*n).to_owned()),
        })
        .collect()
}

const OS_NAMES: [&str; 14] = [
    "Other (64-bit)",
    "Other (32-bit)",
    "Ubuntu 22.04 LTS",
    "Ubuntu 20.04 LTS",
    "Ubuntu 18.04 LTS",
    "Debian GNU/Linux 12 (64-bit)",
    "CentOS 7",
    "Rocky Linux 9",
    "AlmaLinux 9",
    "Fedora Linux (64 bit)",
    "FreeBSD 13 (64-bit)",
    "Windows Server 2022 (64-bit)",
    "Windows Server 2019 (64-bit)",
    "Windows 10 (64-bit)",
];

/// Every OS type; ids are stable across seeds (CloudStack's are fixed too).
pub(crate) fn os_types() -> Vec<OsType> {
    OS_NAMES
        .iter()
        .map(|name| OsType {
            id: if *name == "Other (64-bit)" {
                SEED_OS_TYPE_ID.to_owned()
            } else {
                uuid(&mut seeded(0, &format!("cloudmc:ostype:{name}")))
            },
            name: (*name).to_owned(),
        })
        .collect()
}

/// (name, description, os type name, bootable, arch bits, approx MiB)
const TEMPLATES: [(&str, &str, &str, bool, u32, u64); 35] = [
    (
        "ubuntu-22.04.4-live-server-amd64",
        "Ubuntu 22.04.4 LTS server installer",
        "Ubuntu 22.04 LTS",
        true,
        64,
        2010,
    ),
    (
        "ubuntu-22.04.4-desktop-amd64",
        "Ubuntu 22.04.4 LTS desktop",
        "Ubuntu 22.04 LTS",
        true,
        64,
        4700,
    ),
    (
        "ubuntu-20.04.6-live-server-amd64",
        "Ubuntu 20.04.6 LTS server installer",
        "Ubuntu 20.04 LTS",
        true,
        64,
        1400,
    ),
    (
        "ubuntu-18.04.6-server-i386",
        "Ubuntu 18.04.6 LTS server, 32-bit",
        "Ubuntu 18.04 LTS",
        true,
        32,
        780,
    ),
    (
        "ubuntu-24.04-live-server-amd64",
        "Ubuntu 24.04 LTS server installer",
        "Ubuntu 22.04 LTS",
        true,
        64,
        2600,
    ),
    (
        "debian-12.5.0-amd64-netinst",
        "Debian 12 network installer",
        "Debian GNU/Linux 12 (64-bit)",
        true,
        64,
        628,
    ),
    (
        "debian-12.5.0-amd64-DVD-1",
        "Debian 12 DVD 1",
        "Debian GNU/Linux 12 (64-bit)",
        true,
        64,
        3900,
    ),
    (
        "debian-11.9.0-i386-netinst",
        "Debian 11 network installer, 32-bit",
        "Other (32-bit)",
        true,
        32,
        460,
    ),
    (
        "CentOS-7-x86_64-Minimal-2009",
        "CentOS 7.9 minimal",
        "CentOS 7",
        true,
        64,
        973,
    ),
    (
        "CentOS-7-x86_64-DVD-2009",
        "CentOS 7.9 full DVD",
        "CentOS 7",
        true,
        64,
        4500,
    ),
    (
        "CentOS-Stream-9-latest-x86_64-boot",
        "CentOS Stream 9 boot image",
        "Rocky Linux 9",
        true,
        64,
        900,
    ),
    (
        "Rocky-9.3-x86_64-minimal",
        "Rocky Linux 9.3 minimal",
        "Rocky Linux 9",
        true,
        64,
        1700,
    ),
    (
        "Rocky-8.9-x86_64-dvd1",
        "Rocky Linux 8.9 DVD",
        "Rocky Linux 9",
        true,
        64,
        12300,
    ),
    (
        "AlmaLinux-9.3-x86_64-minimal",
        "AlmaLinux 9.3 minimal",
        "AlmaLinux 9",
        true,
        64,
        1800,
    ),
    (
        "Fedora-Server-dvd-x86_64-39-1.5",
        "Fedora Server 39 DVD",
        "Fedora Linux (64 bit)",
        true,
        64,
        2500,
    ),
    (
        "FreeBSD-14.0-RELEASE-amd64-disc1",
        "FreeBSD 14.0 installer",
        "FreeBSD 13 (64-bit)",
        true,
        64,
        1100,
    ),
    (
        "openSUSE-Leap-15.5-DVD-x86_64",
        "openSUSE Leap 15.5 DVD",
        "Other (64-bit)",
        true,
        64,
        4200,
    ),
    (
        "archlinux-2024.03.01-x86_64",
        "Arch Linux monthly snapshot",
        "Other (64-bit)",
        true,
        64,
        1000,
    ),
    (
        "alpine-standard-3.19.1-x86_64",
        "Alpine Linux 3.19 standard",
        "Other (64-bit)",
        true,
        64,
        207,
    ),
    (
        "alpine-virt-3.19.1-x86",
        "Alpine Linux 3.19 virtual, 32-bit",
        "Other (32-bit)",
        true,
        32,
        52,
    ),
    (
        "Windows_Server_2022_Eval_x64",
        "Windows Server 2022 evaluation",
        "Windows Server 2022 (64-bit)",
        true,
        64,
        4900,
    ),
    (
        "Windows_Server_2019_Eval_x64",
        "Windows Server 2019 evaluation",
        "Windows Server 2019 (64-bit)",
        true,
        64,
        5100,
    ),
    (
        "en-us_windows_10_business_editions_22h2_x64",
        "Windows 10 22H2 business editions",
        "Windows 10 (64-bit)",
        true,
        64,
        5800,
    ),
    (
        "virtio-win-0.1.240",
        "VirtIO drivers for Windows guests",
        "Other (64-bit)",
        false,
        64,
        598,
    ),
    (
        "virtio-win-0.1.229",
        "VirtIO drivers for Windows guests (previous)",
        "Other (64-bit)",
        false,
        64,
        522,
    ),
    (
        "VMware-tools-linux-12.3.5",
        "VMware Tools for Linux guests",
        "Other (64-bit)",
        false,
        64,
        120,
    ),
    (
        "xs-tools-8.2.1",
        "XenServer guest tools",
        "Other (64-bit)",
        false,
        64,
        72,
    ),
    (
        "cloud-init-seed-nocloud",
        "NoCloud seed for cloud-init",
        "Other (64-bit)",
        false,
        64,
        1,
    ),
    (
        "systemrescue-11.00-amd64",
        "SystemRescue toolkit",
        "Other (64-bit)",
        true,
        64,
        853,
    ),
    (
        "gparted-live-1.5.0-6-amd64",
        "GParted live",
        "Other (64-bit)",
        true,
        64,
        540,
    ),
    (
        "clonezilla-live-3.1.2-9-amd64",
        "Clonezilla live",
        "Other (64-bit)",
        true,
        64,
        420,
    ),
    (
        "memtest86+-7.00-x86_64",
        "Memtest86+ memory tester",
        "Other (64-bit)",
        true,
        64,
        3,
    ),
    (
        "sql-server-2022-dev-x64",
        "SQL Server 2022 developer media",
        "Windows Server 2022 (64-bit)",
        false,
        64,
        1100,
    ),
    (
        "office-ltsc-2021-x64",
        "Office LTSC 2021 install media",
        "Windows 10 (64-bit)",
        false,
        64,
        3800,
    ),
    (
        "firmware-update-dell-r750",
        "Dell R750 firmware update bundle",
        "Other (64-bit)",
        false,
        64,
        950,
    ),
];

/// The catalogue: the seed's example first, then `scale - 1` (default 35)
/// seeded ISOs.
pub(crate) fn isos(seed: u64, scale: Option<usize>, zones: &[Zone], os: &[OsType]) -> Vec<IsoRec> {
    let mut rng = seeded(seed, "cloudmc:isos");
    let total = scale.unwrap_or(TEMPLATES.len() + 1);
    let mut out = Vec::with_capacity(total);
    if total == 0 {
        return out;
    }
    out.push(IsoRec {
        id: SEED_ISO_ID.to_owned(),
        name: "ubuntu".into(),
        description: "Example ISO".into(),
        arch_bits: 64,
        size: 52_428_800,
        ready_at: None,
        ready: true,
        bootable: true,
        public: false,
        extractable: false,
        os: os[0].clone(),
        zones: vec![zones[0].clone()],
        created: Utc
            .with_ymd_and_hms(2017, 12, 21, 16, 41, 33)
            .single()
            .expect("valid date"),
    });
    let epoch = Utc
        .with_ymd_and_hms(2018, 1, 1, 0, 0, 0)
        .single()
        .expect("valid date")
        .timestamp();
    for i in 0..total - 1 {
        let t = TEMPLATES[i % TEMPLATES.len()];
        let round = i / TEMPLATES.len();
        let name = if round == 0 {
            t.0.to_owned()
        } else {
            format!("{}-r{round}", t.0)
        };
        let os_type = os.iter().find(|o| o.name == t.2).unwrap_or(&os[0]).clone();
        let zone_count = if zones.len() > 1 && rng.random_bool(0.3) {
            rng.random_range(2..=zones.len())
        } else {
            1
        };
        let first = rng.random_range(0..zones.len());
        let iso_zones = (0..zone_count)
            .map(|k| zones[(first + k) % zones.len()].clone())
            .collect();
        let mib = t.5 * rng.random_range(90..=110) / 100;
        out.push(IsoRec {
            id: uuid(&mut rng),
            name,
            description: t.1.to_owned(),
            arch_bits: t.4,
            // A real file has its real size (the same on every simulated
            // cloud); the rest, and repeats, vary around the template's.
            size: {
                let varied = mib.max(1) * 1024 * 1024 + rng.random_range(0..1_048_576);
                crate::releases::size_of(t.0)
                    .filter(|_| round == 0)
                    .unwrap_or(varied)
            },
            ready_at: None,
            // A few downloads never finished (stuck or broken URLs); tool
            // ISOs are always ready so attach has candidates.
            ready: !rng.random_bool(0.06) || !t.3,
            bootable: t.3,
            public: rng.random_bool(0.4),
            // virtio-win is always extractable so download URLs have a candidate.
            extractable: rng.random_bool(0.5) || t.0 == "virtio-win-0.1.240",
            os: os_type,
            zones: iso_zones,
            created: Utc
                .timestamp_opt(epoch + rng.random_range(0..200_000_000), 0)
                .single()
                .expect("in range"),
        });
    }
    out
}
