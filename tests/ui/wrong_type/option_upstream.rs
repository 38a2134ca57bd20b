// Upstream produces an optional column; the step needs a value in every row.
use distil::prelude::*;
use distil::steps::LoadDataFromDicts;

#[derive(Row)]
struct Prompt {
    system_prompt: Option<String>,
}

#[derive(Row)]
struct Len {
    len: u64,
}

#[step]
fn length(system_prompt: &str) -> Len {
    Len {
        len: system_prompt.len() as u64,
    }
}

fn main() {
    let _pipeline = pipeline! {
        load = LoadDataFromDicts::<Prompt>::new(vec![]),
        len = Length::new(),
        load >> len,
    };
}
