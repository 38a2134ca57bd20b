//! LLMs: the [`Llm`] trait every provider implements, the prompt and generation types, the
//! [`Embeddings`] trait, [`ChatTemplate`], and (feature `llm-clients`, on by default) HTTP
//! clients for OpenAI-compatible servers, Azure OpenAI, Anthropic, Hugging Face, Mistral and
//! Gemini (Generative Language API and Vertex AI) that share one client core: an adaptive
//! concurrency limit, rate limits, retries with backoff and jitter, a timeout on the server's
//! silence, a circuit breaker and usage accounting.
//!
//! ```no_run
//! use distil::llm::{Llm, OpenAi, Preset};
//!
//! // OPENAI_API_KEY, and OPENAI_BASE_URL when set.
//! let gpt = OpenAi::new("gpt-4o-mini").max_concurrency(256).temperature(0.7);
//! // A local vLLM server: no key needed.
//! let local = OpenAi::preset(Preset::Vllm, "Qwen/Qwen2.5-7B-Instruct");
//! assert_eq!(local.model_name(), "Qwen/Qwen2.5-7B-Instruct");
//! ```

mod cached;
mod chat_template;
mod embeddings;
mod error;
mod generation;
pub(crate) mod params;
mod pool;
mod prompt;
#[cfg(feature = "structured")]
pub mod structured;

#[cfg(feature = "local")]
pub mod local;

#[cfg(feature = "llm-clients")]
mod client;
#[cfg(feature = "llm-clients")]
mod providers;
#[cfg(feature = "llm-clients")]
mod token;

pub(crate) use cached::{CacheCounts, CachedLlm};
pub use chat_template::ChatTemplate;
pub use embeddings::{Embedded, Embeddings};
pub use error::LlmError;
pub use generation::{Generation, Generations, Usage};
pub use params::GenerationParams;
pub use pool::{LlmPool, PoolStrategy};
pub use prompt::Prompt;

#[cfg(feature = "local")]
pub use local::{LocalEngine, LocalLlm};

#[cfg(feature = "llm-clients")]
pub use crate::http::retry::RetryPolicy;
#[cfg(feature = "llm-clients")]
pub use client::{Client, RateLimits};
#[cfg(feature = "llm-clients")]
pub use providers::{
    Anthropic, AnthropicWire, AzureOpenAi, AzureWire, EmbeddingsWire, Gemini, GeminiWire,
    HuggingFace, HuggingFaceWire, Mistral, MistralWire, OpenAi, OpenAiWire, Preset, ServiceAccount,
    Wire,
};
#[cfg(feature = "llm-clients")]
pub use token::TokenSource;

use crate::Value;
use crate::step::BoxFuture;

/// What one LLM spent in a run, for the run's [summary](crate::pipeline::RunSummary).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LlmUsage {
    /// The provider ("OpenAI", "Anthropic", ...).
    pub provider: String,
    /// The model.
    pub model: String,
    /// Requests, retries, tokens and answers from the response cache.
    pub usage: Usage,
}

/// Rebuilds an LLM from what its [`Llm::describe`] recorded in a pipeline file.
pub(crate) type LlmFn =
    dyn Fn(&crate::settings::Settings<'_>) -> Result<std::sync::Arc<dyn Llm>, String> + Send + Sync;

/// The constructors of distil's own LLMs, by the provider their `describe` records.
pub(crate) fn constructors() -> Vec<(&'static str, Box<LlmFn>)> {
    #[allow(unused_mut)]
    let mut constructors: Vec<(&'static str, Box<LlmFn>)> = Vec::new();
    #[cfg(feature = "llm-clients")]
    constructors.extend(providers::constructors());
    #[cfg(feature = "local")]
    constructors.push(("local", Box::new(local::from_settings)));
    constructors
}

/// Rebuilds an embedding model from what its [`Embeddings::describe`] recorded.
pub(crate) type EmbeddingsFn = dyn Fn(&crate::settings::Settings<'_>) -> Result<std::sync::Arc<dyn Embeddings>, String>
    + Send
    + Sync;

/// The constructors of distil's own embedding models, by the provider they record.
pub(crate) fn embeddings_constructors() -> Vec<(&'static str, Box<EmbeddingsFn>)> {
    #[allow(unused_mut)]
    let mut constructors: Vec<(&'static str, Box<EmbeddingsFn>)> = Vec::new();
    #[cfg(feature = "llm-clients")]
    constructors.extend(providers::embeddings_constructors());
    constructors
}

/// A language model: turns a [`Prompt`] into [`Generations`].
///
/// The HTTP clients of this module implement it; implement it yourself for another provider or
/// a model in the process. A task calls [`generate`](Llm::generate) for many rows at once, up to
/// [`max_concurrency`](Llm::max_concurrency) at a time, so an implementation must be cheap to
/// share (`&self`) and do its own waiting.
///
/// ```
/// use distil::llm::{Generation, Generations, GenerationParams, Llm, LlmError, Prompt};
/// use distil::step::BoxFuture;
///
/// /// Answers every prompt with its own last message, shouted.
/// struct Echo;
///
/// impl Llm for Echo {
///     fn model_name(&self) -> &str { "echo" }
///     fn generate<'a>(&'a self, prompt: &'a Prompt, _: &'a GenerationParams)
///         -> BoxFuture<'a, Result<Generations, LlmError>> {
///         let text = prompt.last_user_text().to_uppercase();
///         Box::pin(async move { Ok(Generations::one(Generation::text(text))) })
///     }
/// }
/// ```
pub trait Llm: Send + Sync + 'static {
    /// The model, as the `model_name` column records it.
    fn model_name(&self) -> &str;

    /// The provider, for messages ("OpenAI", "Anthropic", ...).
    fn provider(&self) -> &str {
        "custom"
    }

    /// Generates for one prompt. `params` are the task's generation parameters merged over the
    /// LLM's own. A failure that will not pass for any other row (a rejected key) must be
    /// [`LlmError::fatal`]: it stops the run; any other error is recorded on the row.
    fn generate<'a>(
        &'a self,
        prompt: &'a Prompt,
        params: &'a GenerationParams,
    ) -> BoxFuture<'a, Result<Generations, LlmError>>;

    /// Requests to keep in flight at once at most; tasks feed the LLM at least this many rows
    /// and the LLM holds back what it cannot take yet.
    fn max_concurrency(&self) -> usize {
        16
    }

    /// The limit on requests in flight now, when it adapts to the server (the HTTP clients'
    /// does); `None` when it is fixed at [`max_concurrency`](Llm::max_concurrency).
    fn current_limit(&self) -> Option<usize> {
        None
    }

    /// Requests in flight now, for the progress line; `None` when the LLM does not count
    /// them.
    fn in_flight(&self) -> Option<usize> {
        None
    }

    /// Whether one request can ask for several choices (OpenAI's `n`): tasks then ask for all
    /// of a row's generations at once, sharing the prompt's processing; otherwise they send a
    /// request per generation.
    fn supports_n(&self) -> bool {
        false
    }

    /// The LLM's own generation parameters, which a task's override key by key.
    fn params(&self) -> GenerationParams {
        GenerationParams::default()
    }

    /// Checked before any row of a run: a missing API key fails here, naming the variable.
    fn check(&self) -> Result<(), LlmError> {
        Ok(())
    }

    /// Requests, retries and tokens so far.
    fn usage(&self) -> Usage {
        Usage::default()
    }

    /// What `pipeline.yaml` records about the LLM: never a secret.
    fn describe(&self) -> Value {
        serde_json::json!({ "provider": self.provider(), "model": self.model_name() })
    }

    /// The chat template the LLM's raw-text prompts follow, when it has one: tasks that write
    /// raw text in the model's own format (Magpie) need it. `None` by default.
    fn chat_template(&self) -> Option<&ChatTemplate> {
        None
    }
}

impl<L: Llm + ?Sized> Llm for std::sync::Arc<L> {
    fn model_name(&self) -> &str {
        (**self).model_name()
    }
    fn provider(&self) -> &str {
        (**self).provider()
    }
    fn generate<'a>(
        &'a self,
        prompt: &'a Prompt,
        params: &'a GenerationParams,
    ) -> BoxFuture<'a, Result<Generations, LlmError>> {
        (**self).generate(prompt, params)
    }
    fn max_concurrency(&self) -> usize {
        (**self).max_concurrency()
    }
    fn current_limit(&self) -> Option<usize> {
        (**self).current_limit()
    }
    fn in_flight(&self) -> Option<usize> {
        (**self).in_flight()
    }
    fn supports_n(&self) -> bool {
        (**self).supports_n()
    }
    fn params(&self) -> GenerationParams {
        (**self).params()
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
    fn chat_template(&self) -> Option<&ChatTemplate> {
        (**self).chat_template()
    }
}
