//! StructuredGeneration: a prompt from a template over columns, an answer in the JSON schema of
//! a Rust type, and that type's fields as the output columns.

use std::marker::PhantomData;

use schemars::JsonSchema;
use serde::de::DeserializeOwned;

use super::template::{RowPrompt, SystemPrompt};
use super::text_generation::Instruction;
use super::{MODEL_NAME_COLUMN, Task, TaskLlm};
use crate::llm::{Llm, Prompt, structured};
use crate::step::{Input, StepKind, StepSpec};
use crate::{Row, Value, task};

/// Generates a typed answer for each row: the prompt is made as
/// [`TextGeneration`](super::TextGeneration)'s (the row's `instruction`, or a Jinja
/// [`template`](StructuredGeneration::template) over the columns of the input row `I`, and a
/// system message), the request asks for the JSON schema of `O` (`response_format`, see
/// [`structured`](crate::llm::structured)), and the answer, parsed into `O`, gives the output
/// columns: `O`'s fields, and `model_name`.
///
/// `O` is a `#[derive(Row)]` struct that also derives `serde::Deserialize` and
/// `schemars::JsonSchema`; `pipeline!` checks its columns at compile time like any step's, from
/// the type argument written in the pipeline (`StructuredGeneration::<Answer>::new(llm)`; the
/// input row `I` comes second and defaults to [`Instruction`]). A generation that is not JSON,
/// or not an `O`, fails its row with an error saying which, and keeps the raw generation in
/// the row's metadata (`raw_output_<step>`).
///
/// ```no_run
/// use distil::llm::OpenAi;
/// use distil::prelude::*;
/// use distil::steps::LoadDataFromDicts;
/// use distil::tasks::StructuredGeneration;
/// use schemars::JsonSchema;
/// use serde::Deserialize;
///
/// #[derive(Row)]
/// struct Topic { topic: String, audience: String }
///
/// /// A quiz question.
/// #[derive(Row, Deserialize, JsonSchema)]
/// struct Quiz {
///     question: String,
///     /// Four choices.
///     choices: Vec<String>,
///     /// The index of the right choice.
///     answer: u8,
///     hint: Option<String>,
/// }
///
/// #[step]
/// fn check_answer(choices: Vec<String>, answer: u8) -> Option<Checked> {
///     ((answer as usize) < choices.len()).then_some(Checked { checked: true })
/// }
/// #[derive(Row)]
/// struct Checked { checked: bool }
///
/// let mut pipeline = pipeline! {
///     load = LoadDataFromDicts::<Topic>::new(vec![]),
///     quiz = StructuredGeneration::<Quiz, Topic>::with_input(OpenAi::new("gpt-4o-mini"))
///         .template("Write a quiz question on {{ topic }} for {{ audience }}.")
///         .temperature(0.7),
///     check = CheckAnswer::new(),
///     load >> quiz >> check,
/// };
/// ```
pub struct StructuredGeneration<O, I: Row = Instruction> {
    llm: TaskLlm,
    prompt: RowPrompt,
    /// `O`'s response format, made once.
    format: Value,
    rows: PhantomData<fn() -> (O, I)>,
}

impl<O, I: Row> Clone for StructuredGeneration<O, I> {
    fn clone(&self) -> Self {
        StructuredGeneration {
            llm: self.llm.clone(),
            prompt: self.prompt.clone(),
            format: self.format.clone(),
            rows: PhantomData,
        }
    }
}

impl<O: Row + DeserializeOwned + JsonSchema> StructuredGeneration<O, Instruction> {
    /// Answers each row's `instruction` with an `O`.
    pub fn new(llm: impl Llm) -> Self {
        Self::with_input(llm)
    }
}

impl<O: Row + DeserializeOwned + JsonSchema + Send + 'static> StructuredGeneration<O, Instruction> {
    /// The task a pipeline file records (its LLM, input columns and template), answering
    /// with an `O`: the output row is a Rust type, so a program that loads such a file
    /// registers this under `StructuredGeneration` for its own `O`.
    ///
    /// ```
    /// use distil::llm::structured::JsonSchema;
    /// use distil::pipeline::Registry;
    /// use distil::prelude::*;
    /// use distil::tasks::StructuredGeneration;
    ///
    /// #[derive(Row, serde::Deserialize, JsonSchema)]
    /// #[schemars(crate = "distil::llm::structured::schemars")]
    /// struct Answer { answer: String }
    ///
    /// let mut registry = Registry::new();
    /// registry.step("StructuredGeneration", StructuredGeneration::<Answer>::from_settings);
    /// ```
    pub fn from_settings(
        settings: &crate::step::StepSettings<'_>,
    ) -> Result<Box<dyn crate::Step>, String> {
        let mut task = Self::new(settings.llm("llm")?);
        task.prompt = RowPrompt::from_settings(settings)?;
        Ok(Box::new(task))
    }
}

impl<O: Row + DeserializeOwned + JsonSchema, I: Row> StructuredGeneration<O, I> {
    /// Answers with an `O` from the columns of `I` (set a
    /// [`template`](StructuredGeneration::template) when `I` has more than one column).
    pub fn with_input(llm: impl Llm) -> Self {
        StructuredGeneration {
            llm: TaskLlm::new(llm),
            prompt: RowPrompt::of::<I>(),
            format: structured::response_format::<O>(),
            rows: PhantomData,
        }
    }

    /// The user message as a Jinja template over the input columns (`{{ instruction }}`),
    /// checked before the run as [`TextGeneration::template`](super::TextGeneration::template)'s.
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

crate::__task_builders!(impl [O: Row + DeserializeOwned + JsonSchema, I: Row] StructuredGeneration<O, I>);

#[task(inputs = (I, SystemPrompt), outputs = O, default_inputs = Instruction)]
impl<O: Row + DeserializeOwned + JsonSchema, I: Row> Task for StructuredGeneration<O, I> {
    fn spec(&self) -> StepSpec {
        let mut spec = StepSpec::new("StructuredGeneration", StepKind::Normal);
        spec.inputs = self.prompt.inputs();
        spec.outputs = O::columns();
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
        let answer: O = structured::parse(generation)?;
        let mut columns: Vec<Vec<Value>> = (0..O::width()).map(|_| Vec::with_capacity(1)).collect();
        answer.write(&mut columns);
        Ok(columns
            .into_iter()
            .map(|mut c| c.pop().unwrap_or(Value::Null))
            .collect())
    }

    fn check(&self) -> Result<(), String> {
        if O::columns().iter().any(|c| c.name == MODEL_NAME_COLUMN) {
            return Err(format!(
                "the output row `{}` has a column `{MODEL_NAME_COLUMN}`, which every task adds (the model that generated the row); rename the field, e.g. `#[row(rename = \"judge_model\")]`",
                std::any::type_name::<O>()
            ));
        }
        self.prompt.check("StructuredGeneration")
    }

    fn response_format(&self) -> Option<Value> {
        Some(self.format.clone())
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

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;
    use crate::Step;
    use crate::batch::{Batch, Column};
    use crate::llm::{Generation, GenerationParams, Generations, LlmError};
    use crate::step::BoxFuture;

    /// Answers with the prompt's last user message, and remembers the response format asked.
    #[derive(Clone, Default)]
    struct Echo(std::sync::Arc<std::sync::Mutex<Vec<Option<Value>>>>);

    impl Llm for Echo {
        fn model_name(&self) -> &str {
            "echo"
        }
        fn generate<'a>(
            &'a self,
            prompt: &'a Prompt,
            params: &'a GenerationParams,
        ) -> BoxFuture<'a, Result<Generations, LlmError>> {
            self.0.lock().unwrap().push(params.response_format.clone());
            let text = prompt.last_user_text().to_owned();
            Box::pin(async move { Ok(Generations::one(Generation::text(text))) })
        }
    }

    #[derive(Row, Deserialize, JsonSchema)]
    #[allow(dead_code)]
    struct Answer {
        answer: String,
        confidence: Option<f64>,
    }

    #[test]
    fn the_spec_is_the_input_row_and_the_output_row() {
        let task = StructuredGeneration::<Answer>::new(Echo::default());
        let spec = Step::spec(&task);
        let names = |c: &[crate::ColumnSpec]| c.iter().map(|c| c.name.clone()).collect::<Vec<_>>();
        assert_eq!(names(&spec.inputs), ["instruction", "system_prompt"]);
        assert_eq!(names(&spec.outputs), ["answer", "confidence", "model_name"]);
        assert_eq!(task.response_format().unwrap()["name"], "Answer");
    }

    #[tokio::test]
    async fn answers_become_columns_and_bad_ones_row_errors() {
        let llm = Echo::default();
        let mut task = StructuredGeneration::<Answer>::new(llm.clone());
        let rows = [
            r#"{"answer": "4", "confidence": 0.9}"#,
            "four",
            r#"{"answer": 4}"#,
        ];
        let cells: Vec<Value> = rows.iter().map(|r| Value::from(*r)).collect();
        let ids = (0..rows.len() as u64).map(crate::RowId::new).collect();
        let batch = Batch::new(ids, vec![Column::new("instruction", cells, 0)], 3);
        let output = Step::process(&mut task, Input::new(&batch, &[]))
            .await
            .unwrap();
        let column = |name: &str| {
            output
                .columns
                .iter()
                .find(|c| c.name() == name)
                .map(|c| c.values().to_vec())
                .unwrap()
        };
        let answers = column("answer");
        assert_eq!(answers[0], "4");
        assert_eq!(column("confidence")[0], 0.9);
        assert_eq!(column("model_name")[2], "echo");
        assert!(answers[1].is_null() && answers[2].is_null());
        let errors: Vec<&str> = output.errors.iter().map(|(_, e)| e.as_str()).collect();
        assert!(errors[0].contains("not valid JSON"), "{errors:?}");
        assert!(errors[1].contains("does not match `Answer`"), "{errors:?}");
        let asked = llm.0.lock().unwrap().clone();
        assert!(
            asked
                .iter()
                .all(|f| f.as_ref().unwrap()["name"] == "Answer")
        );
    }
}
