// A step's output row is private to its module while the step is public.
use distil::prelude::*;

mod steps {
    use distil::prelude::*;

    #[derive(Row)]
    struct Text {
        text: String,
    }

    #[step]
    pub fn render(instruction: &str) -> Text {
        Text {
            text: instruction.to_owned(),
        }
    }
}

fn main() {
    let _pipeline = pipeline! {
        load = distil::steps::LoadDataFromDicts::<Prompt>::new(vec![]),
        render = steps::Render::new(),
        load >> render,
    };
}

#[derive(Row)]
struct Prompt {
    instruction: String,
}
