//! Rows from memory.

use std::marker::PhantomData;
use std::sync::Arc;

use super::Untyped;
use crate::column::{ColumnSpec, DataType};
use crate::row::Row;
use crate::step::{BoxFuture, Output, Step, StepKind, StepSpec};
use crate::{Value, step};

/// Rows a pipeline file records of an in-memory loader, at most.
const RECORDED_ROWS: usize = 1_000;

/// Rows from memory. Typed, `LoadDataFromDicts::<MyRow>::new(rows)`, its columns are `MyRow`'s
/// and are checked at compile time; untyped, `LoadDataFromDicts::untyped(json_objects)`, its
/// columns are the keys of the first object, checked when the pipeline starts.
///
/// ```
/// use distil::prelude::*;
/// use distil::steps::LoadDataFromDicts;
///
/// #[derive(Row)]
/// struct Prompt { instruction: String }
///
/// let typed = LoadDataFromDicts::<Prompt>::new(vec![Prompt { instruction: "Hi".into() }]);
/// let untyped = LoadDataFromDicts::untyped(vec![serde_json::json!({"instruction": "Hi"})]);
/// ```
pub struct LoadDataFromDicts<R = Untyped> {
    columns: Vec<ColumnSpec>,
    /// All rows, column by column (shared with the batches, so emitting copies nothing), and
    /// the next row to emit.
    data: Vec<Arc<Vec<Value>>>,
    len: usize,
    next: usize,
    row: PhantomData<fn() -> R>,
}

impl<R: Row> LoadDataFromDicts<R> {
    /// Loads typed rows.
    pub fn new(rows: impl IntoIterator<Item = R>) -> Self {
        let columns = R::columns();
        let mut data: Vec<Vec<Value>> = vec![Vec::new(); columns.len()];
        let mut len = 0;
        for row in rows {
            row.write(&mut data);
            len += 1;
        }
        let data = data.into_iter().map(Arc::new).collect();
        LoadDataFromDicts {
            columns,
            data,
            len,
            next: 0,
            row: PhantomData,
        }
    }
}

impl LoadDataFromDicts<Untyped> {
    /// Loads JSON objects; the columns are the keys of the first one (a key missing from a later
    /// object is null there, an extra key is ignored).
    pub fn untyped(rows: impl IntoIterator<Item = Value>) -> Self {
        let rows: Vec<Value> = rows.into_iter().collect();
        let names: Vec<String> = rows
            .first()
            .and_then(Value::as_object)
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default();
        let columns = names
            .iter()
            .map(|n| ColumnSpec::new(n, DataType::Json))
            .collect();
        let data = names
            .iter()
            .map(|n| {
                Arc::new(
                    rows.iter()
                        .map(|r| r.get(n).cloned().unwrap_or(Value::Null))
                        .collect(),
                )
            })
            .collect();
        LoadDataFromDicts {
            columns,
            data,
            len: rows.len(),
            next: 0,
            row: PhantomData,
        }
    }
}

impl LoadDataFromDicts<Untyped> {
    /// The loader a pipeline file records: its columns (with their types) and its rows.
    pub(crate) fn from_settings(
        settings: &crate::step::StepSettings<'_>,
    ) -> Result<Box<dyn Step>, String> {
        let columns = ColumnSpec::from_settings(settings, "columns")?;
        let Some(rows) = settings.optional::<Vec<Value>>("data")? else {
            return Err(format!(
                "the loader's rows were not recorded (more than {RECORDED_ROWS}): give them as \
                 a file to LoadDataFromFileSystem, or build this step in code"
            ));
        };
        let mut loader = LoadDataFromDicts::untyped(rows);
        let names: Vec<&str> = columns.iter().map(|c| c.name.as_str()).collect();
        let data = names
            .iter()
            .map(|name| {
                let at = loader.columns.iter().position(|c| c.name == *name);
                at.map_or_else(
                    || Arc::new(vec![Value::Null; loader.len]),
                    |at| loader.data[at].clone(),
                )
            })
            .collect();
        loader.data = data;
        loader.columns = columns;
        Ok(Box::new(loader))
    }
}

#[step(generator, outputs = R)]
impl<R: Send + 'static> Step for LoadDataFromDicts<R> {
    fn spec(&self) -> StepSpec {
        StepSpec {
            outputs: self.columns.clone(),
            ..StepSpec::new("LoadDataFromDicts", StepKind::Generator)
        }
    }

    /// The columns and every row, when there are at most [`RECORDED_ROWS`]: a pipeline file
    /// rebuilds the loader from them. More would make every run write its data into
    /// `pipeline.yaml`; their count is recorded instead (the data's identity is in the step's
    /// fingerprint).
    fn describe(&self) -> Option<Value> {
        if self.len > RECORDED_ROWS {
            return Some(serde_json::json!({
                "columns": ColumnSpec::to_settings(&self.columns),
                "data": Value::Null,
                "rows": self.len,
            }));
        }
        let rows: Vec<Value> = (0..self.len)
            .map(|row| {
                Value::Object(
                    self.columns
                        .iter()
                        .zip(&self.data)
                        .map(|(spec, column)| (spec.name.clone(), column[row].clone()))
                        .collect(),
                )
            })
            .collect();
        Some(serde_json::json!({
            "columns": ColumnSpec::to_settings(&self.columns),
            "data": rows,
        }))
    }

    fn start(&mut self) -> BoxFuture<'_, crate::Result<()>> {
        self.next = 0;
        Box::pin(async { Ok(()) })
    }

    fn generate(&mut self, batch_size: usize) -> BoxFuture<'_, crate::Result<Option<Output>>> {
        let end = (self.next + batch_size).min(self.len);
        let output = (self.next < end).then(|| {
            let mut output = Output::new_rows(end - self.next);
            for (spec, column) in self.columns.iter().zip(&self.data) {
                output.push_shared(&spec.name, column.clone(), self.next, end - self.next);
            }
            output
        });
        self.next = end;
        Box::pin(async move { Ok(output) })
    }

    /// sha256 of every cell: other rows make other results.
    fn fingerprint(&self) -> Option<Value> {
        use sha2::Digest;
        let mut hasher = sha2::Sha256::new();
        hasher.update((self.len as u64).to_le_bytes());
        for (spec, column) in self.columns.iter().zip(&self.data) {
            crate::column::hash_cells(&mut hasher, &spec.name, column.iter());
        }
        let digest = crate::cache::signature::Signature(hasher.finalize().into());
        Some(Value::String(digest.hex()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn many_rows_are_counted_not_recorded() {
        let rows = |n: usize| (0..n).map(|i| serde_json::json!({ "n": i }));
        let few = LoadDataFromDicts::untyped(rows(RECORDED_ROWS))
            .describe()
            .unwrap();
        assert_eq!(few["data"].as_array().map(Vec::len), Some(RECORDED_ROWS));
        let many = LoadDataFromDicts::untyped(rows(RECORDED_ROWS + 1))
            .describe()
            .unwrap();
        assert_eq!(many["data"], Value::Null);
        assert_eq!(many["rows"], serde_json::json!(RECORDED_ROWS + 1));
    }
}
