//! The providers: how each API's requests and answers look. The client core
//! ([`Client`](super::Client)) does the rest.

mod anthropic;
mod hosted;
mod openai;

pub use anthropic::{Anthropic, AnthropicWire};
pub use hosted::{AzureOpenAi, AzureWire, HuggingFace, HuggingFaceWire};
pub use openai::{OpenAi, OpenAiWire, Preset};

use crate::Secret;
use crate::llm::{GenerationParams, Generations, LlmError, Prompt};

/// How a provider speaks HTTP: where a prompt goes, how the key is sent, and the JSON of the
/// request and of the answer. Implement it to add a provider to [`Client`](super::Client).
pub trait Wire: Clone + Send + Sync + 'static {
    /// The provider's name, for messages.
    fn provider(&self) -> &'static str;

    /// The URL a prompt is posted to.
    fn url(&self, base_url: &str, model: &str, prompt: &Prompt) -> String;

    /// Adds the key to a request.
    /// The headers that carry the key (and any other the API requires).
    fn auth_headers(&self, key: &Secret) -> Vec<(&'static str, String)>;

    /// The request body. An error here fails the row (a prompt the API cannot take).
    fn body(
        &self,
        model: &str,
        prompt: &Prompt,
        params: &GenerationParams,
    ) -> Result<Vec<u8>, LlmError>;

    /// Reads a successful answer; the error says what is wrong with it.
    fn parse(&self, body: &[u8]) -> Result<Generations, String>;
}

/// Adds the parameters every OpenAI-style body shares, and the extra fields.
pub(crate) fn put_params(
    body: &mut serde_json::Map<String, crate::Value>,
    params: &GenerationParams,
    max_tokens_key: &str,
) {
    use serde_json::json;
    let mut put = |key: &str, value: Option<crate::Value>| {
        if let Some(value) = value {
            body.insert(key.to_owned(), value);
        }
    };
    put("temperature", params.temperature.map(|v| json!(v)));
    put("top_p", params.top_p.map(|v| json!(v)));
    put(max_tokens_key, params.max_new_tokens.map(|v| json!(v)));
    if let Some(extra) = &params.extra {
        for (key, value) in extra {
            body.insert(key.clone(), value.clone());
        }
    }
}
