//! isogate-core: the contract every part of isogate shares.
//!
//! - [`IsoProvider`]: the one trait every upstream adapter implements, with
//!   [`IsoProviderExt`] for conveniences built on it.
//! - The normalised model ([`Iso`], [`Task`], [`HistoryEntry`]) and global ids ([`GlobalId`]).
//! - [`Capability`]: what a provider can do, declared by its constructor.
//! - [`Error`]: one error type, a [`ErrorKind`] plus a retryable flag plus context.
//! - [`time`]: parsing of every timestamp format the upstreams send.
//! - [`identity`]: recognised OS family, version, arch and edition; grouping and coverage.
//! - [`query`]: the listing query language (parse, evaluate, sort, cursor, project).

pub mod capability;
pub mod error;
pub mod id;
pub mod identity;
mod labels;
pub mod model;
pub mod provider;
pub mod query;
pub mod short_str;
pub mod time;

pub use capability::{Capability, Operation, UnknownOperation};
pub use error::{Error, ErrorKind, Result};
pub use id::{GlobalId, encode_segment, validate_native_id};
pub use model::{
    HistoryEntry, Iso, ItemKind, Labels, OsRef, Outcome, ProviderKind, Status, Task, TaskError,
    TaskStatus, Visibility, ZoneRef,
};
pub use provider::{
    AttachRequest, DetachRequest, ImportRequest, IsoProvider, IsoProviderExt, ListOptions, Listing,
    Pushdown, UpdateRequest,
};
pub use query::{
    CursorCodec, Limits, PageResult, Paging, Projected, Query, QueryError, execute, project,
};
pub use short_str::ShortStr;
