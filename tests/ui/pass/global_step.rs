// A global-form step: one call over every row of the run; it may fail as a whole.
use distil::prelude::*;
use distil::steps::LoadDataFromDicts;

#[derive(Row)]
struct Prompt {
    instruction: String,
}

#[derive(Row)]
struct Share {
    share: f64,
}

#[step(global)]
fn share_of_total(instruction: Vec<String>) -> Result<Vec<Share>, String> {
    let total: usize = instruction.iter().map(String::len).sum();
    if total == 0 {
        return Err("no text at all".into());
    }
    Ok(instruction
        .iter()
        .map(|i| Share {
            share: i.len() as f64 / total as f64,
        })
        .collect())
}

fn main() {
    let pipeline = pipeline! {
        load = LoadDataFromDicts::<Prompt>::new(vec![]),
        share = ShareOfTotal::new(),
        load >> share,
    };
    pipeline.validate().unwrap();
}
