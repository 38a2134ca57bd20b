// The join reads the one-branch column under a mapping.
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
        b = LabelIt::new(),
        join = Judge::new(),
            inputs { label => tag },
        load >> sample_n_steps(1) >> [a, b],
        [a, b] >> join,
    };
}
