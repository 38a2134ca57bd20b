// Each row takes one branch, and the branches write `score` with two types: the reader is
// checked against both, and the branch that does not fit is named.
use distil::prelude::*;
use distil::steps::LoadDataFromDicts;

#[derive(Row)]
struct Prompt {
    instruction: String,
}

#[derive(Row)]
struct Score {
    score: u64,
}

#[derive(Row)]
struct ScoreText {
    score: String,
}

#[derive(Row)]
struct Verdict {
    verdict: String,
}

#[step]
fn score_by_length(instruction: &str) -> Score {
    Score {
        score: instruction.len() as u64,
    }
}

#[step]
fn score_by_words(instruction: &str) -> ScoreText {
    ScoreText {
        score: instruction.split_whitespace().count().to_string(),
    }
}

#[step]
fn judge(score: u64) -> Verdict {
    Verdict {
        verdict: score.to_string(),
    }
}

fn main() {
    let _pipeline = pipeline! {
        load = LoadDataFromDicts::<Prompt>::new(vec![]),
        by_length = ScoreByLength::new(),
        by_words = ScoreByWords::new(),
        judge = Judge::new(),
        load >> sample_n_steps(1) >> [by_length, by_words],
        [by_length, by_words] >> judge,
    };
}
