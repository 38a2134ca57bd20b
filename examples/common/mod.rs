//! What the examples share: the LLM they run on.

use std::sync::Arc;

use distil::llm::{Llm, LlmError, OpenAi};

/// Whether an OpenAI-compatible endpoint is given: `OPENAI_BASE_URL` (a local vLLM, Ollama,
/// llama.cpp or TGI server) or `OPENAI_API_KEY` (OpenAI itself).
fn endpoint_given() -> bool {
    ["OPENAI_BASE_URL", "OPENAI_API_KEY"]
        .iter()
        .any(|name| std::env::var(name).is_ok_and(|v| !v.trim().is_empty()))
}

/// `model` on the OpenAI-compatible endpoint when one is given; otherwise the embedded model
/// on the CPU (SmolLM2-135M-Instruct, fetched on first use; feature `local`, on by default),
/// loaded once and shared by every LLM of the example.
pub fn llm(model: &str) -> Result<Arc<dyn Llm>, LlmError> {
    if endpoint_given() {
        return Ok(Arc::new(OpenAi::new(model)));
    }
    embedded()
}

#[cfg(feature = "local")]
fn embedded() -> Result<Arc<dyn Llm>, LlmError> {
    static EMBEDDED: std::sync::OnceLock<Arc<dyn Llm>> = std::sync::OnceLock::new();
    if let Some(llm) = EMBEDDED.get() {
        return Ok(llm.clone());
    }
    eprintln!(
        "no OPENAI_BASE_URL or OPENAI_API_KEY: the embedded model on the CPU answers \
         (small, so expect rough answers and some unparsed ratings)"
    );
    let llm: Arc<dyn Llm> = Arc::new(distil::llm::LocalLlm::new()?.max_new_tokens(256));
    Ok(EMBEDDED.get_or_init(|| llm).clone())
}

#[cfg(not(feature = "local"))]
fn embedded() -> Result<Arc<dyn Llm>, LlmError> {
    Err(LlmError::fatal(
        "this example needs an LLM: set OPENAI_BASE_URL to an OpenAI-compatible server (and \
         OPENAI_MODEL to its model) or OPENAI_API_KEY, or build with the feature `local` (on by \
         default) for the embedded model",
    ))
}
