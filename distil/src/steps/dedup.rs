//! EmbeddingDedup: marks (or drops) rows whose embedding is nearly the same as an earlier one's.

use crate::column::{ColumnSpec, DataType};
use crate::step::{BoxFuture, Input, Output, Step, StepKind, StepSpec};
use crate::{Value, step};

/// The column EmbeddingDedup writes, as distilabel names it.
const KEEP: &str = "keep_row_after_embedding_filtering";

/// Near-duplicate filtering over an `embedding` column (a list of numbers per row, as
/// [`GenerateEmbeddings`](crate::tasks::GenerateEmbeddings) writes): a row whose cosine
/// similarity to an earlier kept row is at least the [`threshold`](Self::threshold) (0.9 by
/// default, a runtime parameter) is a duplicate. Outputs
/// `keep_row_after_embedding_filtering: bool`; with [`drop_duplicates`](Self::drop_duplicates)
/// the duplicates are removed instead. A global step: it sees every row, and keeps the first
/// of each group of near-duplicates in row order.
///
/// The search is exact: each row is compared with the rows kept so far, so the cost is rows
/// × kept rows × dimensions multiply-adds (for 10,000 rows of 384 dimensions that are all
/// distinct, about 2·10¹⁰). A row with no embedding (null) is kept; one whose dimension
/// differs from the first row's fails with an error naming both.
///
/// ```
/// use distil::steps::EmbeddingDedup;
///
/// let dedup = EmbeddingDedup::new().threshold(0.95).drop_duplicates(true);
/// ```
#[derive(Clone, Debug)]
pub struct EmbeddingDedup {
    threshold: f64,
    drop: bool,
}

impl Default for EmbeddingDedup {
    fn default() -> Self {
        EmbeddingDedup::new()
    }
}

impl EmbeddingDedup {
    /// Marks rows at a cosine similarity of 0.9 or more to an earlier one.
    pub fn new() -> Self {
        EmbeddingDedup {
            threshold: 0.9,
            drop: false,
        }
    }

    /// The cosine similarity from which two rows are duplicates (in -1..=1).
    #[must_use]
    pub fn threshold(mut self, threshold: f64) -> Self {
        self.threshold = threshold;
        self
    }

    /// Removes the duplicates instead of marking them.
    #[must_use]
    pub fn drop_duplicates(mut self, drop: bool) -> Self {
        self.drop = drop;
        self
    }
}

/// Unit vectors of the rows kept so far, one after the other.
struct Kept {
    dimensions: usize,
    vectors: Vec<f32>,
}

impl Kept {
    /// The best cosine similarity of `unit` to a kept vector.
    fn nearest(&self, unit: &[f32]) -> f32 {
        self.vectors
            .chunks_exact(self.dimensions)
            .map(|kept| kept.iter().zip(unit).map(|(a, b)| a * b).sum::<f32>())
            .fold(f32::NEG_INFINITY, f32::max)
    }
}

/// A row's embedding as a unit vector; `None` for null, a zero vector's as it is.
fn unit_vector(cell: &Value) -> Result<Option<Vec<f32>>, String> {
    let items = match cell {
        Value::Null => return Ok(None),
        Value::Array(items) => items,
        other => {
            return Err(format!(
                "column `embedding` holds {other}, not a list of numbers"
            ));
        }
    };
    let mut vector: Vec<f32> = items
        .iter()
        .map(|item| {
            item.as_f64()
                .map(|x| x as f32)
                .ok_or_else(|| format!("column `embedding` holds {item} in its list, not a number"))
        })
        .collect::<Result<_, _>>()?;
    let norm = vector.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        vector.iter_mut().for_each(|x| *x /= norm);
    }
    Ok(Some(vector))
}

#[step(dynamic)]
impl Step for EmbeddingDedup {
    fn spec(&self) -> StepSpec {
        let mut spec = StepSpec::new("EmbeddingDedup", StepKind::Global);
        spec.inputs = vec![ColumnSpec::new(
            "embedding",
            DataType::List(Box::new(DataType::Float(32))),
        )];
        if !self.drop {
            spec.outputs = vec![ColumnSpec::new(KEEP, DataType::Bool)];
        }
        spec
    }

    fn process<'a>(&'a mut self, input: Input<'a>) -> BoxFuture<'a, crate::Result<Output>> {
        let threshold = self.threshold as f32;
        let drop = self.drop;
        Box::pin(async move {
            let cells = input.column("embedding").unwrap_or_default();
            let mut kept = Kept {
                dimensions: 0,
                vectors: Vec::new(),
            };
            let mut keep = Vec::with_capacity(cells.len());
            let mut errors = Vec::new();
            for (row, cell) in cells.iter().enumerate() {
                let unit = match unit_vector(cell) {
                    Ok(Some(unit)) => unit,
                    Ok(None) => {
                        keep.push(true);
                        continue;
                    }
                    Err(message) => {
                        errors.push((row, message));
                        keep.push(true);
                        continue;
                    }
                };
                if kept.dimensions == 0 {
                    kept.dimensions = unit.len();
                }
                if unit.len() != kept.dimensions || unit.is_empty() {
                    errors.push((
                        row,
                        format!(
                            "the embedding has {} dimensions, the first row's {}",
                            unit.len(),
                            kept.dimensions
                        ),
                    ));
                    keep.push(true);
                    continue;
                }
                let duplicate = kept.nearest(&unit) >= threshold;
                if !duplicate {
                    kept.vectors.extend_from_slice(&unit);
                }
                keep.push(!duplicate);
            }
            let mut output = if drop {
                Output::from_rows(
                    (0..keep.len() as u32)
                        .filter(|&row| keep[row as usize])
                        .collect(),
                )
            } else {
                Output::same_rows().column(KEEP, keep.iter().map(|&k| Value::Bool(k)).collect())
            };
            // Errors are on output rows: with duplicates dropped, a failed row (always kept)
            // sits at its rank among the kept rows.
            for (row, message) in errors {
                let at = if drop {
                    keep[..row].iter().filter(|&&k| k).count()
                } else {
                    row
                };
                output.push_error(at, message);
            }
            Ok(output)
        })
    }

    fn params(&self) -> Vec<(String, Value)> {
        vec![
            ("threshold".to_owned(), Value::from(self.threshold)),
            ("drop_duplicates".to_owned(), Value::from(self.drop)),
        ]
    }

    fn set_param(&mut self, name: &str, value: Value) -> Result<(), String> {
        match name {
            "threshold" => {
                self.threshold = value
                    .as_f64()
                    .filter(|t| (-1.0..=1.0).contains(t))
                    .ok_or_else(|| format!("`threshold` takes a number in -1..=1, not {value}"))?;
            }
            "drop_duplicates" => {
                self.drop = value
                    .as_bool()
                    .ok_or_else(|| format!("`drop_duplicates` takes true or false, not {value}"))?;
            }
            _ => {
                return Err(crate::step::params::unknown_param(
                    name,
                    &["threshold", "drop_duplicates"],
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RowId;
    use crate::batch::{Batch, Column};
    use serde_json::json;

    fn batch(embeddings: Vec<Value>) -> Batch {
        let rows = embeddings.len();
        Batch::new(
            (0..rows as u64).map(RowId::new).collect(),
            vec![Column::new("embedding", embeddings, 0)],
            rows as u64,
        )
    }

    fn rows() -> Vec<Value> {
        vec![
            json!([1.0, 0.0, 0.0]),
            json!([0.99, 0.05, 0.0]), // near row 0
            json!([0.0, 1.0, 0.0]),
            Value::Null,
            json!([2.0, 0.0, 0.0]), // same direction as row 0
            json!([1.0, 0.0]),      // wrong dimension
            json!([0.0, 0.0, 1.0]),
        ]
    }

    #[tokio::test]
    async fn near_duplicates_are_marked_after_the_first_of_their_group() {
        let batch = batch(rows());
        let mut step = EmbeddingDedup::new().threshold(0.95);
        let output = step.process(Input::new(&batch, &[])).await.unwrap();
        assert_eq!(output.columns[0].name(), KEEP);
        assert_eq!(
            output.columns[0].values(),
            [true, false, true, true, false, true, true].map(Value::Bool)
        );
        assert_eq!(output.errors.len(), 1);
        assert_eq!(output.errors[0].0, 5);
        assert!(
            output.errors[0]
                .1
                .contains("2 dimensions, the first row's 3")
        );
        // A stricter threshold keeps row 1.
        let mut strict = EmbeddingDedup::new().threshold(0.9999);
        let output = strict.process(Input::new(&batch, &[])).await.unwrap();
        assert_eq!(output.columns[0].values()[1], Value::Bool(true));
    }

    #[tokio::test]
    async fn duplicates_can_be_dropped() {
        let batch = batch(rows());
        let mut step = EmbeddingDedup::new().threshold(0.95).drop_duplicates(true);
        assert!(step.spec().outputs.is_empty());
        let output = step.process(Input::new(&batch, &[])).await.unwrap();
        match &output.rows {
            crate::step::Rows::From(parents) => assert_eq!(parents, &[0, 2, 3, 5, 6]),
            other => panic!("{other:?}"),
        }
        // Row 5's error is on its output row, the fourth.
        assert_eq!(output.errors[0].0, 3);
        assert!(step.set_param("threshold", json!(2.0)).is_err());
        step.set_param("threshold", json!(0.5)).unwrap();
        assert_eq!(step.params()[0], ("threshold".to_owned(), json!(0.5)));
    }
}
