//! Arrow arrays back to cells, column by column.

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Float32Type, Float64Type, Int8Type, Int16Type, Int32Type, Int64Type, UInt8Type, UInt16Type,
    UInt32Type, UInt64Type,
};
use arrow_array::{Array, ArrowPrimitiveType, OffsetSizeTrait, RecordBatch};
use arrow_schema::{DataType as ArrowType, Field};
use serde_json::{Map, Number};

use super::schema::is_json_text;
use crate::Value;

/// The cells of `array`, whose field is `field`; an error names a type distil cannot read.
pub(crate) fn values(field: &Field, array: &dyn Array) -> Result<Vec<Value>, String> {
    let n = array.len();
    let valid = |i: usize| array.is_valid(i);
    Ok(match array.data_type() {
        ArrowType::Null => vec![Value::Null; n],
        ArrowType::Boolean => {
            let a = array.as_boolean();
            (0..n)
                .map(|i| {
                    if valid(i) {
                        Value::Bool(a.value(i))
                    } else {
                        Value::Null
                    }
                })
                .collect()
        }
        ArrowType::Int8 => integers::<Int8Type>(array),
        ArrowType::Int16 => integers::<Int16Type>(array),
        ArrowType::Int32 => integers::<Int32Type>(array),
        ArrowType::Int64 => integers::<Int64Type>(array),
        ArrowType::UInt8 => integers::<UInt8Type>(array),
        ArrowType::UInt16 => integers::<UInt16Type>(array),
        ArrowType::UInt32 => integers::<UInt32Type>(array),
        ArrowType::UInt64 => integers::<UInt64Type>(array),
        ArrowType::Float32 => floats::<Float32Type>(array),
        ArrowType::Float64 => floats::<Float64Type>(array),
        ArrowType::Utf8 => strings(array.as_string::<i32>().iter(), is_json_text(field)),
        ArrowType::LargeUtf8 => strings(array.as_string::<i64>().iter(), is_json_text(field)),
        ArrowType::Utf8View => strings(array.as_string_view().iter(), is_json_text(field)),
        ArrowType::List(item) => lists::<i32>(item, array)?,
        ArrowType::LargeList(item) => lists::<i64>(item, array)?,
        ArrowType::Struct(fields) => {
            let a = array.as_struct();
            let children = fields
                .iter()
                .zip(a.columns())
                .map(|(f, c)| values(f, c.as_ref()))
                .collect::<Result<Vec<_>, _>>()?;
            let mut children: Vec<_> = children.into_iter().map(Vec::into_iter).collect();
            (0..n)
                .map(|i| {
                    let object: Map<String, Value> = fields
                        .iter()
                        .zip(children.iter_mut())
                        .map(|(f, c)| (f.name().clone(), c.next().unwrap_or(Value::Null)))
                        .collect();
                    if valid(i) {
                        Value::Object(object)
                    } else {
                        Value::Null
                    }
                })
                .collect()
        }
        ArrowType::Map(entries, _) => {
            let a = array.as_map();
            let ArrowType::Struct(entry_fields) = entries.data_type() else {
                return Err(format!("a map whose entries are {}", entries.data_type()));
            };
            let keys = values(&entry_fields[0], a.keys().as_ref())?;
            let mut items = values(&entry_fields[1], a.values().as_ref())?.into_iter();
            let offsets = a.value_offsets();
            (0..n)
                .map(|i| {
                    let range = offsets[i] as usize..offsets[i + 1] as usize;
                    let object: Map<String, Value> = keys[range]
                        .iter()
                        .map(|k| {
                            let key = k.as_str().map_or_else(|| k.to_string(), str::to_owned);
                            (key, items.next().unwrap_or(Value::Null))
                        })
                        .collect();
                    if valid(i) {
                        Value::Object(object)
                    } else {
                        Value::Null
                    }
                })
                .collect()
        }
        other => return Err(format!("column `{}` has Arrow type {other}", field.name())),
    })
}

/// The rows of `batch` as JSON objects, one entry per column (null cells included), decoded
/// column by column with [`values`]; an error names a type distil cannot read.
pub(crate) fn batch_rows(batch: &RecordBatch) -> Result<Vec<Map<String, Value>>, String> {
    let schema = batch.schema();
    let mut rows: Vec<Map<String, Value>> = (0..batch.num_rows())
        .map(|_| Map::with_capacity(schema.fields().len()))
        .collect();
    for (field, column) in schema.fields().iter().zip(batch.columns()) {
        for (row, cell) in rows.iter_mut().zip(values(field, column.as_ref())?) {
            row.insert(field.name().clone(), cell);
        }
    }
    Ok(rows)
}

fn integers<T: ArrowPrimitiveType>(array: &dyn Array) -> Vec<Value>
where
    T::Native: Into<Number>,
{
    array
        .as_primitive::<T>()
        .iter()
        .map(|n| n.map_or(Value::Null, |n| Value::Number(n.into())))
        .collect()
}

fn floats<T: ArrowPrimitiveType>(array: &dyn Array) -> Vec<Value>
where
    T::Native: Into<f64>,
{
    array
        .as_primitive::<T>()
        .iter()
        .map(|n| {
            n.and_then(|n| Number::from_f64(n.into()))
                .map_or(Value::Null, Value::Number)
        })
        .collect()
}

fn strings<'a>(cells: impl Iterator<Item = Option<&'a str>>, json_text: bool) -> Vec<Value> {
    cells
        .map(|s| match s {
            None => Value::Null,
            // JSON text that does not parse (written by another tool) stays a string.
            Some(s) if json_text => {
                serde_json::from_str(s).unwrap_or_else(|_| Value::String(s.to_owned()))
            }
            Some(s) => Value::String(s.to_owned()),
        })
        .collect()
}

fn lists<O: OffsetSizeTrait>(item: &Field, array: &dyn Array) -> Result<Vec<Value>, String> {
    let a = array.as_list::<O>();
    let mut items = values(item, a.values().as_ref())?.into_iter();
    let offsets = a.value_offsets();
    // The child array may start past its first offset (a sliced list).
    for _ in 0..offsets[0].as_usize() {
        items.next();
    }
    Ok((0..a.len())
        .map(|i| {
            let len = (offsets[i + 1] - offsets[i]).as_usize();
            let list: Vec<Value> = items.by_ref().take(len).collect();
            if a.is_valid(i) {
                Value::Array(list)
            } else {
                Value::Null
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::super::schema::{field, untyped_field};
    use super::super::to_arrow::array;
    use super::*;
    use crate::column::{ColumnSpec, DataType};
    use serde_json::json;
    use std::sync::Arc;

    fn round_trip(data_type: &DataType, cells: &[Value]) -> Vec<Value> {
        let f = field("c", data_type);
        let refs: Vec<&Value> = cells.iter().collect();
        values(&f, array(&f, &refs).as_ref()).unwrap()
    }

    #[test]
    fn typed_cells_round_trip() {
        let message = DataType::Struct {
            name: "Message",
            fields: Arc::from(vec![
                ColumnSpec::new("role", DataType::String),
                ColumnSpec::new("content", DataType::String),
            ]),
        };
        let chats = vec![
            json!([{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]),
            Value::Null,
            json!([]),
        ];
        assert_eq!(
            round_trip(&DataType::List(Box::new(message)), &chats),
            chats
        );
        let ratings = vec![json!([1.5, null]), json!([]), Value::Null];
        let opt_float = DataType::List(Box::new(DataType::Optional(Box::new(DataType::Float(64)))));
        assert_eq!(round_trip(&opt_float, &ratings), ratings);
        let maps = vec![json!({"a": 1, "b": 2}), json!({}), Value::Null];
        assert_eq!(
            round_trip(&DataType::Map(Box::new(DataType::UInt(8))), &maps),
            maps
        );
        let ints = vec![json!(-3), Value::Null, json!(i64::MAX)];
        assert_eq!(round_trip(&DataType::Int(64), &ints), ints);
        let big = vec![json!(u64::MAX), json!(true)];
        assert_eq!(
            round_trip(&DataType::UInt(64), &big),
            vec![json!(u64::MAX), Value::Null]
        );
        let flags = vec![json!(true), json!(false), Value::Null];
        assert_eq!(round_trip(&DataType::Bool, &flags), flags);
    }

    #[test]
    fn untyped_cells_round_trip_as_json_text() {
        let cells = vec![
            json!({"errors": [{"step": "s", "message": "m"}]}),
            Value::Null,
            json!(1),
        ];
        assert_eq!(round_trip(&DataType::Json, &cells), cells);
        let f = untyped_field("s", [json!("x")].iter());
        let refs = [&json!("x"), &json!(2)];
        assert_eq!(
            values(&f, array(&f, &refs).as_ref()).unwrap(),
            vec![json!("x"), json!("2")]
        );
    }
}
