//! What a step's output does to its chunk: the upstream columns the step keeps, for the rows
//! it emits, plus its outputs (renamed by the output mappings), metadata and row errors.

use std::collections::HashMap;
use std::sync::Arc;

use super::run_log::RunLog;
use crate::batch::{Batch, Column};
use crate::step::{Output, Passthrough, Rows};
use crate::{Error, METADATA_COLUMN, Value};

/// Builds a step's outgoing batches.
pub(super) struct Assembler {
    pub(super) name: Arc<str>,
    /// The step's place in the execution order: a column's producer.
    pub(super) position: usize,
    pub(super) passthrough: Passthrough,
    /// `(step output, new name)`.
    pub(super) output_mappings: Vec<(String, String)>,
    /// Metadata keys with the step's name appended, made once each.
    metadata_keys: Vec<(String, String)>,
}

impl Assembler {
    pub(super) fn new(
        name: Arc<str>,
        position: usize,
        passthrough: Passthrough,
        output_mappings: Vec<(String, String)>,
    ) -> Self {
        Assembler {
            name,
            position,
            passthrough,
            output_mappings,
            metadata_keys: Vec::new(),
        }
    }

    /// `key_<step>`: a step's metadata entries never overwrite another step's.
    fn metadata_key(&mut self, key: &str) -> String {
        if let Some((_, named)) = self.metadata_keys.iter().find(|(k, _)| k == key) {
            return named.clone();
        }
        let named = format!("{key}_{}", self.name);
        self.metadata_keys.push((key.to_owned(), named.clone()));
        named
    }

    /// Builds the outgoing batch: the upstream columns the step keeps, for the rows it emits, plus
    /// its outputs (renamed by the output mappings) and its row errors.
    pub(super) fn assemble(
        &mut self,
        mut chunk: Batch,
        output: Output,
        log: &RunLog,
    ) -> crate::Result<Batch> {
        chunk.branches.clear();
        if let crate::step::Passthrough::Only(keep) = &self.passthrough {
            chunk.keep_columns(keep);
        }
        let mut batch = match &output.rows {
            Rows::Same | Rows::New(_) => chunk,
            Rows::From(parents) => {
                if let Some(&bad) = parents.iter().find(|&&p| p as usize >= chunk.len()) {
                    return Err(Error::fatal(
                        &*self.name,
                        format!(
                            "emitted a row from input row {bad}, but the batch has {} rows",
                            chunk.len()
                        ),
                    ));
                }
                let mut count: HashMap<u32, u32> = HashMap::new();
                for &p in parents {
                    *count.entry(p).or_default() += 1;
                }
                let mut seen: HashMap<u32, u32> = HashMap::new();
                let ids = parents
                    .iter()
                    .map(|&p| {
                        let parent = &chunk.ids[p as usize];
                        if count[&p] == 1 {
                            parent.clone()
                        } else {
                            let k = seen.entry(p).or_default();
                            *k += 1;
                            parent.child(*k - 1)
                        }
                    })
                    .collect();
                chunk.gather(parents, ids)
            }
        };
        for mut column in output.columns {
            if column.len() != batch.len() {
                return Err(Error::fatal(
                    &*self.name,
                    format!(
                        "returned {} values for column `{}`, but {} rows",
                        column.len(),
                        column.name(),
                        batch.len()
                    ),
                ));
            }
            if let Some((_, to)) = self
                .output_mappings
                .iter()
                .find(|(from, _)| **from == *column.name)
            {
                column.name = Arc::from(to.as_str());
            }
            column.producer = self.position;
            batch.set_column(column);
        }
        for (row, key, value) in output.metadata {
            let key = self.metadata_key(&key);
            if let Some(entry) = metadata_entry(&mut batch, row as usize) {
                entry.insert(key, value);
            }
        }
        for (row, message) in &output.errors {
            if let Some(id) = batch.ids.get(*row as usize) {
                log.row_error(&self.name, id.index(), message);
            }
            record_error(&mut batch, *row as usize, &self.name, message);
        }
        Ok(batch)
    }
}

/// Appends `{step, message}` to the row's `errors` in the metadata column.
pub(super) fn record_error(batch: &mut Batch, row: usize, step: &str, message: &str) {
    let Some(entry) = metadata_entry(batch, row) else {
        return;
    };
    let errors = entry
        .entry("errors")
        .or_insert_with(|| Value::Array(Vec::new()));
    if let Value::Array(list) = errors {
        list.push(serde_json::json!({ "step": step, "message": message }));
    }
}

/// The row's metadata object, made when missing.
fn metadata_entry(batch: &mut Batch, row: usize) -> Option<&mut serde_json::Map<String, Value>> {
    if row >= batch.len() {
        return None;
    }
    if batch.column(METADATA_COLUMN).is_none() {
        batch.set_column(Column::new(
            METADATA_COLUMN,
            vec![Value::Null; batch.len()],
            0,
        ));
    }
    let column = batch
        .columns
        .iter_mut()
        .find(|c| &*c.name == METADATA_COLUMN)
        .expect("just added");
    let cell = column.cell_mut(row);
    if !cell.is_object() {
        *cell = Value::Object(serde_json::Map::new());
    }
    cell.as_object_mut()
}
