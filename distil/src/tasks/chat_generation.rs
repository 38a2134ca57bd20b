//! ChatGeneration: a conversation column in, the assistant's next message out.

use super::text_generation::Generated;
use super::{Task, TaskLlm};
use crate::column::{ColumnSpec, ColumnValue};
use crate::llm::{Llm, Prompt};
use crate::step::{Input, StepKind, StepSpec};
use crate::steps::ChatMessage;
use crate::{Row, Value, task};

const MESSAGES: &str = "messages";

/// Continues each row's conversation: reads `messages: Vec<ChatMessage>` (`{role, content}`
/// objects, as distilabel's ChatGeneration), outputs `generation: String` and `model_name`.
///
/// ```no_run
/// use distil::llm::Anthropic;
/// use distil::tasks::ChatGeneration;
///
/// let chat = ChatGeneration::new(Anthropic::new("claude-sonnet-4-5")).max_new_tokens(512);
/// ```
#[derive(Clone)]
pub struct ChatGeneration {
    llm: TaskLlm,
}

impl ChatGeneration {
    /// Continues conversations with `llm`.
    pub fn new(llm: impl Llm) -> Self {
        ChatGeneration {
            llm: TaskLlm::new(llm),
        }
    }
}

crate::__task_builders!(ChatGeneration);

/// ChatGeneration's input: a conversation.
#[derive(Row)]
pub struct Messages {
    /// The conversation so far, ending with a user turn.
    pub messages: Vec<ChatMessage>,
}

#[task(inputs = Messages, outputs = Generated)]
impl Task for ChatGeneration {
    fn spec(&self) -> StepSpec {
        let mut spec = StepSpec::new("ChatGeneration", StepKind::Normal);
        spec.inputs = vec![ColumnSpec::new(
            MESSAGES,
            <Vec<ChatMessage> as ColumnValue>::data_type(),
        )];
        spec.outputs = vec![ColumnSpec::new("generation", crate::DataType::String)];
        spec
    }

    fn llm(&self) -> &TaskLlm {
        &self.llm
    }

    fn llm_mut(&mut self) -> &mut TaskLlm {
        &mut self.llm
    }

    fn format_input(&self, input: &Input<'_>, row: usize) -> Result<Prompt, String> {
        let messages: Vec<ChatMessage> =
            crate::step::function::arg(input.column(MESSAGES), row, MESSAGES)?;
        if messages.is_empty() {
            return Err("the conversation has no message".to_owned());
        }
        if messages.last().is_some_and(|m| m.role == "assistant") {
            return Err(
                "the conversation ends with an assistant message; it needs a user turn".to_owned(),
            );
        }
        Ok(Prompt::Chat(messages))
    }

    fn format_output(
        &self,
        _input: &Input<'_>,
        _row: usize,
        generation: &str,
    ) -> Result<Vec<Value>, String> {
        Ok(vec![Value::String(generation.to_owned())])
    }
}
