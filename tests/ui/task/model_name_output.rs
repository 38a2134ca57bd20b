// Every task adds `model_name`: an output row with that column is told so, and the field
// renamed.
use distil::prelude::*;
use distil::tasks::TaskLlm;

#[derive(Row)]
struct Judged {
    verdict: String,
    model_name: String,
}

#[derive(Clone)]
struct Judge {
    llm: TaskLlm,
}

#[task]
impl Judge {
    fn format_input(&self, instruction: &str) -> String {
        instruction.to_owned()
    }
    fn format_output(&self, generation: &str) -> Judged {
        Judged {
            verdict: generation.to_owned(),
            model_name: String::new(),
        }
    }
}

fn main() {}
