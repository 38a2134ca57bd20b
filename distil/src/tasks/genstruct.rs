//! Genstruct (NousResearch's Genstruct 7B, after Ada-Instruct): a user question and the
//! assistant's answer grounded in a document.

use super::parsing::text;
use super::{Task, TaskLlm};
use crate::column::{ColumnSpec, DataType};
use crate::llm::{Llm, Prompt};
use crate::step::{Input, StepKind, StepSpec};
use crate::{Value, task};

const USER: &str = "[[[User]]]";
const ASSISTANT: &str = "[[[Assistant]]]";

/// Writes, from each row's `title` and `content` (a document), a question a user could ask
/// about it and the assistant's answer, in the format Genstruct 7B is trained on: the prompt
/// is `[[[Title]]]`, `[[[Content]]]`, then a `[[[User]]]` turn the model writes, followed by
/// `[[[Assistant]]]` and the answer. Outputs `user` and `assistant`. A generation without an
/// `[[[Assistant]]]` turn fails the row (its raw output kept); text after a further
/// `[[[User]]]` turn (the model going on) is dropped.
///
/// ```no_run
/// use distil::llm::OpenAi;
/// use distil::tasks::Genstruct;
///
/// let pairs = Genstruct::new(OpenAi::new("NousResearch/Genstruct-7B").base_url("http://localhost:8000/v1"))
///     .max_new_tokens(512);
/// ```
#[derive(Clone)]
pub struct Genstruct {
    llm: TaskLlm,
}

impl Genstruct {
    /// Generates with `llm` (best a Genstruct model).
    pub fn new(llm: impl Llm) -> Self {
        Genstruct {
            llm: TaskLlm::new(llm),
        }
    }
}

crate::__task_builders!(Genstruct);

#[task(dynamic)]
impl Task for Genstruct {
    fn spec(&self) -> StepSpec {
        let mut spec = StepSpec::new("Genstruct", StepKind::Normal);
        spec.inputs = vec![
            ColumnSpec::new("title", DataType::String),
            ColumnSpec::new("content", DataType::String),
        ];
        spec.outputs = vec![
            ColumnSpec::optional("user", DataType::String),
            ColumnSpec::optional("assistant", DataType::String),
        ];
        spec
    }

    fn llm(&self) -> &TaskLlm {
        &self.llm
    }

    fn llm_mut(&mut self) -> &mut TaskLlm {
        &mut self.llm
    }

    fn format_input(&self, input: &Input<'_>, row: usize) -> Result<Prompt, String> {
        let title = text(input, "title", row)?;
        let content = text(input, "content", row)?;
        Ok(format!(
            "[[[Title]]] {title}\n[[[Content]]] {content}\n\n\
             The following is an interaction between a user and an AI assistant that is related to the above text.\n\n{USER} "
        )
        .into())
    }

    fn format_output(
        &self,
        _input: &Input<'_>,
        _row: usize,
        generation: &str,
    ) -> Result<Vec<Value>, String> {
        let (user, rest) = generation
            .split_once(ASSISTANT)
            .ok_or("the generation has no `[[[Assistant]]]` turn")?;
        // The model may repeat the `[[[User]]]` marker the prompt ends with.
        let user = user.trim().trim_start_matches(USER).trim();
        let assistant = rest.split(USER).next().unwrap_or_default().trim();
        if user.is_empty() {
            return Err("the user turn is empty".to_owned());
        }
        if assistant.is_empty() {
            return Err("the assistant turn is empty".to_owned());
        }
        Ok(vec![Value::from(user), Value::from(assistant)])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tasks::test_support::{MockLlm, input_of, user_text};
    use serde_json::json;

    #[test]
    fn prompt_and_turns() {
        let batch = input_of(&[
            ("title", vec![json!("Photosynthesis")]),
            ("content", vec![json!("Plants turn light into sugar.")]),
        ]);
        let input = Input::new(&batch, &[]);
        let task = Genstruct::new(MockLlm);
        assert_eq!(
            user_text(&task.format_input(&input, 0).unwrap()),
            "[[[Title]]] Photosynthesis\n[[[Content]]] Plants turn light into sugar.\n\n\
             The following is an interaction between a user and an AI assistant that is related to the above text.\n\n[[[User]]] "
        );
        assert_eq!(
            task.format_output(
                &input,
                0,
                "What do plants make from light?\n[[[Assistant]]] Sugar, through photosynthesis.\n[[[User]]] Thanks"
            )
            .unwrap(),
            [json!("What do plants make from light?"), json!("Sugar, through photosynthesis.")]
        );
        assert_eq!(
            task.format_output(&input, 0, "[[[User]]] Why?\n\n[[[Assistant]]] Because.")
                .unwrap(),
            [json!("Why?"), json!("Because.")]
        );
        // Partial (cut before the answer) and malformed generations fail the row.
        for (generation, reason) in [
            (
                "What do plants make from light?",
                "no `[[[Assistant]]]` turn",
            ),
            (
                "What do plants make?\n[[[Assistant]]]",
                "assistant turn is empty",
            ),
            ("[[[Assistant]]] Sugar.", "user turn is empty"),
        ] {
            let error = task.format_output(&input, 0, generation).unwrap_err();
            assert!(error.contains(reason), "{generation}: {error}");
        }
    }
}
