// A batch step takes each column as a `Vec`.
use distil::prelude::*;
use distil::steps::LoadDataFromDicts;

#[derive(Row)]
struct Prompt {
    instruction: String,
}

#[derive(Row)]
struct Words {
    words: u64,
}

#[step(batch)]
fn word_count(instruction: String) -> Vec<Words> {
    vec![Words {
        words: instruction.split_whitespace().count() as u64,
    }]
}

fn main() {
    let _pipeline = pipeline! {
        load = LoadDataFromDicts::<Prompt>::new(vec![]),
        count = WordCount::new(),
        load >> count,
    };
}
