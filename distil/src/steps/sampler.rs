//! DataSampler: a generator of random samples of in-memory rows, as few-shot examples.

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::column::{ColumnSpec, DataType};
use crate::step::{BoxFuture, Output, Step, StepKind, StepSpec};
use crate::{Error, Value, step};

/// Emits `samples` rows, each holding `size` objects picked at random (with replacement) from
/// `data`. The picks are merged column-wise: with `data` of `{"sample": ..}` objects, each row's
/// `sample` is a list of `size` values. Useful for giving each prompt a few examples.
///
/// Without [`seed`](Self::seed) every run draws other samples. With it, every run draws the
/// same ones.
///
/// Columns: writes the keys of `data[0]`, each a `Vec<Value>` (null where a picked object lacks
/// the key).
///
/// ```
/// use distil::steps::DataSampler;
/// use serde_json::json;
///
/// let examples = (0..30).map(|i| json!({"sample": format!("sample {i}")}));
/// let sampler = DataSampler::new(examples).size(2).samples(10).seed(42);
/// ```
#[derive(Clone, Debug)]
pub struct DataSampler {
    data: Vec<Value>,
    columns: Vec<String>,
    size: usize,
    samples: usize,
    seed: Option<u64>,
    rng: SmallRng,
    emitted: usize,
}

impl DataSampler {
    /// Samples from `data` (JSON objects): by default 100 rows of 2 picks each.
    pub fn new(data: impl IntoIterator<Item = Value>) -> Self {
        let data: Vec<Value> = data.into_iter().collect();
        let columns = data
            .first()
            .and_then(Value::as_object)
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default();
        DataSampler {
            data,
            columns,
            size: 2,
            samples: 100,
            seed: None,
            rng: fresh_rng(None),
            emitted: 0,
        }
    }

    /// Picks per row.
    #[must_use]
    pub fn size(mut self, size: usize) -> Self {
        self.size = size;
        self
    }

    /// Rows in all.
    #[must_use]
    pub fn samples(mut self, samples: usize) -> Self {
        self.samples = samples;
        self
    }

    /// Draws the same samples on every run.
    #[must_use]
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// One row: for each column, the values of `size` random picks.
    fn sample_row(&mut self) -> Vec<Value> {
        let picks: Vec<&Value> = (0..self.size)
            .map(|_| &self.data[self.rng.random_range(0..self.data.len())])
            .collect();
        self.columns
            .iter()
            .map(|c| {
                Value::Array(
                    picks
                        .iter()
                        .map(|p| p.get(c).cloned().unwrap_or(Value::Null))
                        .collect(),
                )
            })
            .collect()
    }
}

fn fresh_rng(seed: Option<u64>) -> SmallRng {
    seed.map_or_else(SmallRng::from_os_rng, SmallRng::seed_from_u64)
}

impl DataSampler {
    pub(crate) fn from_settings(
        settings: &crate::step::StepSettings<'_>,
    ) -> Result<Box<dyn Step>, String> {
        let mut step = DataSampler::new(settings.get::<Vec<Value>>("data")?)
            .size(settings.get("size")?)
            .samples(settings.get("samples")?);
        if let Some(seed) = settings.optional::<u64>("seed")? {
            step = step.seed(seed);
        }
        Ok(Box::new(step))
    }
}

#[step(dynamic, generator)]
impl Step for DataSampler {
    fn describe(&self) -> Option<crate::Value> {
        Some(
            serde_json::json!({"data": self.data, "size": self.size, "samples": self.samples, "seed": self.seed}),
        )
    }

    fn spec(&self) -> StepSpec {
        StepSpec {
            outputs: self
                .columns
                .iter()
                .map(|c| ColumnSpec::new(c, DataType::List(Box::new(DataType::Json))))
                .collect(),
            ..StepSpec::new("DataSampler", StepKind::Generator)
        }
    }

    fn start(&mut self) -> BoxFuture<'_, crate::Result<()>> {
        self.emitted = 0;
        self.rng = fresh_rng(self.seed);
        let result = if self.data.is_empty() && self.samples > 0 {
            Err(Error::msg("DataSampler has no data to sample from"))
        } else {
            Ok(())
        };
        Box::pin(async move { result })
    }

    fn generate(&mut self, batch_size: usize) -> BoxFuture<'_, crate::Result<Option<Output>>> {
        let rows = batch_size.min(self.samples.saturating_sub(self.emitted));
        let output = (rows > 0).then(|| {
            let mut columns: Vec<Vec<Value>> = vec![Vec::with_capacity(rows); self.columns.len()];
            for _ in 0..rows {
                for (column, value) in columns.iter_mut().zip(self.sample_row()) {
                    column.push(value);
                }
            }
            let mut output = Output::new_rows(rows);
            for (name, values) in self.columns.iter().zip(columns) {
                output.push_column(name, values);
            }
            output
        });
        self.emitted += rows;
        Box::pin(async move { Ok(output) })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::DataSampler;
    use crate::Pipeline;
    use crate::steps::KeepColumns;

    fn examples() -> Vec<Value> {
        (0..30)
            .map(|i| json!({"sample": format!("sample {i}"), "index": i}))
            .collect()
    }

    fn sampler_pipeline(sampler: DataSampler) -> Pipeline {
        let mut pipeline = Pipeline::new("sampler");
        pipeline.add("sampler", sampler).batch_size(4);
        pipeline
    }

    async fn sampled(pipeline: &mut Pipeline) -> Vec<serde_json::Map<String, Value>> {
        let distiset = pipeline.run().await.unwrap();
        distiset.default_config().unwrap().rows().collect()
    }

    #[tokio::test]
    async fn emits_samples_rows_of_size_picks_merged_by_column() {
        let mut pipeline = sampler_pipeline(DataSampler::new(examples()).size(3).samples(10));
        let rows = sampled(&mut pipeline).await;
        assert_eq!(rows.len(), 10, "10 rows across batches of 4, 4 and 2");
        for row in &rows {
            let samples = row["sample"].as_array().unwrap();
            let indices = row["index"].as_array().unwrap();
            assert_eq!((samples.len(), indices.len()), (3, 3));
            for (sample, index) in samples.iter().zip(indices) {
                assert_eq!(
                    sample,
                    &json!(format!("sample {index}")),
                    "picks stay whole"
                );
            }
        }
    }

    #[tokio::test]
    async fn a_seed_draws_the_same_samples_every_run() {
        let mut first = sampler_pipeline(DataSampler::new(examples()).samples(20).seed(7));
        let mut second = sampler_pipeline(DataSampler::new(examples()).samples(20).seed(7));
        let mut other = sampler_pipeline(DataSampler::new(examples()).samples(20).seed(8));
        let drawn = sampled(&mut first).await;
        assert_eq!(drawn, sampled(&mut second).await);
        assert_eq!(drawn, sampled(&mut first).await, "a rerun starts over");
        assert_ne!(drawn, sampled(&mut other).await);
    }

    #[tokio::test]
    async fn missing_keys_are_null_and_downstream_steps_see_the_columns() {
        let data = vec![json!({"q": "a", "tag": 1}), json!({"q": "b"})];
        let mut pipeline = Pipeline::new("sampler-keep");
        pipeline.add(
            "sampler",
            DataSampler::new(data).size(40).samples(1).seed(3),
        );
        pipeline.add("keep", KeepColumns::new(["tag"]));
        pipeline.connect("sampler", "keep");
        let rows = sampled(&mut pipeline).await;
        let tags = rows[0]["tag"].as_array().unwrap();
        assert_eq!(tags.len(), 40);
        assert!(tags.contains(&json!(1)) && tags.contains(&Value::Null));
        assert!(!rows[0].contains_key("q"));
    }

    #[tokio::test]
    async fn no_data_stops_the_run() {
        let mut pipeline = sampler_pipeline(DataSampler::new(Vec::new()));
        let error = pipeline.run().await.unwrap_err().to_string();
        assert!(error.contains("no data to sample from"), "{error}");
    }
}
