// GroupColumns gathers `generation` from two branches; a branch that failed on a row gives
// null, so the list is `Vec<Option<String>>`, not `Vec<String>`.
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
fn pick(grouped_generation: Vec<String>) -> Best {
    Best {
        best: grouped_generation.concat(),
    }
}

fn main() {
    let _pipeline = pipeline! {
        load = LoadDataFromDicts::<Prompt>::new(vec![]),
        short = Short::new(),
        long = Long::new(),
        group = GroupColumns::new(["generation"]),
        pick = Pick::new(),
        load >> [short, long] >> group >> pick,
    };
}
