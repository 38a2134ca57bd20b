//! Reading Parquet shards: their footer (schema, rows) and their record batches.
//! Every error names the file.

use std::fs::File;
use std::path::{Path, PathBuf};

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};

use crate::{Error, METADATA_COLUMN, Result};

/// Rows per record batch read.
const READ_BATCH_ROWS: usize = 8 * 1024;

/// What a shard's footer says.
pub(crate) struct Footer {
    /// The Arrow schema.
    pub(crate) schema: SchemaRef,
    /// Number of rows.
    pub(crate) rows: usize,
    /// Whether the metadata column is null in every row (as the shard's footer counts them, or
    /// by the column statistics of shards written without that count).
    pub(crate) metadata_all_null: bool,
}

fn builder(path: &Path) -> Result<ParquetRecordBatchReaderBuilder<File>> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| Error::parquet(path, e))
}

/// Reads a shard's footer: a truncated or corrupt file fails here.
pub(crate) fn footer(path: &Path) -> Result<Footer> {
    let builder = builder(path)?;
    let metadata = builder.metadata();
    let rows = usize::try_from(metadata.file_metadata().num_rows()).unwrap_or(0);
    let metadata_nulls: Option<u64> = metadata
        .row_groups()
        .iter()
        .map(|group| {
            group
                .columns()
                .iter()
                .find(|c| c.column_path().string() == METADATA_COLUMN)
                .and_then(|c| c.statistics())
                .and_then(|s| s.null_count_opt())
        })
        .sum();
    let counted = metadata
        .file_metadata()
        .key_value_metadata()
        .and_then(|entries| {
            entries
                .iter()
                .find(|e| e.key == super::shards::METADATA_ROWS_KEY)
        })
        .and_then(|e| e.value.as_deref())
        .and_then(|v| v.parse::<u64>().ok());
    let metadata_all_null = match counted {
        Some(with_values) => with_values == 0,
        None => metadata_nulls == Some(rows as u64),
    };
    Ok(Footer {
        schema: builder.schema().clone(),
        rows,
        metadata_all_null,
    })
}

/// Record batches of `files`, keeping the top-level columns `projection` (all when `None`).
pub(crate) struct Batches {
    files: Vec<PathBuf>,
    next_file: usize,
    projection: Option<Vec<usize>>,
    reader: Option<(ParquetRecordBatchReader, PathBuf)>,
    failed: bool,
}

impl Batches {
    pub(crate) fn new(files: &[PathBuf], projection: Option<Vec<usize>>) -> Self {
        Batches {
            files: files.to_vec(),
            next_file: 0,
            projection,
            reader: None,
            failed: false,
        }
    }

    fn open(&self, path: &Path) -> Result<ParquetRecordBatchReader> {
        let mut builder = builder(path)?.with_batch_size(READ_BATCH_ROWS);
        if let Some(columns) = &self.projection {
            let mask = ProjectionMask::roots(builder.parquet_schema(), columns.iter().copied());
            builder = builder.with_projection(mask);
        }
        builder.build().map_err(|e| Error::parquet(path, e))
    }
}

impl Iterator for Batches {
    type Item = Result<RecordBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.failed {
            if let Some((reader, path)) = &mut self.reader {
                match reader.next() {
                    Some(Ok(batch)) => return Some(Ok(batch)),
                    Some(Err(e)) => {
                        self.failed = true;
                        return Some(Err(Error::parquet(path, e)));
                    }
                    None => self.reader = None,
                }
            }
            let path = self.files.get(self.next_file)?.clone();
            self.next_file += 1;
            match self.open(&path) {
                Ok(reader) => self.reader = Some((reader, path)),
                Err(e) => {
                    self.failed = true;
                    return Some(Err(e));
                }
            }
        }
        None
    }
}
