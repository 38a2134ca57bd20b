//! Mistral's La Plateforme API: OpenAI-like chat completions, its own key and error shapes.

use super::openai::OpenAiWire;
use super::{EmbeddingsWire, Wire};
use crate::Secret;
use crate::llm::{Client, Embedded, GenerationParams, Generations, LlmError, Prompt};

/// Mistral's wire format: OpenAI's bodies at `/v1/chat/completions`; `max_tokens`,
/// `random_seed` for the seed. Its errors (`{"object": "error", "message": .., "type": ..}`
/// and FastAPI's `{"detail": [..]}` for invalid requests) are read by the client core.
#[derive(Clone, Debug)]
pub struct MistralWire;

/// Mistral's models (`MISTRAL_API_KEY`, `MISTRAL_BASE_URL` when set).
///
/// ```no_run
/// let mistral = distil::llm::Mistral::new("mistral-large-latest").temperature(0.7);
/// ```
pub type Mistral = Client<MistralWire>;

const MISTRAL: OpenAiWire = OpenAiWire {
    provider: "Mistral",
};

impl Client<MistralWire> {
    /// Mistral's `model`, the key from `MISTRAL_API_KEY`, the URL from `MISTRAL_BASE_URL`
    /// when set.
    pub fn new(model: impl Into<String>) -> Self {
        let url = std::env::var("MISTRAL_BASE_URL")
            .ok()
            .filter(|u| !u.trim().is_empty())
            .unwrap_or_else(|| "https://api.mistral.ai/v1".to_owned());
        Client::with_wire(MistralWire, model, url, Some("MISTRAL_API_KEY"), true)
    }
}

impl Wire for MistralWire {
    fn provider(&self) -> &'static str {
        MISTRAL.provider
    }

    fn url(&self, base_url: &str, model: &str, prompt: &Prompt) -> String {
        MISTRAL.url(base_url, model, prompt)
    }

    fn auth_headers(&self, key: &Secret) -> Vec<(&'static str, String)> {
        MISTRAL.auth_headers(key)
    }

    fn body(
        &self,
        model: &str,
        prompt: &Prompt,
        params: &GenerationParams,
    ) -> Result<Vec<u8>, LlmError> {
        if matches!(prompt, Prompt::Text(_)) {
            return Err(LlmError::row(
                "Mistral's API takes chat prompts only; this task sent raw text",
            ));
        }
        // Mistral names the seed `random_seed`.
        let mut params = params.clone();
        if let Some(seed) = params.seed.take() {
            params
                .extra
                .get_or_insert_with(Default::default)
                .insert("random_seed".to_owned(), seed.into());
        }
        MISTRAL.body(model, prompt, &params)
    }

    fn parse(&self, body: &[u8]) -> Result<Generations, String> {
        MISTRAL.parse(body)
    }
}

/// Mistral's `/v1/embeddings` (`mistral-embed`) takes and answers OpenAI's shapes.
impl EmbeddingsWire for MistralWire {
    fn embeddings_url(&self, base_url: &str, model: &str) -> String {
        MISTRAL.embeddings_url(base_url, model)
    }

    fn embeddings_body(&self, model: &str, texts: &[String]) -> Result<Vec<u8>, LlmError> {
        MISTRAL.embeddings_body(model, texts)
    }

    fn parse_embeddings(&self, body: &[u8]) -> Result<Embedded, String> {
        MISTRAL.parse_embeddings(body)
    }
}
