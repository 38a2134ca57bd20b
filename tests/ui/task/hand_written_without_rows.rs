// A hand-written `impl Task` says which rows give its columns, or that they are dynamic.
use distil::llm::Prompt;
use distil::prelude::*;
use distil::step::{Input, StepKind, StepSpec};
use distil::tasks::{Task, TaskLlm};

#[derive(Clone)]
struct Shout {
    llm: TaskLlm,
}

#[task]
impl Task for Shout {
    fn spec(&self) -> StepSpec {
        StepSpec::new("Shout", StepKind::Normal)
    }
    fn llm(&self) -> &TaskLlm {
        &self.llm
    }
    fn llm_mut(&mut self) -> &mut TaskLlm {
        &mut self.llm
    }
    fn format_input(&self, _: &Input<'_>, _: usize) -> Result<Prompt, String> {
        Ok("SHOUT".into())
    }
    fn format_output(&self, _: &Input<'_>, _: usize, _: &str) -> Result<Vec<Value>, String> {
        Ok(Vec::new())
    }
}

fn main() {}
