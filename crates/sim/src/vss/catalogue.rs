//! The seeded catalogue: public ISOs across many distributions, personal ISOs
//! in the user's `vssUser-xfers` store, and image-sync requests.

use chrono::{DateTime, Duration, TimeZone, Utc};
use rand::Rng;
use rand::seq::IndexedRandom;
use std::sync::OnceLock;

use serde_json::value::RawValue;
use serde_json::{Value as Json, json};

use super::clock;
use super::query::{Kind, Record, Val};
use crate::rng::seeded;

/// One ISO (public or personal: separate tables upstream, so ids collide).
#[derive(Clone, Debug)]
pub(crate) struct IsoRec {
    pub id: i64,
    pub name: String,
    pub path: String,
    pub public: bool,
    pub data_store: String,
    pub created_on: DateTime<Utc>,
    pub updated_on: DateTime<Utc>,
    /// Rendered in the 2017-era form (no weekday), as some old rows are.
    pub old_form: bool,
    /// `created_on` and `updated_on` as rendered, once.
    pub texts: OnceLock<[String; 2]>,
    /// The item's JSON, rendered once (ISOs never change once listed).
    pub rendered: OnceLock<Box<RawValue>>,
}

impl Record for IsoRec {
    const SCHEMA: &'static [(&'static str, Kind)] = &[
        ("id", Kind::Int),
        ("name", Kind::Str),
        ("path", Kind::Str),
        ("public", Kind::Bool),
        ("data_store", Kind::Str),
        ("created_on", Kind::Time),
        ("updated_on", Kind::Time),
    ];
    fn id(&self) -> i64 {
        self.id
    }
    fn field(&self, name: &str) -> Option<Val> {
        Some(match name {
            "id" => Val::Int(self.id),
            "name" => Val::Str(self.name.clone()),
            "path" => Val::Str(self.path.clone()),
            "public" => Val::Bool(self.public),
            "data_store" => Val::Str(self.data_store.clone()),
            "created_on" => Val::Str(self.texts()[0].clone()),
            "updated_on" => Val::Str(self.texts()[1].clone()),
            _ => return None,
        })
    }
    fn render(&self) -> Box<RawValue> {
        self.rendered
            .get_or_init(|| {
                serde_json::value::to_raw_value(&self.to_json()).unwrap_or_else(|_| {
                    RawValue::from_string("null".into()).unwrap_or_else(|_| unreachable!())
                })
            })
            .clone()
    }
    fn to_json(&self) -> Json {
        json!({
            "id": self.id,
            "name": self.name,
            "path": self.path,
            "public": self.public,
            "data_store": self.data_store,
            "created_on": self.texts()[0],
            "updated_on": self.texts()[1],
        })
    }
}

impl IsoRec {
    /// The timestamps as this row renders them (and as filters compare them).
    fn texts(&self) -> &[String; 2] {
        self.texts.get_or_init(|| {
            let render = if self.old_form {
                clock::render_old
            } else {
                clock::render
            };
            [render(self.created_on), render(self.updated_on)]
        })
    }
}

/// Every fourth ISO keeps the 2017-era form, so both forms stay tested.
pub(crate) fn old_form(id: i64) -> bool {
    id % 4 == 0
}

/// Status strings of an image-sync request, as pyvss's `RequestStatus` names them.
pub const SUBMITTED: &str = "SUBMITTED";
/// Being processed.
pub const IN_PROGRESS: &str = "IN_PROGRESS";
/// Done; new personal ISOs are listed.
pub const PROCESSED: &str = "PROCESSED";
/// Failed; `message.errors` says why.
pub const ERROR: &str = "ERROR";

/// An image-sync request (`/v2/request/image_sync/{id}`).
#[derive(Clone, Debug)]
pub(crate) struct SyncRequest {
    pub id: i64,
    pub task_id: String,
    pub username: String,
    pub status: &'static str,
    pub created_on: DateTime<Utc>,
    pub updated_on: DateTime<Utc>,
    pub added: Vec<String>,
    pub errors: Vec<String>,
    /// Fails instead of processing, with this message.
    pub fail_with: Option<String>,
}

impl Record for SyncRequest {
    const SCHEMA: &'static [(&'static str, Kind)] = &[
        ("id", Kind::Int),
        ("status", Kind::Str),
        ("type", Kind::Str),
        ("task_id", Kind::Str),
        ("created_on", Kind::Time),
        ("updated_on", Kind::Time),
    ];
    fn id(&self) -> i64 {
        self.id
    }
    fn field(&self, name: &str) -> Option<Val> {
        Some(match name {
            "id" => Val::Int(self.id),
            "status" => Val::Str(self.status.to_owned()),
            "type" => Val::Str("ISO".into()),
            "task_id" => Val::Str(self.task_id.clone()),
            "created_on" => Val::Str(clock::render(self.created_on)),
            "updated_on" => Val::Str(clock::render(self.updated_on)),
            _ => return None,
        })
    }
    fn to_json(&self) -> Json {
        json!({
            "id": self.id,
            "created_on": clock::render(self.created_on),
            "updated_on": clock::render(self.updated_on),
            "status": self.status,
            "type": "ISO",
            "task_id": self.task_id,
            "user": {"username": self.username},
            "username": self.username,
            "added": self.added,
            "deleted": [],
            "message": {"errors": self.errors, "warnings": []},
        })
    }
}

struct Distro {
    dir: &'static str,
    stem: &'static str,
    versions: &'static [&'static str],
    editions: &'static [&'static str],
}

const DISTROS: &[Distro] = &[
    Distro {
        dir: "Linux/Ubuntu",
        stem: "ubuntu",
        versions: &[
            "14.04.6", "16.04.7", "18.04.6", "20.04.6", "22.04.4", "24.04.1",
        ],
        editions: &["live-server-amd64", "desktop-amd64", "live-server-arm64"],
    },
    Distro {
        dir: "Linux/CentOS",
        stem: "CentOS",
        versions: &["6.10", "7-1611", "7-2009", "8.5.2111", "Stream-9"],
        editions: &["x86_64-Minimal", "x86_64-DVD", "x86_64-NetInstall"],
    },
    Distro {
        dir: "Linux/Debian",
        stem: "debian",
        versions: &["9.13.0", "10.13.0", "11.9.0", "12.5.0"],
        editions: &[
            "amd64-netinst",
            "amd64-DVD-1",
            "arm64-netinst",
            "i386-netinst",
        ],
    },
    Distro {
        dir: "Linux/Fedora",
        stem: "Fedora",
        versions: &["36-1.5", "37-1.7", "38-1.6", "39-1.5", "40-1.14"],
        editions: &[
            "Server-dvd-x86_64",
            "Workstation-Live-x86_64",
            "Everything-netinst-x86_64",
        ],
    },
    Distro {
        dir: "Linux/RHEL",
        stem: "rhel",
        versions: &["7.9", "8.6", "8.8", "9.2", "9.4"],
        editions: &["x86_64-dvd", "x86_64-boot", "aarch64-dvd"],
    },
    Distro {
        dir: "Linux/Rocky",
        stem: "Rocky",
        versions: &["8.8", "8.9", "9.2", "9.3", "9.4"],
        editions: &["x86_64-minimal", "x86_64-dvd", "x86_64-boot"],
    },
    Distro {
        dir: "Linux/AlmaLinux",
        stem: "AlmaLinux",
        versions: &["8.9", "8.10", "9.2", "9.3", "9.4"],
        editions: &["x86_64-minimal", "x86_64-dvd", "x86_64-boot"],
    },
    Distro {
        dir: "Linux/openSUSE",
        stem: "openSUSE-Leap",
        versions: &["15.3", "15.4", "15.5", "15.6"],
        editions: &["DVD-x86_64", "NET-x86_64"],
    },
    Distro {
        dir: "Linux/OracleLinux",
        stem: "OracleLinux",
        versions: &["R7-U9", "R8-U8", "R9-U3"],
        editions: &["Server-x86_64-dvd", "Server-x86_64-boot"],
    },
    Distro {
        dir: "Linux/Kali",
        stem: "kali-linux",
        versions: &["2023.4", "2024.1", "2024.2"],
        editions: &["installer-amd64", "live-amd64"],
    },
    Distro {
        dir: "Linux/Arch",
        stem: "archlinux",
        versions: &["2024.05.01", "2024.06.01"],
        editions: &["x86_64"],
    },
    Distro {
        dir: "BSD/FreeBSD",
        stem: "FreeBSD",
        versions: &["12.4", "13.2", "13.3", "14.0", "14.1"],
        editions: &[
            "RELEASE-amd64-disc1",
            "RELEASE-amd64-dvd1",
            "RELEASE-amd64-bootonly",
        ],
    },
    Distro {
        dir: "BSD/OpenBSD",
        stem: "install",
        versions: &["73", "74", "75"],
        editions: &["amd64"],
    },
    Distro {
        dir: "Windows/Server",
        stem: "Windows_Server",
        versions: &["2012_R2", "2016", "2019", "2022", "2025"],
        editions: &["Standard_x64", "Datacenter_x64", "Essentials_x64"],
    },
    Distro {
        dir: "Windows/Desktop",
        stem: "Windows",
        versions: &["10_21H2", "10_22H2", "11_22H2", "11_23H2"],
        editions: &["Enterprise_x64", "Education_x64", "Pro_x64"],
    },
    Distro {
        dir: "Solaris",
        stem: "sol",
        versions: &["10-u11", "11_3", "11_4"],
        editions: &["x86", "text-x86"],
    },
    Distro {
        dir: "Software/SQLServer",
        stem: "SQLServer",
        versions: &["2016_SP2", "2017", "2019", "2022"],
        editions: &[
            "Standard_x64",
            "Enterprise_x64",
            "Developer_x64",
            "Express_x64",
        ],
    },
    Distro {
        dir: "Software/VMware",
        stem: "VMware-tools",
        versions: &["11.3.5", "12.1.5", "12.3.5"],
        editions: &["windows", "linux"],
    },
    Distro {
        dir: "Tools",
        stem: "gparted-live",
        versions: &["1.5.0-6", "1.6.0-3"],
        editions: &["amd64"],
    },
    Distro {
        dir: "Tools",
        stem: "systemrescue",
        versions: &["10.02", "11.01"],
        editions: &["amd64"],
    },
    Distro {
        dir: "Linux/Alpine",
        stem: "alpine-virt",
        versions: &["3.18.4", "3.19.1", "3.20.0"],
        editions: &["x86_64"],
    },
    Distro {
        dir: "Linux/Mint",
        stem: "linuxmint",
        versions: &["20.3", "21.1", "21.2", "21.3", "22"],
        editions: &["cinnamon-64bit", "xfce-64bit", "mate-64bit"],
    },
    Distro {
        dir: "Linux/SLES",
        stem: "SLE",
        versions: &["15-SP4", "15-SP5", "15-SP6"],
        editions: &["Full-x86_64", "Online-x86_64"],
    },
    Distro {
        dir: "Linux/Proxmox",
        stem: "proxmox-ve",
        versions: &["7.4-1", "8.1-2", "8.2-1"],
        editions: &["amd64"],
    },
    Distro {
        dir: "Linux/TrueNAS",
        stem: "TrueNAS-SCALE",
        versions: &["23.10.2", "24.04.1"],
        editions: &["amd64"],
    },
    Distro {
        dir: "Linux/NixOS",
        stem: "nixos-minimal",
        versions: &["23.11", "24.05"],
        editions: &["x86_64-linux"],
    },
    Distro {
        dir: "Tools",
        stem: "memtest86-plus",
        versions: &["6.20"],
        editions: &["x86_64"],
    },
    Distro {
        dir: "Linux/Gentoo",
        stem: "install-amd64-minimal",
        versions: &["20240501"],
        editions: &["x86_64"],
    },
];

/// Public data stores ISOs are spread over.
const PUBLIC_STORES: &[&str] = &["vss-ISOs", "vss-ISOs-02", "vss-ISOs-ssd"];

/// The default number of public ISOs.
pub const DEFAULT_PUBLIC: usize = 230;

fn all_names() -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    for d in DISTROS {
        for v in d.versions {
            for e in d.editions {
                out.push((d.dir, format!("{}-{v}-{e}", d.stem)));
            }
        }
    }
    out
}

fn stamp(rng: &mut impl Rng) -> DateTime<Utc> {
    // 2016-01-01 .. 2024-12-31, second precision like the upstream's.
    let base = Utc
        .with_ymd_and_hms(2016, 1, 1, 0, 0, 0)
        .single()
        .unwrap_or_default();
    base + Duration::seconds(rng.random_range(0..(9 * 365 * 86_400)))
}

/// `n` public ISOs; names are unique (a `-rN` suffix repeats the distribution
/// list when `n` exceeds it).
pub(crate) fn public(seed: u64, n: usize) -> Vec<IsoRec> {
    let mut rng = seeded(seed, "vss-public");
    let names = all_names();
    (0..n)
        .map(|i| {
            let (dir, stem) = &names[i % names.len()];
            let round = i / names.len();
            let name = if round == 0 {
                stem.clone()
            } else {
                format!("{stem}-r{round}")
            };
            let created = stamp(&mut rng);
            let updated = created + Duration::seconds(rng.random_range(0..(400 * 86_400)));
            let store = *PUBLIC_STORES.choose(&mut rng).unwrap_or(&"vss-ISOs");
            IsoRec {
                id: i as i64 + 1,
                path: format!("[{store}] {dir}/{name}.iso"),
                name,
                public: true,
                data_store: store.to_owned(),
                created_on: created,
                updated_on: updated,
                old_form: old_form(i as i64 + 1),
                texts: OnceLock::new(),
                rendered: OnceLock::new(),
            }
        })
        .collect()
}

/// `n` personal ISOs of `username`, ids from 1 (colliding with public ids,
/// as separate upstream tables do).
pub(crate) fn personal(seed: u64, username: &str, n: usize) -> Vec<IsoRec> {
    let mut rng = seeded(seed, "vss-personal");
    let names = all_names();
    (0..n)
        .map(|i| {
            let (_, stem) = names
                .choose(&mut rng)
                .cloned()
                .unwrap_or(("", "custom".into()));
            let name = format!("{stem}-custom{}", i + 1);
            let created = stamp(&mut rng);
            personal_rec(i as i64 + 1, username, &name, created)
        })
        .collect()
}

/// A personal ISO as a sync registers it.
pub(crate) fn personal_rec(id: i64, username: &str, name: &str, at: DateTime<Utc>) -> IsoRec {
    IsoRec {
        id,
        name: name.to_owned(),
        path: format!("[vssUser-xfers] {username}/{name}.iso"),
        public: false,
        data_store: "vssUser-xfers".into(),
        created_on: at,
        updated_on: at,
        old_form: old_form(id),
        texts: OnceLock::new(),
        rendered: OnceLock::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_catalogue_is_deterministic_unique_and_spread() {
        let a = public(7, DEFAULT_PUBLIC);
        let b = public(7, DEFAULT_PUBLIC);
        assert_eq!(a.len(), DEFAULT_PUBLIC);
        assert!(
            a.iter()
                .zip(&b)
                .all(|(x, y)| x.name == y.name && x.created_on == y.created_on)
        );
        let names: std::collections::BTreeSet<_> = a.iter().map(|i| &i.name).collect();
        assert_eq!(names.len(), a.len());
        assert!(all_names().len() >= DEFAULT_PUBLIC);
        let big = public(7, 2000);
        let names: std::collections::BTreeSet<_> = big.iter().map(|i| &i.name).collect();
        assert_eq!(names.len(), 2000);
    }
}
