//! MergeColumns: several columns of a row into one list.

use crate::column::ColumnSpec;
use crate::step::{BoxFuture, Input, Output, Step, StepKind, StepSpec};
use crate::{DataType, Error, Value, step};

/// Puts several columns of each row into one list column, in the order of `columns`. A list
/// cell adds its items and any other cell (null included) adds itself. So `"How are you?"` and
/// `["What's up?", "Everything ok?"]` merge into a list of three questions.
///
/// Columns: reads `columns` (any type); writes `output_column`, by default `merged_column`
/// (`Vec<Value>`). Unlike distilabel, which drops the merged columns, it keeps them unless
/// `output_column` reuses one of their names. Drop them with
/// [`KeepColumns`](crate::steps::KeepColumns).
///
/// ```
/// use distil::steps::MergeColumns;
///
/// let merge = MergeColumns::new(["queries", "multiple_queries"]).output_column("queries");
/// ```
#[derive(Clone, Debug)]
pub struct MergeColumns {
    columns: Vec<String>,
    output_column: String,
}

impl MergeColumns {
    /// Merges `columns` into `merged_column`.
    pub fn new<S: Into<String>>(columns: impl IntoIterator<Item = S>) -> Self {
        MergeColumns {
            columns: columns.into_iter().map(Into::into).collect(),
            output_column: "merged_column".to_owned(),
        }
    }

    /// Writes the merged list to `name`.
    #[must_use]
    pub fn output_column(mut self, name: impl Into<String>) -> Self {
        self.output_column = name.into();
        self
    }

    fn merge(&self, input: &Input<'_>) -> crate::Result<Vec<Value>> {
        let cells = self
            .columns
            .iter()
            .map(|c| {
                input
                    .column(c)
                    .ok_or_else(|| Error::msg(format!("column `{c}` is missing")))
            })
            .collect::<crate::Result<Vec<_>>>()?;
        Ok((0..input.len())
            .map(|row| {
                let mut merged = Vec::new();
                for column in &cells {
                    match &column[row] {
                        Value::Array(items) => merged.extend(items.iter().cloned()),
                        other => merged.push(other.clone()),
                    }
                }
                Value::Array(merged)
            })
            .collect())
    }
}

impl MergeColumns {
    pub(crate) fn from_settings(
        settings: &crate::step::StepSettings<'_>,
    ) -> Result<Box<dyn Step>, String> {
        Ok(Box::new(
            MergeColumns::new(settings.get::<Vec<String>>("columns")?)
                .output_column(settings.get::<String>("output_column")?),
        ))
    }
}

#[step(dynamic)]
impl Step for MergeColumns {
    fn describe(&self) -> Option<crate::Value> {
        Some(serde_json::json!({"columns": self.columns, "output_column": self.output_column}))
    }

    fn spec(&self) -> StepSpec {
        StepSpec {
            inputs: super::any_type(&self.columns),
            outputs: vec![ColumnSpec::new(
                &self.output_column,
                DataType::List(Box::new(DataType::Json)),
            )],
            ..StepSpec::new("MergeColumns", StepKind::Normal)
        }
    }

    fn process<'a>(&'a mut self, input: Input<'a>) -> BoxFuture<'a, crate::Result<Output>> {
        let output = self
            .merge(&input)
            .map(|merged| Output::same_rows().column(&self.output_column, merged));
        Box::pin(async move { output })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::MergeColumns;
    use crate::Pipeline;
    use crate::steps::LoadDataFromDicts;

    async fn merged(rows: Vec<Value>, merge: MergeColumns) -> Vec<serde_json::Map<String, Value>> {
        let mut pipeline = Pipeline::new("merge");
        pipeline.add("load", LoadDataFromDicts::untyped(rows));
        pipeline.add("merge", merge);
        pipeline.connect("load", "merge");
        let distiset = pipeline.run().await.unwrap();
        distiset.default_config().unwrap().rows().collect()
    }

    #[tokio::test]
    async fn lists_are_flattened_and_single_values_appended() {
        let rows = merged(
            vec![json!({
                "queries": "How are you?",
                "multiple_queries": ["What's up?", "Everything ok?"],
            })],
            MergeColumns::new(["queries", "multiple_queries"]).output_column("queries"),
        )
        .await;
        assert_eq!(
            rows[0]["queries"],
            json!(["How are you?", "What's up?", "Everything ok?"])
        );
        assert_eq!(
            rows[0]["multiple_queries"],
            json!(["What's up?", "Everything ok?"])
        );
    }

    #[tokio::test]
    async fn the_default_output_is_merged_column_and_nulls_are_kept() {
        let rows = merged(
            vec![
                json!({"a": 1, "b": [2, 3], "c": {"k": 4}}),
                json!({"a": null, "b": [], "c": 5}),
            ],
            MergeColumns::new(["a", "b", "c"]),
        )
        .await;
        assert_eq!(rows[0]["merged_column"], json!([1, 2, 3, {"k": 4}]));
        assert_eq!(rows[1]["merged_column"], json!([null, 5]));
    }

    #[tokio::test]
    async fn a_column_nobody_produces_is_reported_before_the_run() {
        let mut pipeline = Pipeline::new("merge-missing");
        pipeline.add("load", LoadDataFromDicts::untyped(vec![json!({"a": 1})]));
        pipeline.add("merge", MergeColumns::new(["a", "b"]));
        pipeline.connect("load", "merge");
        let error = pipeline.run().await.unwrap_err().to_string();
        assert!(error.contains("needs column `b: Value`"), "{error}");
    }
}
