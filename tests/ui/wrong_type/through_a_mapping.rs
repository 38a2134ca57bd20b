// The reader maps its input onto a column of another type.
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
fn judge(verdict_source: &str) -> Verdict {
    Verdict {
        verdict: verdict_source.to_owned(),
    }
}

fn main() {
    let _pipeline = pipeline! {
        load = LoadDataFromDicts::<Prompt>::new(vec![]),
        count = WordCount::new(),
        judge = Judge::new(),
            inputs { verdict_source => words },
        load >> count >> judge,
    };
}
