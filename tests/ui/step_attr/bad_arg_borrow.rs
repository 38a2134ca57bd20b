// A borrow the cell cannot lend: `&String` (a string column is borrowed as `&str`).
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
fn word_count(instruction: &String) -> Words {
    Words {
        words: instruction.len() as u64,
    }
}

fn main() {
    let _pipeline = pipeline! {
        load = LoadDataFromDicts::<Prompt>::new(vec![]),
        count = WordCount::new(),
        load >> count,
    };
}
