// A tuple struct has no column names.
use distil::prelude::*;

#[derive(Row)]
struct Prompt(String);

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
    let _load = distil::steps::LoadDataFromDicts::new(vec![Prompt("hi".into())]);
}
