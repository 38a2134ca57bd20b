// `batch_size` on a global step is ignored too.
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
fn share_of_total(instruction: Vec<String>) -> Vec<Share> {
    let total: usize = instruction.iter().map(String::len).sum::<usize>().max(1);
    instruction
        .iter()
        .map(|i| Share {
            share: i.len() as f64 / total as f64,
        })
        .collect()
}

fn main() {
    let _pipeline = pipeline! {
        load = LoadDataFromDicts::<Prompt>::new(vec![]),
        share = ShareOfTotal::new(), batch_size: 100,
        load >> share,
    };
}
