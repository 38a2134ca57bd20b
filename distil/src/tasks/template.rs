//! The prompt TextGeneration and StructuredGeneration make of a row: the user message from a
//! Jinja template over the columns of the input row (or its one column as it is), the system
//! message from a `system_prompt` column or the task's own.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::column::{ColumnSpec, DataType};
use crate::llm::Prompt;
use crate::step::Input;
use crate::steps::ChatMessage;
use crate::{Row, Value};

/// The optional input of the templated tasks: the system message of the row.
#[derive(Row)]
pub struct SystemPrompt {
    /// The system message; none when null or absent.
    pub system_prompt: Option<String>,
}

pub(crate) const SYSTEM_PROMPT: &str = "system_prompt";

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

/// How a templated task makes a row's prompt: the template (if any), the system message, and
/// the names of the input row's columns, read once rather than per row.
#[derive(Clone)]
pub(crate) struct RowPrompt {
    template: Option<Arc<Template>>,
    system_prompt: Option<String>,
    columns: Arc<[String]>,
    /// The input row's columns with their types.
    specs: Arc<[ColumnSpec]>,
}

impl RowPrompt {
    /// The prompt of the columns of `I`, with no template and no system message yet.
    pub(crate) fn of<I: Row>() -> Self {
        Self::of_columns(I::columns())
    }

    /// The prompt of `columns` (a pipeline file's record of the input row), with no template
    /// and no system message yet.
    pub(crate) fn of_columns(columns: Vec<ColumnSpec>) -> Self {
        RowPrompt {
            template: None,
            system_prompt: None,
            columns: columns.iter().map(|c| c.name.clone()).collect(),
            specs: columns.into(),
        }
    }

    /// The input columns of the task: the input row's, and an optional `system_prompt`.
    pub(crate) fn inputs(&self) -> Vec<ColumnSpec> {
        let mut inputs = self.specs.to_vec();
        if !inputs.iter().any(|c| c.name == SYSTEM_PROMPT) {
            // Absent, or null on rows that use the task's own.
            inputs.push(ColumnSpec::optional(
                SYSTEM_PROMPT,
                DataType::Optional(Box::new(DataType::String)),
            ));
        }
        inputs
    }

    /// The prompt a pipeline file records: its input columns and template (the system
    /// message is a runtime parameter).
    pub(crate) fn from_settings(settings: &crate::settings::Settings<'_>) -> Result<Self, String> {
        let mut prompt = Self::of_columns(ColumnSpec::from_settings(settings, "columns")?);
        if let Some(template) = settings.optional::<String>("template")? {
            prompt.set_template(template);
        }
        Ok(prompt)
    }

    /// The user message as a Jinja template over the input columns.
    pub(crate) fn set_template(&mut self, source: String) {
        self.template = Some(Arc::new(Template::new(source)));
    }

    /// The system message of rows that have no `system_prompt` value.
    pub(crate) fn set_system_prompt(&mut self, prompt: String) {
        self.system_prompt = Some(prompt);
    }

    /// Row `row` as a prompt: the system message (the row's, else the task's), then the user
    /// message.
    pub(crate) fn format_input(&self, input: &Input<'_>, row: usize) -> Result<Prompt, String> {
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

    /// Before the run: several columns need a template; the template compiles and uses only
    /// the input row's columns. `task` names the task in messages.
    pub(crate) fn check(&self, task: &str) -> Result<(), String> {
        let columns = &self.columns;
        let Some(template) = &self.template else {
            if columns.len() == 1 {
                return Ok(());
            }
            return Err(format!(
                "{task} reads {} columns ({}); give it a template that says how they make the prompt",
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
        let quoted = |names: &[String]| {
            names
                .iter()
                .map(|v| format!("`{v}`"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        Err(format!(
            "the template uses {} that the input row has not; its columns are {}",
            quoted(&unknown),
            quoted(columns)
        ))
    }

    /// What `pipeline.yaml` and the cache signature record of the prompt: its template.
    pub(crate) fn description(&self) -> Value {
        serde_json::json!({
            "columns": ColumnSpec::to_settings(&self.specs),
            "template": self.template.as_ref().map(|t| t.source.clone()),
        })
    }

    /// The runtime parameter these tasks share: `system_prompt`.
    pub(crate) fn task_params(&self) -> Vec<(String, Value)> {
        vec![(
            SYSTEM_PROMPT.to_owned(),
            self.system_prompt
                .clone()
                .map_or(Value::Null, Value::String),
        )]
    }

    /// Sets `system_prompt`; `Err(None)` for any other name.
    pub(crate) fn set_task_param(
        &mut self,
        name: &str,
        value: Value,
    ) -> Result<(), Option<String>> {
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
