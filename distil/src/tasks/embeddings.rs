//! GenerateEmbeddings: a vector per row's text, from an embedding model.

use std::sync::Arc;

use futures_util::{StreamExt, stream};

use super::MODEL_NAME_COLUMN;
use crate::column::{ColumnSpec, DataType};
use crate::llm::Embeddings;
use crate::step::{BoxFuture, Input, Output, Step, StepKind, StepSpec};
use crate::{Error, Value, step};

/// Embeds each row's `text` with an [`Embeddings`] model: outputs `embedding: Vec<f32>` and
/// `model_name`. A batch's texts go [`texts_per_request`](Self::texts_per_request) to a request (32 by
/// default, a runtime parameter), the batch's requests at once up to the model's
/// [`max_concurrency`](Embeddings::max_concurrency): raise the step's `input_batch_size` for
/// more requests in flight. A request that fails
/// after its retries records its error on its rows (their embedding null); a null text fails
/// only its row; a rejected key stops the run. The output is kept in the run's cache, so a
/// rerun does not pay for the vectors again.
///
/// ```no_run
/// use distil::llm::OpenAi;
/// use distil::tasks::GenerateEmbeddings;
///
/// let embed = GenerateEmbeddings::new(OpenAi::new("text-embedding-3-small")).texts_per_request(64);
/// ```
#[derive(Clone)]
pub struct GenerateEmbeddings {
    model: Arc<dyn Embeddings>,
    texts_per_request: usize,
}

impl GenerateEmbeddings {
    /// Embeds with `model`.
    pub fn new(model: impl Embeddings) -> Self {
        GenerateEmbeddings {
            model: Arc::new(model),
            texts_per_request: 32,
        }
    }

    /// The step a pipeline file records.
    pub(crate) fn from_settings(
        settings: &crate::step::StepSettings<'_>,
    ) -> Result<Box<dyn Step>, String> {
        Ok(Box::new(GenerateEmbeddings {
            model: settings.embeddings("embeddings")?,
            texts_per_request: 32,
        }))
    }

    /// Texts per request (at least 1).
    #[must_use]
    pub fn texts_per_request(mut self, texts: usize) -> Self {
        self.texts_per_request = texts.max(1);
        self
    }
}

#[step(dynamic)]
impl Step for GenerateEmbeddings {
    fn spec(&self) -> StepSpec {
        let mut spec = StepSpec::new("GenerateEmbeddings", StepKind::Normal);
        spec.inputs = vec![ColumnSpec::new("text", DataType::String)];
        spec.outputs = vec![
            ColumnSpec::optional("embedding", DataType::List(Box::new(DataType::Float(32)))),
            ColumnSpec::new(MODEL_NAME_COLUMN, DataType::String),
        ];
        spec
    }

    fn process<'a>(&'a mut self, input: Input<'a>) -> BoxFuture<'a, crate::Result<Output>> {
        Box::pin(embed_batch(
            self.model.as_ref(),
            self.texts_per_request,
            input,
        ))
    }

    fn prepare(&mut self) -> BoxFuture<'_, crate::Result<()>> {
        let checked = self
            .model
            .check()
            .map_err(|e| Error::fatal("", e.message()));
        Box::pin(async move { checked })
    }

    fn persists(&self) -> bool {
        true
    }

    fn params(&self) -> Vec<(String, Value)> {
        vec![(
            "texts_per_request".to_owned(),
            Value::from(self.texts_per_request),
        )]
    }

    fn set_param(&mut self, name: &str, value: Value) -> Result<(), String> {
        if name != "texts_per_request" {
            return Err(crate::step::params::unknown_param(
                name,
                &["texts_per_request"],
            ));
        }
        let texts = value
            .as_u64()
            .filter(|n| *n > 0)
            .ok_or_else(|| format!("`texts_per_request` takes a positive integer, not {value}"))?;
        self.texts_per_request = texts as usize;
        Ok(())
    }

    fn describe(&self) -> Option<Value> {
        Some(serde_json::json!({ "embeddings": self.model.describe() }))
    }

    fn report(&self) -> Option<String> {
        let usage = self.model.usage();
        Some(format!(
            "{} `{}`: {} requests ({} failed, {} retries), {} input tokens",
            self.model.provider(),
            self.model.model_name(),
            usage.requests,
            usage.failed,
            usage.retries,
            usage.input_tokens
        ))
    }
}

/// Embeds a batch's texts, `texts_per_request` to a request, as many requests at once as the model
/// allows.
async fn embed_batch(
    model: &dyn Embeddings,
    texts_per_request: usize,
    input: Input<'_>,
) -> crate::Result<Output> {
    let rows = input.len();
    let mut output = Output::same_rows();
    let mut embeddings = vec![Value::Null; rows];
    let mut texts: Vec<(usize, String)> = Vec::with_capacity(rows);
    let column = input.column("text");
    for row in 0..rows {
        match column.map(|c| &c[row]) {
            Some(Value::String(text)) => texts.push((row, text.clone())),
            Some(Value::Null) | None => output.push_error(row, "column `text` is null"),
            Some(other) => {
                output.push_error(row, format!("column `text` holds {other}, not a text"))
            }
        }
    }
    let chunks: Vec<(Vec<usize>, Vec<String>)> = texts
        .chunks(texts_per_request)
        .map(|chunk| chunk.iter().cloned().unzip())
        .collect();
    // In order, at most the model's concurrency at once.
    let requests: Vec<_> = chunks.iter().map(|(_, texts)| model.embed(texts)).collect();
    let answers: Vec<_> = stream::iter(requests)
        .buffered(model.max_concurrency().max(1))
        .collect()
        .await;
    for ((rows_of_chunk, _), answer) in chunks.iter().zip(answers) {
        match answer {
            Ok(embedded) => {
                for (&row, vector) in rows_of_chunk.iter().zip(embedded.vectors) {
                    embeddings[row] = Value::Array(vector.into_iter().map(Value::from).collect());
                }
            }
            Err(e) if e.is_fatal() => return Err(Error::fatal("", e.message())),
            Err(e) => {
                for &row in rows_of_chunk {
                    output.push_error(row, e.message());
                }
            }
        }
    }
    output.push_column("embedding", embeddings);
    output.push_column(
        MODEL_NAME_COLUMN,
        vec![Value::from(model.model_name()); rows],
    );
    Ok(output)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::{Embedded, LlmError};
    use crate::tasks::test_support::input_of;
    use serde_json::json;
    use std::sync::Mutex;

    /// `[len, first byte]` per text; a text `fail` fails its request.
    #[derive(Default)]
    struct Lengths {
        requests: Mutex<Vec<usize>>,
    }

    impl Embeddings for Lengths {
        fn model_name(&self) -> &str {
            "lengths"
        }
        fn embed<'a>(&'a self, texts: &'a [String]) -> BoxFuture<'a, Result<Embedded, LlmError>> {
            self.requests.lock().unwrap().push(texts.len());
            Box::pin(async move {
                if texts.iter().any(|t| t == "fail") {
                    return Err(LlmError::row("HTTP 400: too long"));
                }
                if texts.iter().any(|t| t == "fatal") {
                    return Err(LlmError::fatal("HTTP 401: bad key"));
                }
                let vectors = texts
                    .iter()
                    .map(|t| vec![t.len() as f32, f32::from(t.as_bytes()[0])])
                    .collect();
                Ok(Embedded {
                    vectors,
                    input_tokens: None,
                })
            })
        }
    }

    #[tokio::test]
    async fn texts_are_embedded_in_requests_of_batch_size_and_failures_stay_on_their_rows() {
        let model = Arc::new(Lengths::default());
        let batch = input_of(&[(
            "text",
            vec![
                json!("ab"),
                Value::Null,
                json!("c"),
                json!("fail"),
                json!("d"),
            ],
        )]);
        let output = embed_batch(model.as_ref(), 2, Input::new(&batch, &[]))
            .await
            .unwrap();
        assert_eq!(*model.requests.lock().unwrap(), [2, 2]);
        let embedding = &output.columns[0];
        assert_eq!(embedding.name(), "embedding");
        assert_eq!(
            embedding.values(),
            [
                json!([2.0, 97.0]),
                Value::Null,
                json!([1.0, 99.0]),
                Value::Null,
                Value::Null,
            ]
        );
        let mut errors = output.errors.clone();
        errors.sort();
        assert_eq!(
            errors,
            [
                (1, "column `text` is null".to_owned()),
                (3, "HTTP 400: too long".to_owned()),
                (4, "HTTP 400: too long".to_owned()),
            ]
        );
        let fatal = input_of(&[("text", vec![json!("fatal")])]);
        let error = embed_batch(model.as_ref(), 2, Input::new(&fatal, &[]))
            .await
            .unwrap_err();
        assert!(
            error.is_fatal() && error.to_string().contains("bad key"),
            "{error}"
        );
    }
}
