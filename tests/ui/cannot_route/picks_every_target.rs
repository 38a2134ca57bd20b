// `sample_n_steps(2)` over two steps sends every batch to both.
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
struct Label {
    label: String,
}

#[step]
fn tag_it(instruction: &str) -> Tag {
    Tag {
        tag: instruction.to_owned(),
    }
}

#[step]
fn label_it(instruction: &str) -> Label {
    Label {
        label: instruction.to_owned(),
    }
}

fn main() {
    let _pipeline = pipeline! {
        load = LoadDataFromDicts::<Prompt>::new(vec![]),
        a = TagIt::new(),
        b = LabelIt::new(),
        load >> sample_n_steps(2) >> [a, b],
    };
}
