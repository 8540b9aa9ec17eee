//! The listing query language of DESIGN.md: `filter`, `q`, `provider`, `kind`,
//! `sort`, `per_page`, `cursor`/`page`, `fields`.

pub mod ast;

pub use ast::{Direction, Field, Filter, Op, SortKey};
