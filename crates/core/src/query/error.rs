//! The error of a malformed query: which parameter, where in its value, what
//! was expected. The gateway turns it into a 400 problem+json answer.

use std::fmt;

/// A query parameter that could not be understood.
///
/// `Display` reads like `filter: at 5: expected one of eq,ne,lt,le,gt,ge,like,in, found 'eqq'`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct QueryError {
    /// The parameter's name (`filter`, `sort`, `per_page`, `cursor`, ...).
    pub param: String,
    /// The byte offset in that parameter's (decoded) value, when one applies.
    pub position: Option<usize>,
    /// What would have been accepted there.
    pub expected: String,
    /// What was found instead, or why it was refused.
    pub message: String,
}

/// Echoed input is cut to this many characters, so an error never repeats a
/// huge value back.
const MAX_ECHO: usize = 40;

impl QueryError {
    /// A new error.
    pub fn new(
        param: impl Into<String>,
        position: Option<usize>,
        expected: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        QueryError {
            param: param.into(),
            position,
            expected: expected.into(),
            message: message.into(),
        }
    }

    /// An error whose message is "found '<found>'".
    pub(crate) fn found(
        param: &str,
        position: usize,
        expected: impl Into<String>,
        found: &str,
    ) -> Self {
        Self::new(
            param,
            Some(position),
            expected,
            format!("found '{}'", echo(found)),
        )
    }
}

/// `s`, cut to [`MAX_ECHO`] characters with an ellipsis when longer.
pub(crate) fn echo(s: &str) -> String {
    match s.char_indices().nth(MAX_ECHO) {
        Some((cut, _)) => format!("{}...", &s[..cut]),
        None => s.to_owned(),
    }
}

impl fmt::Display for QueryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.param)?;
        if let Some(p) = self.position {
            write!(f, "at {p}: ")?;
        }
        write!(f, "expected {}", self.expected)?;
        if !self.message.is_empty() {
            write!(f, ", {}", self.message)?;
        }
        Ok(())
    }
}

impl From<QueryError> for crate::Error {
    fn from(e: QueryError) -> Self {
        crate::Error::invalid_input(e.to_string())
    }
}
