// A #[task] struct keeps its LLM in a field `llm: TaskLlm`: told once, at the type.
use distil::prelude::*;

#[derive(Row)]
struct Verdict {
    verdict: String,
}

#[derive(Clone)]
struct Judge {
    model: String,
}

#[task]
impl Judge {
    fn format_input(&self, instruction: &str) -> String {
        format!("{}: {instruction}", self.model)
    }
    fn format_output(&self, generation: &str) -> Verdict {
        Verdict {
            verdict: generation.to_owned(),
        }
    }
}

fn main() {}
