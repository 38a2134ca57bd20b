//! ExpandColumns: one row per list item.

use std::borrow::Cow;

use crate::column::{CellError, ColumnSpec};
use crate::step::{BoxFuture, Input, Output, Step, StepKind, StepSpec};
use crate::{DataType, Error, Value, step};

/// Expands list columns into rows: a row whose `generations` holds three items becomes three
/// rows, each with one item and a copy of the other columns. Several columns expand together,
/// item by item, so their lists must have the same length in each row. A row where they do not
/// (or where a cell is not a list) becomes one row with null cells and an error in its
/// metadata. A row with empty lists yields no row.
///
/// The rows an input row expands into get child ids of its id, so a later join meets them with
/// the rows of other branches they came from.
///
/// Columns: reads `columns` (lists, or JSON strings of lists with [`encoded`](Self::encoded));
/// writes each item under the column's name, or the name given by [`rename`](Self::rename)
/// (`Value`). A renamed column's list passes through unchanged.
///
/// ```
/// use distil::steps::ExpandColumns;
///
/// // `generations: ["a", "b"]` becomes two rows with `generation: "a"` and `generation: "b"`.
/// let expand = ExpandColumns::new(["generations"]).rename("generations", "generation");
/// ```
#[derive(Clone, Debug)]
pub struct ExpandColumns {
    /// `(list column, column its items go to)`.
    columns: Vec<(String, String)>,
    encoded: bool,
}

impl ExpandColumns {
    /// Expands each of `columns` in place: its items replace the list.
    pub fn new<S: Into<String>>(columns: impl IntoIterator<Item = S>) -> Self {
        ExpandColumns {
            columns: columns
                .into_iter()
                .map(|c| {
                    let c = c.into();
                    (c.clone(), c)
                })
                .collect(),
            encoded: false,
        }
    }

    /// Writes the items of list column `from` to column `to`, and expands `from` if it was not
    /// among the columns yet.
    #[must_use]
    pub fn rename(mut self, from: impl Into<String>, to: impl Into<String>) -> Self {
        let (from, to) = (from.into(), to.into());
        match self.columns.iter_mut().find(|(list, _)| *list == from) {
            Some(pair) => pair.1 = to,
            None => self.columns.push((from, to)),
        }
        self
    }

    /// The columns hold JSON-encoded lists (strings), decoded before expanding.
    #[must_use]
    pub fn encoded(mut self, encoded: bool) -> Self {
        self.encoded = encoded;
        self
    }

    /// The lists of row `row`, one per column, all the same length.
    fn lists<'v>(
        &self,
        cells: &[&'v [Value]],
        row: usize,
    ) -> Result<Vec<Cow<'v, [Value]>>, String> {
        let lists = self
            .columns
            .iter()
            .zip(cells)
            .map(|((name, _), column)| {
                list(&column[row], self.encoded).map_err(|e| format!("column `{name}`: {e}"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let lengths: Vec<usize> = lists.iter().map(|l| l.len()).collect();
        if lengths.windows(2).any(|w| w[0] != w[1]) {
            let described: Vec<String> = self
                .columns
                .iter()
                .zip(&lengths)
                .map(|((name, _), len)| format!("`{name}` has {len}"))
                .collect();
            return Err(format!(
                "the lists to expand together differ in length: {}",
                described.join(", ")
            ));
        }
        Ok(lists)
    }

    fn expand(&self, input: &Input<'_>) -> crate::Result<Output> {
        let cells = self
            .columns
            .iter()
            .map(|(name, _)| {
                input
                    .column(name)
                    .ok_or_else(|| Error::msg(format!("column `{name}` is missing")))
            })
            .collect::<crate::Result<Vec<_>>>()?;
        let mut parents: Vec<u32> = Vec::new();
        let mut items: Vec<Vec<Value>> = vec![Vec::new(); self.columns.len()];
        let mut errors: Vec<(usize, String)> = Vec::new();
        for row in 0..input.len() {
            match self.lists(&cells, row) {
                Ok(lists) => {
                    let len = lists.first().map_or(0, |l| l.len());
                    for i in 0..len {
                        parents.push(row as u32);
                        for (column, list) in items.iter_mut().zip(&lists) {
                            column.push(list[i].clone());
                        }
                    }
                }
                Err(message) => {
                    errors.push((parents.len(), message));
                    parents.push(row as u32);
                    for column in &mut items {
                        column.push(Value::Null);
                    }
                }
            }
        }
        let mut output = Output::from_rows(parents);
        for ((_, to), values) in self.columns.iter().zip(items) {
            output.push_column(to, values);
        }
        for (row, message) in errors {
            output.push_error(row, message);
        }
        Ok(output)
    }
}

/// A cell as a list: borrowed when it is one, decoded when it is a JSON string of one.
fn list(cell: &Value, encoded: bool) -> Result<Cow<'_, [Value]>, String> {
    match cell {
        Value::Array(items) => Ok(Cow::Borrowed(items)),
        Value::String(text) if encoded => match serde_json::from_str(text) {
            Ok(Value::Array(items)) => Ok(Cow::Owned(items)),
            Ok(other) => Err(format!(
                "the JSON it holds is not a list: {}",
                CellError::new("a list", Some(&other))
            )),
            Err(e) => Err(format!("not valid JSON: {e}")),
        },
        other => Err(CellError::new("a list", Some(other)).to_string()),
    }
}

impl ExpandColumns {
    pub(crate) fn from_settings(
        settings: &crate::step::StepSettings<'_>,
    ) -> Result<Box<dyn Step>, String> {
        let pairs: Vec<(String, String)> = settings.get("columns")?;
        let mut step = ExpandColumns::new(Vec::<String>::new());
        for (list, item) in pairs {
            step = step.rename(list, item);
        }
        let encoded = settings.optional::<bool>("encoded")?.unwrap_or(false);
        Ok(Box::new(step.encoded(encoded)))
    }
}

#[step(dynamic)]
impl Step for ExpandColumns {
    fn describe(&self) -> Option<crate::Value> {
        Some(serde_json::json!({"columns": self.columns, "encoded": self.encoded}))
    }

    fn spec(&self) -> StepSpec {
        let list_type = if self.encoded {
            DataType::String
        } else {
            DataType::List(Box::new(DataType::Json))
        };
        StepSpec {
            inputs: self
                .columns
                .iter()
                .map(|(from, _)| ColumnSpec::new(from, list_type.clone()))
                .collect(),
            outputs: self
                .columns
                .iter()
                .map(|(_, to)| ColumnSpec::new(to, DataType::Json))
                .collect(),
            ..StepSpec::new("ExpandColumns", StepKind::Normal)
        }
    }

    fn process<'a>(&'a mut self, input: Input<'a>) -> BoxFuture<'a, crate::Result<Output>> {
        let output = self.expand(&input);
        Box::pin(async move { output })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Map, Value, json};

    use super::ExpandColumns;
    use crate::steps::{CombineOutputs, LoadDataFromDicts};
    use crate::{METADATA_COLUMN, Pipeline, Row, step};

    async fn expanded(rows: Vec<Value>, expand: ExpandColumns) -> Vec<Map<String, Value>> {
        let mut pipeline = Pipeline::new("expand");
        pipeline
            .add("load", LoadDataFromDicts::untyped(rows))
            .batch_size(2);
        pipeline.add("expand", expand);
        pipeline.connect("load", "expand");
        let distiset = pipeline.run().await.unwrap();
        distiset.default_config().unwrap().rows().collect()
    }

    #[tokio::test]
    async fn each_item_becomes_a_row_with_the_other_columns_copied() {
        let rows = expanded(
            vec![
                json!({"instruction": "i0", "generation": ["g0", "g1"]}),
                json!({"instruction": "i1", "generation": []}),
                json!({"instruction": "i2", "generation": ["g2"]}),
            ],
            ExpandColumns::new(["generation"]),
        )
        .await;
        let pairs: Vec<(Value, Value)> = rows
            .iter()
            .map(|r| (r["instruction"].clone(), r["generation"].clone()))
            .collect();
        assert_eq!(
            pairs,
            [
                (json!("i0"), json!("g0")),
                (json!("i0"), json!("g1")),
                (json!("i2"), json!("g2")),
            ]
        );
    }

    #[tokio::test]
    async fn columns_expand_together_and_renamed_lists_pass_through() {
        let rows = expanded(
            vec![json!({
                "generations": ["a", "b"],
                "ratings": [4, 2],
            })],
            ExpandColumns::new(["generations", "ratings"]).rename("generations", "generation"),
        )
        .await;
        assert_eq!(rows.len(), 2);
        assert_eq!(
            (&rows[0]["generation"], &rows[0]["ratings"]),
            (&json!("a"), &json!(4))
        );
        assert_eq!(
            (&rows[1]["generation"], &rows[1]["ratings"]),
            (&json!("b"), &json!(2))
        );
        assert_eq!(rows[1]["generations"], json!(["a", "b"]));
    }

    #[tokio::test]
    async fn unequal_lengths_and_non_lists_are_row_errors() {
        let rows = expanded(
            vec![
                json!({"n": 0, "a": [1, 2], "b": [3]}),
                json!({"n": 1, "a": [5], "b": [6]}),
                json!({"n": 2, "a": "x", "b": [7]}),
            ],
            ExpandColumns::new(["a", "b"]),
        )
        .await;
        assert_eq!(rows.len(), 3);
        assert_eq!((&rows[0]["a"], &rows[0]["b"]), (&Value::Null, &Value::Null));
        assert_eq!(
            rows[0][METADATA_COLUMN]["errors"][0]["message"],
            json!("the lists to expand together differ in length: `a` has 2, `b` has 1")
        );
        assert_eq!((&rows[1]["a"], &rows[1]["b"]), (&json!(5), &json!(6)));
        assert_eq!(
            rows[2][METADATA_COLUMN]["errors"][0]["message"],
            json!("column `a`: expected a list, found the string \"x\"")
        );
    }

    #[tokio::test]
    async fn encoded_columns_are_decoded_first() {
        let rows = expanded(
            vec![
                json!({"generation": "[\"g0\", \"g1\"]"}),
                json!({"generation": "{\"not\": \"a list\"}"}),
            ],
            ExpandColumns::new(["generation"]).encoded(true),
        )
        .await;
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[0]["generation"], json!("g0"));
        assert_eq!(rows[1]["generation"], json!("g1"));
        assert_eq!(
            rows[2][METADATA_COLUMN]["errors"][0]["message"],
            json!(
                "column `generation`: the JSON it holds is not a list: expected a list, found an object"
            )
        );
    }

    #[derive(Row)]
    struct Number {
        n: u64,
    }

    #[derive(Row)]
    struct Paired {
        pair: Vec<u64>,
    }

    #[derive(Row)]
    struct Negated {
        negative: i64,
    }

    #[step]
    fn pair(n: u64) -> Paired {
        Paired {
            pair: vec![n, n + 100],
        }
    }

    #[step]
    fn negate(n: u64) -> Negated {
        Negated {
            negative: -(n as i64),
        }
    }

    #[tokio::test]
    async fn expanded_rows_join_the_row_they_came_from() {
        let mut pipeline = Pipeline::new("expand-join");
        pipeline.add(
            "load",
            LoadDataFromDicts::<Number>::new((0..3).map(|n| Number { n })),
        );
        pipeline.add("pair", Pair::new());
        pipeline.add("expand", ExpandColumns::new(["pair"]));
        pipeline.add("negate", Negate::new());
        pipeline.add("combine", CombineOutputs::new());
        pipeline.connect("load", "pair");
        pipeline.connect("pair", "expand");
        pipeline.connect("load", "negate");
        pipeline.connect("expand", "combine");
        pipeline.connect("negate", "combine");
        let distiset = pipeline.run().await.unwrap();
        let rows: Vec<(Value, Value)> = distiset
            .default_config()
            .unwrap()
            .rows()
            .map(|r| (r["pair"].clone(), r["negative"].clone()))
            .collect();
        assert_eq!(
            rows,
            [
                (json!(0), json!(0)),
                (json!(100), json!(0)),
                (json!(1), json!(-1)),
                (json!(101), json!(-1)),
                (json!(2), json!(-2)),
                (json!(102), json!(-2)),
            ]
        );
    }
}
