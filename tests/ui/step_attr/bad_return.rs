// A step returns a plain `String`: its outputs must be a #[derive(Row)] struct. The pipeline
// using the step reports nothing more.
use distil::prelude::*;
use distil::steps::LoadDataFromDicts;

#[derive(Row)]
struct Prompt {
    instruction: String,
}

#[step]
fn upper(instruction: &str) -> String {
    instruction.to_uppercase()
}

fn main() {
    let _pipeline = pipeline! {
        load = LoadDataFromDicts::<Prompt>::new(vec![]),
        up = Upper::new(),
        load >> up,
    };
}
