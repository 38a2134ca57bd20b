//! OpenAI's chat and completions API, which most servers speak: OpenAI, vLLM, TGI, llama.cpp,
//! Ollama, Groq, Together, OpenRouter, Mistral, DeepSeek (and, with their own URLs and keys,
//! Hugging Face's router and Azure OpenAI).

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{EmbeddingsWire, Wire};
use crate::Secret;
use crate::llm::{Client, Embedded, Generation, GenerationParams, Generations, LlmError, Prompt};

/// The OpenAI wire format, with the provider's name and how it takes the key.
#[derive(Clone, Debug)]
pub struct OpenAiWire {
    pub(super) provider: &'static str,
}

/// A server speaking OpenAI's API: `/chat/completions` for chat prompts, `/completions` for
/// raw text.
///
/// ```no_run
/// use distil::llm::{OpenAi, Preset};
///
/// let openai = OpenAi::new("gpt-4o-mini");                  // OPENAI_API_KEY, OPENAI_BASE_URL
/// let groq = OpenAi::preset(Preset::Groq, "llama-3.1-8b-instant"); // GROQ_API_KEY
/// let mine = OpenAi::new("my-model").base_url("http://127.0.0.1:8000/v1");
/// ```
pub type OpenAi = Client<OpenAiWire>;

/// Servers that speak OpenAI's API, with their base URL and key variable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Preset {
    /// OpenAI (`OPENAI_API_KEY`; `OPENAI_BASE_URL` overrides the URL).
    OpenAi,
    /// A local vLLM server on port 8000 (`VLLM_API_KEY` if it wants one).
    Vllm,
    /// A local text-generation-inference server on port 8080.
    Tgi,
    /// A local llama.cpp server on port 8080.
    LlamaCpp,
    /// A local Ollama on port 11434.
    Ollama,
    /// Groq (`GROQ_API_KEY`).
    Groq,
    /// Together (`TOGETHER_API_KEY`).
    Together,
    /// OpenRouter (`OPENROUTER_API_KEY`).
    OpenRouter,
    /// Mistral (`MISTRAL_API_KEY`).
    Mistral,
    /// DeepSeek (`DEEPSEEK_API_KEY`).
    DeepSeek,
}

impl Preset {
    /// Every preset.
    pub(crate) const ALL: [Preset; 10] = [
        Preset::OpenAi,
        Preset::Vllm,
        Preset::Tgi,
        Preset::LlamaCpp,
        Preset::Ollama,
        Preset::Groq,
        Preset::Together,
        Preset::OpenRouter,
        Preset::Mistral,
        Preset::DeepSeek,
    ];

    /// The provider's name, as its clients' `describe` records it.
    pub(crate) fn provider(self) -> &'static str {
        self.settings().0
    }

    /// The provider's name, its base URL, its key variable and whether a key is required.
    fn settings(self) -> (&'static str, &'static str, &'static str, bool) {
        match self {
            Preset::OpenAi => (
                "OpenAI",
                "https://api.openai.com/v1",
                "OPENAI_API_KEY",
                true,
            ),
            Preset::Vllm => ("vLLM", "http://localhost:8000/v1", "VLLM_API_KEY", false),
            Preset::Tgi => ("TGI", "http://localhost:8080/v1", "HF_TOKEN", false),
            Preset::LlamaCpp => (
                "llama.cpp",
                "http://localhost:8080/v1",
                "LLAMA_API_KEY",
                false,
            ),
            Preset::Ollama => (
                "Ollama",
                "http://localhost:11434/v1",
                "OLLAMA_API_KEY",
                false,
            ),
            Preset::Groq => (
                "Groq",
                "https://api.groq.com/openai/v1",
                "GROQ_API_KEY",
                true,
            ),
            Preset::Together => (
                "Together",
                "https://api.together.xyz/v1",
                "TOGETHER_API_KEY",
                true,
            ),
            Preset::OpenRouter => (
                "OpenRouter",
                "https://openrouter.ai/api/v1",
                "OPENROUTER_API_KEY",
                true,
            ),
            Preset::Mistral => (
                "Mistral",
                "https://api.mistral.ai/v1",
                "MISTRAL_API_KEY",
                true,
            ),
            Preset::DeepSeek => (
                "DeepSeek",
                "https://api.deepseek.com/v1",
                "DEEPSEEK_API_KEY",
                true,
            ),
        }
    }
}

impl Client<OpenAiWire> {
    /// OpenAI's `model`: the key from `OPENAI_API_KEY`, the URL from `OPENAI_BASE_URL` when set
    /// (a local server then needs no key).
    pub fn new(model: impl Into<String>) -> Self {
        let client = Self::preset(Preset::OpenAi, model);
        match std::env::var("OPENAI_BASE_URL") {
            Ok(url) if !url.trim().is_empty() => client.base_url(url),
            _ => client,
        }
    }

    /// `model` on one of the servers that speak OpenAI's API.
    pub fn preset(preset: Preset, model: impl Into<String>) -> Self {
        let (provider, url, key, required) = preset.settings();
        let wire = OpenAiWire { provider };
        Client::with_wire(wire, model, url, Some(key), required)
    }
}

impl Wire for OpenAiWire {
    fn provider(&self) -> &'static str {
        self.provider
    }

    fn supports_n(&self) -> bool {
        true
    }

    fn url(&self, base_url: &str, _model: &str, prompt: &Prompt) -> String {
        format!("{base_url}/{}", endpoint(prompt))
    }

    fn auth_headers(&self, key: &Secret) -> Vec<(&'static str, String)> {
        vec![("Authorization", format!("Bearer {}", key.expose()))]
    }

    fn body(
        &self,
        model: &str,
        prompt: &Prompt,
        params: &GenerationParams,
    ) -> Result<Vec<u8>, LlmError> {
        let (messages, text) = match prompt {
            Prompt::Chat(messages) => (Some(Messages(messages)), None),
            Prompt::Text(text) => (None, Some(text.as_str())),
        };
        let logprobs = (params.logprobs == Some(true)).then(|| match prompt {
            Prompt::Chat(_) => json!(true),
            // Completions take the number of alternatives instead.
            Prompt::Text(_) => json!(params.top_logprobs.unwrap_or(1)),
        });
        let body = Body {
            model,
            messages,
            prompt: text,
            temperature: params.temperature,
            top_p: params.top_p,
            max_tokens: params.max_new_tokens,
            stop: params.stop.as_deref(),
            seed: params.seed,
            n: params.n,
            frequency_penalty: params.frequency_penalty,
            presence_penalty: params.presence_penalty,
            top_logprobs: match prompt {
                Prompt::Chat(_) if logprobs.is_some() => params.top_logprobs,
                _ => None,
            },
            logprobs,
            response_format: params.response_format.as_ref().map(|format| {
                json!({
                    "type": "json_schema",
                    "json_schema": {
                        "name": format.get("name").cloned().unwrap_or(json!("output")),
                        "schema": format.get("schema").cloned().unwrap_or(format.clone()),
                        "strict": true,
                    }
                })
            }),
            extra: params.extra.as_ref(),
        };
        serde_json::to_vec(&body).map_err(|e| LlmError::row(e.to_string()))
    }

    fn parse(&self, body: &[u8]) -> Result<Generations, String> {
        let answer: Answer = super::read_json(body)?;
        if answer.choices.is_empty() {
            return Err("the answer has no choices".to_owned());
        }
        Ok(Generations {
            choices: answer
                .choices
                .into_iter()
                .map(|c| Generation {
                    text: c.message.and_then(|m| m.content).or(c.text),
                    finish_reason: c.finish_reason,
                    logprobs: c.logprobs.filter(|l| !l.is_null()),
                })
                .collect(),
            input_tokens: answer.usage.as_ref().and_then(|u| u.prompt_tokens),
            output_tokens: answer.usage.as_ref().and_then(|u| u.completion_tokens),
        })
    }
}

/// `/embeddings`: `{"model", "input": [texts]}` in, `{"data": [{"index", "embedding"}],
/// "usage": {"prompt_tokens"}}` out.
impl EmbeddingsWire for OpenAiWire {
    fn embeddings_url(&self, base_url: &str, _model: &str) -> String {
        format!("{base_url}/embeddings")
    }

    fn embeddings_body(&self, model: &str, texts: &[String]) -> Result<Vec<u8>, LlmError> {
        serde_json::to_vec(&json!({ "model": model, "input": texts }))
            .map_err(|e| LlmError::row(e.to_string()))
    }

    fn parse_embeddings(&self, body: &[u8]) -> Result<Embedded, String> {
        #[derive(Deserialize)]
        struct Answer {
            data: Vec<Item>,
            usage: Option<TokenUsage>,
        }
        #[derive(Deserialize)]
        struct Item {
            index: Option<usize>,
            embedding: Vec<f32>,
        }
        let answer: Answer = super::read_json(body)?;
        let mut items: Vec<(usize, Vec<f32>)> = answer
            .data
            .into_iter()
            .enumerate()
            .map(|(at, item)| (item.index.unwrap_or(at), item.embedding))
            .collect();
        // The order of `data` is the texts' by `index`, which servers need not keep.
        items.sort_by_key(|(index, _)| *index);
        if items
            .iter()
            .enumerate()
            .any(|(at, (index, _))| at != *index)
        {
            return Err("the answer's `index` values are not 0..n".to_owned());
        }
        Ok(Embedded {
            vectors: items.into_iter().map(|(_, v)| v).collect(),
            input_tokens: answer.usage.and_then(|u| u.prompt_tokens),
        })
    }
}

/// The path of a prompt's endpoint, below the base URL.
pub(super) fn endpoint(prompt: &Prompt) -> &'static str {
    match prompt {
        Prompt::Chat(_) => "chat/completions",
        Prompt::Text(_) => "completions",
    }
}

/// A request body, borrowing the prompt and the parameters.
#[derive(Serialize)]
struct Body<'a> {
    model: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    messages: Option<Messages<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    prompt: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_p: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stop: Option<&'a [String]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    seed: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    n: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    frequency_penalty: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    presence_penalty: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    logprobs: Option<crate::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_logprobs: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    response_format: Option<crate::Value>,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    extra: Option<&'a serde_json::Map<String, crate::Value>>,
}

/// Chat messages as `[{"role": .., "content": ..}]`.
pub(super) struct Messages<'a>(pub(super) &'a [crate::steps::ChatMessage]);

impl Serialize for Messages<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{SerializeMap, SerializeSeq};
        struct Message<'m>(&'m crate::steps::ChatMessage);
        impl Serialize for Message<'_> {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                let mut map = serializer.serialize_map(Some(2))?;
                map.serialize_entry("role", &self.0.role)?;
                map.serialize_entry("content", &self.0.content)?;
                map.end()
            }
        }
        let mut seq = serializer.serialize_seq(Some(self.0.len()))?;
        for message in self.0 {
            seq.serialize_element(&Message(message))?;
        }
        seq.end()
    }
}

#[derive(Deserialize)]
struct Answer {
    #[serde(default)]
    choices: Vec<Choice>,
    usage: Option<TokenUsage>,
}

#[derive(Deserialize)]
struct Choice {
    message: Option<Message>,
    text: Option<String>,
    finish_reason: Option<String>,
    logprobs: Option<crate::Value>,
}

#[derive(Deserialize)]
struct Message {
    content: Option<String>,
}

#[derive(Deserialize)]
struct TokenUsage {
    prompt_tokens: Option<u64>,
    completion_tokens: Option<u64>,
}
