// A step with two inputs; the mapping of one is the wrong way round.
use distil::prelude::*;
use distil::steps::LoadDataFromDicts;

#[derive(Row)]
struct Words {
    words: u64,
}

#[step]
fn word_count(instruction: &str, separator: &str) -> Words {
    Words {
        words: instruction.split(separator).count() as u64,
    }
}

#[derive(Row)]
struct Source {
    instruction: String,
    sep: String,
}

fn main() {
    let _pipeline = pipeline! {
        load = LoadDataFromDicts::<Source>::new(vec![]),
        count = WordCount::new(),
            inputs { sep => separator },
        load >> count,
    };
}
