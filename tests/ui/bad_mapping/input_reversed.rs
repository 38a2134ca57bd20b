// An input mapping written upstream-first.
use distil::prelude::*;
use distil::steps::LoadDataFromDicts;

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

#[derive(Row)]
struct Source {
    prompt: String,
}

fn main() {
    let _pipeline = pipeline! {
        load = LoadDataFromDicts::<Source>::new(vec![]),
        count = WordCount::new(),
            inputs { prompt => instruction },
        load >> count,
    };
}
