// One branch renames its column to the name the join reads; the other does not write it.
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
fn judge(label: &str) -> Verdict {
    Verdict {
        verdict: label.to_owned(),
    }
}

fn main() {
    let _pipeline = pipeline! {
        load = LoadDataFromDicts::<Prompt>::new(vec![]),
        a = TagIt::new(),
            outputs { tag => label },
        b = TagAgain::new(),
        join = Judge::new(),
        load >> sample_n_steps(1) >> [a, b] >> join,
    };
}
