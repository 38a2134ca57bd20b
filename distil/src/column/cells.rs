//! Reading the cells of a row as `#[derive(Row)]` expands.

use crate::Value;
use crate::column::{CellError, ColumnValue};
use crate::row::{Row, RowError};

/// Reads a nested row from a cell.
pub fn row_from_value<R: Row>(value: Option<&Value>, type_name: &str) -> Result<R, CellError> {
    match value {
        Some(Value::Object(map)) => R::from_lookup(&|name| map.get(name)).map_err(|e| CellError {
            expected: format!("a `{type_name}`"),
            found: e.to_string(),
        }),
        other => Err(CellError::new(
            format_args!("a `{type_name}` object"),
            other,
        )),
    }
}

/// Reads field `name` of a row.
pub fn field<'a, T: ColumnValue>(
    get: &dyn Fn(&str) -> Option<&'a Value>,
    name: &str,
) -> Result<T, RowError> {
    T::from_value(get(name)).map_err(|error| RowError {
        column: name.to_owned(),
        error,
    })
}
