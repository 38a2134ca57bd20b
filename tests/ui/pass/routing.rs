// Routing: each batch of `load` goes to two of the three taggers.
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

#[step]
fn tag_a(instruction: &str) -> Tag {
    Tag {
        tag: format!("a:{instruction}"),
    }
}

#[step]
fn tag_b(instruction: &str) -> Tag {
    Tag {
        tag: format!("b:{instruction}"),
    }
}

#[step]
fn tag_c(instruction: &str) -> Tag {
    Tag {
        tag: format!("c:{instruction}"),
    }
}

fn main() {
    let prompts = (0..4).map(|i| Prompt {
        instruction: i.to_string(),
    });
    let mut pipeline = pipeline! {
        load = LoadDataFromDicts::<Prompt>::new(prompts), batch_size: 1,
        a = TagA::new(),
        b = TagB::new(),
        c = TagC::new(),
        load >> sample_n_steps(2) >> [a, b, c],
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let distiset = runtime
        .block_on(pipeline.run_with(RunOptions::new().seed(7)))
        .unwrap();
    // Four batches of one row, each sent to two of the three leaves.
    assert_eq!(distiset.total_rows(), 8);
}
