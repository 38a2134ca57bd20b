//! SelfInstruct (Wang et al., 2023): new user queries for an application, from an input.

use super::parsing::{list_items, text};
use super::{Task, TaskLlm};
use crate::column::{ColumnSpec, DataType};
use crate::llm::{Llm, Prompt};
use crate::step::{Input, StepKind, StepSpec};
use crate::{Value, task};

/// Writes `num_instructions` diverse queries an AI application could receive about each row's
/// `input: String`. Output `instructions: Vec<String>` (the model's numbered list, markers
/// removed, at most `num_instructions`). An answer with no item fails the row.
///
/// ```no_run
/// use distil::llm::OpenAi;
/// use distil::tasks::SelfInstruct;
///
/// let queries = SelfInstruct::new(OpenAi::new("gpt-4o-mini"))
///     .num_instructions(3)
///     .application_description("A cooking assistant.");
/// ```
#[derive(Clone)]
pub struct SelfInstruct {
    llm: TaskLlm,
    num_instructions: usize,
    criteria: String,
    application_description: String,
}

impl SelfInstruct {
    /// Five queries per row, for an AI assistant, with `llm`.
    pub fn new(llm: impl Llm) -> Self {
        SelfInstruct {
            llm: TaskLlm::new(llm),
            num_instructions: 5,
            criteria: "Make the queries diverse in verbs and in form: mix questions and imperative instructions, and keep each one self-contained.".to_owned(),
            application_description: "An AI assistant adept at answering a wide array of math, logic, and reasoning puzzles, trivia, and general questions.".to_owned(),
        }
    }

    /// Queries per row.
    #[must_use]
    pub fn num_instructions(mut self, n: usize) -> Self {
        self.num_instructions = n.max(1);
        self
    }

    /// What the queries must be like.
    #[must_use]
    pub fn criteria(mut self, criteria: impl Into<String>) -> Self {
        self.criteria = criteria.into();
        self
    }

    /// The application that receives the queries.
    #[must_use]
    pub fn application_description(mut self, description: impl Into<String>) -> Self {
        self.application_description = description.into();
        self
    }
}

crate::__task_builders!(SelfInstruct);

impl SelfInstruct {
    pub(crate) fn from_settings(
        settings: &crate::step::StepSettings<'_>,
    ) -> Result<Box<dyn crate::Step>, String> {
        let mut task = SelfInstruct::new(settings.llm("llm")?);
        if let Some(criteria) = settings.optional("criteria")? {
            task.criteria = criteria;
        }
        if let Some(description) = settings.optional("application_description")? {
            task.application_description = description;
        }
        Ok(Box::new(task))
    }
}

#[task(dynamic)]
impl Task for SelfInstruct {
    fn spec(&self) -> StepSpec {
        let mut spec = StepSpec::new("SelfInstruct", StepKind::Normal);
        spec.inputs = vec![ColumnSpec::new("input", DataType::String)];
        spec.outputs = vec![ColumnSpec::optional(
            "instructions",
            DataType::List(Box::new(DataType::String)),
        )];
        spec
    }

    fn llm(&self) -> &TaskLlm {
        &self.llm
    }

    fn llm_mut(&mut self) -> &mut TaskLlm {
        &mut self.llm
    }

    fn format_input(&self, input: &Input<'_>, row: usize) -> Result<Prompt, String> {
        let context = text(input, "input", row)?;
        Ok(format!(
            "# Task\nWrite {n} user queries that the AI application described below could receive about the given input.\n\n\
             # AI application\n{app}\n\n# Criteria\n{criteria}\n\n# Input\n{context}\n\n\
             # Answer\nA numbered list of {n} queries, one per line, and nothing else.\n",
            n = self.num_instructions,
            app = self.application_description,
            criteria = self.criteria,
        )
        .into())
    }

    fn format_output(
        &self,
        _input: &Input<'_>,
        _row: usize,
        generation: &str,
    ) -> Result<Vec<Value>, String> {
        let mut items = list_items(generation);
        if items.is_empty() {
            return Err("the answer lists no query".to_owned());
        }
        items.truncate(self.num_instructions);
        Ok(vec![Value::Array(
            items.into_iter().map(Value::from).collect(),
        )])
    }

    fn description(&self) -> Option<Value> {
        Some(serde_json::json!({
            "criteria": self.criteria,
            "application_description": self.application_description,
        }))
    }

    fn task_params(&self) -> Vec<(String, Value)> {
        vec![(
            "num_instructions".to_owned(),
            Value::from(self.num_instructions),
        )]
    }

    fn set_task_param(&mut self, name: &str, value: Value) -> Result<(), Option<String>> {
        if name != "num_instructions" {
            return Err(None);
        }
        let n = value.as_u64().filter(|n| *n > 0).ok_or_else(|| {
            Some(format!(
                "`num_instructions` takes a positive integer, not {value}"
            ))
        })?;
        self.num_instructions = n as usize;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tasks::test_support::{MockLlm, input_of, user_text};
    use serde_json::json;

    #[test]
    fn prompt_and_list_parsing() {
        let batch = input_of(&[("input", vec![json!("Tomatoes are fruits.")])]);
        let input = Input::new(&batch, &[]);
        let task = SelfInstruct::new(MockLlm)
            .num_instructions(2)
            .application_description("A cooking assistant.")
            .criteria("Short.");
        assert_eq!(
            user_text(&task.format_input(&input, 0).unwrap()),
            "# Task\nWrite 2 user queries that the AI application described below could receive about the given input.\n\n\
             # AI application\nA cooking assistant.\n\n# Criteria\nShort.\n\n# Input\nTomatoes are fruits.\n\n\
             # Answer\nA numbered list of 2 queries, one per line, and nothing else.\n"
        );
        assert_eq!(
            task.format_output(
                &input,
                0,
                "Sure!\n1. Why are tomatoes fruits?\n2. Cook a tomato soup.\n3. Extra"
            )
            .unwrap(),
            vec![json!(["Why are tomatoes fruits?", "Cook a tomato soup."])]
        );
        // Partial: unnumbered lines still count.
        assert_eq!(
            task.format_output(&input, 0, "Is a tomato sweet?").unwrap(),
            vec![json!(["Is a tomato sweet?"])]
        );
        assert!(task.format_output(&input, 0, "  \n ").is_err());
    }
}
