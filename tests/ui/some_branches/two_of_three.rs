// With two of three branches per batch, a column of one branch is still missing from some rows.
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
struct Verdict {
    verdict: String,
}

#[step]
fn tag_it(instruction: &str) -> Tag {
    Tag {
        tag: instruction.to_owned(),
    }
}

#[step]
fn tag_again(instruction: &str) -> Tag {
    Tag {
        tag: instruction.to_uppercase(),
    }
}

#[step]
fn label_it(instruction: &str) -> Label {
    Label {
        label: instruction.to_owned(),
    }
}

#[step]
fn judge(label: &str) -> Verdict {
    Verdict {
        verdict: label.to_owned(),
    }
}

fn main() {
    let _pipeline = pipeline! {
        load = LoadDataFromDicts::<Prompt>::new(vec![]),
        a = TagIt::new(),
        b = TagAgain::new(),
        c = LabelIt::new(),
        join = Judge::new(),
        load >> sample_n_steps(2) >> [a, b, c] >> join,
    };
}
