//! Tasks: steps whose work is an LLM call per row. A task says how a row becomes a prompt
//! ([`Task::format_input`]) and how a generation becomes its output columns
//! ([`Task::format_output`]); the runtime does the rest: it keeps the LLM's
//! `max_concurrency` requests in flight across batch boundaries, adds the `model_name` column,
//! and records each row's raw input, raw output, token counts and error in its metadata
//! (`raw_input_<step>`, `raw_output_<step>`, `statistics_<step>`, `errors`), next to what
//! upstream steps put there.
//!
//! Built in: [`TextGeneration`] (a template over columns), [`ChatGeneration`] (a
//! conversation column) and, with the feature `structured`, `StructuredGeneration` (a template
//! over columns in, the columns of a typed answer out). Write your own with `#[task]`.
//!
//! The catalogue, with distilabel's columns: judges ([`UltraFeedback`], [`PrometheusEval`],
//! [`QualityScorer`], [`ComplexityScorer`], [`InstructionBacktranslation`]), instruction
//! writers ([`EvolInstruct`], [`EvolComplexity`], [`EvolQuality`], [`SelfInstruct`],
//! [`Genstruct`], and the generators [`EvolInstructGenerator`], [`EvolComplexityGenerator`],
//! [`MagpieGenerator`]),
//! [`Magpie`], [`Urial`] (base models), [`Clair`] (minimal revisions),
//! [`TextClassification`], [`GenerateSentencePair`], [`PooledGeneration`] (several LLMs) and
//! [`GenerateEmbeddings`]. Each parser fails only the row it cannot read, keeping the raw
//! output.

mod backtranslation;
mod chat_generation;
mod clair;
mod embeddings;
mod evol;
mod evol_generator;
pub(crate) mod expansion;
mod genstruct;
mod magpie;
mod parsing;
mod pooled;
mod prometheus;
mod runner;
mod scorers;
mod self_instruct;
mod sentence_pair;
#[cfg(feature = "structured")]
mod structured_generation;
mod template;
#[cfg(test)]
mod test_support;
mod text_classification;
mod text_generation;
mod ultrafeedback;
mod urial;

pub use backtranslation::InstructionBacktranslation;
pub use chat_generation::ChatGeneration;
pub use clair::Clair;
pub use embeddings::GenerateEmbeddings;
pub use evol::{EvolComplexity, EvolInstruct, EvolQuality};
pub use evol_generator::{EvolComplexityGenerator, EvolInstructGenerator};
pub use genstruct::Genstruct;
pub use magpie::{Magpie, MagpieGenerator};
pub use pooled::PooledGeneration;
pub use prometheus::{PrometheusEval, PrometheusMode, RUBRICS};
pub use scorers::{ComplexityScorer, QualityScorer};
pub use self_instruct::SelfInstruct;
pub use sentence_pair::{GenerateSentencePair, SentencePairAction};
#[cfg(feature = "structured")]
pub use structured_generation::StructuredGeneration;
pub use text_classification::TextClassification;
pub use text_generation::{Instruction, TextGeneration};
pub use ultrafeedback::{Aspect, UltraFeedback};
pub use urial::Urial;

use std::sync::Arc;

use crate::llm::{GenerationParams, Llm, Prompt};
use crate::step::{Input, StepSpec};
use crate::{Error, Value};

/// The column every task adds: the model that generated the row.
pub const MODEL_NAME_COLUMN: &str = "model_name";

/// How a task turns rows into prompts and generations into columns. `#[task]` implements it;
/// the built-in tasks implement it by hand. A task also implements [`Step`](crate::Step)
/// through [`task_step!`](crate::task_step).
pub trait Task: Clone + Send + Sync + 'static {
    /// The task's columns: its inputs, and the outputs [`format_output`](Task::format_output)
    /// fills (the runtime adds `model_name`).
    fn spec(&self) -> StepSpec;

    /// The task's LLM and its settings.
    fn llm(&self) -> &TaskLlm;

    /// The task's LLM and its settings, to change.
    fn llm_mut(&mut self) -> &mut TaskLlm;

    /// Row `row` of `input` as a prompt. An error fails the row (no request is sent).
    fn format_input(&self, input: &Input<'_>, row: usize) -> Result<Prompt, String>;

    /// A generation for row `row` as the output cells, one per output column of
    /// [`spec`](Task::spec), in order. An error fails the row, which keeps the raw output in its
    /// metadata.
    fn format_output(
        &self,
        input: &Input<'_>,
        row: usize,
        generation: &str,
    ) -> Result<Vec<Value>, String>;

    /// Checked before any row of a run (a template that does not parse, a column it names that
    /// the task does not read).
    fn check(&self) -> Result<(), String> {
        Ok(())
    }

    /// The JSON schema the task's generations follow (structured output), as
    /// [`GenerationParams::response_format`] holds it: `{"name": .., "schema": ..}`. Requests
    /// use it unless the task's own parameters set a `response_format` (it takes precedence over
    /// the LLM's). `StructuredGeneration` and `#[task(structured)]` return their output row's
    /// (see `distil::llm::structured::response_format`); the default is none.
    fn response_format(&self) -> Option<Value> {
        None
    }

    /// What `pipeline.yaml` records of the task's own settings beside its LLM and runtime
    /// parameters (a template): also part of its cache signature, so a changed setting computes
    /// the task again. Entries named like secrets are left out.
    fn description(&self) -> Option<Value> {
        None
    }

    /// The task's own runtime parameters (the LLM's generation parameters are added).
    fn task_params(&self) -> Vec<(String, Value)> {
        Vec::new()
    }

    /// Sets one of the task's own runtime parameters; `Err(None)` when it has no such one.
    fn set_task_param(&mut self, name: &str, value: Value) -> Result<(), Option<String>> {
        let _ = (name, value);
        Err(None)
    }
}

/// A task's LLM and how it is called: generation parameters (over the LLM's own),
/// `num_generations` and `group_generations` as in distilabel.
#[derive(Clone)]
pub struct TaskLlm {
    llm: Arc<dyn Llm>,
    /// The user's LLM while `llm` is it behind a run's response cache.
    uncached: Option<Arc<dyn Llm>>,
    params: GenerationParams,
    num_generations: usize,
    group_generations: bool,
}

impl std::fmt::Debug for TaskLlm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TaskLlm")
            .field("llm", &self.llm.describe())
            .field("params", &self.params)
            .field("num_generations", &self.num_generations)
            .field("group_generations", &self.group_generations)
            .finish()
    }
}

impl TaskLlm {
    /// One generation per row with `llm`.
    pub fn new(llm: impl Llm) -> Self {
        TaskLlm {
            llm: Arc::new(llm),
            uncached: None,
            params: GenerationParams::default(),
            num_generations: 1,
            group_generations: false,
        }
    }

    /// The LLM.
    pub fn llm(&self) -> &Arc<dyn Llm> {
        &self.llm
    }

    /// Puts the LLM behind the run's response cache (each run anew, never one cache over
    /// another).
    pub fn attach(&mut self, run: &crate::step::RunContext) {
        let own = self.uncached.take().unwrap_or_else(|| self.llm.clone());
        self.llm = run.cached_llm(own.clone());
        if !Arc::ptr_eq(&self.llm, &own) {
            self.uncached = Some(own);
        }
    }

    /// The task's generation parameters (over the LLM's own).
    pub fn params(&self) -> &GenerationParams {
        &self.params
    }

    /// The task's generation parameters, to change.
    pub fn params_mut(&mut self) -> &mut GenerationParams {
        &mut self.params
    }

    /// Generations per row.
    pub fn num_generations(&self) -> usize {
        self.num_generations
    }

    /// Whether a row's generations stay in one row as lists.
    pub fn group_generations(&self) -> bool {
        self.group_generations
    }

    /// Sets the generations per row (at least 1).
    pub fn set_num_generations(&mut self, n: usize) {
        self.num_generations = n.max(1);
    }

    /// Keeps a row's generations in one row, each output column a list (`true`), or emits one
    /// row per generation (`false`, the default).
    pub fn set_group_generations(&mut self, group: bool) {
        self.group_generations = group;
    }

    /// The parameters a request uses: the task's over the LLM's.
    pub(crate) fn effective_params(&self) -> GenerationParams {
        self.params.merged_over(&self.llm.params())
    }
}

/// The parameters a task's requests use: the task's own, then its
/// [`response_format`](Task::response_format) when they set none, over the LLM's.
pub(crate) fn effective_params<T: Task>(task: &T) -> GenerationParams {
    let settings = task.llm();
    if settings.params.response_format.is_some() {
        return settings.effective_params();
    }
    match task.response_format() {
        Some(format) => {
            let mut own = settings.params.clone();
            own.response_format = Some(format);
            own.merged_over(&settings.llm.params())
        }
        None => settings.effective_params(),
    }
}

/// Builder methods every task shares: generation parameters and generation counts. The
/// built-in tasks and the ones `#[task]` makes get them from here.
#[doc(hidden)]
#[macro_export]
macro_rules! __task_builders {
    ($ty:ty) => {
        $crate::__task_builders!(impl [] $ty);
    };
    ($ty:ty, $param:ident) => {
        $crate::__task_builders!(impl [$param: $crate::Row] $ty);
    };
    (impl [$($generics:tt)*] $ty:ty) => {
        // A user's task type may be private and use only some of them.
        #[allow(dead_code)]
        impl<$($generics)*> $ty {
            /// Sampling temperature.
            #[must_use]
            pub fn temperature(mut self, temperature: f64) -> Self {
                $crate::tasks::Task::llm_mut(&mut self)
                    .params_mut()
                    .temperature = ::std::option::Option::Some(temperature);
                self
            }

            /// Tokens to generate at most per generation.
            #[must_use]
            pub fn max_new_tokens(mut self, tokens: u64) -> Self {
                $crate::tasks::Task::llm_mut(&mut self)
                    .params_mut()
                    .max_new_tokens = ::std::option::Option::Some(tokens);
                self
            }

            /// Generation parameters, over the LLM's own.
            #[must_use]
            pub fn params(mut self, params: $crate::llm::GenerationParams) -> Self {
                *$crate::tasks::Task::llm_mut(&mut self).params_mut() = params;
                self
            }

            /// Generations per row: `n` rows per input row, or one row of lists with
            /// [`group_generations`](Self::group_generations).
            #[must_use]
            pub fn num_generations(mut self, n: usize) -> Self {
                $crate::tasks::Task::llm_mut(&mut self).set_num_generations(n);
                self
            }

            /// Keeps a row's generations in one row: each output column becomes a list.
            #[must_use]
            pub fn group_generations(mut self, group: bool) -> Self {
                $crate::tasks::Task::llm_mut(&mut self).set_group_generations(group);
                self
            }
        }
    };
}

/// Implements [`Step`](crate::Step) for a [`Task`]: its spec with `model_name`, its runtime
/// parameters, the LLM's checks before the run, and concurrent processing. `#[task]` emits
/// it; write it after a hand-written `impl Task`.
#[macro_export]
macro_rules! task_step {
    (impl<$($param:ident : $bound:path),*> for $ty:ty) => {
        $crate::task_step!(@impl [$($param: $bound),*] $ty);
    };
    ($ty:ty) => {
        $crate::task_step!(@impl [] $ty);
    };
    (@impl [$($generics:tt)*] $ty:ty) => {
        impl<$($generics)*> $crate::Step for $ty {
            fn spec(&self) -> $crate::step::StepSpec {
                $crate::__private0::tasks::spec(self)
            }
            fn process<'a>(
                &'a mut self,
                input: $crate::step::Input<'a>,
            ) -> $crate::step::BoxFuture<'a, $crate::Result<$crate::step::Output>> {
                $crate::__private0::tasks::process(self, input)
            }
            fn prepare(&mut self) -> $crate::step::BoxFuture<'_, $crate::Result<()>> {
                $crate::__private0::tasks::prepare(self)
            }
            fn attach(&mut self, run: &$crate::step::RunContext) {
                $crate::tasks::Task::llm_mut(self).attach(run)
            }
            fn persists(&self) -> bool {
                true
            }
            fn replay_digest(&self, input: $crate::step::Input<'_>) -> ::std::option::Option<[u8; 32]> {
                ::std::option::Option::Some($crate::tasks::prompt_digest(self, &input))
            }
            fn concurrent(&mut self) -> ::std::option::Option<$crate::step::Concurrent> {
                ::std::option::Option::Some($crate::__private0::tasks::concurrent(self))
            }
            fn report(&self) -> ::std::option::Option<::std::string::String> {
                $crate::__private0::tasks::report(self)
            }
            fn llm_in_use(
                &self,
            ) -> ::std::option::Option<::std::sync::Arc<dyn $crate::llm::Llm>> {
                ::std::option::Option::Some($crate::tasks::Task::llm(self).llm().clone())
            }
            fn status(&self) -> ::std::option::Option<$crate::step::Status> {
                $crate::__private0::tasks::status(self)
            }
            fn describe(&self) -> ::std::option::Option<$crate::Value> {
                $crate::tasks::describe(self)
            }
            fn params(&self) -> ::std::vec::Vec<(::std::string::String, $crate::Value)> {
                $crate::__private0::tasks::params(self)
            }
            fn set_param(
                &mut self,
                name: &str,
                value: $crate::Value,
            ) -> ::std::result::Result<(), ::std::string::String> {
                $crate::__private0::tasks::set_param(self, name, value)
            }
        }
    };
}

/// Every built-in task with the constructor that rebuilds it from a pipeline file.
pub(crate) fn constructors() -> Vec<crate::step::Builtin> {
    vec![
        ("TextGeneration", TextGeneration::from_settings),
        ("ChatGeneration", |s| {
            Ok(Box::new(ChatGeneration::new(s.llm("llm")?)))
        }),
        ("UltraFeedback", |s| {
            Ok(Box::new(UltraFeedback::new(s.llm("llm")?)))
        }),
        ("EvolInstruct", |s| {
            Ok(Box::new(EvolInstruct::new(s.llm("llm")?)))
        }),
        ("EvolComplexity", |s| {
            Ok(Box::new(EvolComplexity::new(s.llm("llm")?)))
        }),
        ("EvolQuality", EvolQuality::from_settings),
        ("QualityScorer", |s| {
            Ok(Box::new(QualityScorer::new(s.llm("llm")?)))
        }),
        ("ComplexityScorer", |s| {
            Ok(Box::new(ComplexityScorer::new(s.llm("llm")?)))
        }),
        ("SelfInstruct", SelfInstruct::from_settings),
        ("PrometheusEval", PrometheusEval::from_settings),
        ("PooledGeneration", PooledGeneration::from_settings),
        ("InstructionBacktranslation", |s| {
            Ok(Box::new(InstructionBacktranslation::new(s.llm("llm")?)))
        }),
        ("GenerateSentencePair", GenerateSentencePair::from_settings),
        ("TextClassification", TextClassification::from_settings),
        ("Genstruct", |s| Ok(Box::new(Genstruct::new(s.llm("llm")?)))),
        ("URIAL", |s| Ok(Box::new(Urial::new(s.llm("llm")?)))),
        ("CLAIR", Clair::from_settings),
        (
            "EvolInstructGenerator",
            EvolInstructGenerator::from_settings,
        ),
        (
            "EvolComplexityGenerator",
            EvolComplexityGenerator::from_settings,
        ),
        ("Magpie", Magpie::from_settings),
        ("MagpieGenerator", MagpieGenerator::from_settings),
        ("GenerateEmbeddings", GenerateEmbeddings::from_settings),
    ]
}

/// A task's description: its LLM, then its own settings.
#[doc(hidden)]
pub fn describe<T: Task>(task: &T) -> Option<Value> {
    let mut described = runner::describe(task)?;
    if let (Value::Object(entries), Some(Value::Object(own))) = (&mut described, task.description())
    {
        entries.extend(own);
    }
    Some(described)
}

/// sha256 of the prompts `task` makes of `input`'s rows (a row it cannot format counts by
/// its error) with the parameters and generation count its requests use.
#[doc(hidden)]
pub fn prompt_digest<T: Task>(task: &T, input: &Input<'_>) -> [u8; 32] {
    use sha2::Digest;
    let mut hasher = sha2::Sha256::new();
    let params = effective_params(task);
    hasher.update(serde_json::to_vec(&params).unwrap_or_default());
    hasher.update((task.llm().num_generations() as u64).to_le_bytes());
    hasher.update([u8::from(task.llm().group_generations())]);
    for row in 0..input.len() {
        let text = match task.format_input(input, row) {
            Ok(prompt) => prompt.to_json(),
            Err(message) => serde_json::to_vec(&format!("error: {message}")).unwrap_or_default(),
        };
        hasher.update((text.len() as u64).to_le_bytes());
        hasher.update(&text);
    }
    hasher.finalize().into()
}

/// A fatal error of a task, named by the executor.
pub(crate) fn fatal(message: impl std::fmt::Display) -> Error {
    Error::fatal("", message)
}
