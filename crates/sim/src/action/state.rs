//! The simulated account: ISO records, servers, sessions, callbacks and the
//! operation history. Time-driven changes (uploads becoming ready, callbacks
//! completing, queued deletions) are applied lazily by [`State::tick`] at the
//! start of every request, so no background task is needed.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use rand::rngs::StdRng;
use rand::{Rng, RngCore, SeedableRng};
use serde::Serialize;
use serde_json::{Value, json};

use super::{CLIENT_EMAIL, OTHER_EMAIL, OTHER_SERVER_ID, SERVER_IDS};

/// One ISO record, serialised exactly as `add`, `update`, `upload` and
/// `uploaded` answer it (the seed's `add` example).
#[derive(Clone, Debug, Serialize)]
pub(crate) struct IsoRec {
    pub id: u64,
    pub name: String,
    pub short_name: String,
    pub iso_name: String,
    pub private: Option<String>,
    pub description: String,
    pub admin_only: u8,
    pub status: String,
    pub size: u64,
    pub created_at: String,
    pub updated_at: String,
    #[serde(skip)]
    pub ready_at: Option<Instant>,
    #[serde(skip)]
    pub final_size: u64,
    #[serde(skip)]
    pub purge_at: Option<Instant>,
}

impl IsoRec {
    /// The seed's `list_iso` item: exactly these five fields.
    pub fn list_item(&self) -> Value {
        json!({
            "id": self.id,
            "iso_name": self.iso_name,
            "description": self.description,
            "size": self.size,
            "created_at": self.created_at,
        })
    }
    pub fn record(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
    pub fn live(&self) -> bool {
        self.purge_at.is_none()
    }
}

/// A logged-in API key.
#[derive(Clone, Debug)]
pub(crate) struct Session {
    pub admin: bool,
    pub email: String,
    pub expires: Instant,
}

/// A server an ISO can be mounted on.
#[derive(Clone, Debug)]
pub(crate) struct Server {
    pub owner: String,
    pub mounted: Option<u64>,
}

/// How a callback ended badly: the `result` word and the message.
pub(crate) type Failure = (&'static str, String);

#[derive(Clone, Debug)]
pub(crate) struct Callback {
    pub action: &'static str,
    pub server: u64,
    pub iso: Option<u64>,
    pub actor: String,
    pub started: Instant,
    pub ready_at: Instant,
    pub outcome: Option<Result<Value, Failure>>,
}

#[derive(Clone, Debug, Serialize)]
pub(crate) struct HistRec {
    pub id: u64,
    pub date: String,
    pub description: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub login: String,
    pub message: String,
    pub iso_name: String,
    #[serde(skip)]
    pub iso_id: u64,
}

#[derive(Debug)]
pub(crate) struct State {
    pub isos: BTreeMap<u64, IsoRec>,
    pub servers: BTreeMap<u64, Server>,
    pub sessions: HashMap<String, Session>,
    pub callbacks: HashMap<String, Callback>,
    pub history: Vec<HistRec>,
    pub next_id: u64,
    pub rng: StdRng,
    /// Callbacks stay running (`OK` + scope `pending`) while set.
    pub hold_callbacks: bool,
    /// Callbacks completing while set end with this `result` word instead.
    pub callbacks_end: Option<&'static str>,
    /// The `ttl` of the last login, if it sent one.
    pub last_ttl: Option<u64>,
    /// Answer in the pre-2024 forms: top-level login token, `data.callback`,
    /// callbacks `OK` without a scope.
    pub legacy: bool,
}

pub(crate) fn rfc3339(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// The history's naive "2024-01-15 10:30:00" shape (UTC).
pub(crate) fn naive(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S").to_string()
}

/// A stable, plausible size for an ISO file name (300 MB .. 6 GB).
pub(crate) fn size_for(name: &str) -> u64 {
    let h = name.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    300 * 1024 * 1024 + h % (5700 * 1024 * 1024)
}

/// (version, real file stem) pairs of one family.
type Releases = &'static [(&'static str, &'static str)];

/// (display name, short name, [(version, real file stem)]): HOSTKEY's
/// catalogue, with the distributions' own file names (shared with the other
/// simulators through `releases`, sizes included).
const FAMILIES: [(&str, &str, Releases); 12] = [
    (
        "Ubuntu Server",
        "ubuntu",
        &[
            ("20.04", "ubuntu-20.04.6-live-server-amd64"),
            ("22.04", "ubuntu-22.04.4-live-server-amd64"),
            ("24.04", "ubuntu-24.04.1-live-server-amd64"),
        ],
    ),
    (
        "Debian",
        "debian",
        &[
            ("11", "debian-11.9.0-amd64-netinst"),
            ("12", "debian-12.5.0-amd64-netinst"),
        ],
    ),
    (
        "Rocky Linux",
        "rocky",
        &[
            ("8.9", "Rocky-8.9-x86_64-minimal"),
            ("9.3", "Rocky-9.3-x86_64-minimal"),
        ],
    ),
    (
        "AlmaLinux",
        "alma",
        &[
            ("8.9", "AlmaLinux-8.9-x86_64-minimal"),
            ("9.4", "AlmaLinux-9.4-x86_64-minimal"),
        ],
    ),
    (
        "CentOS Stream",
        "centos",
        &[("9", "CentOS-Stream-9-latest-x86_64-boot")],
    ),
    (
        "Fedora Server",
        "fedora",
        &[
            ("39", "Fedora-Server-dvd-x86_64-39-1.5"),
            ("40", "Fedora-Server-dvd-x86_64-40-1.14"),
        ],
    ),
    (
        "openSUSE Leap",
        "opensuse",
        &[("15.5", "openSUSE-Leap-15.5-DVD-x86_64")],
    ),
    (
        "FreeBSD",
        "freebsd",
        &[
            ("13.3", "FreeBSD-13.3-RELEASE-amd64-disc1"),
            ("14.1", "FreeBSD-14.1-RELEASE-amd64-disc1"),
        ],
    ),
    (
        "Windows Server",
        "windows-server",
        &[
            ("2019", "Windows_Server_2019_Eval_x64"),
            ("2022", "Windows_Server_2022_Eval_x64"),
        ],
    ),
    ("Proxmox VE", "proxmox-ve", &[("8.2", "proxmox-ve_8.2-1")]),
    (
        "VMware ESXi",
        "esxi",
        &[
            ("7.0", "VMware-VMvisor-Installer-7.0U3n-21930508.x86_64"),
            ("8.0", "VMware-VMvisor-Installer-8.0U2-22380479.x86_64"),
        ],
    ),
    (
        "SystemRescue",
        "systemrescue",
        &[("11.01", "systemrescue-11.01-amd64")],
    ),
];

/// HOSTKEY keeps its own build of this one (drivers added), so the same
/// identity has another size here than elsewhere: a real "different" cell.
const RESPUN: &str = "debian-12.5.0-amd64-netinst";

/// The size of a seeded file: the real file's, a respin's, or a stable guess.
fn seeded_size(stem: &str) -> u64 {
    match crate::releases::size_of(stem) {
        Some(real) if stem == RESPUN => real + 6 * 1024 * 1024,
        Some(real) => real,
        None => size_for(stem),
    }
}

impl State {
    /// A deterministic catalogue of `n` ISOs. Of every ten: six public, two
    /// private to the client, one private to another customer, one admin-only;
    /// a few of the client's are still `Pending` or ended in `Error`.
    pub fn seeded(mut rng: StdRng, n: usize) -> State {
        let mut state = State {
            isos: BTreeMap::new(),
            servers: BTreeMap::new(),
            sessions: HashMap::new(),
            callbacks: HashMap::new(),
            history: Vec::new(),
            next_id: 100,
            rng: StdRng::seed_from_u64(rng.random()),
            hold_callbacks: false,
            callbacks_end: None,
            last_ttl: None,
            legacy: false,
        };
        let epoch = Utc.with_ymd_and_hms(2023, 1, 1, 0, 0, 0).single();
        let epoch = epoch.unwrap_or_else(Utc::now);
        for i in 0..n {
            let (full, short, versions) = FAMILIES[rng.random_range(0..FAMILIES.len())];
            let (version, stem) = versions[rng.random_range(0..versions.len())];
            let mut iso_name = format!("{stem}.iso");
            if state.isos.values().any(|r| r.iso_name == iso_name) {
                iso_name = format!("{stem}-{i}.iso");
            }
            let created = epoch + chrono::Duration::seconds(rng.random_range(0..63_000_000));
            let (private, admin_only) = match i % 10 {
                6 | 7 => (Some(CLIENT_EMAIL.to_owned()), 0),
                8 => (Some(OTHER_EMAIL.to_owned()), 0),
                9 => (None, 1),
                _ => (None, 0),
            };
            let status = match i % 20 {
                7 => "Pending",
                16 => "Error",
                _ => "Ready",
            };
            let id = state.next_id;
            state.next_id += 1;
            // Another copy of the same file is the same size.
            let size = seeded_size(stem);
            let rec = IsoRec {
                id,
                name: format!("{full} {version}"),
                short_name: format!("{short}{}", version.replace('.', "")),
                iso_name: iso_name.clone(),
                private: private.clone(),
                description: format!("{full} {version} installation image"),
                admin_only,
                status: status.to_owned(),
                size: if status == "Ready" { size } else { 0 },
                created_at: rfc3339(created),
                updated_at: rfc3339(created),
                ready_at: None,
                final_size: size,
                purge_at: None,
            };
            let (kind, login) = match &private {
                Some(email) => ("upload", email.clone()),
                None => ("add", super::ADMIN_EMAIL.to_owned()),
            };
            state.log_at(created, &rec, kind, &login, "ISO added");
            state.isos.insert(id, rec);
        }
        for id in SERVER_IDS {
            state.servers.insert(
                id,
                Server {
                    owner: CLIENT_EMAIL.to_owned(),
                    mounted: None,
                },
            );
        }
        state.servers.insert(
            OTHER_SERVER_ID,
            Server {
                owner: OTHER_EMAIL.to_owned(),
                mounted: None,
            },
        );
        state
    }

    pub fn new_key(&mut self) -> String {
        let mut bytes = [0u8; 16];
        self.rng.fill_bytes(&mut bytes);
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    pub fn log(&mut self, rec: &IsoRec, kind: &str, login: &str, message: &str) {
        self.log_at(Utc::now(), rec, kind, login, message);
    }

    fn log_at(&mut self, at: DateTime<Utc>, rec: &IsoRec, kind: &str, login: &str, msg: &str) {
        let id = self.history.len() as u64 + 1;
        self.history.push(HistRec {
            id,
            date: naive(at),
            description: msg.to_owned(),
            kind: kind.to_owned(),
            login: login.to_owned(),
            message: msg.to_owned(),
            iso_name: rec.iso_name.clone(),
            iso_id: rec.id,
        });
    }

    /// Applies everything whose time has come.
    pub fn tick(&mut self, now: Instant) {
        let stamp = rfc3339(Utc::now());
        for rec in self.isos.values_mut() {
            if rec.ready_at.is_some_and(|t| t <= now) {
                rec.ready_at = None;
                rec.status = "Ready".into();
                rec.size = rec.final_size;
                rec.updated_at = stamp.clone();
            }
        }
        self.isos.retain(|_, r| r.purge_at.is_none_or(|t| t > now));
        let due: Vec<String> = self
            .callbacks
            .iter()
            .filter(|(_, c)| !self.hold_callbacks && c.outcome.is_none() && c.ready_at <= now)
            .map(|(k, _)| k.clone())
            .collect();
        for key in due {
            let Some(cb) = self.callbacks.get(&key).cloned() else {
                continue;
            };
            let outcome = self.complete(&cb);
            if let Some(c) = self.callbacks.get_mut(&key) {
                c.outcome = Some(outcome);
            }
        }
    }

    fn complete(&mut self, cb: &Callback) -> Result<Value, Failure> {
        if let Some(word) = self.callbacks_end {
            let msg = match word {
                "cancelled" => "operation cancelled by the operator",
                "error" => "hypervisor error: the drive could not be changed",
                _ => "operation failed on the server",
            };
            return Err((word, msg.to_owned()));
        }
        match cb.action {
            "mount_iso" => {
                let iso = cb
                    .iso
                    .and_then(|id| self.isos.get(&id))
                    .filter(|r| r.live());
                let Some(rec) = iso.cloned() else {
                    let msg = "ISO was deleted before it could be mounted";
                    return Err(("failed", msg.into()));
                };
                if let Some(server) = self.servers.get_mut(&cb.server) {
                    server.mounted = Some(rec.id);
                }
                let msg = format!("ISO mounted on server {}", cb.server);
                self.log(&rec, "mount", &cb.actor, &msg);
                Ok(json!({"server_id": cb.server, "iso": rec.iso_name, "mounted": true}))
            }
            _ => {
                let prev = self
                    .servers
                    .get_mut(&cb.server)
                    .and_then(|s| s.mounted.take());
                if let Some(rec) = prev.and_then(|id| self.isos.get(&id)).cloned() {
                    let msg = format!("ISO unmounted from server {}", cb.server);
                    self.log(&rec, "unmount", &cb.actor, &msg);
                }
                Ok(json!({"server_id": cb.server, "mounted": false}))
            }
        }
    }

    pub fn start_callback(
        &mut self,
        action: &'static str,
        server: u64,
        iso: Option<u64>,
        actor: &str,
        delay: Duration,
    ) -> String {
        let key = self.new_key();
        self.callbacks.insert(
            key.clone(),
            Callback {
                action,
                server,
                iso,
                actor: actor.to_owned(),
                started: Instant::now(),
                ready_at: Instant::now() + delay,
                outcome: None,
            },
        );
        key
    }

    /// Whether `session` may see `rec` at all.
    pub fn visible(rec: &IsoRec, session: &Session) -> bool {
        rec.live()
            && (session.admin
                || (rec.admin_only == 0
                    && rec.private.as_deref().is_none_or(|p| p == session.email)))
    }

    /// Whether `session` may change or delete `rec` (seed: administrators and
    /// owners of private images).
    pub fn may_modify(rec: &IsoRec, session: &Session) -> bool {
        session.admin || rec.private.as_deref() == Some(session.email.as_str())
    }
}
