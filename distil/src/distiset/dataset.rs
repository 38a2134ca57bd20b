//! One split of one config: rows read back from its Parquet shards.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use arrow_array::RecordBatch;
use arrow_schema::{Field, SchemaRef};
use serde_json::Map;

use super::files;
use super::from_arrow::values;
use super::read::{Batches, footer};
use crate::column::CellError;
use crate::row::{Row, RowError};
use crate::{Error, METADATA_COLUMN, Result, Value};

/// Decoded record batches read ahead of the caller.
const PREFETCH_CHUNKS: usize = 2;

/// One column of a record batch as cells; an error names the (first) file.
fn decode(
    files: &[PathBuf],
    field: &Field,
    batch: &RecordBatch,
    column: usize,
) -> Result<Vec<Value>> {
    values(field, batch.column(column).as_ref())
        .map_err(|message| Error::parquet(files.first().map_or(Path::new("."), |p| p), message))
}

/// The rows of one split of a config (a leaf step's output), in id order, backed by Parquet
/// shards: rows are read from the files when asked for.
#[derive(Clone, Debug)]
pub struct Dataset {
    files: Arc<[PathBuf]>,
    schema: SchemaRef,
    /// The visible columns, by index in `schema`.
    visible: Vec<usize>,
    columns: Vec<String>,
    len: usize,
    /// Cells of each schema column, read on the first [`Dataset::column`] call.
    cache: Arc<[OnceLock<Vec<Value>>]>,
}

impl Dataset {
    /// Opens the shards `files` (in order): reads their footers, so a truncated or corrupt file
    /// is an error here. The metadata column is hidden when it is null in every row.
    pub(crate) fn open(files: Vec<PathBuf>) -> Result<Self> {
        let Some(first) = files.first() else {
            return Err(Error::distiset(Path::new("."), "a split without shards"));
        };
        let first_footer = footer(first)?;
        let schema = first_footer.schema.clone();
        let mut len = first_footer.rows;
        let mut metadata_all_null = first_footer.metadata_all_null;
        for path in &files[1..] {
            let f = footer(path)?;
            if f.schema.fields() != schema.fields() {
                return Err(Error::parquet(
                    path,
                    format!("its columns differ from those of {}", first.display()),
                ));
            }
            len += f.rows;
            metadata_all_null &= f.metadata_all_null;
        }
        let visible: Vec<usize> = (0..schema.fields().len())
            .filter(|&i| !(metadata_all_null && schema.field(i).name() == METADATA_COLUMN))
            .collect();
        let columns = visible
            .iter()
            .map(|&i| schema.field(i).name().clone())
            .collect();
        let cache = (0..schema.fields().len())
            .map(|_| OnceLock::new())
            .collect();
        Ok(Dataset {
            files: files.into(),
            schema,
            visible,
            columns,
            len,
            cache,
        })
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the dataset has no rows.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The column names, in order. The metadata column is listed when some row has metadata.
    pub fn column_names(&self) -> &[String] {
        &self.columns
    }

    /// The Parquet shards, in order.
    pub fn files(&self) -> &[PathBuf] {
        &self.files
    }

    pub(crate) fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// A column's cells, in row order; null for every row when there is no such column.
    ///
    /// The column is read from the files once and kept; a file that cannot be read is logged
    /// and gives nulls: use [`Dataset::read_column`] to see the error.
    pub fn column(&self, name: &str) -> impl Iterator<Item = &Value> {
        static NULL: Value = Value::Null;
        let cells: &[Value] = match self.schema.index_of(name) {
            Ok(at) => self.cache[at].get_or_init(|| {
                self.read_column(name).unwrap_or_else(|e| {
                    tracing::error!("{e}");
                    Vec::new()
                })
            }),
            Err(_) => &[],
        };
        cells.iter().chain(std::iter::repeat_n(
            &NULL,
            self.len.saturating_sub(cells.len()),
        ))
    }

    /// A column's cells read from the files; an error names the file.
    pub fn read_column(&self, name: &str) -> Result<Vec<Value>> {
        let Ok(at) = self.schema.index_of(name) else {
            return Ok(vec![Value::Null; self.len]);
        };
        let field = self.schema.field(at).clone();
        let mut cells = Vec::with_capacity(self.len);
        for batch in Batches::new(&self.files, Some(vec![at])) {
            let batch = batch?;
            cells.extend(self.decode(&field, &batch, 0)?);
        }
        Ok(cells)
    }

    fn decode(&self, field: &Field, batch: &RecordBatch, column: usize) -> Result<Vec<Value>> {
        decode(&self.files, field, batch, column)
    }

    /// The visible columns' cells of each record batch, in order. A thread reads and decodes
    /// the next batches while the caller uses these: the two halves of reading run on two
    /// cores. It stops when the iterator is dropped.
    fn chunks(&self) -> impl Iterator<Item = Result<Vec<Vec<Value>>>> + use<> {
        let (sender, receiver) = std::sync::mpsc::sync_channel(PREFETCH_CHUNKS);
        let files = self.files.clone();
        let schema = self.schema.clone();
        let visible = self.visible.clone();
        let spawned = std::thread::Builder::new()
            .name("distil-read".into())
            .spawn(move || {
                for batch in Batches::new(&files, Some(visible.clone())) {
                    let chunk = batch.and_then(|batch| {
                        visible
                            .iter()
                            .enumerate()
                            .map(|(i, &at)| decode(&files, schema.field(at), &batch, i))
                            .collect()
                    });
                    let failed = chunk.is_err();
                    if sender.send(chunk).is_err() || failed {
                        return;
                    }
                }
            });
        let failed = spawned.err().map(|e| {
            Err(Error::io(
                self.files.first().map_or(Path::new("."), |p| p),
                e,
            ))
        });
        failed.into_iter().chain(receiver)
    }

    /// The rows as JSON objects, read from the files as they are iterated. A file that cannot
    /// be read ends the rows (the error is logged): use [`Dataset::try_rows`] to see it.
    pub fn rows(&self) -> impl Iterator<Item = Map<String, Value>> + '_ {
        self.try_rows()
            .map_while(|row| row.map_err(|e| tracing::error!("{e}")).ok())
    }

    /// The rows as JSON objects; an unreadable file gives one error, naming it, and ends them.
    pub fn try_rows(&self) -> impl Iterator<Item = Result<Map<String, Value>>> + '_ {
        self.chunks().flat_map(move |chunk| {
            let (rows, error) = match chunk {
                Ok(columns) => (self.transpose(columns), None),
                Err(e) => (Vec::new(), Some(e)),
            };
            rows.into_iter().map(Ok).chain(error.map(Err))
        })
    }

    fn transpose(&self, columns: Vec<Vec<Value>>) -> Vec<Map<String, Value>> {
        let n = columns.first().map_or(0, Vec::len);
        let width = columns.len();
        let mut rows: Vec<Map<String, Value>> = (0..n).map(|_| Map::with_capacity(width)).collect();
        for (name, cells) in self.columns.iter().zip(columns) {
            for (row, cell) in rows.iter_mut().zip(cells) {
                row.insert(name.clone(), cell);
            }
        }
        rows
    }

    /// The rows as a typed [`Row`]; fails on the first row that lacks a column or has another
    /// type. A file that cannot be read is reported as a [`RowError`] whose `column` is the
    /// file's path.
    pub fn rows_as<R: Row>(&self) -> Result<Vec<R>, RowError> {
        let mut rows = Vec::with_capacity(self.len);
        for chunk in self.chunks() {
            let columns = chunk.map_err(|e| RowError {
                column: self
                    .files
                    .first()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default(),
                error: CellError {
                    expected: "a readable Parquet file".into(),
                    found: e.to_string(),
                },
            })?;
            let n = columns.first().map_or(0, Vec::len);
            for i in 0..n {
                rows.push(R::from_lookup(&|name| {
                    self.columns
                        .iter()
                        .position(|c| c == name)
                        .and_then(|c| columns.get(c)?.get(i))
                })?);
            }
        }
        Ok(rows)
    }

    /// Writes the rows to `path` as JSON Lines (one object per line), atomically.
    pub fn to_jsonl(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        files::create_dir(dir)?;
        let name = path
            .file_name()
            .map_or_else(|| "rows.jsonl".into(), |n| n.to_string_lossy().into_owned());
        let temp = files::temp_path(dir, &name);
        let written = (|| {
            let file = std::fs::File::create(&temp).map_err(|e| Error::io(&temp, e))?;
            let mut out = BufWriter::new(file);
            for row in self.try_rows() {
                serde_json::to_writer(&mut out, &row?).map_err(|e| Error::io(&temp, e.into()))?;
                out.write_all(b"\n").map_err(|e| Error::io(&temp, e))?;
            }
            out.flush().map_err(|e| Error::io(&temp, e))
        })();
        match written {
            Ok(()) => files::rename(&temp, path),
            Err(e) => {
                let _ = std::fs::remove_file(&temp);
                Err(e)
            }
        }
    }
}
