//! Magpie (Xu et al., 2024): an aligned model, prompted with nothing but the start of a user
//! turn in its own chat format, writes a user query; answered in turn, that makes instruction
//! data without any seed.

use std::sync::Arc;

use futures_util::future::join_all;

use super::{MODEL_NAME_COLUMN, TaskLlm, fatal};
use crate::column::{ColumnSpec, ColumnValue, DataType};
use crate::llm::{ChatTemplate, GenerationParams, Llm, LlmError, Prompt};
use crate::step::{
    BoxFuture, Concurrent, Input, Output, RunContext, SharedProcess, Step, StepKind, StepSpec,
};
use crate::steps::ChatMessage;
use crate::{Value, step};

/// What Magpie and MagpieGenerator share: the LLM, the turns, what is kept.
#[derive(Clone)]
struct Settings {
    llm: TaskLlm,
    n_turns: usize,
    only_instruction: bool,
    system_prompt: Option<String>,
}

impl Settings {
    fn new(llm: impl Llm) -> Self {
        Settings {
            llm: TaskLlm::new(llm),
            n_turns: 1,
            only_instruction: false,
            system_prompt: None,
        }
    }

    /// `instruction` alone, `instruction` and `response` for one turn, else `conversation`.
    fn outputs(&self) -> Vec<ColumnSpec> {
        let mut outputs = if self.only_instruction {
            vec![ColumnSpec::optional("instruction", DataType::String)]
        } else if self.n_turns == 1 {
            vec![
                ColumnSpec::optional("instruction", DataType::String),
                ColumnSpec::optional("response", DataType::String),
            ]
        } else {
            vec![ColumnSpec::optional(
                "conversation",
                <Vec<ChatMessage> as ColumnValue>::data_type(),
            )]
        };
        outputs.push(ColumnSpec::new(MODEL_NAME_COLUMN, DataType::String));
        outputs
    }

    fn check(&self) -> crate::Result<()> {
        let llm = self.llm.llm();
        llm.check().map_err(|e| fatal(e.message()))?;
        if llm.chat_template().is_none() {
            return Err(fatal(format!(
                "Magpie writes raw text in the model's chat format, and `{}` has no chat template: give its client one (`.chat_template(ChatTemplate::llama3())`, or the model's own)",
                llm.model_name()
            )));
        }
        Ok(())
    }

    /// The rows' conversations, one per system message (`None`: none), all at once.
    async fn rows(&self, systems: Vec<Option<String>>) -> crate::Result<Output> {
        let llm = self.llm.llm().as_ref();
        let template = llm
            .chat_template()
            .ok_or_else(|| fatal(format!("`{}` has no chat template", llm.model_name())))?;
        let mut params = self.llm.effective_params();
        if params.stop.is_none() && !template.stop_sequences().is_empty() {
            params.stop = Some(template.stop_sequences().to_vec());
        }
        let rows = systems.len();
        let ends = join_all(systems.into_iter().map(|system| {
            converse(
                llm,
                template,
                &params,
                system,
                self.n_turns,
                self.only_instruction,
            )
        }))
        .await;
        let mut output = Output::same_rows();
        let width = self.outputs().len() - 1;
        let mut columns: Vec<Vec<Value>> = vec![Vec::with_capacity(rows); width];
        for (row, end) in ends.into_iter().enumerate() {
            match end.map_err(|e| fatal(e.message()))? {
                Ok(messages) => {
                    let turn = |role: &str| {
                        messages
                            .iter()
                            .find(|m| m.role == role)
                            .map_or(Value::Null, |m| Value::from(m.content.clone()))
                    };
                    let cells = if self.only_instruction {
                        vec![turn("user")]
                    } else if self.n_turns == 1 {
                        vec![turn("user"), turn("assistant")]
                    } else {
                        vec![messages.clone().into_value()]
                    };
                    for (column, cell) in columns.iter_mut().zip(cells) {
                        column.push(cell);
                    }
                }
                Err((message, raw)) => {
                    for column in &mut columns {
                        column.push(Value::Null);
                    }
                    output.push_error(row, message);
                    if !raw.is_empty() {
                        output.push_metadata(row, "raw_output", Value::from(raw));
                    }
                }
            }
        }
        for (spec, values) in self.outputs().into_iter().zip(columns) {
            output.push_column(spec.name, values);
        }
        output.push_column(MODEL_NAME_COLUMN, vec![Value::from(llm.model_name()); rows]);
        Ok(output)
    }

    fn params(&self) -> Vec<(String, Value)> {
        let mut params = vec![
            ("n_turns".to_owned(), Value::from(self.n_turns)),
            (
                "system_prompt".to_owned(),
                super::parsing::opt(self.system_prompt.clone()),
            ),
        ];
        params.extend(self.llm.params().entries());
        params
    }

    /// Sets a shared parameter; `Err(None)` when it is none of them.
    fn set_param(&mut self, name: &str, value: Value) -> Result<(), Option<String>> {
        match name {
            "n_turns" => {
                let n = value.as_u64().filter(|n| *n > 0).ok_or_else(|| {
                    Some(format!("`n_turns` takes a positive integer, not {value}"))
                })?;
                self.n_turns = n as usize;
            }
            "system_prompt" => {
                self.system_prompt = match value {
                    Value::Null => None,
                    Value::String(s) => Some(s),
                    other => {
                        return Err(Some(format!("`system_prompt` takes a string, not {other}")));
                    }
                };
            }
            _ if crate::llm::params::NAMES.contains(&name) => {
                self.llm.params_mut().set(name, value).map_err(Some)?;
            }
            _ => return Err(None),
        }
        Ok(())
    }

    fn report(&self) -> Option<String> {
        Some(super::runner::llm_report(&**self.llm.llm()))
    }

    /// What a pipeline file records beside the runtime parameters.
    fn describe(&self) -> Value {
        serde_json::json!({
            "llm": self.llm.llm().describe(),
            "only_instruction": self.only_instruction,
        })
    }

    /// The settings a pipeline file records (the runtime parameters are applied after).
    fn from_settings(settings: &crate::step::StepSettings<'_>) -> Result<Self, String> {
        let mut restored = Settings::new(settings.llm("llm")?);
        restored.only_instruction = settings.optional("only_instruction")?.unwrap_or_default();
        Ok(restored)
    }
}

impl Magpie {
    /// The step a pipeline file records.
    pub(crate) fn from_settings(
        settings: &crate::step::StepSettings<'_>,
    ) -> Result<Box<dyn Step>, String> {
        Ok(Box::new(Magpie {
            settings: Settings::from_settings(settings)?,
        }))
    }
}

impl MagpieGenerator {
    /// The step a pipeline file records.
    pub(crate) fn from_settings(
        settings: &crate::step::StepSettings<'_>,
    ) -> Result<Box<dyn Step>, String> {
        Ok(Box::new(MagpieGenerator {
            settings: Settings::from_settings(settings)?,
            num_rows: 10,
            emitted: 0,
        }))
    }
}

/// One conversation: for each turn, a user query the model writes from the start of a user
/// turn, then (unless only the instruction is wanted) its answer. `Err` is fatal; `Ok(Err)`
/// is a failed row with its reason and the raw text that caused it.
async fn converse(
    llm: &dyn Llm,
    template: &ChatTemplate,
    params: &GenerationParams,
    system: Option<String>,
    n_turns: usize,
    only_instruction: bool,
) -> Result<Result<Vec<ChatMessage>, (String, String)>, LlmError> {
    let mut messages: Vec<ChatMessage> = system.into_iter().map(ChatMessage::system).collect();
    for _ in 0..n_turns {
        let start = match template.user_turn_start(&messages) {
            Ok(start) => start,
            Err(message) => return Ok(Err((message, String::new()))),
        };
        let raw = match complete(llm, start, params).await? {
            Ok(raw) => raw,
            Err(message) => return Ok(Err((message, String::new()))),
        };
        let query = template.trim_turn(&raw);
        if query.is_empty() {
            return Ok(Err(("the model wrote an empty user query".to_owned(), raw)));
        }
        messages.push(ChatMessage::user(query));
        if only_instruction {
            break;
        }
        let prompt = match template.render(&messages, true) {
            Ok(prompt) => prompt,
            Err(message) => return Ok(Err((message, String::new()))),
        };
        let raw = match complete(llm, prompt, params).await? {
            Ok(raw) => raw,
            Err(message) => return Ok(Err((message, String::new()))),
        };
        let response = template.trim_turn(&raw);
        if response.is_empty() {
            return Ok(Err(("the model wrote an empty response".to_owned(), raw)));
        }
        messages.push(ChatMessage::assistant(response));
    }
    Ok(Ok(messages))
}

/// A raw-text completion; `Ok(Err)` for an error of this row alone.
async fn complete(
    llm: &dyn Llm,
    text: String,
    params: &GenerationParams,
) -> Result<Result<String, String>, LlmError> {
    match llm.generate(&Prompt::Text(text), params).await {
        Ok(generations) => Ok(Ok(generations
            .choices
            .into_iter()
            .next()
            .and_then(|c| c.text)
            .unwrap_or_default())),
        Err(e) if e.is_fatal() => Err(e),
        Err(e) => Ok(Err(e.message().to_owned())),
    }
}

macro_rules! magpie_builders {
    ($ty:ty) => {
        impl $ty {
            /// Turns per conversation (1 by default): above 1 the output is one
            /// `conversation` column.
            #[must_use]
            pub fn n_turns(mut self, n: usize) -> Self {
                self.settings.n_turns = n.max(1);
                self
            }

            /// Writes the user query only, no response: output `instruction`.
            #[must_use]
            pub fn only_instruction(mut self, only: bool) -> Self {
                self.settings.only_instruction = only;
                self
            }

            /// The system message the conversations start with.
            #[must_use]
            pub fn system_prompt(mut self, prompt: impl Into<String>) -> Self {
                self.settings.system_prompt = Some(prompt.into());
                self
            }

            /// Sampling temperature.
            #[must_use]
            pub fn temperature(mut self, temperature: f64) -> Self {
                self.settings.llm.params_mut().temperature = Some(temperature);
                self
            }

            /// Tokens to generate at most per turn.
            #[must_use]
            pub fn max_new_tokens(mut self, tokens: u64) -> Self {
                self.settings.llm.params_mut().max_new_tokens = Some(tokens);
                self
            }
        }
    };
}

/// Magpie over input rows: for each row, a conversation the LLM writes both sides of, in its
/// own chat format (the LLM needs a [`ChatTemplate`]: give its client one with
/// [`chat_template`](crate::llm::Client::chat_template); it must serve raw completions). The
/// optional `system_prompt` column (else the task's [`system_prompt`](Self::system_prompt))
/// starts the conversation. Outputs `instruction` and `response` (one turn, the default),
/// `instruction` only with [`only_instruction`](Self::only_instruction), or
/// `conversation: Vec<ChatMessage>` with [`n_turns`](Self::n_turns) above 1; and
/// `model_name`. An empty turn fails its row, the raw text kept in its metadata.
///
/// ```no_run
/// use distil::llm::{ChatTemplate, OpenAi};
/// use distil::tasks::Magpie;
///
/// let llm = OpenAi::new("meta-llama/Llama-3.1-8B-Instruct")
///     .base_url("http://localhost:8000/v1")
///     .chat_template(ChatTemplate::llama3());
/// let magpie = Magpie::new(llm).n_turns(2).temperature(1.0);
/// ```
#[derive(Clone)]
pub struct Magpie {
    settings: Settings,
}

impl Magpie {
    /// Conversations with `llm`.
    pub fn new(llm: impl Llm) -> Self {
        Magpie {
            settings: Settings::new(llm),
        }
    }

    async fn process_rows(&self, input: Input<'_>) -> crate::Result<Output> {
        let column = input.column("system_prompt");
        let systems = (0..input.len())
            .map(|row| {
                column
                    .and_then(|c| c[row].as_str())
                    .map(ToOwned::to_owned)
                    .or_else(|| self.settings.system_prompt.clone())
            })
            .collect();
        self.settings.rows(systems).await
    }
}

magpie_builders!(Magpie);

impl SharedProcess for Magpie {
    fn process<'a>(&'a self, input: Input<'a>) -> BoxFuture<'a, crate::Result<Output>> {
        Box::pin(self.process_rows(input))
    }
}

#[step(dynamic)]
impl Step for Magpie {
    fn spec(&self) -> StepSpec {
        let mut spec = StepSpec::new("Magpie", StepKind::Normal);
        spec.inputs = vec![ColumnSpec::optional(
            "system_prompt",
            DataType::Optional(Box::new(DataType::String)),
        )];
        spec.outputs = self.settings.outputs();
        spec
    }

    fn process<'a>(&'a mut self, input: Input<'a>) -> BoxFuture<'a, crate::Result<Output>> {
        Box::pin(self.process_rows(input))
    }

    fn prepare(&mut self) -> BoxFuture<'_, crate::Result<()>> {
        let checked = self.settings.check();
        Box::pin(async move { checked })
    }

    fn attach(&mut self, run: &RunContext) {
        self.settings.llm.attach(run);
    }

    fn concurrent(&mut self) -> Option<Concurrent> {
        let rows = 2 * self.settings.llm.llm().max_concurrency();
        Some(Concurrent {
            processor: Arc::new(self.clone()),
            rows_in_flight: rows.max(1),
        })
    }

    fn persists(&self) -> bool {
        true
    }

    fn params(&self) -> Vec<(String, Value)> {
        self.settings.params()
    }

    fn set_param(&mut self, name: &str, value: Value) -> Result<(), String> {
        self.settings.set_param(name, value).map_err(|e| {
            e.unwrap_or_else(|| {
                let known = self.settings.params();
                let known: Vec<&str> = known.iter().map(|(n, _)| n.as_str()).collect();
                crate::step::params::unknown_param(name, &known)
            })
        })
    }

    fn describe(&self) -> Option<Value> {
        Some(self.settings.describe())
    }

    fn llm_in_use(&self) -> Option<Arc<dyn Llm>> {
        Some(self.settings.llm.llm().clone())
    }

    fn report(&self) -> Option<String> {
        self.settings.report()
    }
}

/// Magpie as a generator: [`num_rows`](Self::num_rows) conversations from nothing, as
/// [`Magpie`] writes them (same outputs, same need for a chat template), without an upstream
/// step.
///
/// ```no_run
/// use distil::llm::{ChatTemplate, OpenAi};
/// use distil::tasks::MagpieGenerator;
///
/// let llm = OpenAi::new("Qwen/Qwen2.5-7B-Instruct")
///     .base_url("http://localhost:8000/v1")
///     .chat_template(ChatTemplate::chatml());
/// let rows = MagpieGenerator::new(llm).num_rows(1000).system_prompt("You are a math tutor.");
/// ```
#[derive(Clone)]
pub struct MagpieGenerator {
    settings: Settings,
    num_rows: usize,
    emitted: usize,
}

impl MagpieGenerator {
    /// Ten conversations with `llm`.
    pub fn new(llm: impl Llm) -> Self {
        MagpieGenerator {
            settings: Settings::new(llm),
            num_rows: 10,
            emitted: 0,
        }
    }

    /// Rows to generate.
    #[must_use]
    pub fn num_rows(mut self, rows: usize) -> Self {
        self.num_rows = rows;
        self
    }
}

magpie_builders!(MagpieGenerator);

#[step(dynamic)]
impl Step for MagpieGenerator {
    fn spec(&self) -> StepSpec {
        let mut spec = StepSpec::new("MagpieGenerator", StepKind::Generator);
        spec.outputs = self.settings.outputs();
        spec
    }

    fn generate(&mut self, batch_size: usize) -> BoxFuture<'_, crate::Result<Option<Output>>> {
        let rows = batch_size.min(self.num_rows.saturating_sub(self.emitted));
        self.emitted += rows;
        Box::pin(async move {
            if rows == 0 {
                return Ok(None);
            }
            let systems = vec![self.settings.system_prompt.clone(); rows];
            let mut output = self.settings.rows(systems).await?;
            output.rows = crate::step::Rows::New(rows);
            Ok(Some(output))
        })
    }

    fn prepare(&mut self) -> BoxFuture<'_, crate::Result<()>> {
        let checked = self.settings.check();
        Box::pin(async move { checked })
    }

    fn start(&mut self) -> BoxFuture<'_, crate::Result<()>> {
        self.emitted = 0;
        Box::pin(async { Ok(()) })
    }

    /// Seeks (its rows do not depend on their position): a resumed run sends no request for
    /// the rows it replays.
    fn skip(&mut self, rows: usize, _batch_size: usize) -> BoxFuture<'_, crate::Result<()>> {
        let left = self.num_rows.saturating_sub(self.emitted);
        let skipped = if rows > left {
            Err(crate::Error::msg(format!(
                "an earlier run generated {rows} rows where this one generates {left}"
            )))
        } else {
            self.emitted += rows;
            Ok(())
        };
        Box::pin(async move { skipped })
    }

    fn attach(&mut self, run: &RunContext) {
        self.settings.llm.attach(run);
    }

    /// Its batches are kept: a resumed run replays them and generates from the row reached.
    fn persists(&self) -> bool {
        true
    }

    fn params(&self) -> Vec<(String, Value)> {
        let mut params = vec![("num_rows".to_owned(), Value::from(self.num_rows))];
        params.extend(self.settings.params());
        params
    }

    fn set_param(&mut self, name: &str, value: Value) -> Result<(), String> {
        if name == "num_rows" {
            self.num_rows = value
                .as_u64()
                .ok_or_else(|| format!("`num_rows` takes a whole number, not {value}"))?
                as usize;
            return Ok(());
        }
        self.settings.set_param(name, value).map_err(|e| {
            e.unwrap_or_else(|| {
                let known = self.params();
                let known: Vec<&str> = known.iter().map(|(n, _)| n.as_str()).collect();
                crate::step::params::unknown_param(name, &known)
            })
        })
    }

    fn describe(&self) -> Option<Value> {
        Some(self.settings.describe())
    }

    fn llm_in_use(&self) -> Option<Arc<dyn Llm>> {
        Some(self.settings.llm.llm().clone())
    }

    fn report(&self) -> Option<String> {
        self.settings.report()
    }
}
