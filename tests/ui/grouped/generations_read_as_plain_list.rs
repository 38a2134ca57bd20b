// The grouped generations, renamed, read as a list without nulls: a failed generation gives
// null, so the list is `Vec<Option<String>>`.
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
fn count_drafts(drafts: Vec<String>) -> Count {
    Count {
        count: drafts.len() as u64,
    }
}

fn main() {
    let _pipeline = pipeline! {
        load = LoadDataFromDicts::<Loaded>::new(vec![]),
        drafts = TextGeneration::new(Echo).num_generations(3).group_generations(true),
            outputs { generation => drafts },
        count = CountDrafts::new(),
        load >> drafts >> count,
    };
}
