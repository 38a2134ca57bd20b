// The grouped column under the name `output_columns` gives, read with the wrong item type: the
// branches write `u64` scores.
use distil::prelude::*;
use distil::steps::{GroupColumns, LoadDataFromDicts};

#[derive(Row)]
struct Prompt {
    instruction: String,
}

#[derive(Row)]
struct Score {
    score: u64,
}

#[step]
fn by_length(instruction: &str) -> Score {
    Score {
        score: instruction.len() as u64,
    }
}

#[step]
fn by_words(instruction: &str) -> Score {
    Score {
        score: instruction.split_whitespace().count() as u64,
    }
}

#[derive(Row)]
struct Verdict {
    verdict: String,
}

#[step]
fn judge(scores: Vec<Option<String>>) -> Verdict {
    Verdict {
        verdict: format!("{scores:?}"),
    }
}

fn main() {
    let _pipeline = pipeline! {
        load = LoadDataFromDicts::<Prompt>::new(vec![]),
        by_length = ByLength::new(),
        by_words = ByWords::new(),
        group = GroupColumns::new(["score"]).output_columns(["scores"]),
        judge = Judge::new(),
        load >> [by_length, by_words] >> group >> judge,
    };
}
