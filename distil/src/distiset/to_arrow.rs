//! Cells to Arrow arrays, column by column: one builder per column, no per-row serde.
//!
//! A cell that does not fit its field's type (a string in an integer column, which only a
//! hand-written step can produce) is written as null; untyped values are written as JSON text.

use std::sync::Arc;

use arrow_array::builder::{BooleanBuilder, PrimitiveBuilder, StringBuilder};
use arrow_array::types::{
    Float32Type, Float64Type, Int8Type, Int16Type, Int32Type, Int64Type, UInt8Type, UInt16Type,
    UInt32Type, UInt64Type,
};
use arrow_array::{
    ArrayRef, ArrowPrimitiveType, ListArray, MapArray, RecordBatch, StringArray, StructArray,
    new_null_array,
};
use arrow_buffer::{NullBuffer, OffsetBuffer};
use arrow_schema::{ArrowError, DataType as ArrowType, Field, FieldRef, Fields, SchemaRef};

use super::schema::is_json_text;
use crate::Value;

static NULL: Value = Value::Null;

/// A record batch of `rows` rows whose columns' cells `cells(name)` gives (`None`: all null).
pub(crate) fn record_batch<'a>(
    schema: &SchemaRef,
    rows: usize,
    mut cells: impl FnMut(&str) -> Option<Vec<&'a Value>>,
) -> Result<RecordBatch, ArrowError> {
    let columns = schema
        .fields()
        .iter()
        .map(|field| match cells(field.name()) {
            Some(cells) => array(field, &cells),
            None => new_null_array(field.data_type(), rows),
        })
        .collect();
    RecordBatch::try_new(schema.clone(), columns)
}

/// One column's cells as an array of `field`'s type.
pub(crate) fn array(field: &Field, cells: &[&Value]) -> ArrayRef {
    match field.data_type() {
        ArrowType::Boolean => {
            let mut builder = BooleanBuilder::with_capacity(cells.len());
            for cell in cells {
                builder.append_option(cell.as_bool());
            }
            Arc::new(builder.finish())
        }
        ArrowType::Int8 => signed::<Int8Type>(cells),
        ArrowType::Int16 => signed::<Int16Type>(cells),
        ArrowType::Int32 => signed::<Int32Type>(cells),
        ArrowType::Int64 => signed::<Int64Type>(cells),
        ArrowType::UInt8 => unsigned::<UInt8Type>(cells),
        ArrowType::UInt16 => unsigned::<UInt16Type>(cells),
        ArrowType::UInt32 => unsigned::<UInt32Type>(cells),
        ArrowType::UInt64 => unsigned::<UInt64Type>(cells),
        ArrowType::Float32 => {
            let mut builder = PrimitiveBuilder::<Float32Type>::with_capacity(cells.len());
            for cell in cells {
                builder.append_option(cell.as_f64().map(|f| f as f32));
            }
            Arc::new(builder.finish())
        }
        ArrowType::Float64 => {
            let mut builder = PrimitiveBuilder::<Float64Type>::with_capacity(cells.len());
            for cell in cells {
                builder.append_option(cell.as_f64());
            }
            Arc::new(builder.finish())
        }
        ArrowType::Utf8 => strings(cells, is_json_text(field)),
        ArrowType::List(item) => list(item, cells),
        ArrowType::Struct(fields) => structs(fields, cells),
        ArrowType::Map(entries, _) => map(entries, cells),
        other => new_null_array(other, cells.len()),
    }
}

fn signed<T: ArrowPrimitiveType>(cells: &[&Value]) -> ArrayRef
where
    T::Native: TryFrom<i64>,
{
    let mut builder = PrimitiveBuilder::<T>::with_capacity(cells.len());
    for cell in cells {
        builder.append_option(cell.as_i64().and_then(|n| T::Native::try_from(n).ok()));
    }
    Arc::new(builder.finish())
}

fn unsigned<T: ArrowPrimitiveType>(cells: &[&Value]) -> ArrayRef
where
    T::Native: TryFrom<u64>,
{
    let mut builder = PrimitiveBuilder::<T>::with_capacity(cells.len());
    for cell in cells {
        builder.append_option(cell.as_u64().and_then(|n| T::Native::try_from(n).ok()));
    }
    Arc::new(builder.finish())
}

fn strings(cells: &[&Value], json_text: bool) -> ArrayRef {
    let bytes: usize = cells.iter().map(|c| c.as_str().map_or(16, str::len)).sum();
    let mut builder = StringBuilder::with_capacity(cells.len(), bytes);
    for cell in cells {
        match cell {
            Value::Null => builder.append_null(),
            Value::String(s) if !json_text => builder.append_value(s),
            other => builder.append_value(other.to_string()),
        }
    }
    Arc::new(builder.finish())
}

fn nulls(cells: &[&Value], valid: impl Fn(&Value) -> bool) -> Option<NullBuffer> {
    let buffer: NullBuffer = cells.iter().map(|c| valid(c)).collect();
    (buffer.null_count() > 0).then_some(buffer)
}

fn list(item: &FieldRef, cells: &[&Value]) -> ArrayRef {
    let mut children: Vec<&Value> = Vec::new();
    let mut lengths = Vec::with_capacity(cells.len());
    for cell in cells {
        match cell {
            Value::Array(items) => {
                children.extend(items.iter());
                lengths.push(items.len());
            }
            _ => lengths.push(0),
        }
    }
    let values = array(item, &children);
    let nulls = nulls(cells, Value::is_array);
    ListArray::try_new(
        item.clone(),
        OffsetBuffer::from_lengths(lengths),
        values,
        nulls,
    )
    .map_or_else(
        |_| new_null_array(&ArrowType::List(item.clone()), cells.len()),
        |a| Arc::new(a),
    )
}

fn structs(fields: &Fields, cells: &[&Value]) -> ArrayRef {
    let children = fields
        .iter()
        .map(|field| {
            let column: Vec<&Value> = cells
                .iter()
                .map(|cell| cell.get(field.name()).unwrap_or(&NULL))
                .collect();
            array(field, &column)
        })
        .collect();
    let nulls = nulls(cells, Value::is_object);
    StructArray::try_new(fields.clone(), children, nulls).map_or_else(
        |_| new_null_array(&ArrowType::Struct(fields.clone()), cells.len()),
        |a| Arc::new(a),
    )
}

fn map(entries: &FieldRef, cells: &[&Value]) -> ArrayRef {
    let ArrowType::Struct(entry_fields) = entries.data_type() else {
        return new_null_array(&ArrowType::Map(entries.clone(), false), cells.len());
    };
    let mut keys: Vec<&str> = Vec::new();
    let mut values: Vec<&Value> = Vec::new();
    let mut lengths = Vec::with_capacity(cells.len());
    for cell in cells {
        match cell {
            Value::Object(object) => {
                for (k, v) in object {
                    keys.push(k);
                    values.push(v);
                }
                lengths.push(object.len());
            }
            _ => lengths.push(0),
        }
    }
    let built = StructArray::try_new(
        entry_fields.clone(),
        vec![
            Arc::new(StringArray::from(keys)) as ArrayRef,
            array(&entry_fields[1], &values),
        ],
        None,
    )
    .and_then(|entries_array| {
        MapArray::try_new(
            entries.clone(),
            OffsetBuffer::from_lengths(lengths),
            entries_array,
            nulls(cells, Value::is_object),
            false,
        )
    });
    built.map_or_else(
        |_| new_null_array(&ArrowType::Map(entries.clone(), false), cells.len()),
        |a| Arc::new(a),
    )
}
