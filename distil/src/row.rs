//! Typed rows (`#[derive(Row)]`) and row identity.

use std::cmp::Ordering;
use std::fmt;
use std::sync::Arc;

use crate::Value;
use crate::column::{CellError, ColumnSpec};

/// A struct whose fields are typed columns; derive it with `#[derive(Row)]`.
///
/// Rows declare what a loader produces and what a step outputs. The derive also makes the
/// struct a [`ColumnValue`](crate::ColumnValue), so rows nest (chat messages in a column).
///
/// ```
/// use distil::prelude::*;
///
/// #[derive(Row, Debug, PartialEq)]
/// struct Message { role: String, content: String }
///
/// #[derive(Row)]
/// struct Chat { messages: Vec<Message>, rating: Option<f64> }
///
/// let names: Vec<String> = Chat::columns().into_iter().map(|c| c.name).collect();
/// assert_eq!(names, ["messages", "rating"]);
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a row",
    note = "add `#[derive(Row)]` to it: a step's outputs and a typed loader's columns are the fields of a row"
)]
pub trait Row: Sized + Send + 'static {
    /// The columns, in field order.
    fn columns() -> Vec<ColumnSpec>;
    /// Number of columns.
    fn width() -> usize;
    /// Moves each field into its column (`columns[i]` for the `i`-th column).
    fn write(self, columns: &mut [Vec<Value>]);
    /// Reads a row from a lookup of its columns by name.
    fn from_lookup<'a>(get: &dyn Fn(&str) -> Option<&'a Value>) -> Result<Self, RowError>;
}

/// The empty row: what a filter step (`-> bool`) outputs.
impl Row for () {
    fn columns() -> Vec<ColumnSpec> {
        Vec::new()
    }
    fn width() -> usize {
        0
    }
    fn write(self, _: &mut [Vec<Value>]) {}
    fn from_lookup<'a>(_: &dyn Fn(&str) -> Option<&'a Value>) -> Result<Self, RowError> {
        Ok(())
    }
}

/// A row could not be read: which column, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RowError {
    /// The column that could not be read.
    pub column: String,
    /// Why.
    pub error: CellError,
}

impl fmt::Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "column `{}`: {}", self.column, self.error)
    }
}

impl std::error::Error for RowError {}

/// The stable identity of a row: the index of the source row its generator produced, and the
/// path of sub-indices of the rows a step expanded it into.
///
/// Steps with several predecessors join rows by this id, never by position; ids order the
/// output deterministically.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct RowId {
    index: u64,
    sub: Option<Arc<[u32]>>,
}

impl RowId {
    /// The id of the `index`-th row of a generator.
    pub fn new(index: u64) -> Self {
        RowId { index, sub: None }
    }

    /// The source row's index.
    pub fn index(&self) -> u64 {
        self.index
    }

    /// The sub-indices (empty for a row that was never expanded).
    pub fn sub(&self) -> &[u32] {
        self.sub.as_deref().unwrap_or(&[])
    }

    /// The id of the `n`-th row expanded from this one.
    pub fn child(&self, n: u32) -> Self {
        let mut sub = self.sub().to_vec();
        sub.push(n);
        RowId {
            index: self.index,
            sub: Some(sub.into()),
        }
    }

    /// Whether `self` is `other` or a row expanded from it.
    pub fn descends_from(&self, other: &RowId) -> bool {
        self.index == other.index && self.sub().starts_with(other.sub())
    }
}

impl Ord for RowId {
    fn cmp(&self, other: &Self) -> Ordering {
        self.index
            .cmp(&other.index)
            .then_with(|| self.sub().cmp(other.sub()))
    }
}

impl PartialOrd for RowId {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Debug for RowId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.index)?;
        for s in self.sub() {
            write!(f, ".{s}")?;
        }
        Ok(())
    }
}

impl fmt::Display for RowId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_order_by_index_then_path() {
        let a = RowId::new(5);
        let a0 = a.child(0);
        let a1 = a.child(1);
        assert!(a < a0 && a0 < a1 && a1 < RowId::new(6));
        assert!(a1.descends_from(&a) && !a.descends_from(&a1));
        assert_eq!(a1.child(2).to_string(), "5.1.2");
    }
}
