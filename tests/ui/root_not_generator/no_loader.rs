// A pipeline starts with a step that needs rows.
use distil::prelude::*;

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
        first = WordCount::new(),
        second = WordCount::new(),
        first >> second,
    };
}
