// A step fed by two loaders: their rows do not share ids, so they cannot be joined.
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

#[step]
fn word_count(instruction: &str) -> Words {
    Words {
        words: instruction.split_whitespace().count() as u64,
    }
}

fn main() {
    let _pipeline = pipeline! {
        left = LoadDataFromDicts::<Prompt>::new(vec![]),
        right = LoadDataFromDicts::<Prompt>::new(vec![]),
        count = WordCount::new(),
        [left, right] >> count,
    };
}
