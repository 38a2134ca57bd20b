//! The leaf sink: a leaf step's batches go to a writer thread that converts them to Arrow and
//! streams them to Parquet shards while the run goes, so the run never holds all rows.
//!
//! The thread keeps the conversion and compression off the async runtime; the bounded channel
//! makes the leaf wait when the disk is behind, like any other step.

use std::path::PathBuf;
use std::sync::Arc;
use std::thread::JoinHandle;

use arrow_schema::{Field, Schema, SchemaRef};
use tokio::sync::mpsc;

use super::schema::{field, json_text_field, untyped_field};
use super::shards::{PendingShards, ShardLimits, ShardWriter};
use super::to_arrow::record_batch;
use crate::batch::Batch;
use crate::column::DataType;
use crate::{Error, METADATA_COLUMN, Result, Value};

/// Rows gathered before one Arrow conversion: amortizes the per-batch cost over small batches.
const CHUNK_ROWS: usize = 16 * 1024;

/// Batches the channel holds before the leaf waits.
const CHANNEL_BATCHES: usize = 16;

/// Columns in the order they first appear, with their declared types.
pub(crate) type Columns = Vec<(String, DataType)>;

/// What a sink writes and where.
pub(crate) struct SinkConfig {
    /// The config's directory.
    pub(crate) dir: PathBuf,
    /// The declared types of the columns reaching the leaf.
    pub(crate) columns: Columns,
    /// When to start a new shard.
    pub(crate) limits: ShardLimits,
    /// Where warnings go (the run's log).
    pub(crate) warn: Box<dyn Fn(String) + Send>,
}

/// A leaf step's writer.
pub(crate) struct LeafSink {
    sender: Option<mpsc::Sender<Batch>>,
    thread: Option<JoinHandle<Result<PendingShards>>>,
}

impl LeafSink {
    /// Starts the writer thread.
    pub(crate) fn start(config: SinkConfig) -> Result<Self> {
        let (sender, receiver) = mpsc::channel(CHANNEL_BATCHES);
        let dir = config.dir.clone();
        let thread = std::thread::Builder::new()
            .name("distil-parquet".into())
            .spawn(move || drain(receiver, config))
            .map_err(|e| Error::io(&dir, e))?;
        Ok(LeafSink {
            sender: Some(sender),
            thread: Some(thread),
        })
    }

    /// Sends a batch to the writer; `false` once the writer has stopped (on an error).
    pub(crate) async fn write(&self, batch: Batch) -> bool {
        match &self.sender {
            Some(sender) => sender.send(batch).await.is_ok(),
            None => false,
        }
    }

    /// Waits for the writer to write the last rows; gives the shards (under temporary names).
    pub(crate) async fn finish(mut self) -> Result<PendingShards> {
        self.sender = None;
        let thread = self.thread.take().expect("finished once");
        match tokio::task::spawn_blocking(move || thread.join()).await {
            Ok(Ok(result)) => result,
            _ => Err(Error::Panicked {
                step: "the Parquet writer".into(),
                message: "the writer thread panicked".into(),
            }),
        }
    }
}

impl Drop for LeafSink {
    /// A sink dropped without `finish` (its leaf step panicked) waits for the writer to stop,
    /// so the shards it wrote are removed before the run reports its error.
    fn drop(&mut self) {
        self.sender = None;
        if let Some(thread) = self.thread.take() {
            // Dropping the pending shards removes them.
            let _ = thread.join();
        }
    }
}

fn drain(mut receiver: mpsc::Receiver<Batch>, config: SinkConfig) -> Result<PendingShards> {
    let mut writer: Option<ShardWriter> = None;
    let mut pending: Vec<Batch> = Vec::new();
    let mut rows = 0;
    let mut warned = false;
    while let Some(batch) = receiver.blocking_recv() {
        if batch.is_empty() {
            continue;
        }
        let writer = match &mut writer {
            Some(w) => w,
            None => writer.insert(ShardWriter::new(
                &config.dir,
                "train",
                leaf_schema(&config.columns, Some(&batch)),
                config.limits,
            )?),
        };
        if !warned
            && let Some(extra) = batch
                .column_names()
                .find(|name| writer.schema().field_with_name(name).is_err())
        {
            warned = true;
            (config.warn)(format!(
                "column `{extra}` reached the leaf after its first batch and is not in the \
                 Distiset's schema (declare it in the step's outputs); its values are dropped"
            ));
        }
        rows += batch.len();
        pending.push(batch);
        if rows >= CHUNK_ROWS {
            flush(writer, &mut pending, rows)?;
            rows = 0;
        }
    }
    let mut writer = match writer {
        Some(w) => w,
        None => ShardWriter::new(
            &config.dir,
            "train",
            leaf_schema(&config.columns, None),
            config.limits,
        )?,
    };
    if rows > 0 {
        flush(&mut writer, &mut pending, rows)?;
    }
    writer.finish()
}

/// Converts the gathered batches to one record batch and writes it.
fn flush(writer: &mut ShardWriter, pending: &mut Vec<Batch>, rows: usize) -> Result<()> {
    static NULL: Value = Value::Null;
    let schema = writer.schema().clone();
    let batch = record_batch(&schema, rows, |name| {
        let mut cells = Vec::with_capacity(rows);
        for batch in pending.iter() {
            match batch.column(name) {
                Some(column) => cells.extend(column.iter()),
                None => cells.extend(std::iter::repeat_n(&NULL, batch.len())),
            }
        }
        Some(cells)
    })
    .map_err(|e| Error::msg(format!("cannot convert rows to Arrow: {e}")))?;
    pending.clear();
    writer.write(&batch)
}

/// The schema of a leaf's shards: the first batch's columns, then declared columns it lacks,
/// then the metadata column (always present, so a later row error has a place).
pub(crate) fn leaf_schema(declared: &Columns, first: Option<&Batch>) -> SchemaRef {
    let mut names: Vec<&str> = first
        .map(|b| b.column_names().filter(|n| *n != METADATA_COLUMN).collect())
        .unwrap_or_default();
    for (name, _) in declared {
        if name != METADATA_COLUMN && !names.contains(&name.as_str()) {
            names.push(name);
        }
    }
    names.push(METADATA_COLUMN);
    let fields: Vec<Field> = names
        .into_iter()
        .map(|name| {
            let declared = declared
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, t)| t)
                .filter(|t| !matches!(t, DataType::Json) && name != METADATA_COLUMN);
            match (declared, first.and_then(|b| b.column(name))) {
                (Some(data_type), _) => field(name, data_type),
                (None, Some(cells)) if name != METADATA_COLUMN => untyped_field(name, cells.iter()),
                (None, _) => json_text_field(name),
            }
        })
        .collect();
    Arc::new(Schema::new(fields))
}
