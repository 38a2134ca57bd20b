//! Parquet shards of one split: `<split>-XXXXX-of-YYYYY.parquet`, rolled by rows and bytes.
//!
//! Shards are written under temporary names; the final names need the shard count, so they
//! are only given once the split is complete ([`PendingShards::commit`]).

use std::fs::File;
use std::path::{Path, PathBuf};

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;

use super::files;
use crate::{Error, Result};

/// When a shard is closed and the next one started.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ShardLimits {
    /// Rows per shard at most.
    pub(crate) rows: usize,
    /// Bytes (encoded) per shard, about: checked after each write.
    pub(crate) bytes: usize,
}

impl Default for ShardLimits {
    fn default() -> Self {
        ShardLimits {
            rows: 1_000_000,
            bytes: 256 << 20,
        }
    }
}

/// Rows per Parquet row group: bounds the writer's memory.
const ROW_GROUP_ROWS: usize = 64 * 1024;

/// The final name of shard `index` of `count`.
pub(crate) fn shard_name(split: &str, index: usize, count: usize) -> String {
    format!("{split}-{index:05}-of-{count:05}.parquet")
}

/// Whether `name` is a complete shard of `split`.
pub(crate) fn is_shard_of(name: &str, split: &str) -> bool {
    name.strip_prefix(split)
        .and_then(|rest| rest.strip_prefix('-'))
        .is_some_and(|rest| rest.ends_with(".parquet"))
}

/// Writes one split's rows to rolling shards.
pub(crate) struct ShardWriter {
    dir: PathBuf,
    split: String,
    schema: SchemaRef,
    limits: ShardLimits,
    current: Option<(ArrowWriter<File>, PathBuf, usize)>,
    done: Vec<PathBuf>,
    rows: usize,
}

impl ShardWriter {
    /// A writer of `split` shards in `dir` (created if needed).
    pub(crate) fn new(
        dir: &Path,
        split: &str,
        schema: SchemaRef,
        limits: ShardLimits,
    ) -> Result<Self> {
        files::create_dir(dir)?;
        Ok(ShardWriter {
            dir: dir.to_owned(),
            split: split.to_owned(),
            schema,
            limits: ShardLimits {
                rows: limits.rows.max(1),
                bytes: limits.bytes.max(1),
            },
            current: None,
            done: Vec::new(),
            rows: 0,
        })
    }

    /// The schema every shard has.
    pub(crate) fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// Appends rows, starting new shards as the limits say.
    pub(crate) fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        let mut offset = 0;
        while offset < batch.num_rows() {
            if self.current.is_none() {
                self.open()?;
            }
            let (writer, path, rows) = self.current.as_mut().expect("just opened");
            let take = (self.limits.rows - *rows).min(batch.num_rows() - offset);
            writer
                .write(&batch.slice(offset, take))
                .map_err(|e| Error::parquet(path, e))?;
            *rows += take;
            offset += take;
            self.rows += take;
            let full = *rows >= self.limits.rows
                || writer.bytes_written() + writer.in_progress_size() >= self.limits.bytes;
            if full {
                self.close()?;
            }
        }
        Ok(())
    }

    fn open(&mut self) -> Result<()> {
        let temp = files::temp_path(&self.dir, &format!("{}.parquet", self.split));
        let file = File::create(&temp).map_err(|e| Error::io(&temp, e))?;
        let properties = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
            .build();
        let writer = ArrowWriter::try_new(file, self.schema.clone(), Some(properties))
            .map_err(|e| Error::parquet(&temp, e))?;
        self.current = Some((writer, temp, 0));
        Ok(())
    }

    fn close(&mut self) -> Result<()> {
        if let Some((writer, path, _)) = self.current.take() {
            if let Err(e) = writer.close() {
                let _ = std::fs::remove_file(&path);
                return Err(Error::parquet(&path, e));
            }
            self.done.push(path);
        }
        Ok(())
    }

    /// Closes the last shard (writing an empty one if there is none, so the split exists).
    pub(crate) fn finish(mut self) -> Result<PendingShards> {
        if self.done.is_empty() && self.current.is_none() {
            self.open()?;
        }
        let closed = self.close();
        // On an error the pending shards are dropped, which removes them.
        let pending = PendingShards {
            dir: std::mem::take(&mut self.dir),
            split: std::mem::take(&mut self.split),
            temps: std::mem::take(&mut self.done),
            rows: self.rows,
        };
        closed.map(|()| pending)
    }
}

impl Drop for ShardWriter {
    /// A writer dropped before `finish` (a failed run) leaves no temporary file.
    fn drop(&mut self) {
        if let Some((_, path, _)) = self.current.take() {
            let _ = std::fs::remove_file(path);
        }
        for path in self.done.drain(..) {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Complete shards under temporary names.
#[derive(Debug)]
pub(crate) struct PendingShards {
    dir: PathBuf,
    split: String,
    temps: Vec<PathBuf>,
    rows: usize,
}

impl PendingShards {
    /// Rows in all shards.
    pub(crate) fn rows(&self) -> usize {
        self.rows
    }

    /// Gives the shards their final names, replacing any earlier shards of the split.
    pub(crate) fn commit(mut self) -> Result<Vec<PathBuf>> {
        let stale = files::list(&self.dir, |name| is_shard_of(name, &self.split))?;
        for path in stale {
            std::fs::remove_file(&path).map_err(|e| Error::io(&path, e))?;
        }
        let temps = std::mem::take(&mut self.temps);
        let count = temps.len();
        let mut finals = Vec::with_capacity(count);
        for (index, temp) in temps.iter().enumerate() {
            let target = self.dir.join(shard_name(&self.split, index, count));
            files::rename(temp, &target)?;
            finals.push(target);
        }
        Ok(finals)
    }
}

impl Drop for PendingShards {
    /// Shards never committed (their writer failed) are removed.
    fn drop(&mut self) {
        for path in self.temps.drain(..) {
            let _ = std::fs::remove_file(path);
        }
    }
}
