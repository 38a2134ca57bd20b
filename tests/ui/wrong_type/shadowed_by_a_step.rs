// A step between the loader and the reader rewrites `score` with another type: the message names it.
use distil::prelude::*;
use distil::steps::LoadDataFromDicts;

#[derive(Row)]
struct ScoreText {
    score: String,
}

#[derive(Row)]
struct Verdict {
    verdict: String,
}

#[step]
fn score_by_words(instruction: &str) -> ScoreText {
    ScoreText {
        score: instruction.split_whitespace().count().to_string(),
    }
}

#[derive(Row)]
struct Prompt {
    instruction: String,
    score: u64,
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
        words = ScoreByWords::new(),
        judge = Judge::new(),
        load >> words >> judge,
    };
}
