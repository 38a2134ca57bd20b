//! The providers: how each API's requests and answers look. The client core
//! ([`Client`](super::Client)) does the rest.

mod anthropic;
mod gemini;
mod google_auth;
mod hosted;
mod mistral;
mod openai;

pub use anthropic::{Anthropic, AnthropicWire};
pub use gemini::{Gemini, GeminiWire};
pub use google_auth::ServiceAccount;
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

    /// What a pipeline file records of the wire beside the client's own settings (Azure's
    /// API version), for its constructor to read back.
    fn settings(&self) -> Vec<(&'static str, crate::Value)> {
        Vec::new()
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

/// The constructors of the HTTP clients, by the provider their `describe` records.
pub(crate) fn constructors() -> Vec<(&'static str, Box<super::LlmFn>)> {
    use std::sync::Arc;
    let mut constructors: Vec<(&'static str, Box<super::LlmFn>)> = Vec::new();
    for preset in Preset::ALL {
        let provider = preset.provider();
        if provider == "Mistral" {
            continue;
        }
        constructors.push((
            provider,
            Box::new(move |settings| Ok(Arc::new(openai_client(preset, settings)?))),
        ));
    }
    constructors.push((
        "Mistral",
        Box::new(|settings| Ok(Arc::new(mistral_client(settings)?))),
    ));
    constructors.push((
        "Anthropic",
        Box::new(|settings| {
            Ok(Arc::new(
                Anthropic::new(settings.get::<String>("model")?).restored(settings)?,
            ))
        }),
    ));
    constructors.push((
        "Hugging Face",
        Box::new(|settings| {
            Ok(Arc::new(
                HuggingFace::new(settings.get::<String>("model")?).restored(settings)?,
            ))
        }),
    ));
    constructors.push((
        "Azure OpenAI",
        Box::new(|settings| {
            let endpoint: String = settings.get("base_url")?;
            let client = AzureOpenAi::new(
                endpoint,
                settings.get::<String>("model")?,
                settings.get::<String>("api_version")?,
            );
            Ok(Arc::new(client.restored(settings)?))
        }),
    ));
    constructors.push((
        "Gemini",
        Box::new(|settings| {
            Ok(Arc::new(
                Gemini::new(settings.get::<String>("model")?).restored(settings)?,
            ))
        }),
    ));
    constructors.push((
        "Vertex AI",
        Box::new(|settings| {
            let client = Gemini::vertex(
                settings.get::<String>("project")?,
                settings.get::<String>("location")?,
                settings.get::<String>("model")?,
            );
            Ok(Arc::new(client.restored(settings)?))
        }),
    ));
    constructors
}

/// The constructors of the HTTP clients that embed (their APIs have an embeddings
/// endpoint), by the provider their `describe` records.
pub(crate) fn embeddings_constructors() -> Vec<(&'static str, Box<crate::llm::EmbeddingsFn>)> {
    use std::sync::Arc;
    let mut constructors: Vec<(&'static str, Box<crate::llm::EmbeddingsFn>)> = Vec::new();
    for preset in Preset::ALL {
        let provider = preset.provider();
        if provider == "Mistral" {
            continue;
        }
        constructors.push((
            provider,
            Box::new(move |settings| Ok(Arc::new(openai_client(preset, settings)?))),
        ));
    }
    constructors.push((
        "Mistral",
        Box::new(|settings| Ok(Arc::new(mistral_client(settings)?))),
    ));
    constructors
}

/// The OpenAI-compatible client (of `preset`) a pipeline file records.
fn openai_client(
    preset: Preset,
    settings: &crate::settings::Settings<'_>,
) -> Result<OpenAi, String> {
    let model: String = settings.get("model")?;
    let client = if preset == Preset::OpenAi {
        OpenAi::new(model)
    } else {
        OpenAi::preset(preset, model)
    };
    client.restored(settings)
}

/// The Mistral client a pipeline file records.
fn mistral_client(settings: &crate::settings::Settings<'_>) -> Result<Mistral, String> {
    Mistral::new(settings.get::<String>("model")?).restored(settings)
}

/// An answer's JSON; the error quotes the start of what came instead.
pub(crate) fn read_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, String> {
    serde_json::from_slice(body).map_err(|e| {
        let start: String = String::from_utf8_lossy(body).chars().take(200).collect();
        format!("{e} in `{start}`")
    })
}
