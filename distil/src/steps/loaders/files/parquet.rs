//! Parquet files: rows streamed from their record batches, and their schema (from the footer)
//! checked against the declared columns before any row is read.
//!
//! Reading goes through the Distiset's own Parquet code (`distiset::Batches` and its
//! Arrow-to-JSON conversion), so a file distil wrote is read back exactly as a Distiset reads it.

use std::path::{Path, PathBuf};

use arrow_schema::{DataType as ArrowType, Field, Fields};
use serde_json::Map;

use super::conform::{column_list, missing, must_be_present};
use super::file_error;
use crate::Value;
use crate::column::{ColumnSpec, DataType};
use crate::distiset::{Batches, batch_rows, footer, is_json_text};

/// The rows of one Parquet file, decoded one record batch at a time.
pub(super) struct ParquetRows {
    path: PathBuf,
    batches: Batches,
    pending: std::vec::IntoIter<Map<String, Value>>,
}

impl ParquetRows {
    /// Opens `path`, reading its footer now: a truncated or corrupt file is an error naming it.
    pub(super) fn open(path: &Path) -> crate::Result<Self> {
        footer(path)?;
        Ok(ParquetRows {
            path: path.to_path_buf(),
            batches: Batches::new(&[path.to_path_buf()], None),
            pending: Vec::new().into_iter(),
        })
    }

    /// The next row, or `None` at the end of the file.
    pub(super) fn next_record(&mut self) -> crate::Result<Option<Map<String, Value>>> {
        loop {
            if let Some(row) = self.pending.next() {
                return Ok(Some(row));
            }
            let Some(batch) = self.batches.next() else {
                return Ok(None);
            };
            let rows = batch_rows(&batch?).map_err(|e| file_error(&self.path, e))?;
            self.pending = rows.into_iter();
        }
    }
}

/// Checks the file's schema against the declared columns: every required column present, and
/// of an Arrow type its values can be read as. Runs on the footer alone, so an empty file or a
/// first row of nulls is checked too.
pub(super) fn check_schema(path: &Path, columns: &[ColumnSpec]) -> crate::Result<()> {
    let schema = footer(path)?.schema;
    let found = || column_list(schema.fields().iter().map(|f| f.name().as_str()));
    for column in columns {
        match schema.field_with_name(&column.name) {
            Err(_) if must_be_present(column) => return Err(missing(path, column, &found())),
            Ok(field) if !field_fits(&column.data_type, field) => {
                return Err(file_error(
                    path,
                    format_args!(
                        "column `{}` has Parquet type {}, but the loader declares `{}`; its columns are {}",
                        column.name,
                        field.data_type(),
                        column.data_type,
                        found()
                    ),
                ));
            }
            _ => {}
        }
    }
    Ok(())
}

/// Whether every value of `field` can be read as `ty` (the rules of `conform::fits`, on types).
fn field_fits(ty: &DataType, field: &Field) -> bool {
    // JSON text written by distil can hold anything: its values are checked row by row.
    if is_json_text(field) {
        return true;
    }
    match (ty, field.data_type()) {
        (DataType::Json, _) => true,
        (DataType::Optional(_), ArrowType::Null) => true,
        (DataType::Optional(inner), _) => field_fits(inner, field),
        (DataType::Bool, ArrowType::Boolean) => true,
        (DataType::String, ArrowType::Utf8 | ArrowType::LargeUtf8 | ArrowType::Utf8View) => true,
        (DataType::Int(_), t) => {
            t.is_signed_integer()
                || matches!(t, ArrowType::UInt8 | ArrowType::UInt16 | ArrowType::UInt32)
        }
        (DataType::UInt(_), t) => t.is_unsigned_integer(),
        (DataType::Float(_), t) => t.is_floating() || t.is_integer(),
        (DataType::List(inner), ArrowType::List(item) | ArrowType::LargeList(item)) => {
            field_fits(inner, item)
        }
        (DataType::Map(inner), ArrowType::Map(entries, _)) => match entries.data_type() {
            ArrowType::Struct(kv) => kv.get(1).is_some_and(|v| field_fits(inner, v)),
            _ => false,
        },
        (DataType::Map(inner), ArrowType::Struct(fields)) => {
            fields.iter().all(|f| field_fits(inner, f))
        }
        (DataType::Struct { fields, .. }, ArrowType::Struct(found)) => struct_fits(fields, found),
        _ => false,
    }
}

fn struct_fits(declared: &[ColumnSpec], found: &Fields) -> bool {
    declared
        .iter()
        .all(|d| match found.iter().find(|f| f.name() == &d.name) {
            Some(f) => field_fits(&d.data_type, f),
            None => matches!(d.data_type, DataType::Optional(_)),
        })
}
