// With `group_generations(true)` each output of the task is a list per row: `generation` is
// no longer a `String`.
use distil::llm::{Generation, GenerationParams, Generations, Llm, LlmError, Prompt};
use distil::prelude::*;
use distil::step::BoxFuture;
use distil::steps::LoadDataFromDicts;
use distil::tasks::TextGeneration;

struct Echo;

impl Llm for Echo {
    fn model_name(&self) -> &str {
        "echo"
    }
    fn generate<'a>(
        &'a self,
        prompt: &'a Prompt,
        _: &'a GenerationParams,
    ) -> BoxFuture<'a, Result<Generations, LlmError>> {
        let text = prompt.last_user_text().to_owned();
        Box::pin(async move { Ok(Generations::one(Generation::text(text))) })
    }
}

#[derive(Row)]
struct Loaded {
    instruction: String,
}

#[derive(Row)]
struct Count {
    count: u64,
}

#[step]
fn count_drafts(generation: String) -> Count {
    Count {
        count: generation.len() as u64,
    }
}

fn main() {
    let _pipeline = pipeline! {
        load = LoadDataFromDicts::<Loaded>::new(vec![]),
        drafts = TextGeneration::new(Echo).num_generations(3).group_generations(true),
        count = CountDrafts::new(),
        load >> drafts >> count,
    };
}
