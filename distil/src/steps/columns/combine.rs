//! CombineOutputs: the rows of several branches as one stream.

use crate::step;
use crate::step::{BoxFuture, Input, Output, Step, StepKind, StepSpec};

/// Joins the rows of several predecessors into one stream. Each row carries every branch's
/// columns and the union of their metadata. When two branches produce the same column, the
/// nearest producer's value wins.
///
/// The runtime joins a step's predecessors by row id before the step runs, so this step only
/// gives the join a name. distilabel needs it because there the step zips the branches' rows by
/// position. A row that only some branches delivered (filtered or routed) is still combined,
/// with nulls for the columns the other branches would have added.
///
/// Columns: reads none, keeps every upstream column.
///
/// ```
/// use distil::prelude::*;
/// use distil::steps::{CombineOutputs, LoadDataFromDicts};
///
/// #[derive(Row)]
/// struct Number { n: u64 }
/// #[derive(Row)]
/// struct Squared { square: u64 }
/// #[derive(Row)]
/// struct Negated { negative: i64 }
///
/// #[step]
/// fn square(n: u64) -> Squared { Squared { square: n * n } }
/// #[step]
/// fn negate(n: u64) -> Negated { Negated { negative: -(n as i64) } }
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> distil::Result<()> {
/// let mut pipeline = pipeline! {
///     load = LoadDataFromDicts::<Number>::new(vec![Number { n: 3 }]),
///     sq = Square::new(),
///     neg = Negate::new(),
///     combine = CombineOutputs::new(),
///     load >> [sq, neg] >> combine,
/// };
/// let distiset = pipeline.run().await?;
/// let row = distiset.default_config().unwrap().rows().next().unwrap();
/// assert_eq!((row["square"].as_u64(), row["negative"].as_i64()), (Some(9), Some(-3)));
/// # Ok(()) }
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct CombineOutputs;

impl CombineOutputs {
    /// A combining step.
    pub fn new() -> Self {
        CombineOutputs
    }
}

#[step(dynamic)]
impl Step for CombineOutputs {
    fn spec(&self) -> StepSpec {
        StepSpec::new("CombineOutputs", StepKind::Normal)
    }

    fn process<'a>(&'a mut self, _input: Input<'a>) -> BoxFuture<'a, crate::Result<Output>> {
        Box::pin(async { Ok(Output::same_rows()) })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::CombineOutputs;
    use crate::steps::LoadDataFromDicts;
    use crate::{METADATA_COLUMN, Pipeline, Row, step};

    #[derive(Row)]
    struct Number {
        n: u64,
    }

    #[derive(Row)]
    struct Squared {
        square: u64,
    }

    #[derive(Row)]
    struct Halved {
        half: u64,
    }

    #[step]
    fn square(n: u64) -> Squared {
        Squared { square: n * n }
    }

    /// Keeps even numbers only, so the other branch alone delivers the odd ones.
    #[step]
    fn halve_evens(n: u64) -> Option<Halved> {
        n.is_multiple_of(2).then_some(Halved { half: n / 2 })
    }

    #[step]
    fn refuse_three(n: u64) -> Result<Halved, String> {
        if n == 3 {
            Err("three is refused".into())
        } else {
            Ok(Halved { half: n / 2 })
        }
    }

    fn numbers(count: u64) -> Vec<Number> {
        (0..count).map(|n| Number { n }).collect()
    }

    #[tokio::test]
    async fn every_branch_columns_reach_each_row_even_when_a_branch_filters() {
        let mut pipeline = Pipeline::new("combine");
        pipeline
            .add("load", LoadDataFromDicts::<Number>::new(numbers(10)))
            .batch_size(3);
        pipeline.add("square", Square::new()).input_batch_size(4);
        pipeline.add("halve", HalveEvens::new());
        pipeline.add("combine", CombineOutputs::new());
        pipeline.connect("load", "square");
        pipeline.connect("load", "halve");
        pipeline.connect("square", "combine");
        pipeline.connect("halve", "combine");

        let distiset = pipeline.run().await.unwrap();
        let rows: Vec<_> = distiset.default_config().unwrap().rows().collect();
        assert_eq!(rows.len(), 10);
        for (n, row) in (0u64..).zip(&rows) {
            assert_eq!(row["n"], json!(n));
            assert_eq!(row["square"], json!(n * n));
            let half = if n.is_multiple_of(2) {
                json!(n / 2)
            } else {
                Value::Null
            };
            assert_eq!(row["half"], half, "row {n}");
        }
    }

    #[tokio::test]
    async fn a_branch_error_stays_on_its_row() {
        let mut pipeline = Pipeline::new("combine-errors");
        pipeline.add("load", LoadDataFromDicts::<Number>::new(numbers(5)));
        pipeline.add("square", Square::new());
        pipeline.add("refuse", RefuseThree::new());
        pipeline.add("combine", CombineOutputs::new());
        pipeline.connect("load", "square");
        pipeline.connect("load", "refuse");
        pipeline.connect("square", "combine");
        pipeline.connect("refuse", "combine");

        let distiset = pipeline.run().await.unwrap();
        let rows: Vec<_> = distiset.default_config().unwrap().rows().collect();
        assert_eq!(rows[3]["square"], json!(9));
        assert_eq!(rows[3]["half"], Value::Null);
        assert_eq!(
            rows[3][METADATA_COLUMN]["errors"],
            json!([{"step": "refuse", "message": "three is refused"}])
        );
        assert_eq!(rows[2].get(METADATA_COLUMN), Some(&Value::Null));
    }
}
