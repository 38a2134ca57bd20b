// A #[task] impl with several mistakes reports each, at once; the pipeline using the task then
// reports nothing more.
use distil::prelude::*;
use distil::steps::LoadDataFromDicts;
use distil::tasks::TaskLlm;

#[derive(Row)]
struct Loaded {
    instruction: String,
}

#[derive(Row)]
struct Rating {
    rating: u8,
}

#[derive(Clone)]
struct Rate {
    llm: TaskLlm,
}

#[task]
impl Rate {
    fn format_input(&mut self, instruction: &str) -> String {
        instruction.to_owned()
    }
    fn format_output(&self, generation: String) -> Rating {
        Rating {
            rating: generation.len() as u8,
        }
    }
    fn parse_rating(&self, text: &str) -> u8 {
        text.len() as u8
    }
}

#[derive(Clone)]
struct Summarize {
    llm: TaskLlm,
}

#[task]
impl Summarize {
    fn format_inputs(&self, text: &str) -> String {
        text.to_owned()
    }
}

fn main() {
    let _pipeline = pipeline! {
        load = LoadDataFromDicts::<Loaded>::new(vec![]),
        rate = Rate { llm: TaskLlm::new(NoLlm) }.temperature(0.5),
        summarize = Summarize { llm: TaskLlm::new(NoLlm) },
        load >> [rate, summarize],
    };
}

struct NoLlm;

impl distil::llm::Llm for NoLlm {
    fn model_name(&self) -> &str {
        "none"
    }
    fn generate<'a>(
        &'a self,
        _: &'a distil::llm::Prompt,
        _: &'a distil::llm::GenerationParams,
    ) -> distil::step::BoxFuture<'a, Result<distil::llm::Generations, distil::llm::LlmError>> {
        Box::pin(async { Err(distil::llm::LlmError::fatal("no LLM")) })
    }
}
