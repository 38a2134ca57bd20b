// An optional borrowed input (`Option<&str>`) with a typo.
use distil::prelude::*;
use distil::steps::LoadDataFromDicts;

#[derive(Row)]
struct Full {
    full: String,
}

#[step]
fn render(instruction: &str, contxt: Option<&str>) -> Full {
    Full {
        full: format!("{}|{instruction}", contxt.unwrap_or("-")),
    }
}

#[derive(Row)]
struct Prompt {
    instruction: String,
    context: Option<String>,
}

fn main() {
    let _pipeline = pipeline! {
        load = LoadDataFromDicts::<Prompt>::new(vec![]),
        render = Render::new(),
        load >> render,
    };
}
