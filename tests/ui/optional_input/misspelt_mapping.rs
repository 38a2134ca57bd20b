// The mapping of an optional input reads a misspelt upstream column.
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
fn render(instruction: &str, system_prompt: Option<String>) -> Full {
    Full {
        full: format!("{}|{instruction}", system_prompt.unwrap_or_default()),
    }
}

fn main() {
    let _pipeline = pipeline! {
        load = LoadDataFromDicts::<Prompt>::new(vec![]),
        render = Render::new(),
            inputs { system_prompt => system_promt },
        load >> render,
    };
}
