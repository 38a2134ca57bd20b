//! PooledGeneration: TextGeneration over an LLM pool, recording which member answered each row.

use super::text_generation::Instruction;
use super::{Task, TaskLlm, TextGeneration};
use crate::column::{ColumnSpec, DataType};
use crate::llm::{LlmPool, Prompt};
use crate::step::{Input, StepSpec};
use crate::{Value, task};

/// [`TextGeneration`] of each row's `instruction` with an [`LlmPool`]: outputs `generation`
/// and `generation_model`, the pool member that answered (the `model_name` column names the
/// pool). With `num_generations(n)` and `group_generations(true)`, a row gets `n` answers
/// from the pool's members and the list of who gave each: a preference dataset from one step.
#[derive(Clone)]
pub struct PooledGeneration {
    inner: TextGeneration<Instruction>,
    pool: LlmPool,
}

impl PooledGeneration {
    /// Generates from `instruction` with `pool`.
    pub fn new(pool: LlmPool) -> Self {
        PooledGeneration {
            inner: TextGeneration::new(pool.clone()),
            pool,
        }
    }

    /// The system message of every row.
    #[must_use]
    pub fn system_prompt(mut self, prompt: impl Into<String>) -> Self {
        self.inner = self.inner.system_prompt(prompt);
        self
    }
}

impl PooledGeneration {
    /// The task a pipeline file records: its pool (`provider: pool`, the strategy and each
    /// member as its own LLM records it).
    pub(crate) fn from_settings(
        settings: &crate::step::StepSettings<'_>,
    ) -> Result<Box<dyn crate::Step>, String> {
        let pool = settings.nested("llm")?;
        let pool = LlmPool::from_settings(&pool, &|member| settings.llm_from(member))?;
        Ok(Box::new(PooledGeneration::new(pool)))
    }
}

crate::__task_builders!(PooledGeneration);

#[task(dynamic)]
impl Task for PooledGeneration {
    fn spec(&self) -> StepSpec {
        let mut spec = Task::spec(&self.inner);
        spec.type_name = "PooledGeneration".into();
        spec.outputs
            .push(ColumnSpec::optional("generation_model", DataType::String));
        spec
    }

    fn llm(&self) -> &TaskLlm {
        self.inner.llm()
    }

    fn llm_mut(&mut self) -> &mut TaskLlm {
        self.inner.llm_mut()
    }

    fn format_input(&self, input: &Input<'_>, row: usize) -> Result<Prompt, String> {
        self.inner.format_input(input, row)
    }

    fn format_output(
        &self,
        input: &Input<'_>,
        row: usize,
        generation: &str,
    ) -> Result<Vec<Value>, String> {
        let mut cells = self.inner.format_output(input, row, generation)?;
        cells.push(
            self.pool
                .answered_by(generation)
                .map_or(Value::Null, Value::from),
        );
        Ok(cells)
    }

    fn check(&self) -> Result<(), String> {
        self.inner.check()
    }

    fn task_params(&self) -> Vec<(String, Value)> {
        self.inner.task_params()
    }

    fn set_task_param(&mut self, name: &str, value: Value) -> Result<(), Option<String>> {
        self.inner.set_task_param(name, value)
    }
}
