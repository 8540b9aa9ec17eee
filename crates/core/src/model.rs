//! The normalised model every provider converts into (DESIGN.md, "Normalised model").

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use crate::labels::Labels;

/// The family of upstream API a provider instance speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ProviderKind {
    /// CloudMC API v1 or v2 ISOs.
    Cloudmc,
    /// University of Toronto ITS Private Cloud (VSS) API v2.
    Vss,
    /// Action-style ISO module (HOSTKEY InvAPI).
    Action,
    /// Cox Edge images.
    Cox,
}

impl ProviderKind {
    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderKind::Cloudmc => "cloudmc",
            ProviderKind::Vss => "vss",
            ProviderKind::Action => "action",
            ProviderKind::Cox => "cox",
        }
    }
}

/// Whether an item is an ISO or a (VM) image.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ItemKind {
    /// A CD/DVD image.
    Iso,
    /// A machine image (Cox Edge).
    Image,
}

impl ItemKind {
    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            ItemKind::Iso => "iso",
            ItemKind::Image => "image",
        }
    }
}

/// The lifecycle state of an item. Unknown upstream values map to `Unknown`
/// and the original is kept in `labels["upstream_status"]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Usable now.
    Ready,
    /// Accepted, not started.
    Pending,
    /// Being downloaded, copied or converted.
    Processing,
    /// The upstream gave up on it.
    Failed,
    /// The upstream said something we do not know.
    Unknown,
}

impl Status {
    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ready => "ready",
            Status::Pending => "pending",
            Status::Processing => "processing",
            Status::Failed => "failed",
            Status::Unknown => "unknown",
        }
    }
}

/// Who may see an item.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Visibility {
    /// Everyone on the upstream.
    Public,
    /// The owning account only.
    Private,
    /// The upstream does not say.
    Unknown,
}

impl Visibility {
    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Visibility::Public => "public",
            Visibility::Private => "private",
            Visibility::Unknown => "unknown",
        }
    }
}

/// An operating-system type reference.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OsRef {
    /// The upstream's OS type id.
    pub id: Option<String>,
    /// The upstream's OS type name.
    // Inline when short, as most are: no allocation per item.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub name: Option<crate::ShortStr>,
    /// The recognised OS family (`ubuntu`, `rocky`, `windows-server`, ...);
    /// null when not recognised (see [`crate::identity`]).
    // Borrowed from the rule table when recognised (no allocation per item,
    // as for `arch` and `edition`); owned when deserialised.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub family: Option<Cow<'static, str>>,
    /// The recognised OS version as the vendor writes it (`24.04.1`, `9.4`, `2022`).
    // Inline (no allocation per item: versions are short).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub version: Option<crate::ShortStr>,
}

/// A zone (region, data store) an item is available in.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ZoneRef {
    /// The zone id.
    pub id: String,
    /// The zone's display name, when the upstream gives it.
    // Inline when short, as most are: no allocation per item.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub name: Option<crate::ShortStr>,
}

/// One catalogue item, normalised.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Iso {
    /// The global id: `provider:native_id` with the native id percent-encoded
    /// (see [`crate::GlobalId`]).
    pub id: String,
    /// The configured provider instance name.
    // Inline (instance names are short): no allocation per item.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub provider: crate::ShortStr,
    /// The family of the provider.
    pub provider_kind: ProviderKind,
    /// The upstream's own id, verbatim.
    pub native_id: String,
    /// ISO or image.
    pub kind: ItemKind,
    /// The display name.
    pub name: String,
    /// The description, if any.
    pub description: Option<String>,
    /// Size in bytes, if known.
    pub size_bytes: Option<u64>,
    /// Lifecycle state.
    pub status: Status,
    /// Whether an instance can boot from it, if known.
    pub bootable: Option<bool>,
    /// Who may see it.
    pub visibility: Visibility,
    /// The OS type, if known.
    pub os: Option<OsRef>,
    /// 32 or 64, if known.
    pub arch_bits: Option<u32>,
    /// The recognised CPU architecture, normalised (`x86_64`, `aarch64`, `i386`, ...).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub arch: Option<Cow<'static, str>>,
    /// The recognised edition or media kind (`live-server`, `dvd`, `netinst`, ...).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub edition: Option<Cow<'static, str>>,
    /// Where it is available.
    pub zones: Vec<ZoneRef>,
    /// The owning account, if known.
    pub owner: Option<String>,
    /// Whether a download URL can be generated, if known.
    pub extractable: Option<bool>,
    /// Creation time, UTC.
    pub created_at: Option<DateTime<Utc>>,
    /// Last update time, UTC.
    pub updated_at: Option<DateTime<Utc>>,
    /// Upstream details without a field of their own.
    #[cfg_attr(feature = "openapi", schema(value_type = std::collections::BTreeMap<String, String>))]
    pub labels: Labels,
    /// How `os.family`, `os.version`, `arch` and `edition` were recognised;
    /// present only when something was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Vec<crate::identity::Evidence>>))]
    pub identity_evidence: Option<crate::identity::EvidenceList>,
    /// The upstream object as received; only present when asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub raw: Option<serde_json::Value>,
}

impl Iso {
    /// A minimal item with the given identity; every optional field empty,
    /// status unknown, visibility unknown. Adapters fill in the rest.
    pub fn new(
        provider: &str,
        provider_kind: ProviderKind,
        kind: ItemKind,
        native_id: &str,
        name: &str,
    ) -> Self {
        Iso {
            id: crate::GlobalId::encode(provider, native_id),
            provider: provider.into(),
            provider_kind,
            native_id: native_id.to_owned(),
            kind,
            name: name.to_owned(),
            description: None,
            size_bytes: None,
            status: Status::Unknown,
            bootable: None,
            visibility: Visibility::Unknown,
            os: None,
            arch_bits: None,
            arch: None,
            edition: None,
            zones: Vec::new(),
            owner: None,
            extractable: None,
            created_at: None,
            updated_at: None,
            labels: Labels::new(),
            identity_evidence: None,
            raw: None,
        }
    }
}

/// The unified state of an asynchronous upstream operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum TaskStatus {
    /// Still running.
    Pending,
    /// Finished well.
    Succeeded,
    /// Finished badly; `Task::error` says why.
    Failed,
}

/// Why a task failed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TaskError {
    /// A stable snake_case code.
    pub code: String,
    /// The upstream's message (never a secret).
    pub message: String,
}

/// An asynchronous upstream operation (CloudMC task, VSS request, action callback).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Task {
    /// The upstream's task id, verbatim.
    pub id: String,
    /// The configured provider instance name.
    pub provider: String,
    /// The operation that started it (`attach`, `detach`, `download_url`, `sync`, ...).
    pub operation: String,
    /// Where it stands.
    pub status: TaskStatus,
    /// What it produced (e.g. `{"url": ...}` for a download URL), once succeeded.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub result: Option<serde_json::Value>,
    /// Why it failed, once failed.
    pub error: Option<TaskError>,
    /// When it was created, if known.
    pub created_at: Option<DateTime<Utc>>,
}

/// One entry of an item's operation history.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HistoryEntry {
    /// When it happened, UTC, if parseable.
    pub at: Option<DateTime<Utc>>,
    /// What kind of operation (`upload`, `mount`, `delete`, ...).
    pub operation: String,
    /// Who did it, if known.
    pub actor: Option<String>,
    /// A human-readable description.
    pub message: Option<String>,
    /// Upstream details without a field of their own.
    #[cfg_attr(feature = "openapi", schema(value_type = std::collections::BTreeMap<String, String>))]
    pub labels: Labels,
}

/// What a write operation produced.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Outcome {
    /// Done synchronously; here is the item as it is now.
    Item {
        /// The item.
        item: Box<Iso>,
    },
    /// Done synchronously; a download URL.
    Url {
        /// The URL (an upstream-generated, time-limited link).
        url: String,
    },
    /// Done synchronously; nothing to return.
    Done,
    /// Started upstream; follow the task.
    Accepted {
        /// The task.
        task: Task,
    },
}
