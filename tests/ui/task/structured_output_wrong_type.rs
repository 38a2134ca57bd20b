// The columns of StructuredGeneration's typed answer have types: a step below reads its
// `score: u8` as a string.
use distil::llm::{Generation, GenerationParams, Generations, Llm, LlmError, Prompt};
use distil::prelude::*;
use distil::step::BoxFuture;
use distil::steps::LoadDataFromDicts;
use distil::tasks::StructuredGeneration;
use schemars::JsonSchema;
use serde::Deserialize;

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

#[derive(Row, Deserialize, JsonSchema)]
struct Review {
    score: u8,
    comment: Option<String>,
}

#[derive(Row)]
struct Labeled {
    label: String,
}

#[step]
fn label(score: &str, comment: Option<&str>) -> Labeled {
    Labeled {
        label: format!("{score} {comment:?}"),
    }
}

fn main() {
    let _pipeline = pipeline! {
        load = LoadDataFromDicts::<Loaded>::new(vec![]),
        review = StructuredGeneration::<Review>::new(Echo),
        label = Label::new(),
        load >> review >> label,
    };
}
