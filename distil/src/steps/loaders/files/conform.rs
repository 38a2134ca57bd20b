//! Whether a file's values fit the declared column types, and CSV text read as those types.

use std::path::Path;

use serde_json::Map;

use super::file_error;
use crate::Value;
use crate::column::{ColumnSpec, DataType};

/// The columns a file has, for messages.
pub(super) fn column_list<'a>(names: impl Iterator<Item = &'a str>) -> String {
    let names: Vec<String> = names.map(|n| format!("`{n}`")).collect();
    if names.is_empty() {
        "none".to_owned()
    } else {
        names.join(", ")
    }
}

/// Whether a file must have the declared column (an `Option` one may be absent).
pub(super) fn must_be_present(column: &ColumnSpec) -> bool {
    column.required && !matches!(column.data_type, DataType::Optional(_))
}

/// A declared column the file lacks, with the columns it has.
pub(super) fn missing(path: &Path, column: &ColumnSpec, found: &str) -> crate::Error {
    file_error(
        path,
        format_args!("has no column `{}`; its columns are {found}", column.name),
    )
}

/// Checks that `record` (a file's first) has every required column with a fitting value.
pub(super) fn check_record(
    path: &Path,
    record: &Map<String, Value>,
    columns: &[ColumnSpec],
) -> crate::Result<()> {
    let found = || column_list(record.keys().map(String::as_str));
    for column in columns {
        match record.get(&column.name) {
            None if must_be_present(column) => return Err(missing(path, column, &found())),
            Some(value) if !fits(&column.data_type, value) => {
                return Err(file_error(
                    path,
                    format_args!(
                        "column `{}` holds {}, but the loader declares `{}`",
                        column.name,
                        describe(value),
                        column.data_type
                    ),
                ));
            }
            _ => {}
        }
    }
    Ok(())
}

/// Whether `value` can be read as `ty`.
pub(super) fn fits(ty: &DataType, value: &Value) -> bool {
    match (ty, value) {
        (DataType::Json, _) => true,
        (DataType::Optional(_), Value::Null) => true,
        (DataType::Optional(inner), v) => fits(inner, v),
        (DataType::Bool, Value::Bool(_)) | (DataType::String, Value::String(_)) => true,
        (DataType::Int(_), Value::Number(n)) => n.is_i64(),
        (DataType::UInt(_), Value::Number(n)) => n.is_u64(),
        (DataType::Float(_), Value::Number(_)) => true,
        (DataType::List(inner), Value::Array(items)) => items.iter().all(|i| fits(inner, i)),
        (DataType::Map(inner), Value::Object(map)) => map.values().all(|v| fits(inner, v)),
        (DataType::Struct { fields, .. }, Value::Object(map)) => {
            fields.iter().all(|f| match map.get(&f.name) {
                Some(v) => fits(&f.data_type, v),
                None => matches!(f.data_type, DataType::Optional(_)),
            })
        }
        _ => false,
    }
}

fn describe(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a bool",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// A CSV cell read as `ty`: numbers and bools parsed, lists and objects as JSON text, an empty
/// cell null for an optional column.
pub(super) fn parse_cell(ty: &DataType, cell: &str) -> Result<Value, String> {
    let parsed = match ty {
        DataType::Optional(_) if cell.is_empty() => return Ok(Value::Null),
        DataType::Optional(inner) => return parse_cell(inner, cell),
        DataType::String | DataType::Json => return Ok(Value::String(cell.to_owned())),
        DataType::Bool => cell
            .trim()
            .parse::<bool>()
            .map(Value::Bool)
            .map_err(|e| e.to_string()),
        DataType::Int(_) => cell
            .trim()
            .parse::<i64>()
            .map(Value::from)
            .map_err(|e| e.to_string()),
        DataType::UInt(_) => cell
            .trim()
            .parse::<u64>()
            .map(Value::from)
            .map_err(|e| e.to_string()),
        DataType::Float(_) => cell
            .trim()
            .parse::<f64>()
            .map(Value::from)
            .map_err(|e| e.to_string()),
        DataType::List(_) | DataType::Map(_) | DataType::Struct { .. } => {
            serde_json::from_str::<Value>(cell).map_err(|e| format!("not JSON: {e}"))
        }
    };
    parsed
        .ok()
        .filter(|v| fits(ty, v))
        .ok_or_else(|| format!("cannot read {cell:?} as `{ty}`"))
}
