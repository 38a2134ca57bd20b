//! The providers: how each API's requests and answers look. The client core
//! ([`Client`](super::Client)) does the rest.

mod anthropic;
mod gemini;
mod hosted;
mod mistral;
mod openai;

pub use anthropic::{Anthropic, AnthropicWire};
pub use gemini::{Gemini, GeminiWire};
pub use hosted::{AzureOpenAi, AzureWire, HuggingFace, HuggingFaceWire};
pub use mistral::{Mistral, MistralWire};
pub use openai::{OpenAi, OpenAiWire, Preset};

use crate::Secret;
use crate::llm::{Embedded, GenerationParams, Generations, LlmError, Prompt};

/// How a provider speaks HTTP: where a prompt goes, how the key is sent, and the JSON of the
/// request and of the answer. Implement it to add a provider to [`Client`](super::Client).
pub trait Wire: Clone + Send + Sync + 'static {
    /// The provider's name, for messages.
    fn provider(&self) -> &'static str;

    /// The URL a prompt is posted to.
    fn url(&self, base_url: &str, model: &str, prompt: &Prompt) -> String;

    /// The headers that carry the key (and any other the API requires).
    fn auth_headers(&self, key: &Secret) -> Vec<(&'static str, String)>;

    /// The request body. An error here fails the row (a prompt the API cannot take).
    fn body(
        &self,
        model: &str,
        prompt: &Prompt,
        params: &GenerationParams,
    ) -> Result<Vec<u8>, LlmError>;

    /// Reads a successful answer; the error says what is wrong with it (the request is then
    /// retried: a 2xx answer that does not parse was cut short or garbled on the way).
    fn parse(&self, body: &[u8]) -> Result<Generations, String>;

    /// Whether one request may ask for several choices with `n` (OpenAI's API does; the
    /// default is no, and tasks then send a request per generation).
    fn supports_n(&self) -> bool {
        false
    }

    /// Whether a failed answer says the key is invalid when its status does not (Gemini
    /// answers a bad API key with a 400): the run then stops as for a 401. `body` is the
    /// answer's text. The default is no.
    fn rejects_key(&self, status: u16, body: &str) -> bool {
        let _ = (status, body);
        false
    }
}

/// A wire whose API also turns texts into vectors: [`Client`](super::Client) then implements
/// [`Embeddings`](super::Embeddings).
pub trait EmbeddingsWire: Wire {
    /// The URL texts are posted to.
    fn embeddings_url(&self, base_url: &str, model: &str) -> String;

    /// The request body for `texts`. An error fails the texts' rows.
    fn embeddings_body(&self, model: &str, texts: &[String]) -> Result<Vec<u8>, LlmError>;

    /// Reads a successful answer: one vector per text, in the texts' order.
    fn parse_embeddings(&self, body: &[u8]) -> Result<Embedded, String>;
}

/// An answer's JSON; the error quotes the start of what came instead.
pub(crate) fn read_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, String> {
    serde_json::from_slice(body).map_err(|e| {
        let start: String = String::from_utf8_lossy(body).chars().take(200).collect();
        format!("{e} in `{start}`")
    })
}
