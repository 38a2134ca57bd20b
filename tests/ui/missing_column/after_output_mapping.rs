// The loader renames `prompt` to `instruction`, so a later step can no longer read `prompt`.
use distil::prelude::*;
use distil::steps::LoadDataFromDicts;

#[derive(Row)]
struct Prompt {
    prompt: String,
}

#[derive(Row)]
struct Words {
    words: u64,
}

#[derive(Row)]
struct Upper {
    upper: String,
}

#[step]
fn word_count(instruction: &str) -> Words {
    Words {
        words: instruction.split_whitespace().count() as u64,
    }
}

#[step]
fn shout(prompt: &str, words: u64) -> Upper {
    Upper {
        upper: prompt.repeat(words as usize).to_uppercase(),
    }
}

fn main() {
    let _pipeline = pipeline! {
        load = LoadDataFromDicts::<Prompt>::new(vec![]),
            outputs { prompt => instruction },
        count = WordCount::new(),
        loud = Shout::new(),
        load >> count >> loud,
    };
}
