// The producer renames its output onto the column the reader wants, with another type: the
// message names the rename.
use distil::prelude::*;
use distil::steps::LoadDataFromDicts;

#[derive(Row)]
struct Prompt {
    instruction: String,
}

#[derive(Row)]
struct Words {
    words: u64,
}

#[step]
fn word_count(instruction: &str) -> Words {
    Words {
        words: instruction.split_whitespace().count() as u64,
    }
}

#[derive(Row)]
struct Verdict {
    verdict: String,
}

#[step]
fn judge(summary: &str) -> Verdict {
    Verdict {
        verdict: summary.to_owned(),
    }
}

fn main() {
    let _pipeline = pipeline! {
        load = LoadDataFromDicts::<Prompt>::new(vec![]),
        count = WordCount::new(),
            outputs { words => summary },
        judge = Judge::new(),
        load >> count >> judge,
    };
}
