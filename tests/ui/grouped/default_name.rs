// GroupColumns names its output `grouped_<column>` unless told otherwise: `generations` is
// not there.
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
struct Count {
    count: u64,
}

#[step]
fn count_all(generations: Vec<Option<String>>) -> Count {
    Count {
        count: generations.len() as u64,
    }
}

fn main() {
    let _pipeline = pipeline! {
        load = LoadDataFromDicts::<Prompt>::new(vec![]),
        short = Short::new(),
        long = Long::new(),
        group = GroupColumns::new(["generation"]),
        count = CountAll::new(),
        load >> [short, long] >> group >> count,
    };
}
