// A step function cannot be generic: its columns need fixed types.
use distil::prelude::*;
use distil::steps::LoadDataFromDicts;

#[derive(Row)]
struct Prompt {
    instruction: String,
}

#[derive(Row)]
struct Text {
    text: String,
}

#[step]
fn render<T: ToString>(instruction: T) -> Text {
    Text {
        text: instruction.to_string(),
    }
}

fn main() {
    let _pipeline = pipeline! {
        load = LoadDataFromDicts::<Prompt>::new(vec![]),
        render = Render::new(),
        load >> render,
    };
}
