//! Arrow schemas from the declared column types.
//!
//! Every field is nullable: a row error leaves the failing step's output cells null, and a
//! routed or filtered branch leaves a joined row's cells null, whatever the declared type.
//!
//! Columns declared as `serde_json::Value` ([`DataType::Json`]) have no type to map. The rule:
//! a top-level untyped column whose non-null cells in the first batch are all strings is a
//! string column (a later non-string cell is stored as its JSON text); any other untyped
//! column, and every untyped value nested in a typed one, is stored as JSON text in a string
//! column whose field carries the metadata [`JSON_TEXT`]`= "true"`, so distil parses it back
//! into the same value. Declare the column's Rust type to get a typed Arrow column.

use std::collections::HashMap;
use std::sync::Arc;

use arrow_schema::{DataType as ArrowType, Field, Fields};

use crate::Value;
use crate::column::DataType;

/// Field metadata key marking a string column that holds JSON text.
pub(crate) const JSON_TEXT: &str = "distil:json";

/// The Arrow field of a column declared with `data_type`.
pub(crate) fn field(name: &str, data_type: &DataType) -> Field {
    match data_type {
        DataType::Optional(inner) => field(name, inner),
        DataType::Json => json_text_field(name),
        other => Field::new(name, arrow_type(other), true),
    }
}

/// A string field holding JSON text.
pub(crate) fn json_text_field(name: &str) -> Field {
    Field::new(name, ArrowType::Utf8, true)
        .with_metadata(HashMap::from([(JSON_TEXT.to_owned(), "true".to_owned())]))
}

/// The field of a top-level untyped column, from the cells of its first batch (see the module
/// documentation for the rule).
pub(crate) fn untyped_field<'a>(name: &str, mut cells: impl Iterator<Item = &'a Value>) -> Field {
    let mut any = false;
    let all_strings = cells.all(|cell| match cell {
        Value::Null => true,
        Value::String(_) => {
            any = true;
            true
        }
        _ => false,
    });
    if all_strings && any {
        Field::new(name, ArrowType::Utf8, true)
    } else {
        json_text_field(name)
    }
}

/// Whether a string field holds JSON text written by distil.
pub(crate) fn is_json_text(field: &Field) -> bool {
    field.metadata().get(JSON_TEXT).is_some_and(|v| v == "true")
}

fn arrow_type(data_type: &DataType) -> ArrowType {
    match data_type {
        DataType::Bool => ArrowType::Boolean,
        DataType::Int(8) => ArrowType::Int8,
        DataType::Int(16) => ArrowType::Int16,
        DataType::Int(32) => ArrowType::Int32,
        DataType::Int(_) => ArrowType::Int64,
        DataType::UInt(8) => ArrowType::UInt8,
        DataType::UInt(16) => ArrowType::UInt16,
        DataType::UInt(32) => ArrowType::UInt32,
        DataType::UInt(_) => ArrowType::UInt64,
        DataType::Float(32) => ArrowType::Float32,
        DataType::Float(_) => ArrowType::Float64,
        DataType::String | DataType::Json => ArrowType::Utf8,
        DataType::Optional(inner) => arrow_type(inner),
        DataType::List(item) => ArrowType::List(Arc::new(field("item", item))),
        DataType::Map(value) => {
            let entries = Fields::from(vec![
                Field::new("key", ArrowType::Utf8, false),
                field("value", value),
            ]);
            ArrowType::Map(
                Arc::new(Field::new("entries", ArrowType::Struct(entries), false)),
                false,
            )
        }
        DataType::Struct { fields, .. } => ArrowType::Struct(
            fields
                .iter()
                .map(|c| field(&c.name, &c.data_type))
                .collect::<Fields>(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::column::ColumnSpec;
    use serde_json::json;

    #[test]
    fn declared_types_map_to_arrow_types() {
        let message = DataType::Struct {
            name: "Message",
            fields: Arc::from(vec![
                ColumnSpec::new("role", DataType::String),
                ColumnSpec::new("content", DataType::String),
            ]),
        };
        let f = field("messages", &DataType::List(Box::new(message)));
        let ArrowType::List(item) = f.data_type() else {
            panic!("a list: {f:?}")
        };
        let ArrowType::Struct(fields) = item.data_type() else {
            panic!("a struct: {item:?}")
        };
        assert_eq!(fields[0].name(), "role");
        assert_eq!(fields[1].data_type(), &ArrowType::Utf8);
        assert_eq!(
            field("n", &DataType::Optional(Box::new(DataType::UInt(32)))).data_type(),
            &ArrowType::UInt32
        );
        assert!(field("n", &DataType::UInt(64)).is_nullable());
        assert!(matches!(
            field("m", &DataType::Map(Box::new(DataType::Float(64)))).data_type(),
            ArrowType::Map(..)
        ));
    }

    #[test]
    fn untyped_columns_are_strings_only_when_every_cell_is_one() {
        let strings = [json!("a"), Value::Null, json!("b")];
        assert!(!is_json_text(&untyped_field("s", strings.iter())));
        let mixed = [json!("a"), json!(1)];
        assert!(is_json_text(&untyped_field("m", mixed.iter())));
        let nulls = [Value::Null];
        assert!(is_json_text(&untyped_field("n", nulls.iter())));
        assert!(is_json_text(&field("j", &DataType::Json)));
    }
}
