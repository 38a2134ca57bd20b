//! Hosted variants of OpenAI's API with their own URLs and keys: Azure OpenAI and Hugging Face
//! Inference.

use super::Wire;
use super::openai::{OpenAiWire, endpoint};
use crate::Secret;
use crate::llm::{Client, GenerationParams, Generations, LlmError, Prompt};

/// Azure OpenAI's wire format: OpenAI's bodies, deployment URLs, an `api-key` header.
#[derive(Clone, Debug)]
pub struct AzureWire {
    api_version: String,
}

/// Azure OpenAI: a deployment of an Azure endpoint, the key from `AZURE_OPENAI_API_KEY`.
///
/// ```no_run
/// let gpt = distil::llm::AzureOpenAi::new("https://my-resource.openai.azure.com", "gpt-4o", "2024-10-21");
/// ```
pub type AzureOpenAi = Client<AzureWire>;

impl Client<AzureWire> {
    /// `deployment` at `endpoint` (`https://NAME.openai.azure.com`) with `api_version`
    /// (e.g. `2024-10-21`); the key from `AZURE_OPENAI_API_KEY`.
    pub fn new(
        endpoint: impl Into<String>,
        deployment: impl Into<String>,
        api_version: impl Into<String>,
    ) -> Self {
        let wire = AzureWire {
            api_version: api_version.into(),
        };
        Client::with_wire(
            wire,
            deployment,
            endpoint,
            Some("AZURE_OPENAI_API_KEY"),
            true,
        )
    }
}

const AZURE: OpenAiWire = OpenAiWire {
    provider: "Azure OpenAI",
};

impl Wire for AzureWire {
    fn provider(&self) -> &'static str {
        AZURE.provider
    }

    fn url(&self, base_url: &str, model: &str, prompt: &Prompt) -> String {
        format!(
            "{base_url}/openai/deployments/{model}/{}?api-version={}",
            endpoint(prompt),
            self.api_version
        )
    }

    fn auth_headers(&self, key: &Secret) -> Vec<(&'static str, String)> {
        vec![("api-key", key.expose().to_owned())]
    }

    fn body(
        &self,
        model: &str,
        prompt: &Prompt,
        params: &GenerationParams,
    ) -> Result<Vec<u8>, LlmError> {
        AZURE.body(model, prompt, params)
    }

    fn parse(&self, body: &[u8]) -> Result<Generations, String> {
        AZURE.parse(body)
    }

    fn supports_n(&self) -> bool {
        true
    }

    fn settings(&self) -> Vec<(&'static str, crate::Value)> {
        vec![("api_version", crate::Value::from(self.api_version.as_str()))]
    }
}

/// Hugging Face Inference's wire format: the router and TGI speak OpenAI's API.
#[derive(Clone, Debug)]
pub struct HuggingFaceWire;

/// Hugging Face Inference through the router (`HF_TOKEN`); `model` may name a provider
/// (`meta-llama/Llama-3.1-8B-Instruct:cerebras`). For a dedicated Inference Endpoint or a TGI
/// server, set its URL with `.base_url("https://…/v1")`.
///
/// ```no_run
/// let llama = distil::llm::HuggingFace::new("meta-llama/Llama-3.1-8B-Instruct");
/// ```
pub type HuggingFace = Client<HuggingFaceWire>;

impl Client<HuggingFaceWire> {
    /// `model` through the router, the token from `HF_TOKEN`.
    pub fn new(model: impl Into<String>) -> Self {
        Client::with_wire(
            HuggingFaceWire,
            model,
            "https://router.huggingface.co/v1",
            Some("HF_TOKEN"),
            true,
        )
    }
}

const HUGGING_FACE: OpenAiWire = OpenAiWire {
    provider: "Hugging Face",
};

impl Wire for HuggingFaceWire {
    fn provider(&self) -> &'static str {
        HUGGING_FACE.provider
    }

    fn url(&self, base_url: &str, model: &str, prompt: &Prompt) -> String {
        HUGGING_FACE.url(base_url, model, prompt)
    }

    fn auth_headers(&self, key: &Secret) -> Vec<(&'static str, String)> {
        HUGGING_FACE.auth_headers(key)
    }

    fn body(
        &self,
        model: &str,
        prompt: &Prompt,
        params: &GenerationParams,
    ) -> Result<Vec<u8>, LlmError> {
        HUGGING_FACE.body(model, prompt, params)
    }

    fn parse(&self, body: &[u8]) -> Result<Generations, String> {
        HUGGING_FACE.parse(body)
    }
}
