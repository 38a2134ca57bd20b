//! GroupColumns: one list per column, with a value from each branch that delivered the row.

use crate::column::ColumnSpec;
use crate::step::{BoxFuture, Input, Output, Step, StepKind, StepSpec};
use crate::{DataType, Error, Value, step};

/// For steps with several predecessors: turns each of `columns` into a list with one value per
/// predecessor that delivered the row, in the order the predecessors were connected. The
/// usual use is to gather the generations of several LLMs for a judge
/// (`generation` → `generations`).
///
/// A predecessor that did not deliver a row adds nothing to it. So with
/// `sample_n_steps(2)` over three generators, every row gets exactly two values. A
/// predecessor that delivered the row adds its value even when that value is null (its step
/// failed on the row). With a single predecessor, every list has one value.
///
/// Columns: reads `columns` (any type); writes `output_columns`, by default `grouped_<column>`:
/// `Vec<Option<T>>` of the column's type `T`, null where a branch failed on the row. When
/// `pipeline!` sees both lists as literals it checks that type at compile time, and
/// [`Pipeline::validate`](crate::Pipeline::validate) checks it in a pipeline built without
/// the macro, in the same words. The original columns pass through, holding the nearest
/// branch's value.
///
/// ```
/// use distil::steps::GroupColumns;
///
/// let group = GroupColumns::new(["generation", "model_name"])
///     .output_columns(["generations", "generation_models"]);
/// ```
#[derive(Clone, Debug)]
pub struct GroupColumns {
    columns: Vec<String>,
    output_columns: Option<Vec<String>>,
}

impl GroupColumns {
    /// Groups `columns` into `grouped_<column>`.
    pub fn new<S: Into<String>>(columns: impl IntoIterator<Item = S>) -> Self {
        GroupColumns {
            columns: columns.into_iter().map(Into::into).collect(),
            output_columns: None,
        }
    }

    /// Names the grouped columns, one name per column in the same order. A different number of
    /// names is an error when the pipeline starts.
    #[must_use]
    pub fn output_columns<S: Into<String>>(mut self, names: impl IntoIterator<Item = S>) -> Self {
        self.output_columns = Some(names.into_iter().map(Into::into).collect());
        self
    }

    /// The `(column, output column)` pairs.
    fn pairs(&self) -> impl Iterator<Item = (&String, String)> {
        self.columns.iter().enumerate().map(|(i, column)| {
            let name = self
                .output_columns
                .as_ref()
                .and_then(|names| names.get(i).cloned());
            (column, name.unwrap_or_else(|| format!("grouped_{column}")))
        })
    }

    /// Each row's values of `column`, one per predecessor that delivered the row.
    fn group(&self, input: &Input<'_>, column: &str) -> Vec<Value> {
        let branches = input.branches();
        if branches.is_empty() {
            let cells = input.column(column);
            return (0..input.len())
                .map(|row| Value::Array(cells.map(|c| c[row].clone()).into_iter().collect()))
                .collect();
        }
        let source = input.source(column);
        (0..input.len())
            .map(|row| {
                let values = branches
                    .iter()
                    .filter(|branch| branch.has_row(row))
                    .filter_map(|branch| branch.column(source).map(|cells| cells[row].clone()));
                Value::Array(values.collect())
            })
            .collect()
    }
}

impl GroupColumns {
    pub(crate) fn from_settings(
        settings: &crate::step::StepSettings<'_>,
    ) -> Result<Box<dyn Step>, String> {
        let mut step = GroupColumns::new(settings.get::<Vec<String>>("columns")?);
        if let Some(names) = settings.optional::<Vec<String>>("output_columns")? {
            step = step.output_columns(names);
        }
        Ok(Box::new(step))
    }
}

#[step(dynamic, groups = 0)]
impl Step for GroupColumns {
    fn describe(&self) -> Option<crate::Value> {
        Some(serde_json::json!({"columns": self.columns, "output_columns": self.output_columns}))
    }

    fn spec(&self) -> StepSpec {
        StepSpec {
            inputs: super::any_type(&self.columns),
            outputs: self
                .pairs()
                .map(|(_, name)| ColumnSpec::new(name, DataType::List(Box::new(DataType::Json))))
                .collect(),
            grouped: self
                .pairs()
                .map(|(column, name)| (column.clone(), name))
                .collect(),
            ..StepSpec::new("GroupColumns", StepKind::Normal)
        }
    }

    fn start(&mut self) -> BoxFuture<'_, crate::Result<()>> {
        let result = match &self.output_columns {
            Some(names) if names.len() != self.columns.len() => Err(Error::msg(format!(
                "GroupColumns got {} output column names for {} columns; give one name per column",
                names.len(),
                self.columns.len()
            ))),
            _ => Ok(()),
        };
        Box::pin(async move { result })
    }

    fn process<'a>(&'a mut self, input: Input<'a>) -> BoxFuture<'a, crate::Result<Output>> {
        let mut output = Output::same_rows();
        for (column, name) in self.pairs() {
            output.push_column(name, self.group(&input, column));
        }
        Box::pin(async move { Ok(output) })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::GroupColumns;
    use crate::steps::LoadDataFromDicts;
    use crate::{Pipeline, Row, RunOptions, sample_n_steps, step};

    #[derive(Row)]
    struct Number {
        n: u64,
    }

    #[derive(Row)]
    struct Generated {
        generation: String,
        model_name: String,
    }

    #[step]
    fn model_a(n: u64) -> Generated {
        Generated {
            generation: format!("a{n}"),
            model_name: "model-a".into(),
        }
    }

    #[step]
    fn model_b(n: u64) -> Generated {
        Generated {
            generation: format!("b{n}"),
            model_name: "model-b".into(),
        }
    }

    #[step]
    fn model_c(n: u64) -> Result<Generated, String> {
        if n == 1 {
            return Err("model c is down".into());
        }
        Ok(Generated {
            generation: format!("c{n}"),
            model_name: "model-c".into(),
        })
    }

    fn numbers(count: u64) -> Vec<Number> {
        (0..count).map(|n| Number { n }).collect()
    }

    /// `load >> [a, b, c] >> group`; with `routed`, each batch of `load` goes to two of the three.
    fn three_models(rows: u64, group: GroupColumns, routed: bool) -> Pipeline {
        let mut pipeline = Pipeline::new("group");
        pipeline
            .add("load", LoadDataFromDicts::<Number>::new(numbers(rows)))
            .batch_size(2);
        pipeline.add("a", ModelA::new()).input_batch_size(2);
        pipeline.add("b", ModelB::new()).input_batch_size(2);
        pipeline.add("c", ModelC::new()).input_batch_size(2);
        pipeline.add("group", group).input_batch_size(2);
        if routed {
            pipeline.route("load", sample_n_steps(2), ["a", "b", "c"]);
        } else {
            for model in ["a", "b", "c"] {
                pipeline.connect("load", model);
            }
        }
        for model in ["a", "b", "c"] {
            pipeline.connect(model, "group");
        }
        pipeline
    }

    #[tokio::test]
    async fn each_branch_adds_its_value_in_connection_order_nulls_included() {
        let group = GroupColumns::new(["generation", "model_name"])
            .output_columns(["generations", "generation_models"]);
        let mut pipeline = three_models(3, group, false);
        let distiset = pipeline.run().await.unwrap();
        let rows: Vec<_> = distiset.default_config().unwrap().rows().collect();
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[0]["generations"], json!(["a0", "b0", "c0"]));
        assert_eq!(
            rows[0]["generation_models"],
            json!(["model-a", "model-b", "model-c"])
        );
        assert_eq!(
            rows[1]["generations"],
            json!(["a1", "b1", null]),
            "model c failed on row 1 but delivered it"
        );
        assert_eq!(rows[2]["generations"], json!(["a2", "b2", "c2"]));
    }

    #[tokio::test]
    async fn routed_rows_get_one_value_per_branch_they_went_through() {
        let group = GroupColumns::new(["generation", "model_name"]);
        let mut pipeline = three_models(6, group, true);
        let distiset = pipeline.run_with(RunOptions::new().seed(11)).await.unwrap();
        let rows: Vec<_> = distiset.default_config().unwrap().rows().collect();
        assert_eq!(rows.len(), 6);
        for (n, row) in (0u64..).zip(&rows) {
            let generations = row["grouped_generation"].as_array().unwrap();
            let models = row["grouped_model_name"].as_array().unwrap();
            assert_eq!(generations.len(), 2, "row {n}: {row:?}");
            for (generation, model) in generations.iter().zip(models) {
                if generation.is_null() {
                    assert_eq!((n, model), (1, &Value::Null), "only c fails, on row 1");
                    continue;
                }
                let letter = &generation.as_str().unwrap()[..1];
                assert_eq!(generation, &json!(format!("{letter}{n}")));
                assert_eq!(model, &json!(format!("model-{letter}")));
            }
        }
    }

    #[tokio::test]
    async fn a_single_predecessor_gives_one_value_lists() {
        let mut pipeline = Pipeline::new("group-one");
        pipeline.add("load", LoadDataFromDicts::<Number>::new(numbers(2)));
        pipeline.add("a", ModelA::new());
        pipeline.add("group", GroupColumns::new(["generation"]));
        pipeline.connect("load", "a");
        pipeline.connect("a", "group");
        let distiset = pipeline.run().await.unwrap();
        let grouped: Vec<_> = distiset
            .default_config()
            .unwrap()
            .column("grouped_generation")
            .cloned()
            .collect();
        assert_eq!(grouped, [json!(["a0"]), json!(["a1"])]);
    }

    #[tokio::test]
    async fn input_mappings_apply_to_each_branch() {
        // `model_name` too: each branch brings one, and a join may not drop two of them.
        let mut pipeline = three_models(1, GroupColumns::new(["text", "model_name"]), false);
        pipeline
            .options("group")
            .unwrap()
            .input_mapping("text", "generation");
        let distiset = pipeline.run().await.unwrap();
        let grouped: Vec<_> = distiset
            .default_config()
            .unwrap()
            .column("grouped_text")
            .cloned()
            .collect();
        assert_eq!(grouped, [json!(["a0", "b0", "c0"])]);
    }

    #[tokio::test]
    async fn a_wrong_number_of_output_names_stops_the_run() {
        let group = GroupColumns::new(["generation", "model_name"]).output_columns(["generations"]);
        let mut pipeline = three_models(1, group, false);
        let error = pipeline.run().await.unwrap_err().to_string();
        assert!(
            error.contains("1 output column names for 2 columns"),
            "{error}"
        );
    }
}
