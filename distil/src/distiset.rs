//! The result of a run: one dataset (config) per leaf step.
//!
//! A pipeline with a single leaf step has one config, `default`; otherwise each config is named
//! after its leaf step. Rows are in id order, the same on every run.

use serde_json::Map;

use crate::batch::Batch;
use crate::row::{Row, RowError, RowId};
use crate::{METADATA_COLUMN, Value};

/// The datasets a run produced, one per leaf step.
#[derive(Clone, Debug, Default)]
pub struct Distiset {
    configs: Vec<(String, Dataset)>,
}

impl Distiset {
    pub(crate) fn new(configs: Vec<(String, Dataset)>) -> Self {
        Distiset { configs }
    }

    /// The config names.
    pub fn config_names(&self) -> impl Iterator<Item = &str> {
        self.configs.iter().map(|(name, _)| name.as_str())
    }

    /// A config by name.
    pub fn config(&self, name: &str) -> Option<&Dataset> {
        self.configs.iter().find(|(n, _)| n == name).map(|(_, d)| d)
    }

    /// The `default` config of a single-leaf pipeline.
    pub fn default_config(&self) -> Option<&Dataset> {
        self.config("default")
    }

    /// Every config with its name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Dataset)> {
        self.configs.iter().map(|(n, d)| (n.as_str(), d))
    }

    /// Total rows over all configs.
    pub fn total_rows(&self) -> usize {
        self.configs.iter().map(|(_, d)| d.len()).sum()
    }
}

/// The rows of one leaf step, in id order.
#[derive(Clone, Debug, Default)]
pub struct Dataset {
    batches: Vec<Batch>,
    columns: Vec<String>,
    len: usize,
}

impl Dataset {
    pub(crate) fn from_batches(batches: Vec<Batch>) -> Self {
        let mut columns: Vec<String> = Vec::new();
        for batch in &batches {
            for name in batch.column_names() {
                if !columns.iter().any(|c| c == name) {
                    columns.push(name.to_owned());
                }
            }
        }
        // The metadata column goes last, where readers expect it.
        if let Some(at) = columns.iter().position(|c| c == METADATA_COLUMN) {
            let metadata = columns.remove(at);
            columns.push(metadata);
        }
        let len = batches.iter().map(Batch::len).sum();
        Dataset {
            batches,
            columns,
            len,
        }
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the dataset has no rows.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The column names, in order.
    pub fn column_names(&self) -> &[String] {
        &self.columns
    }

    /// The row ids, in order.
    pub fn ids(&self) -> impl Iterator<Item = &RowId> {
        self.batches.iter().flat_map(|b| b.ids().iter())
    }

    /// A column's cells, in row order (null where a batch lacks the column).
    pub fn column(&self, name: &str) -> impl Iterator<Item = &Value> {
        static NULL: Value = Value::Null;
        self.batches.iter().flat_map(move |b| {
            let cells = b.column(name);
            (0..b.len()).map(move |i| cells.map_or(&NULL, |c| &c[i]))
        })
    }

    /// The rows as JSON objects.
    pub fn rows(&self) -> impl Iterator<Item = Map<String, Value>> + '_ {
        self.batches.iter().flat_map(move |b| {
            (0..b.len()).map(move |i| {
                self.columns
                    .iter()
                    .map(|name| {
                        (
                            name.clone(),
                            b.column(name).map_or(Value::Null, |c| c[i].clone()),
                        )
                    })
                    .collect()
            })
        })
    }

    /// The rows as a typed [`Row`]; fails on the first row that lacks a column or has another type.
    pub fn rows_as<R: Row>(&self) -> Result<Vec<R>, RowError> {
        let mut rows = Vec::with_capacity(self.len);
        for batch in &self.batches {
            for i in 0..batch.len() {
                rows.push(R::from_lookup(&|name| batch.column(name).map(|c| &c[i]))?);
            }
        }
        Ok(rows)
    }

    /// The batches as they came out of the leaf step.
    pub fn batches(&self) -> &[Batch] {
        &self.batches
    }
}
