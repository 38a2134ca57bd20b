// Upstream produces `words` as a `String`; the step reads it as a `u64`.
use distil::prelude::*;
use distil::steps::LoadDataFromDicts;

#[derive(Row)]
struct Prompt {
    instruction: String,
    words: String,
}

#[derive(Row)]
struct Long {
    long: bool,
}

#[step]
fn is_long(words: u64) -> Long {
    Long { long: words > 10 }
}

fn main() {
    let _pipeline = pipeline! {
        load = LoadDataFromDicts::<Prompt>::new(vec![]),
        long = IsLong::new(),
        load >> long,
    };
}
