//! CLAIR (D'Oosterlinck et al., 2024, "Anchored Preference Optimization and Contrastive
//! Revisions"): a teacher revises a student's answer minimally, so the pair differs only where
//! the answer was wrong.

use super::parsing::{labelled_sections, opt, text};
use super::{Task, TaskLlm};
use crate::column::{ColumnSpec, DataType};
use crate::llm::{Llm, Prompt};
use crate::step::{Input, StepKind, StepSpec};
use crate::steps::ChatMessage;
use crate::{Value, task};

const SYSTEM: &str = "You are a teacher. A student has answered a task; improve the student's answer as little as needed to make it correct, clear and complete, keeping the student's wording, structure and style wherever they are fine.";

const REASONING: &str = "teacher reasoning";
const REVISION: &str = "corrected student solution";

/// Revises each row's `student_solution` to its `task` minimally, as CLAIR builds
/// contrastive preference pairs (the revision preferred over the original). Outputs
/// `revision` (the corrected solution) and `rational` (the teacher's reasoning, distilabel's
/// column name; null when the teacher gives none). The teacher answers under
/// `Teacher Reasoning:` and `Corrected Student Solution:` headings; an answer without a
/// corrected solution fails the row, its raw output kept.
///
/// ```no_run
/// use distil::llm::OpenAi;
/// use distil::tasks::Clair;
///
/// let revise = Clair::new(OpenAi::new("gpt-4o")).temperature(0.2);
/// ```
#[derive(Clone)]
pub struct Clair {
    llm: TaskLlm,
    system_prompt: String,
}

impl Clair {
    /// Revises with `llm`.
    pub fn new(llm: impl Llm) -> Self {
        Clair {
            llm: TaskLlm::new(llm),
            system_prompt: SYSTEM.to_owned(),
        }
    }

    /// The system message.
    #[must_use]
    pub fn system_prompt(mut self, prompt: impl Into<String>) -> Self {
        self.system_prompt = prompt.into();
        self
    }
}

impl Clair {
    /// The task a pipeline file records.
    pub(crate) fn from_settings(
        settings: &crate::step::StepSettings<'_>,
    ) -> Result<Box<dyn crate::Step>, String> {
        let mut task = Clair::new(settings.llm("llm")?);
        if let Some(prompt) = settings.optional::<String>("system_prompt")? {
            task.system_prompt = prompt;
        }
        Ok(Box::new(task))
    }
}

crate::__task_builders!(Clair);

#[task(dynamic)]
impl Task for Clair {
    fn spec(&self) -> StepSpec {
        let mut spec = StepSpec::new("CLAIR", StepKind::Normal);
        spec.inputs = vec![
            ColumnSpec::new("task", DataType::String),
            ColumnSpec::new("student_solution", DataType::String),
        ];
        spec.outputs = vec![
            ColumnSpec::optional("revision", DataType::String),
            ColumnSpec::optional("rational", DataType::String),
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
        let task = text(input, "task", row)?;
        let solution = text(input, "student_solution", row)?;
        Ok(Prompt::Chat(vec![
            ChatMessage::system(self.system_prompt.clone()),
            ChatMessage::user(format!(
                "## Task\n{task}\n\n## Student Solution\n{solution}\n\n\
                 ## What to do\nFirst reason about what in the student's solution is wrong, unclear or missing, and how to fix it with the fewest changes. Then write the corrected solution in full, as the student would have written it had they known better; do not mention the corrections in it.\n\n\
                 Answer in exactly this format:\nTeacher Reasoning: <your reasoning>\n\nCorrected Student Solution: <the corrected solution>\n"
            )),
        ]))
    }

    fn format_output(
        &self,
        _input: &Input<'_>,
        _row: usize,
        generation: &str,
    ) -> Result<Vec<Value>, String> {
        let [reasoning, revision] = labelled_sections(generation, &[REASONING, REVISION])[..]
        else {
            unreachable!("one section per label")
        };
        let revision = revision.ok_or("the answer has no `Corrected Student Solution:` section")?;
        Ok(vec![Value::from(revision), opt(reasoning)])
    }

    fn description(&self) -> Option<Value> {
        Some(serde_json::json!({ "system_prompt": self.system_prompt }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tasks::test_support::{MockLlm, input_of, system_text, user_text};
    use serde_json::json;

    #[test]
    fn prompt_and_revisions() {
        let batch = input_of(&[
            ("task", vec![json!("What is 12 * 12?")]),
            ("student_solution", vec![json!("12 * 12 = 124.")]),
        ]);
        let input = Input::new(&batch, &[]);
        let task = Clair::new(MockLlm);
        let prompt = task.format_input(&input, 0).unwrap();
        assert_eq!(system_text(&prompt).as_deref(), Some(SYSTEM));
        let user = user_text(&prompt);
        assert!(
            user.starts_with("## Task\nWhat is 12 * 12?\n\n## Student Solution\n12 * 12 = 124.\n\n## What to do\n"),
            "{user}"
        );
        assert!(user.ends_with("Teacher Reasoning: <your reasoning>\n\nCorrected Student Solution: <the corrected solution>\n"));

        assert_eq!(
            task.format_output(
                &input,
                0,
                "Teacher Reasoning: The product is wrong: 12 * 12 is 144.\n\nCorrected Student Solution: 12 * 12 = 144."
            )
            .unwrap(),
            [json!("12 * 12 = 144."), json!("The product is wrong: 12 * 12 is 144.")]
        );
        // Headings on their own lines, in bold, with a multi-line solution.
        assert_eq!(
            task.format_output(
                &input,
                0,
                "**Teacher Reasoning:**\nOff by 20.\n\n**Corrected Student Solution:**\n12 * 12\n= 144."
            )
            .unwrap(),
            [json!("12 * 12\n= 144."), json!("Off by 20.")]
        );
        // Partial: a revision without reasoning.
        assert_eq!(
            task.format_output(&input, 0, "Corrected Student Solution: 144")
                .unwrap(),
            [json!("144"), Value::Null]
        );
        // Malformed: no revision section, or an empty one.
        for bad in [
            "12 * 12 = 144.",
            "Teacher Reasoning: wrong product.",
            "Teacher Reasoning: x\nCorrected Student Solution:\n",
        ] {
            assert!(
                task.format_output(&input, 0, bad)
                    .unwrap_err()
                    .contains("no `Corrected Student Solution:` section"),
                "{bad}"
            );
        }
    }
}
