//! Record readers, one per format: each yields JSON objects, one per row.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use serde_json::Map;

use super::conform::parse_cell;
use super::file_error;
use super::parquet::ParquetRows;
use super::source::FileFormat;
use crate::column::ColumnSpec;
use crate::{Error, Value};

/// The records of one open file.
pub(super) struct Records {
    path: PathBuf,
    kind: Kind,
}

enum Kind {
    JsonLines {
        lines: std::io::Lines<BufReader<File>>,
        line: usize,
    },
    Json {
        rows: std::vec::IntoIter<Value>,
        index: usize,
    },
    Csv {
        reader: csv::Reader<File>,
        headers: Vec<String>,
        types: Vec<Option<crate::DataType>>,
    },
    Parquet(ParquetRows),
}

impl Records {
    /// Opens `path`; CSV cells are parsed as the declared columns' types when `typed`.
    pub(super) fn open(
        path: &Path,
        format: FileFormat,
        columns: &[ColumnSpec],
        typed: bool,
    ) -> crate::Result<Self> {
        let open_file = || {
            File::open(path).map_err(|e| Error::Io {
                path: path.display().to_string(),
                source: e,
            })
        };
        let kind = match format {
            FileFormat::JsonLines => Kind::JsonLines {
                lines: BufReader::new(open_file()?).lines(),
                line: 0,
            },
            FileFormat::Json => {
                let value: Value = serde_json::from_reader(BufReader::new(open_file()?))
                    .map_err(|e| file_error(path, format_args!("not valid JSON: {e}")))?;
                let Value::Array(rows) = value else {
                    return Err(file_error(
                        path,
                        "a JSON file must hold an array of objects",
                    ));
                };
                Kind::Json {
                    rows: rows.into_iter(),
                    index: 0,
                }
            }
            FileFormat::Parquet => Kind::Parquet(ParquetRows::open(path)?),
            FileFormat::Csv => {
                let mut reader = csv::ReaderBuilder::new()
                    .has_headers(true)
                    .from_reader(open_file()?);
                let headers: Vec<String> = reader
                    .headers()
                    .map_err(|e| file_error(path, format_args!("cannot read the CSV header: {e}")))?
                    .iter()
                    .map(str::to_owned)
                    .collect();
                let types = headers
                    .iter()
                    .map(|h| {
                        typed
                            .then(|| {
                                columns
                                    .iter()
                                    .find(|c| &c.name == h)
                                    .map(|c| c.data_type.clone())
                            })
                            .flatten()
                    })
                    .collect();
                Kind::Csv {
                    reader,
                    headers,
                    types,
                }
            }
        };
        Ok(Records {
            path: path.to_path_buf(),
            kind,
        })
    }

    /// The next record, or `None` at the end of the file.
    pub(super) fn next_record(&mut self) -> crate::Result<Option<Map<String, Value>>> {
        let path = &self.path;
        match &mut self.kind {
            Kind::JsonLines { lines, line } => loop {
                let Some(text) = lines.next() else {
                    return Ok(None);
                };
                *line += 1;
                let text = text.map_err(|e| file_error(path, format_args!("line {line}: {e}")))?;
                if text.trim().is_empty() {
                    continue;
                }
                return match serde_json::from_str(&text) {
                    Ok(Value::Object(map)) => Ok(Some(map)),
                    Ok(_) => Err(file_error(
                        path,
                        format_args!("line {line}: not a JSON object"),
                    )),
                    Err(e) => Err(file_error(
                        path,
                        format_args!("line {line}: not valid JSON: {e}"),
                    )),
                };
            },
            Kind::Json { rows, index } => {
                let Some(row) = rows.next() else {
                    return Ok(None);
                };
                *index += 1;
                match row {
                    Value::Object(map) => Ok(Some(map)),
                    _ => Err(file_error(
                        path,
                        format_args!("item {}: not a JSON object", *index - 1),
                    )),
                }
            }
            Kind::Csv {
                reader,
                headers,
                types,
            } => {
                let mut record = csv::StringRecord::new();
                let more = reader.read_record(&mut record).map_err(|e| {
                    let line = e.position().map_or(0, csv::Position::line);
                    file_error(path, format_args!("line {line}: {e}"))
                })?;
                if !more {
                    return Ok(None);
                }
                let line = record.position().map_or(0, csv::Position::line);
                let mut map = Map::with_capacity(headers.len());
                for ((header, ty), cell) in headers.iter().zip(types.iter()).zip(record.iter()) {
                    let value = match ty {
                        Some(ty) => parse_cell(ty, cell).map_err(|e| {
                            file_error(path, format_args!("line {line}, column `{header}`: {e}"))
                        })?,
                        None => Value::String(cell.to_owned()),
                    };
                    map.insert(header.clone(), value);
                }
                Ok(Some(map))
            }
            Kind::Parquet(rows) => rows.next_record(),
        }
    }
}
