// An `impl Trait` argument: a column has one fixed type.
use distil::prelude::*;

#[derive(Row)]
struct Text {
    text: String,
}

#[step]
fn render(instruction: impl AsRef<str>) -> Text {
    Text {
        text: instruction.as_ref().to_owned(),
    }
}

fn main() {}
