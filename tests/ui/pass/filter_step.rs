// Filters: `bool` (keeps the row, no new column) and `Option<Row>` (keeps it with columns).
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
fn long_enough(instruction: &str, #[param(default = 3usize)] min_chars: usize) -> bool {
    instruction.len() >= min_chars
}

#[step]
fn multi_word(instruction: &str) -> Option<Words> {
    let words = instruction.split_whitespace().count() as u64;
    (words > 1).then_some(Words { words })
}

fn main() {
    let pipeline = pipeline! {
        load = LoadDataFromDicts::<Prompt>::new(vec![]),
        long = LongEnough::new(),
        multi = MultiWord::new(),
        load >> long >> multi,
    };
    pipeline.validate().unwrap();
}
