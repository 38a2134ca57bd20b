// The column was renamed upstream; the optional input misses it by one letter.
use distil::prelude::*;
use distil::steps::LoadDataFromDicts;

#[derive(Row)]
struct Prompt {
    instruction: String,
}

#[derive(Row)]
struct Tag {
    tag: String,
}

#[derive(Row)]
struct Full {
    full: String,
}

#[step]
fn tag_it(instruction: &str) -> Tag {
    Tag {
        tag: instruction.to_owned(),
    }
}

#[step]
fn render(instruction: &str, contex: Option<&str>) -> Full {
    Full {
        full: format!("{}|{instruction}", contex.unwrap_or("-")),
    }
}

fn main() {
    let _pipeline = pipeline! {
        load = LoadDataFromDicts::<Prompt>::new(vec![]),
        tag = TagIt::new(),
            outputs { tag => context },
        render = Render::new(),
        load >> tag >> render,
    };
}
