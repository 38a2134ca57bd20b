// A batch-form step: one call per batch, each column a `Vec`.
use distil::prelude::*;
use distil::steps::LoadDataFromDicts;

#[derive(Row)]
struct Prompt {
    instruction: String,
}

#[derive(Row)]
struct Out {
    rank: u64,
}

#[step(batch)]
fn rank(instruction: Vec<String>) -> Vec<Out> {
    instruction
        .iter()
        .map(|i| Out {
            rank: i.len() as u64,
        })
        .collect()
}

fn main() {
    let pipeline = pipeline! {
        load = LoadDataFromDicts::<Prompt>::new(vec![]),
        rank = Rank::new(), input_batch_size: 8,
        load >> rank,
    };
    pipeline.validate().unwrap();
}
