//! TextGeneration: a prompt from a template over columns, one generation per row.

use std::marker::PhantomData;

use super::template::{RowPrompt, SystemPrompt};
use super::{Task, TaskLlm};
use crate::column::{ColumnSpec, DataType};
use crate::llm::{Llm, Prompt};
use crate::step::{Input, StepKind, StepSpec};
use crate::{Row, Value, task};

/// TextGeneration's default input: an `instruction` column.
#[derive(Row, Clone, Debug, PartialEq, Eq)]
pub struct Instruction {
    /// The instruction sent to the LLM.
    pub instruction: String,
}

/// The output of TextGeneration and ChatGeneration (besides `model_name`).
#[derive(Row)]
pub struct Generated {
    /// The LLM's answer.
    pub generation: String,
}

const GENERATION: &str = "generation";

/// Generates text for each row: the user message is the row's `instruction`, or a Jinja
/// template over the columns of the input row `I`; a `system_prompt` column (or
/// [`system_prompt`](TextGeneration::system_prompt)) becomes the system message. Outputs
/// `generation: String` and `model_name: String`.
///
/// ```no_run
/// use distil::prelude::*;
/// use distil::llm::OpenAi;
/// use distil::tasks::TextGeneration;
///
/// #[derive(Row)]
/// struct Question { question: String, context: String }
///
/// let answer = TextGeneration::<Question>::with_input(OpenAi::new("gpt-4o-mini"))
///     .template("Answer from the context.\nContext: {{ context }}\nQuestion: {{ question }}")
///     .system_prompt("You are concise.")
///     .temperature(0.2);
/// ```
pub struct TextGeneration<I: Row = Instruction> {
    llm: TaskLlm,
    prompt: RowPrompt,
    input: PhantomData<fn() -> I>,
}

impl<I: Row> Clone for TextGeneration<I> {
    fn clone(&self) -> Self {
        TextGeneration {
            llm: self.llm.clone(),
            prompt: self.prompt.clone(),
            input: PhantomData,
        }
    }
}

impl TextGeneration<Instruction> {
    /// Generates from each row's `instruction`.
    pub fn new(llm: impl Llm) -> Self {
        Self::with_input(llm)
    }
}

impl<I: Row> TextGeneration<I> {
    /// Generates from the columns of `I` (set a [`template`](TextGeneration::template) when
    /// `I` has more than one column).
    pub fn with_input(llm: impl Llm) -> Self {
        TextGeneration {
            llm: TaskLlm::new(llm),
            prompt: RowPrompt::of::<I>(),
            input: PhantomData,
        }
    }

    /// The user message as a Jinja template over the input columns (`{{ instruction }}`).
    /// It is checked before the run: a syntax error, or a variable that is not a column of
    /// `I`, stops the run before any request.
    pub fn template(mut self, template: impl Into<String>) -> Self {
        self.prompt.set_template(template.into());
        self
    }

    /// The system message of rows that have no `system_prompt` column value.
    pub fn system_prompt(mut self, prompt: impl Into<String>) -> Self {
        self.prompt.set_system_prompt(prompt.into());
        self
    }
}

impl TextGeneration<Instruction> {
    /// The task a pipeline file records: its LLM, input columns and template.
    pub(crate) fn from_settings(
        settings: &crate::step::StepSettings<'_>,
    ) -> Result<Box<dyn crate::Step>, String> {
        let mut task = TextGeneration::new(settings.llm("llm")?);
        task.prompt = RowPrompt::from_settings(settings)?;
        Ok(Box::new(task))
    }
}

crate::__task_builders!(TextGeneration<I>, I);

#[task(inputs = (I, SystemPrompt), outputs = Generated, default_inputs = Instruction)]
impl<I: Row> Task for TextGeneration<I> {
    fn spec(&self) -> StepSpec {
        let mut spec = StepSpec::new("TextGeneration", StepKind::Normal);
        spec.inputs = self.prompt.inputs();
        spec.outputs = vec![ColumnSpec::new(GENERATION, DataType::String)];
        spec
    }

    fn llm(&self) -> &TaskLlm {
        &self.llm
    }

    fn llm_mut(&mut self) -> &mut TaskLlm {
        &mut self.llm
    }

    fn format_input(&self, input: &Input<'_>, row: usize) -> Result<Prompt, String> {
        self.prompt.format_input(input, row)
    }

    fn format_output(
        &self,
        _input: &Input<'_>,
        _row: usize,
        generation: &str,
    ) -> Result<Vec<Value>, String> {
        Ok(vec![Value::String(generation.to_owned())])
    }

    fn check(&self) -> Result<(), String> {
        self.prompt.check("TextGeneration")
    }

    fn description(&self) -> Option<Value> {
        Some(self.prompt.description())
    }

    fn task_params(&self) -> Vec<(String, Value)> {
        self.prompt.task_params()
    }

    fn set_task_param(&mut self, name: &str, value: Value) -> Result<(), Option<String>> {
        self.prompt.set_task_param(name, value)
    }
}
