// GroupColumns typed at compile time: its lists under the names `output_columns` gives, read as
// `Vec<Option<_>>` (a branch that failed on a row gives null).
use distil::prelude::*;
use distil::steps::{GroupColumns, LoadDataFromDicts};

#[derive(Row)]
struct Prompt {
    instruction: String,
}

#[derive(Row)]
struct Generated {
    generation: String,
}

#[step]
fn short(instruction: &str) -> Generated {
    Generated {
        generation: instruction.to_owned(),
    }
}

#[step]
fn long(instruction: &str) -> Generated {
    Generated {
        generation: instruction.repeat(2),
    }
}

#[derive(Row)]
struct Best {
    best: String,
}

#[step]
fn pick(grouped_generation: Vec<Option<String>>, lengths: Vec<Option<u64>>) -> Best {
    Best {
        best: format!("{grouped_generation:?} {lengths:?}"),
    }
}

#[derive(Row)]
struct Length {
    length: u64,
}

#[step]
fn measure(instruction: &str) -> Length {
    Length {
        length: instruction.len() as u64,
    }
}

fn main() {
    let _pipeline = pipeline! {
        load = LoadDataFromDicts::<Prompt>::new(vec![]),
        short = Short::new(),
        long = Long::new(),
        measure = Measure::new(),
        group = GroupColumns::new(["generation", "length"]).output_columns(["grouped_generation", "lengths"]),
        pick = Pick::new(),
        load >> measure >> [short, long] >> group >> pick,
    };
}
