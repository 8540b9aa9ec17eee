//! A [`Filter`] compiled once at parse time: its value typed for the field,
//! `like` patterns folded, `in` lists split, so testing an item allocates
//! nothing.
//!
//! Semantics, per operator:
//! - `eq`/`ne`/`lt`/`le`/`gt`/`ge` compare in the field's type: numbers
//!   numerically, timestamps in time, booleans with `false < true`, text and
//!   enum names **exactly, by byte order** (`like` is the case-insensitive one).
//! - `like`: `%` any run, `_` one character, case-insensitive (text and enum
//!   fields only).
//! - `in`: equal to any of the `|`-separated values.
//! - A missing value (`None`, no such label, no zones) fails every operator
//!   but `ne`, which it passes.
//! - `zones.id`/`zones.name` pass when **any** zone passes; `ne` passes when
//!   **no** zone is equal.

use std::cmp::Ordering;

use super::ast::{Field, Filter, Op};
use super::error::QueryError;
use super::text::LikePattern;
use super::value::{FieldType, Scalar, Val, value_of};
use crate::Iso;

/// The list of operators, for error messages.
pub(crate) const OPS: &str = "one of eq,ne,lt,le,gt,ge,like,in";

#[derive(Clone, Debug, PartialEq, Eq)]
enum Test {
    /// `eq ne lt le gt ge` against one typed value.
    Cmp(Op, Scalar),
    /// `like`.
    Like(LikePattern),
    /// `in`.
    In(Vec<Scalar>),
}

/// A filter ready to evaluate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompiledFilter {
    filter: Filter,
    test: Test,
}

impl CompiledFilter {
    /// Types `filter.raw` for `filter.field`.
    ///
    /// Errors name the parameter `filter` with a position relative to the
    /// start of `raw` (the parser shifts it to the whole parameter value).
    pub fn new(filter: Filter) -> Result<Self, QueryError> {
        let ty = FieldType::of(&filter.field);
        let bad = |at: usize, found: &str| QueryError::found("filter", at, ty.expected(), found);
        let test = match filter.op {
            Op::Like => {
                if matches!(ty, FieldType::Text | FieldType::Enum(_)) {
                    Test::Like(LikePattern::new(&filter.raw))
                } else {
                    // Position `None`: the parser points it at the operator.
                    return Err(QueryError::new(
                        "filter",
                        None,
                        format!(
                            "one of eq,ne,lt,le,gt,ge,in (like is for text fields, {} is not text)",
                            filter.field.name()
                        ),
                        "found 'like'",
                    ));
                }
            }
            Op::In => {
                let mut values = Vec::new();
                let mut at = 0;
                for part in filter.raw.split('|') {
                    values.push(ty.parse(part).ok_or_else(|| bad(at, part))?);
                    at += part.len() + 1;
                }
                Test::In(values)
            }
            op => Test::Cmp(
                op,
                ty.parse(&filter.raw).ok_or_else(|| bad(0, &filter.raw))?,
            ),
        };
        Ok(CompiledFilter { filter, test })
    }

    /// The filter it was compiled from.
    pub fn filter(&self) -> &Filter {
        &self.filter
    }

    /// A rough relative cost of testing one item, for ordering filters:
    /// values stored inline first, then text, then patterns and lists, and
    /// several zones last.
    pub fn cost(&self) -> u8 {
        let ty = match FieldType::of(&self.filter.field) {
            FieldType::Number | FieldType::Bool | FieldType::Timestamp | FieldType::Enum(_) => 0,
            FieldType::Text => 2,
        };
        let test = match self.test {
            Test::Cmp(..) => 0,
            Test::In(_) => 1,
            Test::Like(_) => 2,
        };
        let multi = match self.filter.field {
            Field::ZoneId | Field::ZoneName => 3,
            Field::Label(_) => 1,
            _ => 0,
        };
        ty + test + multi
    }

    /// Whether `item` passes.
    #[inline]
    pub fn matches(&self, item: &Iso) -> bool {
        match self.filter.field {
            Field::ZoneId => self.any_zone(item.zones.iter().map(|z| Val::Str(&z.id))),
            Field::ZoneName => self.any_zone(
                item.zones
                    .iter()
                    .map(|z| z.name.as_deref().map_or(Val::Null, Val::Str)),
            ),
            ref field => self.test(value_of(item, field)),
        }
    }

    fn any_zone<'a>(&self, mut values: impl Iterator<Item = Val<'a>>) -> bool {
        match &self.test {
            Test::Cmp(Op::Ne, v) => {
                !values.any(|z| z.cmp_present(&v.as_val()) == Some(Ordering::Equal))
            }
            _ => values.any(|z| self.test(z)),
        }
    }

    #[inline]
    fn test(&self, v: Val<'_>) -> bool {
        if v == Val::Null {
            return matches!(self.test, Test::Cmp(Op::Ne, _));
        }
        match &self.test {
            Test::Cmp(op, want) => {
                let Some(ord) = v.cmp_present(&want.as_val()) else {
                    return false;
                };
                match op {
                    Op::Eq => ord == Ordering::Equal,
                    Op::Ne => ord != Ordering::Equal,
                    Op::Lt => ord == Ordering::Less,
                    Op::Le => ord != Ordering::Greater,
                    Op::Gt => ord == Ordering::Greater,
                    Op::Ge => ord != Ordering::Less,
                    Op::Like | Op::In => false,
                }
            }
            Test::Like(p) => match v {
                Val::Str(s) => p.matches(s),
                _ => false,
            },
            Test::In(values) => values
                .iter()
                .any(|w| v.cmp_present(&w.as_val()) == Some(Ordering::Equal)),
        }
    }
}
