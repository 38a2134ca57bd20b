// One output name for two grouped columns.
use distil::prelude::*;
use distil::steps::{GroupColumns, LoadDataFromDicts};

#[derive(Row)]
struct Prompt {
    instruction: String,
}

#[derive(Row)]
struct Generated {
    generation: String,
    model: String,
}

#[step]
fn short(instruction: &str) -> Generated {
    Generated {
        generation: instruction.to_owned(),
        model: "a".into(),
    }
}

#[step]
fn long(instruction: &str) -> Generated {
    Generated {
        generation: instruction.repeat(2),
        model: "b".into(),
    }
}

fn main() {
    let _pipeline = pipeline! {
        load = LoadDataFromDicts::<Prompt>::new(vec![]),
        short = Short::new(),
        long = Long::new(),
        group = GroupColumns::new(["generation", "model"]).output_columns(["generations"]),
        load >> [short, long] >> group,
    };
}
