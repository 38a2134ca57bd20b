//! Rows from files: JSON Lines, JSON, CSV and Parquet, from a file, a directory or a glob,
//! read in batches as the pipeline pulls them.

mod conform;
mod parquet;
mod reader;
mod source;

use std::marker::PhantomData;
use std::path::PathBuf;

use serde_json::Map;

pub use source::FileFormat;

use super::Untyped;
use crate::column::{ColumnSpec, DataType};
use crate::row::Row;
use crate::step::{BoxFuture, Output, Step, StepKind, StepSpec};
use crate::{Error, Value, step};
use reader::Records;

/// Rows from files on disk, streamed in `batch_size` batches.
///
/// The source is a file, a directory (every file of a known format in it, in name order) or a
/// glob (`data/*.jsonl`). The format comes from the extension unless set with
/// [`format`](Self::format). Typed, `LoadDataFromFileSystem::<MyRow>::new(path)`, its columns are
/// `MyRow`'s: before any step runs, the first record of every file is checked against them, and
/// a missing column or a value of another type is an error naming the file, the column and the
/// columns the file has. Parquet files (`.parquet`, as a Distiset or the Hub stores them) are
/// read a record batch at a time, and typed, their schema is checked from the footer too (an
/// empty file or a null first value cannot hide a missing column). Untyped, `LoadDataFromFileSystem::untyped(path)`, its columns are those
/// of the first record.
///
/// ```
/// use distil::prelude::*;
/// use distil::steps::LoadDataFromFileSystem;
///
/// #[derive(Row)]
/// struct Prompt { instruction: String }
///
/// let typed = LoadDataFromFileSystem::<Prompt>::new("data/prompts.jsonl");
/// let untyped = LoadDataFromFileSystem::untyped("data/*.csv");
/// ```
pub struct LoadDataFromFileSystem<R = Untyped> {
    source: String,
    format: Option<FileFormat>,
    /// Declared columns (typed) or those found in the data (untyped, after `prepare`).
    columns: Vec<ColumnSpec>,
    typed: bool,
    files: Vec<(PathBuf, FileFormat)>,
    next_file: usize,
    records: Option<Records>,
    /// Skips records that cannot be read instead of failing the run.
    skip_bad_records: bool,
    /// The records skipped (the first [`SKIPPED_SHOWN`] by file and line), for `pipeline.log`.
    skipped: Vec<String>,
    skipped_count: u64,
    row: PhantomData<fn() -> R>,
}

/// Skipped records named one by one in the step's report; past this only counted.
const SKIPPED_SHOWN: usize = 100;

/// Bad records in a row after which the file is taken for unreadable, skipping or not.
const BAD_IN_A_ROW: usize = 1000;

impl<R: Row> LoadDataFromFileSystem<R> {
    /// Loads typed rows from `source` (a file, a directory or a glob).
    pub fn new(source: impl Into<String>) -> Self {
        Self::with_columns(source.into(), R::columns(), true)
    }
}

impl LoadDataFromFileSystem<Untyped> {
    /// Loads rows whose columns are those of the first record found.
    pub fn untyped(source: impl Into<String>) -> Self {
        Self::with_columns(source.into(), Vec::new(), false)
    }
}

impl<R> LoadDataFromFileSystem<R> {
    pub(super) fn with_columns(source: String, columns: Vec<ColumnSpec>, typed: bool) -> Self {
        LoadDataFromFileSystem {
            source,
            format: None,
            columns,
            typed,
            files: Vec::new(),
            next_file: 0,
            records: None,
            skip_bad_records: false,
            skipped: Vec::new(),
            skipped_count: 0,
            row: PhantomData,
        }
    }

    /// Skips a record that cannot be read (malformed JSON, a line that is no JSON object, a
    /// ragged CSV row, text that is not UTF-8) instead of failing the run; `pipeline.log` names each
    /// one by file and line. By default such a record fails the run, keeping the rows read
    /// before it (their LLM answers are cached for the rerun).
    pub fn skip_bad_records(mut self, skip: bool) -> Self {
        self.skip_bad_records = skip;
        self
    }

    /// Reads every file as `format`, whatever its extension.
    pub fn format(mut self, format: FileFormat) -> Self {
        self.format = Some(format);
        self
    }

    /// Reads `files` (Parquet files found elsewhere, e.g. downloaded from the Hub) instead of
    /// the source, and checks them as [`Step::prepare`] checks the source's files.
    #[cfg_attr(not(feature = "hub"), allow(dead_code))]
    pub(super) fn prepare_parquet_files(&mut self, files: Vec<PathBuf>) -> crate::Result<()> {
        self.files = files
            .into_iter()
            .map(|path| (path, FileFormat::Parquet))
            .collect();
        self.check_files()
    }

    /// The record reader of the next file, or `None` after the last one.
    fn next_records(&mut self) -> crate::Result<Option<&mut Records>> {
        if self.records.is_none() {
            let Some((path, format)) = self.files.get(self.next_file) else {
                return Ok(None);
            };
            self.records = Some(Records::open(path, *format, &self.columns, self.typed)?);
            self.next_file += 1;
        }
        Ok(self.records.as_mut())
    }

    /// Checks the first record of every file against the columns (found in the first file
    /// when untyped); a Parquet file's schema is checked first, from its footer.
    fn check_files(&mut self) -> crate::Result<()> {
        for (path, format) in &self.files {
            if *format == FileFormat::Parquet && self.typed {
                parquet::check_schema(path, &self.columns)?;
            }
            let mut records = Records::open(path, *format, &self.columns, self.typed)?;
            let first = records.next_record()?;
            let Some(first) = first else { continue };
            if !self.typed && self.columns.is_empty() {
                self.columns = first
                    .keys()
                    .map(|k| ColumnSpec::new(k, DataType::Json))
                    .collect();
            }
            conform::check_record(path, &first, &self.columns)?;
        }
        Ok(())
    }

    fn batch(&mut self, batch_size: usize) -> crate::Result<Option<Output>> {
        let mut rows: Vec<Map<String, Value>> = Vec::with_capacity(batch_size);
        let mut bad_in_a_row = 0;
        while rows.len() < batch_size {
            let Some(records) = self.next_records()? else {
                break;
            };
            match records.next_record() {
                Ok(Some(record)) => {
                    bad_in_a_row = 0;
                    rows.push(record);
                }
                Ok(None) => self.records = None,
                Err(e) if self.skip_bad_records && bad_in_a_row < BAD_IN_A_ROW => {
                    bad_in_a_row += 1;
                    tracing::warn!("skipped a bad record: {e}");
                    self.skipped_count += 1;
                    if self.skipped.len() < SKIPPED_SHOWN {
                        self.skipped.push(e.to_string());
                    }
                }
                Err(e) => return Err(e),
            }
        }
        if rows.is_empty() {
            return Ok(None);
        }
        let mut output = Output::new_rows(rows.len());
        for spec in &self.columns {
            let cells = rows
                .iter_mut()
                .map(|r| r.remove(&spec.name).unwrap_or(Value::Null))
                .collect();
            output.push_column(&spec.name, cells);
        }
        Ok(Some(output))
    }
}

impl<R> LoadDataFromFileSystem<R> {
    /// What a pipeline file records: the source, the format, whether bad records are skipped,
    /// and the declared columns of a typed loader.
    pub(super) fn settings(&self) -> serde_json::Map<String, Value> {
        let mut settings = serde_json::Map::new();
        settings.insert("source".into(), Value::from(self.source.as_str()));
        settings.insert(
            "format".into(),
            self.format
                .map_or(Value::Null, |f| Value::from(f.extension())),
        );
        settings.insert(
            "skip_bad_records".into(),
            Value::Bool(self.skip_bad_records),
        );
        settings.insert(
            "columns".into(),
            if self.typed {
                ColumnSpec::to_settings(&self.columns)
            } else {
                Value::Null
            },
        );
        settings
    }
}

impl LoadDataFromFileSystem<Untyped> {
    /// The loader [`settings`](Self::settings) recorded; `source` is the entry holding what
    /// it reads.
    pub(super) fn from_recorded(
        settings: &crate::settings::Settings<'_>,
        source: String,
    ) -> Result<Self, String> {
        let columns = match settings.value("columns") {
            None | Some(Value::Null) => None,
            Some(_) => Some(ColumnSpec::from_settings(settings, "columns")?),
        };
        let typed = columns.is_some();
        let mut loader = Self::with_columns(source, columns.unwrap_or_default(), typed);
        if let Some(format) = settings.optional::<String>("format")? {
            loader.format = Some(FileFormat::from_extension(&format).ok_or_else(|| {
                format!(
                    "`{}`: `{format}` is no file format; use jsonl, json, csv or parquet",
                    settings.key_path("format")
                )
            })?);
        }
        loader.skip_bad_records = settings.optional("skip_bad_records")?.unwrap_or(false);
        Ok(loader)
    }

    pub(crate) fn from_settings(
        settings: &crate::step::StepSettings<'_>,
    ) -> Result<Box<dyn Step>, String> {
        let source = settings.get("source")?;
        Ok(Box::new(Self::from_recorded(settings, source)?))
    }
}

#[step(dynamic, generator, outputs = R)]
impl<R: Send + 'static> Step for LoadDataFromFileSystem<R> {
    fn describe(&self) -> Option<Value> {
        Some(Value::Object(self.settings()))
    }

    fn spec(&self) -> StepSpec {
        StepSpec {
            outputs: self.columns.clone(),
            ..StepSpec::new("LoadDataFromFileSystem", StepKind::Generator)
        }
    }

    fn prepare(&mut self) -> BoxFuture<'_, crate::Result<()>> {
        let result = source::resolve(&self.source, self.format).and_then(|files| {
            self.files = files;
            self.check_files()
        });
        Box::pin(async move { result })
    }

    fn start(&mut self) -> BoxFuture<'_, crate::Result<()>> {
        self.next_file = 0;
        self.records = None;
        self.skipped.clear();
        self.skipped_count = 0;
        Box::pin(async { Ok(()) })
    }

    fn generate(&mut self, batch_size: usize) -> BoxFuture<'_, crate::Result<Option<Output>>> {
        let result = self.batch(batch_size);
        Box::pin(async move { result })
    }

    fn report(&self) -> Option<String> {
        (self.skipped_count > 0).then(|| {
            let more = self.skipped_count - self.skipped.len() as u64;
            let mut report = format!(
                "skipped {} bad record(s): {}",
                self.skipped_count,
                self.skipped.join("; ")
            );
            if more > 0 {
                report.push_str(&format!("; and {more} more"));
            }
            report
        })
    }

    /// Each file's path, size and modification time: what `make` and cargo trust too. A
    /// content hash would read every byte of a large dataset on every run; a file rewritten
    /// with the same size within the same nanosecond is the one change this misses, and the
    /// LLM tasks below check their input rows' content before replaying anything anyway.
    fn fingerprint(&self) -> Option<crate::Value> {
        let files: Vec<crate::Value> = self
            .files
            .iter()
            .map(|(path, _)| {
                let meta = std::fs::metadata(path).ok();
                let modified = meta
                    .as_ref()
                    .and_then(|m| m.modified().ok())
                    .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                    .map(|d| d.as_nanos().to_string());
                serde_json::json!([path.display().to_string(), meta.map(|m| m.len()), modified])
            })
            .collect();
        Some(crate::Value::Array(files))
    }
}

/// A file-level error: fatal, since no row of a file that cannot be read can be recorded.
fn file_error(path: &std::path::Path, message: impl std::fmt::Display) -> Error {
    Error::msg(format!("{}: {message}", path.display()))
}
