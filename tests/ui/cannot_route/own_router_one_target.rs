// A router of the user's over one step still has nothing to choose.
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

#[step]
fn tag_it(instruction: &str) -> Tag {
    Tag {
        tag: instruction.to_owned(),
    }
}

fn main() {
    let _pipeline = pipeline! {
        load = LoadDataFromDicts::<Prompt>::new(vec![]),
        a = TagIt::new(),
        load >> route(|_targets: &[&str]| vec![0]) >> [a],
    };
}
