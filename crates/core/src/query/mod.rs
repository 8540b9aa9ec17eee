//! The listing query language of DESIGN.md: `filter`, `q`, `provider`, `kind`,
//! `sort`, `per_page`, `cursor`/`page`, `fields`.
//!
//! - [`Query::parse`] turns decoded URL pairs into a typed [`Query`], or a
//!   [`QueryError`] naming the parameter, the position and what was expected.
//! - [`Query::matches`] / [`Matcher`] evaluate the selection (see
//!   [`CompiledFilter`] for each operator's semantics).
//! - [`Sorter`] is the total order (sort keys, then id).
//! - [`execute`] answers one page, with keyset cursors from [`CursorCodec`].
//! - [`project`] / [`Projected`] show items with `fields=` and `raw=`.

pub mod ast;
mod cursor;
mod error;
mod exec;
mod filter;
mod matcher;
mod parse;
mod plan;
mod project;
mod sort;
pub mod text;
pub mod value;

pub use ast::{Direction, Field, Filter, Op, SortKey};
pub use cursor::CursorCodec;
pub use error::QueryError;
pub use exec::{PageResult, PartTop, execute, merge, top_of};
pub use filter::CompiledFilter;
pub use matcher::Matcher;
pub use parse::{DEFAULT_PER_PAGE, FIELD_NAMES, Limits, MAX_PER_PAGE, Paging, Query};
pub use project::{Projected, project};
pub use sort::{Position, Sorter};
