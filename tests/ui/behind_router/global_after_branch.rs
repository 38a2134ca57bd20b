// A global step below one routed branch sees only that branch's rows.
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

#[derive(Row)]
struct Share {
    share: f64,
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

#[step(global)]
fn share_of_total(instruction: Vec<String>) -> Vec<Share> {
    let total: usize = instruction.iter().map(String::len).sum::<usize>().max(1);
    instruction
        .iter()
        .map(|i| Share {
            share: i.len() as f64 / total as f64,
        })
        .collect()
}

fn main() {
    let _pipeline = pipeline! {
        load = LoadDataFromDicts::<Prompt>::new(vec![]),
        a = TagIt::new(),
        b = LabelIt::new(),
        share = ShareOfTotal::new(),
        load >> sample_n_steps(1) >> [a, b],
        a >> share,
    };
}
