// `#[task(structured)]` asks the LLM for the schema of the row `format_output` returns: a row
// without `JsonSchema` is told where.
use distil::prelude::*;
use distil::tasks::TaskLlm;

#[derive(Row)]
struct Verdict {
    correct: bool,
}

#[derive(Clone)]
struct Grade {
    llm: TaskLlm,
}

#[task(structured)]
impl Grade {
    fn format_input(&self, instruction: &str) -> String {
        format!("Grade: {instruction}")
    }

    fn format_output(&self, generation: &str) -> Verdict {
        Verdict {
            correct: generation.contains("yes"),
        }
    }
}

fn main() {}
