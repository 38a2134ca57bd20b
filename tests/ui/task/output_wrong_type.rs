// A task's outputs have types: a step below reads the task's `rating: u8` as a string, and
// TextGeneration's `generation: String` as a number.
use distil::llm::{Generation, GenerationParams, Generations, Llm, LlmError, Prompt};
use distil::prelude::*;
use distil::step::BoxFuture;
use distil::steps::LoadDataFromDicts;
use distil::tasks::{TaskLlm, TextGeneration};

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
struct Rating {
    rating: u8,
}

#[derive(Clone)]
struct Rate {
    llm: TaskLlm,
}

#[task]
impl Rate {
    fn format_input(&self, instruction: &str) -> String {
        format!("Rate: {instruction}")
    }
    fn format_output(&self, generation: &str) -> Result<Rating, String> {
        generation
            .trim()
            .parse()
            .map(|rating| Rating { rating })
            .map_err(|e| format!("{e}"))
    }
}

#[derive(Row)]
struct Labeled {
    label: String,
}

#[step]
fn label(rating: &str, generation: u64) -> Labeled {
    Labeled {
        label: format!("{rating}/{generation}"),
    }
}

fn main() {
    let _pipeline = pipeline! {
        load = LoadDataFromDicts::<Loaded>::new(vec![]),
        generate = TextGeneration::new(Echo),
        rate = Rate { llm: TaskLlm::new(Echo) },
        label = Label::new(),
        load >> generate >> rate >> label,
    };
}
