// An optional input with a typo never matches: the real column is ignored.
use distil::prelude::*;
use distil::steps::LoadDataFromDicts;

#[derive(Row)]
struct Prompt {
    instruction: String,
    system_prompt: Option<String>,
}

#[derive(Row)]
struct Full {
    full: String,
}

#[step]
fn render(instruction: &str, system_promt: Option<String>) -> Full {
    Full {
        full: format!("{}|{instruction}", system_promt.unwrap_or_default()),
    }
}

fn main() {
    let _pipeline = pipeline! {
        load = LoadDataFromDicts::<Prompt>::new(vec![]),
        render = Render::new(),
        load >> render,
    };
}
