// TextGeneration reads the columns of its input row with their types: the loader's `context`
// is a number, the row's a string.
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
    question: String,
    context: u64,
}

#[derive(Row)]
struct Question {
    question: String,
    context: String,
}

fn main() {
    let _pipeline = pipeline! {
        load = LoadDataFromDicts::<Loaded>::new(vec![]),
        answer = TextGeneration::<Question>::with_input(Echo).template("{{ context }}: {{ question }}"),
        load >> answer,
    };
}
