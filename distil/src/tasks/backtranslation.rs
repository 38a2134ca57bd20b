//! InstructionBacktranslation (Humpback, Li et al., 2023): self-curation, a judge scores how
//! well a generation answers an instruction as an AI assistant would.

use super::parsing::{field, first_integer, text, without_label};
use super::{Task, TaskLlm};
use crate::column::{ColumnSpec, DataType};
use crate::llm::{Llm, Prompt};
use crate::step::{Input, StepKind, StepSpec};
use crate::steps::ChatMessage;
use crate::{Value, task};

const SYSTEM: &str = "You are a careful reviewer of AI assistant answers. You judge answers on a 5-point scale and explain your judgement briefly.";

const SCALE: &str = "\
1: The answer is incomplete, vague, off-topic, or not written from an AI assistant's perspective (for example, it reads like a blog post or a forum reply).
2: The answer addresses most of the request, but does not answer it directly.
3: The answer is helpful and addresses the request, but is written as a human would write it (a personal experience, an excerpt from a web page) rather than by an AI assistant.
4: The answer is written from an AI assistant's perspective and addresses the request clearly and completely; it could be more concise or focused.
5: The answer is a perfect AI assistant's answer: focused on the request, complete, expert, clear and free of irrelevant content.";

/// Scores each row's `generation` as an AI assistant's answer to its `instruction`, from 1 to
/// 5, as Humpback's self-curation does to keep only the best backtranslated pairs. Outputs
/// `score: i64` and `reason: String` (the judge's explanation, null when it gives none). The
/// judge ends its answer with `Score: N`; an answer without a score from 1 to 5 fails the row,
/// its raw output kept.
///
/// ```no_run
/// use distil::llm::OpenAi;
/// use distil::tasks::InstructionBacktranslation;
///
/// let curate = InstructionBacktranslation::new(OpenAi::new("gpt-4o")).temperature(0.0);
/// ```
#[derive(Clone)]
pub struct InstructionBacktranslation {
    llm: TaskLlm,
}

impl InstructionBacktranslation {
    /// Scores with `llm`.
    pub fn new(llm: impl Llm) -> Self {
        InstructionBacktranslation {
            llm: TaskLlm::new(llm),
        }
    }
}

crate::__task_builders!(InstructionBacktranslation);

#[task(dynamic)]
impl Task for InstructionBacktranslation {
    fn spec(&self) -> StepSpec {
        let mut spec = StepSpec::new("InstructionBacktranslation", StepKind::Normal);
        spec.inputs = vec![
            ColumnSpec::new("instruction", DataType::String),
            ColumnSpec::new("generation", DataType::String),
        ];
        spec.outputs = vec![
            ColumnSpec::optional("score", DataType::Int(64)),
            ColumnSpec::optional("reason", DataType::String),
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
        let instruction = text(input, "instruction", row)?;
        let generation = text(input, "generation", row)?;
        Ok(Prompt::Chat(vec![
            ChatMessage::system(SYSTEM),
            ChatMessage::user(format!(
                "Below are an instruction from a user and a candidate answer. Judge how good the answer is as an AI assistant's response to the instruction, on this scale:\n\n{SCALE}\n\n\
                 First explain your judgement briefly, then end with a line `Score: N`, N from 1 to 5.\n\n\
                 ## Instruction\n{instruction}\n\n## Answer\n{generation}\n"
            )),
        ]))
    }

    fn format_output(
        &self,
        _input: &Input<'_>,
        _row: usize,
        generation: &str,
    ) -> Result<Vec<Value>, String> {
        // The last `Score:` line is the verdict; what comes before it is the reason.
        let line = generation
            .lines()
            .rev()
            .find(|line| field(line, "score").is_some())
            .ok_or("the answer has no `Score: N` line")?;
        let value = field(line, "score").unwrap_or_default();
        let score = first_integer(value)
            .filter(|s| (1..=5).contains(s))
            .ok_or_else(|| format!("the score `{value}` is not a whole number from 1 to 5"))?;
        let at = generation.rfind(line).unwrap_or(generation.len());
        let reason = without_label(generation[..at].trim(), "reason");
        Ok(vec![
            Value::from(score),
            if reason.is_empty() {
                Value::Null
            } else {
                Value::from(reason)
            },
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tasks::test_support::{MockLlm, input_of, system_text, user_text};
    use serde_json::json;

    #[test]
    fn prompt_and_scores() {
        let batch = input_of(&[
            ("instruction", vec![json!("How do I boil an egg?")]),
            (
                "generation",
                vec![json!("Put it in boiling water for 8 minutes.")],
            ),
        ]);
        let input = Input::new(&batch, &[]);
        let task = InstructionBacktranslation::new(MockLlm);
        let prompt = task.format_input(&input, 0).unwrap();
        assert_eq!(system_text(&prompt).as_deref(), Some(SYSTEM));
        let user = user_text(&prompt);
        assert!(
            user.contains("\n5: The answer is a perfect AI assistant's answer"),
            "{user}"
        );
        assert!(user.ends_with(
            "## Instruction\nHow do I boil an egg?\n\n## Answer\nPut it in boiling water for 8 minutes.\n"
        ), "{user}");

        assert_eq!(
            task.format_output(
                &input,
                0,
                "The answer is direct and correct, if short.\n\nScore: 4"
            )
            .unwrap(),
            [
                json!(4),
                json!("The answer is direct and correct, if short.")
            ]
        );
        assert_eq!(
            task.format_output(&input, 0, "**Reason:** Complete.\n**Score:** 5/5")
                .unwrap(),
            [json!(5), json!("Complete.")]
        );
        // Partial: a score without a reason.
        assert_eq!(
            task.format_output(&input, 0, "Score: 2").unwrap(),
            [json!(2), Value::Null]
        );
        // Malformed: no score, a score off the scale, a score that is no number.
        for (generation, reason) in [
            ("It is a good answer.", "no `Score: N` line"),
            ("Fine.\nScore: 9", "`9` is not a whole number from 1 to 5"),
            ("Fine.\nScore: high", "`high` is not a whole number"),
        ] {
            let error = task.format_output(&input, 0, generation).unwrap_err();
            assert!(error.contains(reason), "{generation}: {error}");
        }
    }
}
