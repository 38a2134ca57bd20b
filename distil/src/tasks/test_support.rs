//! What the catalogue tasks' unit tests share: a batch from columns, an LLM never called.

use crate::batch::{Batch, Column};
use crate::llm::{GenerationParams, Generations, Llm, LlmError, Prompt};
use crate::step::BoxFuture;
use crate::{RowId, Value};

/// An LLM the prompt and parser tests never call.
pub(crate) struct MockLlm;

impl Llm for MockLlm {
    fn model_name(&self) -> &str {
        "mock"
    }
    fn generate<'a>(
        &'a self,
        _prompt: &'a Prompt,
        _params: &'a GenerationParams,
    ) -> BoxFuture<'a, Result<Generations, LlmError>> {
        Box::pin(async { Err(LlmError::row("the mock LLM is not called")) })
    }
}

/// A batch of the given columns (all of one length).
pub(crate) fn input_of(columns: &[(&str, Vec<Value>)]) -> Batch {
    let rows = columns.first().map_or(0, |c| c.1.len());
    let ids = (0..rows as u64).map(RowId::new).collect();
    let columns = columns
        .iter()
        .map(|(name, values)| Column::new(*name, values.clone(), 0))
        .collect();
    Batch::new(ids, columns, rows as u64)
}

/// The user message of a chat prompt (the last message).
pub(crate) fn user_text(prompt: &Prompt) -> String {
    prompt.last_user_text().to_owned()
}

/// The system message of a chat prompt, if any.
pub(crate) fn system_text(prompt: &Prompt) -> Option<String> {
    match prompt {
        Prompt::Chat(messages) => messages
            .iter()
            .find(|m| m.role == "system")
            .map(|m| m.content.clone()),
        Prompt::Text(_) => None,
    }
}
