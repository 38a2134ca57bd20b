//! URIAL (Lin et al., 2023, "The Unlocking Spell on Base LLMs"): alignment by in-context
//! examples alone, so a base model that was never instruction-tuned answers like an assistant.

use super::{Task, TaskLlm};
use crate::column::{ColumnSpec, ColumnValue, DataType};
use crate::llm::{Llm, Prompt};
use crate::step::{Input, StepKind, StepSpec};
use crate::steps::ChatMessage;
use crate::{Value, task};

const PREAMBLE: &str = "# Instructions

Below are conversations between a user and an AI assistant. The user's turns follow `# User:` and the assistant's follow `# Assistant:`. The assistant is helpful, honest and harmless: it answers accurately and to the point, says so when it does not know, explains its reasoning when that helps, and declines requests that could cause harm, saying why.";

const EXAMPLES: &str = "# User:

What is the boiling point of water at the top of Mount Everest?

# Assistant:

At the summit of Mount Everest (about 8,849 m), air pressure is roughly a third of that at sea level, so water boils at about 70 °C (158 °F) instead of 100 °C. This is why cooking takes much longer at high altitude.

# User:

Write a haiku about autumn rain.

# Assistant:

Cold rain on red leaves,
the maple lets go of all
it held through summer.

";

/// Answers each row's `instruction`, or continues its `conversation` (`{role, content}`
/// messages ending with a user turn), with a base model prompted the URIAL way: a raw-text
/// prompt of instructions and example conversations, then the row's turns, then
/// `# Assistant:`. Output `generation`: the model's text up to the next `# User:` turn it may
/// start. Each row needs one of the two columns; an empty generation fails the row.
///
/// The prompt is raw text ([`Prompt::Text`]): give it an LLM that serves completions
/// (an OpenAI-compatible `/v1/completions` endpoint).
///
/// ```no_run
/// use distil::llm::OpenAi;
/// use distil::tasks::Urial;
///
/// let answer = Urial::new(OpenAi::new("meta-llama/Llama-3.1-8B").base_url("http://localhost:8000/v1"))
///     .max_new_tokens(512);
/// ```
#[derive(Clone)]
pub struct Urial {
    llm: TaskLlm,
}

impl Urial {
    /// Answers with `llm` (best a base model behind a completions endpoint).
    pub fn new(llm: impl Llm) -> Self {
        Urial {
            llm: TaskLlm::new(llm),
        }
    }
}

crate::__task_builders!(Urial);

/// The turns of a row: its conversation, or its instruction as one user turn.
fn turns(input: &Input<'_>, row: usize) -> Result<Vec<ChatMessage>, String> {
    let present = |name: &str| input.column(name).filter(|c| !c[row].is_null());
    if let Some(column) = present("conversation") {
        let messages: Vec<ChatMessage> =
            crate::step::function::arg(Some(column), row, "conversation")?;
        if messages.last().is_none_or(|m| m.role != "user") {
            return Err("the conversation must end with a user turn".to_owned());
        }
        return Ok(messages);
    }
    match present("instruction").map(|c| &c[row]) {
        Some(Value::String(instruction)) => Ok(vec![ChatMessage::user(instruction.clone())]),
        Some(other) => Err(format!("column `instruction` holds {other}, not a text")),
        None => Err("the row has neither an `instruction` nor a `conversation`".to_owned()),
    }
}

#[task(dynamic)]
impl Task for Urial {
    fn spec(&self) -> StepSpec {
        let mut spec = StepSpec::new("URIAL", StepKind::Normal);
        spec.inputs = vec![
            // Either may be null on a row that has the other.
            ColumnSpec::optional(
                "instruction",
                DataType::Optional(Box::new(DataType::String)),
            ),
            ColumnSpec::optional(
                "conversation",
                DataType::Optional(Box::new(<Vec<ChatMessage> as ColumnValue>::data_type())),
            ),
        ];
        spec.outputs = vec![ColumnSpec::optional("generation", DataType::String)];
        spec
    }

    fn llm(&self) -> &TaskLlm {
        &self.llm
    }

    fn llm_mut(&mut self) -> &mut TaskLlm {
        &mut self.llm
    }

    fn format_input(&self, input: &Input<'_>, row: usize) -> Result<Prompt, String> {
        let messages = turns(input, row)?;
        let mut prompt = PREAMBLE.to_owned();
        for system in messages.iter().filter(|m| m.role == "system") {
            prompt.push_str(&format!("\n\n{}", system.content));
        }
        prompt.push_str("\n\n");
        prompt.push_str(EXAMPLES);
        for message in messages.iter().filter(|m| m.role != "system") {
            let speaker = if message.role == "assistant" {
                "Assistant"
            } else {
                "User"
            };
            prompt.push_str(&format!("# {speaker}:\n\n{}\n\n", message.content));
        }
        prompt.push_str("# Assistant:\n\n");
        Ok(Prompt::Text(prompt))
    }

    fn format_output(
        &self,
        _input: &Input<'_>,
        _row: usize,
        generation: &str,
    ) -> Result<Vec<Value>, String> {
        let answer = generation
            .split("# User:")
            .next()
            .unwrap_or_default()
            .trim();
        if answer.is_empty() {
            return Err("the generation is empty".to_owned());
        }
        Ok(vec![Value::from(answer)])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tasks::test_support::{MockLlm, input_of};
    use serde_json::json;

    fn prompt_text(prompt: Prompt) -> String {
        match prompt {
            Prompt::Text(text) => text,
            Prompt::Chat(_) => panic!("URIAL prompts are raw text"),
        }
    }

    #[test]
    fn instructions_and_conversations_become_a_raw_prompt() {
        let batch = input_of(&[
            (
                "instruction",
                vec![json!("Name a prime."), Value::Null, Value::Null],
            ),
            (
                "conversation",
                vec![
                    Value::Null,
                    json!([
                        {"role": "system", "content": "Answer in French."},
                        {"role": "user", "content": "Hi"},
                        {"role": "assistant", "content": "Bonjour"},
                        {"role": "user", "content": "A prime?"}
                    ]),
                    Value::Null,
                ],
            ),
        ]);
        let input = Input::new(&batch, &[]);
        let task = Urial::new(MockLlm);
        let text = prompt_text(task.format_input(&input, 0).unwrap());
        assert_eq!(
            text,
            format!("{PREAMBLE}\n\n{EXAMPLES}# User:\n\nName a prime.\n\n# Assistant:\n\n")
        );
        let text = prompt_text(task.format_input(&input, 1).unwrap());
        assert_eq!(
            text,
            format!(
                "{PREAMBLE}\n\nAnswer in French.\n\n{EXAMPLES}# User:\n\nHi\n\n# Assistant:\n\nBonjour\n\n# User:\n\nA prime?\n\n# Assistant:\n\n"
            )
        );
        assert!(
            task.format_input(&input, 2)
                .unwrap_err()
                .contains("neither an `instruction` nor a `conversation`")
        );
    }

    #[test]
    fn the_answer_stops_at_the_next_user_turn() {
        let batch = input_of(&[("instruction", vec![json!("x")])]);
        let input = Input::new(&batch, &[]);
        let task = Urial::new(MockLlm);
        assert_eq!(
            task.format_output(
                &input,
                0,
                "Seven is prime.\n\n# User:\n\nAnd eight?\n\n# Assistant:"
            )
            .unwrap(),
            [json!("Seven is prime.")]
        );
        assert_eq!(
            task.format_output(&input, 0, "Seven.").unwrap(),
            [json!("Seven.")]
        );
        for bad in ["", "  \n", "# User:\n\nmore"] {
            assert!(task.format_output(&input, 0, bad).is_err(), "{bad:?}");
        }
    }
}
