// A step named like its output row: the two types would clash.
use distil::prelude::*;
use distil::steps::LoadDataFromDicts;

#[derive(Row)]
struct Prompt {
    instruction: String,
}

#[derive(Row)]
struct Shout {
    shout: String,
}

#[step]
fn shout(instruction: &str) -> Shout {
    Shout {
        shout: instruction.to_uppercase(),
    }
}

fn main() {
    let _pipeline = pipeline! {
        load = LoadDataFromDicts::<Prompt>::new(vec![]),
        loud = Shout::new(),
        load >> loud,
    };
}
