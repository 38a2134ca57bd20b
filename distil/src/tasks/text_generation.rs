//! TextGeneration: a prompt from a template over columns, one generation per row.

use std::collections::BTreeMap;
use std::marker::PhantomData;
use std::sync::Arc;

use super::{Task, TaskLlm, task_builders};
use crate::column::{ColumnSpec, DataType};
use crate::llm::{Llm, Prompt};
use crate::step::{Input, StepKind, StepSpec};
use crate::steps::ChatMessage;
use crate::{Row, Value, task};

/// TextGeneration's default input: an `instruction` column.
#[derive(Row, Clone, Debug, PartialEq, Eq)]
pub struct Instruction {
    /// The instruction sent to the LLM.
    pub instruction: String,
}

/// TextGeneration's optional input: the system message of the row.
#[derive(Row)]
pub struct SystemPrompt {
    /// The system message; none when null or absent.
    pub system_prompt: Option<String>,
}

/// The output of TextGeneration and ChatGeneration (besides `model_name`).
#[derive(Row)]
pub struct Generated {
    /// The LLM's answer.
    pub generation: String,
}

const SYSTEM_PROMPT: &str = "system_prompt";
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
    template: Option<Arc<Template>>,
    system_prompt: Option<String>,
    /// The names of the columns of `I`, read once rather than per row.
    columns: Arc<[String]>,
    input: PhantomData<fn() -> I>,
}

impl<I: Row> Clone for TextGeneration<I> {
    fn clone(&self) -> Self {
        TextGeneration {
            llm: self.llm.clone(),
            template: self.template.clone(),
            system_prompt: self.system_prompt.clone(),
            columns: self.columns.clone(),
            input: PhantomData,
        }
    }
}

/// A compiled template, or why it does not compile (reported before the run).
struct Template {
    source: String,
    compiled: Result<minijinja::Environment<'static>, String>,
}

impl Template {
    const NAME: &'static str = "prompt";

    fn new(source: String) -> Self {
        let mut env = minijinja::Environment::new();
        let compiled = env
            .add_template_owned(Self::NAME, source.clone())
            .map(|()| env)
            .map_err(|e| e.to_string());
        Template { source, compiled }
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
            template: None,
            system_prompt: None,
            columns: I::columns().into_iter().map(|c| c.name).collect(),
            input: PhantomData,
        }
    }

    /// The user message as a Jinja template over the input columns (`{{ instruction }}`).
    /// It is checked before the run: a syntax error, or a variable that is not a column of
    /// `I`, stops the run before any request.
    pub fn template(mut self, template: impl Into<String>) -> Self {
        self.template = Some(Arc::new(Template::new(template.into())));
        self
    }

    /// The system message of rows that have no `system_prompt` column value.
    pub fn system_prompt(mut self, prompt: impl Into<String>) -> Self {
        self.system_prompt = Some(prompt.into());
        self
    }

    fn user_message(&self, input: &Input<'_>, row: usize) -> Result<String, String> {
        let columns = &self.columns;
        let cell = |name: &str| {
            input
                .column(name)
                .map(|c| &c[row])
                .ok_or_else(|| format!("column `{name}` is missing"))
        };
        match &self.template {
            Some(template) => {
                let env = template.compiled.as_ref().map_err(Clone::clone)?;
                let mut context: BTreeMap<&str, &Value> = BTreeMap::new();
                for column in columns.iter() {
                    context.insert(column, cell(column)?);
                }
                env.get_template(Template::NAME)
                    .and_then(|t| t.render(&context))
                    .map_err(|e| format!("rendering the template: {e}"))
            }
            None => match &columns[..] {
                [only] => Ok(match cell(only)? {
                    Value::String(text) => text.clone(),
                    Value::Null => return Err(format!("column `{only}` is null")),
                    other => other.to_string(),
                }),
                _ => Err("several input columns need a template".to_owned()),
            },
        }
    }
}

task_builders!(TextGeneration<I>, I);

#[task(inputs = (I, SystemPrompt), outputs = Generated, default_inputs = Instruction)]
impl<I: Row> Task for TextGeneration<I> {
    fn spec(&self) -> StepSpec {
        let mut spec = StepSpec::new("TextGeneration", StepKind::Normal);
        spec.inputs = I::columns();
        if !spec.inputs.iter().any(|c| c.name == SYSTEM_PROMPT) {
            spec.inputs
                .push(ColumnSpec::optional(SYSTEM_PROMPT, DataType::String));
        }
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
        let user = self.user_message(input, row)?;
        let system = input
            .column(SYSTEM_PROMPT)
            .and_then(|c| c[row].as_str())
            .or(self.system_prompt.as_deref());
        let mut messages = Vec::with_capacity(2);
        if let Some(system) = system {
            messages.push(ChatMessage::system(system));
        }
        messages.push(ChatMessage::user(user));
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

    fn check(&self) -> Result<(), String> {
        let columns: Vec<String> = I::columns().into_iter().map(|c| c.name).collect();
        let Some(template) = &self.template else {
            if columns.len() == 1 {
                return Ok(());
            }
            return Err(format!(
                "TextGeneration reads {} columns ({}); give it a template that says how they make the prompt",
                columns.len(),
                columns.join(", ")
            ));
        };
        let env = template
            .compiled
            .as_ref()
            .map_err(|e| format!("the template `{}` does not compile: {e}", template.source))?;
        let compiled = env
            .get_template(Template::NAME)
            .map_err(|e| e.to_string())?;
        let mut unknown: Vec<String> = compiled
            .undeclared_variables(false)
            .into_iter()
            .filter(|v| !columns.contains(v))
            .collect();
        unknown.sort();
        if unknown.is_empty() {
            return Ok(());
        }
        Err(format!(
            "the template uses {} that the input row has not; its columns are {}",
            unknown
                .iter()
                .map(|v| format!("`{v}`"))
                .collect::<Vec<_>>()
                .join(", "),
            columns
                .iter()
                .map(|v| format!("`{v}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ))
    }

    fn task_params(&self) -> Vec<(String, Value)> {
        vec![(
            SYSTEM_PROMPT.to_owned(),
            self.system_prompt
                .clone()
                .map_or(Value::Null, Value::String),
        )]
    }

    fn set_task_param(&mut self, name: &str, value: Value) -> Result<(), Option<String>> {
        if name != SYSTEM_PROMPT {
            return Err(None);
        }
        self.system_prompt = match value {
            Value::Null => None,
            Value::String(s) => Some(s),
            other => return Err(Some(format!("`system_prompt` takes a string, not {other}"))),
        };
        Ok(())
    }
}
