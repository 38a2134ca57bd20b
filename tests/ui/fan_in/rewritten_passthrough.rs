// One branch rewrites `instruction`, the other passes the loader's on.
use distil::prelude::*;
use distil::steps::LoadDataFromDicts;

#[derive(Row)]
struct Prompt {
    instruction: String,
}

#[derive(Row)]
struct Rewritten {
    instruction: String,
}

#[derive(Row)]
struct Tag {
    tag: String,
}

#[derive(Row)]
struct Verdict {
    verdict: String,
}

#[step]
fn rewrite(instruction: &str) -> Rewritten {
    Rewritten {
        instruction: instruction.trim().to_owned(),
    }
}

#[step]
fn tag_it(instruction: &str) -> Tag {
    Tag {
        tag: instruction.to_owned(),
    }
}

#[step]
fn judge(instruction: &str) -> Verdict {
    Verdict {
        verdict: instruction.to_owned(),
    }
}

fn main() {
    let _pipeline = pipeline! {
        load = LoadDataFromDicts::<Prompt>::new(vec![]),
        clean = Rewrite::new(),
        a = TagIt::new(),
        join = Judge::new(),
        load >> [clean, a] >> join,
    };
}
