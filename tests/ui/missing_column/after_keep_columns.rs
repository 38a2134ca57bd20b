// KeepColumns with a literal list is checked like a typed step: a column it does not find is an
// error on it, and a column it drops is missing below it.
use distil::prelude::*;
use distil::steps::{KeepColumns, LoadDataFromDicts};

#[derive(Row)]
struct Prompt {
    prompt: String,
    extra: u64,
}

#[derive(Row)]
struct Doubled {
    doubled: u64,
}

#[step]
fn double(extra: u64) -> Doubled {
    Doubled { doubled: extra * 2 }
}

fn main() {
    let _pipeline = pipeline! {
        load = LoadDataFromDicts::<Prompt>::new(vec![]),
        keep = KeepColumns::new(["prompt", "promt"]),
        double = Double::new(),
        load >> keep >> double,
    };
}
