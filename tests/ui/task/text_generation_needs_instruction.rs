// TextGeneration::new reads `instruction`; the loader gives `prompt`: the error names the task,
// the column and its type, and suggests the mapping.
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
    prompt: String,
}

fn main() {
    let _pipeline = pipeline! {
        load = LoadDataFromDicts::<Loaded>::new(vec![]),
        generate = TextGeneration::new(Echo),
        load >> generate,
    };
}
