//! Embedding models: texts in, one vector per text out.

use crate::Value;
use crate::llm::{LlmError, Usage};
use crate::step::BoxFuture;

/// The vectors of a request's texts, in the order of the texts.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Embedded {
    /// One vector per text.
    pub vectors: Vec<Vec<f32>>,
    /// The tokens the texts took, when the server says.
    pub input_tokens: Option<u64>,
}

/// An embedding model: turns texts into vectors. [`OpenAi`](super::OpenAi) (any server with an
/// OpenAI-compatible `/v1/embeddings`: OpenAI, vLLM, TEI, Ollama, llama.cpp) and
/// [`Mistral`](super::Mistral) implement it on the shared client core (limits, retries,
/// circuit breaker); implement it yourself for a model in the process. The
/// [`GenerateEmbeddings`](crate::tasks::GenerateEmbeddings) step calls
/// [`embed`](Embeddings::embed) with a batch of texts per request, many requests at once.
///
/// ```
/// use distil::llm::{Embedded, Embeddings, LlmError};
/// use distil::step::BoxFuture;
///
/// /// A vector of letter counts: `[a, b, c]`.
/// struct Letters;
///
/// impl Embeddings for Letters {
///     fn model_name(&self) -> &str { "letters" }
///     fn embed<'a>(&'a self, texts: &'a [String]) -> BoxFuture<'a, Result<Embedded, LlmError>> {
///         let vectors = texts
///             .iter()
///             .map(|t| ['a', 'b', 'c'].map(|c| t.matches(c).count() as f32).to_vec())
///             .collect();
///         Box::pin(async move { Ok(Embedded { vectors, input_tokens: None }) })
///     }
/// }
/// ```
pub trait Embeddings: Send + Sync + 'static {
    /// The model, as the `model_name` column records it.
    fn model_name(&self) -> &str;

    /// The provider, for messages.
    fn provider(&self) -> &str {
        "custom"
    }

    /// The vectors of `texts`, one per text in order. A failure that will not pass for other
    /// texts (a rejected key) must be [`LlmError::fatal`]; any other is recorded on the rows
    /// of these texts.
    fn embed<'a>(&'a self, texts: &'a [String]) -> BoxFuture<'a, Result<Embedded, LlmError>>;

    /// Requests to keep in flight at once at most.
    fn max_concurrency(&self) -> usize {
        16
    }

    /// Checked before any row of a run: a missing API key fails here.
    fn check(&self) -> Result<(), LlmError> {
        Ok(())
    }

    /// Requests, retries and tokens so far.
    fn usage(&self) -> Usage {
        Usage::default()
    }

    /// What `pipeline.yaml` records about the model: never a secret.
    fn describe(&self) -> Value {
        serde_json::json!({ "provider": self.provider(), "model": self.model_name() })
    }
}

impl<E: Embeddings + ?Sized> Embeddings for std::sync::Arc<E> {
    fn model_name(&self) -> &str {
        (**self).model_name()
    }
    fn provider(&self) -> &str {
        (**self).provider()
    }
    fn embed<'a>(&'a self, texts: &'a [String]) -> BoxFuture<'a, Result<Embedded, LlmError>> {
        (**self).embed(texts)
    }
    fn max_concurrency(&self) -> usize {
        (**self).max_concurrency()
    }
    fn check(&self) -> Result<(), LlmError> {
        (**self).check()
    }
    fn usage(&self) -> Usage {
        (**self).usage()
    }
    fn describe(&self) -> Value {
        (**self).describe()
    }
}
